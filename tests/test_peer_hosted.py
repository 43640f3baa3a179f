"""Hosted seats in the Python session (interactive_gym_p2p/peer/session.py), the twin of
tests/js/session_hosted.test.mjs: a seat whose actions one peer (its host) decides and sends as
that seat's INPUT. The Python session accepts them from the host only, predicts them like a remote
player's, hosts seats itself (set_hosted_action), and drops the seat to the default action from
an agreed frame when the host is gone. Whole games give records EQUAL to the JS engine's for the
same seed (tests/js/support/sim_records.mjs), so both engines speak the same wire."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from interactive_gym_p2p import protocol as P
from interactive_gym_p2p.peer.session import P2PSession
from interactive_gym_p2p.peer.sim import Game, confirmed_rows
from interactive_gym_p2p.peer.sim_envs import CounterEnv

from test_peer_interop_js import js_sim, nonzero_input, play_script


def counter(n: int) -> CounterEnv:
    return CounterEnv(n, 60, 150, None, 0, True)


def hosted_game(n: int, seed: int, hosted: list[tuple[int, int]], settings: dict[str, Any], link: dict[str, Any],
                script: list[list[Any]] | None = None) -> tuple[Game, list[dict[str, Any]]]:
    g = Game(num_players=n, seed=seed, settings=settings, link=link, make_env=lambda p: counter(n),
             input=nonzero_input, hosted_seats=tuple(hosted), hosted=nonzero_input)
    play_script(g, script or [])
    g.run_to_end(600000)
    return g, json.loads(json.dumps([s.record() for s in g.sessions if s is not None]))


def js_records(n: int, seed: int, hosted: list[tuple[int, int]], settings: dict[str, Any], link: dict[str, Any],
               script: list[list[Any]] | None = None) -> list[dict[str, Any]]:
    import subprocess

    from peer_js_bridge import ROOT, node_path
    from interactive_gym_p2p.peer.settings import make_settings
    from test_peer_interop_js import camel_link

    cfg = {"numPlayers": n, "seed": seed, "settings": make_settings(settings).to_camel(), "link": camel_link(link),
           "env": {"kind": "counter", "minSteps": 60, "maxSteps": 150, "reportSteps": True}, "input": "nonzero",
           "hostedSeats": [{"seat": s, "host": h} for s, h in hosted], "script": script or []}
    out = subprocess.run([node_path(), "tests/js/support/sim_records.mjs", json.dumps(cfg)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)["records"]


LOSSY = {"delay_ms": 75, "jitter_ms": 20, "loss": 0.05, "reorder": 0.05}


def test_two_players_and_a_hosted_seat_equal_the_js_game_record_for_record():
    settings = {"max_episodes": 3, "input_delay": 2}
    g, py = hosted_game(3, 21, [(2, 0)], settings, LOSSY)
    assert g.sessions[2] is None
    for r in py:
        assert r["game_over_reason"] == "completed" and r["desyncs"] == []
        assert all(e["input_delays"] == [2, 2, 2] for e in r["episodes"])
    assert confirmed_rows(py[0]) == confirmed_rows(py[1])
    column = [row[1][2] for e in py[1]["episodes"] for row in e["frames"] if row[0] >= 2]
    assert all(1 <= a <= 4 for a in column) and len(set(column)) >= 3, "the host's actions, never the default"
    assert g.sessions[1].sync.queues[2].mispredictions > 5, "the receiver predicted the hosted seat"
    assert py == js_records(3, 21, [(2, 0)], settings, LOSSY)


@pytest.mark.parametrize("policy", ["default_action", "end"])
def test_the_host_vanishing_gives_equal_records_in_both_engines(policy):
    settings = {"max_episodes": 4, "disconnect_policy": policy, "input_delay": 2}
    link = {"delay_ms": 50, "jitter_ms": 20, "loss": 0.1, "duplicate": 0.02, "reorder": 0.05}
    script = [[5000, "kill", 2, None, None]]
    g, py = hosted_game(4, 31, [(3, 2)], settings, link, script)
    r0, r1 = py[0], py[1]
    if policy == "default_action":
        assert r0["game_over_reason"] == r1["game_over_reason"] == "completed"
        assert set(r0["default_action_from"]) == {"2", "3"}
        assert r0["default_action_from"] == r1["default_action_from"]
        d = r0["default_action_from"]["3"]
        for e in r0["episodes"]:
            for f, actions, _h in e["frames"]:
                if f >= 2:
                    assert (actions[3] == 0) == (f >= d), f"frame {f}, D={d}"
        assert confirmed_rows(r0) == confirmed_rows(r1)
    else:
        assert r0["game_over_reason"] in ("disconnected", "peer_ended")
    assert py == js_records(4, 31, [(3, 2)], settings, link, script)


def _session(**kw: Any) -> tuple[P2PSession, list[tuple[int, Any]]]:
    sent: list[tuple[int, Any]] = []

    class T:
        def send(self, peer: int, data: bytes) -> None:
            sent.append((peer, P.decode(data)))

    opts = {"env": counter(3), "transport": T(), "num_players": 3, "shared_seed": 1, "now": lambda: 0.0}
    opts.update(kw)
    return P2PSession(**opts), sent


def test_hosted_seat_inputs_are_taken_from_the_host_only():
    s, _ = _session(local_player=0, hosted_seats=[(2, 1)])
    assert s.peers == [1] and s.local_hosted == []
    s.start()
    s.receive(1, P.encode(P.Hello(2, 1, 3)))
    s.receive(1, P.encode(P.Input(2, None, 1, (3, 3))))
    assert s.sync.queues[2].last_confirmed_frame == 2
    assert s.counters.invalid_messages == 0
    s.receive(1, P.encode(P.Input(0, None, 1, (1,))))  # inputs for us: refused
    assert s.counters.invalid_messages == 1
    with pytest.raises(ValueError, match="not hosted by player 0"):
        s.set_hosted_action(2, 1)
    s.receive(1, P.encode(P.Input(1, None, 0, (0, 1, 1, 1, 1))))
    assert s._ack_for(s.endpoints[1]) == 2, "the ack covers the host's own seat and the hosted one"


def test_a_python_host_sends_the_hosted_seat_as_inputs_naming_it():
    s, sent = _session(local_player=1, hosted_seats=[(0, 1)], settings={"input_delay": 1, "countdown_frames": 0})
    assert s.local_hosted == [0]
    s.start()
    s.receive(2, P.encode(P.Hello(2, 2, 3)))
    s.receive(2, P.encode(P.EpisodeReady(0, 1)))
    s.set_hosted_action(0, 7)
    s.tick(4)
    s.tick(4)
    inputs = [(peer, m.player, m.start, m.actions) for peer, m in sent if isinstance(m, P.Input)]
    assert inputs[-2:] == [(2, 1, 0, (0, 4, 4)), (2, 0, 0, (0, 7, 7))]
    with pytest.raises(ValueError, match="signed 32-bit"):
        s.set_hosted_action(0, 2**31)
    for bad in ([(1, 0)], [(0, 2), (2, 1)], [(0, 1), (0, 2)]):
        with pytest.raises(ValueError, match="hosted_seats"):
            _session(local_player=1, hosted_seats=bad)
    with pytest.raises(ValueError, match="hosted_seats"):
        _session(local_player=1, ai_seats=[0], hosted_seats=[(0, 1)])


VECTORS = json.loads((Path(__file__).parent / "vectors" / "protocol.json").read_text())["hosted_seats"]


def _vector_session(v: dict[str, Any]) -> tuple[P2PSession, list[tuple[int, Any]]]:
    """The vector's session, started, after it received the vector's messages; what it sent."""
    sent: list[tuple[int, Any]] = []

    class T:
        def send(self, peer: int, data: bytes) -> None:
            sent.append((peer, bytes(data).hex()))

    s = P2PSession(env=counter(v["num_players"]), transport=T(), local_player=v["local_player"],
                   num_players=v["num_players"], shared_seed=1, now=lambda: 0.0,
                   hosted_seats=[tuple(h) for h in v["hosted_seats"]], settings=v["settings"])
    s.start()
    for m in v["messages"]:
        s.receive(v["from"], bytes.fromhex(m["hex"]))
    return s, sent


def test_vectors_a_receiver_takes_hosted_seat_inputs_from_the_host_only():
    v = VECTORS["receiver"]
    s, _ = _vector_session(v)
    for p, f in v["expect"]["last_confirmed"].items():
        assert s.sync.queues[int(p)].last_confirmed_frame == f, f"seat {p}"
    assert s.counters.invalid_messages == v["expect"]["invalid_messages"]
    assert s._ack_for(s.endpoints[v["from"]]) == v["expect"]["ack_to_host"]


def test_vectors_a_host_sends_its_seats_input_beside_its_own():
    v = VECTORS["host"]
    s, sent = _vector_session(v)
    s.set_hosted_action(*v["hosted_action"])
    for a in v["ticks"]:
        s.tick(a)
    assert [x for x in sent if x[1].startswith("01")][-2:] == [(v["from"], h) for h in v["expect_last_sent"]]
