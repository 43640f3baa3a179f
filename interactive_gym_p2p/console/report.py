"""The telemetry report every player's client sends while its game runs (``telemetry`` on
``/p2p``, every 2 s): parsed and checked, never trusted as sent.

Counters are cumulative since the game started, so a lost or late report loses no rollback
or stall: the next one carries the total. Twins that build it: ``static/js/telemetry.js``
(browser) and ``interactive_gym_p2p/peer/telemetry.py`` (Python peer); examples both test
against are in ``tests/vectors/telemetry.json``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..validation.ids import identifier_problem

MAX_PEERS = 8
MAX_COUNT = 2**31 - 1
MAX_RTT_MS = 600_000.0
MAX_HIDDEN_S = 10 * 24 * 3600.0
SESSION_STATES = ("created", "handshake", "countdown", "catchup", "running", "transition", "finished", "closed")
"""Every state of the rollback session in both engines (session.js SessionState, peer/session.py SessionState)."""
PATH_KINDS = ("direct", "relay", "fallback")

# key -> (kind, required). Every key is listed: an unknown key is refused, so a twin that
# drifts is caught by the vectors rather than silently ignored.
FIELDS: dict[str, str] = {
    "game_id": "id",
    "seq": "count",
    "frame": "frame",
    "confirmed_frame": "frame",
    "verified_frame": "frame",
    "episode": "count",
    "state": "state",
    "rtt_ms": "rtts",
    "rollbacks": "count",
    "max_rollback_depth": "count",
    "stalled_frames": "count",
    "mispredicted_frames": "count",
    "desyncs": "count",
    "first_desync_frame": "frame_or_null",
    "path_kind": "path_or_null",
    "hidden": "bool_or_null",
    "hidden_s": "seconds_or_null",
}


class ReportInvalid(ValueError):
    """A telemetry payload that is not a report; the message names the field."""


@dataclass(frozen=True)
class TelemetryReport:
    game_id: str
    seq: int
    """Report number of this player in this game, from 0 (a restart of the count is a new page)."""
    frame: int
    """Newest simulated frame (may be predicted), -1 before the first."""
    confirmed_frame: int
    """Newest frame whose inputs are all confirmed, -1 before the first."""
    verified_frame: int
    """Newest frame whose hash every peer agreed on, -1 before the first."""
    episode: int
    state: str
    """The rollback session's state (one of SESSION_STATES)."""
    rtt_ms: dict[int, float | None]
    """Round trip to each peer (by player index) over the game's data path; None: no sample yet."""
    rollbacks: int
    max_rollback_depth: int
    stalled_frames: int
    mispredicted_frames: int
    desyncs: int
    first_desync_frame: int | None
    path_kind: str | None
    """direct, relay (TURN) or fallback (through the server); None before the path is known."""
    hidden: bool | None
    """The page is hidden now (a background tab); None where there is no page (Python peer)."""
    hidden_s: float | None
    """Seconds the page has been hidden during this game, in total."""

    @property
    def max_rtt_ms(self) -> float | None:
        values = [v for v in self.rtt_ms.values() if v is not None]
        return max(values) if values else None

    def to_json(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in FIELDS}
        out["rtt_ms"] = {str(k): v for k, v in sorted(self.rtt_ms.items())}
        return out


def _int(name: str, value: Any, low: int, high: int = MAX_COUNT) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ReportInvalid(f"telemetry.{name} must be an integer from {low} to {high}, got {value!r}")
    return value


def _float(name: str, value: Any, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= high:
        raise ReportInvalid(f"telemetry.{name} must be a number from 0 to {high:g}, got {value!r}")
    return float(value)


def _field(name: str, kind: str, value: Any) -> Any:
    if kind == "id":
        problem = identifier_problem(value)
        if problem is not None:
            raise ReportInvalid(f"telemetry.{name} is invalid: {problem}")
        return value
    if kind == "count":
        return _int(name, value, 0)
    if kind == "frame":
        return _int(name, value, -1)
    if kind == "frame_or_null":
        return None if value is None else _int(name, value, 0)
    if kind == "state":
        if value not in SESSION_STATES:
            raise ReportInvalid(f"telemetry.{name} must be one of {', '.join(SESSION_STATES)}, got {value!r}")
        return value
    if kind == "path_or_null":
        if value is not None and value not in PATH_KINDS:
            raise ReportInvalid(f"telemetry.{name} must be null or one of {', '.join(PATH_KINDS)}, got {value!r}")
        return value
    if kind == "bool_or_null":
        if value is not None and not isinstance(value, bool):
            raise ReportInvalid(f"telemetry.{name} must be true, false or null, got {value!r}")
        return value
    if kind == "seconds_or_null":
        return None if value is None else _float(name, value, MAX_HIDDEN_S)
    if kind == "rtts":
        if not isinstance(value, dict) or len(value) > MAX_PEERS:
            raise ReportInvalid(f"telemetry.{name} must be an object of at most {MAX_PEERS} peers (player index -> ms or null)")
        rtts: dict[int, float | None] = {}
        for key, ms in value.items():
            if not isinstance(key, str) or not key.isdigit() or len(key) > 3 or int(key) > 255:
                raise ReportInvalid(f"telemetry.{name}: key {key!r} is not a player index")
            rtts[int(key)] = None if ms is None else _float(f"{name}[{key}]", ms, MAX_RTT_MS)
        return rtts
    raise AssertionError(kind)  # pragma: no cover


def parse_report(payload: Any) -> TelemetryReport:
    """The checked report, or :class:`ReportInvalid` naming the first bad field."""
    if not isinstance(payload, dict):
        raise ReportInvalid(f"telemetry: the payload must be an object, got {type(payload).__name__}")
    unknown = sorted(str(k) for k in payload if k not in FIELDS)
    if unknown:
        raise ReportInvalid(f"telemetry: unknown keys {unknown[:5]}")
    missing = [k for k in FIELDS if k not in payload]
    if missing:
        raise ReportInvalid(f"telemetry: missing keys {missing}")
    values = {name: _field(name, kind, payload[name]) for name, kind in FIELDS.items()}
    return TelemetryReport(**values)
