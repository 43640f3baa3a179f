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

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from ..cluster.lock import Op, SharedLock
from . import codec
from .records import BotFill, Connection, Game, Group, MatchHistory, Probe, Slot, SlotGame, Waiter
from .store import fill_deadline, game_deadline, room_deadline, sort_due

if TYPE_CHECKING:  # pragma: no cover
    import redis

CONN, WAITING, WAITING_OF, GAMES, SLOT_GAME = "conn", "waiting", "waiting_of", "games", "slot_game"
GROUPS, GROUP_OF, HISTORY, PROBES, FILLS, HOLDS = "groups", "group_of", "history", "probes", "fills", "holds"
DEADLINES = "deadlines"

_TYPES: dict[str, Any] = {
    CONN: Connection, WAITING: list[Waiter], GAMES: Game, SLOT_GAME: SlotGame, GROUPS: Group,
    HISTORY: MatchHistory, PROBES: Probe, FILLS: BotFill, WAITING_OF: str, GROUP_OF: str, HOLDS: str,
}
_DELETED = object()


@dataclass
class _Tx:
    token: str | None
    """The lock's token; None in a read-only view."""
    depth: int = 0
    cache: dict[tuple[str, str], Any] = field(default_factory=dict)
    """(hash, field) -> record read (None: absent)."""
    dirty: dict[tuple[str, str], Any] = field(default_factory=dict)
    """(hash, field) -> record to write, or _DELETED."""
    fields: dict[str, set[str]] = field(default_factory=dict)
    """hash -> field names read from Redis."""
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    ops: list[Op] = field(default_factory=list)
    """Writes that are not records (condition counts), in order."""


class RedisSignalingStore:
    """:class:`~.store.SignalingStore` over Redis (see the module docstring)."""

    def __init__(self, client: "redis.Redis", prefix: str, lock_ttl_s: float = 5.0, lock_wait_s: float = 15.0) -> None:
        self.client = client
        self.prefix = prefix
        self.lock = SharedLock(client, prefix + "lock", ttl_s=lock_ttl_s, wait_s=lock_wait_s)
        self._local = threading.local()
        self._process_lock = threading.Lock()  # one step of this process at a time waits on Redis

    # ------------------------------------------------------------------ transactions

    def _tx(self) -> _Tx:
        tx = getattr(self._local, "tx", None)
        if tx is None:
            raise RuntimeError("signaling store used outside transaction() or reading()")
        return tx

    @contextmanager
    def transaction(self) -> Iterator[None]:
        tx = getattr(self._local, "tx", None)
        if tx is not None:
            if tx.token is None:
                raise RuntimeError("a transaction cannot start inside a read-only view")
            tx.depth += 1
            try:
                yield
            finally:
                tx.depth -= 1
            return
        with self._process_lock:
            token = self.lock.acquire()
            tx = _Tx(token)
            self._local.tx = tx
            done = False
            try:
                yield
                done = True
            finally:
                self._local.tx = None
                if done:
                    self.lock.commit(token, self._drain(tx), release=True)
                else:
                    self.lock.release(token)  # a step that raised writes nothing

    def commit(self) -> None:
        tx = self._tx()
        if tx.token is None:
            return
        ops = self._drain(tx)
        if ops:
            self.lock.commit(tx.token, ops, release=False)

    @contextmanager
    def reading(self) -> Iterator[None]:
        tx = getattr(self._local, "tx", None)
        if tx is not None:
            yield
            return
        self._local.tx = _Tx(None)
        try:
            yield
        finally:
            self._local.tx = None

    def _drain(self, tx: _Tx) -> list[Op]:
        """The transaction's pending writes as commit ops (and forget them)."""
        P = self.prefix
        ops: list[Op] = []
        for (h, f), value in tx.dirty.items():
            if value is _DELETED:
                ops.append(("hdel", P + h, f, ""))
            else:
                ops.append(("hset", P + h, f, self._dumps(h, value)))
            member, deadline = self._deadline(h, f, None if value is _DELETED else value)
            if member is not None:
                if deadline is None:
                    ops.append(("zrem", P + DEADLINES, member, ""))
                else:
                    ops.append(("zadd", P + DEADLINES, member, repr(float(deadline))))
        ops.extend(tx.ops)
        tx.dirty.clear()
        tx.ops.clear()
        return ops

    @staticmethod
    def _deadline(h: str, f: str, value: Any) -> tuple[str | None, float | None]:
        if h == GAMES:
            return f"game:{f}", None if value is None else game_deadline(value)
        if h == PROBES:
            return f"probe:{f}", None if value is None else value.deadline
        if h == FILLS:
            return f"fill:{f}", None if value is None else fill_deadline(value)
        if h == WAITING:
            return f"room:{f}", None if value is None else room_deadline(value)
        return None, None

    @staticmethod
    def _dumps(h: str, value: Any) -> str:
        if isinstance(value, str):
            return value
        return codec.dumps(value)

    # ------------------------------------------------------------------ records

    def _get(self, h: str, f: str) -> Any:
        tx = self._tx()
        key = (h, f)
        if key in tx.dirty:
            value = tx.dirty[key]
            return None if value is _DELETED else value
        if key not in tx.cache:
            raw = self.client.hget(self.prefix + h, f)
            tx.cache[key] = None if raw is None else (raw if _TYPES[h] is str else codec.loads(_TYPES[h], raw))
        return tx.cache[key]

    def _put(self, h: str, f: str, value: Any) -> None:
        tx = self._tx()
        if tx.token is None:
            raise RuntimeError("writing in a read-only view (reading()); use transaction()")
        tx.dirty[(h, f)] = value
        tx.cache[(h, f)] = value

    def _delete(self, h: str, f: str) -> None:
        tx = self._tx()
        if tx.token is None:
            raise RuntimeError("writing in a read-only view (reading()); use transaction()")
        tx.dirty[(h, f)] = _DELETED
        tx.cache[(h, f)] = None

    def _fields(self, h: str) -> list[str]:
        tx = self._tx()
        if h not in tx.fields:
            tx.fields[h] = set(self.client.hkeys(self.prefix + h))
        names = set(tx.fields[h])
        for (hh, f), value in tx.dirty.items():
            if hh == h:
                if value is _DELETED:
                    names.discard(f)
                else:
                    names.add(f)
        return sorted(names)

    def _all(self, h: str) -> list[Any]:
        """Every record of a hash, read in one round trip (and cached)."""
        tx = self._tx()
        raw = self.client.hgetall(self.prefix + h)
        tx.fields[h] = set(raw)
        for f, text in raw.items():
            tx.cache.setdefault((h, f), codec.loads(_TYPES[h], text))
        return [v for v in (self._get(h, f) for f in self._fields(h)) if v is not None]

    # ------------------------------------------------------------------ deadlines

    def due(self, now: float) -> list[str]:
        tx = self._tx()
        members = set(self.client.zrangebyscore(self.prefix + DEADLINES, "-inf", now))
        for (h, f), value in tx.dirty.items():
            member, deadline = self._deadline(h, f, None if value is _DELETED else value)
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
        tx = self._tx()
        if scene_id not in tx.counts:
            raw = self.client.hgetall(f"{self.prefix}cond:{scene_id}")
            tx.counts[scene_id] = {k: int(v) for k, v in raw.items()}
        return tx.counts[scene_id]

    def get_condition_counts(self, scene_id: str) -> dict[str, int]:
        return dict(self._counts(scene_id))

    def add_condition_completion(self, scene_id: str, condition: str) -> None:
        counts = self._counts(scene_id)
        counts[condition] = counts.get(condition, 0) + 1
        self._tx().ops.append(("hincrby", f"{self.prefix}cond:{scene_id}", condition, "1"))

    def set_condition_counts(self, scene_id: str, counts: dict[str, int]) -> None:
        tx = self._tx()
        key = f"{self.prefix}cond:{scene_id}"
        tx.counts[scene_id] = dict(counts)
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

    # ------------------------------------------------------------------ maintenance

    def clear(self) -> None:
        """Remove every signaling key of this study (tests; a fresh study on a used Redis)."""
        keys = list(self.client.scan_iter(match=self.prefix + "*", count=500))
        if keys:
            self.client.delete(*keys)

