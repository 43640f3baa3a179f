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
    """The game was ended for it (disconnect policy 'end' after a peer left, or its
    connection failed and it could not be put back into the waiting room)."""
    STOPPED = "stopped"
    """The researcher ended the game (research console)."""
    REQUEUED = "requeued"
    """The game's WebRTC connection failed before it started; the participant went back
    into the waiting room (never to be grouped with the same players again)."""

    @property
    def live(self) -> bool:
        return self in (SeatState.CONNECTED, SeatState.INTERRUPTED)


@dataclass
class Connection:
    """A signaling socket and the slot its ticket names."""

    sid: str
    slot: Slot
    owner: str | None = None
    """The server process holding the socket (several processes share one store); None: this one."""


@dataclass
class Waiter:
    """A slot in a waiting room (FIFO per scene, or a known group's room)."""

    slot: Slot
    sid: str
    since: float
    """When the participant first entered this scene's waiting room (kept when put back)."""
    deadline: float
    rtt_samples: list[float] = field(default_factory=list)
    """Latest RTTs to the server on its signaling socket, ms (at most RTT_SAMPLES)."""
    reserved: str | None = None
    """Probe id or bot-fill id holding this waiter (not matchable meanwhile)."""
    bot: bool = False
    """A bot the server started for a fill."""
    away_until: float | None = None
    """Its socket was lost with its server process: the place is kept, out of matching, until
    then (the scene's reconnect grace) for its page to come back through another process;
    past it the participant leaves the room with ``connection_failed``."""

    @property
    def matchable(self) -> bool:
        """Free to be matched (and to time out): not held by a probe or a fill, not a bot, here."""
        return self.reserved is None and not self.bot and self.away_until is None

    @property
    def server_rtt_ms(self) -> float | None:
        """Median of the latest samples (robust to one slow answer); None before the first."""
        if not self.rtt_samples:
            return None
        ordered = sorted(self.rtt_samples)
        mid = len(ordered) // 2
        return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


RTT_SAMPLES = 5
"""Server RTT samples kept per waiter."""


@dataclass
class MatchHistory:
    """What matchmaking remembers about one slot across its stays in the waiting room."""

    slot: Slot
    since: float
    """First entry into the scene's waiting room (store clock)."""
    excluded: list[str] = field(default_factory=list)
    """Subject ids never to be grouped with again (a failed connection or probe together)."""
    requeues: int = 0
    """Times put back into the waiting room after a failed connection."""


@dataclass
class ProbeMember:
    index: int
    slot: Slot
    sid: str
    report: dict[str, Any] | None = None
    """Its ``probe_result``: ``{"rtt_ms": {peer_index: [samples]}, "path": ..., "error": ...}``."""


@dataclass
class Probe:
    """A short WebRTC connection between candidates before their game is formed."""

    probe_id: str
    scene_id: str
    room: str
    members: list[ProbeMember]
    started: float
    deadline: float
    estimated_ms: dict[str, float | None] = field(default_factory=dict)
    """Estimated RTT per pair ``"i-j"`` (player indices of the probe)."""
    reason: str = ""
    """The matcher's reason for proposing this group."""

    def member_of(self, sid: str) -> ProbeMember | None:
        return next((m for m in self.members if m.sid == sid), None)


@dataclass
class BotFill:
    """Seats of a waiting room's timed-out group that bots take."""

    fill_id: str
    scene_id: str
    room: str
    humans: list[Slot]
    bots: list[str]
    """Subject ids of the bots the server starts."""
    deadline: float
    """The bots must all have joined by then, or the humans leave after all."""
    cancelled: bool = False
    """Given up (kept so a bot arriving late is told it is not needed)."""


@dataclass
class Seat:
    player_index: int
    slot: Slot
    sid: str | None
    state: SeatState
    grace_deadline: float | None = None
    upload_token: str | None = None
    bot: bool = False
    """A bot the server started to fill this seat."""
    heard: bool = False
    """Its page sent something for this game (a signal, a relay, ...): it knows its game. A
    socket that comes back for a seat not heard from is that page's first contact with the
    game (its ``game_ready`` went to a socket that died with its server process), not a reload."""
    pending: list[dict[str, Any]] = field(default_factory=list)
    """Signals for this seat while it is not heard from, replayed to the socket that takes it
    (what the dead socket got is lost): ``{"from", "kind", "data"}`` in order."""


@dataclass
class Game:
    game_id: str
    scene_id: str
    seed: int
    seats: list[Seat]
    created_at: str
    """ISO 8601 wall time (for humans and exports; deadlines use the store's clock)."""
    condition: str | None = None
    """The experimental condition (None when the scene declares none)."""
    match: dict[str, Any] = field(default_factory=dict)
    """How the game was formed: matcher, reason, estimated and probed RTTs (console, logs)."""
    connection_failed: bool = False
    """Its WebRTC connection failed before the start (players put back or ended)."""
    num_players: int | None = None
    """Seats of the game when some are AI seats (None: one per seat in ``seats``)."""
    ai_seats: tuple[dict[str, Any], ...] = ()
    """AI seats ``{player_index, agent_id, policy, kind}`` (no participant takes them)."""

    @property
    def size(self) -> int:
        """Seats of the game (players and AI seats)."""
        return self.num_players if self.num_players is not None else len(self.seats)

    @property
    def has_bot(self) -> bool:
        return any(s.bot for s in self.seats)

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
    bot: bool = False


@dataclass(frozen=True)
class GameInfo:
    """What ``on_game_created`` receives."""

    game_id: str
    scene_id: str
    seed: int
    players: tuple[PlayerInfo, ...]
    settings: dict[str, Any]
    created_at: str
    condition: str | None = None
    """The game's experimental condition (None: the scene declares none)."""
    ai_seats: tuple[dict[str, Any], ...] = ()
    """AI seats ``{player_index, agent_id, policy, kind}``: seats without a participant."""

    @property
    def ai_players(self) -> tuple[int, ...]:
        """Player indices of AI seats."""
        return tuple(int(a["player_index"]) for a in self.ai_seats)

    @property
    def bot_players(self) -> tuple[int, ...]:
        """Player indices of bot seats."""
        return tuple(p.player_index for p in self.players if p.bot)

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
    """'completed' when every player finished; 'connection_failed' when its WebRTC connection
    failed before the start (players put back into the waiting room or ended); else 'incomplete'."""
    seats: dict[int, str]
    """Final state of each seat by player index (finished, left, dropped, ended, stopped, requeued)."""
    ended_by: str | None = None
    """'researcher' when the game was ended from the research console, else None."""
    condition: str | None = None


@dataclass(frozen=True)
class SlotOutcome:
    """A way out of the study that signaling decided for one participant (the server records
    it as the participant's outcome: docs/participants.md)."""

    slot: Slot
    outcome: str
    """``lobby_timeout`` (the waiting room timed out) or ``connection_failed`` (a seat dropped)."""
    reason: str | None = None
    detail: str | None = None
    game_id: str | None = None
    fallback_redirect: str | None = None
    """Interactive Gym's redirect for this way out (the scene's waitroom_timeout_redirect_url)."""


@dataclass(frozen=True)
class Outbound:
    """One event to emit to one socket."""

    event: str
    payload: Any
    to: str
    event_id: str | None = None
    """Set when the step's events go through an outbox (several processes): the process
    holding the socket delivers an event id once, so a re-delivered event is harmless."""


@dataclass
class Outbox:
    """The events of one committed step, written in the step's commit and removed once they
    went out (several processes): a process that dies between the two leaves them here, and
    the sweeping process that strikes it off the roll re-delivers them."""

    step_id: str
    owner: str
    """The server process whose step it is."""
    at: float
    """When (the signaling clock): a process's outboxes are re-delivered in their order."""
    events: list[Outbound] = field(default_factory=list)


@dataclass
class Result:
    """Everything one signaling step decided, for the socket layer to carry out."""

    ack: dict[str, Any] = field(default_factory=lambda: {"ok": True})
    created: list[GameInfo] = field(default_factory=list)
    ended: list[GameEnd] = field(default_factory=list)
    disconnect: list[str] = field(default_factory=list)
    """Sockets to close after the step (superseded by a newer socket of the same slot)."""
    decisions: list[dict[str, Any]] = field(default_factory=list)
    """Matchmaking decision-log entries (written outside the lock)."""
    bots: list[Any] = field(default_factory=list)
    """``BotRequest``s to start (outside the lock)."""
    completions: list[Any] = field(default_factory=list)
    """Completed games of a condition (``Completion``) for the durable ledger."""
    pings: list[str] = field(default_factory=list)
    """Sockets to measure the server RTT of now (they just started waiting)."""
    outcomes: list[SlotOutcome] = field(default_factory=list)
    """Participants whose study ends because of this step (``Signaling.record_outcome`` before
    the step's events, then hook ``on_outcome``)."""


def error_ack(code: str, message: str) -> dict[str, Any]:
    """The ack (and ``signal_error`` payload) of a refused message."""
    return {"ok": False, "error": {"code": code, "message": message}}
