"""Kitchen (interactive_gym_p2p/examples/kitchen.py) in real Chromium: two participants over the
embedded TURN server with the scene's seeded impairment (80 ms, 5 % loss), the sprite atlas
preloaded and drawn (no object skipped), played to the end; both exports agree frame for frame,
the server's comparison agrees, and CPython replays every hash."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from harness.game import read_json, start_pair, wait_for_files
from harness.session import BrowserSession
from interactive_gym_p2p.examples import kitchen
from interactive_gym_p2p.validation.replay import replay_export

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
            await asyncio.gather(*(p.press_keys_while_playing(KEYS[i], frames_per_key=6) for i, p in enumerate(pair)))
            return list(await asyncio.gather(*(p.finish() for p in pair)))

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
