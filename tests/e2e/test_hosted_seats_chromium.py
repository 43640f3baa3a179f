"""Hosted (ONNX) seats in real Chromium (Tug, interactive_gym_p2p/examples/tug.py).

The seat's policy is a tiny ONNX model built here with the `onnx` package (a linear layer over
Tug's observation [x, t] whose argmax pushes the marker back to the middle). Only the host (the
lowest participant seat) runs it, with onnxruntime-web served by the experiment's own server;
the others get the seat's actions as its inputs.

- One participant and a hosted seat: the page hosts and plays alone, to the end; its export marks
  the seat (kind onnx, host 0) and the seat's column holds the model's choices.
- Two participants and a hosted seat between them (three seats, relay-only through the embedded
  TURN server): player 0 hosts, player 2 never runs the model; both exports agree frame for frame
  and mark the seat, and the server's comparison agrees and is complete.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from harness.game import LOAD_TIMEOUT_S, open_participant, read_json, start_pair, wait_for_files
from harness.session import BrowserSession
from interactive_gym_p2p.examples import tug
from interactive_gym_p2p.validation.replay import replay_export

pytestmark = pytest.mark.e2e

TUG = "interactive_gym_p2p.examples.tug:build_stager"
MAX_STEPS = 150
MIDDLE = 240


def build_model(folder: Path) -> Path:
    """logits = [0, x - 240, 240 - x] (t ignored): 1 (push left) right of the middle, 2 left of it."""
    import onnx
    from onnx import TensorProto, helper

    w = helper.make_tensor("W", TensorProto.FLOAT, [2, 3], [0.0, 1.0, -1.0, 0.0, 0.0, 0.0])
    b = helper.make_tensor("B", TensorProto.FLOAT, [3], [0.0, -float(MIDDLE), float(MIDDLE)])
    graph = helper.make_graph([helper.make_node("Gemm", ["obs", "W", "B"], ["logits"])], "tug_policy",
                              [helper.make_tensor_value_info("obs", TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 3])], [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = folder / "tug_policy.onnx"
    onnx.save(model, str(path))
    return path


def rows_of(export: dict[str, Any]) -> list[Any]:
    return [r for ep in export["episodes"] for r in ep["frames"]]


def marker_positions(export: dict[str, Any], num_players: int) -> list[int]:
    """x at the start of every confirmed frame (CPython replay of the rows; hashes checked)."""
    result = replay_export(export, lambda: tug.TugEnv(num_players=num_players, max_steps=MAX_STEPS))
    assert result.ok and result.hashes_checked == MAX_STEPS, (result.problems, result.mismatch)
    env = tug.TugEnv(num_players=num_players, max_steps=MAX_STEPS)
    (episode,) = export["episodes"]
    env.reset(seed=episode["seed"])
    xs = []
    for _frame, actions, _h in episode["frames"]:
        xs.append(env.get_state()["x"])
        env.step(dict(enumerate(actions)))
    return xs


def assert_model_choices(export: dict[str, Any], seat: int, num_players: int) -> None:
    """Each hosted action is the model's choice for a state the host simulated shortly before
    (inference is asynchronous: up to ~1 s late), or the default action before the model loaded."""
    xs = marker_positions(export, num_players)
    column = [r[1][seat] for r in rows_of(export)]
    assert set(column) <= {0, 1, 2} and {1, 2} & set(column), f"the model never acted: {sorted(set(column))}"
    first = next(i for i, a in enumerate(column) if a != 0)
    for f in range(first, len(column)):
        window = xs[max(0, f - 30):f + 1]
        want = {1 if x > MIDDLE else 2 if x < MIDDLE else 0 for x in window}
        assert column[f] in want, f"frame {f}: action {column[f]}, model choices over the last states {sorted(want)}"


def test_one_participant_and_a_hosted_seat(game_server, chromium_available, artifacts_dir, request, tmp_path):
    model = build_model(tmp_path)
    server = game_server({"num_players": 2, "max_steps": MAX_STEPS, "onnx_seats": {"1": str(model)}, "countdown_s": 0},
                         experiment=TUG)
    seat = {"player_index": 1, "agent_id": 1, "policy": str(model), "kind": "onnx", "host": 0}

    async def scenario() -> dict[str, Any]:
        async with BrowserSession(request.node.nodeid, artifacts_dir) as session:
            p = await open_participant(session, server.url, 0, "solo")
            await p.advance_to_game(LOAD_TIMEOUT_S)
            await p.wait("p.phase === 'playing'", LOAD_TIMEOUT_S, "game started without a partner")
            await p.press_keys_while_playing(["ArrowLeft", "ArrowRight"], frames_per_key=10)
            snap = await p.finish()
            return snap

    snap = asyncio.run(scenario())
    assert snap["p2p"]["path"]["kind"] == "local"
    assert snap["p2p"]["hosted"]["1"]["runs"] > 10 and snap["p2p"]["hosted"]["1"]["failed"] is None, snap["p2p"]["hosted"]
    folder = server.game_dir(snap["p2p"]["gameId"])
    wait_for_files([folder / "player-0.json", folder / "comparison.json"], 20, "the export and the report")
    export = read_json(folder / "player-0.json")
    assert export["ids"]["ai_seats"] == [seat] and export["settings"]["p2p"]["ai_seats"] == [seat], export["ids"]
    assert export["partial"] is False and len(rows_of(export)) == MAX_STEPS
    assert_model_choices(export, 1, 2)
    assert read_json(folder / "comparison.json")["agree"] is True


def test_two_participants_and_a_hosted_seat_in_a_three_seat_game(game_server, chromium_available, artifacts_dir, request,
                                                                 tmp_path):
    model = build_model(tmp_path)
    server = game_server({"num_players": 3, "max_steps": MAX_STEPS, "onnx_seats": {"1": str(model)}, "countdown_s": 0,
                          "ice_transport_policy": "relay"}, experiment=TUG)
    seat = {"player_index": 1, "agent_id": 1, "policy": str(model), "kind": "onnx", "host": 0}

    async def scenario() -> list[dict[str, Any]]:
        async with BrowserSession(request.node.nodeid, artifacts_dir) as session:
            pair = await start_pair(session, server, "trio")
            keys = (["ArrowLeft"], ["ArrowRight", "ArrowLeft"])
            await asyncio.gather(*(p.press_keys_while_playing(keys[i], frames_per_key=10) for i, p in enumerate(pair)))
            return list(await asyncio.gather(*(p.finish() for p in pair)))

    snaps = asyncio.run(scenario())
    (game_id,) = {s["p2p"]["gameId"] for s in snaps}
    by_index = {s["p2p"]["playerIndex"]: s for s in snaps}
    assert sorted(by_index) == [0, 2], "the participants take the human seats"
    assert by_index[0]["p2p"]["hosted"]["1"]["runs"] > 10, "player 0 hosts the seat"
    assert by_index[2]["p2p"]["hosted"] is None, "player 2 never runs the model"
    folder = server.game_dir(game_id)
    files = [folder / "player-0.json", folder / "player-2.json"]
    wait_for_files([*files, folder / "comparison.json"], 20, "both exports and the report")
    exports = [read_json(f) for f in files]
    for ex in exports:
        assert ex["ids"]["ai_seats"] == [seat] and len(ex["ids"]["peers"]) == 1, ex["ids"]
        assert ex["desyncs"] == [] and ex["partial"] is False and ex["stats"]["path"]["kind"] == "relay"
        delays = ex["episodes"][0]["input_delays"]
        assert delays[1] == delays[0], "the hosted seat runs with its host's input delay"
    assert rows_of(exports[0]) == rows_of(exports[1]), "the players' confirmed frames differ"
    report = read_json(folder / "comparison.json")
    assert report["agree"] is True and report["complete"] is True, report.get("divergence")
    assert_model_choices(exports[0], 1, 3)
