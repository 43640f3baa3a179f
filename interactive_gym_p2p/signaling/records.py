"""The plain records signaling keeps: who waits, which games exist, who sits where.

Records hold only strings, numbers and lists of records so that a store other than the
in-memory one (Redis, for several server processes) can serialize them as they are.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any


@dataclass(frozen=True)
class Slot:
    """One participant's visit to one scene: the unit that takes a seat in a game.

    ``visit`` is the scene's position in the participant's Stager, so a scene that appears
    twice (Interactive Gym's RepeatScene) gives two slots and two games.
    """

    subject_id: str
    scene_id: str
    visit: int

    def key(self) -> str:
        return f"{self.scene_id}/{self.visit}/{self.subject_id}"


class SeatState(str, Enum):
    CONNECTED = "connected"
    """Playing, signaling socket open."""
    INTERRUPTED = "interrupted"
    """Signaling socket lost; the seat is held until the reconnect grace period ends."""
    FINISHED = "finished"
    """Told the server the game is over for it."""
    LEFT = "left"
    """Left the game before it was over (left the scene or said leave)."""
    DROPPED = "dropped"
    """Did not come back within the reconnect grace period."""
    ENDED = "ended"
    """The game was ended for it (disconnect policy 'end' after a peer left)."""
    STOPPED = "stopped"
    """The researcher ended the game (research console)."""

    @property
    def live(self) -> bool:
        return self in (SeatState.CONNECTED, SeatState.INTERRUPTED)


@dataclass
class Connection:
    """A signaling socket and the slot its ticket names."""

    sid: str
    slot: Slot


@dataclass
class Waiter:
    """A slot in a waiting room (FIFO per scene, or a known group's room)."""

    slot: Slot
    sid: str
    since: float
    deadline: float


@dataclass
class Seat:
    player_index: int
    slot: Slot
    sid: str | None
    state: SeatState
    grace_deadline: float | None = None
    upload_token: str | None = None


@dataclass
class Game:
    game_id: str
    scene_id: str
    seed: int
    seats: list[Seat]
    created_at: str
    """ISO 8601 wall time (for humans and exports; deadlines use the store's clock)."""

    def seat_of(self, slot: Slot) -> Seat | None:
        return next((s for s in self.seats if s.slot == slot), None)

    def seat_at(self, player_index: int) -> Seat | None:
        return next((s for s in self.seats if s.player_index == player_index), None)

    def live_seats(self) -> list[Seat]:
        return [s for s in self.seats if s.state.live]


@dataclass
class SlotGame:
    """Where a slot's game went, kept after the game is gone so a late rejoin gets a clear answer."""

    game_id: str
    state: SeatState


@dataclass
class Group:
    """Participants who finished a game together (Interactive Gym's player groups)."""

    group_id: str
    subject_ids: tuple[str, ...]
    source_scene_id: str


@dataclass(frozen=True)
class PlayerInfo:
    player_index: int
    subject_id: str
    agent_id: str | int | None


@dataclass(frozen=True)
class GameInfo:
    """What ``on_game_created`` receives."""

    game_id: str
    scene_id: str
    seed: int
    players: tuple[PlayerInfo, ...]
    settings: dict[str, Any]
    created_at: str

    @property
    def subject_ids(self) -> tuple[str, ...]:
        """Subject id of each player, by player index."""
        return tuple(p.subject_id for p in sorted(self.players, key=lambda p: p.player_index))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"players": [asdict(p) for p in self.players]}


@dataclass(frozen=True)
class GameEnd:
    """What ``on_game_ended`` receives once no seat of a game is live any more."""

    game_id: str
    scene_id: str
    outcome: str
    """'completed' when every player finished, else 'incomplete'."""
    seats: dict[int, str]
    """Final state of each seat by player index (finished, left, dropped, ended, stopped)."""
    ended_by: str | None = None
    """'researcher' when the game was ended from the research console, else None."""


@dataclass(frozen=True)
class Outbound:
    """One event to emit to one socket."""

    event: str
    payload: Any
    to: str


@dataclass
class Result:
    """Everything one signaling step decided, for the socket layer to carry out."""

    ack: dict[str, Any] = field(default_factory=lambda: {"ok": True})
    created: list[GameInfo] = field(default_factory=list)
    ended: list[GameEnd] = field(default_factory=list)
    disconnect: list[str] = field(default_factory=list)
    """Sockets to close after the step (superseded by a newer socket of the same slot)."""


def error_ack(code: str, message: str) -> dict[str, Any]:
    """The ack (and ``signal_error`` payload) of a refused message."""
    return {"ok": False, "error": {"code": code, "message": message}}
