"""The app factory: Flask + Flask-SocketIO serving one experiment.

``create_app(stager_or_experiment, config) -> (app, socketio)``. Nothing here depends on the
async mode: background work goes through ``socketio.start_background_task`` and
``socketio.sleep``, so eventlet (default), gevent and threading all run the same code.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from pathlib import Path
from typing import Any, Callable

import flask
import flask_socketio

from .. import resources
from ..cluster.study import SharedStudy
from ..console.namespace import ConsoleNamespace
from ..console.routes import create_console_blueprint
from ..console.service import Console
from ..console.store import InMemoryConsoleStore
from ..matchmaking.bots import ProcessBotLauncher
from ..matchmaking.conditions import JsonlLedger, MemoryLedger
from ..matchmaking.decisions import JsonlDecisionLog, MemoryDecisionLog
from ..participants.ledger import ParticipantLedger
from ..participants.routes import create_participants_blueprint
from ..participants.redis_store import RedisParticipantStore
from ..participants.store import FileParticipantStore, InMemoryParticipantStore
from ..participants.study import Study
from ..signaling.core import Signaling
from ..signaling.namespace import NAMESPACE as SIGNALING_NAMESPACE
from ..signaling.namespace import GameHooks, MatchmakingServices, SignalingNamespace
from ..signaling.tickets import SignalingTickets
from ..validation.tokens import UploadTokens
from .config import ServerConfig, ServerContext, derive_secret
from .experiment import load_experiment, preload_payload
from .participants import ParticipantFlow, ParticipantNamespace
from .onnxruntime import ONNXRUNTIME_VERSION, onnxruntime_for
from .pyodide import PYODIDE_VERSION, pyodide_for
from .routes import WHEELHOUSE_INDEX_URL, PageSettings, participant_blueprint

logger = logging.getLogger(__name__)

EXTENSION_KEY = "interactive_gym_p2p"
"""``app.extensions[EXTENSION_KEY]`` is the app's :class:`ServerContext`."""


class _SocketTransport:
    """Signaling's way out: one event to one socket of the signaling namespace."""

    def __init__(self, socketio: flask_socketio.SocketIO, namespace: str) -> None:
        self.socketio = socketio
        self.namespace = namespace

    def emit(self, event: str, payload: Any, sid: str, event_id: str | None = None) -> None:
        emit_once = getattr(self.socketio.server.manager, "emit_once", None)
        if event_id is not None and emit_once is not None:  # several processes: the message queue
            emit_once(event, payload, self.namespace, sid, event_id)
        else:
            self.socketio.emit(event, payload, to=sid, namespace=self.namespace)


def create_app(stager_or_experiment: Any, config: ServerConfig | None = None) -> tuple[flask.Flask, flask_socketio.SocketIO]:
    """Build the app serving ``stager_or_experiment`` (a Stager or an ExperimentConfig)."""
    config = config if config is not None else ServerConfig()
    config.check()
    experiment = load_experiment(stager_or_experiment)
    data_dir = Path(config.data_dir).resolve()
    shared = _open_shared_study(config, experiment.experiment_id)
    secret = config.secret
    if secret is None:
        secret = shared.secret() if shared is not None else secrets.token_bytes(32)
    tickets = SignalingTickets(derive_secret(secret, "signaling-ticket"))
    upload_tokens = config.upload_tokens or UploadTokens(derive_secret(secret, "upload-token"))
    pyodide = pyodide_for(config, experiment)  # refuses (PyodideUnavailable) before anything is served
    onnxruntime = onnxruntime_for(config, experiment)  # hosted seats: refuses (OnnxRuntimeUnavailable) without a copy

    app = flask.Flask("interactive_gym_p2p", template_folder=str(resources.templates_dir()), static_folder=None)
    app.config["SECRET_KEY"] = derive_secret(secret, "flask").hex()
    socketio = flask_socketio.SocketIO(
        app,
        async_mode=config.async_mode,
        cors_allowed_origins=config.cors_allowed_origins,
        max_http_buffer_size=config.max_socket_message_bytes,
        # One socket's events are handled in the order they arrive, so an offer is relayed
        # before the candidates that follow it.
        async_handlers=False,
        logger=False,
        engineio_logger=False,
        # Several processes: an emit to a socket another process holds goes through Redis.
        **({"client_manager": shared.client_manager()} if shared is not None else {}),
    )

    # Deadlines on the wall clock when processes share them (one machine's monotonic clock
    # means nothing to another's).
    clock = time.time if shared is not None else time.monotonic
    signaling = Signaling(
        experiment.rules,
        store=shared.signaling_store() if shared is not None else config.store_factory(),
        transport=_SocketTransport(socketio, SIGNALING_NAMESPACE),
        ice_servers=config.ice_servers_provider,
        upload_tokens=upload_tokens,
        clock=clock,
        owner=shared.process_id if shared is not None else None,
    )
    matchmaking_dir = data_dir / "matchmaking"
    ledger = JsonlLedger(matchmaking_dir / "conditions.jsonl") if config.matchmaking_log else MemoryLedger()
    signaling.load_condition_counts(ledger.load())
    bots = config.bot_launcher
    if bots is None:
        bots = ProcessBotLauncher(log_dir=data_dir / "bots", server_url=_local_url(config))
    matchmaking = MatchmakingServices(
        decisions=JsonlDecisionLog(matchmaking_dir / "decisions.jsonl") if config.matchmaking_log else MemoryDecisionLog(),
        ledger=ledger,
        bots=bots,
        rtt_interval_s=config.rtt_interval_s,
    )
    study = (config.study or Study()).check()
    save_data = config.save_scene_data and experiment.save_data
    if config.participant_store_factory is not None:
        participant_store = config.participant_store_factory(data_dir)
    elif shared is not None:
        # Redis decides (one outcome per participant across processes); the files stay the
        # copy the research tables read.
        participant_store = shared.participant_store(FileParticipantStore(data_dir / "participants") if save_data else None)
    elif save_data:
        participant_store = FileParticipantStore(data_dir / "participants")
    else:  # the experiment saves no data: records live only while the server runs
        participant_store = InMemoryParticipantStore()
    participants = ParticipantLedger(participant_store, study, experiment.experiment_id)
    console = console_ns = None
    if config.researcher_token is not None:
        # The live research console exists only with a researcher credential (off, never open).
        # Its recruitment flag is the ledger's (the one that gives new arrivals study_full).
        console = Console(
            signaling,
            shared.console_store(None) if shared is not None else InMemoryConsoleStore(),
            end_game=lambda game_id, message: signaling_ns.end_game(game_id, message),
            clock=clock,
            report_interval_s=config.console_interval_s,
            participants=participants,
        )

    def on_game_created(info: Any) -> None:
        for player in info.players:
            participants.note_game(player.subject_id, info.scene_id, info.game_id, player.player_index,
                                   bot=bool(getattr(player, "bot", False)))
        if config.on_game_created is not None:
            config.on_game_created(info)

    signaling_ns = SignalingNamespace(
        signaling,
        tickets,
        limits=config.limits,
        hooks=GameHooks(
            _chain(on_game_created, console.game_created if console else None),
            _chain(config.on_game_ended, console.game_ended if console else None),
        ),
        sweep_interval_s=config.sweep_interval_s,
        matchmaking=matchmaking,
        roll=shared.roll if shared is not None else None,
    )
    flow = ParticipantFlow(experiment, tickets, signaling_ns, data_dir, save_data, participants,
                           states=participant_store if isinstance(participant_store, RedisParticipantStore) else None)
    # Signaling's outcomes (lobby timeout, dropped seat) and join admission go to the flow:
    # recorded before the step's events go out, the study ended after the step.
    signaling.record_outcome = flow.record_signaling_outcome
    signaling_ns.hooks = dataclasses.replace(signaling_ns.hooks, on_outcome=flow.on_signaling_outcome)
    signaling_ns.admission = flow.admit
    socketio.on_namespace(signaling_ns)
    participant_ns = ParticipantNamespace(flow, rate=config.limits.control_rate)
    socketio.on_namespace(participant_ns)
    if console is not None:
        signaling_ns.telemetry_sink = console
        console_ns = ConsoleNamespace(console, config.researcher_token, interval_s=config.console_interval_s)
        socketio.on_namespace(console_ns)

    context = ServerContext(
        config=config,
        data_dir=data_dir,
        upload_tokens=upload_tokens,
        researcher_token=config.researcher_token,
        signaling=signaling,
        tickets=tickets,
        experiment_id=experiment.experiment_id,
        extra={"socketio": socketio, "signaling_namespace": signaling_ns, "participants": flow, "console": console,
               "console_namespace": console_ns, "matchmaking": matchmaking, "shared_study": shared},
        ledger=participants,
    )
    app.extensions[EXTENSION_KEY] = context
    if console is not None:
        app.register_blueprint(create_console_blueprint(console, config.researcher_token))

    # Extra blueprints (validation routes): their fixed /p2p/... paths outrank the
    # participant page's /<subject_id> and the catch-all in Werkzeug's rule ordering.
    for source in config.blueprints:
        blueprint = source if isinstance(source, flask.Blueprint) else source(context)
        app.register_blueprint(blueprint)

    app.register_blueprint(create_participants_blueprint(participants, config.researcher_token))

    page = PageSettings(
        recruitment=study.recruitment_settings,
        experiment_id=experiment.experiment_id,
        participant_namespace="/",
        signaling_namespace=SIGNALING_NAMESPACE,
        pyodide=pyodide,
        assets_dir=None if config.assets_dir is None else Path(config.assets_dir).resolve(),
        scene_asset_files=experiment.asset_files,
        preload=preload_payload(experiment) if config.preload_environment else None,
        onnxruntime=onnxruntime,
    )

    def stats() -> dict[str, Any]:
        out = {**signaling.stats(), "participants": len(flow)}
        if shared is not None:
            out["process"] = shared.process_id
        return out

    app.register_blueprint(participant_blueprint(page, stats))
    logger.log(
        logging.WARNING if pyodide.kind == "cdn" else logging.INFO,
        "Pyodide (pinned %s) for the participants' browsers: %s", PYODIDE_VERSION, pyodide.description,
    )
    if onnxruntime is not None:
        logger.log(logging.WARNING if onnxruntime.kind == "cdn" else logging.INFO,
                   "onnxruntime-web (pinned %s) for hosted seats' host pages: %s", ONNXRUNTIME_VERSION, onnxruntime.description)
    if pyodide.wheelhouse is not None:
        logger.info("wheelhouse %s: %s served to the browsers' micropip at %s (its only package index)",
                    pyodide.wheelhouse.folder, ", ".join(w.filename for w in pyodide.wheelhouse.files.values()) or "no wheels",
                    WHEELHOUSE_INDEX_URL)
    logger.info(
        "experiment %s: %d P2P scene(s) %s; data in %s",
        experiment.experiment_id, len(experiment.rules), sorted(experiment.rules), data_dir,
    )
    if shared is not None:
        # On the roll from the start (not from the first socket), so the others can count it.
        signaling_ns.start()
    return app, socketio


def _open_shared_study(config: ServerConfig, experiment_id: str | None) -> SharedStudy | None:
    """The study's Redis when ``config.redis_url`` is set (checked before anything is served)."""
    if config.redis_url is None:
        return None
    if config.async_mode == "eventlet":
        from eventlet.patcher import is_monkey_patched

        if not is_monkey_patched("socket"):
            # Redis's client (state and the Socket.IO message queue) blocks on sockets: under
            # eventlet they must be green, or one wait on Redis stops every participant.
            raise ValueError(
                "Redis under eventlet needs eventlet.monkey_patch() before the server is built "
                "(the interactive-gym-p2p command does it with --redis; in your own script, call it first thing)"
            )
    return SharedStudy.open(config.redis_url, experiment_id, dead_after_s=config.process_dead_after_s)


def _chain(first: Callable[[Any], None] | None, second: Callable[[Any], None] | None) -> Callable[[Any], None] | None:
    """Both hooks, in order; the second runs even when the first raises (then re-raised)."""
    if first is None or second is None:
        return first or second

    def both(arg: Any) -> None:
        try:
            first(arg)
        finally:
            second(arg)

    return both


def _local_url(config: ServerConfig) -> str | None:
    """Where a process on this machine reaches the server (bots); None until the port is known."""
    if config.port == 0:
        return None
    host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
    return f"http://{host}:{config.port}"


def set_server_url(app: flask.Flask, url: str) -> None:
    """Tell the bot launcher the server's URL (once a server on port 0 knows its port)."""
    bots = server_context(app).extra["matchmaking"].bots
    if bots is not None and hasattr(bots, "server_url") and not bots.server_url:
        bots.server_url = url


def stop_app(app: flask.Flask) -> None:
    """The server is shutting down: end the sweeper and the bots it started, leave the roll of
    processes, stop the console's feed and Socket.IO's message-queue listener (with Redis)."""
    extra = server_context(app).extra
    extra["signaling_namespace"].stop()
    if extra.get("console_namespace") is not None:
        extra["console_namespace"].stop()
    stop = getattr(extra["socketio"].server.manager, "stop", None)
    if stop is not None:  # RedisMessageQueue (cluster/message_queue.py)
        stop()


def server_context(app: flask.Flask) -> ServerContext:
    """The :class:`ServerContext` of an app made by :func:`create_app`."""
    return app.extensions[EXTENSION_KEY]
