"""interactive_gym_p2p/peer/endpoint.py, mirroring tests/js/endpoint.test.mjs."""

from __future__ import annotations

from interactive_gym_p2p.peer.endpoint import Endpoint, PeerState
from interactive_gym_p2p.peer.input_queue import InputQueue
from interactive_gym_p2p.peer.settings import make_settings
from interactive_gym_p2p.protocol import Input

SETTINGS = make_settings({})


def test_silence_interrupted_then_disconnected_resumed_on_a_message():
    ep = Endpoint(1, SETTINGS, 0)
    assert ep.check_silence(4000) is None, "never heard from: no interrupted"
    assert ep.check_silence(5000) == "disconnected", "never heard from: timeout from start"
    ep2 = Endpoint(1, SETTINGS, 0)
    ep2.on_message(100, False)
    assert ep2.state == PeerState.RUNNING
    assert ep2.check_silence(849) is None
    assert ep2.check_silence(850) == "interrupted"
    assert ep2.check_silence(900) is None, "reported once"
    assert ep2.on_message(1000, False) == "resumed"
    assert ep2.check_silence(5999) == "interrupted"
    assert ep2.check_silence(6000) == "disconnected"


def test_handshake_timeout_for_a_peer_never_heard_from_then_the_disconnect_timeout():
    long = make_settings({"handshake_timeout_ms": 20000})
    ep = Endpoint(1, long, 0)
    assert ep.check_silence(5000) is None, "not yet: the first-contact wait is longer"
    assert ep.check_silence(19999) is None
    assert ep.check_silence(20000) == "disconnected"
    ep2 = Endpoint(1, long, 0)
    ep2.on_message(100, False)
    assert ep2.check_silence(5099) == "interrupted"
    assert ep2.check_silence(5100) == "disconnected", "heard from: the usual silence timeout"


def test_hello_proof_only_a_non_hello_message_proves_the_peer_has_ours():
    ep = Endpoint(1, SETTINGS, 0)
    assert ep.hello_due(0)
    ep.last_hello_sent = 0
    assert not ep.hello_due(100) and ep.hello_due(200)
    ep.on_message(10, True)
    assert ep.hello_due(400)
    ep.on_message(20, False)
    assert not ep.hello_due(400)


def test_input_carries_every_unacked_input_at_least_k_at_most_128_from_ack_plus_one():
    ep = Endpoint(1, SETTINGS, 0)
    q = InputQueue(0)
    for f in range(10):
        q.add(f, f)
    m = ep.build_input(0, q, -1, 5)
    assert (m.start, len(m.actions), m.ack, m.player) == (0, 10, None, 0)
    ep.on_ack(7)
    ep.on_ack(3)  # a late smaller ack never moves it back
    m = ep.build_input(0, q, 4, 5)
    assert (m.start, m.actions, m.ack) == (5, (5, 6, 7, 8, 9), 4), "last K even though acked up to 7"
    for f in range(10, 300):
        q.add(f, f % 100)
    m = ep.build_input(0, q, 4, 5)
    assert m.start == 8 and len(m.actions) == 128
    ep.note_input_sent(0, m)
    assert ep.last_sent_through == 135


def test_input_due_new_input_unacked_input_or_a_changed_ack():
    ep = Endpoint(1, SETTINGS, 0)
    assert not ep.input_due(-1, -1)
    assert ep.input_due(3, -1)
    ep.note_input_sent(0, Input(0, None, 0, (0, 0, 0, 0)))
    assert ep.input_due(3, -1), "not acked yet"
    ep.on_ack(3)
    assert not ep.input_due(3, -1)
    assert ep.input_due(3, 0), "our ack changed"


def test_rtt_samples_from_pong_absurd_echoes_ignored():
    ep = Endpoint(1, SETTINGS, 0)
    assert ep.on_pong(150, 100) == 50
    assert ep.on_pong(150, 200) is None
    assert ep.rtt_samples() == [50]
    assert ep.local_advantage(10) is None
    ep.on_remote_inputs(7)
    assert ep.local_advantage(10) == 3
