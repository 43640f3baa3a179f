"""interactive_gym_p2p/peer/desync.py and disconnect.py, mirroring tests/js/desync.test.mjs
and tests/js/disconnect.test.mjs."""

from __future__ import annotations

from interactive_gym_p2p.peer.desync import MAX_ANSWERS_PER_FRAME, DesyncDetector
from interactive_gym_p2p.peer.disconnect import DisconnectAgreement


def H(n: int) -> str:
    return f"{n:016x}"


def mk(**kw) -> DesyncDetector:
    o = dict(peers=[1, 2], hash_interval=1, pending_hash_limit=16, hash_resend_ms=500)
    o.update(kw)
    return DesyncDetector(**o)


def test_matching_hashes_from_every_peer_advance_the_verified_frame_in_order():
    d = mk()
    for f in range(5):
        d.add_local(f, H(f), 0, 0)
    assert d.verified_frame() == -1
    for f in (0, 1, 3):
        d.add_remote(1, f, H(f), 10)
    for f in range(5):
        d.add_remote(2, f, H(f), 10)
    assert d.verified_frame() == 1, "peer 1 lacks frame 2"
    d.add_remote(1, 2, H(2), 20)
    assert d.verified_frame() == 3


def test_early_peer_hashes_are_buffered_bounded_and_compared_when_we_hash_the_frame():
    d = mk(pending_hash_limit=3)
    for f in range(5):
        d.add_remote(1, f, H(f), 0)
    assert d.stats.hashes_dropped == 2 and d.pending[1] == 3
    assert d.add_local(0, H(0), 0, 1) == []
    assert d.pending[1] == 2 and d.verified_through[1] == 0


def test_a_mismatch_is_reported_at_its_frame_later_frames_compared_verified_stops_before():
    d = mk()
    found = []
    for f in range(6):
        found += d.add_local(f, H(f), 0, 0)
        found += d.add_remote(1, f, H(f + 100) if f >= 3 else H(f), 0)[0]
        found += d.add_remote(2, f, H(f), 0)[0]
    assert [m["frame"] for m in found] == [3, 4, 5]
    assert found[0] == {"frame": 3, "episode": 0, "local_hash": H(3), "peer_hash": H(103), "peer_index": 1}
    assert d.stats.mismatches == 3 and d.first_mismatch_frame == 3
    assert d.verified_frame() == 2
    assert d.compared_through[1] == 5


def test_hash_interval_only_multiples_are_expected():
    d = DesyncDetector([1], 3, 16, 500)
    for f in (0, 3, 6):
        d.add_local(f, H(f), 0, 0)
        d.add_remote(1, f, H(f), 0)
    assert d.verified_frame() == 6


def test_a_peer_that_left_stops_counting():
    d = mk()
    d.add_local(0, H(0), 0, 0)
    d.add_remote(1, 0, H(0), 0)
    assert d.verified_frame() == -1
    d.deactivate(2)
    assert d.verified_frame() == 0


def test_lost_hash_recovery_requests_answers_to_late_duplicates_only_capped():
    d = mk()
    d.add_local(0, H(0), 0, 0)
    d.add_local(1, H(1), 0, 0)
    d.add_remote(1, 0, H(0), 10)
    d.add_remote(2, 0, H(0), 10)
    d.add_remote(2, 1, H(1), 10)
    assert d.requests_due(100, 50) == []
    assert d.requests_due(600, 50) == [(1, 1, H(1))]
    assert d.requests_due(700, 50) == [], "not again before the interval"
    assert len(d.requests_due(1100, 50)) == 1
    assert len(d.requests_due(1200, 50, 4, 100)) == 1, "interval override (after the game)"
    assert d.add_remote(2, 1, H(1), 20)[1] is False, "a network duplicate is not answered"
    assert d.add_remote(2, 1, H(1), 600)[1] is True, "a repeat long after is a request"
    assert d.add_remote(2, 1, H(1), 700)[1] is False
    answers = 1 + sum(1 for t in range(1000, 100000, 300) if d.add_remote(2, 1, H(1), t)[1])
    assert answers == MAX_ANSWERS_PER_FRAME


def test_prune_keeps_what_verification_and_answers_need():
    d = mk()
    for f in range(100):
        d.add_local(f, H(f), 0, 0)
        d.add_remote(1, f, H(f), 0)
        if f < 50:
            d.add_remote(2, f, H(f), 0)
    d.prune(10)
    assert min(d.local) == 50, "peer 2 still needs frames after 49"
    d.deactivate(2)
    d.prune(10)
    assert min(d.local) == 90
    assert len(d.remote[1]) <= 10


def test_disconnect_decides_d_only_when_every_remaining_peer_announced_our_k():
    a = DisconnectAgreement(3)
    assert a.try_decide([1, 2], 10) is None
    a.announce(1, 10)
    assert a.try_decide([1, 2], 10) is None
    a.announce(2, 12)
    assert a.try_decide([1, 2], 10) is None, "peer 2 knows more: merge its relay first"
    assert a.try_decide([1, 2], 12) is None, "peer 1 has not announced 12 yet"
    a.announce(1, 12)
    a.announce(1, 11)  # a late, smaller announcement never moves it back
    assert a.try_decide([1, 2], 12) == 13
    assert a.try_decide([1, 2], 99) == 13, "decided once"
    assert DisconnectAgreement(1).try_decide([], 5) == 6, "alone: at once"


def test_disconnect_relay_resend_rule():
    a = DisconnectAgreement(2)
    assert a.relay_due(1, 0, 5, 100, -1)
    a.note_relay(1, 0, 5)
    assert not a.relay_due(1, 50, 5, 100, -1)
    assert a.relay_due(1, 50, 6, 100, -1), "knowledge grew"
    assert a.relay_due(1, 100, 5, 100, -1)
    a.try_decide([], 5)
    assert a.relay_due(1, 200, 5, 100, 5)
    assert not a.relay_due(1, 200, 5, 100, 6), "the peer confirmed a frame >= D: it decided"
