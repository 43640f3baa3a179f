"""Where signaling keeps its state, behind a small interface.

:class:`SignalingStore` is what the signaling logic needs. :class:`InMemoryStore` serves one
server process; :class:`~.redis_store.RedisSignalingStore` lets several processes share the
state (``--redis``; Flask-SocketIO's message queue carries the emits between them).

Discipline the logic follows so both work: every record read is a copy to change and write
back with the matching ``put``/``set`` call, inside ``transaction()``; ``commit()`` makes the
writes of the transaction so far durable before its events go out; read-only views use
``reading()``, which excludes no one. Each store keeps an index of deadlines (grace periods,
waiting-room timeouts, probes, bot fills) so the sweep visits only what is due.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from typing import Iterable, Protocol

from .records import BotFill, Connection, Game, Group, MatchHistory, Outbox, Probe, SeatState, Slot, SlotGame, Waiter

DUE_KINDS = ("probe", "fill", "room", "game")
"""Kinds of deadline-index members (``"<kind>:<id>"``), in the order the sweep handles them."""


def game_deadline(game: Game) -> float | None:
    """The earliest reconnect-grace deadline of an interrupted seat."""
    deadlines = [s.grace_deadline for s in game.seats if s.state is SeatState.INTERRUPTED and s.grace_deadline is not None]
    return min(deadlines) if deadlines else None


def room_deadline(waiters: Iterable[Waiter]) -> float | None:
    """The earliest waiting-room deadline of a waiter that can time out (not reserved, not a
    bot, not away), or the end of an away waiter's grace."""
    deadlines = [w.deadline for w in waiters if w.matchable]
    deadlines += [w.away_until for w in waiters if w.away_until is not None]
    return min(deadlines) if deadlines else None


def fill_deadline(fill: BotFill) -> float | None:
    return None if fill.cancelled else fill.deadline


def sort_due(members: Iterable[str]) -> list[str]:
    """Deadline-index members in the sweep's order: probes, fills, rooms, games."""
    return sorted(members, key=lambda m: (DUE_KINDS.index(m.split(":", 1)[0]), m))


class SignalingStore(Protocol):
    def transaction(self) -> AbstractContextManager[None]:
        """Exclusive access for one signaling step (no I/O is done while it is held).
        Nested transactions of the same thread join the outer one."""

    def commit(self) -> None:
        """Make the writes of the current transaction durable now (before its events go out);
        the transaction goes on (a store that writes through does nothing)."""

    def reading(self) -> AbstractContextManager[None]:
        """A read-only view for steps that change nothing (the console, telemetry checks): it
        excludes no one, so what it reads may be a step old."""

    # deadlines
    def due(self, now: float) -> list[str]:
        """``"probe:<id>"``, ``"fill:<id>"``, ``"room:<room>"`` and ``"game:<id>"`` whose
        deadline is at or before ``now``, in that order (see :func:`sort_due`)."""

    # sockets
    def get_connection(self, sid: str) -> Connection | None: ...
    def put_connection(self, connection: Connection) -> None: ...
    def delete_connection(self, sid: str) -> None: ...
    def connections(self) -> list[Connection]:
        """Every signaling socket known (to find a dead server process's sockets)."""

    # waiting rooms: "fifo:<scene_id>" or "group:<scene_id>:<group_id>", oldest first
    def get_waiting(self, room: str) -> list[Waiter]: ...
    def set_waiting(self, room: str, waiters: list[Waiter]) -> None: ...
    def waiting_rooms(self) -> list[str]: ...
    def get_waiting_room_of(self, slot: Slot) -> str | None: ...

    # games
    def get_game(self, game_id: str) -> Game | None: ...
    def put_game(self, game: Game) -> None: ...
    def delete_game(self, game_id: str) -> None: ...
    def game_ids(self) -> list[str]: ...
    def get_slot_game(self, slot: Slot) -> SlotGame | None: ...
    def set_slot_game(self, slot: Slot, record: SlotGame) -> None: ...

    # known groups (kept across scenes)
    def get_group(self, subject_id: str) -> Group | None: ...
    def put_group(self, group: Group) -> None: ...
    def remove_from_group(self, subject_id: str) -> None: ...

    # matchmaking: per-slot history, probes, bot fills, completed games per condition
    def get_history(self, slot: Slot) -> MatchHistory | None: ...
    def put_history(self, history: MatchHistory) -> None: ...
    def get_probe(self, probe_id: str) -> Probe | None: ...
    def put_probe(self, probe: Probe) -> None: ...
    def delete_probe(self, probe_id: str) -> None: ...
    def probe_ids(self) -> list[str]: ...
    def get_fill(self, fill_id: str) -> BotFill | None: ...
    def put_fill(self, fill: BotFill) -> None: ...
    def delete_fill(self, fill_id: str) -> None: ...
    def fill_ids(self) -> list[str]: ...
    def get_condition_counts(self, scene_id: str) -> dict[str, int]: ...
    def add_condition_completion(self, scene_id: str, condition: str) -> None: ...
    def set_condition_counts(self, scene_id: str, counts: dict[str, int]) -> None: ...

    # the last 'hold' decision logged per waiting room (the decision log gets changes only)
    def get_hold(self, room: str) -> str | None: ...
    def set_hold(self, room: str, signature: str | None) -> None: ...

    # outboxes: committed steps' events not yet all emitted (several processes)
    def put_outbox(self, outbox: Outbox) -> None: ...
    def delete_outbox(self, step_id: str) -> None: ...
    def outboxes(self) -> list[Outbox]: ...


class InMemoryStore:
    """The single-process store: dicts guarded by one lock."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._connections: dict[str, Connection] = {}
        self._waiting: dict[str, list[Waiter]] = {}
        self._waiting_room_of: dict[Slot, str] = {}
        self._games: dict[str, Game] = {}
        self._slot_games: dict[Slot, SlotGame] = {}
        self._groups: dict[str, Group] = {}
        self._group_of: dict[str, str] = {}
        self._history: dict[Slot, MatchHistory] = {}
        self._probes: dict[str, Probe] = {}
        self._fills: dict[str, BotFill] = {}
        self._condition_counts: dict[str, dict[str, int]] = {}
        self._holds: dict[str, str] = {}
        self._deadlines: dict[str, float] = {}
        self._outboxes: dict[str, Outbox] = {}

    def transaction(self) -> AbstractContextManager[None]:
        # RLock: the logic's helpers may open a nested transaction (same thread).
        return self._lock  # type: ignore[return-value]

    def commit(self) -> None:
        pass  # every write is in place already

    def reading(self) -> AbstractContextManager[None]:
        return self._lock  # type: ignore[return-value]

    def _index(self, member: str, deadline: float | None) -> None:
        if deadline is None:
            self._deadlines.pop(member, None)
        else:
            self._deadlines[member] = deadline

    def due(self, now: float) -> list[str]:
        return sort_due(m for m, t in self._deadlines.items() if t <= now)

    def connections(self) -> list[Connection]:
        return list(self._connections.values())

    def get_connection(self, sid: str) -> Connection | None:
        return self._connections.get(sid)

    def put_connection(self, connection: Connection) -> None:
        self._connections[connection.sid] = connection

    def delete_connection(self, sid: str) -> None:
        self._connections.pop(sid, None)

    def get_waiting(self, room: str) -> list[Waiter]:
        return list(self._waiting.get(room, ()))

    def set_waiting(self, room: str, waiters: list[Waiter]) -> None:
        for waiter in self._waiting.get(room, ()):
            self._waiting_room_of.pop(waiter.slot, None)
        if waiters:
            self._waiting[room] = list(waiters)
            for waiter in waiters:
                self._waiting_room_of[waiter.slot] = room
        else:
            self._waiting.pop(room, None)
        self._index(f"room:{room}", room_deadline(waiters))

    def waiting_rooms(self) -> list[str]:
        return list(self._waiting)

    def get_waiting_room_of(self, slot: Slot) -> str | None:
        return self._waiting_room_of.get(slot)

    def get_game(self, game_id: str) -> Game | None:
        return self._games.get(game_id)

    def put_game(self, game: Game) -> None:
        self._games[game.game_id] = game
        self._index(f"game:{game.game_id}", game_deadline(game))

    def delete_game(self, game_id: str) -> None:
        self._games.pop(game_id, None)
        self._index(f"game:{game_id}", None)

    def game_ids(self) -> list[str]:
        return list(self._games)

    def get_slot_game(self, slot: Slot) -> SlotGame | None:
        return self._slot_games.get(slot)

    def set_slot_game(self, slot: Slot, record: SlotGame) -> None:
        self._slot_games[slot] = record

    def get_group(self, subject_id: str) -> Group | None:
        group_id = self._group_of.get(subject_id)
        return None if group_id is None else self._groups.get(group_id)

    def put_group(self, group: Group) -> None:
        for subject_id in group.subject_ids:
            self.remove_from_group(subject_id)
        self._groups[group.group_id] = group
        for subject_id in group.subject_ids:
            self._group_of[subject_id] = group.group_id

    def remove_from_group(self, subject_id: str) -> None:
        # As Interactive Gym does: a group left with one member is no group.
        group_id = self._group_of.pop(subject_id, None)
        group = None if group_id is None else self._groups.get(group_id)
        if group is None:
            return
        remaining = tuple(s for s in group.subject_ids if s != subject_id)
        if len(remaining) <= 1:
            del self._groups[group.group_id]
            for s in remaining:
                self._group_of.pop(s, None)
        else:
            self._groups[group.group_id] = Group(group.group_id, remaining, group.source_scene_id)

    def get_history(self, slot: Slot) -> MatchHistory | None:
        return self._history.get(slot)

    def put_history(self, history: MatchHistory) -> None:
        self._history[history.slot] = history

    def get_probe(self, probe_id: str) -> Probe | None:
        return self._probes.get(probe_id)

    def put_probe(self, probe: Probe) -> None:
        self._probes[probe.probe_id] = probe
        self._index(f"probe:{probe.probe_id}", probe.deadline)

    def delete_probe(self, probe_id: str) -> None:
        self._probes.pop(probe_id, None)
        self._index(f"probe:{probe_id}", None)

    def probe_ids(self) -> list[str]:
        return list(self._probes)

    def get_fill(self, fill_id: str) -> BotFill | None:
        return self._fills.get(fill_id)

    def put_fill(self, fill: BotFill) -> None:
        self._fills[fill.fill_id] = fill
        self._index(f"fill:{fill.fill_id}", fill_deadline(fill))

    def delete_fill(self, fill_id: str) -> None:
        self._fills.pop(fill_id, None)
        self._index(f"fill:{fill_id}", None)

    def fill_ids(self) -> list[str]:
        return list(self._fills)

    def get_condition_counts(self, scene_id: str) -> dict[str, int]:
        return dict(self._condition_counts.get(scene_id, {}))

    def add_condition_completion(self, scene_id: str, condition: str) -> None:
        counts = self._condition_counts.setdefault(scene_id, {})
        counts[condition] = counts.get(condition, 0) + 1

    def set_condition_counts(self, scene_id: str, counts: dict[str, int]) -> None:
        self._condition_counts[scene_id] = dict(counts)

    def get_hold(self, room: str) -> str | None:
        return self._holds.get(room)

    def set_hold(self, room: str, signature: str | None) -> None:
        if signature is None:
            self._holds.pop(room, None)
        else:
            self._holds[room] = signature

    def put_outbox(self, outbox: Outbox) -> None:
        self._outboxes[outbox.step_id] = outbox

    def delete_outbox(self, step_id: str) -> None:
        self._outboxes.pop(step_id, None)

    def outboxes(self) -> list[Outbox]:
        return list(self._outboxes.values())
