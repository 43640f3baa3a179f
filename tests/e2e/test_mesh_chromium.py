"""Three participants in real Chromium: the full mesh (three DataChannels, each page offering
to the higher player indices) relay-only through the embedded TURN server, with the Tug
example environment in Pyodide. All three exports agree on every confirmed frame."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from harness.game import LOAD_TIMEOUT_S, open_participant, read_json, wait_for_files
from harness.session import BrowserSession

pytestmark = pytest.mark.e2e

PLAYERS = 3
MAX_STEPS = 120
TUG = "interactive_gym_p2p.examples.tug:build_stager"
KEYS = (["ArrowLeft"], ["ArrowRight"], ["ArrowLeft", "ArrowRight"])


def test_three_players_full_mesh_over_relay(game_server, chromium_available, artifacts_dir, request):
    server = game_server({"num_players": PLAYERS, "max_steps": MAX_STEPS, "ice_transport_policy": "relay"},
                         experiment=TUG)

    async def body(session: BrowserSession) -> list[dict[str, Any]]:
        pages = []
        for i in range(PLAYERS):
            p = await open_participant(session, server.url, i, f"mesh-{i}")
            await p.advance_to_game(LOAD_TIMEOUT_S)
            if i < PLAYERS - 1:  # the room fills only with the last one
                await p.wait("(window.__phaseLog || []).some(e => e.phase === 'waiting')", LOAD_TIMEOUT_S, "waitroom")
            pages.append(p)
        await asyncio.gather(*(p.wait("p.phase === 'playing'", LOAD_TIMEOUT_S, "game started") for p in pages))
        await asyncio.gather(*(p.press_keys_while_playing(KEYS[i], frames_per_key=10) for i, p in enumerate(pages)))
        return list(await asyncio.gather(*(p.finish() for p in pages)))

    async def scenario() -> list[dict[str, Any]]:
        async with BrowserSession(request.node.nodeid, artifacts_dir) as session:
            return await body(session)

    snaps = asyncio.run(scenario())
    game_ids = {s["p2p"]["gameId"] for s in snaps}
    assert len(game_ids) == 1 and None not in game_ids, game_ids
    assert sorted(s["p2p"]["playerIndex"] for s in snaps) == list(range(PLAYERS))
    folder = server.game_dir(game_ids.pop())
    files = [folder / f"player-{i}.json" for i in range(PLAYERS)]
    wait_for_files([*files, folder / "comparison.json"], 20, "three exports and the comparison report")
    exports = [read_json(f) for f in files]
    report = read_json(folder / "comparison.json")

    rows = [[r for ep in ex["episodes"] for r in ep["frames"]] for ex in exports]
    for i, ex in enumerate(exports):
        assert ex["partial"] is False and ex["desyncs"] == [], (i, ex["partial"], ex["desyncs"][:1])
        assert sorted(p["player_index"] for p in ex["ids"]["peers"]) == sorted(set(range(PLAYERS)) - {i}), ex["ids"]
        assert len(rows[i]) == MAX_STEPS and all(len(r[1]) == PLAYERS and r[2] for r in rows[i])
        assert ex["verified_frame"] == rows[i][-1][0], (i, ex["verified_frame"], rows[i][-1][0])
        assert ex["stats"]["path"]["kind"] == "relay", ex["stats"]["path"]
    assert rows[0] == rows[1] == rows[2], "confirmed frames differ between players"
    # Every player's keys reached every peer: each column holds that player's pushes.
    for p in range(PLAYERS):
        assert any(r[1][p] != 0 for r in rows[0]), f"player {p} never pushed"
    assert report["agree"] is True and report["complete"] is True, report.get("divergence")
    assert report["common_frames"] == MAX_STEPS and report["hashed_frames_compared"] == MAX_STEPS
