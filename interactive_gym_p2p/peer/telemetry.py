"""Telemetry for the research console, as the browser sends it (``static/js/telemetry.js``):
a small report of the running game every 2 s over the signaling socket (``telemetry`` on
``/p2p``; docs/console.md). Counters are cumulative. ``hidden``/``hidden_s`` come from the
session's hidden log (a headless peer is never hidden). Checked against
``tests/vectors/telemetry.json``.
"""

from __future__ import annotations

import math
from typing import Any

from .session import P2PSession

REPORT_INTERVAL_S = 2.0
PATH_KINDS = ("direct", "relay", "fallback")


def _ms1(x: float | None) -> float | None:
    return round(x * 10) / 10 if x is not None and math.isfinite(x) and x >= 0 else None


def build_report(game_id: str, seq: int, session: P2PSession) -> dict[str, Any]:
    """The report for one moment of ``session`` (reads it, never changes it)."""
    ss = session.sync.stats
    kind = (session.path or {}).get("kind")
    return {
        "game_id": game_id,
        "seq": seq,
        "frame": max(-1, session.current_frame - 1),
        "confirmed_frame": max(-1, session.confirmed_frame),
        "verified_frame": max(-1, session.verified_frame),
        "episode": session.episode,
        "state": session.state,
        "rtt_ms": {str(p["peer_index"]): _ms1(p["rtt_ms"]) for p in session.peer_info()},
        "rollbacks": ss.rollbacks,
        "max_rollback_depth": ss.max_rollback_depth,
        "stalled_frames": session.counters.stalled,
        "mispredicted_frames": ss.mispredicted_frames,
        "desyncs": session.desync.stats.mismatches,
        "first_desync_frame": session.desync_events[0]["frame"] if session.desync_events else None,
        "path_kind": kind if kind in PATH_KINDS else None,
        # A headless peer has no page: never hidden (its session's hidden log stays empty).
        "hidden": session.hidden_log.hidden,
        "hidden_s": session.hidden_log.total_s(session.now()),
    }


class Reporter:
    """Builds a report when one is due (``due(now)``); the caller sends it."""

    def __init__(self, game_id: str, interval_s: float = REPORT_INTERVAL_S) -> None:
        self.game_id = game_id
        self.interval_s = interval_s
        self.seq = 0
        self._next_at: float | None = None

    def due(self, now: float, session: P2PSession) -> dict[str, Any] | None:
        """A report when the interval has passed (the first one at once), else None."""
        if self._next_at is not None and now < self._next_at:
            return None
        self._next_at = now + self.interval_s
        return self.now(session)

    def now(self, session: P2PSession) -> dict[str, Any]:
        report = build_report(self.game_id, self.seq, session)
        self.seq += 1
        return report
