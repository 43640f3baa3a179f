"""step_outcome.py (shared by the Python peer, the offline replay and the browser's Pyodide
adapter) against tests/vectors/step_outcomes.json, and the Python adapter's StepResult."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from interactive_gym_p2p.peer.env import InteractiveGymEnvAdapter
from interactive_gym_p2p.step_outcome import encode_outcome, json_value, player_rewards, step_outcome

VECTORS = json.loads((Path(__file__).parent / "vectors" / "step_outcomes.json").read_text())["cases"]


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_vectors(case: dict) -> None:
    out = step_outcome(*case["step"], case["agent_ids"], case["record_info"])
    assert out == case["expected"]
    assert (encode_outcome(out) is False) == case["encoded_false"]
    if not case["encoded_false"]:
        assert json.loads(encode_outcome(out)) == case["expected"]


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_python_adapter_reports_the_same(case: dict) -> None:
    class Env:
        possible_agents = case["agent_ids"]

        def reset(self, seed=None): ...
        def get_state(self): return {}
        def set_state(self, s): ...
        def step(self, actions): return (None, *case["step"])

    a = InteractiveGymEnvAdapter(Env(), len(case["agent_ids"]), record_info=case["record_info"])
    r = a.step([0] * len(case["agent_ids"]))
    e = case["expected"]
    assert (r.done, r.ended_by, list(r.rewards), list(r.terminated), list(r.truncated), dict(r.info or {})) == \
        (e["done"], e["ended_by"], e["rewards"], e["terminated"], e["truncated"], e["info"])


def test_values_that_json_cannot_hold() -> None:
    assert player_rewards({"a": math.nan, "b": math.inf}, ["a", "b"]) == [None, None]
    assert json_value({1: (1.5, math.nan), "s": {2, 3} and "set"}) == {"1": [1.5, None], "s": "set"}
    assert json_value(object.__new__(type("Thing", (), {"__str__": lambda self: "thing"}))) == "thing"
    assert json_value(2**60) == str(2**60)
