"""The signaling store contract, run on both stores (in memory, and Redis on a real
redis-server). What only the shared store must do is in test_redis_store.py; the decision
logic itself runs on both stores in test_signaling.py and test_matchmaking.py.
"""

from __future__ import annotations

from interactive_gym_p2p.signaling.records import (
    BotFill,
    Connection,
    Game,
    Group,
    MatchHistory,
    Outbound,
    Outbox,
    Probe,
    ProbeMember,
    Seat,
    SeatState,
    Slot,
    SlotGame,
    Waiter,
)

from store_backends import new_store, signaling_store  # noqa: F401  (every test runs on both stores)

A = Slot("alice", "game", 1)
B = Slot("bob", "game", 1)


def game(game_id: str = "g1", grace: float | None = None) -> Game:
    seats = [Seat(0, A, "sa", SeatState.CONNECTED, None, "tok"), Seat(1, B, None if grace else "sb",
             SeatState.INTERRUPTED if grace else SeatState.CONNECTED, grace)]
    return Game(game_id, "game", 7, seats, "2025-01-01T00:00:00.000Z", "c1", {"matcher": "fifo"})


def test_records_round_trip_through_the_store() -> None:
    store = new_store()
    probe = Probe("p1", "game", "fifo:game", [ProbeMember(0, A, "sa", {"rtt_ms": {"1": [12.5]}, "path": None, "error": None})],
                  10.0, 20.0, {"0-1": 30.0}, "why")
    fill = BotFill("f1", "game", "fifo:game", [A], ["bot-f1-0"], 50.0)
    with store.transaction():
        store.put_connection(Connection("sa", A, "proc-1"))
        store.put_game(game())
        store.set_slot_game(A, SlotGame("g1", SeatState.CONNECTED))
        store.put_history(MatchHistory(A, 5.0, ["carol"], 1))
        store.put_probe(probe)
        store.put_fill(fill)
        store.set_waiting("fifo:game", [Waiter(A, "sa", 1.0, 99.0, [10.0, 12.0]), Waiter(B, "sb", 2.0, 98.0, reserved="p1")])
    with store.reading():
        assert store.get_connection("sa") == Connection("sa", A, "proc-1")
        assert store.get_game("g1") == game()
        assert store.get_slot_game(A) == SlotGame("g1", SeatState.CONNECTED)
        assert store.get_history(A) == MatchHistory(A, 5.0, ["carol"], 1)
        assert store.get_probe("p1") == probe
        assert store.get_fill("f1") == fill
        assert [w.slot for w in store.get_waiting("fifo:game")] == [A, B]
        assert store.get_waiting("fifo:game")[0].server_rtt_ms == 11.0
        assert store.get_waiting_room_of(B) == "fifo:game"
        assert store.waiting_rooms() == ["fifo:game"]
        assert store.game_ids() == ["g1"] and store.probe_ids() == ["p1"] and store.fill_ids() == ["f1"]
        assert [c.sid for c in store.connections()] == ["sa"]
    with store.transaction():
        store.set_waiting("fifo:game", [])
        store.delete_game("g1")
        store.delete_probe("p1")
        store.delete_fill("f1")
        store.delete_connection("sa")
    with store.reading():
        assert store.get_waiting("fifo:game") == [] and store.get_waiting_room_of(A) is None
        assert store.waiting_rooms() == [] and store.game_ids() == [] and store.probe_ids() == [] and store.fill_ids() == []
        assert store.get_game("g1") is None and store.get_connection("sa") is None and store.connections() == []


def test_a_write_is_seen_by_the_rest_of_its_transaction_and_a_nested_one() -> None:
    store = new_store()
    with store.transaction():
        store.put_game(game("g2"))
        with store.transaction():  # a helper's nested transaction joins the outer one
            g = store.get_game("g2")
            assert g is not None and g.seed == 7
            g.seed = 8
            store.put_game(g)
        assert store.get_game("g2").seed == 8  # type: ignore[union-attr]
        assert "g2" in store.game_ids()
        store.commit()
        assert store.get_game("g2").seed == 8  # type: ignore[union-attr]
    with store.reading():
        assert store.get_game("g2").seed == 8  # type: ignore[union-attr]


def test_groups_shrink_and_vanish_as_members_leave() -> None:
    store = new_store()
    with store.transaction():
        store.put_group(Group("grp", ("a", "b", "c"), "s0"))
        assert store.get_group("b") == Group("grp", ("a", "b", "c"), "s0")
        store.remove_from_group("a")
        assert store.get_group("b") == Group("grp", ("b", "c"), "s0")
        store.remove_from_group("b")
        assert store.get_group("c") is None and store.get_group("b") is None
        store.put_group(Group("g1", ("x", "y"), "s0"))
        store.put_group(Group("g2", ("y", "z"), "s1"))  # y moves: g1 is left with x alone, so it is gone
        assert store.get_group("x") is None and store.get_group("y") == Group("g2", ("y", "z"), "s1")


def test_condition_counts_add_up_and_can_be_set() -> None:
    store = new_store()
    with store.transaction():
        store.set_condition_counts("game", {"a": 3})
        store.add_condition_completion("game", "a")
        store.add_condition_completion("game", "b")
        assert store.get_condition_counts("game") == {"a": 4, "b": 1}
    with store.transaction():
        store.add_condition_completion("game", "b")
    with store.reading():
        assert store.get_condition_counts("game") == {"a": 4, "b": 2}
        assert store.get_condition_counts("other") == {}


def test_the_deadline_index_names_what_is_due_in_sweep_order() -> None:
    store = new_store()
    with store.transaction():
        store.put_game(game("g1", grace=30.0))  # an interrupted seat: due at 30
        store.put_game(game("g2"))  # nothing held: never due
        store.put_probe(Probe("p1", "game", "fifo:game", [], 0.0, 20.0))
        store.put_fill(BotFill("f1", "game", "fifo:game", [A], ["bot-f1-0"], 25.0))
        store.put_fill(BotFill("f2", "game", "fifo:game", [B], ["bot-f2-0"], 5.0, cancelled=True))
        store.set_waiting("fifo:game", [Waiter(A, "sa", 0.0, 40.0), Waiter(B, "sb", 0.0, 10.0, reserved="p1")])
    with store.reading():
        assert store.due(9.0) == []
        assert store.due(20.0) == ["probe:p1"]
        assert store.due(30.0) == ["probe:p1", "fill:f1", "game:g1"]
        assert store.due(45.0) == ["probe:p1", "fill:f1", "room:fifo:game", "game:g1"]
    with store.transaction():
        g = store.get_game("g1")
        g.seats[1].state = SeatState.DROPPED  # type: ignore[union-attr]
        store.put_game(g)  # type: ignore[arg-type]
        store.delete_probe("p1")
        store.set_waiting("fifo:game", [])
        assert store.due(45.0) == ["fill:f1"]  # pending writes count inside the transaction
    with store.reading():
        assert store.due(100.0) == ["fill:f1"]


def test_holds_are_kept_per_room() -> None:
    store = new_store()
    with store.transaction():
        store.set_hold("fifo:game", "reason|a,b")
    with store.transaction():
        assert store.get_hold("fifo:game") == "reason|a,b"
        store.set_hold("fifo:game", None)
    with store.reading():
        assert store.get_hold("fifo:game") is None


def test_an_outbox_is_kept_with_the_steps_writes_until_deleted() -> None:
    store = new_store()
    events = [Outbound("game_ready", {"game_id": "g1", "players": [{"player_index": 0}]}, "sa", "s1.0"),
              Outbound("signal", {"from": 1, "data": None}, "sb", "s1.1")]
    with store.transaction():
        store.put_game(game())
        store.put_outbox(Outbox("s1", "proc-1", 5.0, events))
        store.put_outbox(Outbox("s2", "proc-2", 6.0, events[:1]))
        store.commit()
        store.delete_outbox("s2")  # its events went out
    with store.reading():
        assert store.outboxes() == [Outbox("s1", "proc-1", 5.0, events)]
    with store.transaction():
        store.delete_outbox("s1")
    with store.reading():
        assert store.outboxes() == [] and store.get_game("g1") == game()
