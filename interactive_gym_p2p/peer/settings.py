"""Session settings of the Python peer: the same names, defaults and ranges as
``static/js/settings.js`` (snake_case here), validated up front so a bad value fails with
an error naming the setting instead of misbehaving mid-game.

``from_game_settings`` maps the scene's ``game_ready.settings`` block to these settings,
the way the browser client hands the scene config to its session.
"""

from __future__ import annotations

import logging
import math
import re
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping

logger = logging.getLogger(__name__)

I32_MIN = -(2**31)
I32_MAX = 2**31 - 1


class SettingsError(ValueError):
    """A setting is unknown or out of range; ``.setting`` names it."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


@dataclass(frozen=True)
class _Spec:
    default: Any
    lo: float | None = None
    hi: float | None = None
    integer: bool = True
    nullable: bool = False
    one_of: tuple[str, ...] | None = None
    auto: bool = False  # the string "auto" is also allowed


# Same table as SETTINGS_SPEC in settings.js (keep them in step).
SPEC: dict[str, _Spec] = {
    "fps": _Spec(30, 1, 240),
    "input_delay": _Spec("auto", 0, 16, auto=True),
    "max_prediction_window": _Spec(8, 0, 32),
    "input_redundancy": _Spec(5, 1, 128),
    "disconnect_notify_ms": _Spec(750, 50, 600000, integer=False),
    "disconnect_timeout_ms": _Spec(5000, 100, 3600000, integer=False),
    "handshake_timeout_ms": _Spec(None, 100, 3600000, integer=False, nullable=True),
    "hash_interval": _Spec(1, 1, 100000),
    "disconnect_policy": _Spec("end", one_of=("end", "default_action")),
    "default_action": _Spec(0, I32_MIN, I32_MAX),
    "max_episodes": _Spec(None, 1, 1e9, nullable=True),
    "reset_freeze_frames": _Spec(0, 0, 1000000),
    "max_steps_per_episode": _Spec(None, 1, 2**31, nullable=True),
    "pending_hash_limit": _Spec(1024, 16, 1000000),
    "keepalive_ms": _Spec(100, 10, 60000, integer=False),
    "ping_interval_ms": _Spec(500, 20, 60000, integer=False),
    "hello_interval_ms": _Spec(200, 10, 60000, integer=False),
    "resend_ms": _Spec(100, 10, 60000, integer=False),
    "hash_resend_ms": _Spec(500, 20, 60000, integer=False),
    "max_unverified_states": _Spec(1200, 1, 1000000),
    "max_desync_events": _Spec(32, 1, 100000),
    "max_state_dumps": _Spec(4, 0, 100000),
    "time_sync_window": _Spec(30, 4, 600),
    "rtt_samples": _Spec(2048, 16, 1000000),
    "countdown_frames": _Spec(0, 0, 65535),
    "hidden_action": _Spec(None, I32_MIN, I32_MAX, nullable=True),
    "max_hidden_ms": _Spec(None, 100, 86400000, integer=False, nullable=True),
    "hidden_policy": _Spec("end", one_of=("end", "default_action")),
    "away_timeout_ms": _Spec(30000, 0, 7200000, integer=False),
    "catchup_chunks_per_tick": _Spec(12, 1, 256),
    "catchup_budget_ms": _Spec(12, 1, 1000, integer=False),
    "catchup_frames_per_tick": _Spec(2000, 1, 1000000),
}


@dataclass(frozen=True)
class SessionSettings:
    """Validated settings of one session (see docs/rollback.md, "Settings")."""

    fps: int = 30
    input_delay: int | str = "auto"  # frames, or "auto": chosen from the RTT before the game
    max_prediction_window: int = 8
    input_redundancy: int = 5
    disconnect_notify_ms: float = 750
    disconnect_timeout_ms: float = 5000
    handshake_timeout_ms: float | None = None  # first-contact wait; None: disconnect_timeout_ms
    hash_interval: int = 1
    disconnect_policy: str = "end"
    default_action: int = 0
    max_episodes: int | None = None
    reset_freeze_frames: int = 0
    max_steps_per_episode: int | None = None
    pending_hash_limit: int = 1024
    keepalive_ms: float = 100
    ping_interval_ms: float = 500
    hello_interval_ms: float = 200
    resend_ms: float = 100
    hash_resend_ms: float = 500
    max_unverified_states: int = 1200
    max_desync_events: int = 32
    max_state_dumps: int = 4
    time_sync_window: int = 30
    rtt_samples: int = 2048
    countdown_frames: int = 0
    hidden_action: int | None = None
    max_hidden_ms: float | None = None
    hidden_policy: str = "end"
    away_timeout_ms: float = 30000  # an away peer (page reload, seat held) is waited for this long
    catchup_chunks_per_tick: int = 12  # catch-up chunks a source sends per tick
    catchup_budget_ms: float = 12  # time per tick a rejoining session spends re-simulating
    catchup_frames_per_tick: int = 2000  # frames per tick a rejoining session re-simulates at most

    def to_camel(self) -> dict[str, Any]:
        """The same settings under the JS names (for a node session in tests)."""
        return {_camel(k): v for k, v in asdict(self).items()}


PeerSettings = SessionSettings  # contract B's name for it


def _camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def _check(name: str, spec: _Spec, value: Any) -> Any:
    if value is None and spec.nullable:
        return None
    if spec.auto and value == "auto":
        return "auto"
    if spec.one_of is not None:
        if value not in spec.one_of:
            raise SettingsError(name, f"setting {name} must be one of {', '.join(map(repr, spec.one_of))}, got {value!r}")
        return value
    what = ("'auto' or " if spec.auto else "") + ("an integer" if spec.integer else "a number")
    nullable = " or null" if spec.nullable else ""
    ok_type = isinstance(value, int) and not isinstance(value, bool)
    if not spec.integer and isinstance(value, float) and value == value and value not in (float("inf"), float("-inf")):
        ok_type = True
    if spec.integer and isinstance(value, float) and value.is_integer():
        value, ok_type = int(value), True
    if not ok_type:
        raise SettingsError(name, f"setting {name} must be {what} in [{spec.lo}, {spec.hi}]{nullable}, got {value!r}")
    if value < spec.lo or value > spec.hi:  # type: ignore[operator]
        raise SettingsError(name, f"setting {name} must be {what} in [{spec.lo}, {spec.hi}]{nullable}, got {value}")
    return value


def make_settings(overrides: Mapping[str, Any] | None = None, **kw: Any) -> SessionSettings:
    """Defaults merged with ``overrides`` (snake_case names), every value checked."""
    merged = dict(overrides or {})
    merged.update(kw)
    for key in merged:
        if key not in SPEC:
            raise SettingsError(key, f"unknown setting {key}; known settings: {', '.join(SPEC)}")
    values = {}
    for name, spec in SPEC.items():
        value = merged.get(name, spec.default)
        values[name] = _check(name, spec, value)
    if values["disconnect_timeout_ms"] <= values["disconnect_notify_ms"]:
        raise SettingsError(
            "disconnect_timeout_ms",
            f"setting disconnect_timeout_ms ({values['disconnect_timeout_ms']}) must be greater than "
            f"disconnect_notify_ms ({values['disconnect_notify_ms']})",
        )
    return SessionSettings(**values)


def from_game_settings(settings: Mapping[str, Any], max_steps: int | None = None, **overrides: Any) -> SessionSettings:
    """Session settings from a scene's ``game_ready.settings`` (``{p2p, validation, impairment}``).

    ``max_steps`` is the scene's ``gameplay.max_steps`` (Interactive Gym ends an episode
    after that many steps); the environment may end it earlier itself.
    """
    p2p = settings.get("p2p") or {}
    validation = settings.get("validation") or {}
    values: dict[str, Any] = {}
    pairs = (
        ("fps", "fps"),
        ("input_delay", "input_delay"),
        ("prediction_window", "max_prediction_window"),
        ("input_redundancy", "input_redundancy"),
        ("disconnect_policy", "disconnect_policy"),
        ("disconnect_notify_ms", "disconnect_notify_ms"),
        ("disconnect_timeout_ms", "disconnect_timeout_ms"),
        ("default_action", "default_action"),
        ("num_episodes", "max_episodes"),
        ("reset_freeze_frames", "reset_freeze_frames"),
    )
    for src, dst in pairs:
        if p2p.get(src) is not None:
            values[dst] = p2p[src]
    # As client_game.js sessionSettings: the countdown in ticks, the hidden limit in ms.
    if p2p.get("countdown_s") is not None:
        fps = values.get("fps", SPEC["fps"].default)
        values["countdown_frames"] = int(math.floor(p2p["countdown_s"] * fps + 0.5))
    if p2p.get("hidden_action") is not None:
        values["hidden_action"] = p2p["hidden_action"]
    if p2p.get("max_hidden_s") is not None:
        values["max_hidden_ms"] = p2p["max_hidden_s"] * 1000
    if p2p.get("hidden_policy") is not None:
        values["hidden_policy"] = p2p["hidden_policy"]
    if validation.get("hash_interval") is not None:
        values["hash_interval"] = validation["hash_interval"]
    away = away_timeout_ms(p2p)
    if away is not None:
        values["away_timeout_ms"] = away
    if validation.get("state_dump_on_desync") is False:
        values["max_state_dumps"] = 0
    # As client_game.js sessionSettings: Interactive Gym's default max_steps means "never"
    # (huge or infinite), so only an integer in range becomes an episode limit.
    if (isinstance(max_steps, (int, float)) and not isinstance(max_steps, bool)
            and float(max_steps).is_integer() and 1 <= max_steps <= 2**31):
        values["max_steps_per_episode"] = int(max_steps)
    values.update(overrides)
    return make_settings(values)


def away_timeout_ms(p2p: Mapping[str, Any]) -> int | None:
    """How long an away peer is waited for (as client_game.js sessionSettings): the server holds
    its seat ``reconnect_grace_s``, then it has ``connection_timeout_s`` to connect; 0 when the
    scene holds no seats (a reload is leaving). None when the scene does not say."""
    grace = p2p.get("reconnect_grace_s")
    if grace is None:
        return None
    if grace <= 0:
        return 0
    return math.floor((grace + (p2p.get("connection_timeout_s") or 20)) * 1000 + 0.5)  # Math.round


def setting_names() -> list[str]:
    return [f.name for f in fields(SessionSettings)]
