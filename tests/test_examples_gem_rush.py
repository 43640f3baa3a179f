"""The demo game's environment (examples/gem_rush.py) in CPython: deterministic, rollback-safe
state, episode length, and render output that Interactive Gym's object contexts accept."""

from __future__ import annotations

import json
import random

import pytest
from interactive_gym.configurations import object_contexts

from interactive_gym_p2p.examples import gem_rush
from interactive_gym_p2p.examples.gem_rush import GemRushEnv
from interactive_gym_p2p.hashing import state_hash


def play(env: GemRushEnv, seed: int, frames: int, script_seed: int = 1) -> list[str]:
    env.reset(seed=seed)
    rng = random.Random(script_seed)
    hashes = []
    for _ in range(frames):
        env.step({0: rng.randrange(9), 1: rng.randrange(9)})
        hashes.append(state_hash(env.get_state()))
    return hashes


def test_same_seed_same_game_other_seed_other_game():
    assert play(GemRushEnv(), 5, 200) == play(GemRushEnv(), 5, 200)
    assert play(GemRushEnv(), 5, 200) != play(GemRushEnv(), 6, 200)


def test_set_state_restores_everything_including_the_random_stream():
    env = GemRushEnv()
    env.reset(seed=9)
    rng = random.Random(3)
    script = [{0: rng.randrange(9), 1: rng.randrange(9)} for _ in range(400)]
    for a in script[:100]:
        env.step(a)
    snap = json.loads(json.dumps(env.get_state()))  # through JSON, as a peer would see it
    after = []
    for a in script[100:]:
        env.step(a)
        after.append(state_hash(env.get_state()))
    other = GemRushEnv()
    other.set_state(snap)
    again = []
    for a in script[100:]:
        other.step(a)
        again.append(state_hash(other.get_state()))
    assert again == after


def test_get_state_does_not_alias_internal_lists():
    env = GemRushEnv()
    env.reset(seed=1)
    state = env.get_state()
    before = json.dumps(state, sort_keys=True)
    for _ in range(30):
        env.step({0: gem_rush.RIGHT, 1: gem_rush.LEFT})
    assert json.dumps(state, sort_keys=True) == before
    env.set_state(state)
    env.step({0: gem_rush.UP, 1: gem_rush.UP})
    assert json.dumps(state, sort_keys=True) == before


def test_state_is_integers_only():
    env = GemRushEnv()
    env.reset(seed=77)
    for _ in range(50):
        env.step({0: gem_rush.DOWN_RIGHT, 1: gem_rush.UP_LEFT})

    def walk(v):
        if isinstance(v, dict):
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        else:
            assert type(v) is int, v

    walk(env.get_state())


def test_episode_ends_exactly_at_max_steps_with_gymnasium_tuples():
    env = GemRushEnv(max_steps=10)
    obs, infos = env.reset(seed=0)
    assert set(obs) == {0, 1} and set(infos) == {0, 1}
    for t in range(10):
        obs, rewards, terminateds, truncateds, infos = env.step({0: 0, 1: 0})
        assert set(rewards) == {0, 1}
        assert truncateds["__all__"] is (t == 9)
        assert terminateds["__all__"] is False


def test_collecting_a_gem_scores_and_respawns():
    env = GemRushEnv()
    env.reset(seed=4)
    state = env.get_state()
    gx, gy, value = state["gems"][0]
    state["players"][0][:2] = [gx, gy]  # put player 0 on the gem
    env.set_state(state)
    _, rewards, *_ = env.step({0: 0, 1: 0})
    assert rewards[0] == value
    assert env.get_state()["players"][0][2] == value
    assert len(env.get_state()["gems"]) == gem_rush.MAX_GEMS


def test_unknown_actions_do_not_crash():
    env = GemRushEnv()
    env.reset(seed=2)
    env.step({0: 99, 1: -5})
    env.step({0: "x"})


@pytest.mark.parametrize("seed", [0, 123456])
def test_render_objects_are_interactive_gym_object_contexts(seed):
    env = GemRushEnv()
    env.reset(seed=seed)
    env.step({0: 1, 1: 2})
    classes = {"circle": object_contexts.Circle, "text": object_contexts.Text,
               "line": object_contexts.Line, "polygon": object_contexts.Polygon}
    objs = env.render()
    assert objs
    for obj in objs:
        cls = classes[obj["object_type"]]
        assert cls(**obj).as_dict() == obj  # exactly the dataclass's fields
    json.dumps(objs)


def test_environment_initialization_code_defines_env():
    ns: dict = {}
    exec(compile(gem_rush.environment_initialization_code(max_steps=42), "<init>", "exec"), ns)
    assert isinstance(ns["env"], object) and ns["env"].max_steps == 42
