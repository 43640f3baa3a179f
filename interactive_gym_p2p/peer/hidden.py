"""The local player's hidden intervals (``static/js/hidden.js``): when the page went to the
background and came back, and which of the player's own input frames were taken while hidden
(they carry the hidden action, not a person's choice). A headless peer is never hidden; the
twin exists so both engines keep the same record and wire behaviour."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from .stats import iso_time, round3

logger = logging.getLogger(__name__)


@dataclass
class HiddenInterval:
    start_ms: float
    start_wall: float
    first_frame: int | None = None
    last_frame: int | None = None
    end_ms: float | None = None
    end_wall: float | None = None
    excluded: bool = False


class HiddenLog:
    def __init__(self, limit: int = 1000) -> None:
        self.limit = limit
        self.intervals: list[HiddenInterval] = []
        self.current: HiddenInterval | None = None
        self.dropped = 0

    @property
    def hidden(self) -> bool:
        return self.current is not None

    def set(self, hidden: bool, now: float, wall: float) -> HiddenInterval | None:
        """Hidden (True) or visible (False) at monotonic ``now``; the interval opened or closed."""
        if hidden == self.hidden:
            return None
        if hidden:
            self.current = HiddenInterval(now, wall)
            if len(self.intervals) < self.limit:
                self.intervals.append(self.current)
            else:
                self.dropped += 1
            return self.current
        closed = self.current
        assert closed is not None
        closed.end_ms = now
        closed.end_wall = wall
        self.current = None
        return closed

    def note_input(self, frame: int) -> None:
        c = self.current
        if c is None:
            return
        if c.first_frame is None:
            c.first_frame = frame
        c.last_frame = frame

    def hidden_ms(self, now: float) -> float:
        return 0 if self.current is None else max(0, now - self.current.start_ms)

    def mark_excluded(self) -> None:
        if self.current is not None:
            self.current.excluded = True

    def total_s(self, now: float) -> Any:
        ms = sum((now if iv.end_ms is None else iv.end_ms) - iv.start_ms for iv in self.intervals)
        return round3(ms / 1000)

    def records(self, now: float) -> list[dict[str, Any]]:
        return [{
            "first_frame": iv.first_frame,
            "last_frame": iv.last_frame,
            "started_at": iso_time(iv.start_wall),
            "ended_at": None if iv.end_wall is None else iso_time(iv.end_wall),
            "duration_s": round3(max(0, (now if iv.end_ms is None else iv.end_ms) - iv.start_ms) / 1000),
            "excluded": iv.excluded,
        } for iv in self.intervals]
