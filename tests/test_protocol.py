"""Binary protocol v2 (interactive_gym_p2p.protocol) against tests/vectors/protocol.json, plus
seeded fuzzing: decode never raises, and whatever decodes re-encodes to the same bytes."""

from __future__ import annotations

import json
import math
import re
import random
import struct
from pathlib import Path
from typing import Any

import pytest

from interactive_gym_p2p import protocol as p

VECTORS = json.loads(
    (Path(__file__).parent / "vectors" / "protocol.json").read_text(encoding="utf-8")
)
FUZZ_SEED = 20240601


def to_native(m: dict[str, Any]) -> Any:
    """JSON form of a message (see the vectors file's doc) -> protocol dataclass."""
    t = m["type"]
    if t == "input":
        actions = m["actions"]
        return p.Input(m["player"], m["ack"], m["start"], tuple(actions) if isinstance(actions, list) else actions)
    if t == "ping":
        return p.Ping(m["advantage"], m["time"])
    if t == "pong":
        return p.Pong(m["time"])
    if t == "keepalive":
        return p.KeepAlive()
    if t == "episode_end":
        return p.EpisodeEnd(m["frame"], m["episode"])
    if t == "episode_ready":
        return p.EpisodeReady(m["episode"], m.get("input_delay"))  # type: ignore[arg-type]
    if t == "state_hash":
        return p.StateHash(m["frame"], m["hash"])
    if t == "hello":
        return p.Hello(m["version"], m["player"], m["num_players"])
    if t == "bye":
        return p.Bye(m["reason"])
    if t == "countdown":
        return p.Countdown(m["left"], m["advantage"])
    if t == "catchup_request":
        return p.CatchupRequest(m["nonce"])
    if t == "catchup_offer":
        return p.CatchupOffer(m["nonce"], m["size"], m["known"], m["confirmed"])
    if t == "catchup_ack":
        return p.CatchupAck(m["nonce"], m["next"], m["mask"])
    if t == "catchup_chunk":
        return p.CatchupChunk(m["nonce"], m["index"], bytes.fromhex(m["data"]))
    raise AssertionError(f"unknown type in vectors: {t}")


def ids(section: str) -> list[str]:
    return [v["name"] for v in VECTORS[section]]


def test_vectors_file_shape() -> None:
    assert VECTORS["version"] == p.PROTOCOL_VERSION
    valid_types = {v["message"]["type"] for v in VECTORS["valid"]}
    assert valid_types == {"input", "ping", "pong", "keepalive", "episode_end", "episode_ready",
                           "state_hash", "hello", "bye", "countdown", "catchup_request", "catchup_offer",
                           "catchup_ack", "catchup_chunk"}
    assert {v["error"] for v in VECTORS["invalid"]} == set(p.ERROR_CODES)


@pytest.mark.parametrize("vec", VECTORS["valid"], ids=ids("valid"))
def test_valid_vector_encodes(vec: dict[str, Any]) -> None:
    assert p.encode(to_native(vec["message"])).hex() == vec["hex"]


@pytest.mark.parametrize("vec", VECTORS["valid"], ids=ids("valid"))
def test_valid_vector_decodes(vec: dict[str, Any]) -> None:
    expected = to_native(vec["message"])
    data = bytes.fromhex(vec["hex"])
    for form in (data, bytearray(data), memoryview(data)):
        got = p.decode(form)
        assert got == expected
        # repr also tells -0.0 from 0.0, which == does not.
        assert repr(got) == repr(expected)


@pytest.mark.parametrize("vec", VECTORS["encode_only"], ids=ids("encode_only"))
def test_encode_only_vector(vec: dict[str, Any]) -> None:
    assert p.encode(to_native(vec["message"])).hex() == vec["hex"]


@pytest.mark.parametrize("vec", VECTORS["invalid"], ids=ids("invalid"))
def test_invalid_vector(vec: dict[str, Any]) -> None:
    got = p.decode(bytes.fromhex(vec["hex"]))
    assert isinstance(got, p.DecodeError), got
    assert got.code == vec["error"], got.detail
    assert got.detail


@pytest.mark.parametrize("vec", VECTORS["encode_errors"], ids=ids("encode_errors"))
def test_encode_error_vector(vec: dict[str, Any]) -> None:
    with pytest.raises((TypeError, ValueError)) as info:
        p.encode(to_native(vec["message"]))
    assert vec["field"] in str(info.value)


def test_sizes_match_the_table() -> None:
    assert len(p.encode(p.Input(1, 41, 40, (0, 1, 2, 3, 4, 0, 1)))) == 18
    assert len(p.encode(p.Input(0, None, 0, (-(2**31),) * 128))) == 11 + 5 * 128
    assert len(p.encode(p.Ping(0, 0.0))) == 11
    assert len(p.encode(p.Pong(0.0))) == 9
    assert len(p.encode(p.KeepAlive())) == 1
    assert len(p.encode(p.EpisodeEnd(0, 0))) == 9
    assert len(p.encode(p.EpisodeReady(0, 0))) == 6
    assert len(p.encode(p.StateHash(0, "0" * 16))) == 13
    assert len(p.encode(p.Hello(1, 0, 2))) == 4
    assert len(p.encode(p.Bye(p.ByeReason.LEFT))) == 2
    assert len(p.encode(p.CatchupRequest(1))) == 5
    assert len(p.encode(p.CatchupOffer(1, 1, None, None))) == 17
    assert len(p.encode(p.CatchupAck(1, 0, 0))) == 13
    assert len(p.encode(p.CatchupChunk(1, 0, bytes(p.CATCHUP_CHUNK_BYTES)))) == 1009


def test_constants() -> None:
    assert p.PROTOCOL_VERSION == 2
    assert p.MAX_INPUT_DELAY == 16
    assert p.MAX_MESSAGE_BYTES == 1024
    assert p.MAX_INPUT_COUNT == 128
    assert [int(t) for t in p.MessageType] == list(range(1, 15))
    assert [int(r) for r in p.ByeReason] == [0, 1, 2, 3, 4, 5, 6]
    assert p.CATCHUP_CHUNK_BYTES == 1000 and p.CATCHUP_ACK_WINDOW == 32
    assert p.CATCHUP_DOC_VERSION == 1 and p.MAX_CATCHUP_FRAMES == 2**22
    assert p.NO_ADVANTAGE == -(2**15) and p.MAX_COUNTDOWN == 0xFFFF


def test_zigzag_order_over_i32() -> None:
    # 0 -> 0, -1 -> 1, 1 -> 2, -2 -> 3 ...: one-byte varints hold -64..63.
    for z, action in enumerate([0, -1, 1, -2, 2, -3]):
        assert p.encode(p.Input(0, None, 0, (action,)))[11:] == bytes([z])
    for action in range(-64, 64):
        assert len(p.encode(p.Input(0, None, 0, (action,)))) == 12
    for action in (-65, 64):
        assert len(p.encode(p.Input(0, None, 0, (action,)))) == 13


def test_encode_rejects_bad_python_types() -> None:
    with pytest.raises(TypeError, match="not a protocol message"):
        p.encode({"type": "keepalive"})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Input.player"):
        p.encode(p.Input(True, None, 0, (0,)))
    with pytest.raises(TypeError, match="Input.actions"):
        p.encode(p.Input(0, None, 0, "abc"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Ping.time"):
        p.encode(p.Ping(0, math.nan))
    with pytest.raises(ValueError, match="Pong.time"):
        p.encode(p.Pong(math.inf))
    with pytest.raises(ValueError, match="Pong.time"):
        p.encode(p.Pong(10**400))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Input.ack"):
        p.encode(p.Input(0, -1, 0, (0,)))
    # A list of actions is accepted for convenience and encodes like the tuple.
    assert p.encode(p.Input(0, None, 0, [1, 2])) == p.encode(p.Input(0, None, 0, (1, 2)))  # type: ignore[arg-type]


def test_decode_non_bytes_is_an_error_not_an_exception() -> None:
    for bad in (None, "0104", 4, [4], object()):
        got = p.decode(bad)  # type: ignore[arg-type]
        assert isinstance(got, p.DecodeError) and got.code == "invalid"
    released = memoryview(b"\x04")
    released.release()
    got = p.decode(released)
    assert isinstance(got, p.DecodeError) and got.code == "invalid"
    # A non-byte memoryview is read as its raw bytes.
    assert p.decode(memoryview(b"\x04").cast("B")) == p.KeepAlive()
    big = memoryview(bytes(4000)).cast("I")
    got = p.decode(big)
    assert isinstance(got, p.DecodeError) and got.code == "oversized"


def test_messages_are_frozen_and_hashable() -> None:
    msg = p.Input(0, None, 5, (1, 2))
    with pytest.raises(AttributeError):
        msg.start = 6  # type: ignore[misc]
    assert hash(msg) == hash(p.Input(0, None, 5, (1, 2)))


# ---------------------------------------------------------------- fuzz / property


def check_total(data: bytes, seed_note: str) -> None:
    """decode must not raise; a message must re-encode to exactly the input bytes."""
    try:
        got = p.decode(data)
    except Exception as exc:  # noqa: BLE001 - the property under test
        pytest.fail(f"decode raised {exc!r} on {data.hex()} ({seed_note})")
    if isinstance(got, p.DecodeError):
        assert got.code in p.ERROR_CODES, f"{got} on {data.hex()} ({seed_note})"
        return
    again = p.encode(got)
    assert again == data, f"{data.hex()} decoded to {got} re-encodes as {again.hex()} ({seed_note})"


def test_fuzz_random_bytes() -> None:
    rng = random.Random(FUZZ_SEED)
    decoded = 0
    for i in range(20_000):
        n = rng.randrange(0, 1101)
        data = rng.randbytes(n)
        # Bias a fifth of the cases toward known types so the fuzz reaches the field parsers.
        if n and i % 5 == 0:
            data = bytes([rng.randrange(1, 15)]) + data[1:]
        check_total(data, f"seed={FUZZ_SEED} case={i}")
        decoded += not isinstance(p.decode(data), p.DecodeError)
    # Short KEEPALIVE/BYE/HELLO strings do decode; the fuzz must reach the success path.
    assert decoded > 0, f"seed={FUZZ_SEED}: no random input decoded"


def test_fuzz_short_inputs_by_type() -> None:
    # Random short bodies (up to 40 bytes) for every known type reach every decode branch often.
    rng = random.Random(FUZZ_SEED + 1)
    for i in range(20_000):
        data = bytes([rng.randrange(1, 15)]) + rng.randbytes(rng.randrange(0, 41))
        check_total(data, f"seed={FUZZ_SEED + 1} case={i}")


def test_fuzz_mutations_of_valid_vectors() -> None:
    rng = random.Random(FUZZ_SEED + 2)
    for vec in VECTORS["valid"]:
        data = bytes.fromhex(vec["hex"])
        note = f"vector {vec['name']!r}, seed={FUZZ_SEED + 2}"
        for cut in range(len(data)):
            check_total(data[:cut], note + f" truncated to {cut}")
        for bit in range(8 * len(data)):
            flipped = bytearray(data)
            flipped[bit // 8] ^= 1 << (bit % 8)
            check_total(bytes(flipped), note + f" bit {bit} flipped")
        for extra in range(1, 6):
            check_total(data + rng.randbytes(extra), note + f" {extra} bytes appended")
        for kind in range(256):
            check_total(bytes([kind]) + data[1:], note + f" type byte 0x{kind:02x}")


def test_fuzz_random_messages_round_trip() -> None:
    # The other direction: random valid messages encode, decode back equal, and stay canonical.
    rng = random.Random(FUZZ_SEED + 3)

    def action() -> int:
        bits = rng.choice((6, 13, 20, 27, 31))
        return rng.randrange(-(2**bits), 2**bits)

    for i in range(3000):
        msgs = [
            p.Input(rng.randrange(256), rng.choice([None, rng.randrange(2**32 - 1)]),
                    rng.randrange(2**32), tuple(action() for _ in range(rng.randrange(1, 129)))),
            p.Ping(rng.randrange(-(2**15), 2**15), struct.unpack(">d", rng.randbytes(8))[0]),
            p.Pong(rng.uniform(-1e13, 1e13)),
            p.EpisodeEnd(rng.randrange(2**32), rng.randrange(2**32)),
            p.EpisodeReady(rng.randrange(2**32), rng.randrange(17)),
            p.StateHash(rng.randrange(2**32), rng.randbytes(8).hex()),
            p.Hello(rng.randrange(256), rng.randrange(256), rng.randrange(256)),
            p.Bye(rng.randrange(256)),
            p.Countdown(rng.randrange(2**16), rng.choice([None, rng.randrange(-(2**15) + 1, 2**15)])),
            p.CatchupRequest(rng.randrange(2**32)),
            p.CatchupOffer(rng.randrange(2**32), rng.randrange(1, 2**32), rng.choice([None, rng.randrange(2**32 - 1)]),
                           rng.choice([None, rng.randrange(2**32 - 1)])),
            p.CatchupAck(rng.randrange(2**32), rng.randrange(2**32), rng.randrange(2**32)),
            p.CatchupChunk(rng.randrange(2**32), rng.randrange(2**32), rng.randbytes(rng.randrange(1, p.CATCHUP_CHUNK_BYTES + 1))),
        ]
        for msg in msgs:
            if isinstance(msg, p.Ping) and not math.isfinite(msg.time):
                continue
            data = p.encode(msg)
            assert len(data) <= p.MAX_MESSAGE_BYTES
            assert p.decode(data) == msg, f"seed={FUZZ_SEED + 3} case={i} {msg}"


# ---------------------------------------------------------------- catch-up documents


def doc_to_native(d: dict[str, Any]) -> p.CatchupDoc:
    """JSON form of a catch-up document -> CatchupDoc."""
    return p.CatchupDoc(
        d["num_players"], d["hash_interval"], d["state"], d["confirmed"], d["verified"], tuple(d["verified_through"]),
        tuple(p.CatchupEpisode(e["start"], e["end"], tuple(e["delays"])) for e in d["episodes"]),
        None if d["next_delays"] is None else tuple(d["next_delays"]),
        tuple(p.CatchupPlayer(pl["known"], pl["default_from"], tuple(pl["actions"])) for pl in d["players"]),
        tuple(d["hashes"]),
    )


@pytest.mark.parametrize("vec", VECTORS["catchup_docs"], ids=ids("catchup_docs"))
def test_catchup_doc_vector(vec: dict[str, Any]) -> None:
    doc = doc_to_native(vec["doc"])
    assert p.encode_catchup_doc(doc).hex() == vec["hex"]
    data = bytes.fromhex(vec["hex"])
    for form in (data, bytearray(data), memoryview(data)):
        assert p.decode_catchup_doc(form) == doc


@pytest.mark.parametrize("vec", VECTORS["catchup_docs_invalid"], ids=ids("catchup_docs_invalid"))
def test_catchup_doc_invalid_vector(vec: dict[str, Any]) -> None:
    got = p.decode_catchup_doc(bytes.fromhex(vec["hex"]))
    assert isinstance(got, p.DecodeError), got
    assert got.code == vec["error"], got.detail


def test_catchup_doc_encode_refuses_bad_documents() -> None:
    import dataclasses

    good = doc_to_native(VECTORS["catchup_docs"][0]["doc"])
    cases = [
        (dataclasses.replace(good, state="paused"), "CatchupDoc.state"),
        (dataclasses.replace(good, num_players=1), "CatchupDoc.num_players"),
        (dataclasses.replace(good, hashes=good.hashes[1:]), "CatchupDoc.hashes"),
        (dataclasses.replace(good, players=(p.CatchupPlayer(11, None, (1,)), good.players[1])), "CatchupDoc.players[0].actions"),
        (dataclasses.replace(good, episodes=(p.CatchupEpisode(0, None, (17, 0)),)), "CatchupDoc.episodes[0].delays[0]"),
        (dataclasses.replace(good, verified_through=(0,)), "CatchupDoc.verified_through"),
    ]
    for doc, field in cases:
        with pytest.raises((TypeError, ValueError), match=re.escape(field)):
            p.encode_catchup_doc(doc)
    assert isinstance(p.decode_catchup_doc("01"), p.DecodeError)  # type: ignore[arg-type]


def test_catchup_doc_fuzz_total_and_canonical() -> None:
    rng = random.Random(FUZZ_SEED + 4)
    decoded = 0
    for vec in VECTORS["catchup_docs"]:
        data = bytes.fromhex(vec["hex"])
        for cut in range(len(data)):
            assert isinstance(p.decode_catchup_doc(data[:cut]), p.DecodeError)
        for bit in range(8 * len(data)):
            flipped = bytearray(data)
            flipped[bit // 8] ^= 1 << (bit % 8)
            got = p.decode_catchup_doc(bytes(flipped))
            if isinstance(got, p.DecodeError):
                assert got.code in p.ERROR_CODES
            else:
                decoded += 1
                assert p.encode_catchup_doc(got) == bytes(flipped), f"{vec['name']} bit {bit}"
    for _ in range(5000):
        got = p.decode_catchup_doc(rng.randbytes(rng.randrange(200)))
        if not isinstance(got, p.DecodeError):
            p.encode_catchup_doc(got)
    assert decoded > 0
