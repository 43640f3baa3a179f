"""The experiment server: app factory, participant flow, configuration, entry point.

``create_app(stager_or_experiment, ServerConfig(...)) -> (app, socketio)`` builds it;
``run(stager_or_experiment, config)`` serves it; ``BackgroundServer`` serves it from a
thread (tests). Importing this package starts nothing.
"""

from __future__ import annotations

from .app import create_app, server_context
from .background import BackgroundServer
from .config import ServerConfig, ServerContext
from .experiment import ExperimentError, load_experiment, resolve_experiment
from .run import run

__all__ = [
    "BackgroundServer",
    "ExperimentError",
    "ServerConfig",
    "ServerContext",
    "create_app",
    "load_experiment",
    "resolve_experiment",
    "run",
    "server_context",
]
