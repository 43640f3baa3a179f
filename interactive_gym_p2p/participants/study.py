"""Study: the experiment-wide participant settings (recruitment ids, outcome map, screening).

One per experiment, configured the way scenes are (chained calls, checked when set)::

    from interactive_gym_p2p.participants import PROLIFIC_COMPLETION_URL, Study

    study = (
        Study()
        .recruitment()                                   # Prolific's PROLIFIC_PID/STUDY_ID/SESSION_ID
        .outcomes(
            completed="C1A2B3C4",
            partner_left="CPL0001",
            lobby_timeout="CLT0001",
            connection_failed="CCF0001",
            excluded={"code": "CEX0001", "message": "..."},
            redirect_url=PROLIFIC_COMPLETION_URL,          # every outcome with a code goes back to Prolific
        )
    )

Give it to the server as ``ServerConfig(study=study)``, or define ``study`` next to
``stager`` in the experiment file served by ``interactive-gym-p2p``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from .outcomes import OutcomeConfigError, OutcomeMap
from .recruitment import RecruitmentSettings
from .screening import ScreeningSettings

PROLIFIC_COMPLETION_URL = "https://app.prolific.com/submissions/complete?cc={code}"
"""Prolific's completion link; ``{code}`` becomes the outcome's code."""

BUILTIN_PLACEHOLDERS = ("code", "subject_id", "outcome", "reason")

_UNSET: Any = object()


class StudyConfigError(ValueError):
    """A study setting that cannot work; the message names the call and the setting."""


class Study:
    """Experiment-wide participant settings. Every call returns the study."""

    def __init__(self) -> None:
        self.recruitment_settings = RecruitmentSettings()
        self.outcome_map = OutcomeMap()
        self.screening_settings = ScreeningSettings()

    def recruitment(
        self,
        id_param: str | None = _UNSET,
        params: tuple[str, ...] | list[str] = _UNSET,
        require_id: bool = _UNSET,
    ) -> "Study":
        """Which URL parameters identify the participant (default: Prolific's three)."""
        given: dict[str, Any] = {}
        if id_param is not _UNSET:
            given["id_param"] = id_param
        if params is not _UNSET:
            if isinstance(params, str) or not isinstance(params, (list, tuple)):
                raise StudyConfigError(f"recruitment(params): must be a list of parameter names, got {params!r}")
            given["params"] = tuple(params)
        if require_id is not _UNSET:
            if not isinstance(require_id, bool):
                raise StudyConfigError(f"recruitment(require_id): must be True or False, got {require_id!r}")
            given["require_id"] = require_id
        try:
            # A new id_param replaces the old one in params unless params were given too.
            base = self.recruitment_settings
            if "id_param" in given and "params" not in given:
                given["params"] = tuple(p for p in base.params if p != base.id_param)
            self.recruitment_settings = dataclasses.replace(base, **given)
        except ValueError as exc:
            raise StudyConfigError(f"recruitment: {exc}") from None
        return self

    def outcomes(
        self,
        entries: Mapping[str, Any] | None = None,
        *,
        redirect_url: str | None = _UNSET,
        redirect_delay_s: float = _UNSET,
        **by_outcome: Any,
    ) -> "Study":
        """The outcome map: ``completed="CODE"``, ``excluded={"code": ..., "redirect_url": ...}``,
        or ``{"excluded:screening": "CODE"}`` for one reason. Replaces the previous map."""
        merged = {**dict(entries or {}), **by_outcome}
        url = self.outcome_map.redirect_url if redirect_url is _UNSET else redirect_url
        delay = self.outcome_map.redirect_delay_s if redirect_delay_s is _UNSET else redirect_delay_s
        try:
            self.outcome_map = OutcomeMap.build(merged, url, delay)
        except OutcomeConfigError as exc:
            raise StudyConfigError(f"outcomes: {exc}") from None
        return self

    def screening(self, **settings: Any) -> "Study":
        """Checks before a participant may wait for a partner (docs/participants.md):
        ``webrtc`` [True], ``turn`` [True], ``turn_timeout_s`` [10], ``max_rtt_ms`` [None],
        ``rtt_samples`` [5], ``browsers`` [None], ``devices`` [None], ``check`` [None]
        (``callable(ScreeningInfo) -> None|True|False|str``). ``screening(webrtc=False,
        turn=False)`` with nothing else turns screening off."""
        names = {f.name for f in dataclasses.fields(ScreeningSettings)}
        unknown = sorted(set(settings) - names)
        if unknown:
            raise StudyConfigError(f"screening: unknown settings {unknown}; allowed: {sorted(names)}")
        for key in ("browsers", "devices"):
            if isinstance(settings.get(key), list):
                settings[key] = tuple(settings[key])
        try:
            self.screening_settings = dataclasses.replace(self.screening_settings, **settings)
        except ValueError as exc:
            raise StudyConfigError(f"screening: {exc}") from None
        return self

    def check(self) -> "Study":
        """Checks across settings (run by the server before serving)."""
        known = set(BUILTIN_PLACEHOLDERS) | set(self.recruitment_settings.params)
        unknown = sorted(self.outcome_map.placeholders() - known)
        if unknown:
            raise StudyConfigError(
                f"outcomes: redirect URL placeholders {unknown} are neither {list(BUILTIN_PLACEHOLDERS)} "
                f"nor recruitment parameters {list(self.recruitment_settings.params)}"
            )
        return self

    def describe(self) -> dict[str, Any]:
        """The settings as JSON (for logs and the researcher; codes included)."""
        return {
            "recruitment": dataclasses.asdict(self.recruitment_settings),
            "outcomes": {k: v.to_json() for k, v in self.outcome_map.entries.items()},
            "redirect_url": self.outcome_map.redirect_url,
            "screening": self.screening_settings.describe(),
        }

