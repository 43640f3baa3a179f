"""interactive_gym_p2p/peer/sync.py, mirroring tests/js/sync.test.mjs."""

from __future__ import annotations

from interactive_gym_p2p.peer.input_queue import NO_FRAME
from interactive_gym_p2p.peer.sim_envs import CounterEnv
from interactive_gym_p2p.peer.sync import SyncLayer

BIG = 10**9


def reference(inputs: list[list[int]], seed: int) -> list[str]:
    """Frames simulated from scratch with the exact inputs: hash per frame."""
    env = CounterEnv(2, BIG, BIG)
    env.reset(seed)
    out = []
    for a in inputs:
        env.step(a)
        out.append(env.state_hash())
    return out


def test_prediction_then_rollback_to_the_first_wrong_frame_reproduces_the_exact_state():
    env = CounterEnv(2, BIG, BIG)
    sync = SyncLayer(env, 2)
    sync.start_episode(77, 0)
    p0 = [1, 1, 2, 2, 3, 3, 3, 0]
    p1 = [0, 0, 0, 4, 4, 4, 1, 1]
    for f in range(8):
        sync.add_input(0, f, p0[f])
    sync.add_input(1, 0, p1[0])
    sync.add_input(1, 1, p1[1])
    for _ in range(6):
        sync.advance_frame()
    assert sync.confirmed_frame() == 1
    assert sync.prediction_depth() == 4
    sync.add_input(1, 2, p1[2])  # predicted 0: right
    sync.add_input(1, 3, p1[3])  # predicted 0: wrong
    assert sync.first_incorrect_frame() == 3
    assert sync.rollback() == 3
    assert sync.current_frame == 6
    assert sync.stats.rollbacks == 1
    assert sync.stats.rollback_depth_histogram == {3: 1}
    for f in range(4, 8):
        sync.add_input(1, f, p1[f])
    sync.rollback()
    sync.advance_frame()
    sync.advance_frame()
    hashes = sync.collect_confirmed_hashes()
    ref = reference([[a, b] for a, b in zip(p0, p1)], 77)
    assert [f for f, _ in hashes] == list(range(8))
    assert [h for _, h in hashes] == ref
    assert env.state_hash() == ref[7], "current state restored after hashing from snapshots"


def test_hashes_are_computed_only_for_confirmed_frames_and_only_once():
    env = CounterEnv(2, BIG, BIG)
    sync = SyncLayer(env, 2, hash_interval=2)
    sync.start_episode(1, 0)
    for f in range(10):
        sync.add_input(0, f, 1)
    for f in range(3):
        sync.add_input(1, f, 2)
    for _ in range(6):
        sync.advance_frame()
    assert [f for f, _ in sync.collect_confirmed_hashes()] == [0, 2]
    assert sync.collect_confirmed_hashes() == []
    for f in range(3, 6):
        sync.add_input(1, f, 2)
    assert sync.first_incorrect_frame() == NO_FRAME, "predictions were right"
    assert [f for f, _ in sync.collect_confirmed_hashes()] == [4]


def test_a_terminal_frame_stops_the_simulation_and_max_steps_ends_an_episode():
    env = CounterEnv(2, BIG, 5)
    sync = SyncLayer(env, 2)
    sync.start_episode(3, 0)
    for f in range(10):
        sync.add_input(0, f, 0)
    done = False
    while not done:
        done = sync.advance_frame()
    assert sync.done_at == 4 and not sync.can_advance()
    s2 = SyncLayer(CounterEnv(2, BIG, BIG), 2, max_steps_per_episode=3)
    s2.start_episode(3, 10)
    assert [s2.advance_frame() for _ in range(3)] == [False, False, True]
    assert s2.done_at == 12


def test_an_earlier_terminal_found_by_rollback_truncates_the_simulation():
    # The episode ends when acc % 11 == 0 after min_steps: find inputs that end it at frame 3
    # only with the real input of player 1, so the predicted run goes past it.
    for real in range(1, 60):
        env = CounterEnv(2, 4, BIG)
        env.reset(5)
        ends = [env.step([0, 0 if f != 3 else real]) for f in range(4)]
        if ends[3]:
            break
    else:
        raise AssertionError("no terminal input found")
    env = CounterEnv(2, 4, BIG)
    sync = SyncLayer(env, 2)
    sync.start_episode(5, 0)
    for f in range(10):
        sync.add_input(0, f, 0)
    for f in range(3):
        sync.add_input(1, f, 0)
    ends = [sync.advance_frame() for _ in range(6)]
    assert not any(ends), "the predicted run (action 0) must pass frame 3"
    sync.add_input(1, 3, real)
    sync.rollback()
    assert sync.done_at == 3 and sync.current_frame == 4
    assert 4 not in sync.snapshots


def test_truncate_after_drops_predicted_frames_and_restores_the_state():
    env = CounterEnv(2, BIG, BIG)
    sync = SyncLayer(env, 2)
    sync.start_episode(9, 0)
    for f in range(6):
        sync.add_input(0, f, 1)
    for f in range(3):
        sync.add_input(1, f, 1)
    for _ in range(6):
        sync.advance_frame()
    hashes = sync.collect_confirmed_hashes()
    sync.truncate_after(2)
    assert sync.current_frame == 3
    assert env.state_hash() == hashes[2][1]
    assert 3 not in sync.snapshots


def test_canonical_state_at_gives_a_past_state_and_restores_the_current_one():
    env = CounterEnv(2, BIG, BIG)
    sync = SyncLayer(env, 2)
    sync.start_episode(5, 0)
    for f in range(4):
        sync.add_input(0, f, f)
        sync.add_input(1, f, 1)
        sync.advance_frame()
    cur = env.state_hash()
    assert sync.canonical_state_at(1)["t"] == 2
    assert env.state_hash() == cur
    assert sync.canonical_state_at(99) is None


def test_prune_keeps_the_rollback_base_and_unverified_frames_within_the_cap():
    sync = SyncLayer(CounterEnv(2, BIG, BIG), 2)
    sync.start_episode(5, 0)
    for f in range(100):
        sync.add_input(0, f, 1)
        if f < 90:
            sync.add_input(1, f, 1)
        sync.advance_frame()
    sync.prune(50, 1000)
    assert min(sync.snapshots) == 50
    sync.prune(50, 10)
    assert min(sync.snapshots) == 79
    sync.prune(95, 1000)
    assert min(sync.snapshots) == 89, "never past the last confirmed frame"
