"""interactive_gym_p2p/peer/input_queue.py, mirroring tests/js/input_queue.test.mjs."""

from __future__ import annotations

import math

import pytest

from interactive_gym_p2p.peer.input_queue import NO_FRAME, InputQueue


def test_confirmed_inputs_come_in_frame_order_duplicates_ignored_gaps_refused():
    q = InputQueue(1, 0)
    assert q.add(0, 5) == "added"
    assert q.add(0, 6) == "duplicate"
    assert q.add(2, 7) == "gap"
    assert q.add(1, 7) == "added"
    assert q.last_confirmed_frame == 1
    assert (q.confirmed(0), q.confirmed(1)) == (5, 7)
    assert q.is_confirmed(1) and not q.is_confirmed(2)


def test_prediction_repeats_the_last_confirmed_input_default_before_any():
    q = InputQueue(0, 3)
    assert q.input_for(0) == 3
    q.add(0, 3)
    q.add(1, 4)
    assert q.input_for(5) == 4


def test_a_wrong_prediction_marks_the_first_incorrect_frame_a_right_one_does_not():
    q = InputQueue(0)
    q.add(0, 1)
    for f in range(1, 7):
        assert q.input_for(f) == 1
    assert q.add(1, 1) == "added"
    assert q.add(2, 1) == "added"
    assert q.first_incorrect_frame == NO_FRAME
    assert q.add(3, 2) == "mispredicted"
    assert q.add(4, 2) == "mispredicted"
    assert q.first_incorrect_frame == 3
    q.reset_incorrect()
    assert q.first_incorrect_frame == NO_FRAME
    assert q.mispredictions == 2


def test_discarded_predictions_are_not_compared_later():
    q = InputQueue(0)
    q.add(0, 1)
    for f in range(1, 5):
        q.input_for(f)
    q.discard_predictions_from(3, 4)
    q.add(1, 1)
    q.add(2, 1)
    assert q.add(3, 9) == "added"
    assert q.first_incorrect_frame == NO_FRAME


def test_default_from_a_frame_confirmed_forever_wrong_predictions_reported():
    q = InputQueue(2, 0)
    q.add(0, 4)
    q.add(1, 4)
    for f in range(2, 6):
        q.input_for(f)
    with pytest.raises(ValueError, match="must follow the last confirmed input"):
        q.set_default_from(4, 5)
    assert q.set_default_from(2, 5) == [2, 3, 4, 5]
    assert q.first_incorrect_frame == 2
    assert q.confirmed_up_to() == math.inf
    assert q.is_confirmed(1000) and q.confirmed(1000) == 0
    assert q.add(2, 7) == "ignored"


def test_the_ring_holds_a_long_game_without_growing():
    q = InputQueue(0, capacity=64)
    for f in range(10000):
        q.add(f, f % 7)
        assert q.confirmed(f) == f % 7
    assert len(q.actions) == 64
    with pytest.raises(IndexError, match="no longer stored"):
        q.confirmed(10)
    with pytest.raises(ValueError, match="power of two"):
        InputQueue(0, capacity=100)
