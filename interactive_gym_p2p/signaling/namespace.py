"""The signaling Socket.IO namespace (``/p2p``): tickets, limits, and the event contract.

Every client event is rate-limited and parsed before :class:`~.core.Signaling` sees it;
every refusal is logged, answered in the ack and (at most once a second per code) as a
``signal_error`` event; a socket that keeps sending refused messages is disconnected.
Handlers never raise into Socket.IO: anything unexpected is logged and answered
``internal``. The full contract is in ``docs/server.md``.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import flask
import flask_socketio
from flask_socketio import ConnectionRefusedError

from ..cluster.processes import ProcessRoll
from ..console.report import ReportInvalid, TelemetryReport, parse_report
from ..matchmaking.bots import BotLauncher, BotLaunchError
from ..matchmaking.conditions import ConditionLedger
from ..matchmaking.decisions import DecisionLog
from .core import Signaling
from .limits import SignalingLimits, TokenBucket
from .messages import (
    Refusal,
    parse_connection_failed,
    parse_game_ref,
    parse_join,
    parse_probe_result,
    parse_relay,
    parse_signal,
)
from .records import GameEnd, GameInfo, Result, Slot, SlotOutcome, error_ack
from .tickets import SignalingTickets, TicketError

logger = logging.getLogger(__name__)

NAMESPACE = "/p2p"
_LOGGED_REFUSALS_PER_SOCKET = 10


class TelemetrySink(Protocol):
    def report(self, game_id: str, player_index: int, report: TelemetryReport) -> None: ...


@dataclass(frozen=True)
class GameHooks:
    """Called outside signaling's transaction; exceptions are logged, never propagated."""

    on_game_created: Callable[[GameInfo], None] | None = None
    on_game_ended: Callable[[GameEnd], None] | None = None
    on_outcome: Callable[[SlotOutcome], None] | None = None
    """A participant's study ends (lobby timeout, seat dropped): the participant flow ends it (the
    ledger recorded it before the step's events, through ``Signaling.record_outcome``)."""


Admission = Callable[[Slot], "tuple[str, str] | None"]
"""slot -> None (may join) or (error code, message): the participant flow refuses joins of a
participant whose study has ended (or who has not passed screening)."""


@dataclass(frozen=True)
class MatchmakingServices:
    """Where matchmaking's side effects go (all used outside signaling's lock)."""

    decisions: DecisionLog | None = None
    """The JSON-lines decision log."""
    ledger: ConditionLedger | None = None
    """Durable completed-game counts per condition."""
    bots: BotLauncher | None = None
    """Starts bot processes for waiting rooms whose timeout policy is 'bot'."""
    rtt_interval_s: float = 1.0
    """How often each waiting participant's RTT to the server is measured."""


class SignalingNamespace(flask_socketio.Namespace):
    def __init__(
        self,
        signaling: Signaling,
        tickets: SignalingTickets,
        limits: SignalingLimits = SignalingLimits(),
        hooks: GameHooks = GameHooks(),
        sweep_interval_s: float = 0.2,
        namespace: str = NAMESPACE,
        matchmaking: MatchmakingServices = MatchmakingServices(),
        admission: Admission | None = None,
        roll: ProcessRoll | None = None,
    ) -> None:
        super().__init__(namespace)
        self.admission = admission
        self.signaling = signaling
        self.tickets = tickets
        self.limits = limits
        self.hooks = hooks
        self.sweep_interval_s = sweep_interval_s
        self._rates = {
            "signal": limits.signal_rate, "relay": limits.relay_rate, "control": limits.control_rate,
            "telemetry": limits.telemetry_rate,
        }
        self.telemetry_sink: TelemetrySink | None = None
        """Where checked telemetry reports go (the research console), or None: not collected."""
        self.matchmaking = matchmaking
        self._pinged: dict[str, float] = {}
        """When each waiting socket was last sent an ``rtt_ping``."""
        self._ping_seq = 0
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._violations: dict[str, int] = {}
        self._last_error: dict[tuple[str, str], float] = {}
        self._sweeper_lock = threading.Lock()
        self._sweeper_started = False
        self._stopped = False
        self.roll = roll
        """The roll of the study's server processes when several share a Redis, else None."""
        self.process_id = None if roll is None else roll.process_id
        self._local: set[str] = set()
        """Signaling sockets connected to this process (the store also knows other processes')."""

    # ------------------------------------------------------------------ plumbing

    def _sid(self) -> str:
        return flask.request.sid  # type: ignore[attr-defined]

    def _finish(self, result: Result) -> dict[str, Any]:
        for info in result.created:
            self._call_hook(self.hooks.on_game_created, info)
        for end in result.ended:
            self._call_hook(self.hooks.on_game_ended, end)
        for outcome in result.outcomes:
            self._call_hook(self.hooks.on_outcome, outcome)
        for sid in result.disconnect:
            self._close(sid)
        mm = self.matchmaking
        if result.completions and mm.ledger is not None:
            for completion in result.completions:
                try:
                    mm.ledger.record(completion)
                except Exception:
                    logger.exception("recording completed game %s of condition %s failed", completion.game_id, completion.condition)
        for request in result.bots:
            self._launch_bots(request)
        if result.decisions and mm.decisions is not None:
            mm.decisions.write(result.decisions)
        for sid in result.pings:
            self._ping(sid)
        return result.ack

    def _launch_bots(self, request: Any) -> None:
        launcher = self.matchmaking.bots
        try:
            if launcher is None:
                raise BotLaunchError("this server has no bot launcher")
            launcher.launch(request)
        except Exception as exc:
            logger.error("bot fill %s: %s", request.fill_id, exc)
            self._finish(self.signaling.bot_launch_failed(request.fill_id, str(exc)))

    def _ping(self, sid: str) -> None:
        """Measure the RTT to the server on a waiting participant's own socket."""
        now = time.monotonic()
        self._pinged[sid] = now
        self._ping_seq += 1
        sent = time.perf_counter()

        def answered(*_: Any) -> None:
            rtt_ms = (time.perf_counter() - sent) * 1000.0
            try:
                self._finish(self.signaling.rtt_sample(sid, rtt_ms))
            except Exception:
                logger.exception("RTT sample of %s failed", sid)

        try:
            self.socketio.emit("rtt_ping", {"seq": self._ping_seq}, to=sid, namespace=self.namespace, callback=answered)
        except Exception:
            logger.exception("rtt_ping to %s failed", sid)

    def _ping_waiters(self) -> None:
        interval = self.matchmaking.rtt_interval_s
        now = time.monotonic()
        # Each process measures its own sockets (an RTT through another process means nothing).
        waiting = set(self.signaling.waiting_sids()) & self._local
        for sid in list(self._pinged):
            if sid not in waiting:
                del self._pinged[sid]
        for sid in waiting:
            if now - self._pinged.get(sid, -interval) >= interval:
                self._ping(sid)

    def _call_hook(self, hook: Callable[[Any], None] | None, arg: Any) -> None:
        if hook is None:
            return
        try:
            hook(arg)
        except Exception:
            logger.exception("hook %s failed for %s", getattr(hook, "__name__", hook),
                             getattr(arg, "game_id", None) or getattr(getattr(arg, "slot", None), "subject_id", "?"))

    def _close(self, sid: str) -> None:
        try:
            self.socketio.server.disconnect(sid, namespace=self.namespace)
        except Exception:
            logger.exception("closing socket %s failed", sid)

    def _allowed(self, sid: str, kind: str) -> bool:
        bucket = self._buckets.get((sid, kind))
        if bucket is None:
            bucket = self._buckets.setdefault((sid, kind), TokenBucket(self._rates[kind]))
        return bucket.take()

    def _refuse(self, sid: str, event: str, code: str, message: str) -> dict[str, Any]:
        count = self._violations.get(sid, 0) + 1
        self._violations[sid] = count
        if count <= _LOGGED_REFUSALS_PER_SOCKET:
            logger.warning("refused %s from %s: %s: %s", event, sid, code, message)
        now = time.monotonic()
        if now - self._last_error.get((sid, code), -1.0) >= 1.0:
            self._last_error[(sid, code)] = now
            self.emit("signal_error", {"event": event, "code": code, "message": message}, room=sid)
        if count > self.limits.max_violations:
            logger.warning("disconnecting %s: %d refused messages", sid, count)
            self._close(sid)
        return error_ack(code, message)

    def _handle(self, event: str, kind: str, args: tuple[Any, ...], step: Callable[[str, Any], Result | Refusal]) -> dict[str, Any]:
        sid = self._sid()
        try:
            if not self._allowed(sid, kind):
                return self._refuse(sid, event, "rate_limited", f"{event}: too many messages; at most {self._rates[kind].per_second:g}/s")
            if len(args) > 1:
                return self._refuse(sid, event, "malformed", f"{event}: expected one payload argument, got {len(args)}")
            outcome = step(sid, args[0] if args else None)
            if isinstance(outcome, Refusal):
                return self._refuse(sid, event, outcome.code, outcome.message)
            ack = self._finish(outcome)
            if not ack.get("ok"):
                error = ack["error"]
                return self._refuse(sid, event, error["code"], error["message"])
            return ack
        except Exception:
            logger.exception("%s from %s failed", event, sid)
            return error_ack("internal", f"{event}: internal server error")

    def error(self, exc: BaseException) -> dict[str, Any]:
        """Last resort (handlers catch their own errors): log and answer ``internal``."""
        if isinstance(exc, ConnectionRefusedError):
            raise exc  # a refused connect must reach python-socketio as such
        logger.error("signaling handler failed", exc_info=exc)
        return error_ack("internal", "internal server error")

    # ------------------------------------------------------------------ lifecycle

    def on_connect(self, auth: Any = None) -> None:
        sid = self._sid()
        try:
            ticket = auth.get("ticket") if isinstance(auth, dict) else None
            if ticket is None:
                raise TicketError("connect with auth {ticket: <the ticket from activate_scene>}")
            slot = self.tickets.verify(ticket)
            ack = self._finish(self.signaling.connect(sid, slot, owner=self.process_id))
        except TicketError as exc:
            logger.warning("refused signaling connection %s: %s", sid, exc)
            raise ConnectionRefusedError(f"invalid ticket: {exc}", {"code": "invalid_ticket"}) from None
        except Exception:
            logger.exception("signaling connect of %s failed", sid)
            raise ConnectionRefusedError("internal server error", {"code": "internal"}) from None
        if not ack.get("ok"):
            raise ConnectionRefusedError(ack["error"]["message"], {"code": ack["error"]["code"]})
        self._local.add(sid)
        self._start_sweeper()

    def on_disconnect(self, reason: Any = None) -> None:
        sid = self._sid()
        self._local.discard(sid)
        try:
            self._finish(self.signaling.disconnect(sid))
        except Exception:
            logger.exception("signaling disconnect of %s failed", sid)
        for key in [k for k in self._buckets if k[0] == sid]:
            self._buckets.pop(key, None)
        for key in [k for k in self._last_error if k[0] == sid]:
            self._last_error.pop(key, None)
        self._violations.pop(sid, None)
        self._pinged.pop(sid, None)

    # ------------------------------------------------------------------ events

    def on_join(self, *args: Any) -> dict[str, Any]:
        def step(sid: str, payload: Any) -> Result | Refusal:
            request = parse_join(payload)
            if isinstance(request, Refusal):
                return request
            if self.admission is not None:
                slot = self.signaling.slot_of(sid)
                refused = None if slot is None else self.admission(slot)
                if refused is not None:
                    return Refusal(*refused)
            return self.signaling.join(sid, playing=request.playing)

        return self._handle("join", "control", args, step)

    def on_signal(self, *args: Any) -> dict[str, Any]:
        def step(sid: str, payload: Any) -> Result | Refusal:
            message = parse_signal(payload, self.limits)
            return message if isinstance(message, Refusal) else self.signaling.signal(sid, message)

        return self._handle("signal", "signal", args, step)

    def on_relay(self, *args: Any) -> dict[str, Any]:
        def step(sid: str, payload: Any) -> Result | Refusal:
            message = parse_relay(payload, self.limits)
            return message if isinstance(message, Refusal) else self.signaling.relay(sid, message)

        return self._handle("relay", "relay", args, step)

    def on_finished(self, *args: Any) -> dict[str, Any]:
        def step(sid: str, payload: Any) -> Result | Refusal:
            ref = parse_game_ref("finished", payload)
            return ref if isinstance(ref, Refusal) else self.signaling.finished(sid, ref)

        return self._handle("finished", "control", args, step)

    def on_leave(self, *args: Any) -> dict[str, Any]:
        def step(sid: str, payload: Any) -> Result | Refusal:
            ref = parse_game_ref("leave", payload)
            return ref if isinstance(ref, Refusal) else self.signaling.leave(sid, ref)

        return self._handle("leave", "control", args, step)

    def on_telemetry(self, *args: Any) -> dict[str, Any]:
        """A player's telemetry report (docs/console.md): checked, then handed to the sink."""
        sid = self._sid()
        event = "telemetry"
        try:
            if not self._allowed(sid, "telemetry"):
                return self._refuse(sid, event, "rate_limited", f"{event}: too many reports; at most {self._rates['telemetry'].per_second:g}/s")
            if len(args) != 1:
                return self._refuse(sid, event, "malformed", f"{event}: expected one payload argument, got {len(args)}")
            try:
                report = parse_report(args[0])
            except ReportInvalid as exc:
                return self._refuse(sid, event, "malformed", str(exc))
            player_index = self.signaling.member(sid, report.game_id)
            if player_index is None:
                # A report racing the end of its game is normal: answered, not counted against the socket.
                return error_ack("not_in_game", f"{event}: this socket is not a live member of game {report.game_id}")
            if self.telemetry_sink is not None:
                self.telemetry_sink.report(report.game_id, player_index, report)
            return {"ok": True}
        except Exception:
            logger.exception("%s from %s failed", event, sid)
            return error_ack("internal", f"{event}: internal server error")

    def on_connection_failed(self, *args: Any) -> dict[str, Any]:
        def step(sid: str, payload: Any) -> Result | Refusal:
            failure = parse_connection_failed(payload)
            return failure if isinstance(failure, Refusal) else self.signaling.connection_failed(sid, failure)

        return self._handle("connection_failed", "control", args, step)

    def on_probe_signal(self, *args: Any) -> dict[str, Any]:
        def step(sid: str, payload: Any) -> Result | Refusal:
            message = parse_signal(payload, self.limits, event="probe_signal", id_field="probe_id")
            return message if isinstance(message, Refusal) else self.signaling.probe_signal(sid, message)

        return self._handle("probe_signal", "signal", args, step)

    def on_probe_result(self, *args: Any) -> dict[str, Any]:
        def step(sid: str, payload: Any) -> Result | Refusal:
            report = parse_probe_result(payload)
            return report if isinstance(report, Refusal) else self.signaling.probe_result(sid, report)

        return self._handle("probe_result", "control", args, step)

    # ------------------------------------------------------------------ server side

    def end_game(self, game_id: str, message: str) -> dict[str, Any]:
        """The researcher ends a game (research console); the ack of Signaling.end_game."""
        return self._finish(self.signaling.end_game(game_id, message))


    def release(self, slot: Slot) -> None:
        """The participant left the scene; called from the scene's deactivate hook."""
        try:
            self._finish(self.signaling.release(slot))
        except Exception:
            logger.exception("releasing %s failed", slot.key())

    def start(self) -> None:
        """Start the sweeper now (a process of several must beat before its first socket)."""
        self._start_sweeper()

    def _start_sweeper(self) -> None:
        with self._sweeper_lock:
            if self._sweeper_started:
                return
            self._sweeper_started = True
        self.socketio.start_background_task(self._sweep_loop)

    def _sweep_loop(self) -> None:
        while not self._stopped:
            self.socketio.sleep(self.sweep_interval_s)
            try:
                self._sweep_once()
            except Exception:
                logger.exception("signaling sweep failed")

    def _sweep_once(self) -> None:
        sweeper = True
        if self.roll is not None:
            tick = self.roll.tick()
            sweeper = tick.sweeper
            if tick.evicted:
                for sid in sorted(self._local):
                    self._close(sid)
            for process_id in tick.dead:
                self._finish(self.signaling.disconnect_owner(process_id))
        if sweeper:
            self._finish(self.signaling.sweep())
        self._ping_waiters()
        if self.matchmaking.bots is not None:
            self.matchmaking.bots.poll()

    def stop(self) -> None:
        """End the sweeper and any bot processes (the server is shutting down)."""
        self._stopped = True
        if self.roll is not None:
            self.roll.leave()
        if self.matchmaking.bots is not None:
            try:
                self.matchmaking.bots.stop()
            except Exception:
                logger.exception("stopping the bots failed")
        close = getattr(self.matchmaking.decisions, "close", None)
        if close is not None:
            close()
