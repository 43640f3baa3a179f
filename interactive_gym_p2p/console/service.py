"""Console: what the research console shows and does, with no Socket.IO or HTTP in it.

It hears games start and end (signaling's hooks), takes each player's telemetry report,
and answers three questions: the live view (``snapshot``: waiting rooms, games in progress,
recently finished games with each participant's outcome, recruitment), one game's
``timeline``, and the two actions (``end_game``, ``set_recruitment``). State sits in a
:class:`~.store.ConsoleStore`; the waiting rooms and seats are read from signaling when asked,
never copied. With the participant ledger (``participants``, the server passes it) the
recruitment flag is the ledger's, the one that decides ``study_full`` (docs/participants.md),
and finished games show the outcome each participant ended with.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Any, Callable, Protocol

from ..signaling.records import GameEnd, GameInfo
from .report import TelemetryReport
from .store import ConsoleStore, FinishedGame, GameTelemetry, InMemoryConsoleStore, PlayerTelemetry, Recruitment

logger = logging.getLogger(__name__)

REPORT_INTERVAL_S = 2.0
"""How often clients report; a player silent for three intervals shows as stale."""
FINISHED_IN_FEED = 50
DEFAULT_END_MESSAGE = "The researcher ended this game. Thank you for taking part; please continue."
MAX_MESSAGE = 500
MAX_OUTCOMES_KEPT = 10_000


class SignalingView(Protocol):
    def snapshot(self) -> dict[str, Any]: ...


class ParticipantsView(Protocol):
    """What the console needs of the participant ledger (participants/ledger.py)."""

    def recruitment_state(self) -> tuple[bool, str | None]: ...
    def set_recruitment_open(self, open_: bool) -> None: ...
    def outcome_of(self, subject_id: str) -> Any: ...


GameEnder = Callable[[str, str], dict[str, Any]]
"""(game_id, message) -> ack ``{ok, game_id, players}`` or ``{ok: false, error}``."""


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _player_summary(p: PlayerTelemetry, now: float) -> dict[str, Any]:
    r = p.report
    out: dict[str, Any] = {
        "player_index": p.player_index,
        "subject_id": p.subject_id,
        "reports": p.reports,
        "report_age_s": None if p.received_at is None else round(now - p.received_at, 3),
    }
    if r is None:
        return out | {k: None for k in ("frame", "confirmed_frame", "verified_frame", "episode", "state", "rtt_ms",
                                           "rtt_by_peer", "rollbacks", "max_rollback_depth", "stalled_frames",
                                           "mispredicted_frames", "desyncs", "first_desync_frame", "path_kind",
                                           "hidden", "hidden_s")}
    return out | {
        "frame": r.frame,
        "confirmed_frame": r.confirmed_frame,
        "verified_frame": r.verified_frame,
        "episode": r.episode,
        "state": r.state,
        "rtt_ms": None if r.max_rtt_ms is None else round(r.max_rtt_ms, 1),
        "rtt_by_peer": {str(k): v for k, v in sorted(r.rtt_ms.items())},
        "rollbacks": r.rollbacks,
        "max_rollback_depth": r.max_rollback_depth,
        "stalled_frames": r.stalled_frames,
        "mispredicted_frames": r.mispredicted_frames,
        "desyncs": r.desyncs,
        "first_desync_frame": r.first_desync_frame,
        "path_kind": r.path_kind,
        "hidden": r.hidden,
        "hidden_s": r.hidden_s,
    }


class Console:
    """The research console's aggregation and actions."""

    def __init__(
        self,
        signaling: SignalingView,
        store: ConsoleStore | None = None,
        *,
        end_game: GameEnder | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        report_interval_s: float = REPORT_INTERVAL_S,
        participants: ParticipantsView | None = None,
    ) -> None:
        self.signaling = signaling
        self.participants = participants
        self._outcomes: dict[str, dict[str, Any]] = {}
        """Outcomes already read (an outcome never changes once recorded, so it can be kept)."""
        self.store: ConsoleStore = store if store is not None else InMemoryConsoleStore()
        self._end_game = end_game
        self.clock = clock
        self.wall_clock = wall_clock
        self.report_interval_s = report_interval_s
        self.on_recruitment_change: list[Callable[[Recruitment], None]] = []
        """Called after the flag changes (the participant flow may cache it)."""

    # ------------------------------------------------------------------ hooks

    def game_created(self, info: GameInfo) -> None:
        with self.store.transaction():
            game = self.store.get_game(info.game_id) or GameTelemetry(info.game_id, info.scene_id, info.created_at, self.clock())
            game.scene_id = info.scene_id
            game.created_at = info.created_at
            game.condition = getattr(info, "condition", None)
            for p in info.players:
                game.player(p.player_index).subject_id = p.subject_id
            self.store.put_game(game)

    def game_ended(self, end: GameEnd) -> None:
        now = self.clock()
        with self.store.transaction():
            game = self.store.get_game(end.game_id)
            self.store.delete_game(end.game_id)
            players = {} if game is None else {i: _player_summary(p, now) for i, p in sorted(game.players.items())}
            finished = FinishedGame(
                game_id=end.game_id,
                scene_id=end.scene_id,
                created_at=None if game is None else game.created_at,
                ended_at=_iso(self.wall_clock()),
                duration_s=None if game is None else round(now - game.started, 3),
                outcome=end.outcome,
                ended_by=getattr(end, "ended_by", None),
                seats={int(k): str(v) for k, v in end.seats.items()},
                subjects={} if game is None else {i: p.subject_id for i, p in game.players.items()},
                condition=None if game is None else game.condition,
                players=players,
            )
            self.store.add_finished(finished, game)

    # ------------------------------------------------------------------ telemetry

    def report(self, game_id: str, player_index: int, report: TelemetryReport) -> None:
        """One player's report; older than the newest one held (``seq``): ignored."""
        now = self.clock()
        with self.store.transaction():
            game = self.store.get_game(game_id)
            if game is None:  # a report before on_game_created ran: the hook fills in the rest
                game = GameTelemetry(game_id, None, None, now)
            player = game.player(player_index)
            previous = player.report
            if previous is not None and report.seq <= previous.seq:
                return
            if report.desyncs > 0 and (previous is None or previous.desyncs == 0):
                game.desync_markers.append({
                    "player_index": player_index, "frame": report.first_desync_frame, "t": round(now - game.started, 3),
                })
            player.timeline.add(now - game.started, report)
            player.report = report
            player.received_at = now
            player.reports += 1
            self.store.put_game(game)

    # ------------------------------------------------------------------ views

    def snapshot(self, finished_limit: int = FINISHED_IN_FEED) -> dict[str, Any]:
        """The live view (pushed to every open console): plain JSON values."""
        now = self.clock()
        wall = self.wall_clock()
        view = self.signaling.snapshot()
        stale_after = 3 * self.report_interval_s
        with self.store.reading():
            games = []
            for g in view["games"]:
                telemetry = self.store.get_game(g["game_id"], timelines=False)
                players = []
                for seat in g["seats"]:
                    p = telemetry.players.get(seat["player_index"]) if telemetry is not None else None
                    summary = _player_summary(p if p is not None else PlayerTelemetry(seat["player_index"]), now)
                    summary["subject_id"] = seat["subject_id"]
                    summary["seat"] = seat["state"]
                    summary["bot"] = bool(seat.get("bot", False))
                    summary["stale"] = summary["report_age_s"] is None or summary["report_age_s"] > stale_after
                    players.append(summary)
                frames = [p["frame"] for p in players if p["frame"] is not None]
                desync_frames = [p["first_desync_frame"] for p in players if p["first_desync_frame"] is not None]
                rtts = [p["rtt_ms"] for p in players if p["rtt_ms"] is not None]
                games.append({
                    "game_id": g["game_id"],
                    "scene_id": g["scene_id"],
                    "created_at": g["created_at"],
                    "age_s": None if telemetry is None else round(now - telemetry.started, 3),
                    "condition": g.get("condition") if g.get("condition") is not None else (telemetry.condition if telemetry else None),
                    "frame": max(frames) if frames else None,
                    "rtt_ms": max(rtts) if rtts else None,
                    "rollbacks": sum(p["rollbacks"] or 0 for p in players),
                    "stalled_frames": sum(p["stalled_frames"] or 0 for p in players),
                    "desync": any((p["desyncs"] or 0) > 0 for p in players),
                    "first_desync_frame": min(desync_frames) if desync_frames else None,
                    "paths": sorted({p["path_kind"] for p in players if p["path_kind"] is not None}),
                    "hidden_players": [p["player_index"] for p in players if p["hidden"]],
                    "match": g.get("match"),
                    "players": players,
                })
            games.sort(key=lambda g: g["created_at"] or "")
            waiting = [
                room | {"waiters": [w | {"since": _iso(wall - w["waited_s"])} for w in room["waiters"]]}
                for room in view["waiting"]
            ]
            finished = [f.to_json() for f in self.store.finished(finished_limit)]
            recruitment = self.store.get_recruitment() if self.participants is None else None
        if recruitment is None:
            recruitment = self.recruitment()
        for f in finished:
            f["participants"] = self._participant_outcomes(f)
        return {
            "generated_at": _iso(wall),
            "report_interval_s": self.report_interval_s,
            "recruitment": recruitment.to_json(),
            "counts": {
                "waiting": sum(len(r["waiters"]) for r in waiting),
                "games": len(games),
                "players": sum(len(g["players"]) for g in games),
                "finished": len(finished),
            },
            "waiting": waiting,
            "games": games,
            "finished": finished,
            "conditions": view.get("conditions") or {},
        }

    def timeline(self, game_id: str) -> dict[str, Any] | None:
        """One game's timeline (live or recently finished), or None when the console has none."""
        with self.store.reading():
            game = self.store.get_game(game_id)
            finished = None
            if game is None:
                held = self.store.finished_game(game_id)
                if held is None or held[1] is None:
                    return None
                finished, game = held
            return {
                "game_id": game.game_id,
                "scene_id": game.scene_id,
                "created_at": game.created_at,
                "condition": game.condition,
                "live": finished is None,
                "ended": None if finished is None else finished.to_json(),
                "report_interval_s": self.report_interval_s,
                "desync_markers": [dict(m) for m in game.desync_markers],
                "players": [
                    {"player_index": i, "subject_id": p.subject_id, "reports": p.reports, **p.timeline.to_json()}
                    for i, p in sorted(game.players.items())
                ],
            }

    # ------------------------------------------------------------------ actions

    def end_game(self, game_id: str, message: str | None = None) -> dict[str, Any]:
        """End a game in progress; its players are told ``message`` (a default one when None)."""
        if self._end_game is None:
            return {"ok": False, "error": {"code": "unavailable", "message": "this console cannot end games"}}
        text = (message or "").strip() or DEFAULT_END_MESSAGE
        if len(text) > MAX_MESSAGE:
            return {"ok": False, "error": {"code": "malformed", "message": f"the message is longer than {MAX_MESSAGE} characters"}}
        ack = self._end_game(game_id, text)
        if ack.get("ok"):
            logger.warning("research console: game %s ended by the researcher", game_id)
        return ack

    def _participant_outcomes(self, finished: dict[str, Any]) -> list[dict[str, Any]]:
        """Each player of a finished game with the outcome its study ended with (None: not yet,
        or no ledger); read outside the store's lock."""
        out = []
        for index, subject_id in sorted(finished["subjects"].items(), key=lambda kv: int(kv[0])):
            outcome = None
            if subject_id is not None and self.participants is not None:
                outcome = self._outcomes.get(subject_id)
                if outcome is None:
                    record = self.participants.outcome_of(subject_id)
                    if record is not None:
                        outcome = {"outcome": record.outcome, "reason": record.reason, "code": record.code,
                                   "game_id": record.game_id, "recorded_at": record.recorded_at}
                        if len(self._outcomes) >= MAX_OUTCOMES_KEPT:
                            self._outcomes.clear()
                        self._outcomes[subject_id] = outcome
            out.append({"player_index": int(index), "subject_id": subject_id, "outcome": outcome})
        return out

    def recruitment(self) -> Recruitment:
        if self.participants is not None:
            open_, changed_at = self.participants.recruitment_state()
            return Recruitment(open_, changed_at)
        with self.store.reading():
            return self.store.get_recruitment()

    def recruitment_open(self) -> bool:
        return self.recruitment().open

    def set_recruitment(self, open_: bool) -> Recruitment:
        if self.participants is not None:
            current = self.recruitment()
            if current.open != open_:
                self.participants.set_recruitment_open(bool(open_))
            state = self.recruitment()
            if state.open != current.open:
                self._recruitment_changed(state)
            return state
        with self.store.transaction():
            current = self.store.get_recruitment()
            state = Recruitment(bool(open_), _iso(self.wall_clock())) if current.open != open_ else current
            if state is not current:
                self.store.set_recruitment(state)
        if state is not current:
            self._recruitment_changed(state)
        return state

    def _recruitment_changed(self, state: Recruitment) -> None:
        logger.warning("research console: recruitment %s", "opened" if state.open else "closed")
        for listener in list(self.on_recruitment_change):
            try:
                listener(state)
            except Exception:
                logger.exception("recruitment listener failed")
