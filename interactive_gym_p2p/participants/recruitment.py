"""Recruitment ids: the URL parameters a recruiter (Prolific, MTurk, a lab pool) appends.

Prolific's study link carries ``PROLIFIC_PID``, ``STUDY_ID`` and ``SESSION_ID``; the
participant id comes from ``id_param`` (``PROLIFIC_PID`` by default), and every parameter in
``params`` is kept with the participant's data and in each validation export's ids. A page
opened without them (``/`` or the path form ``/<subject_id>``) works as before.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Mapping

logger = logging.getLogger(__name__)

PROLIFIC_PARAMS = ("PROLIFIC_PID", "STUDY_ID", "SESSION_ID")
MTURK_PARAMS = ("workerId", "assignmentId", "hitId")

_PARAM = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
MAX_VALUE = 256
RESERVED = {"subject_id", "autoadvance", "code", "outcome", "reason"}
"""Names the package itself uses in URLs and redirect placeholders."""


@dataclass(frozen=True)
class RecruitmentSettings:
    """Which URL parameters identify a participant and are kept."""

    id_param: str | None = "PROLIFIC_PID"
    """The parameter whose value becomes the subject id (None: the id is never taken from a
    recruiter parameter; ``?subject_id=`` and ``/<subject_id>`` still work)."""
    params: tuple[str, ...] = PROLIFIC_PARAMS
    """Every parameter kept as a recruitment id (the id parameter is always one of them)."""
    require_id: bool = False
    """True: a visit without ``id_param`` (or a subject id) gets a page saying the link is
    incomplete instead of a random id."""

    def __post_init__(self) -> None:
        names = ([self.id_param] if self.id_param else []) + list(self.params)
        for name in names:
            if not isinstance(name, str) or not _PARAM.fullmatch(name) or name in RESERVED:
                raise ValueError(
                    f"recruitment parameter {name!r} must be a plain name (letters, digits, '_') other than {sorted(RESERVED)}"
                )
        if self.id_param and self.id_param not in self.params:
            object.__setattr__(self, "params", (self.id_param, *self.params))
        if len(set(self.params)) != len(self.params):
            raise ValueError(f"recruitment parameters are listed twice: {list(self.params)}")
        if self.require_id and not self.id_param:
            raise ValueError("recruitment(require_id=True) needs an id_param")


def value_problem(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"expected a string, got {type(value).__name__}"
    if not value or len(value) > MAX_VALUE:
        return f"must be 1 to {MAX_VALUE} characters"
    if not value.isprintable():
        return "contains control characters"
    return None


def pick(settings: RecruitmentSettings, args: Mapping[str, Any]) -> dict[str, str]:
    """The configured parameters present in ``args`` (a query string or a client's dict),
    in configured order; a bad value is dropped with a warning, never fatal."""
    out: dict[str, str] = {}
    for name in settings.params:
        value = args.get(name)
        if value is None:
            continue
        problem = value_problem(value)
        if problem is not None:
            logger.warning("recruitment parameter %s dropped: %s", name, problem)
            continue
        out[name] = value
    return out
