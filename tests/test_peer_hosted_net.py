"""A Python peer hosts an ONNX seat (peer/hosted.py, Python onnxruntime): two headless Python
peers play Tug through a real server (aiortc, relayed by the embedded TURN server), seat 1 is a
hosted seat (a tiny model built with the `onnx` package) whose host is player 0, the lowest
participant seat. Player 0 runs the model and sends the seat's actions; player 2 takes them as
that seat's inputs. Both exports mark the seat and agree, and the seat's column is the model's."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from interactive_gym_p2p.examples import tug
from interactive_gym_p2p.peer.actions import RandomActions
from interactive_gym_p2p.peer.hosted import action_from
from interactive_gym_p2p.peer.runner import PeerResult, run_peer

from peer_net_support import served
from onnx_models import assert_model_choices, build_model

MAX_STEPS = 150


def test_action_from_scores_and_integers() -> None:
    import numpy as np

    assert action_from(np.array([[0.1, 0.9, 0.3]], dtype=np.float32)) == 1
    assert action_from(np.array([[0.5, 0.5]], dtype=np.float32)) == 0
    assert action_from(np.array([3], dtype=np.int64)) == 3


def test_a_python_peer_hosts_an_onnx_seat(tmp_path: Path) -> None:
    model = build_model(tmp_path)
    stager = tug.build_stager(num_players=3, max_steps=MAX_STEPS, onnx_seats={1: str(model)}, countdown_s=0,
                              ice_transport_policy="relay")
    with served(stager, tmp_path) as s:
        async def both() -> list[PeerResult]:
            return list(await asyncio.gather(*(
                run_peer(s.url, subject_id=f"py-{i}", actions=RandomActions(seed=i, n_actions=3, hold=5), timeout_s=200)
                for i in range(2))))

        results = asyncio.run(both())
        games_dir = s.games_dir
    assert sorted(r.player_index for r in results) == [0, 2]
    for r in results:
        game = r.games[0]
        assert game.error is None and game.game_over_reason == "completed" and game.frames == MAX_STEPS, game.error
    folder = games_dir / results[0].game_id
    exports = [json.loads((folder / f"player-{p}.json").read_text()) for p in (0, 2)]
    seat = {"player_index": 1, "agent_id": 1, "policy": str(model), "kind": "onnx", "host": 0}
    for ex in exports:
        assert ex["ids"]["ai_seats"] == [seat]
    rows = [[r[:2] for e in ex["episodes"] for r in e["frames"]] for ex in exports]
    assert rows[0] == rows[1]
    host = next(r for r in results if r.player_index == 0)
    assert list(host.games[0].hosted_decisions) == [1]
    assert_model_choices(exports[0], 1, 3, MAX_STEPS, host.games[0].hosted_decisions[1])
    report = json.loads((folder / "comparison.json").read_text())
    assert report["agree"] and report["complete"], report
