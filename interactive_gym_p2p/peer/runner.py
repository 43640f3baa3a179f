"""``run_peer``: one headless participant from the first scene to the EndScene.

signaling (participant flow, ``join``, ``game_ready``) -> environment
(``InteractiveGymEnvAdapter.from_code`` with the scene's env code) -> WebRTC mesh
(``rtc.RtcMesh``) -> rollback session (``session.P2PSession``) ticked at the scene's fps
from a monotonic clock -> on game over: ``finished``, export built and uploaded ->
``advance_scene`` to the end. Every P2P scene of the Stager is played in turn.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .actions import ActionContext, ActionSource, ScriptedActions
from .env import InteractiveGymEnvAdapter, with_players
from .hosted import HostedPolicies, HostedPolicyError
from .export import UploadResult, build_export, upload_export
from .probe import run_probe
from .rtc import RtcError, RtcMesh
from .session import P2PSession, SessionState
from .settings import from_game_settings
from .signaling import END_SCENE_TYPE, P2P_SCENE_TYPE, PeerSignaling
from .telemetry import Reporter

logger = logging.getLogger(__name__)

PATH_KEYS = ("kind", "protocol", "local_candidate_type", "remote_candidate_type")
LATE_RESYNC_PERIODS = 5
"""A tick loop more than this many periods behind restarts its schedule instead of bursting."""


class PeerError(RuntimeError):
    """The peer could not play: refused, timed out, superseded, no connection, ..."""


class GameEnded(Exception):
    """The researcher ended the game (``game_ended`` from signaling): not an error."""


@dataclass
class TickStats:
    """How well the loop kept the frame rate."""

    ticks: int = 0
    running_ticks: int = 0
    stalled_ticks: int = 0
    late_ticks: int = 0
    """Ticks that started more than one period after their deadline."""
    resyncs: int = 0
    max_late_ms: float = 0.0
    busy_s: float = 0.0
    """Time spent inside ``session.tick`` (CPU of the simulation, roughly)."""
    started: float = 0.0
    ended: float = 0.0

    @property
    def fps(self) -> float:
        span = self.ended - self.started
        return self.ticks / span if span > 0 else 0.0


@dataclass
class GameResult:
    """One P2P scene played."""

    scene_id: str
    game_id: str | None = None
    player_index: int | None = None
    num_players: int | None = None
    seed: int | None = None
    game_over_reason: str | None = None
    """The session's reason (completed, disconnected, ...), or 'researcher' when the
    researcher ended the game from the console."""
    ended_message: str | None = None
    """The researcher's message when they ended the game."""
    frames: int = 0
    """Frames advanced (not counting re-simulation)."""
    confirmed_frame: int | None = None
    verified_frame: int | None = None
    path: dict[str, Any] | None = None
    export: dict[str, Any] | None = None
    hosted_decisions: dict[int, list[tuple[list[float], int]]] = field(default_factory=dict)
    """Seats this peer hosted: their first (observation, action) decisions (peer/hosted.py)."""
    upload: UploadResult | None = None
    record: dict[str, Any] | None = None
    ticks: TickStats = field(default_factory=TickStats)
    transport: dict[str, Any] | None = None
    signaling_events: list[tuple[str, Any]] = field(default_factory=list)
    error: str | None = None
    condition: str | None = None
    """The game's experimental condition (game_ready)."""
    failed_games: list[str] = field(default_factory=list)
    """Games of this scene whose connection failed before this peer was put back and re-paired."""
    probes: list[dict[str, Any]] = field(default_factory=list)
    """Matchmaking probes this peer took part in (what it reported)."""


@dataclass
class PeerResult:
    """What ``run_peer`` did; the top-level fields are those of the first game."""

    subject_id: str
    games: list[GameResult] = field(default_factory=list)
    scenes: list[str] = field(default_factory=list)
    """Scene ids visited, in order."""
    reached_end: bool = False
    outcome: dict[str, Any] | None = None
    """The outcome page the server sent (``study_end``): outcome, reason, code, redirect_url, ..."""

    def _first(self) -> GameResult | None:
        return self.games[0] if self.games else None

    def __getattr__(self, name: str) -> Any:
        # game_id, export, path, upload, ... of the first game (None when no game was played).
        if name.startswith("_") or name not in GameResult.__dataclass_fields__:
            raise AttributeError(name)
        first = self._first()
        return getattr(first, name) if first is not None else None


def quiet_lost_link_errors(loop: asyncio.AbstractEventLoop) -> None:
    """Log aiortc's background "not connected" send failures of a lost link at debug level.

    After ICE is lost aiortc's SCTP flush task fails with ConnectionError and nobody awaits
    it, so asyncio prints "Task exception was never retrieved" with a traceback per link.
    The session already sees the lost peer (silence, then disconnected). For a process that
    owns its loop (the CLI, the benchmark); other errors keep the default handling.
    """

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        if isinstance(context.get("exception"), ConnectionError):
            logger.debug("lost link: %s", context.get("exception"))
            return
        loop.default_exception_handler(context)

    loop.set_exception_handler(handler)


def _ms() -> float:
    return time.monotonic() * 1000.0


async def run_peer(
    server_url: str,
    *,
    subject_id: str,
    actions: ActionSource | Callable[[dict[str, Any]], ActionSource] | None = None,
    impairment: Mapping[str, Any] | None = None,
    timeout_s: float = 600.0,
    upload: bool = True,
    advance_to_end: bool = True,
    max_games: int = 100,
    signaling_timeout_s: float = 30.0,
    only_scene: str | None = None,
    socket_delay_ms: float | None = None,
    fail_first_connections: int = 0,
    recruitment: Mapping[str, str] | None = None,
) -> PeerResult:
    """Play every P2P scene of the experiment at ``server_url`` as ``subject_id``.

    ``actions``: where this player's actions come from (default: always the default action);
    or a factory called with each P2P scene's ``activate_scene`` payload (one source per game).
    ``impairment``: seeded network impairment of our outgoing messages
    (``{delay_ms, jitter_ms, loss, duplicate, reorder, seed}``); None: the scene's own setting.
    ``timeout_s`` bounds the whole run (PeerError when exceeded).
    ``only_scene``: advance to this P2P scene, play it, and stop there (a bot the server started).
    ``socket_delay_ms``: delay before answering the server's RTT pings; None: the one-way delay
    of ``impairment`` (``delay_ms + jitter_ms / 2``), so a peer with a set latency shows it to
    the matchmaker as well.
    ``fail_first_connections``: fault injection for tests: the WebRTC connections of this
    peer's first N games never open (its signaling messages are dropped).
    ``recruitment``: recruitment ids sent as a browser sends its study link's (``PROLIFIC_PID``, ...);
    the server's copy goes into each export's ``ids.recruitment``.
    """
    if socket_delay_ms is None:
        socket_delay_ms = 0.0
        if impairment is not None:
            socket_delay_ms = float(impairment.get("delay_ms", 0) or 0) + float(impairment.get("jitter_ms", 0) or 0) / 2
    flow = PeerSignaling(server_url, subject_id, timeout_s=signaling_timeout_s, socket_delay_ms=socket_delay_ms,
                         recruitment=dict(recruitment or {}))
    result = PeerResult(subject_id=subject_id)
    deadline = time.monotonic() + timeout_s
    faults = _Faults(fail_first_connections)
    try:
        scene = await flow.connect()
        result.scenes.append(scene["scene_id"])
        while True:
            is_p2p = scene.get("scene_type") == P2P_SCENE_TYPE and "p2p" in scene
            if is_p2p and len(result.games) < max_games and (only_scene is None or scene["scene_id"] == only_scene):
                game = GameResult(scene_id=scene["scene_id"])
                result.games.append(game)
                if actions is None:
                    source: ActionSource = ScriptedActions(())
                elif hasattr(actions, "next_action"):
                    source = actions  # type: ignore[assignment]
                else:
                    source = actions(scene)  # type: ignore[operator]
                await _play(flow, server_url, scene, game, source, impairment, upload, deadline, faults)
                if not advance_to_end or only_scene is not None:
                    break
            if scene.get("scene_type") == END_SCENE_TYPE:
                result.reached_end = True
                break
            if not advance_to_end and result.games:
                break
            scene = await flow.advance()
            result.scenes.append(scene["scene_id"])
            if time.monotonic() > deadline:
                raise PeerError(f"{subject_id}: timed out after {timeout_s:g} s in scene {scene['scene_id']}")
    finally:
        result.outcome = flow.outcome
        await flow.close()
    return result


class _Faults:
    """Connections to make fail (tests of re-pairing)."""

    def __init__(self, connections: int) -> None:
        self.connections = connections

    def take(self) -> bool:
        if self.connections > 0:
            self.connections -= 1
            return True
        return False


class _Probes:
    """Matchmaking probes the server asks for while this peer waits (``peer/probe.py``)."""

    def __init__(self, flow: PeerSignaling, impairment: Mapping[str, Any] | None) -> None:
        self.flow = flow
        self.impairment = impairment
        self.tasks: set[asyncio.Task[Any]] = set()
        self.reports: list[dict[str, Any]] = []

    def on_event(self, name: str, data: Any) -> None:
        """``PeerSignaling.on_p2p_event`` while waiting: a ``probe`` starts one."""
        if name == "probe" and isinstance(data, dict):
            self.start(data)

    def start(self, probe: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._run(probe))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _run(self, probe: dict[str, Any]) -> None:
        try:
            self.reports.append(await run_probe(self.flow, probe, self.impairment))
        except Exception:
            logger.exception("%s: probe %s failed", self.flow.subject_id, probe.get("probe_id"))

    async def close(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def _play(
    flow: PeerSignaling,
    server_url: str,
    scene: dict[str, Any],
    game: GameResult,
    source: ActionSource,
    impairment_override: Mapping[str, Any] | None,
    upload: bool,
    deadline: float,
    faults: _Faults,
) -> None:
    p2p = scene["p2p"]
    p2p_settings = p2p["settings"]["p2p"]
    gameplay = p2p.get("gameplay") or {}
    # Build the env before joining: a broken env code must not cost the partner a game.
    # Hosted (ONNX) seats are not the environment's: their host sends their actions (docs/ai.md).
    ai_seats = [a for a in p2p_settings.get("ai_seats") or [] if a.get("kind", "python") != "onnx"]
    env = InteractiveGymEnvAdapter.from_code(
        p2p["env"]["code"], p2p_settings.get("seats") or p2p_settings["players"], p2p_settings.get("agent_ids"),
        int(p2p_settings.get("default_action", gameplay.get("default_action", 0)) or 0),
        record_info=tuple(p2p["settings"].get("validation", {}).get("record_info") or ()),
        on_game_step_code=p2p["env"].get("on_game_step_code") or None,
        # AI seats: the same policies the browsers run, in CPython (ai_policy.py).
        ai={"seats": [[a["player_index"], a["agent_id"], a["policy"]] for a in ai_seats],
            "policies": p2p["env"].get("ai_policies") or {}} if ai_seats else None,
    )
    probes = _Probes(flow, impairment_override)
    try:
        ack = await flow.join(p2p["signaling"]["ticket"])
        logger.info("%s joined %s: %s", flow.subject_id, game.scene_id, ack.get("status"))
        mark = 0
        flow.on_p2p_event = probes.on_event
        while True:
            ready = await flow.wait_game_ready(max(1.0, deadline - time.monotonic()), start=mark)
            requeued_at = await _game(flow, server_url, scene, game, env, ready, source, impairment_override, upload,
                                      deadline, faults.take(), probes)
            if requeued_at is None:
                break
            mark = requeued_at
    finally:
        flow.on_p2p_event = None
        game.probes = probes.reports
        await probes.close()
        env.close()
        await flow.leave_namespace()
    if game.error is not None:
        raise PeerError(f"{flow.subject_id}: game {game.game_id}: {game.error}")


class _Requeued(Exception):
    """The server put this peer back into the waiting room (the game's connection failed)."""


async def _game(
    flow: PeerSignaling,
    server_url: str,
    scene: dict[str, Any],
    game: GameResult,
    env: InteractiveGymEnvAdapter,
    ready: dict[str, Any],
    source: ActionSource,
    impairment_override: Mapping[str, Any] | None,
    upload: bool,
    deadline: float,
    fail_connection: bool,
    probes: _Probes,
) -> int | None:
    """One game_ready to its end. Returns the inbox index after ``requeued`` when the game's
    connection failed and the server put this peer back into the waiting room, else None."""
    p2p = scene["p2p"]
    gameplay = p2p.get("gameplay") or {}
    game.game_id = ready["game_id"]
    game.player_index = me = ready["player_index"]
    game.num_players = n = ready["num_players"]
    game.seed = ready["seed"]
    game.condition = ready.get("condition")
    settings = ready.get("settings") or p2p["settings"]
    p2p_settings = settings["p2p"]
    applied_impairment = dict(impairment_override) if impairment_override is not None else settings.get("impairment")

    async def send_signal(to: int, kind: str, data: Any) -> None:
        if fail_connection:
            return  # fault injection: our offers and answers never arrive
        await flow.signal(game.game_id, to, kind, data)  # type: ignore[arg-type]

    ai_seats = [int(a["player_index"]) for a in ready.get("ai_seats") or () if a.get("kind", "python") != "onnx"]
    # Hosted seats: their host sends their inputs; when that is this peer, it runs their ONNX
    # models with Python onnxruntime (peer/hosted.py; without it the game fails at once, saying so).
    seat_list = [a for a in ready.get("ai_seats") or () if a.get("kind") == "onnx"]
    hosted_seats = [(int(a["player_index"]), int(a["host"])) for a in seat_list]
    hosted = None
    mine = [a for a in seat_list if int(a["host"]) == me]
    if mine:
        urls = p2p["env"].get("onnx_models") or {}
        models = [(int(a["player_index"]), await asyncio.to_thread(_fetch_bytes, server_url.rstrip("/") + urls[a["policy"]]))
                  for a in mine]
        try:
            hosted = HostedPolicies(models)
        except HostedPolicyError as exc:
            raise PeerError(str(exc)) from None
        game.hosted_decisions = hosted.decisions
    no_peer = set(ai_seats) | {seat for seat, _host in hosted_seats}
    mesh = RtcMesh(
        me, [p for p in range(n) if p != me and p not in no_peer], send_signal,
        ice_servers=ready.get("ice_servers") or [],
        ice_transport_policy=ready.get("ice_transport_policy") or "all",
        impairment=applied_impairment or None,
    )
    flow.set_signal_handler(mesh.handle_signal)

    abort = _Abort()
    started = False
    requeued_event: dict[str, Any] = {}
    session: P2PSession | None = None  # before on_event: events queued before the listener replay at once

    def on_event(name: str, data: Any) -> None:
        game.signaling_events.append((name, data))
        probes.on_event(name, data)  # after a requeue the next probe may come at once
        if not isinstance(data, dict):
            data = {}
        if name == "peer_rejoined" and data.get("game_id") == game.game_id and not data.get("resumed"):
            # A new page of that player (a reload) needs a new connection; a resumed one (its
            # signaling socket reconnected) still has ours.
            asyncio.get_running_loop().create_task(mesh.reconnect(int(data["player_index"])))
        elif name == "peer_interrupted" and data.get("game_id") == game.game_id and session is not None:
            # Its page went away with its seat held (a reload): wait for it at the prediction window.
            session.peer_away(int(data["player_index"]))
        elif name == "peer_left" and data.get("game_id") == game.game_id and session is not None:
            # The held seat is gone for good: stop waiting (the disconnect policy applies).
            session.peer_gone(int(data["player_index"]))
        elif name == "superseded":
            abort.set("superseded: another connection took this seat")
        elif name == "peer_left" and data.get("game_over") and not started:
            # Once playing, the session notices a lost peer itself (BYE or silence) and records it.
            abort.set(f"player {data.get('player_index')} left before the game started")
        elif name == "game_ended" and data.get("game_id") == game.game_id:
            game.ended_message = str(data.get("message") or "")
            abort.end()
        elif name == "requeued" and data.get("game_id") == game.game_id:
            requeued_event.update(data)
            abort.set(f"the game's connection failed: {data.get('message') or data.get('reason')}")

    flow.on_p2p_event = on_event
    # Events that came before the listener (a partner who left while we were still setting up,
    # right after game_ready) must count too.
    for name, data, _ in list(flow.p2p.events):
        if name in ("peer_left", "superseded", "game_ended"):
            on_event(name, data)
    flow.playing = game.game_id
    reporter = Reporter(game.game_id)
    sends: set[asyncio.Task[None]] = set()

    def send_report(report: dict[str, Any]) -> None:
        # Not awaited in the tick loop: a slow socket must not delay a frame.
        task = asyncio.get_running_loop().create_task(flow.telemetry(report))
        sends.add(task)
        task.add_done_callback(sends.discard)

    try:
        try:
            await mesh.start()
            connect_s = float(p2p_settings.get("connection_timeout_s") or 20)
            await abort.race(mesh.wait_open(min(connect_s, max(1.0, deadline - time.monotonic()))))
        except RtcError as exc:
            # Tell the server; it puts the players back into the waiting room or ends the game.
            ack = await flow.connection_failed(game.game_id, exc.code, str(exc))  # type: ignore[arg-type]
            if ack.get("status") == "requeued":
                raise _Requeued() from None
            raise
        except PeerError:
            if requeued_event.get("requeued"):
                raise _Requeued() from None
            raise
        started = True
        session = P2PSession(
            env=with_players(env, n), transport=mesh, local_player=me, num_players=n, shared_seed=ready["seed"],
            ai_seats=ai_seats, hosted_seats=hosted_seats,
            settings=from_game_settings(settings, max_steps=gameplay.get("max_steps")),
            now=_ms, wall_clock=lambda: time.time() * 1000.0,
        )
        mesh.on_message = session.receive
        game_over: dict[str, Any] = {}
        session.on("game_over", game_over.update)
        session.start()
        _update_path(mesh, session, game)
        await _tick_loop(session, env, source, me, game, deadline, mesh, abort, send_report, reporter, hosted)
        game.game_over_reason = "researcher" if abort.ended else game_over.get("reason")
    except GameEnded:
        game.game_over_reason = "researcher"
        logger.info("%s: game %s ended by the researcher", flow.subject_id, game.game_id)
        if session is not None:
            session.close()
    except _Requeued:
        game.failed_games.append(game.game_id)  # type: ignore[arg-type]
        logger.info("%s: game %s could not connect; back in the waiting room", flow.subject_id, game.game_id)
        index = next((i for i, (ev, data, _) in enumerate(flow.p2p.events)
                      if ev == "requeued" and isinstance(data, dict) and data.get("game_id") == game.game_id), None)
        if index is None:  # the ack came first; the event follows it on the same socket
            await flow.p2p.wait("requeued", lambda d: isinstance(d, dict) and d.get("game_id") == game.game_id, timeout=10)
            index = next(i for i, (ev, data, _) in enumerate(flow.p2p.events)
                         if ev == "requeued" and isinstance(data, dict) and data.get("game_id") == game.game_id)
        return index + 1
    except Exception as exc:
        game.error = f"{type(exc).__name__}: {exc}"
        logger.warning("%s: game %s failed: %s", flow.subject_id, game.game_id, game.error)
        if session is not None:
            session.close()
    finally:
        flow.set_signal_handler(None)
        flow.on_p2p_event = probes.on_event
        flow.playing = None
        game.transport = mesh.stats()
        if session is not None:
            _update_path(mesh, session, game)
            if game.record is None:
                game.record = session.record()
            game.frames = int(game.record["stats"].get("frames_advanced", 0) or 0)
            game.confirmed_frame = session.confirmed_frame
            game.verified_frame = session.verified_frame
        await mesh.close()
    try:
        if session is not None and not abort.ended:
            # The totals, for the console, while the seat is still live.
            await flow.telemetry(reporter.now(session))
        if sends:
            await asyncio.gather(*sends, return_exceptions=True)
        if abort.ended:
            pass  # the server already stopped our seat
        elif game.error is None:
            await flow.finished(game.game_id)  # type: ignore[arg-type]
        else:
            await flow.leave(game.game_id)  # type: ignore[arg-type]
    except Exception as exc:  # the seat may already be over (peer left, game ended)
        logger.info("%s: finished/leave: %s", flow.subject_id, exc)
    if game.record is not None and settings["validation"].get("export", True):
        ids = {**export_ids(ready, game.scene_id, flow.subject_id), "recruitment": flow.recruitment}
        export_settings = {"p2p": settings["p2p"], "validation": settings["validation"],
                           "impairment": applied_impairment or None}
        game.export = build_export(game.record, ids, export_settings, None, time.time() * 1000.0)
        if upload and ready.get("upload"):
            game.upload = await upload_export(server_url.rstrip("/") + ready["upload"]["url"], ready["upload"]["token"],
                                              game.export)
    return None


def export_ids(ready: dict[str, Any], scene_id: str, subject_id: str) -> dict[str, Any]:
    """The export's ids from ``game_ready`` (twin of client_export.js ``exportIds``)."""
    me = ready["player_index"]
    peers = []
    for p in sorted(ready["players"], key=lambda p: p["player_index"]):
        if p["player_index"] != me:
            peer = {"player_index": p["player_index"], "subject_id": p["subject_id"]}
            if p.get("bot") is True:
                peer["bot"] = True
            peers.append(peer)
    ids: dict[str, Any] = {"game_id": ready["game_id"], "scene_id": ready.get("scene_id") or scene_id,
                           "subject_id": subject_id, "player_index": me, "peers": peers}
    if isinstance(ready.get("condition"), str):
        ids["condition"] = ready["condition"]
    if any(p["player_index"] == me and p.get("bot") is True for p in ready["players"]):
        ids["bot"] = True
    ai = [{"player_index": a["player_index"], "agent_id": a.get("agent_id"), "policy": a["policy"],
           "kind": a.get("kind", "python"), **({"host": a["host"]} if a.get("kind") == "onnx" else {})}
          for a in ready.get("ai_seats") or ()]
    if ai:
        ids["ai_seats"] = sorted(ai, key=lambda a: a["player_index"])
    return ids


class _Abort:
    """A reason to stop a game that signaling gave (superseded, peer gone before the start)."""

    def __init__(self) -> None:
        self.reason: str | None = None
        self.ended = False
        """The researcher ended the game (GameEnded, not PeerError)."""
        self._event = asyncio.Event()

    def set(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            self._event.set()

    def end(self) -> None:
        if self.reason is None:
            self.ended = True
            self.set("ended by the researcher")

    async def race(self, awaitable: Any) -> Any:
        """``awaitable``'s result, or PeerError as soon as an abort reason is set."""
        task = asyncio.ensure_future(awaitable)
        waiter = asyncio.ensure_future(self._event.wait())
        try:
            await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            if self.ended:
                raise GameEnded(self.reason)
            raise PeerError(self.reason or "aborted")
        return task.result()


def _update_path(mesh: RtcMesh, session: P2PSession, game: GameResult) -> None:
    path = mesh.path()
    if path is not None:
        game.path = path
        session.set_path({k: path.get(k) for k in PATH_KEYS})


def _fetch_bytes(url: str) -> bytes:
    """A file the server serves (a hosted seat's model)."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as r:  # noqa: S310 (the experiment's own server)
        return r.read()


async def _tick_loop(session: P2PSession, env: InteractiveGymEnvAdapter, source: ActionSource, me: int,
                     game: GameResult, deadline: float, mesh: RtcMesh, abort: "_Abort",
                     send_report: Callable[[dict[str, Any]], None] | None = None,
                     reporter: Reporter | None = None, hosted: HostedPolicies | None = None) -> None:
    """One ``tick`` per frame period on absolute deadlines (no drift); a loop that falls far
    behind (a stall of the machine) restarts its schedule rather than bursting ticks.
    Every ``reporter.interval_s`` a telemetry report goes to ``send_report``."""
    period = 1000.0 / session.settings.fps
    stats = game.ticks
    stats.started = time.monotonic()
    next_at = _ms()
    action_ticks = 0
    while session.state != SessionState.CLOSED:
        now = _ms()
        if now < next_at:
            await asyncio.sleep((next_at - now) / 1000.0)
            now = _ms()
        late = now - next_at
        if late > period:
            stats.late_ticks += 1
        stats.max_late_ms = max(stats.max_late_ms, late)
        action = session.settings.default_action
        if session.state == SessionState.RUNNING:
            ctx = ActionContext(tick=action_ticks, frame=session.current_frame, episode=session.episode,
                                player_index=me, observe=env.canonical_state)
            action = source.next_action(ctx)
            action_ticks += 1
        t0 = time.perf_counter()
        r = session.tick(action)
        if hosted is not None and r.advanced:
            hosted.step(env, session)  # seats this peer hosts: their next action, from the newest frame
        stats.busy_s += time.perf_counter() - t0
        stats.ticks += 1
        if r.status == "running":
            stats.running_ticks += 1
        elif r.status == "stalled":
            stats.stalled_ticks += 1
        if stats.ticks % 30 == 1:
            _update_path(mesh, session, game)
        if reporter is not None and send_report is not None:
            report = reporter.due(time.monotonic(), session)
            if report is not None:
                send_report(report)
        next_at += period
        if _ms() - next_at > LATE_RESYNC_PERIODS * period:
            stats.resyncs += 1
            next_at = _ms()
        if abort.ended:
            # Recorded before close(): the game was cut short, so the export is partial.
            game.record = session.record()
            session.close()
            break
        if abort.reason is not None:
            session.close()
            raise PeerError(abort.reason)
        if time.monotonic() > deadline:
            session.close()
            raise PeerError(f"game {game.game_id} did not end before the deadline (frame {session.current_frame})")
    stats.ended = time.monotonic()
