"""interactive_gym_p2p/peer/telemetry.py: the Python peer's telemetry report is the one the
server accepts (tests/vectors/telemetry.json keys, the server's parser) and says what the
session knows, over a simulated lossy game with an injected desync."""

from __future__ import annotations

import json
from pathlib import Path

from interactive_gym_p2p.console.report import parse_report
from interactive_gym_p2p.peer.sim import Game
from interactive_gym_p2p.peer.sim_envs import CounterEnv
from interactive_gym_p2p.peer.telemetry import Reporter, build_report

VECTORS = json.loads((Path(__file__).parent / "vectors" / "telemetry.json").read_text())


def test_reports_before_during_and_after_a_game_are_accepted() -> None:
    g = Game(num_players=3, seed=5, settings={"max_episodes": 1}, link={"delay_ms": 60, "loss": 0.1},
             make_env=lambda p: CounterEnv(3, 200, 250, noise_at=80 if p == 2 else None, noise_salt=3))
    before = build_report("g-1", 0, g.sessions[0])
    assert list(before) == VECTORS["keys"]
    assert (before["frame"], before["state"], before["rtt_ms"], before["hidden"], before["hidden_s"]) == (-1, "created", {"1": None, "2": None}, False, 0)
    parse_report(before)
    g.run_to_end(600000)
    for i, s in enumerate(g.sessions):
        r = build_report("g-1", 7, s)
        parsed = parse_report(r)
        assert list(r) == VECTORS["keys"]
        record = s.record()
        assert parsed.rollbacks == record["stats"]["rollbacks"] > 0
        assert parsed.stalled_frames == record["stats"]["stalled_frames"]
        assert parsed.desyncs == record["stats"]["hash_mismatches"] > 0
        assert parsed.first_desync_frame == 80 == record["desyncs"][0]["frame"]
        assert parsed.confirmed_frame == record["episodes"][-1]["last_confirmed_frame"]
        assert sorted(parsed.rtt_ms) == [p for p in range(3) if p != i]
        assert all(v is not None and v > 0 for v in parsed.rtt_ms.values())
        assert parsed.state in ("finished", "closed")


def test_reporter_is_due_at_once_then_every_interval() -> None:
    g = Game(num_players=2, seed=1, settings={"max_episodes": 1}, link={}, make_env=lambda p: CounterEnv(2, 10, 20))
    rep = Reporter("g-2", interval_s=2.0)
    s = g.sessions[0]
    assert rep.due(100.0, s)["seq"] == 0
    assert rep.due(101.9, s) is None
    assert rep.due(102.0, s)["seq"] == 1
    assert rep.now(s)["seq"] == 2
