"""Participants in the wild: recruitment ids, the outcome map and completion codes, the
records researchers download to approve payments (docs/participants.md).

The researcher's touch point is :class:`Study`; the server's is :class:`ParticipantLedger`
(through ``ParticipantFlow.end_study``). Importing this package has no side effects.
"""

from __future__ import annotations

from .ledger import OutcomeRefused, OutcomeReport, ParticipantLedger
from .outcomes import CLIENT_OUTCOMES, OUTCOMES, OutcomeMap, OutcomeSpec
from .records import OutcomeRecord, ParticipantRecord
from .recruitment import MTURK_PARAMS, PROLIFIC_PARAMS, RecruitmentSettings
from .screening import ScreeningInfo, ScreeningSettings
from .store import FileParticipantStore, InMemoryParticipantStore, ParticipantStore
from .study import PROLIFIC_COMPLETION_URL, Study, StudyConfigError

__all__ = [
    "CLIENT_OUTCOMES",
    "FileParticipantStore",
    "InMemoryParticipantStore",
    "MTURK_PARAMS",
    "OUTCOMES",
    "OutcomeMap",
    "OutcomeRecord",
    "OutcomeRefused",
    "OutcomeReport",
    "OutcomeSpec",
    "PROLIFIC_COMPLETION_URL",
    "PROLIFIC_PARAMS",
    "ParticipantLedger",
    "ParticipantRecord",
    "ParticipantStore",
    "RecruitmentSettings",
    "ScreeningInfo",
    "ScreeningSettings",
    "Study",
    "StudyConfigError",
]
