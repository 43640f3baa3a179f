"""The console's live feed: the ``/p2p-console`` Socket.IO namespace.

Connect with ``auth: {token: <researcher token>}`` (in the connect packet, never in a URL);
a missing or wrong token is refused (``connect_error`` with ``data.code`` ``missing_token`` /
``wrong_token``). A connected console gets ``console_state`` (``Console.snapshot()``) at once
and then every ``interval_s``: one snapshot is built per interval for all open consoles, and
none while no console is open, so the feed costs nothing when nobody watches. Actions go
through the HTTP API (``routes.py``) so scripts can use them too. Background work uses only
``socketio.start_background_task``/``socketio.sleep`` (any async mode).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import flask
import flask_socketio
from flask_socketio import ConnectionRefusedError

from ..research_auth import check_researcher
from .service import Console

logger = logging.getLogger(__name__)

NAMESPACE = "/p2p-console"
ROOM = "consoles"


class ConsoleNamespace(flask_socketio.Namespace):
    def __init__(self, console: Console, researcher_token: str, interval_s: float = 2.0, namespace: str = NAMESPACE) -> None:
        super().__init__(namespace)
        self.console = console
        self.researcher_token = researcher_token
        self.interval_s = interval_s
        self._sids: set[str] = set()
        self._lock = threading.Lock()
        self._pusher_started = False
        self._stopped = False
        self.pushes = 0
        """Snapshots built by the push loop (tests and the CPU budget read it)."""

    def on_connect(self, auth: Any = None) -> None:
        sid = flask.request.sid  # type: ignore[attr-defined]
        given = auth.get("token") if isinstance(auth, dict) else None
        problem = check_researcher(given, self.researcher_token)
        if problem is not None:
            code, message = problem
            logger.warning("refused research console connection %s: %s", sid, code)
            if code == "missing_token":
                message = "connect with auth {token: <researcher token>}"
            raise ConnectionRefusedError(message, {"code": code})
        flask_socketio.join_room(ROOM)
        with self._lock:
            self._sids.add(sid)
            start = not self._pusher_started
            self._pusher_started = True
        logger.info("research console connected (%s); %d open", sid, len(self._sids))
        self.emit("console_state", self.console.snapshot(), room=sid)
        if start:
            self.socketio.start_background_task(self._push_loop)

    def on_disconnect(self, reason: Any = None) -> None:
        with self._lock:
            self._sids.discard(flask.request.sid)  # type: ignore[attr-defined]

    def on_refresh(self, *args: Any) -> dict[str, Any]:
        """A console asks for the state now (after an action): the ack carries it."""
        if flask.request.sid not in self._sids:  # type: ignore[attr-defined]
            return {"ok": False, "error": {"code": "not_connected", "message": "not an authenticated console"}}
        return {"ok": True, "state": self.console.snapshot()}

    def error(self, exc: BaseException) -> dict[str, Any]:
        if isinstance(exc, ConnectionRefusedError):
            raise exc
        logger.error("research console handler failed", exc_info=exc)
        return {"ok": False, "error": {"code": "internal", "message": "internal server error"}}

    @property
    def open_consoles(self) -> int:
        with self._lock:
            return len(self._sids)

    def _push_loop(self) -> None:
        while not self._stopped:
            self.socketio.sleep(self.interval_s)
            if not self.open_consoles:
                continue
            try:
                state = self.console.snapshot()
                self.pushes += 1
                # To this process's consoles only: with several processes each pushes to its own.
                self.socketio.emit("console_state", state, to=ROOM, namespace=self.namespace, ignore_queue=True)
            except Exception:
                logger.exception("research console push failed")

    def stop(self) -> None:
        self._stopped = True
