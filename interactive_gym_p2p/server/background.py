"""Serve an experiment from a background thread (threading mode): for tests and tools.

``BackgroundServer(stager, config).start()`` returns the base URL once the socket is bound;
``stop()`` shuts it down. Useful wherever a real server is needed inside one Python process
(pytest, an e2e harness, a notebook). The production entry point is :func:`~.run.run`.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any

import flask
import flask_socketio
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .app import create_app, server_context, set_server_url, stop_app
from .config import ServerConfig, ServerContext

logger = logging.getLogger(__name__)


class _RequestHandler(WSGIRequestHandler):
    def run_wsgi(self) -> None:
        super().run_wsgi()
        # After a WebSocket ends, the connection carries frames, not HTTP: close it rather
        # than let the keep-alive loop parse leftover frames as requests.
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self.close_connection = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        logger.debug("%s %s %s", self.command, self.path, code)


class BackgroundServer:
    def __init__(self, stager_or_experiment: Any, config: ServerConfig | None = None) -> None:
        config = config if config is not None else ServerConfig(port=0)
        # A thread cannot host eventlet's or gevent's hub; threading mode is the same code.
        self.config = dataclasses.replace(config, async_mode="threading")
        self.app: flask.Flask
        self.socketio: flask_socketio.SocketIO
        self.app, self.socketio = create_app(stager_or_experiment, self.config)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def context(self) -> ServerContext:
        return server_context(self.app)

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the server is not started")
        return f"http://{self.config.host}:{self._server.server_port}"

    def start(self) -> str:
        self._server = make_server(
            self.config.host, self.config.port, self.app, threaded=True, request_handler=_RequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="p2p-background-server", daemon=True)
        self._thread.start()
        set_server_url(self.app, self.url)
        logger.info("serving on %s", self.url)
        return self.url

    def stop(self) -> None:
        stop_app(self.app)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> BackgroundServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
