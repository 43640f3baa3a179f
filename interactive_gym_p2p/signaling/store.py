"""Where signaling keeps its state, behind a small interface.

:class:`SignalingStore` is what the signaling logic needs; :class:`InMemoryStore` is the
one implementation today (one server process). A Redis-backed store for several processes
(with Flask-SocketIO's message queue carrying the emits) would implement the same methods:
``transaction()`` as a distributed lock, records serialized as they are (they hold only
strings, numbers and lists), and an index of deadlines (a sorted set) so ``sweep`` need not
scan every game. It is not built yet.

Discipline the logic follows so such a store works: every record read is a copy to change
and write back with the matching ``put``/``set`` call, always inside ``transaction()``.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from typing import Protocol

from .records import BotFill, Connection, Game, Group, MatchHistory, Probe, Slot, SlotGame, Waiter


class SignalingStore(Protocol):
    def transaction(self) -> AbstractContextManager[None]:
        """Exclusive access for one signaling step (no I/O is done while it is held)."""

    # sockets
    def get_connection(self, sid: str) -> Connection | None: ...
    def put_connection(self, connection: Connection) -> None: ...
    def delete_connection(self, sid: str) -> None: ...

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

    def transaction(self) -> AbstractContextManager[None]:
        # RLock: the logic's helpers may open a nested transaction (same thread).
        return self._lock  # type: ignore[return-value]

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

    def waiting_rooms(self) -> list[str]:
        return list(self._waiting)

    def get_waiting_room_of(self, slot: Slot) -> str | None:
        return self._waiting_room_of.get(slot)

    def get_game(self, game_id: str) -> Game | None:
        return self._games.get(game_id)

    def put_game(self, game: Game) -> None:
        self._games[game.game_id] = game

    def delete_game(self, game_id: str) -> None:
        self._games.pop(game_id, None)

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

    def delete_probe(self, probe_id: str) -> None:
        self._probes.pop(probe_id, None)

    def probe_ids(self) -> list[str]:
        return list(self._probes)

    def get_fill(self, fill_id: str) -> BotFill | None:
        return self._fills.get(fill_id)

    def put_fill(self, fill: BotFill) -> None:
        self._fills[fill.fill_id] = fill

    def delete_fill(self, fill_id: str) -> None:
        self._fills.pop(fill_id, None)

    def fill_ids(self) -> list[str]:
        return list(self._fills)

    def get_condition_counts(self, scene_id: str) -> dict[str, int]:
        return dict(self._condition_counts.get(scene_id, {}))

    def add_condition_completion(self, scene_id: str, condition: str) -> None:
        counts = self._condition_counts.setdefault(scene_id, {})
        counts[condition] = counts.get(condition, 0) + 1

    def set_condition_counts(self, scene_id: str, counts: dict[str, int]) -> None:
        self._condition_counts[scene_id] = dict(counts)
