"""Action sources of the Python peer (peer/actions.py)."""

from __future__ import annotations

import pytest

from interactive_gym_p2p.peer.actions import (
    ActionContext, ActionError, PolicyActions, RandomActions, ScriptedActions, parse_action_source, scene_actions,
)


def ctx(tick: int, state: object = None) -> ActionContext:
    return ActionContext(tick=tick, frame=tick + 2, episode=0, player_index=1, observe=lambda: state)


def test_scripted_then_default_or_cycle() -> None:
    s = ScriptedActions([3, -1, 7], default=5)
    assert [s.next_action(ctx(t)) for t in range(5)] == [3, -1, 7, 5, 5]
    c = ScriptedActions([1, 2], cycle=True)
    assert [c.next_action(ctx(t)) for t in range(5)] == [1, 2, 1, 2, 1]
    with pytest.raises(ActionError, match=r"sequence\[1\]"):
        ScriptedActions([0, 2**31])
    with pytest.raises(ActionError):
        ScriptedActions([], cycle=True)


def test_random_is_seeded_in_range_and_held() -> None:
    a = [RandomActions(seed=42, n_actions=9).next_action(ctx(t)) for t in range(1)]
    r1, r2 = RandomActions(seed=42, n_actions=9), RandomActions(seed=42, n_actions=9)
    seq1 = [r1.next_action(ctx(t)) for t in range(300)]
    seq2 = [r2.next_action(ctx(t)) for t in range(300)]
    assert seq1 == seq2 and seq1[0] == a[0]
    assert set(seq1) == set(range(9))  # 300 uniform draws over 9 values cover all of them
    other = RandomActions(seed=43, n_actions=9)
    assert [other.next_action(ctx(t)) for t in range(300)] != seq1
    held = RandomActions(seed=1, n_actions=9, hold=4)
    seq = [held.next_action(ctx(t)) for t in range(40)]
    assert all(len(set(seq[i:i + 4])) == 1 for i in range(0, 40, 4))
    for bad in ({"n_actions": 0}, {"n_actions": True}, {"hold": 0}):
        with pytest.raises(ActionError):
            RandomActions(**{"seed": 1, "n_actions": 3, **bad})  # type: ignore[arg-type]


def test_policy_sees_the_observation_and_is_checked() -> None:
    seen = []
    p = PolicyActions(lambda obs: (seen.append(obs), obs["t"] % 3)[1])
    assert [p.next_action(ctx(t, {"t": t})) for t in range(4)] == [0, 1, 2, 0]
    assert seen == [{"t": 0}, {"t": 1}, {"t": 2}, {"t": 3}]
    custom = PolicyActions(lambda frame: frame, observe=lambda c: c.frame)
    assert custom.next_action(ctx(5)) == 7
    with pytest.raises(ActionError, match="PolicyActions"):
        PolicyActions(lambda obs: "up").next_action(ctx(0))


def test_parse_action_source() -> None:
    r = parse_action_source("random", seed=1, choices=[-1, 5, 9], hold=1)
    assert isinstance(r, RandomActions) and {r.next_action(ctx(t)) for t in range(100)} == {-1, 5, 9}
    assert parse_action_source("noop", seed=1, choices=[0]).next_action(ctx(0)) == 0
    s = parse_action_source("script:1,2", seed=0, choices=[0])
    assert [s.next_action(ctx(t)) for t in range(3)] == [1, 2, 1]
    with pytest.raises(ActionError):
        parse_action_source("keyboard", seed=0, choices=[0])
    scene = {"p2p": {"gameplay": {"action_mapping": {"ArrowUp": 1, "w": 1, "ArrowLeft": 3}, "default_action": 0}}}
    assert scene_actions(scene) == [0, 1, 3]
