"""Two Chromium participants on two server processes of one study (``interactive-gym-p2p
--redis``, one real redis-server, a shared data directory, a TURN server both processes give
out with shared-secret credentials). Each page talks only to its own process; they are
matched into one game, play Gem Rush to the end over a relayed WebRTC DataChannel, both
exports are compared and agree, and both participants end ``completed``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from harness.game import LOAD_TIMEOUT_S, open_participant, play_to_end, read_json, snapshot, wait_for_files
from harness.session import BrowserSession

from cluster_support import running_cluster

pytestmark = pytest.mark.e2e

EXPERIMENT = '''
from interactive_gym_p2p.examples.demo import build_stager

stager = build_stager(num_episodes=1, max_steps=150, ice_transport_policy="relay")
'''


def test_two_pages_on_two_processes_play_to_the_end(redis_url: str, tmp_path: Path, chromium_available, artifacts_dir,
                                                   request) -> None:
    with running_cluster(tmp_path, redis_url, EXPERIMENT) as cluster:
        one, two = cluster.start(2)
        urls = [f"http://127.0.0.1:{one}", f"http://127.0.0.1:{two}"]

        async def scenario() -> list[dict]:
            async with BrowserSession(request.node.nodeid, artifacts_dir) as session:
                first = await open_participant(session, urls[0], 0, "cluster-a")
                await first.advance_to_game(LOAD_TIMEOUT_S)
                await first.wait("(window.__phaseLog || []).some(e => e.phase === 'waiting')", LOAD_TIMEOUT_S, "waitroom")
                second = await open_participant(session, urls[1], 1, "cluster-b")
                await second.advance_to_game(LOAD_TIMEOUT_S)
                pair = [first, second]
                await asyncio.gather(*(p.wait("p.phase === 'playing'", LOAD_TIMEOUT_S, "game started") for p in pair))
                game_ids = {(await snapshot(p.page))["p2p"]["gameId"] for p in pair}
                assert len(game_ids) == 1
                await play_to_end(pair)
                ended = [await p.wait("p.phase === 'ended'", 30, "outcome shown") for p in pair]
                return [s["p2p"] for s in ended] + [{"game_id": game_ids.pop()}]

        *pages, game = asyncio.run(scenario())
        folder = cluster.data_dir / "exports" / "games" / game["game_id"]
        wait_for_files([folder / "player-0.json", folder / "player-1.json", folder / "comparison.json"], 30, "exports")
        report = read_json(folder / "comparison.json")
        assert report["agree"] and report["complete"], json.dumps(report)[:2000]
        for subject in ("cluster-a", "cluster-b"):
            assert read_json(cluster.data_dir / "participants" / subject / "outcome.json")["outcome"] == "completed"
        # Each page talked to its own process only.
        assert "participant cluster-a connected" in cluster.log(one) and "participant cluster-a connected" not in cluster.log(two)
        assert "participant cluster-b connected" in cluster.log(two) and "participant cluster-b connected" not in cluster.log(one)
