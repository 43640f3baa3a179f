"""The participant flow: one Stager per subject, driven over the default Socket.IO namespace.

Event names follow Interactive Gym (``activate_scene``, ``terminate_scene``,
``advance_scene``, ``client_callback``, ``static_scene_data_emission``) so its scenes' hooks
work unchanged: they emit without a namespace, which is this one. A participant who reloads
gets the scene they were in again (a P2P scene with a fresh signaling ticket for the same
seat); a second tab takes over from the first.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, Callable

import flask
import flask_socketio
from flask_socketio import ConnectionRefusedError
from interactive_gym.scenes.stager import Stager

from ..scene import P2PGymScene, SignalingBinding
from ..signaling.limits import Rate, TokenBucket
from ..signaling.namespace import SignalingNamespace
from ..signaling.records import Slot, error_ack
from ..signaling.tickets import SignalingTickets
from ..validation.ids import identifier_problem
from .experiment import Experiment

logger = logging.getLogger(__name__)

MAX_DATA_KEYS = 1000


def write_json(path: Path, document: Any) -> None:
    """Write atomically: a reader (or a crash) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(document, f, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class Participant:
    subject_id: str
    stager: Stager
    sid: str | None = None
    started: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

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
    ) -> None:
        self.experiment = experiment
        self.tickets = tickets
        self.signaling = signaling
        self.data_dir = data_dir
        self.save_scene_data = save_scene_data
        self._participants: dict[str, Participant] = {}
        self._lock = threading.Lock()

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


class ParticipantNamespace(flask_socketio.Namespace):
    """The default namespace: connect with ``auth={"subject_id": ...}``; see docs/server.md."""

    def __init__(self, flow: ParticipantFlow, rate: Rate, namespace: str = "/") -> None:
        super().__init__(namespace)
        self.flow = flow
        self.rate = rate
        self._by_sid: dict[str, Participant] = {}
        self._buckets: dict[str, TokenBucket] = {}
        self.admits_new: Callable[[], bool] = lambda: True
        """False while recruitment is closed (research console): a subject the server has not
        seen yet is refused with ``study_full``; participants already in go on."""

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
        if not self.flow.known(subject_id) and not self.admits_new():
            logger.info("participant %s refused: recruitment is closed", subject_id)
            raise ConnectionRefusedError("This study is not taking new participants.", {"code": "study_full"})
        try:
            participant = self.flow.participant(subject_id)
            with participant.lock:
                old_sid, participant.sid = participant.sid, sid
                self._by_sid[sid] = participant
                if not participant.started:
                    participant.started = True
                    participant.stager.start(self.socketio, room=sid)
                    self.flow.export_metadata(participant)
                else:
                    participant.stager.current_scene.activate(self.socketio, room=sid)
        except Exception:
            logger.exception("starting the flow of %s failed", subject_id)
            raise ConnectionRefusedError("internal server error", {"code": "internal"}) from None
        logger.info("participant %s connected (%s) at scene %s", subject_id, sid, participant.stager.current_scene.scene_id)
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
        return participant

    def on_advance_scene(self, *args: Any) -> dict[str, Any]:
        participant = self._current("advance_scene")
        if isinstance(participant, dict):
            return participant
        data = args[0] if args else None
        expected = data.get("scene_id") if isinstance(data, dict) else None
        with participant.lock:
            current = participant.stager.current_scene
            if expected is not None and expected != current.scene_id:
                return self._error("advance_scene", "stale_scene", f"advance_scene: the current scene is {current.scene_id!r}, not {expected!r}")
            if participant.at_last_scene:
                return self._error("advance_scene", "at_end", "advance_scene: the last scene has no next scene")
            participant.stager.advance(self.socketio, room=self._sid())
            self.flow.export_metadata(participant)
            scene_id = participant.stager.current_scene.scene_id
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
        if not self.flow.save_scene_data:
            return {"ok": True, "saved": False}
        document = {
            "subject_id": participant.subject_id,
            "scene_id": scene_id,
            "received_at": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "data": data["data"],
            "globals": data.get("interactiveGymGlobals") if isinstance(data.get("interactiveGymGlobals"), dict) else {},
        }
        try:
            self.flow.save_scene_data_document(participant, scene_id, document)
        except (OSError, TypeError, ValueError) as exc:
            logger.exception("saving scene data of %s failed", participant.subject_id)
            return self._error(event, "not_saved", f"{event}: the data could not be saved ({type(exc).__name__})")
        return {"ok": True, "saved": True}
