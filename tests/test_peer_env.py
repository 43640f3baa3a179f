"""interactive_gym_p2p/peer/env.py: an Interactive Gym environment_initialization_code run in
CPython behind contract B's adapter, the twin of static/js/env_pyodide.js. The demo game played
through both adapters (CPython here, Pyodide in node) gives the same hash sequence over a long
scripted run with episodes and rollback probes, and the adapter plays a networked game."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from interactive_gym_p2p.examples import gem_rush
from interactive_gym_p2p.hashing import state_hash
from interactive_gym_p2p.peer.env import InteractiveGymEnvAdapter, episode_over
from interactive_gym_p2p.peer.prng import Prng
from interactive_gym_p2p.peer.session import episode_seed
from interactive_gym_p2p.peer.sim import Game

from peer_checks import assert_agreement
from peer_js_bridge import ROOT, node_path

ALIASING_ENV = '''
class Env:
    possible_agents = ["a", "b"]
    def reset(self, seed=None, options=None):
        self.s = {"t": 0, "xs": [seed % 7, 0], "g": interactive_gym_globals.get("bonus", 0)}
        return {}, {}
    def step(self, actions):
        self.s["t"] += 1
        self.s["xs"][0] += actions["a"]
        self.s["xs"][1] += actions["b"] * 2 + 0.1
        done = self.s["t"] >= 3
        return {}, {}, {"a": done, "b": done}, {"__all__": False}, {}
    def get_state(self):
        return self.s  # aliases the live state on purpose: the adapter must copy
    def set_state(self, s):
        self.s = s
env = Env()
'''


def test_from_code_runs_the_code_as_a_module_with_interactive_gym_conventions():
    a = InteractiveGymEnvAdapter.from_code(ALIASING_ENV, 2, interactive_gym_globals={"bonus": 5})
    try:
        assert a.num_players == 2 and a.agent_ids == ["a", "b"]
        assert a.module_name in sys.modules
        a.reset(9)
        snap = a.save()
        assert [a.step([1, 2]).done for _ in range(3)] == [False, False, True], "done when every agent terminated"
        assert snap == {"t": 0, "xs": [2, 0], "g": 5}, "a snapshot is not aliased by later steps"
        after = a.state_hash()
        a.load(snap)
        assert a.state_hash() == state_hash({"t": 0, "xs": [2, 0], "g": 5})
        for _ in range(3):
            a.step([1, 2])
        assert a.state_hash() == after, "re-simulation from the snapshot is exact"
        a.load(snap)
        a.step([1, 2])
        assert snap["t"] == 0, "load() does not hand the snapshot itself to the env"
        assert a.canonical_state() == {"g": 5, "t": 1, "xs": [3, 4.1]}
        a.step([True, "x"])  # type: ignore[list-item]  # not actions: the default action
        assert a.canonical_state()["xs"][0] == 3
    finally:
        a.close()
    assert a.module_name not in sys.modules


def test_from_code_errors_are_clear():
    with pytest.raises(RuntimeError, match="must define a variable named 'env'"):
        InteractiveGymEnvAdapter.from_code("x = 1", 2)
    with pytest.raises(TypeError, match="get_state"):
        InteractiveGymEnvAdapter.from_code("class E:\n    def reset(self, seed=None): pass\n    def step(self, a): pass\nenv = E()", 2)
    with pytest.raises(ValueError, match="2 agent ids"):
        InteractiveGymEnvAdapter.from_code(ALIASING_ENV, 3)
    with pytest.raises(ValueError, match="u32"):
        InteractiveGymEnvAdapter.from_code(ALIASING_ENV, 2).reset(-1)
    assert InteractiveGymEnvAdapter.from_code(ALIASING_ENV, 1, agent_ids=["b"]).agent_ids == ["b"]
    with pytest.raises(ZeroDivisionError):
        InteractiveGymEnvAdapter.from_code("env = 1 / 0", 2)


def test_episode_over_follows_all_then_every_agent():
    assert episode_over({"__all__": True, 0: False}, [0]) is True
    assert episode_over({0: True, 1: False}, [0, 1]) is False
    assert episode_over({0: True, 1: True}, [0, 1]) is True
    assert episode_over({}, []) is False
    assert episode_over(True, [0]) is True


def cpython_run(cfg: dict) -> dict:
    """The script of tests/js/support/pyodide_hashes.mjs, through the CPython adapter."""
    code = gem_rush.environment_initialization_code(max_steps=cfg["maxSteps"])
    env = InteractiveGymEnvAdapter.from_code(code, 2)
    prng = Prng(cfg["inputSeed"])
    hashes, ends, frame = [], [], 0
    try:
        for e in range(cfg["episodes"]):
            env.reset(episode_seed(cfg["sharedSeed"], e))
            while True:
                if cfg["probeEvery"] and frame % cfg["probeEvery"] == 0:
                    snap = env.save()
                    for _ in range(cfg["probeDepth"]):
                        env.step([prng.int(9), prng.int(9)])
                    env.load(snap)
                done = env.step([prng.int(9), prng.int(9)]).done
                hashes.append(env.state_hash())
                frame += 1
                if done:
                    break
            ends.append(frame - 1)
    finally:
        env.close()
    return {"hashes": hashes, "ends": ends}


def test_cpython_and_pyodide_play_the_demo_game_to_the_same_hashes_over_three_episodes():
    cfg = {"sharedSeed": 3141592653, "inputSeed": 99, "episodes": 3, "maxSteps": 1350, "probeEvery": 50,
           "probeDepth": 8}
    out = subprocess.run([node_path(), "tests/js/support/pyodide_hashes.mjs", json.dumps(cfg)], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"Pyodide run failed (node_modules/pyodide is required): {out.stderr[-3000:]}"
    pyodide = json.loads(out.stdout)
    assert pyodide["python"].startswith("3.14"), pyodide["python"]
    cpython = cpython_run(cfg)
    assert len(cpython["hashes"]) == 3 * 1350
    assert pyodide["ends"] == cpython["ends"] == [1349, 2699, 4049]
    first = next((i for i, (a, b) in enumerate(zip(pyodide["hashes"], cpython["hashes"])) if a != b), None)
    assert first is None, f"first differing frame {first}"
    assert pyodide["hashes"] == cpython["hashes"]
    assert len(set(cpython["hashes"])) > 4000, "the game actually changes state"


def test_the_demo_game_through_the_adapter_plays_a_networked_game_in_agreement():
    code = gem_rush.environment_initialization_code(max_steps=200)

    def inp(p, tick, prng, last, s):
        if prng.float() < 0.2:
            last[p] = prng.int(9)
        return last.get(p, 0)

    g = Game(num_players=2, seed=5, make_env=lambda p: InteractiveGymEnvAdapter.from_code(code, 2),
             settings={"max_episodes": 2, "fps": 30}, link={"delay_ms": 80, "jitter_ms": 20, "loss": 0.1},
             input=inp)
    try:
        g.run_to_end(600000)
        records = assert_agreement(g)
        assert [(e["start_frame"], e["end_frame"]) for e in records[0]["episodes"]] == [(0, 199), (200, 399)]
        assert records[0]["stats"]["rollbacks"] > 0
    finally:
        for env in g.envs:
            env.close()
