"""Two Chromium participants on two server processes of one study (``interactive-gym-p2p
--redis``, one real redis-server, a shared data directory, a TURN server both processes give
out with shared-secret credentials), and one process killed mid-game.

Page A reaches the study through a proxy (``tests/tcp_proxy.py`` in failover mode: every
request to the first live process, as a sticky proxy would) and lands on process one; page B
talks to process two directly. They are matched into one game across the processes. Well into
the game process one is killed (SIGKILL): the game goes on over the relayed WebRTC
DataChannel, page A's sockets reconnect through the proxy to process two, which shows it the
scene it was in and gives it back its seat naming its game (``resumed``: nothing
renegotiated). The game ends, both exports are compared and agree, both participants end
``completed``.
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from harness.game import LOAD_TIMEOUT_S, open_participant, play_to_end, read_json, snapshot, wait_for_files
from harness.session import BrowserSession

from cluster_support import running_cluster
from tcp_proxy import TcpProxy

pytestmark = pytest.mark.e2e

EXPERIMENT = '''
from interactive_gym_p2p.examples.demo import build_stager

stager = build_stager(num_episodes=1, max_steps=300, ice_transport_policy="relay", countdown_s=0)
'''


def test_pages_on_two_processes_one_killed_mid_game(redis_url: str, tmp_path: Path, chromium_available, artifacts_dir,
                                                    request) -> None:
    with running_cluster(tmp_path, redis_url, EXPERIMENT) as cluster:
        doomed, survivor = cluster.start(2)
        with TcpProxy([("127.0.0.1", doomed), ("127.0.0.1", survivor)], failover=True) as proxy:

            async def scenario() -> str:
                async with BrowserSession(request.node.nodeid, artifacts_dir) as session:
                    first = await open_participant(session, proxy.url, 0, "cluster-a")
                    await first.advance_to_game(LOAD_TIMEOUT_S)
                    await first.wait("(window.__phaseLog || []).some(e => e.phase === 'waiting')", LOAD_TIMEOUT_S, "waitroom")
                    second = await open_participant(session, f"http://127.0.0.1:{survivor}", 1, "cluster-b")
                    await second.advance_to_game(LOAD_TIMEOUT_S)
                    pair = [first, second]
                    await asyncio.gather(*(p.wait("p.phase === 'playing' && p.frame >= 45", LOAD_TIMEOUT_S, "game under way")
                                           for p in pair))
                    game_ids = {(await snapshot(p.page))["p2p"]["gameId"] for p in pair}
                    assert len(game_ids) == 1
                    cluster.kill(doomed)
                    await play_to_end(pair)
                    for p in pair:
                        await p.wait("p.phase === 'ended'", 30, "outcome shown")
                    return game_ids.pop()

            game_id = asyncio.run(scenario())
        folder = cluster.data_dir / "exports" / "games" / game_id
        wait_for_files([folder / "player-0.json", folder / "player-1.json", folder / "comparison.json"], 30, "exports")
        report = read_json(folder / "comparison.json")
        assert report["agree"] and report["complete"], json.dumps(report)[:2000]
        for subject in ("cluster-a", "cluster-b"):
            assert read_json(cluster.data_dir / "participants" / subject / "outcome.json")["outcome"] == "completed"
        # Page A was on process one until it died, then on process two; page B only ever on two.
        assert "participant cluster-a connected" in cluster.log(doomed)
        assert "participant cluster-b connected" not in cluster.log(doomed)
        after = cluster.log(survivor).split("participant cluster-a connected", 1)
        assert len(after) == 2 and after[1].splitlines()[0].rstrip().endswith("at scene gem_rush")
        # Its seat back, naming its game: nothing renegotiated.
        assert re.search(rf"game {game_id}: player [01] reconnected \(its game went on\)", after[1]), after[1][-3000:]
