"""The participant records the server keeps: who arrived with which recruitment ids, which
games they sat in, and the one outcome they ended with.

Records hold only strings, numbers, lists and dicts, so another store (Redis, issue 18) can
serialize them as they are. JSON shapes are documented in docs/participants.md.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

RECORD_SCHEMA = "interactive-gym-p2p/participant"
RECORD_SCHEMA_VERSION = 1


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        a = datetime.fromisoformat(start.replace("Z", "+00:00"))
        b = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    return round((b - a).total_seconds(), 3)


@dataclass(frozen=True)
class OutcomeRecord:
    """How a participant's study ended. Written once; the first final outcome wins."""

    outcome: str
    """One of ``outcomes.OUTCOMES``."""
    reason: str | None
    """Why, e.g. ``screening`` for ``excluded``; None when the outcome says it all."""
    detail: str | None
    """Free text for the researcher (what failed, which frame, ...)."""
    code: str | None
    """The completion code the participant was given (None: none configured)."""
    redirect_url: str | None
    """The URL the participant was sent to, placeholders filled in (None: none)."""
    reported_by: str
    """``server`` (decided by the server) or ``client`` (reported by the participant's page)."""
    recorded_at: str
    """ISO 8601 UTC time the outcome was recorded."""
    scene_id: str | None = None
    """Scene the participant was in."""
    game_id: str | None = None
    """Game the outcome is about (the participant's game in that scene), if any."""
    server_seat: str | None = None
    """For a page's report about a game: the participant's seat state as the server knew it
    then (``connected``, ``ended``, ``finished``, ...), so a report can be audited."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "OutcomeRecord":
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass
class GameSeat:
    """A game the participant sat in."""

    scene_id: str
    game_id: str
    player_index: int
    joined_at: str


@dataclass
class ParticipantRecord:
    """Everything the server keeps about one participant (besides scene data and exports)."""

    subject_id: str
    experiment_id: str | None
    started_at: str
    """First connection."""
    recruitment: dict[str, str] = field(default_factory=dict)
    """Recruitment ids from the study link (``PROLIFIC_PID``, ``STUDY_ID``, ``SESSION_ID``, ...)."""
    user_agent: str | None = None
    screening: dict[str, Any] | None = None
    """The screening result (``screening.ScreeningResult.to_json()``), once screened."""
    games: list[GameSeat] = field(default_factory=list)
    outcome: OutcomeRecord | None = None
    ignored_reports: list[dict[str, Any]] = field(default_factory=list)
    """Outcomes reported after the final one (kept for audit, at most 20)."""
    bot: bool = False
    """A bot the server started for a waiting participant (signaling's seat flag): not a
    recruited person, so not in the payment table."""

    def to_json(self) -> dict[str, Any]:
        ended = self.outcome.recorded_at if self.outcome else None
        return {
            "schema": RECORD_SCHEMA,
            "schema_version": RECORD_SCHEMA_VERSION,
            "subject_id": self.subject_id,
            "experiment_id": self.experiment_id,
            "recruitment": dict(self.recruitment),
            "started_at": self.started_at,
            "ended_at": ended,
            "duration_s": seconds_between(self.started_at, ended),
            "user_agent": self.user_agent,
            "screening": self.screening,
            "games": [asdict(g) for g in self.games],
            "outcome": self.outcome.to_json() if self.outcome else None,
            "ignored_reports": list(self.ignored_reports),
            "bot": self.bot,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ParticipantRecord":
        return cls(
            subject_id=data["subject_id"],
            experiment_id=data.get("experiment_id"),
            started_at=data.get("started_at") or "",
            recruitment=dict(data.get("recruitment") or {}),
            user_agent=data.get("user_agent"),
            screening=data.get("screening"),
            games=[GameSeat(**g) for g in data.get("games") or []],
            outcome=OutcomeRecord.from_json(data["outcome"]) if data.get("outcome") else None,
            ignored_reports=list(data.get("ignored_reports") or []),
            bot=bool(data.get("bot", False)),
        )


CSV_COLUMNS = ("subject_id", "outcome", "reason", "code", "started_at", "ended_at", "duration_s",
               "scene_id", "game_id", "games", "reported_by", "detail")


def csv_row(record: dict[str, Any], recruitment_params: list[str]) -> list[str]:
    """One row of the payment table (``record``: :meth:`ParticipantRecord.to_json`)."""
    outcome = record.get("outcome") or {}
    values: dict[str, Any] = {
        "subject_id": record["subject_id"],
        "outcome": outcome.get("outcome"),
        "reason": outcome.get("reason"),
        "code": outcome.get("code"),
        "started_at": record.get("started_at"),
        "ended_at": record.get("ended_at"),
        "duration_s": record.get("duration_s"),
        "scene_id": outcome.get("scene_id"),
        "game_id": outcome.get("game_id"),
        "games": " ".join(g["game_id"] for g in record.get("games") or []),
        "reported_by": outcome.get("reported_by"),
        "detail": outcome.get("detail"),
    }
    recruitment = record.get("recruitment") or {}
    row = [values["subject_id"]] + [recruitment.get(p) for p in recruitment_params] + [values[c] for c in CSV_COLUMNS[1:]]
    return ["" if v is None else str(v) for v in row]
