"""What a scene declares about matching: the matcher and its RTT limits, the waiting room's
timeout policy, and the experimental conditions its games are assigned to.

``P2PGymScene.matchmaking(...)``, ``.waiting_room(...)`` and ``.conditions(...)`` build these
records; every value is checked when it is set (:class:`SceneConfigError` names the call and
the setting), so a typo fails when the experiment file loads.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..scene_settings import (
    P2P_CHECKS,
    SceneConfigError,
    check_bool,
    check_choice,
    check_int,
    check_number,
)

MATCHERS = ("fifo", "latency_fifo")
TIMEOUT_POLICIES = ("leave", "bot", "start_with_fewer")
CONDITION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

CONDITION_P2P_KEYS = (
    "input_delay",
    "prediction_window",
    "input_redundancy",
    "disconnect_policy",
    "disconnect_notify_ms",
    "disconnect_timeout_ms",
    "connection_timeout_s",
    "ice_transport_policy",
    "connection_fallback",
    "impairment",
)
"""The p2p settings a condition may change: the ones each game reads from ``game_ready``.
Players, agents, fps, TURN and the server-side timeouts stay the scene's."""

BOT_ACTION_KINDS = ("random", "noop", "script:", "policy:")


@dataclass(frozen=True)
class MatchmakingSettings:
    """What ``P2PGymScene.matchmaking(...)`` configures (defaults shown)."""

    matcher: str | Callable[..., Any] = "fifo"
    """'fifo' (arrival order), 'latency_fifo' (arrival order, partners by lowest estimated
    RTT within ``max_p2p_rtt_ms``), or a callable ``(MatchView) -> list of candidate keys | None``."""
    max_p2p_rtt_ms: int | None = None
    """Largest peer-to-peer RTT a game may form with (estimated, and probed when ``probe``)."""
    probe: bool | None = None
    """Measure the RTT between the candidates over WebRTC before forming the game;
    None: on exactly when ``max_p2p_rtt_ms`` is set."""
    probe_pings: int = 5
    """PING/PONG round trips per peer in a probe (1..50)."""
    probe_timeout_s: float = 10.0
    """Seconds a probe may take (connect and measure) before it counts as failed (1..120)."""
    rtt_slack_ms: int = 20
    """With probing on, a pair is not proposed when the difference of its server RTTs (a lower
    bound of any path between them) exceeds ``max_p2p_rtt_ms`` by more than this (noise)."""
    rtt_wait_s: float = 2.0
    """Latency-aware matching waits this long for a newcomer's first server RTT (0..30)."""
    requeue_on_connection_failure: bool = True
    """A game whose WebRTC connection fails puts its players back into the waiting room
    (never with each other again) instead of ending."""
    max_requeues: int = 2
    """Times one participant may be put back per scene visit (0..10); then the failure ends it."""

    @property
    def probing(self) -> bool:
        return self.max_p2p_rtt_ms is not None if self.probe is None else self.probe

    @property
    def matcher_name(self) -> str:
        if isinstance(self.matcher, str):
            return self.matcher
        return "callable:" + getattr(self.matcher, "__qualname__", type(self.matcher).__name__)


MATCHMAKING_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "matcher": lambda s, v: v if callable(v) or hasattr(v, "decide") else check_choice(s, v, MATCHERS),
    "max_p2p_rtt_ms": lambda s, v: None if v is None else check_int(s, v, 1, 10_000),
    "probe": lambda s, v: None if v is None else check_bool(s, v),
    "probe_pings": lambda s, v: check_int(s, v, 1, 50),
    "probe_timeout_s": lambda s, v: check_number(s, v, 1, 120),
    "rtt_slack_ms": lambda s, v: check_int(s, v, 0, 10_000),
    "rtt_wait_s": lambda s, v: check_number(s, v, 0, 30),
    "requeue_on_connection_failure": check_bool,
    "max_requeues": lambda s, v: check_int(s, v, 0, 10),
}


def check_bot_actions(setting: str, value: Any) -> str:
    """'random', 'noop', 'script:1,2,3' or 'policy:package.module:function'."""
    if not isinstance(value, str) or not value.startswith(BOT_ACTION_KINDS) or value in ("script:", "policy:"):
        raise SceneConfigError(
            setting, f"must be 'random', 'noop', 'script:a,b,...' or 'policy:module:function', got {value!r}"
        )
    if value.startswith("policy:") and value.count(":") != 2:
        raise SceneConfigError(setting, f"a policy is 'policy:package.module:function', got {value!r}")
    if value not in ("random", "noop") and not value.startswith(("script:", "policy:")):
        raise SceneConfigError(setting, f"unknown action source {value!r}")
    return value


@dataclass(frozen=True)
class WaitingRoomSettings:
    """What ``P2PGymScene.waiting_room(...)`` configures (defaults shown)."""

    on_timeout: str = "leave"
    """When ``wait_timeout_s`` passes: 'leave' (the participant leaves with the lobby_timeout
    outcome), 'bot' (the empty seats are filled by bots the server starts), or
    'start_with_fewer' (games of 3 or more start when ``min_players`` are waiting)."""
    min_players: int | None = None
    """'start_with_fewer': the smallest game that may start (2..players-1)."""
    bot_actions: str = "random"
    """Action source of a bot: 'random', 'noop', 'script:a,b,...', 'policy:module:function'."""
    bot_start_timeout_s: float = 60.0
    """Seconds a bot may take to start and join before the waiter leaves after all (5..600)."""
    announce_bot: bool = True
    """Tell the participant that the partner is a computer (the waiting room says so)."""


WAITING_ROOM_CHECKS: dict[str, Callable[[str, Any], Any]] = {
    "on_timeout": lambda s, v: check_choice(s, v, TIMEOUT_POLICIES),
    "min_players": lambda s, v: None if v is None else check_int(s, v, 2, 7),
    "bot_actions": check_bot_actions,
    "bot_start_timeout_s": lambda s, v: check_number(s, v, 5, 600),
    "announce_bot": check_bool,
}


def check_waiting_room(settings: WaitingRoomSettings, players: int, setting: str = "waiting_room") -> None:
    """Cross-setting checks that need the scene's player count."""
    if settings.on_timeout == "start_with_fewer":
        if players < 3:
            raise SceneConfigError(
                f"{setting}(on_timeout)", f"'start_with_fewer' needs games of 3 or more players, this scene has {players}"
            )
        if settings.min_players is None or not 2 <= settings.min_players < players:
            raise SceneConfigError(
                f"{setting}(min_players)", f"must be from 2 to {players - 1} with 'start_with_fewer', got {settings.min_players!r}"
            )


@dataclass(frozen=True)
class Condition:
    """One experimental condition: a name, the p2p settings it changes, a target count."""

    name: str
    p2p: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    """Overrides of the scene's p2p settings (keys from ``CONDITION_P2P_KEYS``)."""
    target: int | None = None
    """Completed games wanted in this condition; None: no target (balance only)."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "p2p": dict(self.p2p), "target": self.target}


def check_conditions(setting: str, value: Any, base_p2p: Any) -> tuple[Condition, ...]:
    """Conditions from ``{name: {"p2p": {...}, "target": n}}`` or a list of Condition/dicts.

    ``base_p2p`` is the scene's P2PSettings: each condition's overrides are applied to it so
    a combination that cannot work (e.g. notify >= timeout) fails here.
    """
    if isinstance(value, Mapping):
        items = [{"name": name, **(spec if isinstance(spec, Mapping) else {"_bad": spec})} for name, spec in value.items()]
    elif isinstance(value, (list, tuple)):
        items = [dataclasses.asdict(c) if isinstance(c, Condition) else c for c in value]
    else:
        raise SceneConfigError(setting, f"must be a dict name -> {{'p2p': {{...}}, 'target': n}} or a list of them, got {value!r}")
    if len(items) < 2:
        raise SceneConfigError(setting, f"needs at least two conditions, got {len(items)}")
    out: list[Condition] = []
    for i, item in enumerate(items):
        where = f"{setting}[{i}]"
        if not isinstance(item, Mapping) or "_bad" in item:
            raise SceneConfigError(where, f"must be a dict with 'p2p' and/or 'target', got {item!r}")
        unknown = sorted(set(item) - {"name", "p2p", "target"})
        if unknown:
            raise SceneConfigError(where, f"unknown keys {unknown}; allowed: name, p2p, target")
        name = item.get("name")
        if not isinstance(name, str) or not CONDITION_NAME.match(name) or ".." in name:
            raise SceneConfigError(f"{where}(name)", f"must be a plain identifier (letters, digits, _ . -), got {name!r}")
        where = f"{setting}[{name!r}]"
        overrides = item.get("p2p") or {}
        if not isinstance(overrides, Mapping):
            raise SceneConfigError(f"{where}['p2p']", f"must be a dict of p2p settings, got {overrides!r}")
        bad = sorted(set(overrides) - set(CONDITION_P2P_KEYS), key=str)
        if bad:
            raise SceneConfigError(f"{where}['p2p']", f"cannot change {bad}; a condition may change {list(CONDITION_P2P_KEYS)}")
        checked = {k: P2P_CHECKS[k](f"{where}['p2p'][{k!r}]", v) for k, v in overrides.items()}
        try:
            dataclasses.replace(base_p2p, **checked)
        except SceneConfigError as exc:
            raise SceneConfigError(f"{where}['p2p']", str(exc)) from None
        target = item.get("target")
        if target is not None:
            target = check_int(f"{where}['target']", target, 1, 1_000_000)
        out.append(Condition(name, dict(checked), target))
    names = [c.name for c in out]
    if len(set(names)) != len(names):
        raise SceneConfigError(setting, f"condition names must be distinct, got {names}")
    return tuple(out)
