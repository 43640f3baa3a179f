"""The server's configuration record and the context handed to extra blueprints."""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence, Union

from ..async_mode import ASYNC_MODES
from ..signaling.core import IceServersProvider, no_ice_servers
from ..signaling.limits import SignalingLimits
from ..signaling.records import GameEnd, GameInfo
from ..signaling.store import InMemoryStore, SignalingStore
from ..validation.tokens import UploadTokens

if TYPE_CHECKING:  # pragma: no cover
    from flask import Blueprint

    from ..participants.ledger import ParticipantLedger
    from ..participants.store import ParticipantStore
    from ..participants.study import Study

    from ..signaling.core import Signaling
    from ..signaling.tickets import SignalingTickets

BlueprintSource = Union["Blueprint", Callable[["ServerContext"], "Blueprint"]]


@dataclass
class ServerConfig:
    """How to serve an experiment. Every field has a safe default for a local demo."""

    host: str = "127.0.0.1"
    """Interface to bind; "0.0.0.0" serves the LAN (CLI ``--public``)."""
    port: int = 5702
    """TCP port (0: any free port; BackgroundServer reports the one it got)."""
    async_mode: str = "eventlet"
    """Flask-SocketIO async mode: eventlet (default), gevent or threading."""
    data_dir: Path = Path("data")
    """Where scene data, scene metadata (and, through the validation blueprint, exports) go."""
    secret: bytes | None = None
    """Server secret for signaling tickets and upload tokens; random per start when None
    (give a fixed one so tokens issued before a restart stay valid)."""
    researcher_token: str | None = None
    """Bearer token of the researcher routes (given to extra blueprints via ServerContext)."""
    ice_servers_provider: IceServersProvider = no_ice_servers
    """participant id -> RTCIceServer dicts (fresh TURN credentials). Called while signaling
    holds its lock: it must be fast and do no network I/O. Default: no servers at all."""
    on_game_created: Callable[[GameInfo], None] | None = None
    """Called when a game is formed (the validation store registers it here)."""
    on_game_ended: Callable[[GameEnd], None] | None = None
    """Called when no seat of a game is live any more."""
    upload_tokens: UploadTokens | None = None
    """Issuer of per-player export upload tokens; derived from ``secret`` when None."""
    blueprints: Sequence[BlueprintSource] = ()
    """Extra Flask blueprints, or factories ``ServerContext -> Blueprint`` (validation routes)."""
    pyodide_dir: Path | None = None
    """Local Pyodide: a cache root filled by ``python -m interactive_gym_p2p.pyodide fetch``
    (its ``<version>/`` is used) or a folder holding pyodide.mjs. None: ``$IGP2P_PYODIDE_DIR``
    or the user cache folder, else ``node_modules/pyodide`` of a clone. Every file is checked
    against the pinned checksums before it is served at /p2p/pyodide/<version>/."""
    pyodide_index_url: str | None = None
    """Browsers load Pyodide from this URL instead (a copy the researcher hosts; not checked)."""
    pyodide_cdn: bool = False
    """Let browsers load Pyodide from the public CDN (only when asked for: with no local copy
    and neither this nor ``pyodide_index_url``, the server refuses to start)."""
    onnxruntime_dir: Path | None = None
    """Local onnxruntime-web for hosted (ONNX) seats: a cache root filled by ``python -m
    interactive_gym_p2p.onnxruntime_web fetch`` (its ``<version>/`` is used) or a folder holding
    ort.wasm.min.mjs. None: ``$IGP2P_ONNXRUNTIME_DIR`` or the user cache folder, else
    ``node_modules/onnxruntime-web/dist`` of a clone. Looked for only when a scene has hosted
    seats; every file is checked against the pinned checksums before it is served."""
    onnxruntime_url: str | None = None
    """The host's page loads onnxruntime-web from this folder URL instead (a copy the researcher hosts; not checked)."""
    onnxruntime_cdn: bool = False
    """Let the host's page load onnxruntime-web from the public CDN (only when asked for: with
    hosted seats, no local copy and neither this nor ``onnxruntime_url``, the server refuses to start)."""
    wheelhouse: Path | None = None
    """A folder of the researcher's wheels (pure Python, or built for Pyodide), served at
    /p2p/wheels/ as the browsers' micropip's only package index: scenes' packages_to_install
    come from Pyodide's lock or from here, never from PyPI (docs/deployment.md, "Your own wheels")."""
    assets_dir: Path | None = None
    """Experiment assets (images, ...) served at /assets/ when set."""
    cors_allowed_origins: str | list[str] | None = None
    """Socket.IO CORS origins; None: same origin only."""
    limits: SignalingLimits = field(default_factory=SignalingLimits)
    """Signaling rate and size limits."""
    max_socket_message_bytes: int = 64 * 1024
    """Largest Socket.IO packet accepted at all (bigger ones close the connection)."""
    sweep_interval_s: float = 0.2
    """How often waiting-room timeouts and reconnect grace periods are checked."""
    store_factory: Callable[[], SignalingStore] = InMemoryStore
    """Where signaling keeps games and waiting rooms (in memory; see signaling.store)."""
    save_scene_data: bool = True
    """Write static scenes' data and scene metadata under ``data_dir``."""
    preload_environment: bool = True
    """Start loading Pyodide and the first P2P scene's environment (packages, env code, textures)
    as soon as the participant page opens, while the participant reads the pages before the
    game, instead of when the game scene starts (docs/client.md, "Loading early")."""
    console_interval_s: float = 2.0
    """How often the research console's feed is pushed (and how often clients are expected to
    report; a player silent for three intervals shows as stale)."""
    bot_launcher: Any = None
    """Starts bots for waiting rooms whose timeout policy is 'bot' (``matchmaking.bots.BotLauncher``);
    None: one ``python -m interactive_gym_p2p.peer`` process per fill, logs in ``data_dir/bots``."""
    rtt_interval_s: float = 1.0
    """How often each waiting participant's RTT to the server is measured on its socket."""
    matchmaking_log: bool = True
    """Write the matchmaking decision log and the completed games per condition under
    ``data_dir/matchmaking`` (False: kept in memory only)."""
    study: "Study | None" = None
    """Recruitment ids, the outcome map (completion codes, redirects) and screening
    (docs/participants.md); None: ``Study()`` (Prolific's parameters, no codes)."""
    participant_store_factory: "Callable[[Path], ParticipantStore] | None" = None
    """data_dir -> where participant records and outcomes live; None: files under
    ``data_dir/participants`` (``FileParticipantStore``)."""
    redis_url: str | None = None
    """Share the study with other server processes through this Redis (CLI ``--redis``),
    e.g. ``redis://127.0.0.1:6379/0``: signaling (waiting rooms, games, seats), matchmaking,
    the console's live view and Socket.IO's events between processes live there, so a
    participant may reach any process and a process may die without losing a seat. Every
    process must use the same data directory and secret (docs/deployment.md). None: one
    process, nothing shared, no Redis needed."""
    process_dead_after_s: float = 5.0
    """With ``redis_url``: a process not heard of for this long is taken for dead, and the
    signaling sockets it held are closed (their seats wait out the reconnect grace)."""

    def check(self) -> None:
        """Refuse settings that cannot work, naming the field."""
        if not isinstance(self.host, str) or not self.host:
            raise ValueError(f"ServerConfig.host must be an interface address, got {self.host!r}")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 65535:
            raise ValueError(f"ServerConfig.port must be an integer from 0 to 65535, got {self.port!r}")
        if self.async_mode not in ASYNC_MODES:
            raise ValueError(f"ServerConfig.async_mode must be one of {ASYNC_MODES}, got {self.async_mode!r}")
        if self.secret is not None and (not isinstance(self.secret, bytes) or len(self.secret) < 16):
            raise ValueError("ServerConfig.secret must be at least 16 bytes")
        if self.researcher_token is not None and (not isinstance(self.researcher_token, str) or len(self.researcher_token) < 16):
            raise ValueError("ServerConfig.researcher_token must be a string of at least 16 characters")
        if not callable(self.ice_servers_provider):
            raise ValueError("ServerConfig.ice_servers_provider must be callable: participant id -> list of RTCIceServer dicts")
        for name in ("on_game_created", "on_game_ended"):
            hook = getattr(self, name)
            if hook is not None and not callable(hook):
                raise ValueError(f"ServerConfig.{name} must be callable or None")
        if self.pyodide_index_url is not None and (not isinstance(self.pyodide_index_url, str) or not self.pyodide_index_url):
            raise ValueError("ServerConfig.pyodide_index_url must be a URL or None")
        if self.pyodide_cdn and self.pyodide_index_url:
            raise ValueError("ServerConfig.pyodide_cdn and pyodide_index_url name two places to load Pyodide from: give one")
        if self.onnxruntime_url is not None and (not isinstance(self.onnxruntime_url, str) or not self.onnxruntime_url):
            raise ValueError("ServerConfig.onnxruntime_url must be a URL or None")
        if self.onnxruntime_cdn and self.onnxruntime_url:
            raise ValueError("ServerConfig.onnxruntime_cdn and onnxruntime_url name two places to load onnxruntime-web from: give one")
        if not 1024 <= self.max_socket_message_bytes <= 16 * 1024 * 1024:
            raise ValueError("ServerConfig.max_socket_message_bytes must be from 1024 to 16 MiB")
        if not (isinstance(self.console_interval_s, (int, float)) and math.isfinite(self.console_interval_s) and 0.05 <= self.console_interval_s <= 60):
            raise ValueError("ServerConfig.console_interval_s must be from 0.05 to 60 seconds")
        if self.study is not None:
            from ..participants.study import Study

            if not isinstance(self.study, Study):
                raise ValueError(f"ServerConfig.study must be an interactive_gym_p2p.participants.Study, got {type(self.study).__name__}")
            self.study.check()
        if not (isinstance(self.sweep_interval_s, (int, float)) and math.isfinite(self.sweep_interval_s) and 0.01 <= self.sweep_interval_s <= 5):
            raise ValueError("ServerConfig.sweep_interval_s must be from 0.01 to 5 seconds")
        if not (isinstance(self.rtt_interval_s, (int, float)) and math.isfinite(self.rtt_interval_s) and 0.1 <= self.rtt_interval_s <= 60):
            raise ValueError("ServerConfig.rtt_interval_s must be from 0.1 to 60 seconds")
        if self.redis_url is not None:
            from ..cluster.client import check_url

            problem = check_url(self.redis_url)
            if problem is not None:
                raise ValueError(f"ServerConfig.redis_url: {problem}")
        if not (isinstance(self.process_dead_after_s, (int, float)) and math.isfinite(self.process_dead_after_s)
                and 2 <= self.process_dead_after_s <= 300):
            raise ValueError("ServerConfig.process_dead_after_s must be from 2 to 300 seconds")
        if self.bot_launcher is not None and not hasattr(self.bot_launcher, "launch"):
            raise ValueError("ServerConfig.bot_launcher must have launch(request), poll() and stop()")


def derive_secret(secret: bytes, purpose: str) -> bytes:
    """A separate key per purpose, so a ticket can never pass as an upload token."""
    return hmac.new(secret, b"interactive-gym-p2p/" + purpose.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class ServerContext:
    """What blueprint factories (validation routes) and tests can reach of a running app."""

    config: ServerConfig
    data_dir: Path
    upload_tokens: UploadTokens
    researcher_token: str | None
    signaling: "Signaling"
    tickets: "SignalingTickets"
    experiment_id: str | None
    extra: dict[str, Any] = field(default_factory=dict)
    ledger: "ParticipantLedger | None" = None
    """Participant records and outcomes (read them; record an outcome through
    ``extra["participants"].end_study`` so the participant's page is told too)."""
