"""Records in Redis hashes, read and written in all-or-nothing steps: the base of the shared stores.

A store built on :class:`RedisRecords` names its hashes and their record types. Inside
``transaction()`` (the shared lock, ``cluster.lock``) every read goes through a cache, so a
record read twice is the same object, as in the in-memory stores; writes are collected and
committed by one fenced Lua script when the transaction ends (or at ``commit()``): all of a
step's writes or none. A record written back unchanged is not sent again. ``reading()`` reads
without the lock (what it reads may be a step old) and refuses writes.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from ..signaling import codec
from .lock import Op, SharedLock

if TYPE_CHECKING:  # pragma: no cover
    import redis

DELETED = object()


@dataclass
class Tx:
    token: str | None
    """The lock's token; None in a read-only view."""
    depth: int = 0
    cache: dict[tuple[str, str], Any] = field(default_factory=dict)
    """(hash, field) -> record read or written (None: absent)."""
    raw: dict[tuple[str, str], str] = field(default_factory=dict)
    """(hash, field) -> the text read from Redis (an unchanged record is not written back)."""
    dirty: dict[tuple[str, str], Any] = field(default_factory=dict)
    """(hash, field) -> record to write, or DELETED."""
    fields: dict[str, set[str]] = field(default_factory=dict)
    """hash -> field names read from Redis."""
    ops: list[Op] = field(default_factory=list)
    """Further writes (counters), in order, after the records."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Whatever a store caches besides records for the transaction."""


class RedisRecords:
    """Transactions over records in Redis hashes (``types``: hash name -> record type; ``str``
    for plain strings)."""

    def __init__(self, client: "redis.Redis", prefix: str, types: Mapping[str, Any], lock_ttl_s: float = 5.0,
                 lock_wait_s: float = 15.0) -> None:
        self.client = client
        self.prefix = prefix
        self.types = dict(types)
        self.lock = SharedLock(client, prefix + "lock", ttl_s=lock_ttl_s, wait_s=lock_wait_s)
        self._local = threading.local()
        self._process_lock = threading.Lock()  # one step of this process at a time waits on Redis

    # ------------------------------------------------------------------ transactions

    def _tx(self) -> Tx:
        tx = getattr(self._local, "tx", None)
        if tx is None:
            raise RuntimeError(f"{type(self).__name__} used outside transaction() or reading()")
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
            tx = Tx(token)
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
        if getattr(self._local, "tx", None) is not None:
            yield
            return
        self._local.tx = Tx(None)
        try:
            yield
        finally:
            self._local.tx = None

    def _drain(self, tx: Tx) -> list[Op]:
        """The transaction's pending writes as commit ops (and forget them)."""
        ops: list[Op] = []
        for (h, f), value in tx.dirty.items():
            if value is DELETED:
                ops.append(("hdel", self.prefix + h, f, ""))
                tx.raw.pop((h, f), None)
                ops.extend(self._index_ops(h, f, None))
                continue
            text = value if self.types[h] is str else codec.dumps(value)
            if tx.raw.get((h, f)) == text:
                continue  # written back unchanged
            ops.append(("hset", self.prefix + h, f, text))
            tx.raw[(h, f)] = text
            ops.extend(self._index_ops(h, f, value))
        ops.extend(tx.ops)
        tx.dirty.clear()
        tx.ops.clear()
        return ops

    def _index_ops(self, h: str, f: str, value: Any) -> list[Op]:
        """Writes that follow a record's (an index entry); ``value`` None: it was deleted."""
        return []

    # ------------------------------------------------------------------ records

    def _decode(self, h: str, text: str) -> Any:
        return text if self.types[h] is str else codec.loads(self.types[h], text)

    def _get(self, h: str, f: str) -> Any:
        tx = self._tx()
        key = (h, f)
        if key in tx.dirty:
            value = tx.dirty[key]
            return None if value is DELETED else value
        if key not in tx.cache:
            raw = self.client.hget(self.prefix + h, f)
            if raw is not None:
                tx.raw[key] = raw
            tx.cache[key] = None if raw is None else self._decode(h, raw)
        return tx.cache[key]

    def _writable(self) -> Tx:
        tx = self._tx()
        if tx.token is None:
            raise RuntimeError("writing in a read-only view (reading()); use transaction()")
        return tx

    def _put(self, h: str, f: str, value: Any) -> None:
        tx = self._writable()
        tx.dirty[(h, f)] = value
        tx.cache[(h, f)] = value

    def _delete(self, h: str, f: str) -> None:
        tx = self._writable()
        tx.dirty[(h, f)] = DELETED
        tx.cache[(h, f)] = None

    def _fields(self, h: str) -> list[str]:
        tx = self._tx()
        if h not in tx.fields:
            tx.fields[h] = set(self.client.hkeys(self.prefix + h))
        names = set(tx.fields[h])
        for (hh, f), value in tx.dirty.items():
            if hh == h:
                if value is DELETED:
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
            if (h, f) not in tx.cache:
                tx.raw[(h, f)] = text
                tx.cache[(h, f)] = self._decode(h, text)
        return [v for v in (self._get(h, f) for f in self._fields(h)) if v is not None]

    def clear(self) -> None:
        """Remove every key under this store's prefix (tests; a fresh study on a used Redis)."""
        keys = list(self.client.scan_iter(match=self.prefix + "*", count=500))
        if keys:
            self.client.delete(*keys)
