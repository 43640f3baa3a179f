"""Seeded network impairment, the twin of ``static/js/impairment.js``: for each outgoing
message, when (and how often) it is delivered. No timers, no I/O: the caller schedules the
deliveries on its own clock. Same seed and same calls -> same schedule as the JS version.

``link_seed`` derives one stream per direction of each pair, as ``transport.js`` does.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

from .prng import Prng

logger = logging.getLogger(__name__)

DEFAULT_LOG_LIMIT = 1000


def link_seed(seed: int, from_player: int, to_player: int) -> int:
    """``(seed ^ imul(from*16 + to + 1, 0x85EBCA6B)) >>> 0`` (transport.js ``linkSeed``)."""
    return ((seed & 0xFFFFFFFF) ^ (((from_player * 16 + to_player + 1) * 0x85EBCA6B) & 0xFFFFFFFF)) & 0xFFFFFFFF


def _check(name: str, value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < lo or value > hi:
        raise ValueError(f"impairment.{name} must be a number in [{lo}, {hi}], got {value!r}")
    return value


@dataclass
class Impairment:
    """Delivery schedule of one direction of one link."""

    seed: int
    delay_ms: float = 0
    jitter_ms: float = 0
    loss: float = 0
    duplicate: float = 0
    reorder: float = 0
    reorder_ms: float = 50
    log_limit: int = DEFAULT_LOG_LIMIT
    log: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: {"messages": 0, "dropped": 0, "duplicated": 0, "reordered": 0})

    def __post_init__(self) -> None:
        _check("seed", self.seed, 0, 0xFFFFFFFF)
        _check("delay_ms", self.delay_ms, 0, 600000)
        _check("jitter_ms", self.jitter_ms, 0, 600000)
        _check("loss", self.loss, 0, 1)
        _check("duplicate", self.duplicate, 0, 1)
        _check("reorder", self.reorder, 0, 1)
        _check("reorder_ms", self.reorder_ms, 0, 600000)
        _check("log_limit", self.log_limit, 0, 1e7)
        self._prng = Prng(int(self.seed))
        self._last_in_order = -math.inf

    @classmethod
    def from_settings(cls, settings: dict[str, Any], seed: int | None = None) -> "Impairment":
        """From the scene's snake_case impairment block (``delay_ms, jitter_ms, loss, ...``)."""
        return cls(
            seed=int(settings.get("seed", 0) if seed is None else seed),
            delay_ms=settings.get("delay_ms", 0),
            jitter_ms=settings.get("jitter_ms", 0),
            loss=settings.get("loss", 0),
            duplicate=settings.get("duplicate", 0),
            reorder=settings.get("reorder", 0),
            reorder_ms=settings.get("reorder_ms", 50),
        )

    def schedule(self, now_ms: float, size: int = 0) -> list[float]:
        """Delivery times of one message sent at ``now_ms`` ([] = dropped, two = duplicated)."""
        self.counts["messages"] += 1
        # Always six draws, whatever the outcome, so one setting never shifts another's stream.
        p = self._prng
        u_loss, u_jitter, u_reorder, u_reorder_delay, u_dup, u_dup_jitter = (
            p.float(), p.float(), p.float(), p.float(), p.float(), p.float())
        if u_loss < self.loss:
            self.counts["dropped"] += 1
            deliveries: list[float] = []
        else:
            t = now_ms + self.delay_ms + self.jitter_ms * u_jitter
            if u_reorder < self.reorder:
                self.counts["reordered"] += 1
                t += self.reorder_ms * u_reorder_delay
            else:
                t = max(t, self._last_in_order)
                self._last_in_order = t
            deliveries = [t]
            if u_dup < self.duplicate:
                self.counts["duplicated"] += 1
                deliveries.append(t + self.jitter_ms * u_dup_jitter)
        if self.log_limit > 0:
            self.log.append({"t": now_ms, "size": size, "deliveries": list(deliveries)})
            if len(self.log) > self.log_limit:
                del self.log[0]
        return deliveries
