"""on_game_step_code runs inside the simulated step (Python twin of env_pyodide.js's glue):
a rollback re-runs it, the state hash covers what it does, and peers over impaired links
still agree frame for frame (tests/js/env_pyodide.test.mjs checks the browser's adapter and
that both give the same hashes)."""

from __future__ import annotations

from interactive_gym_p2p.peer.env import InteractiveGymEnvAdapter
from interactive_gym_p2p.peer.sim import Game

from peer_checks import assert_agreement

ENV_CODE = '''
class Weighted:
    possible_agents = [0, 1]

    def __init__(self, steps=90):
        self.steps = steps

    def reset(self, seed=None):
        self.t = 0
        self.score = 0
        self.weights = [1, 1]
        self.calls = 0

    def step(self, actions):
        self.t += 1
        self.score += self.weights[0] * actions[0] + self.weights[1] * actions[1]
        done = self.t >= self.steps
        return {}, {}, {"__all__": done}, {"__all__": False}, {}

    def get_state(self):
        return {"t": self.t, "score": self.score, "weights": list(self.weights), "calls": self.calls}

    def set_state(self, s):
        self.t, self.score, self.weights, self.calls = s["t"], s["score"], list(s["weights"]), s["calls"]


env = Weighted()
ODD_WEIGHT = 3
'''
STEP_CODE = "env.weights[1] = ODD_WEIGHT if env.t % 2 else 1\nenv.calls += 1\n"
IMPAIRED = {"delay_ms": 60, "jitter_ms": 20, "loss": 0.1, "duplicate": 0.02, "reorder": 0.05}


def _play(step_code: str | None) -> Game:
    g = Game(
        num_players=2, seed=1919,
        make_env=lambda p: InteractiveGymEnvAdapter.from_code(ENV_CODE, 2, on_game_step_code=step_code),
        settings={"fps": 30, "max_episodes": 3}, link=IMPAIRED,
    )
    g.run_to_end(10 * 60 * 1000)
    return g


def test_step_code_under_impairment_with_rollbacks_exports_agree() -> None:
    g = _play(STEP_CODE)
    records = assert_agreement(g, label="[on_game_step_code]")
    assert all(r["stats"]["rollbacks"] > 0 and r["stats"]["mispredicted_frames"] > 0 for r in records)
    # Run once per simulated frame, re-runs included, and rolled back with the state: every
    # peer's env ends with one call per step of the last episode (not one per simulation).
    for env in g.envs:
        state = env.env.get_state()
        assert state["calls"] == state["t"] == 90
    assert sum(r["stats"]["frames_simulated"] for r in records) > 2 * 270  # re-simulations happened


def test_ignoring_the_step_code_would_change_every_hash() -> None:
    with_code = _play(STEP_CODE).sessions[0].record()
    without = _play(None).sessions[0].record()
    rows_with = [row for e in with_code["episodes"] for row in e["frames"]]
    rows_without = [row for e in without["episodes"] for row in e["frames"]]
    assert [r[1] for r in rows_with] == [r[1] for r in rows_without]  # same inputs (same seeds)
    assert [r[2] for r in rows_with] != [r[2] for r in rows_without]


def test_step_code_sees_the_env_module_namespace() -> None:
    env = InteractiveGymEnvAdapter.from_code(ENV_CODE, 2, on_game_step_code="env.score += ODD_WEIGHT * 100\n")
    env.reset(1)
    env.step([0, 0])
    assert env.env.get_state()["score"] == 300


def test_offline_replay_runs_the_step_code_too() -> None:
    from interactive_gym_p2p.validation.replay import replay_export

    record = _play(STEP_CODE).sessions[0].record()
    doc = {"ids": {"peers": [{"player_index": 1}]}, "episodes": record["episodes"]}

    def make_env():
        return InteractiveGymEnvAdapter.from_code(ENV_CODE, 2).env

    assert replay_export(doc, make_env, on_game_step_code=STEP_CODE).ok
    assert replay_export(doc, make_env).mismatch is not None
