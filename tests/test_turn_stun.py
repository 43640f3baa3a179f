"""STUN/TURN codec: RFC 5769 test vectors, message types, attributes, ChannelData, TCP framing."""

from __future__ import annotations

import os
import struct

import pytest

from interactive_gym_p2p.turn import stun
from interactive_gym_p2p.turn.stun import Attr, Class, Method


def h(text: str) -> bytes:
    return bytes.fromhex("".join(text.split()))


# RFC 5769 ("Test Vectors for STUN", April 2010), sections 2.1-2.4, as printed in the RFC.
# The SOFTWARE/USERNAME padding in 2.1-2.3 is 0x20 in the RFC; 2.4 pads with zeros.
RFC5769_REQUEST = h(
    """00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
       80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74
       00 24 00 04 6e 00 01 ff
       80 29 00 08 93 2f f9 b1 51 26 3b 36
       00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20
       00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2
       80 28 00 04 e5 7a 3b cf"""
)
RFC5769_IPV4_RESPONSE = h(
    """01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
       80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
       00 20 00 08 00 01 a1 47 e1 12 a6 43
       00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7
       80 28 00 04 c0 7d 4c 96"""
)
RFC5769_IPV6_RESPONSE = h(
    """01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae
       80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20
       00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9
       00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41
       80 28 00 04 c8 fb 0b 4c"""
)
RFC5769_LONG_TERM = h(
    """00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e
       00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00
       00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41
       00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00
       00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66"""
)
SHORT_TERM_PASSWORD = b"VOkJxbRl1RmTxUk/WvJxBt"
TID = h("b7 e7 a7 01 bc 34 d6 86 fa 87 df ae")


def _rebuild(msg: stun.Message) -> stun.Message:
    """The message without its computed attributes, ready to be encoded again."""
    kept = [(t, v) for t, v in msg.attributes if t not in (Attr.MESSAGE_INTEGRITY, Attr.FINGERPRINT)]
    return stun.Message(msg.method, msg.cls, msg.transaction_id, kept)


def test_rfc5769_sample_request() -> None:
    msg = stun.decode(RFC5769_REQUEST)
    assert (msg.method, msg.cls, msg.transaction_id) == (Method.BINDING, Class.REQUEST, TID)
    assert msg.get(Attr.SOFTWARE) == b"STUN test client"
    assert msg.get(Attr.USERNAME) == b"evtj:h6vY"
    assert msg.get(Attr.PRIORITY) == h("6e 00 01 ff")
    assert msg.get(Attr.ICE_CONTROLLED) == h("93 2f f9 b1 51 26 3b 36")
    assert stun.verify_integrity(msg, SHORT_TERM_PASSWORD)
    assert not stun.verify_integrity(msg, b"VOkJxbRl1RmTxUk/WvJxBT")
    assert stun.verify_fingerprint(msg) is True
    # Our encoder reproduces the vector byte for byte, MESSAGE-INTEGRITY and FINGERPRINT included.
    again = stun.encode(_rebuild(msg), integrity_key=SHORT_TERM_PASSWORD, fingerprint=True, padding=b" ")
    assert again == RFC5769_REQUEST


@pytest.mark.parametrize(
    ("vector", "address"),
    [
        (RFC5769_IPV4_RESPONSE, ("192.0.2.1", 32853)),
        (RFC5769_IPV6_RESPONSE, ("2001:db8:1234:5678:11:2233:4455:6677", 32853)),
    ],
)
def test_rfc5769_responses(vector: bytes, address: tuple[str, int]) -> None:
    msg = stun.decode(vector)
    assert (msg.method, msg.cls) == (Method.BINDING, Class.SUCCESS)
    assert msg.get(Attr.SOFTWARE) == b"test vector"
    raw = msg.get(Attr.XOR_MAPPED_ADDRESS)
    assert raw is not None
    assert stun.decode_xor_address(raw, msg.transaction_id) == address
    assert stun.encode_xor_address(*address, msg.transaction_id) == raw
    assert stun.verify_integrity(msg, SHORT_TERM_PASSWORD)
    assert stun.verify_fingerprint(msg) is True
    again = stun.encode(_rebuild(msg), integrity_key=SHORT_TERM_PASSWORD, fingerprint=True, padding=b" ")
    assert again == vector


def test_rfc5769_long_term_credentials() -> None:
    msg = stun.decode(RFC5769_LONG_TERM)
    username = "\u30de\u30c8\u30ea\u30c3\u30af\u30b9"  # "matrix" in katakana
    assert msg.get(Attr.USERNAME) == username.encode("utf-8")
    assert msg.get(Attr.NONCE) == b"f//499k954d6OL34oL9FSTvy64sA"
    assert msg.get(Attr.REALM) == b"example.org"
    assert stun.verify_fingerprint(msg) is None  # this vector carries none
    # The RFC's password "The<SOFT HYPHEN>M<FEMININE ORDINAL>tr<ROMAN NUMERAL NINE>" SASLpreps to "TheMatrIX".
    raw_password = "The\u00adM\u00aatr\u2168"
    assert stun.saslprep(raw_password) == "TheMatrIX"
    key = stun.long_term_key(username, "example.org", raw_password)
    assert key == stun.long_term_key(username, "example.org", "TheMatrIX")
    assert stun.verify_integrity(msg, key)
    assert not stun.verify_integrity(msg, stun.long_term_key(username, "example.org", "thematrix"))
    assert stun.encode(_rebuild(msg), integrity_key=key) == RFC5769_LONG_TERM


def test_saslprep_refuses_prohibited_characters() -> None:
    with pytest.raises(ValueError):
        stun.saslprep("a\u0007b")  # ASCII control character
    assert stun.saslprep("a\u00a0b") == "a b"  # non-ASCII space maps to space


@pytest.mark.parametrize(
    ("method", "cls", "wire"),
    [
        (Method.BINDING, Class.REQUEST, 0x0001),
        (Method.BINDING, Class.SUCCESS, 0x0101),
        (Method.ALLOCATE, Class.REQUEST, 0x0003),
        (Method.ALLOCATE, Class.ERROR, 0x0113),
        (Method.SEND, Class.INDICATION, 0x0016),
        (Method.DATA, Class.INDICATION, 0x0017),
        (Method.CHANNEL_BIND, Class.SUCCESS, 0x0109),
        (0xFFF, Class.ERROR, 0x3FFF),
    ],
)
def test_message_type_bits(method: int, cls: int, wire: int) -> None:
    assert stun.pack_type(method, cls) == wire
    assert stun.unpack_type(wire) == (method, cls)


def test_round_trip_with_integrity_and_fingerprint() -> None:
    tid = os.urandom(12)
    key = b"k" * 16
    msg = stun.Message(Method.ALLOCATE, Class.REQUEST, tid)
    msg.add(Attr.REQUESTED_TRANSPORT, stun.encode_requested_transport()).add(Attr.USERNAME, "1:x")
    data = stun.encode(msg, integrity_key=key, fingerprint=True)
    back = stun.decode(data)
    assert back.get(Attr.USERNAME) == b"1:x"
    assert stun.verify_integrity(back, key) and stun.verify_fingerprint(back) is True
    flipped = bytearray(data)
    flipped[25] ^= 1  # inside REQUESTED-TRANSPORT's reserved bytes
    tampered = stun.decode(bytes(flipped))
    assert not stun.verify_integrity(tampered, key)
    assert stun.verify_fingerprint(tampered) is False


def test_attributes_after_integrity_are_ignored() -> None:
    key = b"key"
    signed = stun.encode(stun.Message(Method.REFRESH, Class.REQUEST, os.urandom(12)), integrity_key=key)
    extra = struct.pack("!HH", Attr.LIFETIME, 4) + b"\0\0\0\0"
    data = bytearray(signed + extra)
    struct.pack_into("!H", data, 2, len(data) - 20)
    msg = stun.decode(bytes(data))
    assert msg.get(Attr.LIFETIME) is None  # an attacker cannot smuggle it past the MAC
    assert stun.verify_integrity(msg, key)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b[:19],  # shorter than a header
        lambda b: b[:-1],  # length mismatch
        lambda b: b + b"\0\0\0\0",  # trailing bytes beyond the length
        lambda b: bytes([b[0] | 0x80]) + b[1:],  # top bits set
        lambda b: b[:4] + b"\0\0\0\0" + b[8:],  # bad cookie
        lambda b: b[:2] + struct.pack("!H", 2) + b[4:22],  # length not a multiple of 4
        lambda b: b[:22] + struct.pack("!H", 0x200) + b[24:],  # attribute overruns
        lambda b: b[:20] + struct.pack("!HH", Attr.MESSAGE_INTEGRITY, 4) + b[24:],  # MI of the wrong size
    ],
)
def test_decode_rejects_malformed(mutate) -> None:
    good = stun.encode(stun.Message(Method.BINDING, Class.REQUEST, os.urandom(12)).add(Attr.SOFTWARE, "abcd"))
    with pytest.raises(stun.StunDecodeError):
        stun.decode(mutate(good))


def test_addresses_and_error_codes() -> None:
    tid = os.urandom(12)
    for ip, port in [("203.0.113.7", 1), ("2001:db8::1", 65535), ("::", 3478)]:
        assert stun.decode_xor_address(stun.encode_xor_address(ip, port, tid), tid) == (ip, port)
        assert stun.decode_address(stun.encode_address(ip, port)) == (ip, port)
    with pytest.raises(stun.StunDecodeError):
        stun.decode_xor_address(b"\0\x03\0\0\1\2\3\4", tid)
    with pytest.raises(stun.StunDecodeError):
        stun.decode_xor_address(b"\0\x01\0\0\1\2\3", tid)
    assert stun.decode_error_code(stun.encode_error_code(438)) == (438, "Stale Nonce")
    assert stun.decode_error_code(stun.encode_error_code(508, "full")) == (508, "full")
    with pytest.raises(ValueError):
        stun.encode_error_code(200)


def test_channel_data() -> None:
    frame = stun.encode_channel_data(0x4001, b"hello")
    assert frame == b"\x40\x01\x00\x05hello"
    assert stun.is_channel_data(frame)
    assert stun.decode_channel_data(frame) == (0x4001, b"hello")
    padded = stun.encode_channel_data(0x7FFF, b"hello", pad=True)
    assert len(padded) == 12 and padded.endswith(b"\0\0\0")
    assert stun.decode_channel_data(padded) == (0x7FFF, b"hello")
    for bad in (frame[:8], b"\x40\x01\x00\x05hello12345", b"\x80\x00\x00\x00"):
        with pytest.raises(stun.StunDecodeError):
            stun.decode_channel_data(bad)
    with pytest.raises(ValueError):
        stun.encode_channel_data(0x3FFF, b"")


def test_stream_framer_splits_and_waits() -> None:
    refresh = stun.encode(stun.Message(Method.REFRESH, Class.REQUEST, os.urandom(12)).add(Attr.LIFETIME, b"\0\0\0\0"))
    padded = stun.encode_channel_data(0x4000, b"abcde", pad=True)
    empty = stun.encode_channel_data(0x4002, b"", pad=True)
    stream = padded + refresh + empty + refresh
    framer = stun.StreamFramer()
    out = []
    for i in range(0, len(stream), 3):  # arrives in awkward pieces
        out += framer.feed(stream[i : i + 3])
    assert out == [padded, refresh, empty, refresh]
    assert framer.pending == 0
    with pytest.raises(stun.StunDecodeError):
        stun.StreamFramer().feed(b"\x80\0\0\0")
    with pytest.raises(stun.StunDecodeError):
        stun.StreamFramer().feed(b"\0\x01\0\0\1\2\3\4")
