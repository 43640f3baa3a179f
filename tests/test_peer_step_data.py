"""Per-frame step data in the Python peer (twin of tests/js/session_step_data.test.mjs): the
rewards, flags and info of every confirmed frame come from the step that used the confirmed
inputs; under heavy impairment each record equals a straight replay of its confirmed actions."""

from __future__ import annotations

import json
from typing import Any

from interactive_gym_p2p.peer.record import EpisodeLog, StepResult
from interactive_gym_p2p.peer.sim import Game
from interactive_gym_p2p.peer.sim_envs import CounterEnv

from peer_checks import assert_agreement

LINK = {"delay_ms": 70, "jitter_ms": 40, "loss": 0.15, "duplicate": 0.05, "reorder": 0.1}


def replay_step_data(record: dict[str, Any], n: int) -> list[dict[str, Any]]:
    env = CounterEnv(n, 120, 260, report_steps=True)
    out = []
    for ep in record["episodes"]:
        env.reset(ep["seed"])
        log = EpisodeLog(ep["episode"], ep["seed"], ep["start_frame"], n, reports_rewards=True)
        ended = None
        for frame, actions, _ in ep["frames"]:
            res = env.step(actions)
            assert isinstance(res, StepResult)
            log.append(frame, actions, None, res)
            if res.done:
                ended = res.ended_by
        if ep["end_frame"] is not None:
            log.end_reason = ended or "max_steps"
        out.append(log.step_record())
    return out


def test_confirmed_step_data_equals_a_replay_of_the_confirmed_actions() -> None:
    seen: dict[tuple[int, int], set[str]] = {}

    def make_env(p: int) -> CounterEnv:
        env = CounterEnv(3, 120, 260, report_steps=True)
        step = env.step

        def spy(actions: Any) -> Any:
            res = step(actions)
            seen.setdefault((env.s["seed"], env.s["t"]), set()).add(json.dumps(res.rewards))
            return res

        env.step = spy  # type: ignore[method-assign]
        return env

    g = Game(num_players=3, seed=31, settings={"max_episodes": 3, "input_delay": 1}, link=LINK, make_env=make_env,
             input=lambda p, tick, prng, last, s: prng.int(5))
    g.run_to_end(600000)
    records = assert_agreement(g)
    assert sum(1 for v in seen.values() if len(v) > 1) > 20, "no predicted step produced other rewards"
    keys = ("rewards", "terminated", "truncated", "infos", "end_reason")
    for r in records:
        assert r["stats"]["rollbacks"] > 50
        got = [{k: e[k] for k in keys} for e in r["episodes"]]
        assert json.loads(json.dumps(got)) == json.loads(json.dumps(replay_step_data(r, 3)))
        assert all(len(e["rewards"]) > 5 and e["end_reason"] is not None for e in got)


def test_sparse_rows_and_integral_rewards_as_ints() -> None:
    log = EpisodeLog(0, 1, 10, 2, reports_rewards=True)
    log.append(10, [0, 0], None, StepResult(False, rewards=[0, -0.0], terminated=[False, False], info={"k": [1, 2]}))
    log.append(11, [0, 0], None, None)
    log.append(12, [0, 0], None, StepResult(False, rewards=[0, 1.5], terminated=[True, False], info={"k": [1, 2]}))
    log.append(13, [0, 0], None, StepResult(True, "truncated", rewards=[float("nan"), 2.0], truncated=[False, True],
                                             info={"k": [1, 3]}))
    rec = log.step_record()
    assert rec == {
        "rewards": [[12, [0, 1.5]], [13, [None, 2]]],
        "terminated": [[12, [True, False]]],
        "truncated": [[13, [False, True]]],
        "infos": [[10, {"k": [1, 2]}], [13, {"k": [1, 3]}]],
        "end_reason": None,
    }
    assert isinstance(rec["rewards"][1][1][1], int)
    assert EpisodeLog(0, 1, 0, 2).step_record()["rewards"] is None
