"""A tiny ONNX policy for Tug's hosted-seat tests (built with the `onnx` package) and the check
that a hosted seat's recorded actions are that model's choices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interactive_gym_p2p.examples import tug
from interactive_gym_p2p.validation.replay import replay_export

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


def assert_replays(export: dict[str, Any], num_players: int, max_steps: int) -> None:
    """CPython replays the export's rows and reproduces every frame's hash."""
    result = replay_export(export, lambda: tug.TugEnv(num_players=num_players, max_steps=max_steps))
    assert result.ok and result.hashes_checked == max_steps, (result.problems, result.mismatch)


def model_choice(x: float) -> int:
    """The tiny model's action for a marker at x (argmax of [0, x - 240, 240 - x], lowest on ties)."""
    return 1 if x > MIDDLE else 2 if x < MIDDLE else 0


def assert_model_choices(export: dict[str, Any], seat: int, num_players: int, max_steps: int,
                         decisions: list[Any]) -> None:
    """The hosted seat's recorded actions are the model's choices, checked against the host's
    decision log (browser or Python host): the host may have seen a predicted state the confirmed
    frames never had, and a browser host's inference lag is wall time, so no frame bound holds.
    Every logged decision is the model's choice for the observation it was given, and the seat's
    actions, run by run, follow the decisions in order. The replay checks the rows' hashes."""
    assert_replays(export, num_players, max_steps)
    column = [r[1][seat] for r in rows_of(export)]
    assert set(column) <= {0, 1, 2} and {1, 2} & set(column), f"the model never acted: {sorted(set(column))}"
    first = next(i for i, a in enumerate(column) if a != 0)
    assert len(decisions) > 10, f"too few decisions logged: {len(decisions)}"
    for obs, action in decisions:
        assert action == model_choice(obs[0]), f"observation {obs}: the host chose {action}"
    runs = [a for i, a in enumerate(column[first:]) if i == 0 or a != column[first + i - 1]]
    chosen = iter(a for _obs, a in decisions)
    assert all(any(a == c for c in chosen) for a in runs), (
        f"the seat's actions {runs} do not follow the host's decisions {[a for _o, a in decisions]}")
