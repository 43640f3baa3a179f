"""STUN/TURN message codec (RFC 8489 framing, RFC 8656 attributes, RFC 5766 ChannelData).

Pure functions over bytes: no sockets, no clocks. ``decode`` raises :class:`StunDecodeError`
(a ValueError) on anything malformed; callers on the network path catch it and drop the
datagram. Written for this package and checked against the RFC 5769 test vectors.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import ipaddress
import stringprep
import struct
import unicodedata
from dataclasses import dataclass, field
from enum import IntEnum

MAGIC_COOKIE = 0x2112A442
MAGIC_COOKIE_BYTES = struct.pack("!I", MAGIC_COOKIE)
HEADER_LENGTH = 20
FINGERPRINT_XOR = 0x5354554E
MAX_MESSAGE_LENGTH = HEADER_LENGTH + 0xFFFF  # the length field is 16 bits
CHANNEL_MIN = 0x4000
CHANNEL_MAX = 0x7FFF  # RFC 5766 range; RFC 8656 narrowed it to 0x4FFF, browsers use the old one
UDP_PROTOCOL = 17


class Method(IntEnum):
    BINDING = 0x001
    ALLOCATE = 0x003
    REFRESH = 0x004
    SEND = 0x006
    DATA = 0x007
    CREATE_PERMISSION = 0x008
    CHANNEL_BIND = 0x009


class Class(IntEnum):
    REQUEST = 0
    INDICATION = 1
    SUCCESS = 2
    ERROR = 3


class Attr(IntEnum):
    MAPPED_ADDRESS = 0x0001
    USERNAME = 0x0006
    MESSAGE_INTEGRITY = 0x0008
    ERROR_CODE = 0x0009
    UNKNOWN_ATTRIBUTES = 0x000A
    CHANNEL_NUMBER = 0x000C
    LIFETIME = 0x000D
    XOR_PEER_ADDRESS = 0x0012
    DATA = 0x0013
    REALM = 0x0014
    NONCE = 0x0015
    XOR_RELAYED_ADDRESS = 0x0016
    REQUESTED_ADDRESS_FAMILY = 0x0017
    EVEN_PORT = 0x0018
    REQUESTED_TRANSPORT = 0x0019
    DONT_FRAGMENT = 0x001A
    MESSAGE_INTEGRITY_SHA256 = 0x001C
    PASSWORD_ALGORITHM = 0x001D
    USERHASH = 0x001E
    XOR_MAPPED_ADDRESS = 0x0020
    RESERVATION_TOKEN = 0x0022
    PRIORITY = 0x0024
    USE_CANDIDATE = 0x0025
    ADDITIONAL_ADDRESS_FAMILY = 0x8000
    SOFTWARE = 0x8022
    ALTERNATE_SERVER = 0x8023
    FINGERPRINT = 0x8028
    ICE_CONTROLLED = 0x8029
    ICE_CONTROLLING = 0x802A


# Reason phrases for the error codes this package sends (RFC 8489 / RFC 8656).
REASONS: dict[int, str] = {
    300: "Try Alternate",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    420: "Unknown Attribute",
    437: "Allocation Mismatch",
    438: "Stale Nonce",
    440: "Address Family not Supported",
    441: "Wrong Credentials",
    442: "Unsupported Transport Protocol",
    443: "Peer Address Family Mismatch",
    486: "Allocation Quota Reached",
    500: "Server Error",
    508: "Insufficient Capacity",
}


class StunDecodeError(ValueError):
    """Bytes that are not a well-formed STUN message (or ChannelData frame)."""


@dataclass
class Message:
    """One STUN message. ``attributes`` keeps wire order; repeated types are allowed."""

    method: int
    cls: int
    transaction_id: bytes
    attributes: list[tuple[int, bytes]] = field(default_factory=list)
    raw: bytes | None = field(default=None, repr=False)
    """The exact bytes this message was decoded from (None for a message built locally)."""
    integrity_offset: int | None = field(default=None, repr=False)
    """Offset of the MESSAGE-INTEGRITY attribute header inside ``raw``."""
    fingerprint_offset: int | None = field(default=None, repr=False)
    """Offset of the FINGERPRINT attribute header inside ``raw``."""

    def get(self, attr_type: int) -> bytes | None:
        for t, v in self.attributes:
            if t == attr_type:
                return v
        return None

    def get_all(self, attr_type: int) -> list[bytes]:
        return [v for t, v in self.attributes if t == attr_type]

    def add(self, attr_type: int, value: bytes | str) -> Message:
        self.attributes.append((attr_type, value.encode("utf-8") if isinstance(value, str) else value))
        return self

    def has(self, attr_type: int) -> bool:
        return any(t == attr_type for t, _ in self.attributes)


# --- message type ----------------------------------------------------------------------------


def pack_type(method: int, cls: int) -> int:
    """Interleave the 12 method bits and 2 class bits as RFC 8489 section 5 lays them out."""
    if not 0 <= method <= 0xFFF or not 0 <= cls <= 3:
        raise ValueError(f"method {method:#x} / class {cls} out of range")
    return (
        (method & 0x000F)
        | ((method & 0x0070) << 1)
        | ((method & 0x0F80) << 2)
        | ((cls & 1) << 4)
        | ((cls & 2) << 7)
    )


def unpack_type(message_type: int) -> tuple[int, int]:
    method = (message_type & 0x000F) | ((message_type & 0x00E0) >> 1) | ((message_type & 0x3E00) >> 2)
    cls = ((message_type >> 4) & 1) | ((message_type >> 7) & 2)
    return method, cls


# --- encode / decode ------------------------------------------------------------------------


def _pad_length(n: int) -> int:
    return (4 - n % 4) % 4


def encode(
    message: Message,
    integrity_key: bytes | None = None,
    fingerprint: bool = False,
    padding: bytes = b"\x00",
) -> bytes:
    """Serialize ``message``; append MESSAGE-INTEGRITY (HMAC-SHA1 with ``integrity_key``)
    and/or FINGERPRINT when asked. ``padding`` is the byte used to pad attribute values
    (zero normally; RFC 5769's samples use spaces)."""
    if len(message.transaction_id) != 12:
        raise ValueError("transaction id must be 12 bytes")
    if len(padding) != 1:
        raise ValueError("padding must be one byte")
    body = bytearray()
    for attr_type, value in message.attributes:
        if attr_type in (Attr.MESSAGE_INTEGRITY, Attr.FINGERPRINT):
            continue  # computed below, never copied
        if len(value) > 0xFFFF:
            raise ValueError(f"attribute {attr_type:#06x} too long")
        body += struct.pack("!HH", attr_type, len(value))
        body += value
        body += padding * _pad_length(len(value))
    header_type = pack_type(message.method, message.cls)
    if integrity_key is not None:
        length = len(body) + 24
        head = struct.pack("!HH", header_type, length) + MAGIC_COOKIE_BYTES + message.transaction_id
        mac = hmac.new(integrity_key, head + bytes(body), hashlib.sha1).digest()
        body += struct.pack("!HH", Attr.MESSAGE_INTEGRITY, 20) + mac
    if fingerprint:
        length = len(body) + 8
        head = struct.pack("!HH", header_type, length) + MAGIC_COOKIE_BYTES + message.transaction_id
        crc = (binascii.crc32(head + bytes(body)) ^ FINGERPRINT_XOR) & 0xFFFFFFFF
        body += struct.pack("!HHI", Attr.FINGERPRINT, 4, crc)
    if len(body) > 0xFFFF:
        raise ValueError("message too long")
    return struct.pack("!HH", header_type, len(body)) + MAGIC_COOKIE_BYTES + message.transaction_id + bytes(body)


def looks_like_stun(data: bytes) -> bool:
    """Cheap demultiplexing test: top two bits zero and the magic cookie in place."""
    return len(data) >= HEADER_LENGTH and data[0] < 0x40 and data[4:8] == MAGIC_COOKIE_BYTES


def decode(data: bytes) -> Message:
    """Parse one complete STUN message (a whole datagram, or one framed TCP message).

    Attributes after MESSAGE-INTEGRITY other than FINGERPRINT, and anything after
    FINGERPRINT, are ignored as RFC 8489 section 14.5/14.7 require.
    """
    if len(data) < HEADER_LENGTH:
        raise StunDecodeError("shorter than a STUN header")
    message_type, length = struct.unpack_from("!HH", data, 0)
    if message_type & 0xC000:
        raise StunDecodeError("top bits of the message type are not zero")
    if data[4:8] != MAGIC_COOKIE_BYTES:
        raise StunDecodeError("bad magic cookie")
    if length % 4:
        raise StunDecodeError("message length is not a multiple of 4")
    if len(data) != HEADER_LENGTH + length:
        raise StunDecodeError(f"message length {length} does not match {len(data) - HEADER_LENGTH} body bytes")
    method, cls = unpack_type(message_type)
    raw = bytes(data)
    message = Message(method=method, cls=cls, transaction_id=raw[8:20], raw=raw)
    offset = HEADER_LENGTH
    end = len(raw)
    while offset < end:
        if end - offset < 4:
            raise StunDecodeError("truncated attribute header")
        attr_type, attr_len = struct.unpack_from("!HH", raw, offset)
        value_start = offset + 4
        value_end = value_start + attr_len
        if value_end + _pad_length(attr_len) > end:
            raise StunDecodeError(f"attribute {attr_type:#06x} overruns the message")
        value = raw[value_start:value_end]
        if message.fingerprint_offset is not None:
            break  # nothing may follow FINGERPRINT; ignore it
        if attr_type == Attr.FINGERPRINT:
            if attr_len != 4:
                raise StunDecodeError("FINGERPRINT must be 4 bytes")
            message.fingerprint_offset = offset
            message.attributes.append((attr_type, value))
        elif message.integrity_offset is not None:
            pass  # after MESSAGE-INTEGRITY only FINGERPRINT counts
        elif attr_type == Attr.MESSAGE_INTEGRITY:
            if attr_len != 20:
                raise StunDecodeError("MESSAGE-INTEGRITY must be 20 bytes")
            message.integrity_offset = offset
            message.attributes.append((attr_type, value))
        else:
            message.attributes.append((attr_type, value))
        offset = value_end + _pad_length(attr_len)
    return message


def _with_length(raw: bytes, upto: int, length: int) -> bytes:
    return raw[:2] + struct.pack("!H", length) + raw[4:upto]


def verify_integrity(message: Message, key: bytes) -> bool:
    """Check MESSAGE-INTEGRITY of a decoded message against ``key`` (constant time)."""
    if message.raw is None or message.integrity_offset is None:
        return False
    off = message.integrity_offset
    signed = _with_length(message.raw, off, off + 24 - HEADER_LENGTH)
    expected = hmac.new(key, signed, hashlib.sha1).digest()
    return hmac.compare_digest(expected, message.raw[off + 4 : off + 24])


def verify_fingerprint(message: Message) -> bool | None:
    """True/False for a present FINGERPRINT, None when the message has none."""
    if message.raw is None or message.fingerprint_offset is None:
        return None
    off = message.fingerprint_offset
    crc = (binascii.crc32(_with_length(message.raw, off, off + 8 - HEADER_LENGTH)) ^ FINGERPRINT_XOR) & 0xFFFFFFFF
    return struct.unpack_from("!I", message.raw, off + 4)[0] == crc


# --- credentials -------------------------------------------------------------------------------


def saslprep(text: str) -> str:
    """SASLprep (RFC 4013) for passwords: map, NFKC, refuse prohibited code points."""
    mapped = []
    for ch in text:
        if stringprep.in_table_b1(ch):
            continue  # "commonly mapped to nothing"
        mapped.append(" " if stringprep.in_table_c12(ch) else ch)
    out = unicodedata.normalize("NFKC", "".join(mapped))
    prohibited = (
        stringprep.in_table_c12,
        stringprep.in_table_c21,
        stringprep.in_table_c22,
        stringprep.in_table_c3,
        stringprep.in_table_c4,
        stringprep.in_table_c5,
        stringprep.in_table_c6,
        stringprep.in_table_c7,
        stringprep.in_table_c8,
        stringprep.in_table_c9,
        stringprep.in_table_a1,
    )
    for ch in out:
        if any(check(ch) for check in prohibited):
            raise ValueError(f"prohibited character U+{ord(ch):04X} in SASLprep input")
    if any(stringprep.in_table_d1(ch) for ch in out):
        if any(stringprep.in_table_d2(ch) for ch in out):
            raise ValueError("mixed bidirectional text in SASLprep input")
        if not (stringprep.in_table_d1(out[0]) and stringprep.in_table_d1(out[-1])):
            raise ValueError("bidirectional text must start and end with RandALCat")
    return out


def long_term_key(username: str | bytes, realm: str | bytes, password: str) -> bytes:
    """MD5(username ":" realm ":" SASLprep(password)) (RFC 8489 section 9.2.2)."""
    u = username if isinstance(username, bytes) else username.encode("utf-8")
    r = realm if isinstance(realm, bytes) else realm.encode("utf-8")
    return hashlib.md5(u + b":" + r + b":" + saslprep(password).encode("utf-8")).digest()


# --- attribute values ----------------------------------------------------------------------------

Address = tuple[str, int]


def _ip_bytes(ip: str) -> tuple[int, bytes]:
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    return (1, addr.packed) if addr.version == 4 else (2, addr.packed)


def encode_address(ip: str, port: int) -> bytes:
    family, packed = _ip_bytes(ip)
    return struct.pack("!BBH", 0, family, port) + packed


def decode_address(value: bytes) -> Address:
    if len(value) < 4:
        raise StunDecodeError("address attribute too short")
    family, port = value[1], struct.unpack_from("!H", value, 2)[0]
    if family == 1 and len(value) == 8:
        return str(ipaddress.IPv4Address(value[4:8])), port
    if family == 2 and len(value) == 20:
        return str(ipaddress.IPv6Address(value[4:20])), port
    raise StunDecodeError("bad address family or length")


def _xor_bytes(packed: bytes, transaction_id: bytes) -> bytes:
    mask = MAGIC_COOKIE_BYTES + transaction_id
    return bytes(a ^ b for a, b in zip(packed, mask))


def encode_xor_address(ip: str, port: int, transaction_id: bytes) -> bytes:
    family, packed = _ip_bytes(ip)
    return struct.pack("!BBH", 0, family, port ^ (MAGIC_COOKIE >> 16)) + _xor_bytes(packed, transaction_id)


def decode_xor_address(value: bytes, transaction_id: bytes) -> Address:
    if len(value) < 4:
        raise StunDecodeError("address attribute too short")
    family, xport = value[1], struct.unpack_from("!H", value, 2)[0]
    port = xport ^ (MAGIC_COOKIE >> 16)
    if family == 1 and len(value) == 8:
        return str(ipaddress.IPv4Address(_xor_bytes(value[4:8], transaction_id))), port
    if family == 2 and len(value) == 20:
        return str(ipaddress.IPv6Address(_xor_bytes(value[4:20], transaction_id))), port
    raise StunDecodeError("bad address family or length")


def encode_error_code(code: int, reason: str | None = None) -> bytes:
    if not 300 <= code <= 699:
        raise ValueError(f"error code {code} out of range")
    phrase = REASONS.get(code, "") if reason is None else reason
    return struct.pack("!HBB", 0, code // 100, code % 100) + phrase.encode("utf-8")


def decode_error_code(value: bytes) -> tuple[int, str]:
    if len(value) < 4:
        raise StunDecodeError("ERROR-CODE too short")
    code = (value[2] & 0x07) * 100 + value[3]
    return code, value[4:].decode("utf-8", errors="replace")


def encode_u32(value: int) -> bytes:
    return struct.pack("!I", value)


def decode_u32(value: bytes) -> int:
    if len(value) != 4:
        raise StunDecodeError("expected a 4-byte value")
    return struct.unpack("!I", value)[0]


def encode_channel_number(channel: int) -> bytes:
    return struct.pack("!HH", channel, 0)


def decode_channel_number(value: bytes) -> int:
    if len(value) != 4:
        raise StunDecodeError("CHANNEL-NUMBER must be 4 bytes")
    return struct.unpack_from("!H", value, 0)[0]


def encode_requested_transport(protocol: int = UDP_PROTOCOL) -> bytes:
    return struct.pack("!B3x", protocol)


def encode_unknown_attributes(types: list[int]) -> bytes:
    return b"".join(struct.pack("!H", t) for t in types)


# --- ChannelData ---------------------------------------------------------------------------------


def is_channel_data(data: bytes) -> bool:
    return len(data) >= 4 and 0x40 <= data[0] <= 0x7F


def encode_channel_data(channel: int, payload: bytes, pad: bool = False) -> bytes:
    """A ChannelData frame; ``pad`` rounds it up to 4 bytes as stream transports require."""
    if not CHANNEL_MIN <= channel <= CHANNEL_MAX:
        raise ValueError(f"channel number {channel:#x} out of range")
    if len(payload) > 0xFFFF:
        raise ValueError("ChannelData payload too long")
    frame = struct.pack("!HH", channel, len(payload)) + payload
    if pad:
        frame += b"\x00" * _pad_length(len(payload))
    return frame


def decode_channel_data(data: bytes) -> tuple[int, bytes]:
    """(channel, payload) of a ChannelData frame; trailing padding is allowed."""
    if len(data) < 4:
        raise StunDecodeError("ChannelData shorter than its header")
    channel, length = struct.unpack_from("!HH", data, 0)
    if not CHANNEL_MIN <= channel <= CHANNEL_MAX:
        raise StunDecodeError("not a ChannelData channel number")
    if 4 + length > len(data) or len(data) - 4 - length > 3:
        raise StunDecodeError("ChannelData length does not match")
    return channel, data[4 : 4 + length]


# --- stream framing (TURN over TCP) -------------------------------------------------------------


class StreamFramer:
    """Split a TCP byte stream into STUN messages and ChannelData frames (RFC 8656 §12.5).

    ``feed`` returns the complete frames; it raises :class:`StunDecodeError` when the stream
    can no longer be framed (the caller must close the connection: there is no resync point).
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        frames: list[bytes] = []
        buf = self._buffer
        start = 0
        while len(buf) - start >= 4:
            first = buf[start]
            (length,) = struct.unpack_from("!H", buf, start + 2)
            if first < 0x40:
                if len(buf) - start >= 8 and buf[start + 4 : start + 8] != MAGIC_COOKIE_BYTES:
                    raise StunDecodeError("stream lost STUN framing (bad magic cookie)")
                total = HEADER_LENGTH + length
            elif first < 0x80:
                total = 4 + length + _pad_length(length)
            else:
                raise StunDecodeError("stream lost framing (neither STUN nor ChannelData)")
            if len(buf) - start < total:
                break
            frames.append(bytes(buf[start : start + total]))
            start += total
        if start:
            del buf[:start]
        return frames

    @property
    def pending(self) -> int:
        return len(self._buffer)
