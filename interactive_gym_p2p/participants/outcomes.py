"""The outcome map: how each way out of a study ends for the participant.

Every participant ends with exactly one of :data:`OUTCOMES`, optionally with a reason
(``excluded`` always has one: screening, hidden, inactive, ping, left). The researcher maps
outcomes (or ``outcome:reason`` pairs) to a completion code and/or a redirect URL, and may
replace the page's title and text. Resolution is field by field, most specific first:
``excluded:screening`` -> ``excluded`` -> the map's defaults.

Codes are handed to a participant only when the server records that participant's outcome;
they never reach the page before (a code in the page source could be copied without playing).
"""

from __future__ import annotations

import math
import re
import string
import urllib.parse
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

OUTCOMES = ("completed", "partner_left", "lobby_timeout", "connection_failed", "excluded", "study_full", "error")
"""Every outcome a participant can end with."""

KNOWN_REASONS: dict[str, tuple[str, ...]] = {
    "completed": (),
    "partner_left": ("left", "disconnected", "excluded"),
    "lobby_timeout": ("no_match", "group", "bot_unavailable"),
    "connection_failed": ("peer", "server"),
    "excluded": ("screening", "hidden", "inactive", "ping", "left"),
    "study_full": ("closed",),
    "error": ("env_load", "game_setup", "game_not_finished", "game_error", "researcher", "internal"),
}
"""Reasons the package itself reports; other plain reasons (``[a-z][a-z0-9_]*``) are allowed."""

CLIENT_OUTCOMES = ("partner_left", "connection_failed", "excluded", "error")
"""Outcomes a participant's page may report. The others are decided by the server alone:
``completed`` (the server checks the participant's games), ``lobby_timeout`` (the server's
waiting-room clock), ``study_full``, and ``excluded`` with reason ``screening``."""

SERVER_ONLY_REASONS = {("excluded", "screening")}

_REASON = re.compile(r"[a-z][a-z0-9_]{0,31}")
_CODE = re.compile(r"[A-Za-z0-9_.:+-]{1,64}")
MAX_TEXT = 2000


class OutcomeConfigError(ValueError):
    """A bad outcome map entry; the message names the entry and the problem."""


def reason_problem(outcome: Any, reason: Any) -> str | None:
    """Why ``(outcome, reason)`` is not a valid pair, or None."""
    if outcome not in OUTCOMES:
        return f"unknown outcome {outcome!r}; one of {', '.join(OUTCOMES)}"
    if reason is None:
        return "excluded needs a reason (screening, hidden, inactive, ping, left, ...)" if outcome == "excluded" else None
    if not isinstance(reason, str) or not _REASON.fullmatch(reason):
        return f"reason {reason!r} must be lowercase letters, digits and '_' (at most 32), starting with a letter"
    return None


def _placeholders(template: str) -> list[str]:
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise OutcomeConfigError(f"redirect URL {template!r}: {exc}") from None


@dataclass(frozen=True)
class OutcomeSpec:
    """What one outcome gives the participant. Every field may be None (then less specific
    entries and the defaults fill it in)."""

    code: str | None = None
    """Completion code shown with a copy button (and put into ``{code}`` of the redirect)."""
    redirect_url: str | None = None
    """Where the page sends the participant, e.g.
    ``https://app.prolific.com/submissions/complete?cc={code}``. Placeholders: ``{code}``,
    ``{subject_id}``, ``{outcome}``, ``{reason}`` and every recruitment parameter
    (``{PROLIFIC_PID}``, ``{STUDY_ID}``, ...), URL-encoded."""
    title: str | None = None
    """Heading of the page (plain text); default per outcome."""
    message: str | None = None
    """What happened, in the participant's words (plain text); default per outcome and reason."""
    redirect_delay_s: float | None = None
    """Seconds the page is shown before the redirect (default 5; 0: at once)."""

    def merged_over(self, base: "OutcomeSpec") -> "OutcomeSpec":
        """This spec's fields where set, else ``base``'s."""
        return OutcomeSpec(**{f: getattr(self, f) if getattr(self, f) is not None else getattr(base, f) for f in _FIELDS})

    def to_json(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in _FIELDS}


_FIELDS = ("code", "redirect_url", "title", "message", "redirect_delay_s")


def check_spec(where: str, value: Any) -> OutcomeSpec:
    """A code string, a dict of :class:`OutcomeSpec` fields, or an OutcomeSpec, checked."""
    if isinstance(value, str):
        value = OutcomeSpec(code=value)
    elif isinstance(value, Mapping):
        unknown = sorted(set(value) - set(_FIELDS), key=str)
        if unknown:
            raise OutcomeConfigError(f"{where}: unknown keys {unknown}; allowed: {', '.join(_FIELDS)}")
        value = OutcomeSpec(**dict(value))
    elif not isinstance(value, OutcomeSpec):
        raise OutcomeConfigError(f"{where}: expected a completion code, a dict or an OutcomeSpec, got {value!r}")
    if value.code is not None and (not isinstance(value.code, str) or not _CODE.fullmatch(value.code)):
        raise OutcomeConfigError(f"{where}: code {value.code!r} must be 1 to 64 letters, digits or _ . : + -")
    if value.redirect_url is not None:
        url = value.redirect_url
        if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https", ""):
            raise OutcomeConfigError(f"{where}: redirect_url {url!r} must be an http(s) URL or a path")
        for name in _placeholders(url):
            if not name.isidentifier():
                raise OutcomeConfigError(f"{where}: redirect_url placeholder {{{name}}} is not a plain name")
    for name in ("title", "message"):
        text = getattr(value, name)
        if text is not None and (not isinstance(text, str) or len(text) > MAX_TEXT):
            raise OutcomeConfigError(f"{where}: {name} must be text of at most {MAX_TEXT} characters")
    delay = value.redirect_delay_s
    if delay is not None and (
        isinstance(delay, bool) or not isinstance(delay, (int, float)) or not math.isfinite(delay) or not 0 <= delay <= 600
    ):
        raise OutcomeConfigError(f"{where}: redirect_delay_s must be from 0 to 600 seconds, got {delay!r}")
    return value


def check_key(key: Any) -> str:
    """``outcome`` or ``outcome:reason``."""
    if not isinstance(key, str):
        raise OutcomeConfigError(f"outcome map key {key!r} must be a string")
    outcome, _, reason = key.partition(":")
    problem = reason_problem(outcome, reason or (None if outcome != "excluded" else "any"))
    if problem is not None:
        raise OutcomeConfigError(f"outcome map key {key!r}: {problem}")
    return key


@dataclass(frozen=True)
class OutcomeMap:
    """One map per experiment: outcome (or ``outcome:reason``) -> :class:`OutcomeSpec`."""

    entries: Mapping[str, OutcomeSpec] = field(default_factory=dict)
    redirect_url: str | None = None
    """Default redirect for every outcome that has a code but no redirect of its own
    (e.g. Prolific's ``https://app.prolific.com/submissions/complete?cc={code}``)."""
    redirect_delay_s: float = 5

    @classmethod
    def build(cls, entries: Mapping[str, Any], redirect_url: str | None = None, redirect_delay_s: float = 5) -> "OutcomeMap":
        checked = {check_key(k): check_spec(f"outcomes[{k!r}]", v) for k, v in entries.items()}
        if redirect_url is not None:
            check_spec("outcomes(redirect_url)", OutcomeSpec(redirect_url=redirect_url))
        check_spec("outcomes(redirect_delay_s)", OutcomeSpec(redirect_delay_s=redirect_delay_s))
        return cls(checked, redirect_url, redirect_delay_s)

    def placeholders(self) -> set[str]:
        urls = [s.redirect_url for s in self.entries.values() if s.redirect_url] + ([self.redirect_url] if self.redirect_url else [])
        return {name for url in urls for name in _placeholders(url)}

    def spec(self, outcome: str, reason: str | None = None, fallback_redirect: str | None = None) -> OutcomeSpec:
        """The resolved spec: ``outcome:reason``, then ``outcome``, then the map's defaults,
        then ``fallback_redirect`` (Interactive Gym's scene redirect, e.g. the waiting room's)."""
        spec = OutcomeSpec()
        if reason is not None and f"{outcome}:{reason}" in self.entries:
            spec = self.entries[f"{outcome}:{reason}"]
        if outcome in self.entries:
            spec = spec.merged_over(self.entries[outcome])
        if spec.redirect_url is None:
            if spec.code is not None and self.redirect_url is not None:
                spec = replace(spec, redirect_url=self.redirect_url)
            elif fallback_redirect:
                spec = replace(spec, redirect_url=fallback_redirect)
        if spec.redirect_delay_s is None:
            spec = replace(spec, redirect_delay_s=self.redirect_delay_s)
        return spec


def fill_redirect(template: str, values: Mapping[str, Any]) -> str:
    """``template`` with every ``{name}`` replaced by the URL-encoded value ('' when unknown)."""
    out = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            value = values.get(name)
            out.append("" if value is None else urllib.parse.quote(str(value), safe=""))
    return "".join(out)


def literal_url(url: str) -> str:
    """A URL used as it is (Interactive Gym's redirects): braces escaped for :func:`fill_redirect`."""
    return url.replace("{", "{{").replace("}", "}}")


# ---------------------------------------------------------------------- participant texts

TITLES = {
    "completed": "Thank you!",
    "partner_left": "Your partner left",
    "lobby_timeout": "No partner could be found",
    "connection_failed": "The connection failed",
    "excluded": "The study has ended for you",
    "study_full": "This study is full",
    "error": "Something went wrong",
    "error:researcher": "The game was stopped",
}

MESSAGES = {
    "completed": "You have finished the study.",
    "partner_left": "Your partner left the study, so the game could not go on. This is not your fault.",
    "partner_left:excluded": "Your partner was removed from the study, so the game could not go on. This is not your fault.",
    "lobby_timeout": "No other participant joined in time, so the game could not start. This is not your fault.",
    "lobby_timeout:group": "Your group from the previous game did not all come back in time. This is not your fault.",
    "connection_failed": "Your browser and your partner's could not connect to each other, so the game could not take place.",
    "connection_failed:server": "Your browser lost its connection to the study server for too long, so the game went on without you.",
    "excluded": "You can no longer take part in this study.",
    "excluded:screening": "Your browser, device or connection does not meet this study's requirements.",
    "excluded:hidden": "The game was in a background tab or window for too long.",
    "excluded:inactive": "No input came from you for too long during the game.",
    "excluded:ping": "Your connection to the study server was too slow for too long during the game.",
    "excluded:left": "You left the game before it ended (the page was closed or reloaded).",
    "study_full": "This study is not taking new participants.",
    "error": "The study could not go on because of a technical problem. This is not your fault.",
    "error:env_load": "The game could not be loaded in your browser. This is not your fault.",
    "error:researcher": "The researcher stopped this game. This is not your fault.",
}


def next_step(code: str | None, redirect_url: str | None, delay_s: float | None) -> str:
    """What to do now, in one sentence."""
    if redirect_url:
        if delay_s:
            return f"You will be taken back in {delay_s:g} seconds; if nothing happens, use the button below."
        return "You are being taken back; if nothing happens, use the button below."
    if code:
        return "Copy this completion code and enter it on the site you came from (for example Prolific) to finish."
    return "You can close this page. If the site you came from asks for a code, please contact the researcher and mention your participant id."


def page_texts(outcome: str, reason: str | None, spec: OutcomeSpec) -> tuple[str, str]:
    title = spec.title or TITLES.get(f"{outcome}:{reason}") or TITLES[outcome]
    message = spec.message or MESSAGES.get(f"{outcome}:{reason}") or MESSAGES[outcome]
    return title, message
