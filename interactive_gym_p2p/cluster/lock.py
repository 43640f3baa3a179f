"""A lock every server process shares on one Redis key, and the fenced commit of a step.

A step takes the lock (``SET key token NX PX ttl``), reads what it needs, decides, and
commits all its writes with one Lua script that first checks the lock still holds its token:
a process that stalled past the lock's lifetime (and so lost it to another) cannot write over
newer state; its step fails instead. The lock expires by itself, so a process that dies while
holding it blocks the others for at most ``ttl_s``.

Waiting for the lock polls with a short growing sleep (``time.sleep``: a green sleep under
eventlet's monkey patching, a thread sleep otherwise).
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import redis

logger = logging.getLogger(__name__)

# ARGV: token, release ("1"/"0"), then ops of four: command, key, field or member, value or score.
_COMMIT = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local i = 3
while i <= #ARGV do
  local c, k, f, v = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if c == 'hset' then redis.call('HSET', k, f, v)
  elseif c == 'hdel' then redis.call('HDEL', k, f)
  elseif c == 'zadd' then redis.call('ZADD', k, v, f)
  elseif c == 'zrem' then redis.call('ZREM', k, f)
  elseif c == 'hincrby' then redis.call('HINCRBY', k, f, v)
  elseif c == 'del' then redis.call('DEL', k)
  else return redis.error_reply('unknown op ' .. c) end
  i = i + 4
end
if ARGV[2] == '1' then redis.call('DEL', KEYS[1]) end
return 1
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

Op = tuple[str, str, str, str]
"""(command, key, field or member, value or score): hset, hdel, zadd, zrem, hincrby, del."""


class LockTimeout(RuntimeError):
    """The shared lock was not free within the wait limit (another process holds it)."""


class LockLost(RuntimeError):
    """The lock expired during the step and another process may have taken it: nothing was written."""


class SharedLock:
    def __init__(self, client: "redis.Redis", key: str, ttl_s: float = 5.0, wait_s: float = 15.0) -> None:
        self.client = client
        self.key = key
        self.ttl_ms = int(ttl_s * 1000)
        self.wait_s = wait_s
        self._commit = client.register_script(_COMMIT)
        self._release = client.register_script(_RELEASE)
        self.waits = 0
        """Times a process found the lock taken (a contention gauge for benchmarks)."""

    def acquire(self) -> str:
        """Take the lock; its token (for :meth:`commit` and :meth:`release`)."""
        token = secrets.token_hex(12)
        deadline = time.monotonic() + self.wait_s
        pause = 0.0002
        while not self.client.set(self.key, token, nx=True, px=self.ttl_ms):
            self.waits += 1
            if time.monotonic() > deadline:
                raise LockTimeout(f"the shared lock {self.key} was not free within {self.wait_s:g} s")
            time.sleep(pause * (0.5 + random.random()))  # jitter: waiters of several processes spread out
            pause = min(pause * 2, 0.005)
        return token

    def commit(self, token: str, ops: Sequence[Op], release: bool) -> None:
        """Apply ``ops`` atomically if the lock still holds ``token`` (then release it if asked)."""
        args: list[str] = [token, "1" if release else "0"]
        for op in ops:
            args.extend(op)
        if not self._commit(keys=[self.key], args=args):
            raise LockLost(f"the shared lock {self.key} expired during the step ({self.ttl_ms} ms); its writes were dropped")

    def release(self, token: str) -> None:
        try:
            self._release(keys=[self.key], args=[token])
        except Exception:  # the lock expires by itself; a failed release only delays the next step
            logger.exception("releasing the shared lock %s failed", self.key)
