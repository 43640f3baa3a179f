"""The local player's key events with their timing (``static/js/input_log.js``): when each key
went down or up (wall clock and a precise monotonic offset from the game's start), which
frame's local input took it, which frame was on screen then, whether that frame was a
prediction and whether a rollback later re-simulated it, and when the assigned frame was first
drawn. The Python peer has no keyboard; a bot or a test may still note its key events."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable

from .stats import js_round, round3

logger = logging.getLogger(__name__)

DISPLAY_HISTORY = 64


@dataclass
class _Display:
    frame: int
    t: float
    predicted: bool
    stamp: int


@dataclass
class _Event:
    key: str
    down: bool
    epoch_ms: int
    t: float
    frame: int | None
    screen_frame: int | None
    predicted: bool | None
    corrected: bool | None
    stamp: int
    shown_ms: float | None = None


class InputLog:
    def __init__(self, limit: int = 100000) -> None:
        self.limit = limit
        self.events: list[_Event] = []
        self.dropped = 0
        self._pending_assign: list[_Event] = []
        self._pending_correction: list[_Event] = []
        self._pending_shown: list[_Event] = []
        self._displays: list[_Display] = []
        self.origin_ms: float | None = None

    def start(self, now: float) -> None:
        """The game started at monotonic ``now`` (t_ms counts from here)."""
        if self.origin_ms is None:
            self.origin_ms = now

    def screen_at(self, t: float) -> _Display | None:
        for d in reversed(self._displays):
            if d.t <= t:
                return d
        return None

    def key(self, key: str, down: bool, t: float, epoch_ms: float) -> _Event | None:
        """A key went down or up at monotonic ``t`` / wall clock ``epoch_ms``."""
        if len(self.events) >= self.limit:
            self.dropped += 1
            return None
        shown = self.screen_at(t)
        ev = _Event(
            key=str(key), down=bool(down), epoch_ms=int(js_round(epoch_ms)), t=t, frame=None,
            screen_frame=None if shown is None else shown.frame,
            predicted=None if shown is None else shown.predicted,
            corrected=None if shown is None or shown.predicted else False,
            stamp=0 if shown is None else shown.stamp,
        )
        self.events.append(ev)
        self._pending_assign.append(ev)
        if ev.corrected is None and shown is not None:
            self._pending_correction.append(ev)
        return ev

    def assign(self, frame: int) -> None:
        """The session took the local input for ``frame``: every key noted since goes with it."""
        for ev in self._pending_assign:
            ev.frame = frame
            self._pending_shown.append(ev)
        self._pending_assign.clear()

    def displayed(self, frame: int, t: float, predicted: bool, stamp: int) -> None:
        self._displays.append(_Display(frame, t, predicted, stamp))
        if len(self._displays) > DISPLAY_HISTORY:
            self._displays.pop(0)
        if self._pending_shown:
            still = []
            for ev in self._pending_shown:
                assert ev.frame is not None
                if frame >= ev.frame:
                    ev.shown_ms = t
                else:
                    still.append(ev)
            self._pending_shown = still

    def confirm_through(self, confirmed: int, stamp_of: Callable[[int], int]) -> None:
        if not self._pending_correction:
            return
        still = []
        for ev in self._pending_correction:
            assert ev.screen_frame is not None
            if ev.screen_frame <= confirmed:
                ev.corrected = stamp_of(ev.screen_frame) != ev.stamp
            else:
                still.append(ev)
        self._pending_correction = still

    def rows(self) -> list[list[Any]]:
        """``[key, down, epoch_ms, t_ms, frame, screen_frame, predicted, corrected, shown_ms]``."""
        o = 0.0 if self.origin_ms is None else self.origin_ms
        return [[ev.key, ev.down, ev.epoch_ms, round3(ev.t - o), ev.frame, ev.screen_frame, ev.predicted,
                 ev.corrected, None if ev.shown_ms is None else round3(ev.shown_ms - o)] for ev in self.events]
