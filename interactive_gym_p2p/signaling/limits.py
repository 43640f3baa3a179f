"""Rate and size limits for what sockets send the server.

Each socket gets one token bucket per message class, so a flood of ICE candidates cannot
starve the fallback data path and a chatty client cannot slow down other games. Buckets
live with the socket in the server process that holds it; they need no shared store.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Rate:
    """A token bucket: ``per_second`` sustained, ``burst`` at once."""

    per_second: float
    burst: int


@dataclass(frozen=True)
class SignalingLimits:
    """Limits of the signaling namespace (defaults fit a 2..8 player mesh with trickle ICE)."""

    signal_rate: Rate = Rate(per_second=50, burst=200)
    """SDP offers/answers and ICE candidates per socket."""
    relay_rate: Rate = Rate(per_second=600, burst=1200)
    """Fallback data messages per socket (inputs at fps x peers, with headroom)."""
    control_rate: Rate = Rate(per_second=10, burst=30)
    """join / finished / leave per socket."""
    telemetry_rate: Rate = Rate(per_second=2, burst=10)
    """Telemetry reports per socket (the clients send one every 2 s)."""
    max_sdp_bytes: int = 16 * 1024
    """Longest SDP in an offer or answer (UTF-8 bytes)."""
    max_candidate_bytes: int = 1024
    """Longest ICE candidate line."""
    max_relay_bytes: int = 1024
    """Largest fallback data message (the binary protocol's MAX_MESSAGE_BYTES)."""
    max_violations: int = 200
    """Refused messages after which a socket is disconnected."""


@dataclass
class TokenBucket:
    rate: Rate
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.rate.burst)
        self.stamp = self.clock()

    def take(self) -> bool:
        """Spend one token; False when the bucket is empty (the message is refused)."""
        now = self.clock()
        self.tokens = min(float(self.rate.burst), self.tokens + (now - self.stamp) * self.rate.per_second)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False
