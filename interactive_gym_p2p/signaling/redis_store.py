"""Signaling's state in Redis, shared by every server process of a study (``--redis``).

Layout (``P`` = the study's prefix, e.g. ``igp2p:<experiment_id>:sig:``), records as JSON
(``codec``)::

    P lock                  the shared lock of signaling steps (cluster.lock)
    P conn        hash      sid -> Connection
    P waiting     hash      room -> [Waiter, ...] (oldest first)
    P waiting_of  hash      slot key -> room
    P games       hash      game id -> Game
    P slot_game   hash      slot key -> SlotGame
    P groups      hash      group id -> Group;  P group_of  hash  subject id -> group id
    P history     hash      slot key -> MatchHistory
    P probes      hash      probe id -> Probe;  P fills  hash  fill id -> BotFill
    P holds       hash      room -> signature of the last 'hold' decision logged
    P outbox      hash      step id -> Outbox (a committed step's events until they went out)
    P cond:<scene> hash     condition -> completed games
    P deadlines   sorted set  "probe:<id>" | "fill:<id>" | "room:<room>" | "game:<id>" by deadline

A transaction takes the shared lock, reads through a per-transaction cache (a record read
twice is the same object, as in the in-memory store), collects writes, and commits them in
one fenced Lua script (``cluster.lock``): all of a step's writes or none. ``reading()`` reads
without the lock. Deadlines are wall-clock seconds (``time.time``) so every process agrees.
Standalone Redis (or a primary with replicas), not Redis Cluster: the commit script touches
keys it computes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..cluster.lock import Op
from ..cluster.records import DELETED, RedisRecords
from .records import BotFill, Connection, Game, Group, MatchHistory, Outbox, Probe, Slot, SlotGame, Waiter
from .store import fill_deadline, game_deadline, room_deadline, sort_due

if TYPE_CHECKING:  # pragma: no cover
    import redis

CONN, WAITING, WAITING_OF, GAMES, SLOT_GAME = "conn", "waiting", "waiting_of", "games", "slot_game"
GROUPS, GROUP_OF, HISTORY, PROBES, FILLS, HOLDS = "groups", "group_of", "history", "probes", "fills", "holds"
DEADLINES, OUTBOX = "deadlines", "outbox"

TYPES: dict[str, Any] = {
    CONN: Connection, WAITING: list[Waiter], GAMES: Game, SLOT_GAME: SlotGame, GROUPS: Group,
    HISTORY: MatchHistory, PROBES: Probe, FILLS: BotFill, WAITING_OF: str, GROUP_OF: str, HOLDS: str,
    OUTBOX: Outbox,
}


def _deadline(h: str, f: str, value: Any) -> tuple[str | None, float | None]:
    """The deadline-index member of a record and its deadline (None: not indexed / none)."""
    if h == GAMES:
        return f"game:{f}", None if value is None else game_deadline(value)
    if h == PROBES:
        return f"probe:{f}", None if value is None else value.deadline
    if h == FILLS:
        return f"fill:{f}", None if value is None else fill_deadline(value)
    if h == WAITING:
        return f"room:{f}", None if value is None else room_deadline(value)
    return None, None


class RedisSignalingStore(RedisRecords):
    """:class:`~.store.SignalingStore` over Redis (see the module docstring)."""

    def __init__(self, client: "redis.Redis", prefix: str, lock_ttl_s: float = 5.0, lock_wait_s: float = 15.0) -> None:
        super().__init__(client, prefix, TYPES, lock_ttl_s=lock_ttl_s, lock_wait_s=lock_wait_s)

    def _index_ops(self, h: str, f: str, value: Any) -> list[Op]:
        member, deadline = _deadline(h, f, value)
        if member is None:
            return []
        if deadline is None:
            return [("zrem", self.prefix + DEADLINES, member, "")]
        return [("zadd", self.prefix + DEADLINES, member, repr(float(deadline)))]

    # ------------------------------------------------------------------ deadlines

    def due(self, now: float) -> list[str]:
        tx = self._tx()
        members = set(self.client.zrangebyscore(self.prefix + DEADLINES, "-inf", now))
        for (h, f), value in tx.dirty.items():
            member, deadline = _deadline(h, f, None if value is DELETED else value)
            if member is None:
                continue
            if deadline is not None and deadline <= now:
                members.add(member)
            else:
                members.discard(member)
        return sort_due(members)

    # ------------------------------------------------------------------ sockets

    def get_connection(self, sid: str) -> Connection | None:
        return self._get(CONN, sid)

    def put_connection(self, connection: Connection) -> None:
        self._put(CONN, connection.sid, connection)

    def delete_connection(self, sid: str) -> None:
        self._delete(CONN, sid)

    def connections(self) -> list[Connection]:
        return self._all(CONN)

    # ------------------------------------------------------------------ waiting rooms

    def get_waiting(self, room: str) -> list[Waiter]:
        return list(self._get(WAITING, room) or ())

    def set_waiting(self, room: str, waiters: list[Waiter]) -> None:
        for waiter in self.get_waiting(room):
            self._delete(WAITING_OF, waiter.slot.key())
        if waiters:
            self._put(WAITING, room, list(waiters))
            for waiter in waiters:
                self._put(WAITING_OF, waiter.slot.key(), room)
        else:
            self._delete(WAITING, room)

    def waiting_rooms(self) -> list[str]:
        return self._fields(WAITING)

    def get_waiting_room_of(self, slot: Slot) -> str | None:
        return self._get(WAITING_OF, slot.key())

    # ------------------------------------------------------------------ games

    def get_game(self, game_id: str) -> Game | None:
        return self._get(GAMES, game_id)

    def put_game(self, game: Game) -> None:
        self._put(GAMES, game.game_id, game)

    def delete_game(self, game_id: str) -> None:
        self._delete(GAMES, game_id)

    def game_ids(self) -> list[str]:
        return self._fields(GAMES)

    def get_slot_game(self, slot: Slot) -> SlotGame | None:
        return self._get(SLOT_GAME, slot.key())

    def set_slot_game(self, slot: Slot, record: SlotGame) -> None:
        self._put(SLOT_GAME, slot.key(), record)

    # ------------------------------------------------------------------ groups

    def get_group(self, subject_id: str) -> Group | None:
        group_id = self._get(GROUP_OF, subject_id)
        return None if group_id is None else self._get(GROUPS, group_id)

    def put_group(self, group: Group) -> None:
        for subject_id in group.subject_ids:
            self.remove_from_group(subject_id)
        self._put(GROUPS, group.group_id, group)
        for subject_id in group.subject_ids:
            self._put(GROUP_OF, subject_id, group.group_id)

    def remove_from_group(self, subject_id: str) -> None:
        # As Interactive Gym does: a group left with one member is no group.
        group_id = self._get(GROUP_OF, subject_id)
        if group_id is None:
            return
        self._delete(GROUP_OF, subject_id)
        group = self._get(GROUPS, group_id)
        if group is None:
            return
        remaining = tuple(s for s in group.subject_ids if s != subject_id)
        if len(remaining) <= 1:
            self._delete(GROUPS, group_id)
            for s in remaining:
                self._delete(GROUP_OF, s)
        else:
            self._put(GROUPS, group_id, Group(group.group_id, remaining, group.source_scene_id))

    # ------------------------------------------------------------------ matchmaking

    def get_history(self, slot: Slot) -> MatchHistory | None:
        return self._get(HISTORY, slot.key())

    def put_history(self, history: MatchHistory) -> None:
        self._put(HISTORY, history.slot.key(), history)

    def get_probe(self, probe_id: str) -> Probe | None:
        return self._get(PROBES, probe_id)

    def put_probe(self, probe: Probe) -> None:
        self._put(PROBES, probe.probe_id, probe)

    def delete_probe(self, probe_id: str) -> None:
        self._delete(PROBES, probe_id)

    def probe_ids(self) -> list[str]:
        return self._fields(PROBES)

    def get_fill(self, fill_id: str) -> BotFill | None:
        return self._get(FILLS, fill_id)

    def put_fill(self, fill: BotFill) -> None:
        self._put(FILLS, fill.fill_id, fill)

    def delete_fill(self, fill_id: str) -> None:
        self._delete(FILLS, fill_id)

    def fill_ids(self) -> list[str]:
        return self._fields(FILLS)

    def _counts(self, scene_id: str) -> dict[str, int]:
        counts = self._tx().extra.setdefault("counts", {})
        if scene_id not in counts:
            raw = self.client.hgetall(f"{self.prefix}cond:{scene_id}")
            counts[scene_id] = {k: int(v) for k, v in raw.items()}
        return counts[scene_id]

    def get_condition_counts(self, scene_id: str) -> dict[str, int]:
        return dict(self._counts(scene_id))

    def add_condition_completion(self, scene_id: str, condition: str) -> None:
        counts = self._counts(scene_id)
        tx = self._writable()
        counts[condition] = counts.get(condition, 0) + 1
        tx.ops.append(("hincrby", f"{self.prefix}cond:{scene_id}", condition, "1"))

    def set_condition_counts(self, scene_id: str, counts: dict[str, int]) -> None:
        tx = self._writable()
        key = f"{self.prefix}cond:{scene_id}"
        tx.extra.setdefault("counts", {})[scene_id] = dict(counts)
        tx.ops.append(("del", key, "", ""))
        for condition, n in counts.items():
            tx.ops.append(("hset", key, condition, str(int(n))))

    def get_hold(self, room: str) -> str | None:
        return self._get(HOLDS, room)

    def set_hold(self, room: str, signature: str | None) -> None:
        if signature is None:
            self._delete(HOLDS, room)
        else:
            self._put(HOLDS, room, signature)

    # ------------------------------------------------------------------ outboxes

    def put_outbox(self, outbox: Outbox) -> None:
        self._put(OUTBOX, outbox.step_id, outbox)

    def delete_outbox(self, step_id: str) -> None:
        self._delete(OUTBOX, step_id)

    def outboxes(self) -> list[Outbox]:
        return self._all(OUTBOX)
