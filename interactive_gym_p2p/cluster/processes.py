"""The roll of a study's live server processes, and the one that sweeps.

Every process beats (writes the wall time into a Redis hash) about once a second. A process
not heard of for ``dead_after_s`` is dead: the sweeping process claims it (an ``HDEL`` only
one claimer wins) and closes the signaling sockets it held, so their seats wait for their
participants under the grace period and their places in the waiting room are given back
when they reconnect (through another process). A process that finds itself struck off the
roll (it stalled longer than ``dead_after_s``) closes its own sockets, so its participants
reconnect and rejoin rather than talk to a process the others gave up on.

Sweeping (deadlines, dead processes) is done by one process at a time: the holder of a lease
that expires when its holder stops renewing it.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import redis

logger = logging.getLogger(__name__)

_HOLD = """
local v = redis.call('GET', KEYS[1])
if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end
if not v then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
return 0
"""

# A beat never overwrites "0" (left): a tick already on its way when the process leaves must not
# put it back on the roll. Returns 1 when the field was new (struck off, or first beat).
_BEAT = """
if redis.call('HGET', KEYS[1], ARGV[1]) == '0' then return -1 end
return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
"""

_DROP = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def new_process_id() -> str:
    """Names this server process on the roll (host, pid and a random part: a pid is reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass
class Tick:
    """What one beat found."""

    sweeper: bool = False
    """This process holds the sweeping lease."""
    dead: list[str] = field(default_factory=list)
    """Dead processes this one claimed (close their sockets)."""
    evicted: bool = False
    """This process had been struck off the roll (close its own sockets)."""


class ProcessRoll:
    def __init__(self, client: "redis.Redis", prefix: str, process_id: str, dead_after_s: float = 5.0,
                 beat_s: float = 1.0) -> None:
        if dead_after_s < 2 * beat_s:
            raise ValueError("dead_after_s must be at least two beats")
        self.client = client
        self.key = prefix + "processes"
        self.lease_key = prefix + "sweeper"
        self.process_id = process_id
        self.dead_after_s = dead_after_s
        self.beat_s = beat_s
        self._hold = client.register_script(_HOLD)
        self._drop = client.register_script(_DROP)
        self._beat = client.register_script(_BEAT)
        self._last_beat = float("-inf")
        self._joined = False
        self._left = False

    def tick(self, now: float | None = None) -> Tick:
        """Beat (at most once per ``beat_s``), hold or try the sweeping lease, and (as the
        sweeper) claim the processes that stopped beating."""
        mono = time.monotonic()
        tick = Tick()
        if self._left:
            return tick
        if mono - self._last_beat >= self.beat_s:
            self._last_beat = mono
            wall = time.time() if now is None else now
            beat = self._beat(keys=[self.key], args=[self.process_id, repr(wall)])
            if beat == -1:  # left meanwhile (a tick already under way): neither beat nor lease
                self._left = True
                return tick
            added = beat == 1
            if added and self._joined:
                logger.error("this server process (%s) had been struck off the roll (stalled over %.0f s): "
                             "closing its sockets so its participants reconnect", self.process_id, self.dead_after_s)
                tick.evicted = True
            self._joined = True
        tick.sweeper = bool(self._hold(keys=[self.lease_key], args=[self.process_id, int(self.dead_after_s * 1000)]))
        if tick.sweeper:
            tick.dead = self._claim_dead(time.time() if now is None else now)
        return tick

    def _claim_dead(self, now: float) -> list[str]:
        claimed = []
        for process_id, beat in self.client.hgetall(self.key).items():
            if process_id == self.process_id:
                continue
            try:
                last = float(beat)
            except ValueError:
                last = 0.0
            if now - last > self.dead_after_s and self.client.hdel(self.key, process_id):
                claimed.append(process_id)
        return claimed

    def members(self) -> dict[str, float]:
        """Process id -> last beat (wall seconds)."""
        return {k: float(v) for k, v in self.client.hgetall(self.key).items()}

    def leave(self) -> None:
        """A clean exit: mark this process as gone at once (the sweeper closes its sockets at
        its next sweep instead of waiting ``dead_after_s``) and give up the lease."""
        self._left = True
        try:
            self.client.hset(self.key, self.process_id, "0")
            self._drop(keys=[self.lease_key], args=[self.process_id])
        except Exception:
            logger.exception("leaving the roll of server processes failed")
