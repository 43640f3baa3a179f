"""The participant flow: one Stager per subject, driven over the default Socket.IO namespace.

Event names follow Interactive Gym (``activate_scene``, ``terminate_scene``,
``advance_scene``, ``client_callback``, ``static_scene_data_emission``) so its scenes' hooks
work unchanged: they emit without a namespace, which is this one. A participant who reloads
gets the scene they were in again (a P2P scene with a fresh signaling ticket for the same
seat); a second tab takes over from the first.

Every participant ends with one outcome (docs/participants.md): :meth:`ParticipantFlow.end_study`
records it in the ledger, leaves the current scene and sends the page ``study_end``. The
server decides ``completed`` itself when a participant reaches the last scene, from what
signaling knows about each of their games. After the outcome the study is over for that
participant: a reload shows the same outcome page again.

With several server processes (``--redis``) each process builds its own Stager for a
participant it meets; where the participant is (scene, answers, screening, ended) is the
shared :class:`~..participants.flow_state.FlowState`, written on every change and read when
the participant connects, sends an event or asks for a seat, so a page that reconnects to
another process continues where it was (docs/cluster.md).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, Callable

import flask
import flask_socketio
from flask_socketio import ConnectionRefusedError
from interactive_gym.scenes.scene import SceneStatus
from interactive_gym.scenes.stager import Stager
from interactive_gym.scenes.static_scene import CompletionCodeScene, EndScene

from ..json_files import write_json
from ..participants.flow_state import FlowState, FlowStates
from ..participants.ledger import OutcomeRefused, OutcomeReport, ParticipantLedger
from ..participants.outcomes import literal_url
from ..participants.records import OutcomeRecord
from ..participants.recruitment import pick as pick_recruitment
from ..participants.screening import ScreeningInfo, ScreeningResult, judge_report, run_callback
from ..scene import P2PGymScene, SignalingBinding
from ..signaling.limits import Rate, TokenBucket
from ..signaling.namespace import SignalingNamespace
from ..signaling.records import Slot, SlotOutcome, error_ack
from ..signaling.tickets import SignalingTickets
from ..validation.ids import identifier_problem
from .experiment import Experiment

logger = logging.getLogger(__name__)

MAX_DATA_KEYS = 1000


@dataclass
class Participant:
    subject_id: str
    stager: Stager
    sid: str | None = None
    started: bool = False
    ended: bool = False
    """The participant's outcome is recorded: no more scenes, no more games."""
    scene_data: dict[str, Any] = field(default_factory=dict)
    """Static scenes' answers by scene id (what screening's researcher callback sees)."""
    screening: ScreeningResult | None = None
    """The screening result once the page reported (None: not screened yet)."""
    screening_checks: dict[str, Any] | None = None
    """What the page was asked to check (the last ``screening`` event)."""
    screening_report: dict[str, Any] | None = None
    """The page's measurements, kept for the researcher's check."""
    bot: bool = False
    """A Python peer (``auth.client == "python-peer"``): not screened."""
    user_agent: str | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)

    @property
    def at_last_scene(self) -> bool:
        return self.stager.current_scene_index >= len(self.stager.scenes) - 1


class ParticipantFlow:
    """Participants' Stagers and what the server does when they move through them."""

    def __init__(
        self,
        experiment: Experiment,
        tickets: SignalingTickets,
        signaling: SignalingNamespace,
        data_dir: Path,
        save_scene_data: bool,
        ledger: ParticipantLedger,
        states: FlowStates | None = None,
    ) -> None:
        self.experiment = experiment
        self.states = states
        """Where participants are, shared by the study's server processes (None: one process)."""
        self.tickets = tickets
        self.signaling = signaling
        self.data_dir = data_dir
        self.save_scene_data = save_scene_data
        self.ledger = ledger
        self._participants: dict[str, Participant] = {}
        self._lock = threading.Lock()
        self._emit: Callable[[str, Any, str], None] | None = None

    def bind_emitter(self, emit: Callable[[str, Any, str], None]) -> None:
        """(event, payload, sid) -> None on the participant namespace (set by ParticipantNamespace)."""
        self._emit = emit

    def find(self, subject_id: str) -> Participant | None:
        with self._lock:
            return self._participants.get(subject_id)

    def __len__(self) -> int:
        return len(self._participants)

    def known(self, subject_id: str) -> bool:
        """The subject has arrived before (in this server process)."""
        with self._lock:
            return subject_id in self._participants

    def participant(self, subject_id: str) -> Participant:
        with self._lock:
            existing = self._participants.get(subject_id)
            if existing is not None:
                return existing
        # Built outside the lock (a deep copy of every scene); the first one stored wins.
        stager = self.experiment.stager.build_instance()
        for visit, scene in enumerate(stager.scenes):
            if isinstance(scene, P2PGymScene):
                scene.bind_assets(self.experiment.scene_assets.get(scene.scene_id))
                slot = Slot(subject_id, scene.scene_id, visit)
                scene.bind_signaling(
                    SignalingBinding(
                        subject_id=subject_id,
                        ticket=self.tickets.issue(subject_id, scene.scene_id, visit),
                        namespace=self.signaling.namespace,
                        release=partial(self.signaling.release, slot),
                    )
                )
        with self._lock:
            return self._participants.setdefault(subject_id, Participant(subject_id, stager))

    # ------------------------------------------------------------------ shared flow state

    def current(self, subject_id: str) -> Participant | None:
        """The participant as the study knows them now: this process's copy, brought up to date
        from the shared flow state (built here if another process met them first); None if
        never seen."""
        participant = self.find(subject_id)
        if self.states is None:
            return participant
        state = self.states.get_flow(subject_id)
        if state is None:
            return participant
        if participant is None:
            participant = self.participant(subject_id)
        self._apply(participant, state)
        return participant

    def _apply(self, participant: Participant, state: FlowState) -> None:
        with participant.lock:
            stager = participant.stager
            index = min(max(state.scene_index, 0), len(stager.scenes) - 1)
            if index > stager.current_scene_index:
                # The participant moved on through another process, which ran the scenes'
                # hooks (and gave up the seats of the scenes left): only the position moves here.
                for scene in stager.scenes[:index]:
                    if scene.status == SceneStatus.Active:
                        scene.status = SceneStatus.Done
                stager.current_scene_index = index
                stager.current_scene = stager.scenes[index]
            participant.started = participant.started or state.started
            participant.ended = participant.ended or state.ended
            participant.scene_data = {k: dict(v) for k, v in state.scene_data.items()}
            if participant.screening is None and state.screening is not None:
                names = ScreeningResult.__dataclass_fields__
                participant.screening = ScreeningResult(**{k: v for k, v in state.screening.items() if k in names})
            participant.screening_checks = participant.screening_checks or state.screening_checks
            participant.screening_report = participant.screening_report or state.screening_report
            participant.bot = participant.bot or state.bot
            participant.user_agent = participant.user_agent or state.user_agent

    def save(self, participant: Participant) -> None:
        """Write the participant's flow state for the other processes (no-op with one process)."""
        if self.states is None:
            return
        sid = participant.sid
        if sid is None:  # this process holds no socket of theirs: keep the one another process holds
            shared = self.states.get_flow(participant.subject_id)
            sid = shared.sid if shared is not None else None
        with participant.lock:
            state = FlowState(
                scene_index=participant.stager.current_scene_index,
                started=participant.started,
                ended=participant.ended,
                sid=sid,
                scene_data={k: dict(v) for k, v in participant.scene_data.items()},
                screening=participant.screening.to_json() if participant.screening is not None else None,
                screening_checks=participant.screening_checks,
                screening_report=participant.screening_report,
                bot=participant.bot,
                user_agent=participant.user_agent,
            )
        self.states.put_flow(participant.subject_id, state)

    def export_metadata(self, participant: Participant) -> None:
        scene = participant.stager.current_scene
        if not (self.save_scene_data and scene.should_export_metadata):
            return
        path = self.data_dir / scene.scene_id / f"{participant.subject_id}_metadata.json"
        try:
            write_json(path, scene.scene_metadata)
        except (OSError, TypeError, ValueError):
            logger.exception("writing %s failed", path)

    def save_scene_data_document(self, participant: Participant, scene_id: str, document: dict[str, Any]) -> None:
        path = self.data_dir / scene_id / f"{participant.subject_id}.json"
        write_json(path, document)
        logger.info("saved scene data %s", path)

    # ------------------------------------------------------------------ outcomes

    def end_study(self, subject_id: str, report: OutcomeReport) -> tuple[OutcomeRecord, bool]:
        """Record how ``subject_id``'s study ends and tell their page.

        The first final outcome wins: the returned record is the one that stands (``created``
        says whether it is this report). The participant leaves the scene they are in (their
        waiting place or seat is given up) unless it is the last scene, and their page gets
        ``study_end``. Safe to call from any thread, with or without a connected page.
        Raises :class:`OutcomeRefused` for an invalid report.
        """
        outcome, created = self.ledger.end(subject_id, report)
        participant = self.current(subject_id)
        sid = None
        if participant is not None:
            with participant.lock:
                first = not participant.ended
                participant.ended = True
                scene = participant.stager.current_scene
                if first and participant.started and not participant.at_last_scene:
                    if scene.status == SceneStatus.Active:
                        try:
                            scene.deactivate()
                        except Exception:
                            logger.exception("leaving scene %s of %s failed", scene.scene_id, subject_id)
                    elif self.states is not None and isinstance(scene, P2PGymScene):
                        # The scene is shown by another process: its waiting place or seat is given up here.
                        self.signaling.release(Slot(subject_id, scene.scene_id, participant.stager.current_scene_index))
                sid = participant.sid
            self.save(participant)
            if sid is None and self.states is not None:
                shared = self.states.get_flow(subject_id)
                sid = shared.sid if shared is not None else None  # the page is on another process (emit via Redis)
        if sid is not None:
            self.show_outcome(subject_id, outcome, sid)
        return outcome, created

    def show_outcome(self, subject_id: str, outcome: OutcomeRecord, sid: str) -> None:
        if self._emit is not None:
            self._emit("study_end", self.ledger.page(subject_id, outcome), sid)

    def record_signaling_outcome(self, outcome: SlotOutcome) -> None:
        """Signaling's ``record_outcome``: the ledger record only, before the step's events go
        out (under signaling's lock: nothing here calls back into signaling or takes
        ``participant.lock``). :meth:`on_signaling_outcome` does the rest after the step."""
        self.ledger.end(outcome.slot.subject_id, signaling_report(outcome))

    def on_signaling_outcome(self, outcome: SlotOutcome) -> None:
        """Signaling's ``on_outcome`` hook (lobby timeout, dropped seat): the study ends (the
        outcome recorded by :meth:`record_signaling_outcome` stands)."""
        self.end_study(outcome.slot.subject_id, signaling_report(outcome))

    def admit(self, slot: Slot) -> tuple[str, str] | None:
        """Signaling's admission check before ``join``: an ended study takes no seat, and with
        screening on, a participant waits only once screened (the researcher's check runs here,
        the first time, so it sees the static scenes' answers)."""
        participant = self.current(slot.subject_id)
        # The ledger, not only `ended`: signaling records its outcomes before the flow hears of them.
        if (participant is not None and participant.ended) or self.ledger.outcome_of(slot.subject_id) is not None:
            return "study_over", "your part in this study is over"
        if participant is None:
            return None  # tickets come from the flow; a server-made ticket (tests, tools) is let in
        if not self.screening_required(participant):
            return None
        result = participant.screening
        if result is None:
            return "screening_pending", "the browser checks have not finished yet; join again when they have"
        if result.passed is None:
            settings = self.ledger.study.screening_settings
            with participant.lock:
                scene_data = {k: dict(v) for k, v in participant.scene_data.items()}
            info = ScreeningInfo(
                subject_id=participant.subject_id, recruitment=self.ledger.recruitment_of(participant.subject_id),
                browser=result.browser, device=result.device or "desktop", user_agent=participant.user_agent,
                rtt_ms=result.rtt_ms, scene_data=scene_data, report=dict(participant.screening_report or {}),
            )
            result = run_callback(settings, result, info)
            self.screened(participant, result)
        if result.passed is False:
            return "study_over", "your part in this study is over"
        return None

    # ------------------------------------------------------------------ screening

    def screening_required(self, participant: Participant) -> bool:
        return self.ledger.study.screening_settings.enabled and not participant.bot

    def screening_request(self, participant: Participant) -> dict[str, Any] | None:
        """The ``screening`` event for a participant not screened yet (None: nothing to check)."""
        if participant.ended or not self.screening_required(participant):
            return None
        if participant.screening is None:
            record = self.ledger.get(participant.subject_id)
            kept = record.screening if record is not None else None
            if isinstance(kept, dict) and kept.get("passed") is True:
                participant.screening = ScreeningResult(**{k: v for k, v in kept.items() if k in ScreeningResult.__dataclass_fields__})
        if participant.screening is not None:
            return None
        settings = self.ledger.study.screening_settings
        try:
            servers = list(self.signaling.signaling.ice_servers(participant.subject_id)) if settings.turn else []
        except Exception:
            logger.exception("ice_servers_provider failed for the screening of %s", participant.subject_id)
            servers = []
        checks = settings.client_checks(servers)
        if settings.turn and not checks["turn"]:
            logger.info("screening of %s: no TURN server to test through; the TURN check is skipped", participant.subject_id)
        participant.screening_checks = checks
        self.save(participant)
        return checks

    def screened(self, participant: Participant, result: ScreeningResult) -> None:
        """Keep the result; a failure ends the study with excluded:screening."""
        participant.screening = result
        self.ledger.note_screening(participant.subject_id, result.to_json())
        self.save(participant)
        if result.passed is False:
            scene = participant.stager.current_scene
            self.end_study(participant.subject_id, OutcomeReport(
                "excluded", "screening", " ".join(result.problems) or "screening failed", scene_id=scene.scene_id))

    def finish_at_last_scene(self, participant: Participant) -> None:
        """The participant reached the last scene: ``completed`` if signaling saw them finish
        every game of their path, else the outcome their games say (never the client's word)."""
        stager = participant.stager
        slots = [
            Slot(participant.subject_id, scene.scene_id, visit)
            for visit, scene in enumerate(stager.scenes[: stager.current_scene_index])
            if isinstance(scene, P2PGymScene)
        ]
        states = self.signaling.signaling.slot_states(slots)
        last = stager.current_scene
        redirect = None
        if isinstance(last, EndScene) and last.url:
            redirect = literal_url(last.url)
            if last.append_subject_id:
                redirect += ("&" if "?" in redirect else "?") + "subject_id={subject_id}"
        code = last.completion_code if isinstance(last, CompletionCodeScene) else None
        report = OutcomeReport("completed", fallback_redirect=redirect, fallback_code=code, scene_id=last.scene_id)
        for slot in slots:
            state = states.get(slot)
            if state is None:
                report = OutcomeReport("error", "game_not_finished", f"scene {slot.scene_id}: no game was played", scene_id=slot.scene_id)
                break
            game_id, seat = state
            if seat == "finished":
                continue
            outcome, reason = {
                "ended": ("partner_left", "left"),
                "dropped": ("connection_failed", "server"),
                "left": ("excluded", "left"),
            }.get(seat, ("error", "game_not_finished"))
            report = OutcomeReport(outcome, reason, f"scene {slot.scene_id}: seat {seat} in game {game_id}",
                                   scene_id=slot.scene_id, game_id=game_id, server_seat=seat)
            break
        self.end_study(participant.subject_id, report)


def signaling_report(outcome: SlotOutcome) -> OutcomeReport:
    """The ledger report of an outcome signaling gives a participant."""
    return OutcomeReport(
        outcome=outcome.outcome, reason=outcome.reason, detail=outcome.detail,
        scene_id=outcome.slot.scene_id, game_id=outcome.game_id, reported_by="server",
        fallback_redirect=literal_url(outcome.fallback_redirect) if outcome.fallback_redirect else None,
    )


class ParticipantNamespace(flask_socketio.Namespace):
    """The default namespace: connect with ``auth={"subject_id": ...}``; see docs/server.md."""

    def __init__(self, flow: ParticipantFlow, rate: Rate, namespace: str = "/") -> None:
        super().__init__(namespace)
        self.flow = flow
        self.rate = rate
        self._by_sid: dict[str, Participant] = {}
        self._buckets: dict[str, TokenBucket] = {}
        flow.bind_emitter(lambda event, payload, sid: self.socketio.emit(event, payload, to=sid, namespace=self.namespace))

    def _sid(self) -> str:
        return flask.request.sid  # type: ignore[attr-defined]

    def error(self, exc: BaseException) -> dict[str, Any]:
        """Flask-SocketIO calls this when a handler raised (e.g. a scene hook), outside any
        request context: log and answer, so the connection goes on."""
        if isinstance(exc, ConnectionRefusedError):
            raise exc  # a refused connect must reach python-socketio as such
        logger.error("a participant event handler failed", exc_info=exc)
        return error_ack("internal", "internal server error")

    def _error(self, event: str, code: str, message: str) -> dict[str, Any]:
        logger.warning("refused %s from %s: %s: %s", event, self._sid(), code, message)
        self.emit("flow_error", {"event": event, "code": code, "message": message}, room=self._sid())
        return error_ack(code, message)

    def on_connect(self, auth: Any = None) -> None:
        sid = self._sid()
        subject_id = auth.get("subject_id") if isinstance(auth, dict) else None
        if subject_id is None:
            subject_id = flask.request.args.get("subject_id")
        problem = identifier_problem(subject_id)
        if problem is not None:
            raise ConnectionRefusedError(f"subject id {subject_id!r} is not a plain identifier: {problem}", {"code": "invalid_subject_id"})
        settings = self.flow.ledger.study.recruitment_settings
        given = auth.get("recruitment") if isinstance(auth, dict) and isinstance(auth.get("recruitment"), dict) else {}
        recruitment = {**pick_recruitment(settings, flask.request.args), **pick_recruitment(settings, given)}
        try:
            ledger = self.flow.ledger
            known = ledger.get(subject_id) is not None
            python_peer = isinstance(auth, dict) and auth.get("client") == "python-peer"
            record = ledger.arrive(subject_id, recruitment, flask.request.headers.get("User-Agent"))
            if not known and not python_peer and not ledger.recruitment_open:
                # Recruitment is closed (the research console): a new arrival ends at once, with
                # the study_full page (and its code), not a refused connection. Python peers (the
                # bots the server starts for waiting participants) are not recruited: they go on.
                record.outcome, _ = ledger.end(subject_id, OutcomeReport(
                    "study_full", "closed", "recruitment was closed when the participant arrived"))
            participant = self.flow.current(subject_id) or self.flow.participant(subject_id)
            shared = self.flow.states.get_flow(subject_id) if self.flow.states is not None else None
            with participant.lock:
                old_sid, participant.sid = participant.sid, sid
                if old_sid is None and shared is not None:
                    old_sid = shared.sid  # a tab of theirs on another process

                self._by_sid[sid] = participant
                participant.user_agent = flask.request.headers.get("User-Agent") or participant.user_agent
                # A Python peer says so; it is not screened (it cannot lie its way to a code: the
                # server decides `completed`, and screening only protects the participant's own game).
                participant.bot = python_peer
                if record.outcome is not None:
                    participant.ended = True
                self.emit("participant", {"subject_id": subject_id, "recruitment": record.recruitment}, room=sid)
                checks = self.flow.screening_request(participant)
                if checks is not None:
                    self.emit("screening", checks, room=sid)
                if participant.ended:
                    outcome = record.outcome or self.flow.ledger.outcome_of(subject_id)
                    if outcome is not None:
                        self.flow.show_outcome(subject_id, outcome, sid)
                elif not participant.started:
                    participant.started = True
                    participant.stager.start(self.socketio, room=sid)
                    self.flow.export_metadata(participant)
                else:
                    participant.stager.current_scene.activate(self.socketio, room=sid)
            self.flow.save(participant)
        except Exception:
            logger.exception("starting the flow of %s failed", subject_id)
            raise ConnectionRefusedError("internal server error", {"code": "internal"}) from None
        logger.info("participant %s connected (%s) at scene %s%s", subject_id, sid, participant.stager.current_scene.scene_id,
                    " (study over)" if participant.ended else "")
        if old_sid is not None and old_sid != sid:
            self._by_sid.pop(old_sid, None)
            self.emit("superseded", {"message": "this experiment was opened in another tab or window"}, room=old_sid)
            self.socketio.server.disconnect(old_sid, namespace=self.namespace)

    def on_disconnect(self, reason: Any = None) -> None:
        self._buckets.pop(self._sid(), None)
        participant = self._by_sid.pop(self._sid(), None)
        if participant is not None:
            with participant.lock:
                if participant.sid == self._sid():
                    participant.sid = None

    def _current(self, event: str) -> Participant | dict[str, Any]:
        sid = self._sid()
        bucket = self._buckets.get(sid) or self._buckets.setdefault(sid, TokenBucket(self.rate))
        if not bucket.take():
            return self._error(event, "rate_limited", f"{event}: too many messages; at most {self.rate.per_second:g}/s")
        participant = self._by_sid.get(sid)
        if participant is None or participant.sid != sid:
            return self._error(event, "not_registered", f"{event}: this socket is not a participant's current connection")
        if self.flow.states is not None:
            self.flow.current(participant.subject_id)  # another process may have moved them on (an outcome)
        return participant

    def on_advance_scene(self, *args: Any) -> dict[str, Any]:
        participant = self._current("advance_scene")
        if isinstance(participant, dict):
            return participant
        data = args[0] if args else None
        expected = data.get("scene_id") if isinstance(data, dict) else None
        with participant.lock:
            if participant.ended and not participant.at_last_scene:
                return self._error("advance_scene", "study_over", "advance_scene: your part in this study is over")
            current = participant.stager.current_scene
            if expected is not None and expected != current.scene_id:
                return self._error("advance_scene", "stale_scene", f"advance_scene: the current scene is {current.scene_id!r}, not {expected!r}")
            if participant.at_last_scene:
                return self._error("advance_scene", "at_end", "advance_scene: the last scene has no next scene")
            participant.stager.advance(self.socketio, room=self._sid())
            self.flow.save(participant)
            self.flow.export_metadata(participant)
            scene_id = participant.stager.current_scene.scene_id
            if participant.at_last_scene:
                self.flow.finish_at_last_scene(participant)
        logger.info("participant %s advanced to scene %s", participant.subject_id, scene_id)
        return {"ok": True, "scene_id": scene_id}

    def on_client_callback(self, *args: Any) -> dict[str, Any]:
        participant = self._current("client_callback")
        if isinstance(participant, dict):
            return participant
        with participant.lock:
            participant.stager.current_scene.on_client_callback(args[0] if args else None, sio=self.socketio, room=self._sid())
        return {"ok": True}

    def on_static_scene_data_emission(self, *args: Any) -> dict[str, Any]:
        event = "static_scene_data_emission"
        participant = self._current(event)
        if isinstance(participant, dict):
            return participant
        data = args[0] if args else None
        if not isinstance(data, dict) or not isinstance(data.get("data"), dict):
            return self._error(event, "malformed", f"{event}: expected {{scene_id, data: {{element id: value}}}}")
        scene_id = data.get("scene_id")
        if scene_id not in {s.scene_id for s in participant.stager.scenes}:
            return self._error(event, "unknown_scene", f"{event}: {scene_id!r} is not a scene of this experiment")
        if len(data["data"]) > MAX_DATA_KEYS:
            return self._error(event, "oversized", f"{event}: at most {MAX_DATA_KEYS} elements")
        with participant.lock:
            participant.scene_data[scene_id] = data["data"]
        self.flow.save(participant)
        if not self.flow.save_scene_data:
            return {"ok": True, "saved": False}
        document = {
            "subject_id": participant.subject_id,
            "scene_id": scene_id,
            "received_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "data": data["data"],
            "globals": data.get("interactiveGymGlobals") if isinstance(data.get("interactiveGymGlobals"), dict) else {},
            "recruitment": self.flow.ledger.recruitment_of(participant.subject_id),
        }
        try:
            self.flow.save_scene_data_document(participant, scene_id, document)
        except (OSError, TypeError, ValueError) as exc:
            logger.exception("saving scene data of %s failed", participant.subject_id)
            return self._error(event, "not_saved", f"{event}: the data could not be saved ({type(exc).__name__})")
        return {"ok": True, "saved": True}

    def on_study_outcome(self, *args: Any) -> dict[str, Any]:
        """The page reports how the study ends for this participant (``CLIENT_OUTCOMES`` only).

        Payload ``{outcome, reason?, detail?, game_id?}``; the ack is ``{ok, recorded, page}``
        where ``page`` is the outcome that stands (maybe an earlier one) as ``study_end`` shows it.
        """
        event = "study_outcome"
        participant = self._current(event)
        if isinstance(participant, dict):
            return participant
        data = args[0] if args else None
        if not isinstance(data, dict) or not isinstance(data.get("outcome"), str):
            return self._error(event, "malformed", f"{event}: expected {{outcome, reason?, detail?, game_id?}}")
        detail = data.get("detail")
        game_id = data.get("game_id")
        if game_id is not None and identifier_problem(game_id) is not None:
            return self._error(event, "malformed", f"{event}: game_id {game_id!r} is not a plain identifier")
        scene = participant.stager.current_scene
        seat = None
        if isinstance(scene, P2PGymScene):
            slot = Slot(participant.subject_id, scene.scene_id, participant.stager.current_scene_index)
            state = self.flow.signaling.signaling.slot_states([slot])[slot]
            if state is not None and (game_id is None or state[0] == game_id):
                game_id, seat = state
        report = OutcomeReport(
            outcome=data["outcome"], reason=data.get("reason"),
            detail=detail[:1000] if isinstance(detail, str) else None,
            scene_id=scene.scene_id, game_id=game_id, reported_by="client", server_seat=seat,
        )
        try:
            outcome, created = self.flow.end_study(participant.subject_id, report)
        except OutcomeRefused as exc:
            return self._error(event, exc.code, f"{event}: {exc}")
        return {"ok": True, "recorded": created, "page": self.flow.ledger.page(participant.subject_id, outcome)}

    def on_screening_report(self, *args: Any) -> dict[str, Any]:
        """The page's screening measurements (answer to ``screening``); ack ``{ok, passed}``
        (``passed`` None: the researcher's check runs when the participant first asks for a seat)."""
        event = "screening_report"
        participant = self._current(event)
        if isinstance(participant, dict):
            return participant
        data = args[0] if args else None
        if not isinstance(data, dict):
            return self._error(event, "malformed", f"{event}: expected the report object")
        checks = participant.screening_checks
        if participant.ended or checks is None:
            return self._error(event, "not_screening", f"{event}: no screening is pending for this participant")
        if participant.screening is not None:
            return {"ok": True, "passed": participant.screening.passed}
        settings = self.flow.ledger.study.screening_settings
        result = judge_report(settings, checks, data, participant.user_agent)
        participant.screening_report = {k: data.get(k) for k in ("webrtc", "turn", "rtt_ms", "ua_mobile", "touch_points", "screen")}
        self.flow.screened(participant, result)
        logger.info("participant %s screening: %s%s", participant.subject_id,
                    {True: "passed", False: "failed", None: "passed the built-in checks"}[result.passed],
                    f" ({' '.join(result.problems)})" if result.problems else "")
        return {"ok": True, "passed": result.passed}

    def on_p2p_ping(self, *args: Any) -> dict[str, Any]:
        """A round trip for the page's RTT measurements (screening, and during play)."""
        participant = self._current("p2p_ping")
        if isinstance(participant, dict):
            return participant
        return {"ok": True}
