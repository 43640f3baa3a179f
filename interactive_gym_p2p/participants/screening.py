"""Screening: checks a participant passes before they may wait for a partner.

The page runs the browser checks while the participant reads the first pages (the server
sends ``screening`` with what to check and fresh TURN credentials) and reports the results
(``screening_report``); the server judges them here, together with what it sees itself (the
User-Agent header) and, when the participant first asks for a seat, the researcher's callback.
A failed check ends the study with ``excluded``/``screening`` and a detail written for the
participant (what to change: "use a desktop computer", "use Chrome, Edge or Firefox", ...).

Checks (``Study().screening(...)``, defaults in brackets):

- ``webrtc`` [True]: RTCPeerConnection with a DataChannel can be created and makes an offer;
- ``turn`` [True]: two connections in the page, relay only through the server's TURN server,
  open a DataChannel and echo a message (skipped when the server hands out no TURN server);
- ``max_rtt_ms`` [None]: median round trip to the server over ``rtt_samples`` [5] Socket.IO
  messages at most this;
- ``browsers`` [None]: allowed browser families (``chrome``, ``edge``, ``firefox``, ``safari``,
  ``opera``, ``samsung``, ...), from the User-Agent (ua-parser);
- ``devices`` [None]: allowed device types (``desktop``, ``mobile``, ``tablet``);
- ``check`` [None]: ``callable(ScreeningInfo) -> None | True | False | str``: None/True pass,
  False or a text (shown to the participant) fail. Runs once, when the participant first asks
  for a seat, so it sees the answers of the static scenes before.
"""

from __future__ import annotations

import logging
import math
import statistics
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Mapping

logger = logging.getLogger(__name__)

DEVICES = ("desktop", "mobile", "tablet")
BROWSER_FAMILIES = {
    "Chrome": "chrome", "Chromium": "chrome", "HeadlessChrome": "chrome", "Chrome Mobile": "chrome",
    "Chrome Mobile WebView": "chrome", "Chrome Mobile iOS": "chrome",
    "Edge": "edge", "Edge Mobile": "edge",
    "Firefox": "firefox", "Firefox Mobile": "firefox", "Firefox iOS": "firefox",
    "Safari": "safari", "Mobile Safari": "safari", "Mobile Safari UI/WKWebView": "safari",
    "Opera": "opera", "Opera Mobile": "opera", "Samsung Internet": "samsung",
}
"""ua-parser's family names -> the names researchers list (other families: lowercased)."""

BROWSER_NAMES = {"chrome": "Chrome", "edge": "Edge", "firefox": "Firefox", "safari": "Safari", "opera": "Opera", "samsung": "Samsung Internet"}
MAX_RTT_SAMPLES = 20


@dataclass(frozen=True)
class ScreeningInfo:
    """What the researcher's ``check`` callback gets."""

    subject_id: str
    recruitment: Mapping[str, str]
    browser: str | None
    """Browser family (``chrome``, ``firefox``, ...), None when unknown."""
    device: str
    """``desktop``, ``mobile`` or ``tablet``."""
    user_agent: str | None
    rtt_ms: float | None
    """Median round trip to the server, when measured."""
    scene_data: Mapping[str, Any]
    """Answers of the static scenes so far, by scene id (``{element_id: value}``)."""
    report: Mapping[str, Any]
    """The page's own report (webrtc, turn, rtt samples, screen, touch points, ...)."""


@dataclass(frozen=True)
class ScreeningSettings:
    """What ``Study.screening(...)`` configures."""

    webrtc: bool = True
    turn: bool = True
    turn_timeout_s: float = 10
    """How long the TURN check may take before it fails (1..60)."""
    max_rtt_ms: float | None = None
    rtt_samples: int = 5
    browsers: tuple[str, ...] | None = None
    devices: tuple[str, ...] | None = None
    check: Callable[[ScreeningInfo], Any] | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name in ("webrtc", "turn"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if not _number_in(self.turn_timeout_s, 1, 60):
            raise ValueError(f"turn_timeout_s must be from 1 to 60 seconds, got {self.turn_timeout_s!r}")
        if self.max_rtt_ms is not None and not _number_in(self.max_rtt_ms, 1, 60_000):
            raise ValueError(f"max_rtt_ms must be None or from 1 to 60000, got {self.max_rtt_ms!r}")
        if isinstance(self.rtt_samples, bool) or not isinstance(self.rtt_samples, int) or not 1 <= self.rtt_samples <= MAX_RTT_SAMPLES:
            raise ValueError(f"rtt_samples must be an integer from 1 to {MAX_RTT_SAMPLES}, got {self.rtt_samples!r}")
        if self.browsers is not None:
            if isinstance(self.browsers, str) or not self.browsers or not all(isinstance(b, str) and b for b in self.browsers):
                raise ValueError(f"browsers must be None or a non-empty list of names like 'chrome', got {self.browsers!r}")
            object.__setattr__(self, "browsers", tuple(b.lower() for b in self.browsers))
        if self.devices is not None:
            if isinstance(self.devices, str) or not self.devices or any(d not in DEVICES for d in self.devices):
                raise ValueError(f"devices must be None or a non-empty list of {DEVICES}, got {self.devices!r}")
            object.__setattr__(self, "devices", tuple(self.devices))
        if self.check is not None and not callable(self.check):
            raise ValueError(f"check must be a callable(ScreeningInfo), got {self.check!r}")

    @property
    def enabled(self) -> bool:
        return bool(self.webrtc or self.turn or self.max_rtt_ms is not None or self.browsers or self.devices or self.check)

    def client_checks(self, ice_servers: list[dict[str, Any]]) -> dict[str, Any]:
        """The ``screening`` event: what the page measures (TURN only with TURN servers)."""
        turn_servers = [s for s in ice_servers if any(str(u).startswith(("turn:", "turns:")) for u in _urls(s))]
        return {
            "webrtc": self.webrtc,
            "turn": self.turn and bool(turn_servers),
            "ice_servers": turn_servers if self.turn else [],
            "turn_timeout_s": self.turn_timeout_s,
            "rtt_samples": self.rtt_samples if self.max_rtt_ms is not None else 0,
        }

    def describe(self) -> dict[str, Any]:
        out = asdict(self)
        out["check"] = None if self.check is None else getattr(self.check, "__name__", repr(self.check))
        return out


def _number_in(value: Any, lo: float, hi: float) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value) and lo <= value <= hi


def _urls(server: Mapping[str, Any]) -> list[Any]:
    urls = server.get("urls", [])
    return [urls] if isinstance(urls, str) else list(urls)


# ---------------------------------------------------------------------- classification


def browser_family(user_agent: str | None) -> str | None:
    """``chrome``, ``firefox``, ... from a User-Agent string (ua-parser), None when unknown."""
    if not user_agent:
        return None
    from ua_parser import parse  # imported when screening runs: its rules load on first use

    parsed = parse(user_agent[:1000]).user_agent
    if parsed is None:
        return None
    return BROWSER_FAMILIES.get(parsed.family, parsed.family.lower())


def device_type(user_agent: str | None, report: Mapping[str, Any]) -> str:
    """``mobile``, ``tablet`` or ``desktop``: the browser's own hint (``navigator.userAgentData``),
    then the User-Agent, then touch points (iPadOS says "Macintosh" but has touch)."""
    ua = user_agent or ""
    hint = report.get("ua_mobile")
    if "iPad" in ua or ("Android" in ua and "Mobile" not in ua) or "Tablet" in ua:
        return "tablet"
    if hint is True or any(k in ua for k in ("Mobi", "iPhone", "iPod", "Android")):
        return "mobile"
    touch = report.get("touch_points")
    if "Macintosh" in ua and isinstance(touch, int) and touch > 1:
        return "tablet"
    return "desktop"


# ---------------------------------------------------------------------- judging


@dataclass
class ScreeningResult:
    """The outcome of screening one participant (kept in the participant record)."""

    passed: bool | None
    """True passed, False failed, None not decided yet (the callback runs at the first seat)."""
    problems: list[str] = field(default_factory=list)
    """Participant-facing sentences, one per failed check."""
    browser: str | None = None
    device: str | None = None
    rtt_ms: float | None = None
    webrtc: Any = None
    turn: Any = None
    callback: str | None = None
    """``passed``, ``failed`` or ``error`` once the researcher's check ran."""
    skipped: str | None = None
    """Why nothing was checked (the Python peer)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _check_result(report: Mapping[str, Any], name: str) -> tuple[bool, str]:
    value = report.get(name)
    if not isinstance(value, Mapping):
        return False, "not reported"
    detail = value.get("detail")
    return value.get("ok") is True, str(detail)[:300] if detail is not None else ""


def judge_report(settings: ScreeningSettings, checks: Mapping[str, Any], report: Any,
                 user_agent: str | None) -> ScreeningResult:
    """The built-in checks over the page's report and the server's User-Agent."""
    report = report if isinstance(report, Mapping) else {}
    result = ScreeningResult(passed=True)
    result.browser = browser_family(user_agent)
    result.device = device_type(user_agent, report)
    if checks.get("webrtc"):
        ok, detail = _check_result(report, "webrtc")
        result.webrtc = {"ok": ok, "detail": detail}
        if not ok:
            result.problems.append("This browser cannot make the direct connections the game needs (WebRTC). "
                                   "Please use a current version of Chrome, Edge or Firefox.")
    if checks.get("turn"):
        ok, detail = _check_result(report, "turn")
        result.turn = {"ok": ok, "detail": detail}
        if not ok:
            result.problems.append("Your network blocks the connection the game needs (the test through the "
                                   "study's relay server failed). Please try another network, or switch off a VPN or firewall.")
    if settings.max_rtt_ms is not None:
        samples = report.get("rtt_ms")
        if isinstance(samples, list):
            samples = [float(x) for x in samples[:MAX_RTT_SAMPLES] if _number_in(x, 0, 600_000)]
        if not samples:
            result.problems.append("The connection to the study server could not be measured.")
        else:
            result.rtt_ms = round(statistics.median(samples), 1)
            if result.rtt_ms > settings.max_rtt_ms:
                result.problems.append(f"Your connection to the study server is too slow ({result.rtt_ms:.0f} ms; "
                                       f"at most {settings.max_rtt_ms:.0f} ms). Please try a faster network.")
    if settings.browsers is not None and result.browser not in settings.browsers:
        names = ", ".join(BROWSER_NAMES.get(b, b) for b in settings.browsers)
        result.problems.append(f"This study needs one of these browsers: {names}.")
    if settings.devices is not None and result.device not in settings.devices:
        result.problems.append(f"This study cannot be done on a {result.device}; please use a "
                               f"{' or '.join(settings.devices)} device.")
    if result.problems:
        result.passed = False
    elif settings.check is not None:
        result.passed = None  # the researcher's check runs when the participant first asks for a seat
    return result


def run_callback(settings: ScreeningSettings, result: ScreeningResult, info: ScreeningInfo) -> ScreeningResult:
    """The researcher's check; an exception fails closed (logged, the participant told plainly)."""
    assert settings.check is not None
    try:
        verdict = settings.check(info)
    except Exception:
        logger.exception("the screening check failed for %s; the participant is screened out", info.subject_id)
        result.callback = "error"
        result.passed = False
        result.problems.append("The study could not check whether you can take part.")
        return result
    if verdict is None or verdict is True:
        result.callback = "passed"
        result.passed = True
    else:
        result.callback = "failed"
        result.passed = False
        result.problems.append(verdict if isinstance(verdict, str) and verdict else
                               "You do not meet this study's requirements.")
    return result
