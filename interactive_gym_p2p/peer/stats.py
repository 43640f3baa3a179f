"""Small statistics helpers (``static/js/stats.js``): nearest-rank percentiles, depth
histograms, JS-style rounding and ISO times, so the Python export's stats read like the
browser's."""

from __future__ import annotations

import logging
import math
from datetime import datetime, timezone
from typing import Iterable, Mapping

logger = logging.getLogger(__name__)


def percentile(values: Iterable[float], q: float) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    rank = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[rank]


def histogram_object(counts: Mapping[int, int]) -> dict[str, int]:
    return {str(k): counts[k] for k in sorted(counts)}


def js_round(x: float) -> float:
    """``Math.round``: half toward +infinity. Not ``floor(x + 0.5)``: that sum rounds up
    for 0.49999999999999994 (and large odd values), ``x - floor(x)`` is exact."""
    if not math.isfinite(x):
        return x
    r = math.floor(x)
    return float(r + 1 if x - r >= 0.5 else r)


def round3(x: float | None) -> float | int | None:
    """Rounded to 3 decimals; an integral result is an int, so the export's JSON reads
    ``140`` as the browser's does, not ``140.0``."""
    if x is None:
        return None
    v = js_round(x * 1000) / 1000
    return int(v) if v.is_integer() and abs(v) < 2**53 else v


def iso_time(ms: float) -> str:
    """ISO 8601 UTC with milliseconds, like ``new Date(Math.round(ms)).toISOString()``."""
    whole = int(js_round(ms))
    dt = datetime.fromtimestamp(whole // 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{whole % 1000:03d}Z"
