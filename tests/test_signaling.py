"""Signaling logic without sockets: tickets, limits, message parsing, matchmaking decisions.

A recording transport and a hand-moved clock stand in for Socket.IO and time inside these
unit tests; the same logic runs behind real sockets in test_signaling_socketio.py.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from interactive_gym_p2p.scene_settings import SignalingRules
from interactive_gym_p2p.signaling import Signaling, SignalingTickets, Slot, TicketError
from interactive_gym_p2p.signaling.limits import Rate, SignalingLimits, TokenBucket
from interactive_gym_p2p.signaling.messages import GameRef, Refusal, Relay, Signal, parse_relay, parse_signal
from interactive_gym_p2p.validation.tokens import UploadTokens

from server_harness import make_scene
from store_backends import new_store, signaling_store  # noqa: F401  (every test runs on both stores)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Wire:
    """Records what signaling emits, per socket."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, str]] = []

    def emit(self, event: str, payload: Any, sid: str) -> None:
        self.sent.append((event, payload, sid))

    def to(self, sid: str, event: str | None = None) -> list[Any]:
        return [p for e, p, s in self.sent if s == sid and (event is None or e == event)]


def rules(scene_id: str = "game", players: int = 2, **p2p: Any) -> SignalingRules:
    return make_scene(scene_id, players, **p2p).signaling_rules()


def make(*scene_rules: SignalingRules, **kw: Any) -> tuple[Signaling, Wire, Clock]:
    wire, clock = Wire(), Clock()
    tokens = UploadTokens(b"k" * 32)
    signaling = Signaling(
        {r.scene_id: r for r in scene_rules}, store=new_store(), transport=wire, clock=clock,
        upload_tokens=tokens, rng=random.Random(1234), **kw,
    )
    return signaling, wire, clock


def seat(signaling: Signaling, sid: str, subject: str, scene_id: str = "game", visit: int = 1) -> dict[str, Any]:
    assert signaling.connect(sid, Slot(subject, scene_id, visit)).ack["ok"]
    return signaling.join(sid).ack


# ---------------------------------------------------------------------- tickets


def test_ticket_roundtrip_and_forgery() -> None:
    tickets = SignalingTickets(b"s" * 32)
    ticket = tickets.issue("alice", "game", 3)
    assert tickets.verify(ticket) == Slot("alice", "game", 3)
    with pytest.raises(TicketError, match="not issued by this server"):
        SignalingTickets(b"t" * 32).verify(ticket)
    prefix, body, mac = ticket.split(".")
    other_body = tickets.issue("bob", "game", 3).split(".")[1]
    with pytest.raises(TicketError, match="not issued"):
        tickets.verify(f"{prefix}.{other_body}.{mac}")
    for bad in (None, 5, "", "t1.abc", "x" * 600):
        with pytest.raises(TicketError):
            tickets.verify(bad)
    with pytest.raises(TicketError, match="subject id is invalid"):
        tickets.verify(tickets.issue("../etc", "game", 0))


# ---------------------------------------------------------------------- limits and parsing


def test_token_bucket() -> None:
    clock = Clock()
    bucket = TokenBucket(Rate(per_second=2, burst=3), clock=clock)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    clock.now += 0.5  # one token back
    assert bucket.take() and not bucket.take()
    clock.now += 100  # refills only up to the burst
    assert sum(bucket.take() for _ in range(10)) == 3


LIMITS = SignalingLimits()


def test_parse_signal_accepts_and_rebuilds() -> None:
    offer = parse_signal({"game_id": "g1", "to": 1, "kind": "offer", "data": {"type": "offer", "sdp": "v=0", "x": 1}, "y": 2}, LIMITS)
    assert offer == Signal("g1", 1, "offer", {"type": "offer", "sdp": "v=0"})
    cand = parse_signal(
        {"game_id": "g1", "to": 0, "kind": "candidate", "data": {"candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0, "extra": "dropped"}},
        LIMITS,
    )
    assert isinstance(cand, Signal) and cand.data == {
        "candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host", "sdpMid": "0", "sdpMLineIndex": 0, "usernameFragment": None,
    }
    assert parse_signal({"game_id": "g1", "to": 0, "kind": "candidate", "data": None}, LIMITS) == Signal("g1", 0, "candidate", None)
    assert parse_signal({"game_id": "g1", "to": 0, "kind": "restart", "data": None}, LIMITS) == Signal("g1", 0, "restart", None)
    assert parse_signal({"game_id": "g1", "to": 0, "kind": "restart", "data": {"x": 1}}, LIMITS).code == "malformed"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "payload, code",
    [
        ("text", "malformed"),
        (None, "malformed"),
        ({"game_id": "../g", "to": 1, "kind": "offer", "data": {"type": "offer", "sdp": ""}}, "malformed"),
        ({"game_id": "g", "to": True, "kind": "offer", "data": {"type": "offer", "sdp": ""}}, "malformed"),
        ({"game_id": "g", "to": 256, "kind": "offer", "data": {"type": "offer", "sdp": ""}}, "malformed"),
        ({"game_id": "g", "to": 1, "kind": "bye", "data": {}}, "malformed"),
        ({"game_id": "g", "to": 1, "kind": "offer", "data": {"type": "answer", "sdp": ""}}, "malformed"),
        ({"game_id": "g", "to": 1, "kind": "offer", "data": {"type": "offer", "sdp": 5}}, "malformed"),
        ({"game_id": "g", "to": 1, "kind": "candidate", "data": {"candidate": 1}}, "malformed"),
        ({"game_id": "g", "to": 1, "kind": "candidate", "data": {"candidate": "c", "sdpMLineIndex": -1}}, "malformed"),
        ({"game_id": "g", "to": 1, "kind": "offer", "data": {"type": "offer", "sdp": "a" * (16 * 1024 + 1)}}, "oversized"),
        ({"game_id": "g", "to": 1, "kind": "candidate", "data": {"candidate": "c" * 1025}}, "oversized"),
    ],
)
def test_parse_signal_refuses(payload: Any, code: str) -> None:
    refusal = parse_signal(payload, LIMITS)
    assert isinstance(refusal, Refusal) and refusal.code == code, refusal


def test_parse_relay() -> None:
    assert parse_relay({"game_id": "g", "to": 1, "data": b"\x04"}, LIMITS) == Relay("g", 1, b"\x04")
    assert parse_relay({"game_id": "g", "to": 1, "data": "text"}, LIMITS).code == "malformed"  # type: ignore[union-attr]
    assert parse_relay({"game_id": "g", "to": 1, "data": b"x" * 1025}, LIMITS).code == "oversized"  # type: ignore[union-attr]
    assert parse_relay({"game_id": "g", "to": 1, "data": b""}, LIMITS).code == "oversized"  # type: ignore[union-attr]


# ---------------------------------------------------------------------- matchmaking


def test_three_players_fifo_then_next_game() -> None:
    signaling, wire, _ = make(rules(players=3))
    assert seat(signaling, "s1", "a") == {"ok": True, "status": "waiting"}
    assert seat(signaling, "s2", "b")["status"] == "waiting"
    assert wire.to("s1", "waiting")[-1]["players_waiting"] == 2
    result = seat(signaling, "s3", "c")
    assert result["status"] == "matched"
    ready = {sid: wire.to(sid, "game_ready")[0] for sid in ("s1", "s2", "s3")}
    assert sorted(r["player_index"] for r in ready.values()) == [0, 1, 2]
    assert len({r["game_id"] for r in ready.values()}) == 1 and len({r["seed"] for r in ready.values()}) == 1
    assert all(0 <= r["seed"] <= 0xFFFFFFFF for r in ready.values())
    for r in ready.values():
        me = r["player_index"]
        assert r["connections"] == [{"peer_index": j, "role": "offer" if me < j else "answer"} for j in range(3) if j != me]
        assert UploadTokens(b"k" * 32).verify(r["upload"]["token"], r["game_id"], me, r["players"][me]["subject_id"])
        assert r["upload"]["url"] == f"/p2p/exports/{r['game_id']}/{me}"
    assert signaling.stats() == {"waiting": 0, "games": 1}
    assert seat(signaling, "s4", "d")["status"] == "waiting"  # a fourth one starts the next room


def test_game_created_info() -> None:
    signaling, _, _ = make(rules())
    signaling.connect("s1", Slot("a", "game", 1))
    signaling.join("s1")
    signaling.connect("s2", Slot("b", "game", 1))
    created = signaling.join("s2").created
    assert len(created) == 1
    info = created[0].to_dict()
    assert info["scene_id"] == "game" and sorted(p["subject_id"] for p in info["players"]) == ["a", "b"]
    assert info["settings"]["p2p"]["players"] == 2 and info["created_at"].endswith("Z")
    assert list(created[0].subject_ids) == [p["subject_id"] for p in sorted(info["players"], key=lambda p: p["player_index"])]


def test_wait_timeout() -> None:
    signaling, wire, clock = make(rules(wait_timeout_s=30))
    seat(signaling, "s1", "a")
    clock.now += 29.9
    signaling.sweep()
    assert not wire.to("s1", "wait_timeout")
    clock.now += 0.2
    signaling.sweep()
    [timeout] = wire.to("s1", "wait_timeout")
    assert timeout["reason"] == "no_match" and "within 30 s" in timeout["message"]
    assert signaling.stats()["waiting"] == 0


def test_outcomes_are_recorded_before_the_steps_events_go_out() -> None:
    # A page that acts on wait_timeout or peer_left at once (reloads, joins again) must find its
    # outcome recorded: the recorder runs after the commit, before the first event of the step.
    signaling, wire, clock = make(rules(wait_timeout_s=30, reconnect_grace_s=5, disconnect_policy="end"))
    recorded: list[tuple[str, str]] = []
    seen: list[tuple[str, list[tuple[str, str]]]] = []
    emit = wire.emit

    def watching(event: str, payload: Any, sid: str) -> None:
        seen.append((event, list(recorded)))
        emit(event, payload, sid)

    wire.emit = watching  # type: ignore[method-assign]
    signaling.record_outcome = lambda o: recorded.append((o.slot.subject_id, o.outcome))
    seat(signaling, "s0", "lonely")
    clock.now += 31
    assert [(o.slot.subject_id, o.outcome) for o in signaling.sweep().outcomes] == [("lonely", "lobby_timeout")]
    assert [r for e, r in seen if e == "wait_timeout"] == [[("lonely", "lobby_timeout")]]
    _pair(signaling, wire)
    signaling.disconnect("s1")
    clock.now += 5.1
    dropped = signaling.sweep().outcomes
    assert [(o.slot.subject_id, o.outcome, o.reason) for o in dropped] == [("a", "connection_failed", "server")]
    assert [r for e, r in seen if e == "peer_left"] == [[("lonely", "lobby_timeout"), ("a", "connection_failed")]]


def test_a_failing_outcome_recorder_does_not_stop_the_steps_events() -> None:
    signaling, wire, clock = make(rules(wait_timeout_s=30))

    def broken(outcome: Any) -> None:
        raise OSError("disk full")

    signaling.record_outcome = broken
    seat(signaling, "s1", "a")
    clock.now += 31
    assert [o.outcome for o in signaling.sweep().outcomes] == ["lobby_timeout"]
    assert wire.to("s1", "wait_timeout")[0]["reason"] == "no_match"


def test_waiting_socket_replaced_keeps_place() -> None:
    signaling, wire, _ = make(rules(players=3))
    seat(signaling, "s1", "a")
    seat(signaling, "s2", "b")
    signaling.connect("s1b", Slot("a", "game", 1))
    result = signaling.join("s1b")
    assert result.ack["status"] == "waiting" and result.disconnect == ["s1"]
    assert wire.to("s1", "superseded")
    seat(signaling, "s3", "c")
    assert wire.to("s1b", "game_ready") and not wire.to("s1", "game_ready")


def test_disconnect_while_waiting_leaves_the_room() -> None:
    signaling, wire, _ = make(rules(players=3))
    seat(signaling, "s1", "a")
    seat(signaling, "s2", "b")
    signaling.disconnect("s1")
    assert wire.to("s2", "waiting")[-1]["players_waiting"] == 1
    seat(signaling, "s3", "c")
    assert not wire.to("s3", "game_ready")


def _pair(signaling: Signaling, wire: Wire) -> tuple[dict[str, Any], dict[str, Any]]:
    seat(signaling, "s1", "a")
    seat(signaling, "s2", "b")
    return wire.to("s1", "game_ready")[0], wire.to("s2", "game_ready")[0]


def test_relay_only_within_the_game() -> None:
    signaling, wire, _ = make(rules())
    r1, r2 = _pair(signaling, wire)
    seat(signaling, "s3", "c")
    seat(signaling, "s4", "d")
    other = wire.to("s3", "game_ready")[0]
    p1, p2 = r1["player_index"], r2["player_index"]
    ok = signaling.signal("s1", Signal(r1["game_id"], p2, "offer", {"type": "offer", "sdp": "v=0"}))
    assert ok.ack == {"ok": True}
    assert wire.to("s2", "signal") == [{"game_id": r1["game_id"], "from": p1, "kind": "offer", "data": {"type": "offer", "sdp": "v=0"}}]
    refused = signaling.signal("s1", Signal(other["game_id"], 0, "offer", {"type": "offer", "sdp": "x"}))
    assert refused.ack["error"]["code"] == "not_in_game"
    assert signaling.signal("s1", Signal(r1["game_id"], p1, "offer", {"type": "offer", "sdp": "x"})).ack["error"]["code"] == "bad_target"
    assert signaling.signal("s1", Signal(r1["game_id"], 5, "offer", {"type": "offer", "sdp": "x"})).ack["error"]["code"] == "bad_target"
    assert signaling.relay("s1", Relay(r1["game_id"], p2, b"\x04")).ack == {"ok": True}
    assert wire.to("s2", "relay")[0]["data"] == b"\x04"
    assert not wire.to("s3", "signal") and not wire.to("s4", "signal") and not wire.to("s4", "relay")
    assert signaling.signal("nobody", Signal(r1["game_id"], p2, "offer", {"type": "offer", "sdp": "x"})).ack["error"]["code"] == "not_connected"


def test_reconnect_within_grace() -> None:
    signaling, wire, clock = make(rules(reconnect_grace_s=10))
    r1, r2 = _pair(signaling, wire)
    # s1's page plays the game (it signalled); a new page of it later is a reload.
    assert signaling.signal("s1", Signal(r1["game_id"], r2["player_index"], "candidate", None)).ack["ok"]
    signaling.disconnect("s1")
    assert wire.to("s2", "peer_interrupted") == [{"game_id": r1["game_id"], "player_index": r1["player_index"], "grace_s": 10}]
    refused = signaling.signal("s2", Signal(r1["game_id"], r1["player_index"], "offer", {"type": "offer", "sdp": "x"}))
    assert refused.ack["error"]["code"] == "peer_unavailable"
    clock.now += 9
    signaling.sweep()
    result = seat(signaling, "s1-again", "a")
    assert result == {"ok": True, "status": "rejoined", "game_id": r1["game_id"], "resumed": False}
    again = wire.to("s1-again", "game_ready")[0]
    assert again["rejoin"] and again["player_index"] == r1["player_index"] and again["seed"] == r1["seed"]
    assert again["upload"] == r1["upload"]
    assert wire.to("s2", "peer_rejoined") == [{"game_id": r1["game_id"], "player_index": r1["player_index"], "resumed": False}]
    clock.now += 60
    signaling.sweep()
    assert not wire.to("s2", "peer_left")


def test_a_seat_whose_page_never_heard_of_its_game_is_taken_as_matched_now() -> None:
    """The waiter's socket died unnoticed with its server process and the game formed over it:
    the page that comes back (a new socket, ``join {}``) has never played the game. It gets a
    first ``game_ready`` (not a rejoin: a page would refuse a reload) and the partner's signals
    sent meanwhile; the partner is not told to renegotiate (its first offer stays the one)."""
    signaling, wire, clock = make(rules(reconnect_grace_s=10))
    r1, r2 = _pair(signaling, wire)
    gid, p1, p2 = r1["game_id"], r1["player_index"], r2["player_index"]
    offer = {"type": "offer", "sdp": "v=0 first"}
    assert signaling.signal("s2", Signal(gid, p1, "offer", offer)).ack["ok"]
    assert signaling.signal("s2", Signal(gid, p1, "candidate", None)).ack["ok"]
    signaling.disconnect("s1")  # found gone later (its process struck off): seat held
    assert wire.to("s2", "peer_interrupted")
    assert seat(signaling, "s1-back", "a") == {"ok": True, "status": "matched", "game_id": gid}
    [ready] = wire.to("s1-back", "game_ready")
    assert ready["rejoin"] is False and ready["player_index"] == p1 and ready["seed"] == r1["seed"]
    assert wire.to("s1-back", "signal") == [
        {"game_id": gid, "from": p2, "kind": "offer", "data": offer},
        {"game_id": gid, "from": p2, "kind": "candidate", "data": None},
    ]
    # Back in time: nothing to renegotiate (resumed), only the banner to clear.
    assert wire.to("s2", "peer_rejoined") == [{"game_id": gid, "player_index": p1, "resumed": True}]
    # Now heard from (its answer): a later new page of it is a reload again, and nothing is replayed.
    assert signaling.signal("s1-back", Signal(gid, p2, "answer", {"type": "answer", "sdp": "v=0"})).ack["ok"]
    assert wire.to("s2", "signal")[-1]["kind"] == "answer"
    signaling.disconnect("s1-back")
    assert seat(signaling, "s1-reload", "a")["status"] == "rejoined"
    assert wire.to("s1-reload", "game_ready")[0]["rejoin"] is True and not wire.to("s1-reload", "signal")
    assert wire.to("s2", "peer_rejoined")[-1] == {"game_id": gid, "player_index": p1, "resumed": False}


class ProcessDied(BaseException):
    """The process running a step died (nothing after it runs)."""


class IdWire(Wire):
    """Several processes: events carry ids (the socket's holder delivers an id once)."""

    def __init__(self, dies: bool = False) -> None:
        super().__init__()
        self.ids: list[str | None] = []
        self.dies = dies

    def emit(self, event: str, payload: Any, sid: str, event_id: str | None = None) -> None:
        if self.dies:
            raise ProcessDied()
        super().emit(event, payload, sid)
        self.ids.append(event_id)


def test_the_events_of_a_step_whose_process_died_after_its_commit_are_re_delivered() -> None:
    """Two processes on one store. The doomed one forms a game (b joins there, a waits on the
    live one) and dies after the commit, before any event went out: the state says matched,
    nobody was told. The step's events were committed with it (its outbox): the live process
    that strikes the doomed one off re-delivers them, with their ids, before what the death
    sets off (b's seat interrupted). a's offer to b (never heard from) is kept for b's page,
    which comes back, takes its seat and gets it."""
    store, clock = new_store(), Clock()
    scenes = {"game": rules(reconnect_grace_s=10)}
    wire, dying = IdWire(), IdWire(dies=True)
    live = Signaling(scenes, store=store, transport=wire, clock=clock, rng=random.Random(1), owner="live")
    doomed = Signaling(scenes, store=store, transport=dying, clock=clock, rng=random.Random(2), owner="doomed")
    assert live.connect("sa", Slot("a", "game", 1), owner="live").ack["ok"]
    assert live.join("sa").ack["status"] == "waiting"
    wire.sent.clear()
    assert doomed.connect("sb", Slot("b", "game", 1), owner="doomed").ack["ok"]
    with pytest.raises(ProcessDied):
        doomed.join("sb")
    assert live.stats()["games"] == 1 and not wire.sent and not dying.sent
    with store.reading():
        [box] = store.outboxes()
    assert box.owner == "doomed" and sorted((o.event, o.to) for o in box.events) == [("game_ready", "sa"), ("game_ready", "sb")]
    live.disconnect_owner("doomed")
    [ready] = wire.to("sa", "game_ready")
    assert [e for e, _, s in wire.sent if s == "sa"][:1] == ["game_ready"]  # first, then the interruption
    assert wire.to("sa", "peer_interrupted")
    redelivered = {o.event_id for o in box.events}
    assert redelivered <= set(wire.ids) and len(redelivered) == len(box.events)
    with store.reading():
        assert store.outboxes() == []  # the live process's own step emitted everything
    gid, b_index = ready["game_id"], 1 - ready["player_index"]
    offer = {"type": "offer", "sdp": "v=0 a"}
    assert live.signal("sa", Signal(gid, b_index, "offer", offer)).ack["ok"]
    assert seat(live, "sb-back", "b") == {"ok": True, "status": "matched", "game_id": gid}
    assert wire.to("sb-back", "game_ready")[0]["rejoin"] is False
    assert wire.to("sb-back", "signal") == [{"game_id": gid, "from": ready["player_index"], "kind": "offer", "data": offer}]


def test_a_waiting_place_lost_with_its_server_process_is_kept_for_the_reconnect_grace() -> None:
    """The process holding a waiter's socket dies: the place is kept (out of matching: nobody
    could be told of a game) for the scene's reconnect grace. Back in time: matched in its
    turn. Never back: it leaves the room with connection_failed (and the room goes on)."""
    signaling, wire, clock = make(rules(reconnect_grace_s=30, wait_timeout_s=600))
    assert signaling.connect("s1", Slot("a", "game", 1), owner="dead").ack["ok"]
    assert signaling.join("s1").ack["status"] == "waiting"
    assert signaling.disconnect_owner("dead").outcomes == []
    clock.now += 20
    assert signaling.sweep().outcomes == []
    seat(signaling, "s2", "b")  # a is away: b waits instead of a game over a's dead socket
    assert not wire.to("s2", "game_ready") and signaling.stats()["games"] == 0
    clock.now += 9  # 29 s after the crash: back in time, through another process
    assert signaling.connect("s1b", Slot("a", "game", 1), owner="alive").ack["ok"]
    back = signaling.join("s1b").ack
    assert back["status"] == "matched"
    assert wire.to("s1b", "game_ready")[0]["game_id"] == wire.to("s2", "game_ready")[0]["game_id"] == back["game_id"]

    # Another waiter whose process dies and who never comes back.
    assert signaling.connect("s3", Slot("c", "game", 1), owner="dead2").ack["ok"]
    signaling.join("s3")
    signaling.disconnect_owner("dead2")
    clock.now += 29.9
    assert signaling.sweep().outcomes == []
    clock.now += 0.2
    [gone] = signaling.sweep().outcomes
    assert (gone.slot.subject_id, gone.outcome, gone.reason, gone.game_id) == ("c", "connection_failed", "server", None)
    assert "30 s" in (gone.detail or "")
    assert signaling.stats()["waiting"] == 0
    seat(signaling, "s4", "d")  # the room goes on: d waits alone, c is not matched over its dead socket
    assert not wire.to("s4", "game_ready")


def test_a_waiter_who_closes_the_page_leaves_at_once() -> None:
    """Only a socket lost with its server process keeps a place: a page that closes leaves."""
    signaling, wire, clock = make(rules(reconnect_grace_s=30))
    seat(signaling, "s1", "a")
    signaling.disconnect("s1")
    assert signaling.stats()["waiting"] == 0
    signaling2, _, _ = make(rules(reconnect_grace_s=0))
    assert signaling2.connect("s1", Slot("a", "game", 1), owner="dead").ack["ok"]
    signaling2.join("s1")
    signaling2.disconnect_owner("dead")  # no grace: nothing kept
    assert signaling2.stats()["waiting"] == 0


def test_grace_expires_end_policy() -> None:
    signaling, wire, clock = make(rules(reconnect_grace_s=5, disconnect_policy="end"))
    ended = []
    r1, r2 = _pair(signaling, wire)
    signaling.disconnect("s1")
    clock.now += 5.1
    ended += signaling.sweep().ended
    assert wire.to("s2", "peer_left") == [
        {"game_id": r1["game_id"], "player_index": r1["player_index"], "reason": "disconnected", "policy": "end", "game_over": True}
    ]
    late = seat(signaling, "s1-late", "a")
    assert late["error"]["code"] == "seat_expired" and "5 s" in late["error"]["message"]
    assert seat(signaling, "s2-reload", "b")["error"]["code"] == "game_over"
    assert [e.outcome for e in ended] == ["incomplete"] and signaling.stats()["games"] == 0


def test_grace_expires_default_action_policy() -> None:
    signaling, wire, clock = make(rules(players=3, reconnect_grace_s=1, disconnect_policy="default_action"))
    for sid, subject in (("s1", "a"), ("s2", "b"), ("s3", "c")):
        seat(signaling, sid, subject)
    ready = wire.to("s1", "game_ready")[0]
    signaling.disconnect("s1")
    clock.now += 2
    signaling.sweep()
    for sid in ("s2", "s3"):
        [left] = wire.to(sid, "peer_left")
        assert left["policy"] == "default_action" and left["game_over"] is False
    # The two who stay play on and can still signal each other.
    to_s3 = wire.to("s3", "game_ready")[0]["player_index"]
    assert signaling.signal("s2", Signal(ready["game_id"], to_s3, "offer", {"type": "offer", "sdp": "x"})).ack["ok"]
    assert signaling.stats()["games"] == 1


def test_zero_grace_drops_at_once() -> None:
    signaling, wire, _ = make(rules(reconnect_grace_s=0))
    _pair(signaling, wire)
    signaling.disconnect("s1")
    assert wire.to("s2", "peer_left")[0]["reason"] == "disconnected"


def test_finish_forms_a_known_group_for_the_next_scene() -> None:
    first = rules("first")
    second = make_scene("second").player_grouping(wait_for_known_group=True, group_wait_timeout=20_000).signaling_rules()
    signaling, wire, clock = make(first, second)
    for sid, subject in (("a1", "a"), ("b1", "b"), ("c1", "c"), ("d1", "d")):
        seat(signaling, sid, subject, "first")
    games = {wire.to(sid, "game_ready")[0]["game_id"] for sid in ("a1", "b1", "c1", "d1")}
    assert len(games) == 2
    for sid in ("a1", "b1", "c1", "d1"):
        game_id = wire.to(sid, "game_ready")[0]["game_id"]
        result = signaling.finished(sid, GameRef(game_id))
        assert result.ack == {"ok": True}
    assert signaling.stats()["games"] == 0
    # In the second scene a and c arrive first: FIFO would pair them; known groups do not.
    for sid, subject in (("a2", "a"), ("c2", "c")):
        seat(signaling, sid, subject, "second", visit=2)
    assert not wire.to("a2", "game_ready") and wire.to("a2", "waiting")[-1]["group"] is True
    seat(signaling, "b2", "b", "second", visit=2)
    seat(signaling, "d2", "d", "second", visit=2)
    partner = {"a2": "b2", "b2": "a2", "c2": "d2", "d2": "c2"}
    for sid, other in partner.items():
        assert wire.to(sid, "game_ready")[0]["game_id"] == wire.to(other, "game_ready")[0]["game_id"]


def test_known_group_wait_timeout() -> None:
    first = rules("first")
    second = make_scene("second").player_grouping(wait_for_known_group=True, group_wait_timeout=5_000).signaling_rules()
    signaling, wire, clock = make(first, second)
    seat(signaling, "a1", "a", "first")
    seat(signaling, "b1", "b", "first")
    game_id = wire.to("a1", "game_ready")[0]["game_id"]
    signaling.finished("a1", GameRef(game_id))
    signaling.finished("b1", GameRef(game_id))
    seat(signaling, "a2", "a", "second", visit=2)
    clock.now += 6
    signaling.sweep()
    [timeout] = wire.to("a2", "wait_timeout")
    assert timeout["reason"] == "group" and "group members" in timeout["message"]


def test_release_and_leave() -> None:
    signaling, wire, _ = make(rules(players=2, disconnect_policy="end"))
    r1, r2 = _pair(signaling, wire)
    result = signaling.release(Slot("a", "game", 1))
    assert wire.to("s2", "peer_left")[0]["reason"] == "left" and wire.to("s2", "peer_left")[0]["game_over"] is True
    assert result.ended and result.ended[0].seats == {r1["player_index"]: "left", r2["player_index"]: "ended"}
    assert seat(signaling, "s1b", "a")["error"]["code"] == "left_game"
    # release of a waiting slot just leaves the room
    seat(signaling, "s5", "e")
    signaling.release(Slot("e", "game", 1))
    assert signaling.stats()["waiting"] == 0


def test_unknown_scene_and_static_ice_servers() -> None:
    servers = [{"urls": ["turn:127.0.0.1:3478"], "username": "u", "credential": "c"}]
    signaling, wire, _ = make(rules(turn=servers, ice_transport_policy="relay"))
    assert signaling.connect("x", Slot("a", "nope", 1)).ack["error"]["code"] == "unknown_scene"
    r1, _ = _pair(signaling, wire)
    assert r1["ice_servers"] == servers and r1["ice_transport_policy"] == "relay"


def test_ice_servers_provider_per_participant() -> None:
    calls: list[str] = []

    def provider(pid: str) -> list[dict[str, Any]]:
        calls.append(pid)
        return [{"urls": ["turn:127.0.0.1:3478"], "username": f"9:{pid}", "credential": "x"}]

    signaling, wire, _ = make(rules(), ice_servers=provider)
    r1, r2 = _pair(signaling, wire)
    assert sorted(calls) == ["a", "b"]
    assert r1["ice_servers"][0]["username"] == "9:a" and r2["ice_servers"][0]["username"] == "9:b"

    failing, wire2, _ = make(rules(), ice_servers=lambda pid: 1 / 0)
    r1, _ = _pair(failing, wire2)
    assert r1["ice_servers"] == []


# --- the research console's view and action


def test_snapshot_and_member_for_the_console() -> None:
    signaling, wire, clock = make(rules(players=2))
    seat(signaling, "s1", "a")
    clock.now += 4.5
    snap = signaling.snapshot()
    (room,) = snap["waiting"]
    assert (room["scene_id"], room["group"], room["players_needed"]) == ("game", False, 2)
    assert [(w["subject_id"], w["waited_s"], w["rtt_ms"]) for w in room["waiters"]] == [("a", 4.5, None)]
    assert snap["games"] == []
    seat(signaling, "s2", "b")
    snap = signaling.snapshot()
    (game,) = snap["games"]
    assert snap["waiting"] == [] and game["condition"] is None
    assert sorted((s["subject_id"], s["state"]) for s in game["seats"]) == [("a", "connected"), ("b", "connected")]
    index_of_a = next(s["player_index"] for s in game["seats"] if s["subject_id"] == "a")
    assert signaling.member("s1", game["game_id"]) == index_of_a
    assert signaling.member("s1", "0000000000000000") is None and signaling.member("nobody", game["game_id"]) is None


def test_end_game_stops_every_live_seat_and_tells_the_connected_ones() -> None:
    signaling, wire, clock = make(rules(players=2))
    seat(signaling, "s1", "a")
    seat(signaling, "s2", "b")
    game_id = wire.to("s1", "game_ready")[0]["game_id"]
    signaling.disconnect("s2")  # interrupted: its seat is held, nobody to tell
    result = signaling.end_game(game_id, "stopped, thanks")
    assert result.ack["ok"] and sorted(result.ack["players"]) == [0, 1]
    assert wire.to("s1", "game_ended") == [{"game_id": game_id, "reason": "researcher", "message": "stopped, thanks"}]
    (end,) = result.ended
    assert (end.outcome, end.ended_by, set(end.seats.values())) == ("incomplete", "researcher", {"stopped"})
    assert signaling.member("s1", game_id) is None
    again = signaling.end_game(game_id, "again")
    assert again.ack["error"]["code"] == "not_found"
    # The seat's holder coming back is told what happened.
    signaling.connect("s3", Slot("b", "game", 1))
    refused = signaling.join("s3").ack
    assert refused["error"]["code"] == "game_over" and "researcher" in refused["error"]["message"]


def test_a_scene_seed_is_every_games_shared_seed() -> None:
    # Interactive Gym's environment(seed=...): every game of the scene replays the same episodes.
    fixed = make_scene().environment(seed=4242).signaling_rules()
    signaling, wire, _ = make(fixed)
    seeds = []
    for n in range(2):
        seat(signaling, f"a{n}", f"a{n}")
        seat(signaling, f"b{n}", f"b{n}")
        seeds.append(wire.to(f"a{n}", "game_ready")[0]["seed"])
    assert seeds == [4242, 4242]
    signaling, wire, _ = make(rules())  # without it: a fresh seed per game
    for n in range(2):
        seat(signaling, f"a{n}", f"a{n}")
        seat(signaling, f"b{n}", f"b{n}")
    assert wire.to("a0", "game_ready")[0]["seed"] != wire.to("a1", "game_ready")[0]["seed"]
