"""Settings of a P2P scene: the records and the checks that guard every value.

Each setting is checked the moment it is set (``P2PGymScene.p2p(...)``,
``.validation(...)``), and a bad value raises :class:`SceneConfigError` naming the call,
the setting and the allowed range, so a typo fails when the experiment file loads rather
than in a participant's browser.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .matchmaking.settings import Condition, MatchmakingSettings, WaitingRoomSettings

I32_MIN = -(2**31)
I32_MAX = 2**31 - 1
U32_MAX = 2**32 - 1

MAX_PLAYERS = 8
"""A full mesh of DataChannels grows with players squared; beyond 8 it is not a P2P game."""

DISCONNECT_POLICIES = ("end", "default_action")
HIDDEN_POLICIES = ("end", "default_action")
ICE_TRANSPORT_POLICIES = ("all", "relay")
CONNECTION_FALLBACKS = ("none", "server")
IMPAIRMENT_KEYS = ("delay_ms", "jitter_ms", "loss", "duplicate", "reorder", "seed")
ICE_URL_SCHEMES = ("stun:", "turn:", "turns:")


class SceneConfigError(ValueError):
    """A scene setting with a value outside what it allows; the message names both."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting


def check_int(setting: str, value: Any, lo: int, hi: int) -> int:
    """``value`` as an int in ``lo..hi`` (bools are refused: True is not a frame count)."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise SceneConfigError(setting, f"must be an integer from {lo} to {hi}, got {value!r}")
    return value


def check_number(setting: str, value: Any, lo: float, hi: float) -> int | float:
    """A finite number in ``lo..hi``; integral floats become ints so JSON is the same in JS."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not lo <= value <= hi
    ):
        raise SceneConfigError(setting, f"must be a number from {lo:g} to {hi:g}, got {value!r}")
    return int(value) if float(value).is_integer() else float(value)


def check_input_delay(setting: str, value: Any) -> int | str:
    """``'auto'`` or frames 0..16 (the protocol's largest delay)."""
    if value == "auto" and isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 16:
        raise SceneConfigError(setting, f"must be 'auto' or an integer from 0 to 16, got {value!r}")
    return value


def check_choice(setting: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise SceneConfigError(setting, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")
    return value


def check_bool(setting: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise SceneConfigError(setting, f"must be True or False, got {value!r}")
    return value


def check_action(setting: str, value: Any) -> int:
    """An action as it travels on the wire: a signed 32-bit integer."""
    return check_int(setting, value, I32_MIN, I32_MAX)


def check_agent_ids(setting: str, value: Any, players: int) -> tuple[str | int, ...] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)):
        raise SceneConfigError(setting, f"must be a list of {players} agent ids, got {value!r}")
    ids = tuple(value)
    if len(ids) != players:
        raise SceneConfigError(setting, f"must list one agent id per player ({players}), got {len(ids)}")
    for agent in ids:
        if isinstance(agent, bool) or not isinstance(agent, (str, int)):
            raise SceneConfigError(setting, f"agent ids must be strings or integers, got {agent!r}")
    if len(set(ids)) != len(ids):
        raise SceneConfigError(setting, f"agent ids must be distinct, got {list(ids)!r}")
    return ids


def check_impairment(setting: str, value: Any) -> dict[str, int | float] | None:
    """The seeded network impairment the client's transport shim applies (tests, labs)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SceneConfigError(setting, f"must be None or a dict with keys {IMPAIRMENT_KEYS}, got {value!r}")
    unknown = sorted(set(value) - set(IMPAIRMENT_KEYS), key=str)
    if unknown:
        raise SceneConfigError(setting, f"unknown keys {unknown}; allowed keys are {list(IMPAIRMENT_KEYS)}")
    out: dict[str, int | float] = {
        "delay_ms": check_int(f"{setting}['delay_ms']", value.get("delay_ms", 0), 0, 10_000),
        "jitter_ms": check_int(f"{setting}['jitter_ms']", value.get("jitter_ms", 0), 0, 10_000),
        "loss": check_number(f"{setting}['loss']", value.get("loss", 0), 0, 1),
        "duplicate": check_number(f"{setting}['duplicate']", value.get("duplicate", 0), 0, 1),
        "reorder": check_number(f"{setting}['reorder']", value.get("reorder", 0), 0, 1),
        "seed": check_int(f"{setting}['seed']", value.get("seed", 0), 0, U32_MAX),
    }
    return out


def check_turn(setting: str, value: Any) -> bool | tuple[dict[str, Any], ...]:
    """True: ICE servers from the server's provider; False: none (LAN only); a list: these."""
    if isinstance(value, bool):
        return value
    if not isinstance(value, (list, tuple)) or not value:
        raise SceneConfigError(
            setting, f"must be True (server-provided), False (none) or a non-empty list of RTCIceServer dicts, got {value!r}"
        )
    servers = []
    for i, server in enumerate(value):
        where = f"{setting}[{i}]"
        if not isinstance(server, dict) or "urls" not in server:
            raise SceneConfigError(where, f"must be a dict with 'urls', got {server!r}")
        urls = server["urls"]
        url_list = [urls] if isinstance(urls, str) else urls
        if not isinstance(url_list, (list, tuple)) or not url_list:
            raise SceneConfigError(f"{where}['urls']", f"must be a URL string or a non-empty list of them, got {urls!r}")
        for url in url_list:
            if not isinstance(url, str) or not url.startswith(ICE_URL_SCHEMES):
                raise SceneConfigError(f"{where}['urls']", f"each URL must start with one of {ICE_URL_SCHEMES}, got {url!r}")
        unknown = sorted(set(server) - {"urls", "username", "credential"})
        if unknown:
            raise SceneConfigError(where, f"unknown keys {unknown}; allowed: urls, username, credential")
        for key in ("username", "credential"):
            if key in server and not isinstance(server[key], str):
                raise SceneConfigError(f"{where}[{key!r}]", f"must be a string, got {server[key]!r}")
        servers.append({"urls": list(url_list), **{k: server[k] for k in ("username", "credential") if k in server}})
    return tuple(servers)


@dataclass(frozen=True)
class P2PSettings:
    """What ``P2PGymScene.p2p(...)`` configures (defaults shown)."""

    players: int = 2
    """Participants per game (2..8; 1..8 with AI seats, which are not players: docs/ai.md);
    player i controls ``agent_ids[i]``."""
    fps: int = 30
    """Simulation frames per second (1..120); also the scene's rendering fps."""
    input_delay: int | str = "auto"
    """Frames a local input is delayed before it applies (0..16), or 'auto': each player's delay
    is chosen from the RTT measured just before the game (0 on a LAN; docs/rollback.md)."""
    prediction_window: int = 8
    """Frames the simulation may run ahead of the last confirmed input (0..60; 0 = lockstep)."""
    input_redundancy: int = 5
    """Minimum past inputs repeated in every INPUT message (1..128)."""
    disconnect_policy: str = "end"
    """What happens when a peer is gone for good: 'end' the game, or play on with its 'default_action'."""
    disconnect_notify_ms: int = 750
    """DataChannel silence before the UI says a peer is interrupted (50..60000)."""
    disconnect_timeout_ms: int = 5000
    """DataChannel silence before a peer counts as disconnected (100..600000, > notify)."""
    connection_timeout_s: int | float = 20
    """Seconds the browsers get to open their DataChannels after "game ready" (1..600)."""
    reconnect_grace_s: int | float = 10
    """Seconds a participant whose signaling socket dropped keeps its seat (0..3600)."""
    wait_timeout_s: int | float | None = None
    """Seconds in the waiting room before giving up (1..86400); None: the scene's waitroom_timeout."""
    ice_transport_policy: str = "all"
    """'all' candidates, or 'relay' (TURN only)."""
    connection_fallback: str = "none"
    """When no WebRTC path opens within ``connection_timeout_s``: 'none' (the participant is told
    and leaves the game) or 'server' (game messages go through the server's Socket.IO relay:
    slower, but the game is played; the export's path kind is 'fallback')."""
    turn: bool | tuple[dict[str, Any], ...] = True
    """True: ICE servers (fresh TURN credentials) from the server; False: none; or a fixed list."""
    agent_ids: tuple[str | int, ...] | None = None
    """Agent id controlled by each player, in player order; None: the env's ``possible_agents``."""
    impairment: dict[str, int | float] | None = None
    """Seeded network impairment applied by the client transport: delay_ms, jitter_ms, loss, duplicate, reorder, seed."""
    countdown_s: int | float = 3
    """Seconds of the 3-2-1 countdown every player sees before frame 0, lined up across peers (0..60; 0 = none)."""
    hidden_action: int | None = None
    """A player's action while their page is hidden (another tab in front, window minimized); None: the default action."""
    warn_hidden_s: int | float | None = None
    """After a hidden spell at least this long (0.5..86400 s), the participant sees a warning when they come back."""
    max_hidden_s: int | float | None = None
    """A participant whose page stays hidden this long without a break (1..86400 s) is excluded (outcome
    ``excluded``, reason ``hidden``); None: never."""
    hidden_policy: str = "end"
    """After that exclusion: 'end' the game for everyone, or the others play on with that seat's 'default_action'."""

    def __post_init__(self) -> None:
        if self.disconnect_timeout_ms <= self.disconnect_notify_ms:
            raise SceneConfigError(
                "p2p(disconnect_timeout_ms)",
                f"must be greater than disconnect_notify_ms ({self.disconnect_notify_ms}), got {self.disconnect_timeout_ms}",
            )
        if self.ice_transport_policy == "relay" and self.turn is False:
            raise SceneConfigError(
                "p2p(ice_transport_policy)", "'relay' needs TURN servers, but turn=False gives none"
            )
        if self.warn_hidden_s is not None and self.max_hidden_s is not None and self.warn_hidden_s >= self.max_hidden_s:
            raise SceneConfigError(
                "p2p(warn_hidden_s)", f"must be less than max_hidden_s ({self.max_hidden_s}), got {self.warn_hidden_s}"
            )
        if self.agent_ids is not None and len(self.agent_ids) != self.players:
            raise SceneConfigError(
                "p2p(agent_ids)", f"must list one agent id per player ({self.players}), got {len(self.agent_ids)}"
            )


P2P_CHECKS: dict[str, Any] = {
    # 1 only with AI seats (P2PGymScene.check): a game needs two seats.
    "players": lambda s, v: check_int(s, v, 1, MAX_PLAYERS),
    "fps": lambda s, v: check_int(s, v, 1, 120),
    "input_delay": check_input_delay,
    "prediction_window": lambda s, v: check_int(s, v, 0, 32),
    "input_redundancy": lambda s, v: check_int(s, v, 1, 128),
    "disconnect_policy": lambda s, v: check_choice(s, v, DISCONNECT_POLICIES),
    "disconnect_notify_ms": lambda s, v: check_int(s, v, 50, 60_000),
    "disconnect_timeout_ms": lambda s, v: check_int(s, v, 100, 600_000),
    "connection_timeout_s": lambda s, v: check_number(s, v, 1, 600),
    "reconnect_grace_s": lambda s, v: check_number(s, v, 0, 3600),
    "wait_timeout_s": lambda s, v: None if v is None else check_number(s, v, 1, 86_400),
    "ice_transport_policy": lambda s, v: check_choice(s, v, ICE_TRANSPORT_POLICIES),
    "connection_fallback": lambda s, v: check_choice(s, v, CONNECTION_FALLBACKS),
    "turn": check_turn,
    "impairment": check_impairment,
    "countdown_s": lambda s, v: check_number(s, v, 0, 60),
    "hidden_action": lambda s, v: None if v is None else check_action(s, v),
    "warn_hidden_s": lambda s, v: None if v is None else check_number(s, v, 0.5, 86_400),
    "max_hidden_s": lambda s, v: None if v is None else check_number(s, v, 1, 86_400),
    "hidden_policy": lambda s, v: check_choice(s, v, HIDDEN_POLICIES),
}
"""One check per setting; ``agent_ids`` is checked separately because it depends on ``players``."""


@dataclass(frozen=True)
class ValidationSettings:
    """What ``P2PGymScene.validation(...)`` configures (defaults shown)."""

    hash_interval: int = 1
    """Hash every N-th confirmed frame and exchange it with the peers (1..3600)."""
    state_dump_on_desync: bool = True
    """Keep the canonical state of the first desynced frame in the export."""
    export: bool = True
    """Upload a validation export per player when the game ends."""
    record_info: tuple[str, ...] = ()
    """Keys of the environment's step ``infos`` recorded for every confirmed frame (each
    player's value as JSON; docs/data.md), e.g. ``["score"]``."""


def check_record_info(setting: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise SceneConfigError(setting, f"must be a list of info keys (strings), got {value!r}")
    keys = []
    for key in value:
        if not isinstance(key, str) or not key or len(key) > 64:
            raise SceneConfigError(setting, f"info keys must be non-empty strings of at most 64 characters, got {key!r}")
        if key in keys:
            raise SceneConfigError(setting, f"{key!r} is listed twice")
        keys.append(key)
    return tuple(keys)


VALIDATION_CHECKS: dict[str, Any] = {
    "hash_interval": lambda s, v: check_int(s, v, 1, 3600),
    "state_dump_on_desync": check_bool,
    "export": check_bool,
    "record_info": check_record_info,
}


def p2p_settings_dict(settings: P2PSettings) -> dict[str, Any]:
    """The JSON form sent to browsers and written into exports (``settings.p2p``)."""
    out = asdict(settings)
    out.pop("impairment")  # exports keep it beside p2p: settings.impairment
    out["agent_ids"] = None if settings.agent_ids is None else list(settings.agent_ids)
    # Fixed ICE lists may carry credentials: the browser gets them in game_ready, not here.
    out["turn"] = "server" if settings.turn is True else "none" if settings.turn is False else "static"
    return out


def validation_settings_dict(settings: ValidationSettings) -> dict[str, Any]:
    out = asdict(settings)
    out["record_info"] = list(settings.record_info)
    return out


@dataclass(frozen=True)
class SignalingRules:
    """What the signaling server needs to know about one P2P scene."""

    scene_id: str
    players: int
    wait_timeout_s: float
    reconnect_grace_s: float
    disconnect_policy: str
    wait_for_known_group: bool
    group_wait_timeout_s: float
    ice_transport_policy: str
    turn: bool | tuple[dict[str, Any], ...]
    agent_ids: tuple[str | int, ...] | None
    export: bool
    settings: dict[str, Any] = field(default_factory=dict)
    """The game's settings as sent in game_ready and given to on_game_created:
    ``{"p2p": {...}, "validation": {...}, "impairment": {...} | None}``."""
    timeout_redirect_url: str | None = None
    seed: int | None = None
    """Shared seed of every game (``environment(seed=...)``); None: a fresh one per game."""
    connection_fallback: str = "none"
    matchmaking: MatchmakingSettings = field(default_factory=lambda: _matchmaking_default())
    waiting_room: WaitingRoomSettings = field(default_factory=lambda: _waiting_room_default())
    conditions: tuple[Condition, ...] = ()
    condition_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The game settings of each condition (the scene's with the condition's p2p overrides)."""
    ai_seats: tuple[dict[str, Any], ...] = ()
    """AI seats ``{player_index, agent_id, policy, kind}``: seats no participant takes."""

    @property
    def seats(self) -> int:
        """Seats of a game: the players and the AI seats."""
        return self.players + len(self.ai_seats)

    @property
    def human_seats(self) -> tuple[int, ...]:
        """Player indices the participants take."""
        ai = {a["player_index"] for a in self.ai_seats}
        return tuple(i for i in range(self.seats) if i not in ai)

    def settings_for(self, condition: str | None) -> dict[str, Any]:
        """The settings a game in ``condition`` is played with."""
        if condition is None:
            return self.settings
        return self.condition_settings[condition]


def _matchmaking_default() -> MatchmakingSettings:
    from .matchmaking.settings import MatchmakingSettings

    return MatchmakingSettings()


def _waiting_room_default() -> WaitingRoomSettings:
    from .matchmaking.settings import WaitingRoomSettings

    return WaitingRoomSettings()
