"""Where the console keeps what it aggregates, behind a small interface.

:class:`ConsoleStore` is what :class:`~.service.Console` needs; :class:`InMemoryConsoleStore`
serves one server process; :class:`~.redis_store.RedisConsoleStore` lets several processes of
a study share it (``--redis``), with ``transaction()`` as its shared lock, as signaling's store
does. Discipline the service follows so both work: every record read is a copy to change and
write back with the matching ``put`` call, inside ``transaction()``; read-only views use
``reading()``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..json_files import write_json
from .report import TelemetryReport
from .timeline import Timeline

logger = logging.getLogger(__name__)


@dataclass
class PlayerTelemetry:
    player_index: int
    subject_id: str | None = None
    report: TelemetryReport | None = None
    """The newest report (the highest ``seq``)."""
    received_at: float | None = None
    """Store clock of the newest report."""
    reports: int = 0
    timeline: Timeline = field(default_factory=Timeline)


@dataclass
class GameTelemetry:
    """A game as the console sees it: who plays, and what their clients report."""

    game_id: str
    scene_id: str | None
    created_at: str | None
    """ISO 8601 wall time of the game's creation."""
    started: float
    """Store clock when the console first heard of the game (timeline times count from here)."""
    condition: str | None = None
    players: dict[int, PlayerTelemetry] = field(default_factory=dict)
    desync_markers: list[dict[str, Any]] = field(default_factory=list)
    """``{player_index, frame, t}`` when a player's desync count first rises."""

    def player(self, index: int) -> PlayerTelemetry:
        if index not in self.players:
            self.players[index] = PlayerTelemetry(index)
        return self.players[index]


@dataclass
class FinishedGame:
    """A game that closed (no seat live), with how it ended."""

    game_id: str
    scene_id: str | None
    created_at: str | None
    ended_at: str
    duration_s: float | None
    outcome: str
    """Signaling's word: 'completed' (every player finished) or 'incomplete'."""
    ended_by: str | None
    """'researcher' when ended from the console, else None."""
    seats: dict[int, str]
    """Final seat state by player index (finished, left, dropped, ended, stopped)."""
    subjects: dict[int, str | None]
    condition: str | None
    players: dict[int, dict[str, Any]]
    """Each player's last report, summarised (frame, rollbacks, stalls, desyncs, path, ...)."""

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["seats"] = {str(k): v for k, v in sorted(self.seats.items())}
        out["subjects"] = {str(k): v for k, v in sorted(self.subjects.items())}
        out["players"] = [self.players[k] for k in sorted(self.players)]
        return out


@dataclass(frozen=True)
class Recruitment:
    open: bool = True
    changed_at: str | None = None
    """ISO 8601 wall time of the last change (None: never changed, open by default)."""

    def to_json(self) -> dict[str, Any]:
        return {"open": self.open, "changed_at": self.changed_at}


class ConsoleStore(Protocol):
    def transaction(self) -> AbstractContextManager[None]:
        """Exclusive access for one step (no I/O is done while it is held)."""

    def reading(self) -> AbstractContextManager[None]:
        """A read-only view (the live view, timelines): excludes no one."""

    # games in progress
    def get_game(self, game_id: str, timelines: bool = True) -> GameTelemetry | None:
        """``timelines=False``: the players' timelines may be left empty (the live view needs
        only the newest reports); such a record must not be written back."""
    def put_game(self, game: GameTelemetry) -> None: ...
    def delete_game(self, game_id: str) -> None: ...
    def game_ids(self) -> list[str]: ...

    # finished games (bounded: the oldest are forgotten first)
    def add_finished(self, finished: FinishedGame, telemetry: GameTelemetry | None) -> None: ...
    def finished(self, limit: int) -> list[FinishedGame]:
        """Newest first."""
    def finished_game(self, game_id: str) -> tuple[FinishedGame, GameTelemetry | None] | None: ...

    # recruitment (survives a restart where the store can keep it)
    def get_recruitment(self) -> Recruitment: ...
    def set_recruitment(self, recruitment: Recruitment) -> None: ...


class InMemoryConsoleStore:
    """The single-process store: dicts behind one lock; the recruitment flag optionally in a file."""

    def __init__(self, recruitment_file: Path | None = None, keep_finished: int = 1000, keep_finished_timelines: int = 100) -> None:
        self._lock = threading.RLock()
        self._games: dict[str, GameTelemetry] = {}
        self._finished: OrderedDict[str, tuple[FinishedGame, GameTelemetry | None]] = OrderedDict()
        self.keep_finished = keep_finished
        self.keep_finished_timelines = keep_finished_timelines
        self.recruitment_file = recruitment_file
        self._recruitment: Recruitment | None = None

    def transaction(self) -> AbstractContextManager[None]:
        return self._lock  # type: ignore[return-value]

    def reading(self) -> AbstractContextManager[None]:
        return self._lock  # type: ignore[return-value]

    def get_game(self, game_id: str, timelines: bool = True) -> GameTelemetry | None:
        return self._games.get(game_id)

    def put_game(self, game: GameTelemetry) -> None:
        self._games[game.game_id] = game

    def delete_game(self, game_id: str) -> None:
        self._games.pop(game_id, None)

    def game_ids(self) -> list[str]:
        return list(self._games)

    def add_finished(self, finished: FinishedGame, telemetry: GameTelemetry | None) -> None:
        self._finished.pop(finished.game_id, None)
        self._finished[finished.game_id] = (finished, telemetry)
        while len(self._finished) > self.keep_finished:
            self._finished.popitem(last=False)
        # Timelines are the big part: only the newest games keep theirs.
        with_timeline = [gid for gid, (_, t) in self._finished.items() if t is not None]
        for gid in with_timeline[: max(0, len(with_timeline) - self.keep_finished_timelines)]:
            self._finished[gid] = (self._finished[gid][0], None)

    def finished(self, limit: int) -> list[FinishedGame]:
        items = list(self._finished.values())[-limit:] if limit > 0 else []
        return [f for f, _ in reversed(items)]

    def finished_game(self, game_id: str) -> tuple[FinishedGame, GameTelemetry | None] | None:
        return self._finished.get(game_id)

    def get_recruitment(self) -> Recruitment:
        if self._recruitment is None:
            self._recruitment = self._load_recruitment()
        return self._recruitment

    def set_recruitment(self, recruitment: Recruitment) -> None:
        self._recruitment = recruitment
        if self.recruitment_file is not None:
            write_json(self.recruitment_file, recruitment.to_json())

    def _load_recruitment(self) -> Recruitment:
        path = self.recruitment_file
        if path is None or not path.exists():
            return Recruitment()
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get("open"), bool):
                raise ValueError("expected {open: bool, changed_at}")
            changed = data.get("changed_at")
            return Recruitment(data["open"], changed if isinstance(changed, str) else None)
        except (OSError, ValueError) as exc:
            # Unreadable: closed is the safe side (no one is recruited by accident).
            logger.error("recruitment state %s is unreadable (%s); recruitment stays CLOSED until set", path, exc)
            return Recruitment(False, None)
