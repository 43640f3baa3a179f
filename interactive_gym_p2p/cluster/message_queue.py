"""Socket.IO's message queue on Redis (Flask-SocketIO's ``message_queue``), with a stop.

python-socketio's ``RedisManager`` listens on the study's channel in a background task that
retries for ever: after the server stopped (and later Redis), it kept logging "Cannot receive
from redis". ``RedisMessageQueue.stop()`` ends that task: the listener returns at the next
message (``stop`` publishes one to wake it) or at the next retry. Async-mode agnostic: waits
use the server's own primitives (eventlet greenlets or threads), never asyncio.

Signaling's events carry ids (``emit_once``): the process holding the socket delivers each id
once, so re-delivering a dead process's outbox (docs/cluster.md) never repeats an event to a
page or a peer.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any, Iterator

import socketio

logger = logging.getLogger(__name__)

_WAKE = '{"method": "igp2p-stop"}'
"""Published by ``stop()``: wakes the listener blocked on the channel (every process ignores
it: its method is none of Socket.IO's)."""

_EXIT_MESSAGE = "pubsub listen() exited unexpectedly"

DELIVERED_IDS_KEPT = 100_000
"""Event ids this process remembers having delivered (a re-delivery comes within seconds)."""


class _QuietExit(logging.Filter):
    """python-socketio logs the listener's end as an error; after stop() it is expected."""

    def __init__(self, queue: "RedisMessageQueue") -> None:
        super().__init__()
        self.queue = queue

    def filter(self, record: logging.LogRecord) -> bool:
        return not (self.queue.stopping and record.getMessage() == _EXIT_MESSAGE)


class RedisMessageQueue(socketio.RedisManager):  # type: ignore[misc]
    def __init__(self, url: str, channel: str) -> None:
        super().__init__(url, channel=channel)
        self.delivered: OrderedDict[str, None] = OrderedDict()
        """Ids of events this process delivered to its own sockets, oldest first."""
        self._delivered_lock = threading.Lock()
        self.stopping = False
        self._retry_wait: Any = None
        self._ended: Any = None

    def initialize(self) -> None:
        # Events of the server's async mode (eventlet's green ones, or threading's).
        self._retry_wait = self.server.eio.create_event()
        self._ended = self.server.eio.create_event()
        self.server.logger.addFilter(_QuietExit(self))
        super().initialize()

    def emit_once(self, event: str, data: Any, namespace: str, to: str, event_id: str) -> None:
        """Emit ``data`` (JSON, no callback) to the socket ``to``, wherever it is held, as
        event ``event_id``: the process holding the socket delivers an id once (an outbox
        re-delivered after a process died may repeat events it had already emitted)."""
        message = {"method": "emit", "event": event, "data": [data], "binary": False, "namespace": namespace,
                   "room": to, "skip_sid": None, "callback": None, "host_id": self.host_id, "event_id": event_id}
        self._handle_emit(message)  # a socket of this process
        self._publish(message)  # the others'

    def _handle_emit(self, message: dict[str, Any]) -> None:
        event_id, sid = message.get("event_id"), message.get("room")
        if isinstance(event_id, str) and isinstance(sid, str) and self.is_connected(sid, message.get("namespace") or "/"):
            with self._delivered_lock:
                seen = event_id in self.delivered
                if not seen:
                    self.delivered[event_id] = None
                    if len(self.delivered) > DELIVERED_IDS_KEPT:
                        self.delivered.popitem(last=False)
            if seen:
                logger.info("event %s (%s) to %s was delivered already: dropped", event_id, message.get("event"), sid)
                return
        super()._handle_emit(message)

    def _redis_listen_with_retries(self) -> Iterator[Any]:
        try:
            yield from self._listen_until_stopped()
        finally:
            self._ended.set()

    def _listen_until_stopped(self) -> Iterator[Any]:
        # The library's loop, with an end: stop() was called.
        retry_s = 1.0
        while not self.stopping:
            try:
                self._redis_connect()
                self.pubsub.subscribe(self.channel)
                retry_s = 1.0
                for message in self.pubsub.listen():
                    if self.stopping:
                        return
                    yield message
            except Exception as exc:
                if self.stopping:
                    return
                logger.error("Socket.IO message queue: cannot receive from Redis (%s); retrying in %g s", exc, retry_s)
                self._retry_wait.wait(retry_s)
                retry_s = min(retry_s * 2, 60.0)
        return

    def stop(self, timeout_s: float = 5.0) -> None:
        """End the listener (the server is shutting down); returns once it ended or after
        ``timeout_s``. Emits after this no longer reach other processes' sockets."""
        if self.stopping:
            return
        self.stopping = True
        if self._retry_wait is not None:
            self._retry_wait.set()
        try:
            if self.redis is not None:
                self.redis.publish(self.channel, _WAKE)
        except Exception:  # Redis gone: the listener is in its retry wait, woken above
            pass
        if getattr(self, "thread", None) is not None:  # the listener was started
            self._ended.wait(timeout_s)
        try:
            if self.pubsub is not None:
                self.pubsub.close()
            if self.redis is not None:
                self.redis.close()
        except Exception:
            logger.debug("closing the message queue's Redis connections failed", exc_info=True)
