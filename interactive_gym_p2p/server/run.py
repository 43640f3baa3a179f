"""The one entry point that serves an experiment (used by the CLI and the demo)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from ..async_mode import stop_on_sigterm
from .app import create_app, stop_app
from .config import ServerConfig
from .experiment import load_experiment
from .onnxruntime import onnxruntime_for
from .pyodide import pyodide_for
from .services import ExperimentServices, TurnSettings

logger = logging.getLogger(__name__)


def run(
    stager_or_experiment: Any,
    config: ServerConfig | None = None,
    turn: TurnSettings | None = TurnSettings(),
) -> None:
    """Serve until interrupted. Without ``config``, an ExperimentConfig's host/port are used.

    ``turn`` picks the TURN server participants get (the embedded one by default, started as
    a child process and stopped on exit); ``None`` serves no TURN and no validation routes.
    """
    experiment = load_experiment(stager_or_experiment)
    if config is None:
        config = ServerConfig()
        if experiment.host:
            config = dataclasses.replace(config, host=experiment.host)
        if experiment.port is not None:
            config = dataclasses.replace(config, port=experiment.port)
    # Before any service starts: a server whose pages cannot load Pyodide (or, with hosted seats,
    # onnxruntime-web) refuses to start.
    pyodide_for(config, experiment)
    onnxruntime_for(config, experiment)
    if turn is None:
        _serve(stager_or_experiment, config)
        return
    with ExperimentServices(config, turn) as wired:
        _serve(stager_or_experiment, wired)


def default_config(stager_or_experiment: Any) -> ServerConfig:
    """The ServerConfig ``run()`` uses when given none: an ExperimentConfig's host and port
    (Interactive Gym's ``hosting(host=, port=)``), else the defaults."""
    experiment = load_experiment(stager_or_experiment)
    config = ServerConfig()
    if experiment.host:
        config = dataclasses.replace(config, host=experiment.host)
    if experiment.port is not None:
        config = dataclasses.replace(config, port=experiment.port)
    return config


def _serve(stager_or_experiment: Any, config: ServerConfig) -> None:
    app, socketio = create_app(stager_or_experiment, config)
    shown_host = "127.0.0.1" if config.host in ("0.0.0.0", "::") else config.host
    print(f"Serving the experiment at http://{shown_host}:{config.port}/ (bound to {config.host}, {config.async_mode})", flush=True)
    if config.host in ("0.0.0.0", "::"):
        print("Listening on all interfaces: participants on the LAN use this machine's address.", flush=True)
    stop_on_sigterm(config.async_mode)
    try:
        socketio.run(
            app,
            host=config.host,
            port=config.port,
            log_output=False,
            use_reloader=False,
            allow_unsafe_werkzeug=config.async_mode == "threading",
        )
    finally:
        # Ends the sweeper and the bot processes the server started (they also watch for it); a
        # process of several leaves the roll at once, so the one sweeping hands this process's
        # sockets' seats to the grace period without waiting to notice, and stops listening
        # on the message queue.
        stop_app(app)
        logger.info("server stopped")

