"""The participant flow and WebRTC signaling of a headless peer, over python-socketio.

A browser uses two Socket.IO namespaces on one connection; python-socketio gives every
namespace of one client the same ``auth``, so this uses two clients: ``/`` with
``{subject_id}`` (scenes: ``activate_scene``, ``advance_scene``) and ``/p2p`` with the
scene's ``{ticket}`` (``join``, ``game_ready``, ``signal``, ``finished``, ...). The server
treats them exactly like the browser's two namespace sockets (docs/server.md).

Both sockets reconnect by themselves when the connection drops (a network blip, or the
server process they talked to died and another one took over behind the same address): the
server shows the current scene again on ``/``, and ``/p2p`` joins again, naming the game it
still plays (:attr:`PeerSignaling.playing`) so the other players renegotiate nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import socketio

logger = logging.getLogger(__name__)

P2P_NAMESPACE = "/p2p"
P2P_SCENE_TYPE = "P2PGymScene"
END_SCENE_TYPE = "EndScene"
# Events after which waiting for something else is pointless.
FATAL_P2P_EVENTS = ("superseded", "wait_timeout")
RECONNECT = {"reconnection": True, "reconnection_delay": 0.5, "reconnection_delay_max": 3, "randomization_factor": 0.5}
"""python-socketio client options: reconnect soon (the server answers from another process)."""


class SignalingError(RuntimeError):
    """The flow cannot go on: refused connection or event, timeout, superseded, ..."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


SignalHandler = Callable[[int, str, Any], Awaitable[None] | None]


@dataclass
class _Inbox:
    """Every event received, in order, with waits on them (a condition, not sleeps)."""

    events: list[tuple[str, Any, float]] = field(default_factory=list)
    cond: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def put(self, name: str, data: Any) -> None:
        async with self.cond:
            self.events.append((name, data, time.monotonic()))
            self.cond.notify_all()

    async def wait(
        self,
        name: str,
        predicate: Callable[[Any], bool] = lambda d: True,
        timeout: float = 30.0,
        fatal: tuple[str, ...] = (),
        start: int = 0,
    ) -> Any:
        """The first ``name`` event from index ``start`` matching ``predicate``; a ``fatal``
        event received meanwhile raises :class:`SignalingError` with its name as the code."""
        deadline = time.monotonic() + timeout
        async with self.cond:
            while True:
                for ev, data, _ in self.events[start:]:
                    if ev == name and predicate(data):
                        return data
                    if ev in fatal:
                        message = data.get("message", "") if isinstance(data, dict) else str(data)
                        raise SignalingError(ev, message or ev)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    got = [e for e, _, _ in self.events[start:]]
                    raise SignalingError("timeout", f"no {name!r} within {timeout:g} s (received {got})")
                try:
                    await asyncio.wait_for(self.cond.wait(), remaining)
                except asyncio.TimeoutError:
                    pass

    def mark(self) -> int:
        return len(self.events)

    def names(self) -> list[str]:
        return [e for e, _, _ in self.events]


def _check_ack(event: str, ack: Any) -> dict[str, Any]:
    if not isinstance(ack, dict) or not ack.get("ok"):
        error = ack.get("error", {}) if isinstance(ack, dict) else {}
        raise SignalingError(error.get("code", "refused"), f"{event}: {error.get('message', ack)!r}")
    return ack


class _ProbeChannel:
    """One probe's relayed signals: queued until its handler is set, then delivered in order
    by one task (aiortc's slow steps never block the Socket.IO reader)."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[int, str, Any]] = asyncio.Queue()
        self.ended: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def attach(self, handler: SignalHandler, ended: asyncio.Event | None) -> None:
        self.ended = ended
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._deliver(handler))

    async def _deliver(self, handler: SignalHandler) -> None:
        while True:
            sender, kind, data = await self.queue.get()
            try:
                result = handler(sender, kind, data)
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                logger.exception("handling probe signal %s from player %s failed", kind, sender)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()


class PeerSignaling:
    """One participant: its scene flow on ``/`` and, per P2P scene, signaling on ``/p2p``."""

    def __init__(self, server_url: str, subject_id: str, *, timeout_s: float = 30.0, socket_delay_ms: float = 0.0,
                 recruitment: dict[str, str] | None = None) -> None:
        self.server_url = server_url.rstrip("/")
        self.subject_id = subject_id
        self.given_recruitment = dict(recruitment or {})
        """Recruitment ids sent when connecting (as a browser sends its study link's parameters)."""
        self.timeout_s = timeout_s
        self.socket_delay_ms = socket_delay_ms
        """Extra delay before answering the server's ``rtt_ping`` (a peer with a set latency)."""
        self._probes: dict[str, _ProbeChannel] = {}
        self.flow = _Inbox()
        self.p2p = _Inbox()
        self.scene: dict[str, Any] | None = None
        """The payload of the current scene's ``activate_scene``."""
        self.on_p2p_event: Callable[[str, Any], None] | None = None
        """Called with (event, data) for every ``/p2p`` event except ``signal`` (peer_left, ...)."""
        self._on_signal_handler: SignalHandler | None = None
        self._handler_set = asyncio.Event()
        self._flow_client: socketio.AsyncClient | None = None
        self._p2p_client: socketio.AsyncClient | None = None
        self._signal_tasks: asyncio.Queue[tuple[int, str, Any]] | None = None
        self._signal_worker: asyncio.Task[None] | None = None
        self.playing: str | None = None
        """The game this peer plays now (set by the runner): a reconnect of ``/p2p`` names it."""
        self.reconnects: list[str] = []
        """Each time a socket came back after a drop (``/`` or ``/p2p``), in order."""
        self._tasks: set[asyncio.Task[Any]] = set()

    # ---- participant flow (`/`) -------------------------------------------------------------

    async def connect(self) -> dict[str, Any]:
        """Connect as the subject; returns the first (or current, after a reload) scene."""
        client = socketio.AsyncClient(**RECONNECT)
        self._flow_client = client
        for name in ("activate_scene", "terminate_scene", "superseded", "flow_error", "participant", "study_end"):
            client.on(name, self._recorder(self.flow, name))
        client.on("connect", self._on_reconnect("/", None))
        mark = self.flow.mark()
        auth: dict[str, Any] = {"subject_id": self.subject_id, "client": "python-peer"}
        if self.given_recruitment:
            auth["recruitment"] = self.given_recruitment
        try:
            await client.connect(self.server_url, auth=auth, transports=["websocket"], wait_timeout=self.timeout_s)
        except socketio.exceptions.ConnectionError as exc:
            raise SignalingError("connect_refused", f"participant connection of {self.subject_id!r}: {exc}") from exc
        # A participant whose study is over gets its outcome page (study_end) instead of a scene.
        self.scene = await self.flow.wait("activate_scene", timeout=self.timeout_s, fatal=("superseded", "study_end"),
                                          start=mark)
        return self.scene

    @property
    def recruitment(self) -> dict[str, str]:
        """The recruitment ids the server keeps for this participant (its ``participant`` event)."""
        info = [d for e, d, _ in self.flow.events if e == "participant" and isinstance(d, dict)]
        return dict(info[-1].get("recruitment") or {}) if info else dict(self.given_recruitment)

    @property
    def outcome(self) -> dict[str, Any] | None:
        """The last ``study_end`` page (outcome, reason, code, redirect_url, ...), if any."""
        pages = [d for e, d, _ in self.flow.events if e == "study_end" and isinstance(d, dict)]
        return pages[-1] if pages else None

    async def report_outcome(self, outcome: str, reason: str | None = None, detail: str | None = None,
                             game_id: str | None = None) -> dict[str, Any]:
        """``study_outcome``: end this participant's study; returns the page of the outcome that stands."""
        client = self._need(self._flow_client, "connect() first")
        payload = {"outcome": outcome, "reason": reason, "detail": detail, "game_id": game_id}
        ack = _check_ack("study_outcome", await client.call("study_outcome", payload, timeout=self.timeout_s))
        return ack["page"]

    async def advance(self) -> dict[str, Any]:
        """``advance_scene`` from the current scene; returns the next scene's ``activate_scene``."""
        client = self._need(self._flow_client, "connect() first")
        current = self.scene["scene_id"] if self.scene else None
        mark = self.flow.mark()
        ack = _check_ack("advance_scene", await client.call("advance_scene", {"scene_id": current}, timeout=self.timeout_s))
        target = ack["scene_id"]
        # The activate_scene may have arrived before the ack: search from the mark.
        self.scene = await self.flow.wait("activate_scene", lambda d: d.get("scene_id") == target,
                                          timeout=self.timeout_s, fatal=("superseded",), start=mark)
        return self.scene

    async def advance_until(self, predicate: Callable[[dict[str, Any]], bool], max_scenes: int = 100) -> dict[str, Any]:
        """Advance through scenes until ``predicate(scene)`` or the EndScene; returns that scene."""
        scene = self._need(self.scene, "connect() first")
        for _ in range(max_scenes):
            if predicate(scene) or scene.get("scene_type") == END_SCENE_TYPE:
                return scene
            scene = await self.advance()
        raise SignalingError("too_many_scenes", f"no matching scene within {max_scenes} scenes")

    # ---- signaling (`/p2p`) -----------------------------------------------------------------

    async def join(self, ticket: str) -> dict[str, Any]:
        """Connect ``/p2p`` with the scene's ticket and ``join``; returns the join ack."""
        await self.leave_namespace()
        self.p2p = _Inbox()
        client = socketio.AsyncClient(**RECONNECT)
        self._p2p_client = client
        for name in ("waiting", "game_ready", "wait_timeout", "peer_interrupted", "peer_rejoined", "peer_left",
                     "superseded", "signal_error", "relay", "game_ended", "probe", "requeued"):
            client.on(name, self._recorder(self.p2p, name), namespace=P2P_NAMESPACE)
        client.on("connect", self._on_reconnect(P2P_NAMESPACE, client), namespace=P2P_NAMESPACE)
        client.on("signal", self._on_signal, namespace=P2P_NAMESPACE)
        client.on("rtt_ping", self._on_rtt_ping, namespace=P2P_NAMESPACE)
        client.on("probe_signal", self._on_probe_signal, namespace=P2P_NAMESPACE)
        client.on("probe_end", self._on_probe_end, namespace=P2P_NAMESPACE)
        self._signal_tasks = asyncio.Queue()
        self._signal_worker = asyncio.create_task(self._deliver_signals(self._signal_tasks))
        try:
            await client.connect(self.server_url, namespaces=[P2P_NAMESPACE], auth={"ticket": ticket},
                                 transports=["websocket"], wait_timeout=self.timeout_s)
        except socketio.exceptions.ConnectionError as exc:
            raise SignalingError("connect_refused", f"signaling connection of {self.subject_id!r}: {exc}") from exc
        return _check_ack("join", await self._first_join(client))

    async def _first_join(self, client: socketio.AsyncClient) -> Any:
        """The ack of the first ``join``; if the socket drops before it comes (the server
        process died during the step), the ack of the join sent again on reconnect stands in
        (a page joins on every connect and acts on the events, never waiting on an ack)."""
        start = self.p2p.mark()
        first = asyncio.ensure_future(client.call("join", {}, namespace=P2P_NAMESPACE, timeout=self.timeout_s))
        # Longer than the call's own timeout: without a reconnect, the call decides (as before).
        again = asyncio.ensure_future(self.p2p.wait("rejoined", timeout=2 * self.timeout_s + 5, start=start))
        try:
            done, _ = await asyncio.wait({first, again}, return_when=asyncio.FIRST_COMPLETED)
            chosen = first if first in done else again
        finally:
            for task in (first, again):
                task.cancel()
        other = again if chosen is first else first
        if other.done() and not other.cancelled():
            other.exception()  # retrieved: a late failure of the one not used is not logged
        return chosen.result()

    async def wait_game_ready(self, timeout_s: float, start: int = 0) -> dict[str, Any]:
        """The first ``game_ready`` from inbox index ``start`` (after a requeue: a new game)."""
        return await self.p2p.wait("game_ready", timeout=timeout_s, fatal=FATAL_P2P_EVENTS, start=start)

    async def signal(self, game_id: str, to: int, kind: str, data: Any) -> None:
        """Send one signaling message (order is kept; a refusal arrives as ``signal_error``)."""
        client = self._need(self._p2p_client, "join() first")
        await client.emit("signal", {"game_id": game_id, "to": to, "kind": kind, "data": data}, namespace=P2P_NAMESPACE)

    async def telemetry(self, report: dict[str, Any]) -> None:
        """One telemetry report for the research console (no ack awaited: best effort)."""
        client = self._p2p_client
        if client is not None and client.connected:
            await client.emit("telemetry", report, namespace=P2P_NAMESPACE)

    async def connection_failed(self, game_id: str, code: str, detail: str) -> dict[str, Any]:
        """Our WebRTC connection to the game's peers failed; the ack says ``requeued`` or ``ended``."""
        client = self._need(self._p2p_client, "join() first")
        return _check_ack("connection_failed", await client.call(
            "connection_failed", {"game_id": game_id, "code": code, "detail": detail[:400]},
            namespace=P2P_NAMESPACE, timeout=self.timeout_s))

    async def probe_signal(self, probe_id: str, to: int, kind: str, data: Any) -> None:
        client = self._need(self._p2p_client, "join() first")
        await client.emit("probe_signal", {"probe_id": probe_id, "to": to, "kind": kind, "data": data}, namespace=P2P_NAMESPACE)

    async def probe_result(self, report: dict[str, Any]) -> None:
        client = self._need(self._p2p_client, "join() first")
        await client.emit("probe_result", report, namespace=P2P_NAMESPACE)

    def set_probe_handler(self, probe_id: str, handler: SignalHandler | None, ended: asyncio.Event | None) -> None:
        """``handler(from, kind, data)`` for a probe's relayed signals, in order (those that came
        before are delivered now); ``ended`` is set on ``probe_end``. None: the probe is over."""
        if handler is None:
            channel = self._probes.pop(probe_id, None)
            if channel is not None:
                channel.close()
            return
        channel = self._probes.get(probe_id) or self._probes.setdefault(probe_id, _ProbeChannel())
        channel.attach(handler, ended)

    async def finished(self, game_id: str) -> dict[str, Any]:
        client = self._need(self._p2p_client, "join() first")
        return _check_ack("finished", await client.call("finished", {"game_id": game_id}, namespace=P2P_NAMESPACE,
                                                        timeout=self.timeout_s))

    async def leave(self, game_id: str) -> dict[str, Any]:
        client = self._need(self._p2p_client, "join() first")
        return _check_ack("leave", await client.call("leave", {"game_id": game_id}, namespace=P2P_NAMESPACE,
                                                     timeout=self.timeout_s))

    def set_signal_handler(self, handler: SignalHandler | None) -> None:
        """``handler(from_player, kind, data)`` for every relayed ``signal``, in order; signals
        that arrive before a handler is set wait for it (an offer can beat our setup)."""
        self._on_signal_handler = handler
        if handler is None:
            self._handler_set.clear()
        else:
            self._handler_set.set()

    def p2p_events(self, *names: str) -> list[Any]:
        return [d for e, d, _ in self.p2p.events if e in names]

    async def leave_namespace(self) -> None:
        """Disconnect ``/p2p`` (after the game; the seat is already finished or left)."""
        client, self._p2p_client = self._p2p_client, None
        worker, self._signal_worker = self._signal_worker, None
        if client is not None and client.connected:
            await client.disconnect()
        if worker is not None:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
        for channel in self._probes.values():
            channel.close()
        self._probes.clear()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.leave_namespace()
        client, self._flow_client = self._flow_client, None
        if client is not None and client.connected:
            await client.disconnect()

    # ---- internals -----------------------------------------------------------------------------

    @staticmethod
    def _need(value: Any, message: str) -> Any:
        if value is None:
            raise SignalingError("not_ready", message)
        return value

    def _recorder(self, inbox: _Inbox, name: str) -> Callable[..., Awaitable[None]]:
        async def record(data: Any = None, *rest: Any) -> None:
            if name in ("superseded", "signal_error", "flow_error", "wait_timeout", "peer_left", "game_ended"):
                logger.info("%s %s: %s", self.subject_id, name, data)
            await inbox.put(name, data)
            if inbox is self.p2p and self.on_p2p_event is not None:
                try:
                    self.on_p2p_event(name, data)
                except Exception:
                    logger.exception("on_p2p_event listener failed")

        return record

    def _on_reconnect(self, namespace: str, client: socketio.AsyncClient | None) -> Callable[..., None]:
        """The socket's connect handler: nothing the first time; after a drop, note it, and on
        ``/p2p`` join again (outside the handler: a call from inside it would wait on itself)."""
        first = [True]

        def on_connect(*_: Any) -> None:
            if first[0]:
                first[0] = False
                return
            logger.info("%s: %s socket reconnected", self.subject_id, namespace)
            self.reconnects.append(namespace)
            if client is not None:
                task = asyncio.get_running_loop().create_task(self._join_again(client))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        return on_connect

    async def _join_again(self, client: socketio.AsyncClient) -> None:
        payload = {"game_id": self.playing} if self.playing else {}
        try:
            ack = await client.call("join", payload, namespace=P2P_NAMESPACE, timeout=self.timeout_s)
        except Exception as exc:  # the next reconnect tries again
            logger.warning("%s: join after a reconnect failed: %s", self.subject_id, exc)
            return
        logger.info("%s: joined again after a reconnect: %s", self.subject_id, ack)
        await self.p2p.put("rejoined", ack)

    async def _on_signal(self, data: Any = None) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("from"), int):
            logger.warning("malformed signal from the server ignored: %r", data)
            return
        await self.p2p.put("signal", data)
        if self._signal_tasks is not None:
            self._signal_tasks.put_nowait((data["from"], data.get("kind", ""), data.get("data")))

    async def _on_rtt_ping(self, data: Any = None) -> dict[str, Any]:
        # The return value is the ack: the server times the round trip.
        if self.socket_delay_ms > 0:
            await asyncio.sleep(self.socket_delay_ms / 1000.0)
        return {}

    async def _on_probe_signal(self, data: Any = None) -> None:
        if not isinstance(data, dict) or not isinstance(data.get("from"), int):
            return
        probe_id = str(data.get("probe_id"))
        channel = self._probes.get(probe_id) or self._probes.setdefault(probe_id, _ProbeChannel())
        channel.queue.put_nowait((data["from"], data.get("kind", ""), data.get("data")))

    async def _on_probe_end(self, data: Any = None) -> None:
        await self.p2p.put("probe_end", data)
        channel = self._probes.get(str((data or {}).get("probe_id")))
        if channel is not None and channel.ended is not None:
            channel.ended.set()

    async def _deliver_signals(self, queue: asyncio.Queue[tuple[int, str, Any]]) -> None:
        # One consumer: the WebRTC layer sees one peer's messages strictly in arrival order,
        # and a slow setRemoteDescription never blocks the Socket.IO reader.
        while True:
            sender, kind, data = await queue.get()
            await self._handler_set.wait()
            handler = self._on_signal_handler
            if handler is None:
                continue
            try:
                result = handler(sender, kind, data)
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                logger.exception("handling signal %s from player %s failed", kind, sender)
