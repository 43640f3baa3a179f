"""Write tests/vectors/protocol.json, the binary protocol v2 vectors (docs/protocol.md).

    python tests/vectors/make_protocol_vectors.py

The hex strings are built here from the byte table by hand (literal bytes, struct for the
fixed-width numbers, a five-line LEB128), NOT with interactive_gym_p2p.protocol, so the
vectors check the codecs instead of echoing one of them. The output is checked in as data;
pytest and node tests read the JSON, not this script.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

OUT = Path(__file__).with_name("protocol.json")


def u8(n: int) -> str:
    return f"{n:02x}"


def u16(n: int) -> str:
    return f"{n:04x}"


def u32(n: int) -> str:
    return f"{n:08x}"


def i16(n: int) -> str:
    return struct.pack(">h", n).hex()


def f64(x: float) -> str:
    return struct.pack(">d", x).hex()


def uvarint(n: int) -> str:
    out = []
    while True:
        out.append((n & 0x7F) | (0x80 if n >= 0x80 else 0))
        n >>= 7
        if not n:
            return bytes(out).hex()


def varint(action: int) -> str:
    return uvarint((action << 1) if action >= 0 else ((-action) << 1) - 1)  # zigzag by definition


# Spot checks of the helper against hand-computed bytes (the docs' table lists these).
for _a, _hex in [
    (0, "00"), (-1, "01"), (1, "02"), (63, "7e"), (64, "8001"), (-64, "7f"), (-65, "8101"),
    (8191, "fe7f"), (-8192, "ff7f"), (8192, "808001"), (2**20, "80808001"),
    (2**27, "8080808001"), (2**31 - 1, "feffffff0f"), (-(2**31), "ffffffff0f"),
]:
    assert varint(_a) == _hex, (_a, varint(_a), _hex)


def input_hex(player: int, ack: int | None, start: int, actions: list[int]) -> str:
    return (
        "01" + u8(player) + u32(0xFFFFFFFF if ack is None else ack) + u32(start)
        + u8(len(actions)) + "".join(varint(a) for a in actions)
    )


def inp(name: str, player: int, ack: int | None, start: int, actions: list[int]) -> dict:
    return {
        "name": name,
        "hex": input_hex(player, ack, start, actions),
        "message": {"type": "input", "player": player, "ack": ack, "start": start, "actions": actions},
    }


def v(name: str, hex_: str, message: dict) -> dict:
    return {"name": name, "hex": hex_, "message": message}


def ping(name: str, advantage: int, time: float) -> dict:
    return v(name, "02" + i16(advantage) + f64(time), {"type": "ping", "advantage": advantage, "time": time})


def pong(name: str, time: float) -> dict:
    return v(name, "03" + f64(time), {"type": "pong", "time": time})


U32_MAX = 2**32 - 1
EDGE_ACTIONS = [0, -1, 1, 63, 64, -64, -65, 8191, -8192, 8192, 2**20, 2**27, 2**31 - 1, -(2**31)]

VALID = [
    inp("input: ack none, one action 0", 0, None, 0, [0]),
    inp("input: ack 0", 1, 0, 1, [5]),
    inp("input: ack max (0xFFFFFFFE)", 1, U32_MAX - 1, 7, [-3]),
    inp("input: start 2**32-1", 0, 10, U32_MAX, [2]),
    inp("input: player 255", 255, None, 0, [1]),
    inp("input: 7 one-byte actions = 18 bytes", 1, 41, 40, [0, 1, 2, 3, 4, 0, 1]),
    inp("input: varint edge actions", 0, 99, 100, EDGE_ACTIONS),
    inp("input: action 2**31-1 alone", 0, None, 0, [2**31 - 1]),
    inp("input: action -2**31 alone", 0, None, 0, [-(2**31)]),
    inp("input: hosted seat 2's actions, sent by its host (the player byte names the seat)", 2, 5, 4, [3, 3, 1]),
    inp("input: count 128, one byte each", 3, 1000, 873, [i - 64 for i in range(128)]),
    inp("input: count 128, five bytes each (largest INPUT, 651 bytes)", 2, None, 5, [-(2**31)] * 128),
    ping("ping: zeros", 0, 0.0),
    ping("ping: advantage -32768", -32768, 12.5),
    ping("ping: advantage 32767", 32767, 12.5),
    ping("ping: advantage -3, negative time", -3, -1.5),
    ping("ping: fractional time", 2, 0.1),
    ping("ping: epoch ms 1.7e12", 1, 1.7e12),
    ping("ping: epoch ms with fraction", 0, 1712345678901.25),
    ping("ping: time -0.0 keeps its sign", 0, -0.0),
    ping("ping: smallest subnormal time", 0, 5e-324),
    ping("ping: largest finite time", 0, 1.7976931348623157e308),
    pong("pong: time 0", 0.0),
    pong("pong: time 1.7e12 + 0.5", 1700000000000.5),
    pong("pong: negative fractional time", -123.456),
    v("keepalive", "04", {"type": "keepalive"}),
    v("episode_end: zeros", "05" + u32(0) + u32(0), {"type": "episode_end", "frame": 0, "episode": 0}),
    v("episode_end: frame 3599 episode 0", "05" + u32(3599) + u32(0),
      {"type": "episode_end", "frame": 3599, "episode": 0}),
    v("episode_end: max", "05" + u32(U32_MAX) + u32(U32_MAX),
      {"type": "episode_end", "frame": U32_MAX, "episode": U32_MAX}),
    v("episode_ready: episode 0, delay 0", "06" + u32(0) + u8(0),
      {"type": "episode_ready", "episode": 0, "input_delay": 0}),
    v("episode_ready: episode 1, delay 2", "06" + u32(1) + u8(2),
      {"type": "episode_ready", "episode": 1, "input_delay": 2}),
    v("episode_ready: episode max, delay 16 (max)", "06" + u32(U32_MAX) + u8(16),
      {"type": "episode_ready", "episode": U32_MAX, "input_delay": 16}),
    v("state_hash: zeros", "07" + u32(0) + "00" * 8, {"type": "state_hash", "frame": 0, "hash": "0" * 16}),
    v("state_hash: frame 1234", "07" + u32(1234) + "0123456789abcdef",
      {"type": "state_hash", "frame": 1234, "hash": "0123456789abcdef"}),
    v("state_hash: max", "07" + u32(U32_MAX) + "ff" * 8,
      {"type": "state_hash", "frame": U32_MAX, "hash": "f" * 16}),
    v("hello: v2 player 0 of 2", "08020002", {"type": "hello", "version": 2, "player": 0, "num_players": 2}),
    v("hello: v2 player 1 of 2", "08020102", {"type": "hello", "version": 2, "player": 1, "num_players": 2}),
    v("hello: v1 (older peer) still decodes", "08010002", {"type": "hello", "version": 1, "player": 0, "num_players": 2}),
    v("hello: version 0", "08000003", {"type": "hello", "version": 0, "player": 0, "num_players": 3}),
    v("hello: all 255", "08ffffff", {"type": "hello", "version": 255, "player": 255, "num_players": 255}),
    v("bye: left", "0900", {"type": "bye", "reason": 0}),
    v("bye: game over", "0901", {"type": "bye", "reason": 1}),
    v("bye: error", "0902", {"type": "bye", "reason": 2}),
    v("bye: timeout", "0903", {"type": "bye", "reason": 3}),
    v("bye: excluded, the game ends", "0904", {"type": "bye", "reason": 4}),
    v("bye: excluded, the others play on with its default action", "0905", {"type": "bye", "reason": 5}),
    v("bye: unknown reason 255 still decodes", "09ff", {"type": "bye", "reason": 255}),
    v("countdown: 90 left, no sample yet", "0a" + u16(90) + "8000", {"type": "countdown", "left": 90, "advantage": None}),
    v("countdown: 0 left, advantage 0", "0a" + u16(0) + i16(0), {"type": "countdown", "left": 0, "advantage": 0}),
    v("countdown: 65535 left, advantage -3", "0a" + u16(65535) + i16(-3),
      {"type": "countdown", "left": 65535, "advantage": -3}),
    v("countdown: advantage -32767 (lowest number)", "0a" + u16(1) + i16(-32767),
      {"type": "countdown", "left": 1, "advantage": -32767}),
    v("countdown: advantage 32767", "0a" + u16(1) + i16(32767), {"type": "countdown", "left": 1, "advantage": 32767}),
    v("bye: away (a reload; keep my seat)", "0906", {"type": "bye", "reason": 6}),
    v("catchup_request: nonce 0", "0b" + u32(0), {"type": "catchup_request", "nonce": 0}),
    v("catchup_request: nonce max", "0b" + u32(U32_MAX), {"type": "catchup_request", "nonce": U32_MAX}),
    v("catchup_offer: 5000 bytes, known 211, confirmed 203", "0c" + u32(0xDEADBEEF) + u32(5000) + u32(211) + u32(203),
      {"type": "catchup_offer", "nonce": 0xDEADBEEF, "size": 5000, "known": 211, "confirmed": 203}),
    v("catchup_offer: nothing known or confirmed yet", "0c" + u32(1) + u32(1) + "ffffffff" + "ffffffff",
      {"type": "catchup_offer", "nonce": 1, "size": 1, "known": None, "confirmed": None}),
    v("catchup_offer: max size, frames 2**32-2", "0c" + u32(2) + u32(U32_MAX) + u32(U32_MAX - 1) + u32(0),
      {"type": "catchup_offer", "nonce": 2, "size": U32_MAX, "known": U32_MAX - 1, "confirmed": 0}),
    v("catchup_ack: start (nothing yet)", "0d" + u32(9) + u32(0) + u32(0),
      {"type": "catchup_ack", "nonce": 9, "next": 0, "mask": 0}),
    v("catchup_ack: 0..2 in, then 4 and 6", "0d" + u32(9) + u32(3) + u32(0b101),
      {"type": "catchup_ack", "nonce": 9, "next": 3, "mask": 5}),
    v("catchup_ack: full mask", "0d" + u32(9) + u32(U32_MAX) + u32(U32_MAX),
      {"type": "catchup_ack", "nonce": 9, "next": U32_MAX, "mask": U32_MAX}),
    v("catchup_chunk: one byte", "0e" + u32(9) + u32(0) + "2a", {"type": "catchup_chunk", "nonce": 9, "index": 0, "data": "2a"}),
    v("catchup_chunk: 1000 bytes (largest, 1009 bytes)", "0e" + u32(9) + u32(7) + "ab" * 1000,
      {"type": "catchup_chunk", "nonce": 9, "index": 7, "data": "ab" * 1000}),
]

# Encoding clamps the PING advantage to i16; these do not decode back to the same message.
ENCODE_ONLY = [
    v("ping: advantage 40000 clamps to 32767", "02" + "7fff" + f64(1.0),
      {"type": "ping", "advantage": 40000, "time": 1.0}),
    v("ping: advantage -40000 clamps to -32768", "02" + "8000" + f64(1.0),
      {"type": "ping", "advantage": -40000, "time": 1.0}),
    v("ping: advantage 2**40 clamps to 32767", "02" + "7fff" + f64(2.0),
      {"type": "ping", "advantage": 2**40, "time": 2.0}),
    # COUNTDOWN clamps to -32767..32767: -32768 on the wire means "no sample" (null / None).
    v("countdown: advantage -32768 clamps to -32767", "0a" + u16(5) + i16(-32767),
      {"type": "countdown", "left": 5, "advantage": -32768}),
    v("countdown: advantage 40000 clamps to 32767", "0a" + u16(5) + i16(32767),
      {"type": "countdown", "left": 5, "advantage": 40000}),
]

ONE = input_hex(0, None, 0, [0])  # 12-byte INPUT for truncation/trailing cases
HEAD = "0100" + u32(0xFFFFFFFF) + u32(0)  # INPUT up to (not including) count
NAN = "7ff8000000000000"
INF = "7ff0000000000000"
NEG_INF = "fff0000000000000"


def bad(name: str, hex_: str, error: str) -> dict:
    return {"name": name, "hex": hex_, "error": error}


INVALID = [
    bad("empty", "", "empty"),
    bad("1025 bytes (keepalive type)", "04" * 1025, "oversized"),
    bad("1025 bytes of unknown type: size is checked first", "ff" * 1025, "oversized"),
    bad("1024 bytes of unknown type", "ff" * 1024, "unknown_type"),
    bad("1024 bytes keepalive: longer than its layout", "04" + "00" * 1023, "oversized"),
    bad("type 0x00", "00", "unknown_type"),
    bad("type 0x0f", "0f", "unknown_type"),
    bad("type 0x0f with payload", "0f0102030405", "unknown_type"),
    bad("type 0x80", "80", "unknown_type"),
    bad("type 0xff", "ff", "unknown_type"),
    # truncation, every type that has a body
    bad("input: type byte only", "01", "truncated"),
    bad("input: header without count", HEAD, "truncated"),
    bad("input: count 1, no action", HEAD + "01", "truncated"),
    bad("input: count 2, one action", HEAD + "02" + "00", "truncated"),
    bad("input: ends inside a varint", HEAD + "01" + "80", "truncated"),
    bad("input: ends after 4 varint bytes", HEAD + "01" + "80808080", "truncated"),
    bad("ping: type byte only", "02", "truncated"),
    bad("ping: 10 of 11 bytes", "02" + i16(1) + f64(1.0)[:-2], "truncated"),
    bad("pong: type byte only", "03", "truncated"),
    bad("pong: 8 of 9 bytes", "03" + f64(1.0)[:-2], "truncated"),
    bad("episode_end: 8 of 9 bytes", "05" + u32(1) + u32(2)[:-2], "truncated"),
    bad("episode_end: 5 of 9 bytes", "05" + u32(1), "truncated"),
    bad("episode_ready: 4 of 6 bytes", "06" + u32(1)[:-2], "truncated"),
    bad("episode_ready: 5 of 6 bytes (a v1 EPISODE_READY)", "06" + u32(1), "truncated"),
    bad("state_hash: 12 of 13 bytes", "07" + u32(1) + "00" * 7, "truncated"),
    bad("state_hash: 5 of 13 bytes", "07" + u32(1), "truncated"),
    bad("hello: 3 of 4 bytes", "080100", "truncated"),
    bad("bye: type byte only", "09", "truncated"),
    bad("countdown: type byte only", "0a", "truncated"),
    bad("countdown: 4 of 5 bytes", "0a" + u16(3) + "00", "truncated"),
    bad("catchup_request: type byte only", "0b", "truncated"),
    bad("catchup_request: 4 of 5 bytes", "0b" + u32(1)[:-2], "truncated"),
    bad("catchup_offer: 16 of 17 bytes", "0c" + u32(1) + u32(5) + u32(1) + u32(1)[:-2], "truncated"),
    bad("catchup_ack: 12 of 13 bytes", "0d" + u32(1) + u32(1) + u32(1)[:-2], "truncated"),
    bad("catchup_chunk: no data byte", "0e" + u32(1) + u32(0), "truncated"),
    bad("catchup_chunk: 8 of 9 header bytes", "0e" + u32(1) + u32(0)[:-2], "truncated"),
    # bytes after the layout
    bad("input: trailing byte", ONE + "00", "oversized"),
    bad("input: count 1 but two actions", HEAD + "01" + "0000", "oversized"),
    bad("ping: trailing byte", "02" + i16(1) + f64(1.0) + "00", "oversized"),
    bad("pong: trailing byte", "03" + f64(1.0) + "00", "oversized"),
    bad("keepalive: trailing byte", "0400", "oversized"),
    bad("episode_end: trailing byte", "05" + u32(1) + u32(2) + "00", "oversized"),
    bad("episode_ready: trailing byte", "06" + u32(1) + "00" + "00", "oversized"),
    bad("state_hash: 14 bytes", "07" + u32(1) + "00" * 9, "oversized"),
    bad("hello: trailing byte", "0801000200", "oversized"),
    bad("bye: trailing byte", "090000", "oversized"),
    bad("countdown: trailing byte", "0a" + u16(3) + i16(0) + "00", "oversized"),
    bad("catchup_request: trailing byte", "0b" + u32(1) + "00", "oversized"),
    bad("catchup_offer: trailing byte", "0c" + u32(1) + u32(5) + u32(1) + u32(1) + "00", "oversized"),
    bad("catchup_ack: trailing byte", "0d" + u32(1) + u32(1) + u32(1) + "00", "oversized"),
    bad("catchup_chunk: 1001 data bytes", "0e" + u32(1) + u32(0) + "00" * 1001, "oversized"),
    # invalid values
    bad("input: count 0", HEAD + "00", "invalid"),
    bad("input: count 0 with trailing bytes", HEAD + "00" + "0000", "invalid"),
    bad("input: count 129", HEAD + "81" + "00" * 129, "invalid"),
    bad("input: count 255", HEAD + "ff", "invalid"),
    bad("input: non-minimal varint 80 00", HEAD + "01" + "8000", "invalid"),
    bad("input: non-minimal varint 81 80 00", HEAD + "01" + "818000", "invalid"),
    bad("input: non-minimal 5-byte varint", HEAD + "01" + "ffffffff00", "invalid"),
    bad("input: 5th varint byte 0x10 (2**32)", HEAD + "01" + "8080808010", "invalid"),
    bad("input: 5th varint byte 0x7f", HEAD + "01" + "ffffffff7f", "invalid"),
    bad("input: 5th varint byte has continuation, message ends", HEAD + "01" + "8080808080", "invalid"),
    bad("input: 6-byte varint", HEAD + "01" + "808080808000", "invalid"),
    bad("input: bad second action after a good one", HEAD + "02" + "02" + "8000", "invalid"),
    bad("input: bad varint then trailing bytes", HEAD + "01" + "8000" + "00", "invalid"),
    bad("ping: NaN time", "02" + i16(0) + NAN, "invalid"),
    bad("ping: NaN time with other payload bits", "02" + i16(0) + "fff0000000000001", "invalid"),
    bad("ping: +Infinity time", "02" + i16(0) + INF, "invalid"),
    bad("ping: -Infinity time", "02" + i16(0) + NEG_INF, "invalid"),
    bad("ping: NaN time then trailing byte", "02" + i16(0) + NAN + "00", "invalid"),
    bad("pong: NaN time", "03" + NAN, "invalid"),
    bad("pong: +Infinity time", "03" + INF, "invalid"),
    bad("pong: -Infinity time", "03" + NEG_INF, "invalid"),
    bad("episode_ready: delay 17", "06" + u32(1) + u8(17), "invalid"),
    bad("episode_ready: delay 255", "06" + u32(1) + u8(255), "invalid"),
    bad("episode_ready: delay 17 then trailing byte", "06" + u32(1) + u8(17) + "00", "invalid"),
    bad("catchup_offer: size 0", "0c" + u32(1) + u32(0) + u32(1) + u32(1), "invalid"),
    bad("catchup_offer: size 0 then trailing byte", "0c" + u32(1) + u32(0) + u32(1) + u32(1) + "00", "invalid"),
]

# Messages encode must refuse (a bug on the sending side). "field" is the JSON-form field name
# the error message must mention (JS spells num_players as numPlayers).
ENCODE_ERRORS = [
    {"name": "input: player 256", "field": "player",
     "message": {"type": "input", "player": 256, "ack": None, "start": 0, "actions": [0]}},
    {"name": "input: player -1", "field": "player",
     "message": {"type": "input", "player": -1, "ack": None, "start": 0, "actions": [0]}},
    {"name": "input: ack 0xFFFFFFFF (use null/-1 for none)", "field": "ack",
     "message": {"type": "input", "player": 0, "ack": U32_MAX, "start": 0, "actions": [0]}},
    {"name": "input: start 2**32", "field": "start",
     "message": {"type": "input", "player": 0, "ack": None, "start": 2**32, "actions": [0]}},
    {"name": "input: start -1", "field": "start",
     "message": {"type": "input", "player": 0, "ack": None, "start": -1, "actions": [0]}},
    {"name": "input: no actions", "field": "actions",
     "message": {"type": "input", "player": 0, "ack": None, "start": 0, "actions": []}},
    {"name": "input: 129 actions", "field": "actions",
     "message": {"type": "input", "player": 0, "ack": None, "start": 0, "actions": [0] * 129}},
    {"name": "input: action 2**31", "field": "actions",
     "message": {"type": "input", "player": 0, "ack": None, "start": 0, "actions": [0, 2**31]}},
    {"name": "input: action -2**31-1", "field": "actions",
     "message": {"type": "input", "player": 0, "ack": None, "start": 0, "actions": [-(2**31) - 1]}},
    {"name": "input: action 1.5", "field": "actions",
     "message": {"type": "input", "player": 0, "ack": None, "start": 0, "actions": [1.5]}},
    {"name": "input: action is a string", "field": "actions",
     "message": {"type": "input", "player": 0, "ack": None, "start": 0, "actions": ["1"]}},
    {"name": "ping: advantage 0.5", "field": "advantage", "message": {"type": "ping", "advantage": 0.5, "time": 0}},
    {"name": "ping: time is a string", "field": "time", "message": {"type": "ping", "advantage": 0, "time": "0"}},
    {"name": "pong: time null", "field": "time", "message": {"type": "pong", "time": None}},
    {"name": "episode_end: frame 2**32", "field": "frame",
     "message": {"type": "episode_end", "frame": 2**32, "episode": 0}},
    {"name": "episode_end: episode -1", "field": "episode",
     "message": {"type": "episode_end", "frame": 0, "episode": -1}},
    {"name": "episode_ready: episode 1.5", "field": "episode",
     "message": {"type": "episode_ready", "episode": 1.5, "input_delay": 0}},
    {"name": "episode_ready: delay 17", "field": "input_delay",
     "message": {"type": "episode_ready", "episode": 0, "input_delay": 17}},
    {"name": "episode_ready: delay -1", "field": "input_delay",
     "message": {"type": "episode_ready", "episode": 0, "input_delay": -1}},
    {"name": "episode_ready: delay missing", "field": "input_delay",
     "message": {"type": "episode_ready", "episode": 0}},
    {"name": "state_hash: uppercase hash", "field": "hash",
     "message": {"type": "state_hash", "frame": 0, "hash": "0123456789ABCDEF"}},
    {"name": "state_hash: 15-char hash", "field": "hash",
     "message": {"type": "state_hash", "frame": 0, "hash": "0" * 15}},
    {"name": "state_hash: frame -1", "field": "frame",
     "message": {"type": "state_hash", "frame": -1, "hash": "0" * 16}},
    {"name": "hello: num_players 256", "field": "num_players",
     "message": {"type": "hello", "version": 1, "player": 0, "num_players": 256}},
    {"name": "hello: version -1", "field": "version",
     "message": {"type": "hello", "version": -1, "player": 0, "num_players": 2}},
    {"name": "bye: reason 256", "field": "reason", "message": {"type": "bye", "reason": 256}},
    {"name": "countdown: left 65536", "field": "left", "message": {"type": "countdown", "left": 65536, "advantage": 0}},
    {"name": "countdown: left -1", "field": "left", "message": {"type": "countdown", "left": -1, "advantage": 0}},
    {"name": "countdown: advantage 0.5", "field": "advantage",
     "message": {"type": "countdown", "left": 1, "advantage": 0.5}},
    {"name": "catchup_request: nonce -1", "field": "nonce", "message": {"type": "catchup_request", "nonce": -1}},
    {"name": "catchup_offer: size 0", "field": "size",
     "message": {"type": "catchup_offer", "nonce": 0, "size": 0, "known": 1, "confirmed": 1}},
    {"name": "catchup_offer: known 0xFFFFFFFF (use null/-1 for none)", "field": "known",
     "message": {"type": "catchup_offer", "nonce": 0, "size": 1, "known": U32_MAX, "confirmed": 1}},
    {"name": "catchup_ack: mask 2**32", "field": "mask", "message": {"type": "catchup_ack", "nonce": 0, "next": 0, "mask": 2**32}},
    {"name": "catchup_chunk: no data", "field": "data", "message": {"type": "catchup_chunk", "nonce": 0, "index": 0, "data": ""}},
    {"name": "catchup_chunk: 1001 bytes", "field": "data",
     "message": {"type": "catchup_chunk", "nonce": 0, "index": 0, "data": "00" * 1001}},
]

# Hosted seats (docs/protocol.md "Hosted seats"): what a session does with these bytes. Seat 2 of
# a 3-seat game is hosted by player 0; player 1 is the other participant.


def hosted_case(about: str, local_player: int, input_delay: int, messages: list[tuple[str, str]], **rest: object) -> dict:
    """One session of that game (no countdown) receiving ``messages`` (note, hex) from the other player."""
    return {
        "about": about, "num_players": 3, "local_player": local_player, "hosted_seats": [[2, 0]],
        "settings": {"input_delay": input_delay, "countdown_frames": 0},
        "from": 1 - local_player,
        "messages": [{"note": note, "hex": hex_} for note, hex_ in messages],
        **rest,
    }


def hello_hex(player: int) -> str:
    return "08" + u8(2) + u8(player) + u8(3)


HOSTED_SEATS = {
    "receiver": hosted_case(
        "Player 1 receives, from player 0 (the host), these messages in order; afterwards its "
        "queues' contiguous runs, invalid-message count and ack to player 0 are `expect`.",
        1, 2,
        [
            ("HELLO v2, player 0 of 3", hello_hex(0)),
            ("the host's own inputs, frames 1..3", input_hex(0, None, 1, [0, 3, 3])),
            ("hosted seat 2's inputs from its host, frames 1..2: taken", input_hex(2, None, 1, [0, 4])),
            ("inputs naming the receiver's own seat: refused (invalid)", input_hex(1, None, 1, [2])),
        ],
        expect={"last_confirmed": {"0": 3, "2": 2}, "invalid_messages": 1, "ack_to_host": 2},
    ),
    "host": hosted_case(
        "Player 0 hosts seat 2 (setHostedAction(2, 7)); player 1 says HELLO and EPISODE_READY(0, delay 1); "
        "player 0 (input delay 1, no countdown) ticks twice with local action 4. Its last two messages to player 1 "
        "are its own INPUT and seat 2's, same window and ack.",
        0, 1,
        [("HELLO v2, player 1 of 3", hello_hex(1)), ("EPISODE_READY(0), delay 1", "06" + u32(0) + u8(1))],
        hosted_action=[2, 7], ticks=[4, 4],
        expect_last_sent=[input_hex(0, None, 0, [0, 4, 4]), input_hex(2, None, 0, [0, 7, 7])],
    ),
}


# ------------------------------------------------------------- catch-up documents
# Built by hand from the layout in docs/protocol.md ("Catch-up document"); the JSON form is
# snake_case with null for "none" (JS -1 for frames), actions as lists, hashes as hex strings.

STATES = ["pregame", "running", "transition", "finished"]
NONE_FRAME = 0xFFFFFFFF


def frame(f: int | None) -> str:
    return u32(NONE_FRAME if f is None else f)


def delays_hex(ds: list[int | None]) -> str:
    return "".join(u8(0xFF if d is None else d) for d in ds)


def runs_hex(actions: list[int]) -> tuple[int, str]:
    runs: list[tuple[int, int]] = []
    for a in actions:
        if runs and runs[-1][0] == a:
            runs[-1] = (a, runs[-1][1] + 1)
        else:
            runs.append((a, 1))
    return len(runs), "".join(varint(a) + uvarint(n) for a, n in runs)


def catchup_doc(d: dict) -> str:
    n = d["num_players"]
    out = u8(1) + u8(n) + u32(d["hash_interval"]) + u8(STATES.index(d["state"]))
    out += frame(d["confirmed"]) + frame(d["verified"]) + "".join(frame(f) for f in d["verified_through"])
    out += u32(len(d["episodes"]))
    for ep in d["episodes"]:
        out += u32(ep["start"]) + frame(ep["end"]) + delays_hex(ep["delays"])
    out += "00" if d["next_delays"] is None else "01" + delays_hex(d["next_delays"])
    for pl in d["players"]:
        count, body = runs_hex(pl["actions"])
        out += frame(pl["known"]) + frame(pl["default_from"]) + u32(count) + body
    return out + "".join(d["hashes"])


def hashes_for(confirmed: int | None, interval: int, salt: int) -> list[str]:
    if confirmed is None:
        return []
    return [f"{(salt * 0x9E3779B1 + k * 0x85EBCA6B) & 0xFFFFFFFFFFFFFFFF:016x}" for k in range(confirmed // interval + 1)]


DOC_RUNNING = {
    "num_players": 2, "hash_interval": 1, "state": "running", "confirmed": 9, "verified": 6,
    "verified_through": [None, 6],
    "episodes": [{"start": 0, "end": None, "delays": [2, 1]}], "next_delays": None,
    "players": [{"known": 11, "default_from": None, "actions": [0, 0, 1, 1, 1, 1, -5, -5, 64, 64, 0, 0]},
                {"known": 9, "default_from": None, "actions": [0] * 10}],
    "hashes": hashes_for(9, 1, 1),
}
DOC_TRANSITION = {
    "num_players": 3, "hash_interval": 4, "state": "transition", "confirmed": 13, "verified": 13,
    "verified_through": [13, 13, None],
    "episodes": [{"start": 0, "end": 6, "delays": [0, 3, 16]}, {"start": 7, "end": 13, "delays": [0, 3, 16]}],
    "next_delays": [0, None, 16],
    "players": [{"known": 15, "default_from": None, "actions": [i % 3 for i in range(16)]},
                {"known": 13, "default_from": None, "actions": [-(2**31)] * 7 + [2**31 - 1] * 7},
                {"known": 14, "default_from": None, "actions": [8191] * 15}],
    "hashes": hashes_for(13, 4, 2),
}
DOC_PREGAME = {
    "num_players": 2, "hash_interval": 100000, "state": "pregame", "confirmed": None, "verified": None,
    "verified_through": [None, None], "episodes": [], "next_delays": None,
    "players": [{"known": None, "default_from": None, "actions": []}, {"known": 0, "default_from": None, "actions": [0]}],
    "hashes": [],
}
DOC_LOST_PLAYER = {
    "num_players": 3, "hash_interval": 1, "state": "finished", "confirmed": 4, "verified": 4,
    "verified_through": [None, 4, 4],
    "episodes": [{"start": 0, "end": 4, "delays": [0, 0, 0]}], "next_delays": None,
    "players": [{"known": 4, "default_from": None, "actions": [1, 2, 3, 4, 5]},
                {"known": 4, "default_from": None, "actions": [0, 0, 0, 0, 0]},
                {"known": 1, "default_from": 2, "actions": [7, 7]}],
    "hashes": hashes_for(4, 1, 3),
}


def cdoc(name: str, d: dict) -> dict:
    return {"name": name, "hex": catchup_doc(d), "doc": d}


CATCHUP_DOCS = [
    cdoc("running, 2 players, runs of held keys, a player ahead", DOC_RUNNING),
    cdoc("transition, 3 players, hash interval 4, i32 edge actions, next delays", DOC_TRANSITION),
    cdoc("before frame 0: nothing confirmed, one player unknown", DOC_PREGAME),
    cdoc("finished, a lost player with its default-action run", DOC_LOST_PLAYER),
]

_GOOD = catchup_doc(DOC_RUNNING)
_PREGAME = catchup_doc(DOC_PREGAME)
CATCHUP_DOCS_INVALID = [
    bad("empty document", "", "empty"),
    bad("version 2", "02" + _GOOD[2:], "invalid"),
    bad("one player", _GOOD[:2] + "01" + _GOOD[4:], "invalid"),
    bad("hash interval 0", _GOOD[:4] + u32(0) + _GOOD[12:], "invalid"),
    bad("state 4", _GOOD[:12] + "04" + _GOOD[14:], "invalid"),
    bad("ends inside the header", _GOOD[:20], "truncated"),
    bad("delay 17", catchup_doc({**DOC_RUNNING, "episodes": [{"start": 0, "end": None, "delays": [2, 17]}]}), "invalid"),
    bad("next flag 2", _PREGAME[: 2 * (1 + 1 + 4 + 1 + 4 + 4 + 8 + 4)] + "02" + _PREGAME[2 * (27 + 1):], "invalid"),
    # DOC_PREGAME ends with player 1's one run: action 00, length 01.
    bad("a run of length 0", _PREGAME[:-2] + "00", "invalid"),
    bad("ends inside a run", _PREGAME[:-2], "truncated"),
    bad("non-minimal run length", _PREGAME[:-2] + "8100", "invalid"),
    bad("runs cover 1 of 2 known frames", _PREGAME[:-2 * 14] + frame(1) + frame(None) + u32(1) + "00" + "01", "invalid"),
    bad("more runs than frames", _PREGAME[:-2 * 6] + u32(2) + "0001", "invalid"),
    bad("two runs of the same action (not canonical)", _PREGAME[:-2 * 14] + frame(1) + frame(None) + u32(2) + "0001" + "0001",
        "invalid"),
    bad("a hash missing", _GOOD[:-16], "truncated"),
    bad("a byte after the hashes", _GOOD + "00", "oversized"),
]


DOC = {
    "about": "Binary DataChannel protocol v2 test vectors (docs/protocol.md). Read by "
    "tests/test_protocol.py and tests/js/protocol.test.mjs. Regenerate with "
    "python tests/vectors/make_protocol_vectors.py.",
    "message_form": "Language-neutral JSON form of a message: {type, ...fields}, type one of input, "
    "ping, pong, keepalive, episode_end, episode_ready, state_hash, hello, bye, countdown. input: player, ack "
    "(null = none; JS -1, Python None), start, actions (list of int). ping: advantage, time. pong: "
    "time. episode_end: frame, episode. episode_ready: episode, input_delay (JS inputDelay). state_hash: frame, "
    "hash (16 lowercase hex). hello: version, player, num_players (JS numPlayers). bye: reason. countdown: left, "
    "advantage (null = no sample).",
    "valid": "encode(message) == hex and decode(hex) == message (time -0.0 keeps its sign).",
    "encode_only": "encode(message) == hex only (PING advantage is clamped to i16, COUNTDOWN advantage to "
    "-32767..32767, when encoding).",
    "invalid": "decode(hex) gives an error with this code.",
    "encode_errors": "encode(message) throws (JS TypeError/RangeError, Python TypeError/ValueError) "
    "with a message that names field.",
    "hosted_seats": "Session behaviour for hosted seats (an INPUT naming a seat its sender hosts): "
    "tests/js/session_hosted.test.mjs and tests/test_peer_hosted.py replay these in both engines.",
    "catchup_form": "catchup_request: nonce. catchup_offer: nonce, size, known, confirmed (null = none; JS -1). "
    "catchup_ack: nonce, next, mask. catchup_chunk: nonce, index, data (hex; JS Uint8Array, Python bytes).",
    "catchup_docs": "Catch-up documents (docs/protocol.md): encode_catchup_doc(doc) == hex and "
    "decode_catchup_doc(hex) == doc. JSON form snake_case (JS camelCase: numPlayers, hashInterval, verifiedThrough, "
    "nextDelays, defaultFrom), null = none (JS -1 for frames, null for delays).",
    "catchup_docs_invalid": "decode_catchup_doc(hex) gives an error with this code.",
}


def main() -> None:
    doc = {
        "version": 2,
        "doc": DOC,
        "valid": VALID,
        "encode_only": ENCODE_ONLY,
        "invalid": INVALID,
        "encode_errors": ENCODE_ERRORS,
        "hosted_seats": HOSTED_SEATS,
        "catchup_docs": CATCHUP_DOCS,
        "catchup_docs_invalid": CATCHUP_DOCS_INVALID,
    }
    # One vector per line keeps diffs readable.
    lines = ["{"]
    lines.append(f' "version": {json.dumps(doc["version"])},')
    lines.append(f' "doc": {json.dumps(DOC, indent=2)},'.replace("\n", "\n "))
    sections = ["valid", "encode_only", "invalid", "encode_errors", "catchup_docs", "catchup_docs_invalid"]
    for si, key in enumerate(sections):
        lines.append(f' "{key}": [')
        items = doc[key]
        for i, item in enumerate(items):
            lines.append("  " + json.dumps(item) + ("," if i < len(items) - 1 else ""))
        lines.append(" ],")
    lines.append(f' "hosted_seats": {json.dumps(HOSTED_SEATS)}')
    lines.append("}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == doc
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}: {len(VALID)} valid, {len(ENCODE_ONLY)} encode-only, "
          f"{len(INVALID)} invalid, {len(ENCODE_ERRORS)} encode-error vectors, "
          f"{len(CATCHUP_DOCS)} + {len(CATCHUP_DOCS_INVALID)} catch-up documents")


if __name__ == "__main__":
    main()
