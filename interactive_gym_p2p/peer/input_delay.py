"""``input_delay='auto'``: each player's input delay from the RTT measured before the game.

Twin of ``static/js/input_delay.js`` (the rule and its reasoning: docs/rollback.md, "Input
delay"). A player's input for frame f, sampled d frames early, reaches a peer RTT/2 later;
with the peers' frames aligned by time sync the peer is then about ``floor(RTT / 2T) + 1 - d``
frames past f (T = 1000 / fps ms): the depth of the rollback that input causes. 'auto' picks
the smallest d that keeps it within ``floor(window / 2)`` frames.
"""

from __future__ import annotations

import math
from typing import Iterable

from ..protocol import MAX_INPUT_DELAY

__all__ = [
    "RTT_PROBE_INTERVAL_MS", "RTT_PROBE_SAMPLES", "RTT_PROBE_TIMEOUT_MS", "auto_input_delay",
    "expected_rollback_depth", "median_rtt", "rollback_bound",
]

RTT_PROBE_SAMPLES = 5
"""PONGs per peer the pre-game probe waits for (their median is used)."""
RTT_PROBE_INTERVAL_MS = 50
"""Interval between the probe's PINGs to one peer (ms)."""
RTT_PROBE_TIMEOUT_MS = 2000
"""The probe decides with what it has after this long; a peer without a sample counts as an
unbounded RTT (the largest delay)."""


def rollback_bound(max_prediction_window: int) -> int:
    """Largest expected rollback depth 'auto' accepts (frames)."""
    return max_prediction_window // 2


def expected_rollback_depth(rtt_ms: float, fps: int, delay: int) -> float:
    """Expected rollback depth a peer sees for the inputs of a player with ``delay``."""
    if not math.isfinite(rtt_ms):
        return math.inf
    lateness = math.floor(max(0.0, rtt_ms) * fps / 2000) + 1
    return max(0, lateness - delay)


def auto_input_delay(rtt_ms: float | None, fps: int, max_prediction_window: int) -> int:
    """The delay 'auto' picks for a player whose largest RTT to a peer is ``rtt_ms``
    (None or infinite: unknown, the largest delay)."""
    if rtt_ms is None or not math.isfinite(rtt_ms):
        return MAX_INPUT_DELAY
    d = int(expected_rollback_depth(rtt_ms, fps, 0)) - rollback_bound(max_prediction_window)
    return min(MAX_INPUT_DELAY, max(0, d))


def median_rtt(samples: Iterable[float]) -> float | None:
    """Median of RTT samples (the lower middle one for an even count), or None for none."""
    s = sorted(samples)
    return s[(len(s) - 1) >> 1] if s else None
