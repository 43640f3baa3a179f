"""Binary DataChannel protocol v2: encode and decode peer messages.

Mirror of ``static/js/protocol.js``; both read ``tests/vectors/protocol.json`` and must agree
byte for byte. The byte layouts are documented in ``docs/protocol.md``.

The channel is unordered with no retransmits, so every message is self-contained. Decoding is
total: :func:`decode` returns a :class:`DecodeError` record for anything malformed (the caller
counts and drops it) and never raises. Encoding is canonical: ``encode(decode(b)) == b`` for every
``b`` that decodes, which is why non-minimal varints and trailing bytes are rejected.
"""

from __future__ import annotations

import logging
import math
import re
import struct
from dataclasses import dataclass, field as dataclass_field
from enum import IntEnum
from typing import Any, Callable, Union

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = 2
MAX_MESSAGE_BYTES = 1024
MAX_INPUT_COUNT = 128
NO_ACK = 0xFFFFFFFF  # wire value of Input.ack = None
MAX_INPUT_DELAY = 16  # largest EpisodeReady.input_delay (frames)

_U32_MAX = 0xFFFFFFFF
_I32_MIN = -(2**31)
_I32_MAX = 2**31 - 1
_I16_MIN = -(2**15)
_I16_MAX = 2**15 - 1
_HASH_RE = re.compile(r"[0-9a-f]{16}\Z")


class MessageType(IntEnum):
    """Byte 0 of every message."""

    INPUT = 0x01
    PING = 0x02
    PONG = 0x03
    KEEPALIVE = 0x04
    EPISODE_END = 0x05
    EPISODE_READY = 0x06
    STATE_HASH = 0x07
    HELLO = 0x08
    BYE = 0x09
    COUNTDOWN = 0x0A
    CATCHUP_REQUEST = 0x0B
    CATCHUP_OFFER = 0x0C
    CATCHUP_ACK = 0x0D
    CATCHUP_CHUNK = 0x0E


class ByeReason(IntEnum):
    """Known BYE reasons; other u8 values decode as plain ints (room for new reasons)."""

    LEFT = 0
    GAME_OVER = 1
    ERROR = 2
    TIMEOUT = 3
    EXCLUDED_END = 4  # the sender was excluded; the game ends for everyone
    EXCLUDED_DEFAULT_ACTION = 5  # the sender was excluded; the others play on with its default action
    AWAY = 6  # the sender's page is going away (a reload); its seat is held and it may catch up


CATCHUP_CHUNK_BYTES = 1000
"""Bytes of the catch-up document in every CATCHUP_CHUNK but the last (which may be shorter)."""
CATCHUP_ACK_WINDOW = 32
"""Chunks a CATCHUP_ACK can report beyond its cumulative ``next`` (bits of its mask)."""
NO_FRAME_WIRE = 0xFFFFFFFF
"""Wire value of a frame field that holds none (None in Python)."""


NO_ADVANTAGE = -(2**15)
"""COUNTDOWN advantage on the wire when the sender has no sample yet (decodes as None)."""
MAX_COUNTDOWN = 0xFFFF


# Error codes of DecodeError.code.
EMPTY = "empty"
UNKNOWN_TYPE = "unknown_type"
TRUNCATED = "truncated"
OVERSIZED = "oversized"
INVALID = "invalid"
ERROR_CODES = (EMPTY, UNKNOWN_TYPE, TRUNCATED, OVERSIZED, INVALID)


@dataclass(frozen=True)
class Input:
    """Actions of ``player`` for frames ``start .. start + len(actions) - 1``."""

    player: int  # u8, sender's player index
    ack: int | None  # highest frame F with all of the receiver's inputs 0..F received; None = none yet
    start: int  # u32, frame of actions[0]
    actions: tuple[int, ...]  # 1..128 signed 32-bit actions


@dataclass(frozen=True)
class Ping:
    """RTT probe; the peer answers with a Pong echoing ``time``."""

    advantage: int  # sender's local frame advantage (encode clamps to i16)
    time: float  # sender's clock in ms, finite


@dataclass(frozen=True)
class Pong:
    """Answer to a Ping."""

    time: float  # the Ping's time, echoed


@dataclass(frozen=True)
class KeepAlive:
    """Sent when nothing else went out for a while, so the peer knows the channel lives."""


@dataclass(frozen=True)
class EpisodeEnd:
    """The sender's episode ``episode`` ended at game-global frame ``frame``."""

    frame: int  # u32, last frame of the episode
    episode: int  # u32


@dataclass(frozen=True)
class EpisodeReady:
    """The sender is ready to start ``episode`` and will play it with ``input_delay``."""

    episode: int  # u32
    input_delay: int  # u8, 0..MAX_INPUT_DELAY: frames between the sender's input and its frame


@dataclass(frozen=True)
class StateHash:
    """State hash of a confirmed frame (hashing contract)."""

    frame: int  # u32
    hash: str  # 16 lowercase hex chars (8 bytes on the wire)


@dataclass(frozen=True)
class Hello:
    """First message on a new channel: who the sender is and which protocol it speaks."""

    version: int  # u8, the sender's PROTOCOL_VERSION
    player: int  # u8
    num_players: int  # u8


@dataclass(frozen=True)
class Bye:
    """The sender is leaving the game."""

    reason: int  # u8, see ByeReason


@dataclass(frozen=True)
class Countdown:
    """Before frame 0: where the sender's start countdown is, for the peers to line up."""

    left: int  # u16, ticks left in the sender's countdown
    advantage: int | None  # sender's latest (its position - ours as it last heard); None = no sample yet


@dataclass(frozen=True)
class CatchupRequest:
    """The sender's page was reloaded: it asks for the game so far (a fresh ``nonce`` per rejoin)."""

    nonce: int  # u32


@dataclass(frozen=True)
class CatchupOffer:
    """Answer to a CatchupRequest: the sender holds a catch-up document of ``size`` bytes for it."""

    nonce: int  # u32, the request's
    size: int  # u32 >= 1, bytes of the catch-up document
    known: int | None  # last frame of the requester's own inputs the sender knows (None: none)
    confirmed: int | None  # the sender's newest confirmed frame (None: none)


@dataclass(frozen=True)
class CatchupAck:
    """Which chunks of the document arrived: 0..next-1, and next+1+i for each bit i of mask."""

    nonce: int  # u32
    next: int  # u32, chunks 0..next-1 are in
    mask: int  # u32, bit i set = chunk next+1+i is in


@dataclass(frozen=True)
class CatchupChunk:
    """Bytes ``index * CATCHUP_CHUNK_BYTES ..`` of the catch-up document."""

    nonce: int  # u32
    index: int  # u32
    data: bytes  # 1..CATCHUP_CHUNK_BYTES bytes


@dataclass(frozen=True)
class DecodeError:
    """Why bytes did not decode; returned by :func:`decode`, never raised."""

    code: str  # one of ERROR_CODES
    detail: str  # human-readable, for logs


Message = Union[Input, Ping, Pong, KeepAlive, EpisodeEnd, EpisodeReady, StateHash, Hello, Bye, Countdown,
                CatchupRequest, CatchupOffer, CatchupAck, CatchupChunk]

_INPUT_HEAD = struct.Struct(">BBIIB")  # type, player, ack, start, count
_PING = struct.Struct(">Bhd")
_PONG = struct.Struct(">Bd")
_EPISODE_READY = struct.Struct(">BIB")
_STATE_HASH_HEAD = struct.Struct(">BI")  # followed by 8 hash bytes
_COUNTDOWN = struct.Struct(">BHh")
_CATCHUP_CHUNK_HEAD = struct.Struct(">BII")
_STATE_HASH_SIZE = _STATE_HASH_HEAD.size + 8


# ---------------------------------------------------------------- encoding


def _int(value: object, field: str) -> int:
    # bool is an int subclass; refusing it catches swapped arguments early.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{field} must be an int, got {type(value).__name__}")
    return value


def _ranged(value: object, field: str, lo: int, hi: int) -> int:
    n = _int(value, field)
    if not lo <= n <= hi:
        raise ValueError(f"{field} must be in [{lo}, {hi}], got {n}")
    return n


def _u8(value: object, field: str) -> int:
    return _ranged(value, field, 0, 0xFF)


def _u32(value: object, field: str) -> int:
    return _ranged(value, field, 0, _U32_MAX)


def _time(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{field} must be a float, got {type(value).__name__}")
    try:
        t = float(value)
    except OverflowError:
        raise ValueError(f"{field} must be finite, got {value}") from None
    if not math.isfinite(t):
        raise ValueError(f"{field} must be finite, got {t}")
    return t


def _varint(action: int) -> bytes:
    """Zigzag then unsigned LEB128 (7 bits per byte, low bits first, high bit = more)."""
    z = ((action << 1) ^ (action >> 31)) & _U32_MAX
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


def _encode_input(msg: Input) -> bytes:
    player = _u8(msg.player, "Input.player")
    if msg.ack is None:
        ack = NO_ACK
    else:
        ack = _int(msg.ack, "Input.ack")
        if not 0 <= ack < NO_ACK:
            raise ValueError(f"Input.ack must be None or in [0, {NO_ACK - 1}], got {ack}")
    start = _u32(msg.start, "Input.start")
    if not isinstance(msg.actions, (tuple, list)):
        raise TypeError(f"Input.actions must be a tuple of ints, got {type(msg.actions).__name__}")
    count = len(msg.actions)
    if not 1 <= count <= MAX_INPUT_COUNT:
        raise ValueError(f"Input.actions must hold 1..{MAX_INPUT_COUNT} actions, got {count}")
    body = b"".join(
        _varint(_ranged(a, f"Input.actions[{i}]", _I32_MIN, _I32_MAX))
        for i, a in enumerate(msg.actions)
    )
    return _INPUT_HEAD.pack(MessageType.INPUT, player, ack, start, count) + body


def _frame_or_none(value: object, field: str) -> int:
    """A frame field that may hold none: None travels as NO_FRAME_WIRE (itself refused)."""
    if value is None:
        return NO_FRAME_WIRE
    frame = _int(value, field)
    if not 0 <= frame < NO_FRAME_WIRE:
        raise ValueError(f"{field} must be None or in [0, {NO_FRAME_WIRE - 1}], got {frame}")
    return frame


def _frame_from_wire(w: int) -> int | None:
    return None if w == NO_FRAME_WIRE else w


@dataclass(frozen=True)
class _Kind:
    """How one integer field travels: its struct code, the check that names the field in its
    error and gives the wire value, and the way back from the wire."""

    code: str
    check: Callable[[object, str], int]
    from_wire: Callable[[int], Any] = lambda w: w


_U8K = _Kind("B", _u8)
_U32K = _Kind("I", _u32)
_SIZEK = _Kind("I", lambda value, field: _ranged(value, field, 1, _U32_MAX))  # a document has >= 1 byte
_FRAMEK = _Kind("I", _frame_or_none, _frame_from_wire)


@dataclass(frozen=True)
class _Layout:
    """A fixed message made of integer fields only: one table serves encode and decode."""

    type: MessageType
    name: str
    cls: type
    fields: tuple[tuple[str, _Kind], ...]  # in byte order
    packer: struct.Struct = dataclass_field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "packer", struct.Struct(">B" + "".join(kind.code for _, kind in self.fields)))

    def encode(self, msg: Any) -> bytes:
        wire = [kind.check(getattr(msg, attr), f"{self.cls.__name__}.{attr}") for attr, kind in self.fields]
        return self.packer.pack(self.type, *wire)

    def decode(self, data: bytes) -> Any:
        wire = self.packer.unpack_from(data)[1:]
        return self.cls(**{attr: kind.from_wire(w) for (attr, kind), w in zip(self.fields, wire)})


_LAYOUTS = (
    _Layout(MessageType.EPISODE_END, "EPISODE_END", EpisodeEnd, (("frame", _U32K), ("episode", _U32K))),
    _Layout(MessageType.HELLO, "HELLO", Hello, (("version", _U8K), ("player", _U8K), ("num_players", _U8K))),
    _Layout(MessageType.BYE, "BYE", Bye, (("reason", _U8K),)),
    _Layout(MessageType.CATCHUP_REQUEST, "CATCHUP_REQUEST", CatchupRequest, (("nonce", _U32K),)),
    _Layout(MessageType.CATCHUP_OFFER, "CATCHUP_OFFER", CatchupOffer,
            (("nonce", _U32K), ("size", _SIZEK), ("known", _FRAMEK), ("confirmed", _FRAMEK))),
    _Layout(MessageType.CATCHUP_ACK, "CATCHUP_ACK", CatchupAck, (("nonce", _U32K), ("next", _U32K), ("mask", _U32K))),
)
_LAYOUT_OF_CLASS = {layout.cls: layout for layout in _LAYOUTS}
_LAYOUT_OF_TYPE = {int(layout.type): layout for layout in _LAYOUTS}


def _encode_chunk(msg: CatchupChunk) -> bytes:
    nonce = _u32(msg.nonce, "CatchupChunk.nonce")
    index = _u32(msg.index, "CatchupChunk.index")
    if not isinstance(msg.data, (bytes, bytearray)):
        raise TypeError(f"CatchupChunk.data must be bytes, got {type(msg.data).__name__}")
    if not 1 <= len(msg.data) <= CATCHUP_CHUNK_BYTES:
        raise ValueError(f"CatchupChunk.data must hold 1..{CATCHUP_CHUNK_BYTES} bytes, got {len(msg.data)}")
    return _CATCHUP_CHUNK_HEAD.pack(MessageType.CATCHUP_CHUNK, nonce, index) + bytes(msg.data)


def _encode_state_hash(msg: StateHash) -> bytes:
    frame = _u32(msg.frame, "StateHash.frame")
    if not isinstance(msg.hash, str):
        raise TypeError(f"StateHash.hash must be a str, got {type(msg.hash).__name__}")
    if not _HASH_RE.match(msg.hash):
        raise ValueError(f"StateHash.hash must be 16 lowercase hex chars, got {msg.hash!r}")
    return _STATE_HASH_HEAD.pack(MessageType.STATE_HASH, frame) + bytes.fromhex(msg.hash)


def encode(msg: Message) -> bytes:
    """Encode one message. Raises TypeError/ValueError (naming the field) for a bad message."""
    if isinstance(msg, Input):
        return _encode_input(msg)
    if isinstance(msg, Ping):
        advantage = _int(msg.advantage, "Ping.advantage")
        # Clamp: a huge advantage still means "far ahead"; it must not make sending fail.
        advantage = min(max(advantage, _I16_MIN), _I16_MAX)
        return _PING.pack(MessageType.PING, advantage, _time(msg.time, "Ping.time"))
    if isinstance(msg, Pong):
        return _PONG.pack(MessageType.PONG, _time(msg.time, "Pong.time"))
    if isinstance(msg, KeepAlive):
        return bytes([MessageType.KEEPALIVE])
    if isinstance(msg, EpisodeReady):
        return _EPISODE_READY.pack(
            MessageType.EPISODE_READY,
            _u32(msg.episode, "EpisodeReady.episode"),
            _ranged(msg.input_delay, "EpisodeReady.input_delay", 0, MAX_INPUT_DELAY),
        )
    if isinstance(msg, StateHash):
        return _encode_state_hash(msg)
    if isinstance(msg, Countdown):
        left = _ranged(msg.left, "Countdown.left", 0, MAX_COUNTDOWN)
        if msg.advantage is None:
            advantage = NO_ADVANTAGE
        else:
            # Clamp like Ping's, short of the None marker.
            advantage = min(max(_int(msg.advantage, "Countdown.advantage"), _I16_MIN + 1), _I16_MAX)
        return _COUNTDOWN.pack(MessageType.COUNTDOWN, left, advantage)
    layout = _LAYOUT_OF_CLASS.get(type(msg))
    if layout is not None:
        return layout.encode(msg)
    if isinstance(msg, CatchupChunk):
        return _encode_chunk(msg)
    raise TypeError(f"not a protocol message: {type(msg).__name__}")


# ---------------------------------------------------------------- decoding
# Checks run in a fixed order so both languages report the same code: empty, longer than
# MAX_MESSAGE_BYTES, unknown type, then the fields in byte order (a field running past the
# end is truncated, a bad value invalid), then bytes left over (oversized).


def _need(data: bytes, size: int, name: str) -> DecodeError | None:
    if len(data) < size:
        return DecodeError(TRUNCATED, f"{name} needs {size} bytes, got {len(data)}")
    return None


def _no_tail(data: bytes, size: int, name: str) -> DecodeError | None:
    if len(data) > size:
        return DecodeError(OVERSIZED, f"{name} is {size} bytes, got {len(data)}")
    return None


def _decode_input(data: bytes) -> Input | DecodeError:
    err = _need(data, _INPUT_HEAD.size, "INPUT header")
    if err:
        return err
    _, player, ack, start, count = _INPUT_HEAD.unpack_from(data)
    if not 1 <= count <= MAX_INPUT_COUNT:
        return DecodeError(INVALID, f"INPUT count must be 1..{MAX_INPUT_COUNT}, got {count}")
    actions: list[int] = []
    pos = _INPUT_HEAD.size
    end = len(data)
    for i in range(count):
        z = 0
        for nbyte in range(5):
            if pos >= end:
                return DecodeError(TRUNCATED, f"INPUT ends inside action {i} of {count}")
            b = data[pos]
            pos += 1
            if nbyte == 4 and b > 0x0F:
                # Byte 5 carries bits 28..34; a continuation bit or bits past 31 leave u32.
                return DecodeError(INVALID, f"INPUT action {i}: varint exceeds 32 bits")
            z |= (b & 0x7F) << (7 * nbyte)
            if b < 0x80:
                if b == 0 and nbyte > 0:
                    return DecodeError(INVALID, f"INPUT action {i}: non-minimal varint")
                break
        actions.append((z >> 1) ^ -(z & 1))
    err = _no_tail(data, pos, "INPUT")
    if err:
        return err
    return Input(player, None if ack == NO_ACK else ack, start, tuple(actions))


def _decode_fixed(data: bytes, kind: int) -> Message | DecodeError:
    if kind == MessageType.PING or kind == MessageType.PONG:
        # Time is the last field: checked after truncation and before leftover bytes.
        st, name = (_PING, "PING") if kind == MessageType.PING else (_PONG, "PONG")
        err = _need(data, st.size, name)
        if err:
            return err
        fields = st.unpack_from(data)
        if not math.isfinite(fields[-1]):
            return DecodeError(INVALID, f"{name} time must be finite, got {fields[-1]}")
        err = _no_tail(data, st.size, name)
        if err:
            return err
        return Ping(fields[1], fields[2]) if kind == MessageType.PING else Pong(fields[1])
    if kind == MessageType.KEEPALIVE:
        return _no_tail(data, 1, "KEEPALIVE") or KeepAlive()
    if kind == MessageType.STATE_HASH:
        err = _need(data, _STATE_HASH_SIZE, "STATE_HASH") or _no_tail(
            data, _STATE_HASH_SIZE, "STATE_HASH"
        )
        if err:
            return err
        _, frame = _STATE_HASH_HEAD.unpack_from(data)
        return StateHash(frame, bytes(data[_STATE_HASH_HEAD.size : _STATE_HASH_SIZE]).hex())
    layout = _LAYOUT_OF_TYPE.get(kind)
    st, name, make = (layout.packer, layout.name, None) if layout else _PLAIN[kind]
    err = _need(data, st.size, name)
    if err:
        return err
    if kind == MessageType.EPISODE_READY and data[5] > MAX_INPUT_DELAY:
        # input_delay is the last field: checked before leftover bytes, like a PING's time.
        return DecodeError(INVALID, f"EPISODE_READY input_delay must be 0..{MAX_INPUT_DELAY}, got {data[5]}")
    if kind == MessageType.CATCHUP_OFFER and struct.unpack_from(">I", data, 5)[0] == 0:
        # A catch-up document has at least one byte (size is checked in byte order).
        return DecodeError(INVALID, "CATCHUP_OFFER size must be at least 1")
    err = _no_tail(data, st.size, name)
    if err:
        return err
    return layout.decode(data) if layout else make(*st.unpack_from(data)[1:])


# The fixed messages with a check of their own (the rest decode through _LAYOUTS).
_PLAIN = {
    MessageType.EPISODE_READY: (_EPISODE_READY, "EPISODE_READY", EpisodeReady),
    MessageType.COUNTDOWN: (
        _COUNTDOWN, "COUNTDOWN", lambda left, adv: Countdown(left, None if adv == NO_ADVANTAGE else adv)),
}
_KNOWN_TYPES = frozenset(int(t) for t in MessageType)


def _decode_chunk(data: bytes) -> CatchupChunk | DecodeError:
    head = _CATCHUP_CHUNK_HEAD.size
    if len(data) < head + 1:  # at least one data byte
        return DecodeError(TRUNCATED, f"CATCHUP_CHUNK needs {head + 1}+ bytes, got {len(data)}")
    if len(data) > head + CATCHUP_CHUNK_BYTES:
        return DecodeError(OVERSIZED, f"CATCHUP_CHUNK holds at most {CATCHUP_CHUNK_BYTES} data bytes, got {len(data) - head}")
    _, nonce, index = _CATCHUP_CHUNK_HEAD.unpack_from(data)
    return CatchupChunk(nonce, index, bytes(data[head:]))


def decode(data: bytes | bytearray | memoryview) -> Message | DecodeError:
    """Decode one message; malformed input gives a DecodeError (never raises)."""
    if isinstance(data, memoryview):
        try:
            if data.nbytes > MAX_MESSAGE_BYTES:  # check before copying a huge view
                return DecodeError(OVERSIZED, f"{data.nbytes} bytes > {MAX_MESSAGE_BYTES}")
            data = data.tobytes()
        except (ValueError, TypeError) as exc:  # e.g. a released view
            return DecodeError(INVALID, f"unreadable memoryview: {exc}")
    elif not isinstance(data, (bytes, bytearray)):
        return DecodeError(INVALID, f"expected bytes, got {type(data).__name__}")
    if not data:
        return DecodeError(EMPTY, "empty message")
    if len(data) > MAX_MESSAGE_BYTES:
        return DecodeError(OVERSIZED, f"{len(data)} bytes > {MAX_MESSAGE_BYTES}")
    kind = data[0]
    if kind not in _KNOWN_TYPES:
        return DecodeError(UNKNOWN_TYPE, f"unknown message type 0x{kind:02x}")
    if kind == MessageType.INPUT:
        return _decode_input(data)
    if kind == MessageType.CATCHUP_CHUNK:
        return _decode_chunk(data)
    return _decode_fixed(data, kind)


# ---------------------------------------------------------------- catch-up document
# The game so far, as a peer sends it (in CATCHUP_CHUNKs) to a player whose page was reloaded:
# episodes, every player's known inputs (run-length coded), the hashes of the confirmed frames.
# Layout and rules: docs/protocol.md, "Catch-up document". Decoding is total, like decode().

CATCHUP_DOC_VERSION = 1
MAX_CATCHUP_FRAMES = 2**22
"""Most input frames a catch-up document may describe per player (38 h at 30 fps)."""
CATCHUP_STATES = ("pregame", "running", "transition", "finished")
_NO_DELAY = 0xFF
_MAX_HASH_INTERVAL = 100000


@dataclass(frozen=True)
class CatchupEpisode:
    """One started episode: its frames and every player's input delay (None: unknown)."""

    start: int
    end: int | None  # None: still running
    delays: tuple[int | None, ...]


@dataclass(frozen=True)
class CatchupPlayer:
    """What the sender knows of one player's inputs: frames 0..known, plus a default-action run."""

    known: int | None  # last frame of the contiguous run of inputs (None: none)
    default_from: int | None  # the agreed first default-action frame of a lost player (None: none)
    actions: tuple[int, ...]  # inputs of frames 0..known


@dataclass(frozen=True)
class CatchupDoc:
    """A catch-up document (docs/protocol.md); encode_catchup_doc / decode_catchup_doc."""

    num_players: int
    hash_interval: int
    state: str  # one of CATCHUP_STATES
    confirmed: int | None  # the sender's newest confirmed frame
    verified: int | None  # the sender's verified frame
    verified_through: tuple[int | None, ...]  # per player: frames the sender verified with it
    episodes: tuple[CatchupEpisode, ...]
    next_delays: tuple[int | None, ...] | None  # delays of the episode the sender is ready for (transition)
    players: tuple[CatchupPlayer, ...]
    hashes: tuple[str, ...]  # one per hashed frame 0..confirmed


def _delay_byte(d: object, field: str) -> int:
    return _NO_DELAY if d is None else _ranged(d, field, 0, MAX_INPUT_DELAY)


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _per_player(values: object, n: int, field: str) -> tuple:
    if not isinstance(values, (tuple, list)) or len(values) != n:
        raise TypeError(f"{field} must be a sequence of {n} entries")
    return tuple(values)


def encode_catchup_doc(doc: CatchupDoc) -> bytes:
    """Encode a catch-up document; raises TypeError/ValueError naming the field."""
    if not isinstance(doc, CatchupDoc):
        raise TypeError(f"not a CatchupDoc: {type(doc).__name__}")
    n = _ranged(doc.num_players, "CatchupDoc.num_players", 2, 255)
    interval = _ranged(doc.hash_interval, "CatchupDoc.hash_interval", 1, _MAX_HASH_INTERVAL)
    if doc.state not in CATCHUP_STATES:
        raise ValueError(f"CatchupDoc.state must be one of {', '.join(CATCHUP_STATES)}, got {doc.state!r}")
    confirmed = _frame_or_none(doc.confirmed, "CatchupDoc.confirmed")
    out = bytearray(struct.pack(">BBIBII", CATCHUP_DOC_VERSION, n, interval, CATCHUP_STATES.index(doc.state),
                                confirmed, _frame_or_none(doc.verified, "CatchupDoc.verified")))
    for p, f in enumerate(_per_player(doc.verified_through, n, "CatchupDoc.verified_through")):
        out += struct.pack(">I", _frame_or_none(f, f"CatchupDoc.verified_through[{p}]"))
    out += struct.pack(">I", len(doc.episodes))
    for e, ep in enumerate(doc.episodes):
        out += struct.pack(">II", _u32(ep.start, f"CatchupDoc.episodes[{e}].start"),
                           _frame_or_none(ep.end, f"CatchupDoc.episodes[{e}].end"))
        out += bytes(_delay_byte(d, f"CatchupDoc.episodes[{e}].delays[{p}]")
                     for p, d in enumerate(_per_player(ep.delays, n, f"CatchupDoc.episodes[{e}].delays")))
    if doc.next_delays is None:
        out.append(0)
    else:
        out.append(1)
        out += bytes(_delay_byte(d, f"CatchupDoc.next_delays[{p}]")
                     for p, d in enumerate(_per_player(doc.next_delays, n, "CatchupDoc.next_delays")))
    for p, pl in enumerate(_per_player(doc.players, n, "CatchupDoc.players")):
        field = f"CatchupDoc.players[{p}]"
        known = _frame_or_none(pl.known, f"{field}.known")
        count = 0 if known == NO_FRAME_WIRE else known + 1
        if count > MAX_CATCHUP_FRAMES:
            raise ValueError(f"{field}.known must be below {MAX_CATCHUP_FRAMES}, got {known}")
        actions = pl.actions
        if len(actions) != count:
            raise ValueError(f"{field}.actions must hold known + 1 = {count} actions, got {len(actions)}")
        # Run-length: (action, run) pairs; players hold keys, so runs are long.
        runs = bytearray()
        nruns = 0
        i = 0
        while i < count:
            a = _ranged(actions[i], f"{field}.actions[{i}]", _I32_MIN, _I32_MAX)
            j = i + 1
            while j < count and actions[j] == a:
                j += 1
            runs += _varint(a) + _uvarint(j - i)
            nruns += 1
            i = j
        out += struct.pack(">III", known, _frame_or_none(pl.default_from, f"{field}.default_from"), nruns) + runs
    expected = 0 if confirmed == NO_FRAME_WIRE else confirmed // interval + 1
    if len(doc.hashes) != expected:
        raise ValueError(f"CatchupDoc.hashes must hold one hash per hashed frame 0..confirmed ({expected}), got {len(doc.hashes)}")
    for k, h in enumerate(doc.hashes):
        if not isinstance(h, str) or not _HASH_RE.match(h):
            raise ValueError(f"CatchupDoc.hashes[{k}] must be 16 lowercase hex chars, got {h!r}")
        out += bytes.fromhex(h)
    return bytes(out)


class _DocError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def left(self) -> int:
        return len(self.data) - self.pos

    def need(self, n: int, what: str) -> None:
        if self.pos + n > len(self.data):
            raise _DocError(TRUNCATED, f"catch-up document ends inside {what}")

    def u8(self, what: str) -> int:
        self.need(1, what)
        self.pos += 1
        return self.data[self.pos - 1]

    def u32(self, what: str) -> int:
        self.need(4, what)
        (v,) = struct.unpack_from(">I", self.data, self.pos)
        self.pos += 4
        return v

    def uvarint(self, what: str) -> int:
        """A minimal LEB128 of at most 32 bits."""
        z = 0
        for nbyte in range(5):
            b = self.u8(what)
            if nbyte == 4 and b > 0x0F:
                raise _DocError(INVALID, f"{what}: varint exceeds 32 bits")
            z |= (b & 0x7F) << (7 * nbyte)
            if b < 0x80:
                if b == 0 and nbyte > 0:
                    raise _DocError(INVALID, f"{what}: non-minimal varint")
                return z
        raise AssertionError("unreachable: the fifth byte ends the varint or fails above")

    def delays(self, n: int, what: str) -> tuple[int | None, ...]:
        out: list[int | None] = []
        for p in range(n):
            d = self.u8(f"{what}[{p}]")
            if d != _NO_DELAY and d > MAX_INPUT_DELAY:
                raise _DocError(INVALID, f"{what}[{p}] must be 0..{MAX_INPUT_DELAY} or 0xff, got {d}")
            out.append(None if d == _NO_DELAY else d)
        return tuple(out)


def decode_catchup_doc(data: bytes | bytearray | memoryview) -> CatchupDoc | DecodeError:
    """Decode a catch-up document; a DecodeError (never raised) for anything malformed."""
    if isinstance(data, memoryview):
        data = data.tobytes()
    elif not isinstance(data, (bytes, bytearray)):
        return DecodeError(INVALID, f"expected bytes, got {type(data).__name__}")
    if not data:
        return DecodeError(EMPTY, "empty catch-up document")
    r = _Reader(bytes(data))
    try:
        doc = _read_doc(r)
    except _DocError as err:
        return DecodeError(err.code, err.detail)
    if r.left() > 0:
        return DecodeError(OVERSIZED, f"{r.left()} bytes after the catch-up document")
    return doc


def _read_doc(r: _Reader) -> CatchupDoc:
    version = r.u8("version")
    if version != CATCHUP_DOC_VERSION:
        raise _DocError(INVALID, f"catch-up document version {version} is not {CATCHUP_DOC_VERSION}")
    n = r.u8("num_players")
    if n < 2:
        raise _DocError(INVALID, f"num_players must be 2..255, got {n}")
    interval = r.u32("hash_interval")
    if not 1 <= interval <= _MAX_HASH_INTERVAL:
        raise _DocError(INVALID, f"hash_interval must be 1..{_MAX_HASH_INTERVAL}, got {interval}")
    state = r.u8("state")
    if state >= len(CATCHUP_STATES):
        raise _DocError(INVALID, f"state must be 0..{len(CATCHUP_STATES) - 1}, got {state}")
    confirmed = r.u32("confirmed")
    verified = r.u32("verified")
    verified_through = tuple(_frame_from_wire(r.u32(f"verified_through[{p}]")) for p in range(n))
    count = r.u32("episode count")
    r.need(count * (8 + n), "the episodes")
    episodes = []
    for e in range(count):
        start = r.u32(f"episodes[{e}].start")
        end = r.u32(f"episodes[{e}].end")
        episodes.append(CatchupEpisode(start, _frame_from_wire(end), r.delays(n, f"episodes[{e}].delays")))
    has_next = r.u8("next flag")
    if has_next > 1:
        raise _DocError(INVALID, f"next flag must be 0 or 1, got {has_next}")
    next_delays = r.delays(n, "next_delays") if has_next else None
    players = []
    for p in range(n):
        known = r.u32(f"players[{p}].known")
        default_from = r.u32(f"players[{p}].default_from")
        runs = r.u32(f"players[{p}].runs")
        total = 0 if known == NO_FRAME_WIRE else known + 1
        if total > MAX_CATCHUP_FRAMES:
            raise _DocError(INVALID, f"players[{p}].known must be below {MAX_CATCHUP_FRAMES}, got {known}")
        if runs > total:
            raise _DocError(INVALID, f"players[{p}]: {runs} runs for {total} frames")
        r.need(runs * 2, f"players[{p}].runs")
        actions: list[int] = []
        for k in range(runs):
            z = r.uvarint(f"players[{p}] run {k} action")
            length = r.uvarint(f"players[{p}] run {k} length")
            if length < 1 or len(actions) + length > total:
                raise _DocError(INVALID, f"players[{p}] run {k}: length {length} leaves the {total} known frames")
            a = (z >> 1) ^ -(z & 1)
            if actions and actions[-1] == a:  # canonical: two runs of the same action would have been one
                raise _DocError(INVALID, f"players[{p}] run {k} repeats the action of run {k - 1}")
            actions.extend([a] * length)
        if len(actions) != total:
            raise _DocError(INVALID, f"players[{p}]: runs cover {len(actions)} of {total} frames")
        players.append(CatchupPlayer(_frame_from_wire(known), _frame_from_wire(default_from), tuple(actions)))
    hash_count = 0 if confirmed == NO_FRAME_WIRE else confirmed // interval + 1
    r.need(8 * hash_count, "the hashes")
    raw = r.data[r.pos : r.pos + 8 * hash_count]
    r.pos += 8 * hash_count
    hashes = tuple(raw[8 * k : 8 * k + 8].hex() for k in range(hash_count))
    return CatchupDoc(n, interval, CATCHUP_STATES[state], _frame_from_wire(confirmed), _frame_from_wire(verified),
                      verified_through, tuple(episodes), next_delays, tuple(players), hashes)
