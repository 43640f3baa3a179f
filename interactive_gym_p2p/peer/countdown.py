"""The start countdown (``static/js/countdown.js``): every peer counts the same number of
ticks down to frame 0, and COUNTDOWN messages line the peers up the way time sync lines up
frames. ``local = peer's ticks left as heard - ours`` (offset + one-way delay); the remote
sample is the same measured by the peer, so ``(local - remote) / 2`` is how far we are ahead;
the peer ahead holds its count for that many ticks."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Iterable

from .time_sync import TimeSync

logger = logging.getLogger(__name__)


@dataclass
class _Peer:
    sync: TimeSync
    left: int | None = None
    last_local: int | None = None


@dataclass
class StartCountdown:
    frames: int
    peers: Iterable[int]
    window_size: int = 30
    left: int = field(init=False)
    ticks: int = field(init=False, default=0)
    hold_budget: int = field(init=False, default=0)
    held: int = field(init=False, default=0)
    settle_until: int = field(init=False, default=0)
    settle_ticks: int = field(init=False, default=0)
    _peers: dict[int, _Peer] = field(init=False)

    def __post_init__(self) -> None:
        self.total = self.frames
        self.left = self.frames
        self._peers = {p: _Peer(TimeSync(self.window_size)) for p in self.peers}

    @property
    def done(self) -> bool:
        return self.left == 0

    def receive(self, peer: int, left: int, advantage: int | None) -> None:
        p = self._peers.get(peer)
        if p is None:
            return
        if p.left is None or left < p.left:  # unordered channel: the smallest count is the newest
            p.left = left
        if advantage is not None and self.ticks >= self.settle_until:
            p.sync.add_remote(advantage)

    def _restart_samples(self) -> None:
        for p in self._peers.values():
            p.sync.clear()
        self.settle_until = self.ticks + self.settle_ticks

    def tick(self, active: Iterable[int]) -> bool:
        """One tick; True when it counted the last tick down (frame 0 comes next)."""
        if self.left == 0:
            return False
        active = list(active)
        self.ticks += 1
        if self.hold_budget > 0:
            self.hold_budget -= 1
            self.held += 1
            if self.hold_budget == 0:
                # Samples taken while we held describe the old offset (see countdown.js).
                self._restart_samples()
            return False
        for peer in active:
            p = self._peers.get(peer)
            if p is None or p.left is None:
                continue
            p.last_local = p.left - self.left
            p.sync.add_local(p.last_local)
        wait = 0
        delay = 0.0
        for peer in active:
            p = self._peers.get(peer)
            if p is None:
                continue
            w = p.sync.recommend_wait(self.total)
            if w > wait:
                wait = w
                s = p.sync
                local = s.local_sum / min(s.local_count, s.window_size)
                remote = s.remote_sum / min(s.remote_count, s.window_size)
                delay = max(0.0, (local + remote) / 2)
        if wait > 0:
            self.hold_budget = wait - 1
            self.held += 1
            self.settle_ticks = math.ceil(2 * delay) + 2
            if self.hold_budget == 0:
                self._restart_samples()
            return False
        self.left -= 1
        return self.left == 0

    def advantage_for(self, peer: int) -> int | None:
        p = self._peers.get(peer)
        return None if p is None else p.last_local
