"""The ledger: every participant's record, and the rule that each ends with one outcome.

- :meth:`ParticipantLedger.arrive` on every connection (first one creates the record; the
  recruitment ids of the first visit are kept, a later different value is logged).
- :meth:`ParticipantLedger.end` records an outcome. The first final outcome wins: a later
  report changes nothing (it is kept under ``ignored_reports`` for audit) and the caller gets
  the outcome that stands, so every page shows the same thing after a reload.
- :meth:`ParticipantLedger.page` is what the participant's page shows for an outcome.

Authority (who may report what) is the caller's job: the participant flow accepts only
:data:`~.outcomes.CLIENT_OUTCOMES` from a page and decides ``completed`` itself.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..validation.ids import check_identifier
from .outcomes import CLIENT_OUTCOMES, SERVER_ONLY_REASONS, fill_redirect, next_step, page_texts, reason_problem
from .records import GameSeat, OutcomeRecord, ParticipantRecord, utc_now
from .store import ParticipantStore
from .study import Study

logger = logging.getLogger(__name__)

MAX_DETAIL = 1000
MAX_IGNORED = 20
MAX_USER_AGENT = 512
PARTICIPANT_DETAIL = ("excluded:screening",)
"""Outcomes whose detail the participant sees too: screening's detail is written for them (what
to change, e.g. the browser). Other details are technical (a module error) and stay with the
researcher."""


class OutcomeRefused(ValueError):
    """A report the ledger does not accept (unknown outcome, a page claiming a server-only one)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class OutcomeReport:
    """One report of how a participant's study ends."""

    outcome: str
    reason: str | None = None
    detail: str | None = None
    scene_id: str | None = None
    game_id: str | None = None
    reported_by: str = "server"
    """``server`` or ``client`` (a page's report: only :data:`CLIENT_OUTCOMES` are accepted)."""
    fallback_redirect: str | None = None
    """Interactive Gym's own redirect for this way out (EndScene url, waitroom_timeout_redirect_url),
    used when the outcome map gives none (a template: literal braces doubled, see ``literal_url``)."""
    fallback_code: str | None = None
    """A code from elsewhere (Interactive Gym's CompletionCodeScene) when the map gives none."""
    server_seat: str | None = None


def check_report(report: OutcomeReport) -> None:
    problem = reason_problem(report.outcome, report.reason)
    if problem is not None:
        raise OutcomeRefused("bad_outcome", problem)
    if report.reported_by not in ("server", "client"):
        raise OutcomeRefused("bad_outcome", f"reported_by must be 'server' or 'client', got {report.reported_by!r}")
    if report.reported_by == "client" and (
        report.outcome not in CLIENT_OUTCOMES or (report.outcome, report.reason) in SERVER_ONLY_REASONS
    ):
        raise OutcomeRefused(
            "not_allowed", f"{report.outcome}{':' + report.reason if report.reason else ''} is decided by the server, not reported by a page"
        )
    if report.detail is not None and not isinstance(report.detail, str):
        raise OutcomeRefused("bad_outcome", "detail must be text")


class ParticipantLedger:
    """Participant records of one experiment over a :class:`ParticipantStore`."""

    def __init__(self, store: ParticipantStore, study: Study, experiment_id: str | None = None,
                 clock: Callable[[], str] = utc_now) -> None:
        self.store = store
        self.study = study
        self.experiment_id = experiment_id
        self.clock = clock
        self._lock = threading.Lock()  # read-modify-write of participant.json within this process

    @contextmanager
    def _changing(self, subject_id: str) -> Iterator[None]:
        """Read-modify-write of one record: one thread of this process at a time, and one
        process at a time when the store is shared (``locked``: the Redis store)."""
        with self._lock:
            locked = getattr(self.store, "locked", None)
            if locked is None:
                yield
                return
            with locked(subject_id):
                yield

    # ------------------------------------------------------------------ records

    def arrive(self, subject_id: str, recruitment: dict[str, str] | None = None, user_agent: str | None = None) -> ParticipantRecord:
        """A connection of ``subject_id``: create its record, or complete it with new ids."""
        check_identifier(subject_id, "subject id")
        recruitment = dict(recruitment or {})
        with self._changing(subject_id):
            record = self.store.get(subject_id)
            if record is None:
                record = ParticipantRecord(
                    subject_id=subject_id,
                    experiment_id=self.experiment_id,
                    started_at=self.clock(),
                    recruitment=recruitment,
                    user_agent=(user_agent or None) and user_agent[:MAX_USER_AGENT],
                )
                self.store.put(record)
                logger.info("participant %s arrived %s", subject_id, recruitment or "(no recruitment ids)")
                return record
            changed = False
            for name, value in recruitment.items():
                if name not in record.recruitment:
                    record.recruitment[name] = value
                    changed = True
                elif record.recruitment[name] != value:
                    logger.warning("participant %s came back with %s=%r (kept the first value %r)",
                                   subject_id, name, value, record.recruitment[name])
            if record.user_agent is None and user_agent:
                record.user_agent = user_agent[:MAX_USER_AGENT]
                changed = True
            if changed:
                self.store.put(record)
            return record

    def get(self, subject_id: str) -> ParticipantRecord | None:
        return self.store.get(subject_id)

    @property
    def recruitment_open(self) -> bool:
        """False once the researcher closed recruitment: new arrivals end with ``study_full:closed``
        (kept in the store, so a restart keeps it closed)."""
        return self.store.get_setting("recruitment_open") is not False

    def recruitment_state(self) -> tuple[bool, str | None]:
        """(open, when it last changed: ISO time, None when never): what the research console shows."""
        return self.recruitment_open, self.store.get_setting("recruitment_changed_at")

    def set_recruitment_open(self, open_: bool) -> None:
        if not isinstance(open_, bool):
            raise ValueError(f"recruitment_open must be True or False, got {open_!r}")
        self.store.put_setting("recruitment_open", open_)
        self.store.put_setting("recruitment_changed_at", self.clock())
        logger.info("recruitment %s", "opened" if open_ else "closed")

    def recruitment_of(self, subject_id: str) -> dict[str, str]:
        record = self.store.get(subject_id)
        return {} if record is None else dict(record.recruitment)

    def outcome_of(self, subject_id: str) -> OutcomeRecord | None:
        record = self.store.get(subject_id)
        return None if record is None else record.outcome

    def note_game(self, subject_id: str, scene_id: str, game_id: str, player_index: int, bot: bool = False) -> None:
        """The participant got a seat in a game (signaling's on_game_created; ``bot``: a bot's seat)."""
        with self._changing(subject_id):
            record = self.store.get(subject_id)
            if record is None:
                return
            if any(g.game_id == game_id for g in record.games):
                return
            record.games.append(GameSeat(scene_id, game_id, player_index, self.clock()))
            record.bot = record.bot or bot
            self.store.put(record)

    def note_screening(self, subject_id: str, result: dict[str, Any]) -> None:
        with self._changing(subject_id):
            record = self.store.get(subject_id)
            if record is None:
                return
            record.screening = result
            self.store.put(record)

    def records(self) -> list[dict[str, Any]]:
        """Every participant's record as JSON, oldest first."""
        out = []
        for subject_id in self.store.subject_ids():
            record = self.store.get(subject_id)
            if record is not None:
                out.append(record.to_json())
        out.sort(key=lambda r: (r["started_at"] or "", r["subject_id"]))
        return out

    # ------------------------------------------------------------------ outcomes

    def end(self, subject_id: str, report: OutcomeReport) -> tuple[OutcomeRecord, bool]:
        """Record ``report`` unless an outcome stands: (the outcome that stands, whether it is this one)."""
        check_identifier(subject_id, "subject id")
        check_report(report)
        record = self.store.get(subject_id)
        if record is None:
            record = self.arrive(subject_id)
        if record.outcome is not None:
            self._ignore(subject_id, report, record.outcome)
            return record.outcome, False
        spec = self.study.outcome_map.spec(report.outcome, report.reason, report.fallback_redirect)
        if spec.code is None and report.fallback_code is not None:
            spec = dataclasses.replace(spec, code=report.fallback_code)
        values = {**record.recruitment, "code": spec.code, "subject_id": subject_id,
                  "outcome": report.outcome, "reason": report.reason}
        outcome = OutcomeRecord(
            outcome=report.outcome,
            reason=report.reason,
            detail=None if report.detail is None else report.detail[:MAX_DETAIL],
            code=spec.code,
            redirect_url=fill_redirect(spec.redirect_url, values) if spec.redirect_url else None,
            reported_by=report.reported_by,
            recorded_at=self.clock(),
            scene_id=report.scene_id,
            game_id=report.game_id,
            server_seat=report.server_seat,
        )
        stored, created = self.store.set_outcome(subject_id, outcome)
        if created:
            logger.info("participant %s: outcome %s%s (%s)%s", subject_id, outcome.outcome,
                        f":{outcome.reason}" if outcome.reason else "", outcome.reported_by,
                        f" {outcome.detail}" if outcome.detail else "")
        else:
            self._ignore(subject_id, report, stored)
        return stored, created

    def _ignore(self, subject_id: str, report: OutcomeReport, stands: OutcomeRecord) -> None:
        if (report.outcome, report.reason) == (stands.outcome, stands.reason):
            return  # the same outcome again (a reload, a retried emit): nothing to note
        logger.info("participant %s: %s%s reported after the final outcome %s; ignored", subject_id,
                    report.outcome, f":{report.reason}" if report.reason else "", stands.outcome)
        with self._changing(subject_id):
            record = self.store.get(subject_id)
            if record is None or len(record.ignored_reports) >= MAX_IGNORED:
                return
            record.ignored_reports.append({
                "outcome": report.outcome, "reason": report.reason, "detail": report.detail,
                "reported_by": report.reported_by, "at": self.clock(),
            })
            self.store.put(record)

    def page(self, subject_id: str, outcome: OutcomeRecord) -> dict[str, Any]:
        """The ``study_end`` payload: what the participant's page shows."""
        spec = self.study.outcome_map.spec(outcome.outcome, outcome.reason)
        title, message = page_texts(outcome.outcome, outcome.reason, spec)
        delay = spec.redirect_delay_s if outcome.redirect_url else None
        show_detail = outcome.outcome in PARTICIPANT_DETAIL or f"{outcome.outcome}:{outcome.reason}" in PARTICIPANT_DETAIL
        return {
            "subject_id": subject_id,
            "outcome": outcome.outcome,
            "reason": outcome.reason,
            "title": title,
            "message": message,
            "detail": outcome.detail if show_detail else None,
            "next": next_step(outcome.code, outcome.redirect_url, delay),
            "code": outcome.code,
            "redirect_url": outcome.redirect_url,
            "redirect_delay_s": delay,
            "recorded_at": outcome.recorded_at,
        }
