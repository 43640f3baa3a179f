"""interactive_gym_p2p/peer/session.py as a unit (mirroring tests/js/session.test.mjs):
options, the HELLO handshake, what goes on the wire, bad input, events and the record."""

from __future__ import annotations

import json
from typing import Any

import pytest

from interactive_gym_p2p.peer.prng import Prng
from interactive_gym_p2p.peer.session import P2PSession, TickResult, episode_seed
from interactive_gym_p2p.peer.sim import Game
from interactive_gym_p2p.peer.sim_envs import CounterEnv
from interactive_gym_p2p.protocol import (
    Bye, EpisodeEnd, EpisodeReady, Hello, Input, KeepAlive, Ping, Pong, StateHash, decode, encode,
)

from peer_checks import assert_agreement


class Manual:
    """One session on a hand-driven clock; sent messages decoded into ``sent``."""

    def __init__(self, local_player: int = 0, num_players: int = 2, settings: dict | None = None) -> None:
        self.t = 0.0
        self.sent: list[tuple[int, float, Any]] = []
        outer = self

        class T:
            def send(self, peer: int, data: bytes) -> None:
                outer.sent.append((peer, outer.t, decode(data)))

        self.s = P2PSession(env=CounterEnv(num_players), transport=T(), local_player=local_player,
                            num_players=num_players, shared_seed=99, settings=settings or {},
                            now=lambda: self.t, wall_clock=lambda: 1e12 + self.t)


def test_episode_seed_matches_the_pinned_formula():
    assert episode_seed(0, 0) == 0x9E3779B1
    assert episode_seed(0xFFFFFFFF, 1) == (0xFFFFFFFF ^ ((2 * 0x9E3779B1) & 0xFFFFFFFF))
    assert episode_seed(12345, 7) == (12345 ^ ((8 * 0x9E3779B1) & 0xFFFFFFFF))


def test_options_are_checked_with_clear_errors():
    class Send:
        def send(self, peer, data):
            pass

    ok = dict(env=CounterEnv(2), transport=Send(), local_player=0, num_players=2, shared_seed=1)
    for bad, match in [({"env": object()}, r"env\.reset\(\) is missing"), ({"transport": object()}, "transport.send"),
                       ({"num_players": 1}, r"num_players must be an integer in \[2, 255\]"),
                       ({"local_player": 2}, "local_player"), ({"shared_seed": -1}, "shared_seed must be a u32"),
                       ({"settings": {"fps": 1000}}, "setting fps"),
                       ({"settings": {"input_delay": "fast"}}, r"setting input_delay must be 'auto' or an integer in \[0, 16\]")]:
        with pytest.raises((TypeError, ValueError), match=match):
            P2PSession(**{**ok, **bad})
    # default_action with delay 0 is fine: frame 0 of every player is the default action.
    P2PSession(**{**ok, "settings": {"disconnect_policy": "default_action", "input_delay": 0}})
    s = P2PSession(**ok)
    s.start()
    with pytest.raises(ValueError, match="local_action must be a signed 32-bit integer"):
        s.tick(1.5)  # type: ignore[arg-type]


def test_handshake_hello_to_everyone_resent_until_answered_then_episode_ready_0_with_the_delay():
    m = Manual(0, 3, {"input_delay": 2})
    s, sent = m.s, m.sent
    assert s.tick(0).status == "created", "tick before start() does nothing"
    s.start()
    assert [(p, msg) for p, _, msg in sent] == [(1, Hello(2, 0, 3)), (2, Hello(2, 0, 3))]
    m.t += 100
    s.tick(0)
    assert len(sent) == 2, "not yet"
    m.t += 100
    assert s.tick(0).status == "handshake"
    assert sum(isinstance(x[2], Hello) for x in sent) == 4, "resent after hello_interval_ms"
    s.receive(1, encode(Hello(2, 1, 3)))
    assert sent[-1] == (1, 200, Hello(2, 0, 3)), "answered"
    count = len(sent)
    s.receive(1, encode(Hello(2, 1, 3)))
    assert len(sent) == count, "a repeated HELLO is not answered again"
    m.t += 33
    assert s.tick(0).status == "handshake", "player 2 is missing"
    assert all(isinstance(x[2], Hello) for x in sent), "nothing but HELLO before the game starts"
    s.receive(2, encode(Hello(2, 2, 3)))
    m.t += 33
    assert s.tick(0).status == "handshake", "every HELLO is in: our delay goes out"
    assert [(p, msg) for p, _, msg in sent[-2:]] == [(1, EpisodeReady(0, 2)), (2, EpisodeReady(0, 2))]
    s.receive(1, encode(EpisodeReady(0, 0)))
    m.t += 33
    assert s.tick(0).status == "handshake", "player 2 has not announced its delay"
    s.receive(2, encode(EpisodeReady(0, 3)))
    m.t += 33
    r = s.tick(0)
    assert r == TickResult(True, 0, 0, "running", 2), "frame 0 simulated in the first tick, our input for frame 2"
    inputs = [(p, msg) for p, _, msg in sent if isinstance(msg, Input)]
    assert sorted(p for p, _ in inputs) == [1, 2]
    assert inputs[0][1] == Input(0, None, 0, (0, 0, 0))
    assert s.record()["episodes"][0]["input_delays"] == [2, 0, 3], "every player's delay of the episode"
    # Player 2's frames 0..2 are known (the default action) without any INPUT from it.
    assert s.sync.queues[2].last_confirmed_frame == 2 and s.sync.queues[1].last_confirmed_frame == 0


def test_a_hello_that_arrives_before_start_is_kept():
    m = Manual(1, 2, {"input_delay": 1})
    m.s.receive(0, encode(Hello(2, 0, 2)))
    m.s.receive(0, encode(EpisodeReady(0, 1)))
    assert m.sent == []
    m.s.start()
    assert m.s.tick(0).status == "running"


@pytest.mark.parametrize("bad", [Hello(1, 1, 2), Hello(2, 0, 2), Hello(2, 1, 3)])
def test_a_wrong_hello_ends_the_game_with_an_error(bad):
    m = Manual(0, 2)
    errors, over = [], []
    m.s.on("error", errors.append)
    m.s.on("game_over", over.append)
    m.s.start()
    m.s.receive(1, encode(bad))
    assert errors[0]["code"] == "hello_mismatch" and "peer 1 sent HELLO" in errors[0]["message"]
    assert m.sent[-1][2] == Bye(2)
    assert over[0]["reason"] == "error"


def test_unsubscribe_and_events_are_delivered_after_the_call():
    m = Manual(1, 2, {"input_delay": 2})
    seen: list[Any] = []
    off = m.s.on("started", lambda e: seen.append(("started", m.s.state)))
    m.s.receive(0, encode(Hello(2, 0, 2)))
    m.s.receive(0, encode(EpisodeReady(0, 2)))
    m.s.start()
    m.s.tick(0)
    assert seen == [("started", "running")], "the listener sees the session after the tick"
    off()
    off()  # twice is harmless


def test_malformed_bytes_and_bogus_messages_are_counted_and_dropped_the_game_is_unaffected():
    g = Game(num_players=2, seed=31, make_env=lambda p: CounterEnv(2, 100, 200), settings={"max_episodes": 3},
             link={"delay_ms": 40, "loss": 0.05})
    prng = Prng(5)
    garbage = [b"", b"\x00", b"\x7f\x01\x02", b"\x01\x00\x00", b"\x07\x00\x00\x00\x01", bytes(2000),
               b"\x02\x00\x01", b"\x04\x04"]
    injected_bad = 0
    for i in range(200):
        data = garbage[i] if i < len(garbage) else bytes(prng.int(256) for _ in range(1 + prng.int(40)))
        if not hasattr(decode(data), "code"):
            continue
        injected_bad += 1
        g.inject(i % 2, 1 - i % 2, data, 100 + i * 37)
    g.inject(0, 1, encode(Input(0, 3, 0, (5,))), 500)  # another player's index, policy end
    g.inject(0, 1, encode(Pong(-5e9)), 600)  # not an echo of ours
    g.inject(0, 1, encode(StateHash(4000000000, "f" * 16)), 700)  # far away
    g.inject(1, 0, encode(EpisodeReady(7, 0)), 800)  # out of nowhere
    g.inject(1, 7, encode(KeepAlive()), 900)  # no such peer
    g.inject(1, 0, "not bytes", 950)  # type: ignore[arg-type]
    g.run_to_end(600000)
    records = [s.record() for s in g.sessions]
    total = records[0]["stats"]["decode_errors"] + records[1]["stats"]["decode_errors"]
    assert total == injected_bad + 1, "every malformed message counted once"
    assert records[0]["stats"]["invalid_messages"] >= 1 and records[1]["stats"]["invalid_messages"] >= 1
    for s in g.sessions:  # agreement, once the counted garbage is set aside
        s.counters.decode_errors = 0
    assert_agreement(g)


def test_wire_rules_input_redundancy_and_ack_ping_cadence_keepalive_only_when_quiet():
    log: list[tuple[int, int, float, Any]] = []
    g = Game(num_players=2, seed=32, make_env=lambda p: CounterEnv(2, 100, 200), settings={"max_episodes": 3},
             link={"delay_ms": 70, "loss": 0.1})
    for i, s in enumerate(g.sessions):
        inner = s.transport

        class Spy:
            def __init__(self, i: int, inner: Any) -> None:
                self.i, self.inner = i, inner

            def send(self, to: int, data: bytes) -> None:
                log.append((self.i, to, g.clock.now(), decode(data)))
                self.inner.send(to, data)

        s.transport = Spy(i, inner)
    g.run_to_end(600000)
    records = assert_agreement(g)
    from0 = [x for x in log if x[0] == 0]
    inputs = [x[3] for x in from0 if isinstance(x[3], Input)]
    last_ack = -1
    for m in inputs:
        end = m.start + len(m.actions) - 1
        assert min(5, end + 1) <= len(m.actions) <= 128, "at least the last K inputs"
        ack = -1 if m.ack is None else m.ack
        assert ack >= last_ack, "our ack never goes back"
        last_ack = ack
    for a, b in zip(inputs, inputs[1:]):
        assert b.start <= a.start + len(a.actions), "no input frame ever skipped"
    # In-game PINGs (after peer 0's first INPUT) every ping_interval_ms; before the game, the
    # RTT probe of input_delay 'auto', RTT_PROBE_INTERVAL_MS apart.
    first_input = next(t for _, _, t, m in from0 if isinstance(m, Input))
    pings = [t for _, _, t, m in from0 if isinstance(m, Ping) and t > first_input]
    assert all(b - a >= 500 - 1e-9 for a, b in zip(pings, pings[1:]))
    probes = [t for _, _, t, m in from0 if isinstance(m, Ping) and t < first_input]
    assert len(probes) >= 5 and all(b - a >= 50 - 1e-9 for a, b in zip(probes, probes[1:]))
    assert records[0]["stats"]["rtt_ms"]["samples"] > 5
    assert abs(records[0]["stats"]["rtt_ms"]["p50"] - 140) < 40
    to1 = [x for x in from0 if x[1] == 1]
    for a, b in zip(to1, to1[1:]):
        if isinstance(b[3], KeepAlive):
            assert b[2] - a[2] >= 100 - 1e-9
    hashed = {m.frame for _, _, _, m in from0 if isinstance(m, StateHash)}
    assert len(hashed) == sum(len(e["frames"]) for e in records[0]["episodes"])
    assert records[0]["stats"]["messages_sent"] == len(from0)
    ends = [m for _, _, _, m in from0 if isinstance(m, EpisodeEnd)]
    assert {m.episode for m in ends} == {0, 1, 2}


def test_events_and_record_partial_until_the_end():
    g = Game(num_players=2, seed=33, make_env=lambda p: CounterEnv(2, 50, 60), settings={"max_episodes": 2},
             link={"delay_ms": 10})
    seen = []
    for name in ("started", "episode_start", "episode_end", "game_over", "closed"):
        g.sessions[0].on(name, lambda e, name=name: seen.append((name, e.get("episode"))))
    assert g.sessions[0].record()["partial"] is True
    g.run(1000)
    mid = g.sessions[0].record()
    assert mid["partial"] is True and mid["episodes"][0]["end_frame"] is None
    g.run_to_end(600000)
    assert seen == [("started", None), ("episode_start", 0), ("episode_end", 0), ("episode_start", 1),
                    ("episode_end", 1), ("game_over", 1), ("closed", None)]
    r = g.sessions[0].record()
    assert r["partial"] is False and r["timing"]["fps_target"] == 30
    assert 20 < r["timing"]["fps_achieved"] <= 30.5
    assert r["timing"]["started_at"].startswith("2025-01-01T00:00:00")
    json.dumps(r)  # JSON-able
    assert g.sessions[0].peer_info()[0]["peer_index"] == 1


def test_a_long_game_stays_bounded():
    g = Game(num_players=2, seed=35, make_env=lambda p: CounterEnv(2, 3000, 3000), settings={"fps": 60, "max_episodes": 2},
             link={"delay_ms": 50, "loss": 0.05})
    max_snapshots = max_local = 0
    t = 1000
    while t < 600000 and any(s.state != "closed" for s in g.sessions):
        g.run(t)
        for s in g.sessions:
            max_snapshots = max(max_snapshots, len(s.sync.snapshots))
            max_local = max(max_local, len(s.desync.local))
        t += 1000
    assert_agreement(g)
    assert max_snapshots < 200, f"snapshots held {max_snapshots}"
    assert max_local <= 1024 + 64
    for m in g.sessions[0].desync.remote.values():
        assert len(m) <= 1100


@pytest.mark.parametrize("policy", ["end", "default_action"])
def test_random_well_formed_messages_from_a_broken_peer_never_raise_into_the_loop(policy):
    g = Game(num_players=3, seed=37, make_env=lambda p: CounterEnv(3, 60, 90),
             settings={"max_episodes": 3, "disconnect_policy": policy}, link={"delay_ms": 30})
    prng = Prng(len(policy))

    def frame() -> int:
        return prng.int(400) if prng.float() < 0.5 else prng.int(0xFFFFFFFE)

    makers = [
        lambda: Input(prng.int(3), None if prng.float() < 0.2 else frame(), frame() % 500,
                      tuple(prng.int(9) - 4 for _ in range(1 + prng.int(20)))),
        lambda: Ping(prng.int(65536) - 32768, prng.float() * 1e6),
        lambda: Pong(prng.float() * 1e6),
        lambda: EpisodeEnd(frame(), prng.int(5)),
        lambda: EpisodeReady(prng.int(5), prng.int(17)),
        lambda: StateHash(frame() % 600, f"{prng.next():08x}" * 2),
        lambda: Hello(2, 2, 3),  # a right one (a wrong HELLO ends the game, tested above)
        lambda: KeepAlive(),
    ]
    for i in range(1500):
        g.inject(0, 2, encode(makers[prng.int(len(makers))]()), 300 + i * 3)
    g.run_to_end(600000)
    assert g.sessions[0].record()["stats"]["invalid_messages"] > 100


def test_a_transport_that_raises_is_counted_and_the_loop_goes_on():
    class Broken:
        def send(self, peer: int, data: bytes) -> None:
            raise ConnectionError("channel closing")

    t = [0.0]
    s = P2PSession(env=CounterEnv(2), transport=Broken(), local_player=1, num_players=2, shared_seed=3,
                   settings={"input_delay": 2}, now=lambda: t[0], wall_clock=lambda: 1e12 + t[0])
    s.receive(0, encode(Hello(2, 0, 2)))
    s.receive(0, encode(EpisodeReady(0, 2)))
    s.start()
    for _ in range(10):
        t[0] += 33
        s.tick(1)
    st = s.stats()
    assert st["send_errors"] == st["messages_sent"] > 0
    assert s.current_frame > 0
    s.close()
    assert s.state == "closed" and s.record()["game_over_reason"] == "closed"
    assert s.tick(0).status == "closed"
    s.receive(0, b"\x04")  # ignored after close, no exception
