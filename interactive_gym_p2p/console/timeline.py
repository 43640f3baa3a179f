"""One player's timeline in a game: a bounded column store of telemetry samples.

A sample per report (every 2 s): time since the game was created, frame, the largest RTT to
any peer, rollbacks and stalled frames since the previous sample, whether the page was hidden,
and the desyncs so far. When the columns are full, neighbouring samples are merged in pairs
(counts summed, RTT the larger, hidden if either was), so a long game keeps its whole span at
a coarser step and memory stays bounded: totals are never lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .report import TelemetryReport

DEFAULT_MAX_POINTS = 1800
"""An hour at one sample every 2 s before the first merge."""


@dataclass
class Timeline:
    max_points: int = DEFAULT_MAX_POINTS
    t: list[float] = field(default_factory=list)
    frame: list[int] = field(default_factory=list)
    rtt_ms: list[float | None] = field(default_factory=list)
    rollbacks: list[int] = field(default_factory=list)
    stalls: list[int] = field(default_factory=list)
    hidden: list[int] = field(default_factory=list)
    desyncs: list[int] = field(default_factory=list)
    last_rollbacks: int = 0
    last_stalls: int = 0
    merges: int = 0

    def __post_init__(self) -> None:
        if self.max_points < 4 or self.max_points % 2:
            raise ValueError("Timeline.max_points must be an even number of at least 4")

    def __len__(self) -> int:
        return len(self.t)

    def add(self, t: float, report: TelemetryReport) -> None:
        # Counters are cumulative; a smaller one (a page that started over) counts from zero.
        rollbacks = report.rollbacks - self.last_rollbacks if report.rollbacks >= self.last_rollbacks else report.rollbacks
        stalls = report.stalled_frames - self.last_stalls if report.stalled_frames >= self.last_stalls else report.stalled_frames
        self.last_rollbacks = report.rollbacks
        self.last_stalls = report.stalled_frames
        if len(self.t) >= self.max_points:
            self._halve()
        self.t.append(round(t, 3))
        self.frame.append(report.frame)
        rtt = report.max_rtt_ms
        self.rtt_ms.append(None if rtt is None else round(rtt, 1))
        self.rollbacks.append(rollbacks)
        self.stalls.append(stalls)
        self.hidden.append(1 if report.hidden else 0)
        self.desyncs.append(report.desyncs)

    def _halve(self) -> None:
        """Merge samples (0,1), (2,3), ...: the later one's time, frame and desyncs."""
        def pairs(col: list[Any]) -> list[tuple[Any, Any]]:
            return list(zip(col[0::2], col[1::2]))

        def larger(a: float | None, b: float | None) -> float | None:
            return a if b is None else b if a is None else max(a, b)

        self.t = self.t[1::2]
        self.frame = self.frame[1::2]
        self.desyncs = self.desyncs[1::2]
        self.rtt_ms = [larger(a, b) for a, b in pairs(self.rtt_ms)]
        self.rollbacks = [a + b for a, b in pairs(self.rollbacks)]
        self.stalls = [a + b for a, b in pairs(self.stalls)]
        self.hidden = [max(a, b) for a, b in pairs(self.hidden)]
        self.merges += 1

    def hidden_intervals(self) -> list[dict[str, Any]]:
        """Spans of samples that were hidden: ``[{start_t, end_t, start_frame, end_frame}]``
        (``end_t`` None while still hidden). Resolution: the sampling step."""
        out: list[dict[str, Any]] = []
        current: dict[str, Any] | None = None
        for t, frame, hidden in zip(self.t, self.frame, self.hidden):
            if hidden and current is None:
                current = {"start_t": t, "end_t": None, "start_frame": frame, "end_frame": None}
                out.append(current)
            elif not hidden and current is not None:
                current["end_t"] = t
                current["end_frame"] = frame
                current = None
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "t": list(self.t),
            "frame": list(self.frame),
            "rtt_ms": list(self.rtt_ms),
            "rollbacks": list(self.rollbacks),
            "stalls": list(self.stalls),
            "hidden": list(self.hidden),
            "desyncs": list(self.desyncs),
            "merges": self.merges,
            "hidden_intervals": self.hidden_intervals(),
        }
