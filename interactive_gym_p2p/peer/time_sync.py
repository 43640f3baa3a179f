"""Time sync with one peer (``static/js/time_sync.js``): windows of local and remote
frame-advantage samples; ``(mean(local) - mean(remote)) / 2`` estimates how many frames we
are ahead, so the peer ahead waits and both meet in the middle."""

from __future__ import annotations

import logging
import math

logger = logging.getLogger(__name__)


class TimeSync:
    def __init__(self, window_size: int = 30, min_remote: int = 3) -> None:
        self.window_size = window_size
        self.min_local = max(2, window_size >> 1)
        self.min_remote = min_remote
        self.local = [0.0] * window_size
        self.remote = [0.0] * window_size
        self.clear()

    def clear(self) -> None:
        self.local_count = 0
        self.remote_count = 0
        self.local_sum = 0.0
        self.remote_sum = 0.0

    @staticmethod
    def _push(ring: list[float], count: int, value: float) -> float:
        i = count % len(ring)
        old = ring[i] if count >= len(ring) else 0.0
        ring[i] = value
        return value - old

    def add_local(self, advantage: float) -> None:
        self.local_sum += self._push(self.local, self.local_count, advantage)
        self.local_count += 1

    def add_remote(self, advantage: float) -> None:
        self.remote_sum += self._push(self.remote, self.remote_count, advantage)
        self.remote_count += 1

    def frame_advantage(self) -> float | None:
        """Frames we are ahead (negative: behind), or None without enough samples."""
        if self.local_count < self.min_local or self.remote_count < self.min_remote:
            return None
        local = self.local_sum / min(self.local_count, self.window_size)
        remote = self.remote_sum / min(self.remote_count, self.window_size)
        return (local - remote) / 2

    def recommend_wait(self, max_wait: int) -> int:
        a = self.frame_advantage()
        if a is None or a < 1:
            return 0
        return min(math.floor(a), max_wait)
