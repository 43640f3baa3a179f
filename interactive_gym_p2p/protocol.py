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
from dataclasses import dataclass
from enum import IntEnum
from typing import Union

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


class ByeReason(IntEnum):
    """Known BYE reasons; other u8 values decode as plain ints (room for new reasons)."""

    LEFT = 0
    GAME_OVER = 1
    ERROR = 2
    TIMEOUT = 3
    EXCLUDED_END = 4  # the sender was excluded; the game ends for everyone
    EXCLUDED_DEFAULT_ACTION = 5  # the sender was excluded; the others play on with its default action


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
class DecodeError:
    """Why bytes did not decode; returned by :func:`decode`, never raised."""

    code: str  # one of ERROR_CODES
    detail: str  # human-readable, for logs


Message = Union[Input, Ping, Pong, KeepAlive, EpisodeEnd, EpisodeReady, StateHash, Hello, Bye, Countdown]

_INPUT_HEAD = struct.Struct(">BBIIB")  # type, player, ack, start, count
_PING = struct.Struct(">Bhd")
_PONG = struct.Struct(">Bd")
_EPISODE_END = struct.Struct(">BII")
_EPISODE_READY = struct.Struct(">BIB")
_STATE_HASH_HEAD = struct.Struct(">BI")  # followed by 8 hash bytes
_HELLO = struct.Struct(">BBBB")
_BYE = struct.Struct(">BB")
_COUNTDOWN = struct.Struct(">BHh")
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
    if isinstance(msg, EpisodeEnd):
        return _EPISODE_END.pack(
            MessageType.EPISODE_END,
            _u32(msg.frame, "EpisodeEnd.frame"),
            _u32(msg.episode, "EpisodeEnd.episode"),
        )
    if isinstance(msg, EpisodeReady):
        return _EPISODE_READY.pack(
            MessageType.EPISODE_READY,
            _u32(msg.episode, "EpisodeReady.episode"),
            _ranged(msg.input_delay, "EpisodeReady.input_delay", 0, MAX_INPUT_DELAY),
        )
    if isinstance(msg, StateHash):
        return _encode_state_hash(msg)
    if isinstance(msg, Hello):
        return _HELLO.pack(
            MessageType.HELLO,
            _u8(msg.version, "Hello.version"),
            _u8(msg.player, "Hello.player"),
            _u8(msg.num_players, "Hello.num_players"),
        )
    if isinstance(msg, Bye):
        return _BYE.pack(MessageType.BYE, _u8(msg.reason, "Bye.reason"))
    if isinstance(msg, Countdown):
        left = _ranged(msg.left, "Countdown.left", 0, MAX_COUNTDOWN)
        if msg.advantage is None:
            advantage = NO_ADVANTAGE
        else:
            # Clamp like Ping's, short of the None marker.
            advantage = min(max(_int(msg.advantage, "Countdown.advantage"), _I16_MIN + 1), _I16_MAX)
        return _COUNTDOWN.pack(MessageType.COUNTDOWN, left, advantage)
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
    st, name, make = _PLAIN[kind]
    err = _need(data, st.size, name)
    if err:
        return err
    if kind == MessageType.EPISODE_READY and data[5] > MAX_INPUT_DELAY:
        # input_delay is the last field: checked before leftover bytes, like a PING's time.
        return DecodeError(INVALID, f"EPISODE_READY input_delay must be 0..{MAX_INPUT_DELAY}, got {data[5]}")
    err = _no_tail(data, st.size, name)
    if err:
        return err
    return make(*st.unpack_from(data)[1:])


_PLAIN = {
    MessageType.EPISODE_END: (_EPISODE_END, "EPISODE_END", EpisodeEnd),
    MessageType.EPISODE_READY: (_EPISODE_READY, "EPISODE_READY", EpisodeReady),
    MessageType.HELLO: (_HELLO, "HELLO", Hello),
    MessageType.BYE: (_BYE, "BYE", Bye),
    MessageType.COUNTDOWN: (
        _COUNTDOWN, "COUNTDOWN", lambda left, adv: Countdown(left, None if adv == NO_ADVANTAGE else adv)),
}
_KNOWN_TYPES = frozenset(int(t) for t in MessageType)


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
    return _decode_fixed(data, kind)
