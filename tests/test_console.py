"""The research console's pieces alone: the telemetry report parser (against the shared
vectors), the bounded timeline, the in-memory store and the Console aggregation on a
hand-moved clock with a fake signaling view."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from interactive_gym_p2p.console.report import FIELDS, ReportInvalid, TelemetryReport, parse_report
from interactive_gym_p2p.console.service import DEFAULT_END_MESSAGE, Console
from interactive_gym_p2p.console.store import Recruitment
from interactive_gym_p2p.console.timeline import Timeline
from interactive_gym_p2p.participants import FileParticipantStore, OutcomeReport, ParticipantLedger, Study
from interactive_gym_p2p.signaling.records import GameEnd, GameInfo, PlayerInfo

from store_backends import console_backend, new_console_store  # noqa: F401  (the Console tests run on both stores)

VECTORS = json.loads((Path(__file__).parent / "vectors" / "telemetry.json").read_text())


def ledger(tmp_path: Path) -> ParticipantLedger:
    """The participant ledger the server gives its console (records on disk)."""
    return ParticipantLedger(FileParticipantStore(tmp_path / "participants"), Study().outcomes(partner_left="PL-1"))


def report(**change: Any) -> TelemetryReport:
    return replace(parse_report(VECTORS["valid"][1]), **change)


# --- the report

def test_vector_keys_are_the_parsers_fields() -> None:
    assert VECTORS["keys"] == list(FIELDS)


@pytest.mark.parametrize("payload", VECTORS["valid"], ids=lambda p: f"seq{p['seq']}")
def test_valid_reports_parse_and_round_trip(payload: dict[str, Any]) -> None:
    parsed = parse_report(payload)
    assert parsed.to_json() == json.loads(json.dumps(payload)) | {"hidden_s": parsed.hidden_s}
    assert parse_report(parsed.to_json()) == parsed


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda c: c["problem"])
def test_invalid_reports_are_refused_naming_the_field(case: dict[str, Any]) -> None:
    with pytest.raises(ReportInvalid, match=case["problem"].replace("[", r"\[").replace("]", r"\]")):
        parse_report(case["report"])


def test_every_session_state_of_both_engines_is_a_valid_report_state() -> None:
    # A page in its 3-2-1 countdown reported 'countdown' and the server refused the report.
    from interactive_gym_p2p.peer.session import SessionState

    python_states = {v for k, v in vars(SessionState).items() if k.isupper()}
    js_block = (Path(__file__).parents[1] / "static" / "js" / "session.js").read_text().split("export const SessionState")[1]
    js_states = set(re.findall(r"^\s+[A-Z]+: '([a-z]+)'", js_block.split("});")[0], re.M))
    assert python_states == js_states and {"countdown", "catchup"} <= js_states
    for state in sorted(js_states):
        assert parse_report(VECTORS["valid"][1] | {"state": state}).state == state


def test_max_rtt_ignores_peers_without_a_sample() -> None:
    assert report(rtt_ms={0: None, 2: 30.0, 3: 12.5}).max_rtt_ms == 30.0
    assert report(rtt_ms={1: None}).max_rtt_ms is None


# --- the timeline

def test_timeline_counts_deltas_and_merges_without_losing_totals() -> None:
    tl = Timeline(max_points=8)
    total_rollbacks = total_stalls = 0
    for i in range(40):
        rollbacks, stalls = i * 3, i // 2
        tl.add(2.0 * i, report(frame=60 * i, rollbacks=rollbacks, stalled_frames=stalls, rtt_ms={1: float(i)},
                               hidden=10 <= i < 13, desyncs=int(i > 30)))
        total_rollbacks, total_stalls = rollbacks, stalls
    assert len(tl) <= 8 and tl.merges >= 3
    assert sum(tl.rollbacks) == total_rollbacks and sum(tl.stalls) == total_stalls
    assert tl.t[-1] == 78.0 and tl.frame[-1] == 39 * 60 and tl.desyncs[-1] == 1
    assert tl.rtt_ms[-1] == 39.0  # the larger of each merged pair
    assert tl.t == sorted(tl.t) and tl.frame == sorted(tl.frame)
    assert any(tl.hidden)


def test_timeline_counter_reset_counts_from_zero() -> None:
    tl = Timeline()
    tl.add(0, report(rollbacks=10, stalled_frames=4))
    tl.add(2, report(rollbacks=3, stalled_frames=1))  # a page that started over
    assert tl.rollbacks == [10, 3] and tl.stalls == [4, 1]


def test_hidden_intervals_from_samples() -> None:
    tl = Timeline()
    for i, hidden in enumerate([False, True, True, False, False, True]):
        tl.add(2.0 * i, report(frame=100 * i, hidden=hidden))
    assert tl.hidden_intervals() == [
        {"start_t": 2.0, "end_t": 6.0, "start_frame": 100, "end_frame": 300},
        {"start_t": 10.0, "end_t": None, "start_frame": 500, "end_frame": None},
    ]


def test_timeline_needs_an_even_size() -> None:
    with pytest.raises(ValueError):
        Timeline(max_points=7)


# --- the Console on a hand-moved clock

class FakeSignaling:
    def __init__(self) -> None:
        self.view: dict[str, Any] = {"waiting": [], "games": []}

    def snapshot(self) -> dict[str, Any]:
        return json.loads(json.dumps(self.view))


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def info(game_id: str = "g1", subjects: tuple[str, ...] = ("a", "b")) -> GameInfo:
    return GameInfo(game_id, "game", 7, tuple(PlayerInfo(i, s, None) for i, s in enumerate(subjects)), {}, "2025-01-01T00:00:00.000Z")


def live_game(game_id: str = "g1", states: tuple[str, ...] = ("connected", "connected")) -> dict[str, Any]:
    return {"game_id": game_id, "scene_id": "game", "created_at": "2025-01-01T00:00:00.000Z", "condition": None,
            "seats": [{"player_index": i, "subject_id": "ab"[i], "state": s} for i, s in enumerate(states)]}


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Console, FakeSignaling, Clock, list]:
    sig, clock, ended = FakeSignaling(), Clock(), []

    def end_game(game_id: str, message: str) -> dict[str, Any]:
        ended.append((game_id, message))
        if game_id != "g1":
            return {"ok": False, "error": {"code": "not_found", "message": "no such game"}}
        return {"ok": True, "game_id": game_id, "players": [0, 1]}

    console = Console(sig, new_console_store(), end_game=end_game, clock=clock,
                      wall_clock=lambda: 1_700_000_000.0 + clock.t, participants=ledger(tmp_path))
    return console, sig, clock, ended


def test_snapshot_merges_seats_with_telemetry(setup) -> None:
    console, sig, clock, _ = setup
    sig.view = {
        "waiting": [{"room": "fifo:game", "scene_id": "game", "group": False, "players_needed": 2,
                     "waiters": [{"subject_id": "w", "waited_s": 12.5, "remaining_s": 47.5, "rtt_ms": None}]}],
        "games": [live_game()],
    }
    console.game_created(info())
    clock.t += 2
    console.report("g1", 0, report(seq=1, frame=120, rtt_ms={1: 40.0}, rollbacks=5, stalled_frames=2, desyncs=0,
                                   first_desync_frame=None, hidden=False, path_kind="relay"))
    console.report("g1", 1, report(seq=1, frame=118, rtt_ms={0: 44.0}, rollbacks=7, stalled_frames=0, desyncs=1,
                                   first_desync_frame=90, hidden=True, path_kind="relay"))
    clock.t += 1
    snap = console.snapshot()
    assert snap["counts"] == {"waiting": 1, "games": 1, "players": 2, "finished": 0}
    waiter = snap["waiting"][0]["waiters"][0]
    assert waiter["since"] == "2023-11-14T22:29:50.500Z"  # wall time now minus waited_s
    g = snap["games"][0]
    assert (g["frame"], g["rtt_ms"], g["rollbacks"], g["stalled_frames"]) == (120, 44.0, 12, 2)
    assert (g["desync"], g["first_desync_frame"], g["hidden_players"], g["paths"]) == (True, 90, [1], ["relay"])
    assert g["age_s"] == 3.0
    assert [(p["subject_id"], p["seat"], p["stale"], p["report_age_s"]) for p in g["players"]] == [
        ("a", "connected", False, 1.0), ("b", "connected", False, 1.0)]
    assert snap["recruitment"] == {"open": True, "changed_at": None}
    json.dumps(snap)  # plain JSON all the way down

    # A player who stops reporting shows as stale; an older report (lower seq) is ignored.
    clock.t += 7
    console.report("g1", 1, report(seq=1, frame=500))
    console.report("g1", 1, report(seq=0, frame=10))
    p1 = console.snapshot()["games"][0]["players"][1]
    assert p1["stale"] is True and p1["frame"] == 118


def test_a_game_without_reports_shows_its_seats(setup) -> None:
    console, sig, _, _ = setup
    sig.view = {"waiting": [], "games": [live_game(states=("connected", "interrupted"))]}
    g = console.snapshot()["games"][0]
    assert g["frame"] is None and g["age_s"] is None and [p["seat"] for p in g["players"]] == ["connected", "interrupted"]
    assert all(p["stale"] and p["frame"] is None for p in g["players"])


def test_timeline_and_desync_markers_then_finished(setup) -> None:
    console, sig, clock, _ = setup
    console.game_created(info())
    for seq in range(5):
        clock.t += 2
        for player in (0, 1):
            desyncs = int(seq >= 3 and player == 1)
            console.report("g1", player, report(seq=seq, frame=60 * seq, rollbacks=seq * (player + 1), desyncs=desyncs,
                                                first_desync_frame=170 if desyncs else None, hidden=seq == 2))
    tl = console.timeline("g1")
    assert tl is not None and tl["live"] is True and tl["ended"] is None
    assert tl["desync_markers"] == [{"player_index": 1, "frame": 170, "t": 8.0}]
    p1 = tl["players"][1]
    assert (p1["subject_id"], p1["t"], p1["frame"], p1["rollbacks"]) == ("b", [2.0, 4.0, 6.0, 8.0, 10.0], [0, 60, 120, 180, 240], [0, 2, 2, 2, 2])
    assert p1["hidden_intervals"] == [{"start_t": 6.0, "end_t": 8.0, "start_frame": 120, "end_frame": 180}]
    assert console.timeline("nope") is None

    clock.t += 1
    console.game_ended(GameEnd("g1", "game", "incomplete", {0: "stopped", 1: "stopped"}, "researcher"))
    snap = console.snapshot()
    (fin,) = snap["finished"]
    assert (fin["outcome"], fin["ended_by"], fin["seats"], fin["subjects"], fin["duration_s"]) == (
        "incomplete", "researcher", {"0": "stopped", "1": "stopped"}, {"0": "a", "1": "b"}, 11.0)
    assert [p["desyncs"] for p in fin["players"]] == [0, 1]
    after = console.timeline("g1")
    assert after is not None and after["live"] is False and after["ended"]["ended_by"] == "researcher"


def test_finished_games_are_bounded_and_old_timelines_dropped() -> None:
    store = new_console_store(keep_finished=5, keep_finished_timelines=2)
    console = Console(FakeSignaling(), store)
    for i in range(8):
        console.game_created(info(f"g{i}"))
        console.report(f"g{i}", 0, report(seq=0))
        console.game_ended(GameEnd(f"g{i}", "game", "completed", {0: "finished", 1: "finished"}))
    assert [f["game_id"] for f in console.snapshot()["finished"]] == ["g7", "g6", "g5", "g4", "g3"]
    assert [console.timeline(f"g{i}") is not None for i in range(8)] == [False] * 6 + [True, True]


def test_end_game_passes_a_message_and_refuses_long_ones(setup) -> None:
    console, _, _, ended = setup
    assert console.end_game("g1") == {"ok": True, "game_id": "g1", "players": [0, 1]}
    assert console.end_game("g1", "  Thanks, we have what we need.  ")["ok"]
    assert console.end_game("g2")["error"]["code"] == "not_found"
    assert console.end_game("g1", "x" * 501)["error"]["code"] == "malformed"
    assert ended == [("g1", DEFAULT_END_MESSAGE), ("g1", "Thanks, we have what we need."), ("g2", DEFAULT_END_MESSAGE)]
    assert Console(FakeSignaling()).end_game("g1")["error"]["code"] == "unavailable"


def test_recruitment_flag_is_the_participant_ledgers(setup, tmp_path: Path) -> None:
    console, _, _, _ = setup
    seen: list[Recruitment] = []
    console.on_recruitment_change.append(seen.append)
    assert console.recruitment_open() is True and console.snapshot()["recruitment"] == {"open": True, "changed_at": None}
    closed = console.set_recruitment(False)
    assert closed.open is False and closed.changed_at is not None
    assert console.set_recruitment(False) == closed and len(seen) == 1  # no change, no event
    # One flag: the ledger's, which decides study_full, kept on disk across a restart.
    assert console.participants.recruitment_open is False
    again = Console(FakeSignaling(), participants=ledger(tmp_path))
    assert again.recruitment() == closed and again.snapshot()["recruitment"]["open"] is False
    assert console.set_recruitment(True).open is True and ledger(tmp_path).recruitment_open is True
    # Without a ledger (a console alone) the flag lives in the store, open by default.
    alone = Console(FakeSignaling())
    assert alone.recruitment_open() is True and alone.set_recruitment(False).open is False


def test_finished_games_show_each_participants_outcome(setup) -> None:
    console, _, clock, _ = setup
    console.game_created(info())
    clock.t += 5
    console.game_ended(GameEnd("g1", "game", "incomplete", {0: "finished", 1: "left"}))
    (fin,) = console.snapshot()["finished"]
    assert fin["participants"] == [{"player_index": 0, "subject_id": "a", "outcome": None},
                                   {"player_index": 1, "subject_id": "b", "outcome": None}]
    # The outcome comes after the game ended (the page uploads its export first).
    console.participants.end("a", OutcomeReport("partner_left", "left", scene_id="game", game_id="g1", reported_by="client"))
    (fin,) = console.snapshot()["finished"]
    shown = fin["participants"][0]["outcome"]
    assert (shown["outcome"], shown["reason"], shown["code"], shown["game_id"]) == ("partner_left", "left", "PL-1", "g1")
    assert fin["participants"][1]["outcome"] is None
    assert Console(FakeSignaling()).snapshot()["finished"] == []


def test_matchmaking_details_pass_through(setup) -> None:
    console, sig, _, _ = setup
    game = live_game() | {"match": {"matcher": "latency_fifo", "reason": "probed", "estimated_rtt_ms": 80.0,
                                    "probed_rtt_ms": 75.0, "path": "relay"}}
    game["seats"][1]["bot"] = True
    sig.view = {
        "waiting": [{"room": "fifo:game", "scene_id": "game", "group": False, "players_needed": 2,
                     "waiters": [{"subject_id": "w", "waited_s": 1.0, "remaining_s": 9.0, "rtt_ms": 31.5,
                                  "state": "probing", "requeues": 1, "bot": False}]}],
        "games": [game],
        "conditions": {"game": {"delay0": {"completed": 3, "running": 1, "target": 10}}},
    }
    snap = console.snapshot()
    waiter = snap["waiting"][0]["waiters"][0]
    assert (waiter["rtt_ms"], waiter["state"], waiter["requeues"]) == (31.5, "probing", 1)
    g = snap["games"][0]
    assert g["match"]["matcher"] == "latency_fifo" and [p["bot"] for p in g["players"]] == [False, True]
    assert snap["conditions"] == {"game": {"delay0": {"completed": 3, "running": 1, "target": 10}}}
    sig.view = {"waiting": [], "games": [live_game()]}
    snap = console.snapshot()
    assert snap["conditions"] == {} and snap["games"][0]["match"] is None
