"""AI seats in real Chromium (Tug, interactive_gym_p2p/examples/tug.py, with its AI policy).

- One participant and one AI seat: the page runs the game alone (no partner, no WebRTC), to
  the end; its export marks the AI seat, and a CPython replay of the confirmed rows
  reproduces every hash and, from each replayed state, every action the AI took in Pyodide.
- Two participants and an AI seat between them (three seats): relay-only over the embedded
  TURN server; both exports agree frame for frame, mark the AI seat, and the server's
  comparison agrees and is complete.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from harness.game import play_alone, play_to_end, read_json, start_pair, wait_for_files
from harness.session import BrowserSession
from interactive_gym_p2p.examples import tug
from interactive_gym_p2p.peer.env import InteractiveGymEnvAdapter
from interactive_gym_p2p.validation.replay import replay_export
from onnx_models import rows_of
from peer_checks import assert_ai_seat_replays

pytestmark = pytest.mark.e2e

TUG = "interactive_gym_p2p.examples.tug:build_stager"
MAX_STEPS = 120
AI = {"agent_id": 1, "policy": "tug_ai", "kind": "python", "player_index": 1}


def assert_ai_replays(export: dict[str, Any], num_players: int) -> None:
    """CPython, from the export alone: the hashes, and the AI's choice at every confirmed frame."""
    result = replay_export(export, lambda: tug.TugEnv(num_players=num_players, max_steps=MAX_STEPS))
    assert result.ok and result.hashes_checked == MAX_STEPS, (result.problems, result.mismatch)
    env = InteractiveGymEnvAdapter.from_code(tug.environment_initialization_code(num_players, MAX_STEPS), num_players,
                                             ai={"seats": [[1, 1, "tug_ai"]], "policies": {"tug_ai": tug.AI_POLICY}})
    (episode,) = export["episodes"]
    assert_ai_seat_replays(env, episode, 1)


def test_one_participant_and_an_ai_seat_play_alone(game_server, chromium_available, artifacts_dir, request):
    server = game_server({"num_players": 2, "max_steps": MAX_STEPS, "ai_seats": [1]}, experiment=TUG)

    async def scenario() -> dict[str, Any]:
        async with BrowserSession(request.node.nodeid, artifacts_dir) as session:
            snap = await play_alone(session, server.url, ["ArrowLeft", "ArrowRight"], frames_per_key=10)
            snap["phases"] = [e["phase"] for e in snap["phases"]]
            return snap

    snap = asyncio.run(scenario())
    assert "peer_connecting" not in snap["phases"], snap["phases"]
    assert snap["p2p"]["playerIndex"] == 0 and snap["p2p"]["path"]["kind"] == "local"
    folder = server.game_dir(snap["p2p"]["gameId"])
    wait_for_files([folder / "player-0.json", folder / "comparison.json"], 20, "the export and the report")
    export = read_json(folder / "player-0.json")
    assert export["ids"]["peers"] == [] and export["ids"]["ai_seats"] == [AI], export["ids"]
    assert export["partial"] is False and export["settings"]["p2p"]["ai_seats"] == [AI]
    rows = rows_of(export)
    # The AI rests a quarter of the time and pushes toward the middle: which way depends on the play.
    assert len(rows) == MAX_STEPS and {0} < {r[1][1] for r in rows} <= {0, 1, 2}, "the AI rested and pushed"
    assert {r[1][0] for r in rows} >= {1, 2}, "the participant's keys are in column 0"
    report = read_json(folder / "comparison.json")
    assert report["agree"] is True and report["complete"] is True
    assert_ai_replays(export, 2)


def play_trio(server: Any, artifacts_dir: Any, request: Any) -> list[dict[str, Any]]:
    """Two participants (seats 0 and 2 of three) play the game to the end with different keys."""

    async def scenario() -> list[dict[str, Any]]:
        async with BrowserSession(request.node.nodeid, artifacts_dir) as session:
            pair = await start_pair(session, server, "trio")
            return await play_to_end(pair, keys=(["ArrowLeft"], ["ArrowRight", "ArrowLeft"]), frames_per_key=10)

    return asyncio.run(scenario())


def trio_exports(server: Any, snaps: list[dict[str, Any]],
                 seat: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The two participants' exports of a three-seat game whose seat 1 is ``seat``: both complete,
    over the relay, with no desync, the same confirmed rows, and a report that agrees; and the report."""
    (game_id,) = {s["p2p"]["gameId"] for s in snaps}
    assert sorted(s["p2p"]["playerIndex"] for s in snaps) == [0, 2], "the participants take the human seats"
    folder = server.game_dir(game_id)
    files = [folder / "player-0.json", folder / "player-2.json"]
    wait_for_files([*files, folder / "comparison.json"], 20, "both exports and the report")
    exports = [read_json(f) for f in files]
    for ex in exports:
        assert ex["ids"]["ai_seats"] == [seat] and len(ex["ids"]["peers"]) == 1, ex["ids"]
        assert ex["desyncs"] == [] and ex["partial"] is False and ex["stats"]["path"]["kind"] == "relay"
    assert rows_of(exports[0]) == rows_of(exports[1]), "the players' confirmed frames differ"
    report = read_json(folder / "comparison.json")
    assert report["agree"] is True and report["complete"] is True, report.get("divergence")
    return exports, report


def test_two_participants_and_an_ai_seat_in_a_three_seat_game(game_server, chromium_available, artifacts_dir, request):
    server = game_server({"num_players": 3, "max_steps": MAX_STEPS, "ai_seats": [1], "ice_transport_policy": "relay"},
                         experiment=TUG)
    exports, report = trio_exports(server, play_trio(server, artifacts_dir, request), AI)
    assert all(ex["episodes"][0]["input_delays"][1] == 0 for ex in exports)
    rows = rows_of(exports[0])
    assert len(rows) == MAX_STEPS and all(len(r[1]) == 3 and r[2] for r in rows)
    assert {0} < {r[1][1] for r in rows} <= {0, 1, 2} and any(r[1][0] for r in rows) and any(r[1][2] for r in rows)
    assert report["hashed_frames_compared"] == MAX_STEPS
    assert_ai_replays(exports[0], 3)
