"""Kitchen (interactive_gym_p2p/examples/kitchen.py) in real Chromium: two participants over the
embedded TURN server with the scene's seeded impairment (80 ms, 5 % loss), the sprite atlas
preloaded and drawn (no object skipped), played to the end; both exports agree frame for frame,
the server's comparison agrees, and CPython replays every hash. The AI-partner variant: one
participant with the scripted chef in an AI seat, played to the end in that page alone."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from harness.game import LOAD_TIMEOUT_S, open_participant, play_to_end, read_json, start_pair, wait_for_files
from harness.session import BrowserSession
from interactive_gym_p2p.examples import kitchen
from interactive_gym_p2p.peer.env import InteractiveGymEnvAdapter
from interactive_gym_p2p.validation.replay import replay_export
from peer_checks import assert_ai_seat_replays

pytestmark = pytest.mark.e2e

KITCHEN = "interactive_gym_p2p.examples.kitchen:build_stager"
MAX_STEPS = 240
IMPAIRMENT = {"delay_ms": 80, "loss": 0.05, "seed": 20261204}
KEYS = (["ArrowRight", " ", "ArrowLeft", " "], ["ArrowLeft", " ", "ArrowDown", " "])


def test_kitchen_plays_to_the_end_under_impairment_and_agrees(game_server, chromium_available, artifacts_dir, request):
    server = game_server({"num_players": 2, "max_steps": MAX_STEPS, "ice_transport_policy": "relay",
                          "impairment": IMPAIRMENT}, experiment=KITCHEN)

    async def scenario() -> list[dict[str, Any]]:
        async with BrowserSession(request.node.nodeid, artifacts_dir) as session:
            pair = await start_pair(session, server, "kitchen")
            return await play_to_end(pair, keys=KEYS, frames_per_key=6)

    snaps = asyncio.run(scenario())
    (game_id,) = {s["p2p"]["gameId"] for s in snaps}
    for s in snaps:
        render = s["p2p"]["render"]
        assert render["skipped"] == 0 and render["drawn"] > 40, f"the sprites were not all drawn: {render}"
    folder = server.game_dir(game_id)
    files = [folder / "player-0.json", folder / "player-1.json"]
    wait_for_files([*files, folder / "comparison.json"], 20, "both exports and the report")
    exports = [read_json(f) for f in files]
    rows = [[r for ep in ex["episodes"] for r in ep["frames"]] for ex in exports]
    assert rows[0] == rows[1] and len(rows[0]) == MAX_STEPS, "the players' confirmed frames differ"
    assert {a for r in rows[0] for a in r[1]} & {kitchen.INTERACT}, "nobody pressed interact"
    for ex in exports:
        assert ex["desyncs"] == [] and ex["partial"] is False and ex["stats"]["path"]["kind"] == "relay"
        assert ex["stats"]["rollbacks"] > 0, ex["stats"]
    report = read_json(folder / "comparison.json")
    assert report["agree"] is True and report["complete"] is True, report.get("divergence")
    result = replay_export(exports[0], lambda: kitchen.KitchenEnv(num_players=2, max_steps=MAX_STEPS))
    assert result.ok and result.hashes_checked == MAX_STEPS, (result.problems, result.mismatch)


def test_kitchen_with_an_ai_chef_plays_alone_and_serves(game_server, chromium_available, artifacts_dir, request):
    """The AI-partner variant: one participant and the scripted chef (Pyodide), no partner; the
    export marks the AI seat and CPython's policy, from the replayed states, takes every action
    the browser's did."""
    steps = 300
    server = game_server({"num_players": 2, "max_steps": steps, "ai_seats": [1]}, experiment=KITCHEN)

    async def scenario() -> dict[str, Any]:
        async with BrowserSession(request.node.nodeid, artifacts_dir) as session:
            p = await open_participant(session, server.url, 0, "chef")
            await p.advance_to_game(LOAD_TIMEOUT_S)
            (snap,) = await play_to_end([p], keys=[["ArrowDown", "ArrowRight"]], frames_per_key=8)
            return snap

    snap = asyncio.run(scenario())
    assert snap["p2p"]["path"]["kind"] == "local" and snap["p2p"]["render"]["skipped"] == 0
    folder = server.game_dir(snap["p2p"]["gameId"])
    wait_for_files([folder / "player-0.json", folder / "comparison.json"], 20, "the export and the report")
    export = read_json(folder / "player-0.json")
    assert export["ids"]["ai_seats"] == [{"agent_id": 1, "policy": "chef", "kind": "python", "player_index": 1}]
    assert read_json(folder / "comparison.json")["agree"] is True
    env = InteractiveGymEnvAdapter.from_code(kitchen.environment_initialization_code(2, steps), 2,
                                             ai={"seats": [[1, 1, "chef"]], "policies": {"chef": kitchen.AI_POLICY}})
    (episode,) = export["episodes"]
    assert_ai_seat_replays(env, episode, 1, "the AI chef")
    assert len(episode["frames"]) == steps and {a[1][1] for a in episode["frames"]} >= {kitchen.INTERACT}
    assert env.canonical_state()["served"] >= 1, "the AI chef served no soup in 10 s"
