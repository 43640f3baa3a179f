"""P2P rollback session, the Python twin of ``static/js/session.js`` (contract B; the spec
is docs/rollback.md). Symmetric: every peer runs the same loop. Each ``tick()`` polls timers,
rolls back and re-simulates when a prediction was wrong, hashes newly confirmed frames,
advances one frame when allowed, and sends what the endpoints say is due. Below it:
SyncLayer, Endpoint (one per peer), DesyncDetector, DisconnectAgreement, StartCountdown,
HiddenLog and the catch-up transfer (catchup.py: a reloaded page's session rejoins from a
peer's catch-up document and re-simulates the game before it plays live); none of them call up.

Environment, transport and clocks are injected, so a simulator can run whole games on a
virtual clock, and the wire behaviour matches the JS session byte for byte.
"""

from __future__ import annotations

import copy
import logging
import math
import time as _time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

from ..protocol import (
    MAX_INPUT_DELAY, PROTOCOL_VERSION, Bye, ByeReason, CatchupAck, CatchupChunk, CatchupDoc, CatchupEpisode,
    CatchupOffer, CatchupPlayer, CatchupRequest, Countdown, DecodeError, EpisodeEnd, EpisodeReady, Hello, Input,
    KeepAlive, Message, Ping, Pong, StateHash, decode, decode_catchup_doc, encode, encode_catchup_doc,
)
from .catchup import CatchupReceiver, CatchupSender, random_nonce
from .countdown import StartCountdown
from .desync import DesyncDetector
from .disconnect import DisconnectAgreement
from .endpoint import Endpoint, PeerState
from .hidden import HiddenLog
from .input_delay import (
    RTT_PROBE_INTERVAL_MS, RTT_PROBE_SAMPLES, RTT_PROBE_TIMEOUT_MS, auto_input_delay, median_rtt,
)
from .input_log import InputLog
from .input_queue import GAP, IGNORED, NO_FRAME
from .record import EpisodeLog
from .settings import PeerSettings, SessionSettings, make_settings
from .stats import histogram_object, iso_time, js_round, percentile, round3
from .sync import EnvAdapter, SyncLayer

logger = logging.getLogger(__name__)

__all__ = ["P2PSession", "PeerSettings", "SessionState", "TickResult", "episode_seed"]

I32_MIN = -(2**31)
I32_MAX = 2**31 - 1
PRUNE_EVERY_TICKS = 32
# Extra BYE(game over) copies sent when closing after the BYE exchange (as session.js).
FINAL_BYE_COPIES = 2
MESSAGE_TYPES = ("input", "ping", "pong", "keepalive", "episode_end", "episode_ready", "state_hash", "hello", "bye",
                 "countdown", "catchup_request", "catchup_offer", "catchup_ack", "catchup_chunk")
_TYPE_NAMES: dict[type, str] = {
    Input: "input", Ping: "ping", Pong: "pong", KeepAlive: "keepalive", EpisodeEnd: "episode_end",
    EpisodeReady: "episode_ready", StateHash: "state_hash", Hello: "hello", Bye: "bye", Countdown: "countdown",
    CatchupRequest: "catchup_request", CatchupOffer: "catchup_offer", CatchupAck: "catchup_ack",
    CatchupChunk: "catchup_chunk",
}
# Messages a rejoining session handles before it has the game (the others are counted as ignored).
_CATCHUP_MESSAGES = (Hello, Ping, Pong, KeepAlive, Bye, CatchupOffer, CatchupChunk)
CATCHUP_KEEP_MS = 60000
"""Catch-up documents a source keeps this long for a rejoiner that does not take them (ms)."""
_EXCLUDED_BYES = (ByeReason.EXCLUDED_END, ByeReason.EXCLUDED_DEFAULT_ACTION)


def episode_seed(shared_seed: int, episode: int) -> int:
    """Per-episode environment seed (pinned contract, same as JS ``episodeSeed``)."""
    return ((shared_seed & 0xFFFFFFFF) ^ (((episode + 1) * 0x9E3779B1) & 0xFFFFFFFF)) & 0xFFFFFFFF


class SessionState:
    CREATED = "created"  # constructed, start() not called
    HANDSHAKE = "handshake"  # HELLO sent, waiting for every HELLO (no countdown: then our delay, every EPISODE_READY(0))
    COUNTDOWN = "countdown"  # every HELLO in; counting down to frame 0 (countdown_frames) while the delays are agreed
    CATCHUP = "catchup"  # rejoining after a reload: fetching the catch-up document (then re-simulating)
    RUNNING = "running"  # in an episode
    TRANSITION = "transition"  # episode ended: the reset freeze, then waiting for EPISODE_READY
    FINISHED = "finished"  # game over; lingering so peers get our last inputs and hashes
    CLOSED = "closed"


class Transport(Protocol):
    def send(self, peer_index: int, data: bytes) -> None: ...


@dataclass
class TickResult:
    """What one tick did: ``frame`` = newest simulated frame (the env holds its state);
    ``input_frame`` = the frame the local action was given to, or -1 when it was not taken."""

    advanced: bool
    frame: int
    episode: int
    status: str
    input_frame: int = -1


@dataclass
class _Replay:
    """A rejoining session re-simulating the game from its catch-up document."""

    doc: CatchupDoc
    target: float  # last frame whose inputs the document gives for every playing player
    fed: list[int]  # per player: frames of the document put into its queue
    hash_send_from: int  # frames before this were verified by the peers with our old page
    started_at: float
    defaulted: set[int] = field(default_factory=set)
    seeded: int = -1  # the source's hashes are in the detector up to this frame
    frames: int = 0


@dataclass
class _Counters:
    stalled: int = 0
    stalled_terminal: int = 0
    timesync_waits: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    decode_errors: int = 0
    send_errors: int = 0
    ignored_messages: int = 0
    invalid_messages: int = 0


def _is_i32(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and I32_MIN <= v <= I32_MAX


def _check_options(env: Any, transport: Any, local_player: Any, num_players: Any, shared_seed: Any,
                   ai_seats: Sequence[int] = (), hosted_seats: Sequence[tuple[int, int]] = ()) -> None:
    for m in ("reset", "step", "save", "load", "state_hash", "canonical_state"):
        if not callable(getattr(env, m, None)):
            raise TypeError(f"P2PSession: env.{m}() is missing (environment adapter contract)")
    if not callable(getattr(transport, "send", None)):
        raise TypeError("P2PSession: transport.send(peer_index, data) is missing")
    if isinstance(num_players, bool) or not isinstance(num_players, int) or not 2 <= num_players <= 255:
        raise ValueError(f"P2PSession: num_players must be an integer in [2, 255], got {num_players!r}")
    env_n = getattr(env, "num_players", None)
    if env_n is not None and env_n != num_players:
        raise ValueError(f"P2PSession: env.num_players ({env_n}) differs from num_players ({num_players})")
    if isinstance(local_player, bool) or not isinstance(local_player, int) or not 0 <= local_player < num_players:
        raise ValueError(f"P2PSession: local_player must be an integer in [0, {num_players - 1}], got {local_player!r}")
    if (len(set(ai_seats)) != len(ai_seats)
            or not all(isinstance(p, int) and not isinstance(p, bool) and 0 <= p < num_players and p != local_player for p in ai_seats)):
        raise ValueError(f"P2PSession: ai_seats must be distinct player indices other than local_player, got {list(ai_seats)!r}")
    seats = [h[0] for h in hosted_seats]

    def is_seat(p: Any) -> bool:
        return isinstance(p, int) and not isinstance(p, bool) and 0 <= p < num_players and p not in ai_seats

    if len(set(seats)) != len(seats) or not all(
            is_seat(seat) and seat != local_player and is_seat(host) and host != seat and host not in seats
            for seat, host in hosted_seats):
        raise ValueError("P2PSession: hosted_seats must be (seat, host) pairs with distinct seats other than "
                         f"local_player and AI seats, each hosted by a player's seat, got {list(hosted_seats)!r}")
    if isinstance(shared_seed, bool) or not isinstance(shared_seed, int) or not 0 <= shared_seed <= 0xFFFFFFFF:
        raise ValueError(f"P2PSession: shared_seed must be a u32, got {shared_seed!r}")


def _monotonic_ms() -> float:
    return _time.monotonic() * 1000.0


def _epoch_ms() -> float:
    return _time.time() * 1000.0


class P2PSession:
    def __init__(self, env: EnvAdapter, transport: Transport, local_player: int, num_players: int,
                 shared_seed: int, settings: SessionSettings | Mapping[str, Any] | None = None,
                 now: Callable[[], float] | None = None, wall_clock: Callable[[], float] | None = None,
                 path: dict[str, Any] | None = None, ai_seats: Sequence[int] = (),
                 hosted_seats: Sequence[tuple[int, int]] = (), rejoin: bool = False, nonce: int | None = None) -> None:
        """``ai_seats``: players that are AI seats (no peer behind them; the environment chooses
        their action inside each step and reports it, ai_policy.py); the twin of session.js's aiSeats.
        ``hosted_seats``: ``(seat, host)`` pairs: no peer behind the seat either; player ``host``
        decides its actions (:meth:`set_hosted_action`) and sends them as INPUTs naming the seat,
        with its own input delay; the others predict and confirm them like a remote player's.
        The host gone, the seat falls to the default action from an agreed frame (docs/ai.md).
        ``rejoin``: this page was reloaded mid-game: rebuild the game from a peer's catch-up
        document (state CATCHUP), re-simulate it, then play live; ``nonce``: the rejoin's u32."""
        hosted = tuple((int(h[0]), int(h[1])) if isinstance(h, (tuple, list)) and len(h) == 2 else h for h in hosted_seats)
        _check_options(env, transport, local_player, num_players, shared_seed, tuple(ai_seats), hosted)
        if not isinstance(rejoin, bool):
            raise TypeError("P2PSession: rejoin must be a bool")
        if nonce is not None and (isinstance(nonce, bool) or not isinstance(nonce, int) or not 0 <= nonce <= 0xFFFFFFFF):
            raise ValueError(f"P2PSession: nonce must be a u32, got {nonce!r}")
        s = settings if isinstance(settings, SessionSettings) else make_settings(settings or {})
        self.settings = s
        self.env = env
        self.transport = transport
        self.local_player = local_player
        self.num_players = num_players
        self.shared_seed = shared_seed
        self.now = now or _monotonic_ms
        self.wall_clock = wall_clock or _epoch_ms
        self.path = path
        self._state = SessionState.CREATED
        self.ai_seats = sorted(ai_seats)
        self.host_of: dict[int, int] = dict(hosted)
        self.local_hosted = sorted(seat for seat, host in hosted if host == local_player)
        self.hosted_actions: dict[int, int] = {seat: s.default_action for seat in self.local_hosted}
        self.peers = [p for p in range(num_players)
                      if p != local_player and p not in self.ai_seats and p not in self.host_of]
        self.sync = SyncLayer(env, num_players, s.default_action, s.hash_interval, s.max_steps_per_episode)
        # Frame 0 of every player is the default action, whatever the delays: every input run
        # starts known (a disconnect relay always has a frame to announce). A player's frames
        # 1..d-1 are added once its delay d is known.
        for p in range(num_players):
            self.sync.add_input(p, 0, s.default_action)
        # An AI seat's queue is settled for every frame; the environment replaces the placeholder.
        for p in self.ai_seats:
            self.sync.set_default_from(p, 1)
        # Input delay: ours once chosen (HANDSHAKE), every player's per episode (EPISODE_READY).
        self.input_delay: int | None = None
        self.first_input_frame: int | None = None  # first frame that takes a sampled local input
        self.probe_started_at: float | None = None
        self.probe_rtt_ms: float | None = None  # the RTT 'auto' chose from (inf = no sample)
        self.episode_delays: dict[int, list[int | None]] = {}
        # Endpoints exist from the start so a HELLO arriving before start() is kept.
        self.endpoints: dict[int, Endpoint] = {p: Endpoint(p, s, 0) for p in self.peers}
        self.desync = DesyncDetector(self.peers, s.hash_interval, s.pending_hash_limit, s.hash_resend_ms)
        self.agreements: dict[int, DisconnectAgreement] = {}
        self._listeners: dict[str, list[Callable[[dict[str, Any]], Any]]] = {}
        self._event_queue: list[tuple[str, dict[str, Any]]] = []
        self._dispatching = False
        # episodes
        self.episode = 0
        self.logs: list[EpisodeLog] = []
        self.current_log: EpisodeLog | None = None
        self.episode_starts: dict[int, int] = {}
        self.episode_ends: dict[int, int] = {}
        self.ready_episode = -1
        self.next_start_frame = 0  # first frame of the episode the transition leads to
        self.freeze_left = 0  # transition ticks still to wait (settings.reset_freeze_frames)
        self.last_recorded_frame = -1
        self.end_mismatches: list[dict[str, Any]] = []
        self._end_mismatch_keys: set[tuple[int, int]] = set()
        # game over
        self.finish_reason: str | None = None
        self.finished_at: float | None = None
        self.final_frame: int | None = None
        self.abnormal_end = False
        self.bye_sent_to: set[int] = set()
        self.finish_bye = int(ByeReason.GAME_OVER)  # what our BYEs say after the game
        self.exclusion: dict[str, Any] | None = None
        # start countdown and the local page's hidden time (a headless peer is never hidden)
        self.countdown = (StartCountdown(s.countdown_frames, self.peers, s.time_sync_window)
                          if s.countdown_frames > 0 else None)
        self.countdown_seconds: int | None = None
        self.hidden_log = HiddenLog()
        self.input_log = InputLog()
        # records
        self.desync_events: list[dict[str, Any]] = []
        self.state_dumps = 0
        self.connection_events: list[dict[str, Any]] = []
        self.default_action_from: dict[int, int] = {}
        # time sync
        self.wait_budget = 0
        self.waited_last_tick = False
        # telemetry
        self.tick_count = 0
        self._input_tick = [0] * 4096
        self.latency_sum = 0
        self.latency_count = 0
        self.latency_max = 0
        self.counters = _Counters()
        self.sent_by_type = {t: {"messages": 0, "bytes": 0} for t in MESSAGE_TYPES}
        self.started_at_wall: float | None = None
        self.ended_at_wall: float | None = None
        self.frames_advanced = 0
        # rejoin after a reload (catchup.py): as a source, the documents we serve per peer; as a
        # rejoiner, the transfer and then the re-simulation (``replay``)
        self.serving: dict[int, CatchupSender] = {}
        self.rejoin = rejoin
        self.catchup = CatchupReceiver(random_nonce() if nonce is None else nonce) if rejoin else None
        self.catchup_source: int | None = None
        self.last_catchup_sent = -math.inf
        self.catchup_ack_due = False
        self.replay: _Replay | None = None
        self.preset_delay: int | None = None  # our delay as the peers know it (a rejoin before frame 0)
        self.rejoin_info: dict[str, Any] | None = None
        self.rejoin_started_at = 0.0

    # ------------------------------------------------------------------ public API

    @property
    def state(self) -> str:
        return self._state

    @property
    def current_frame(self) -> int:
        return self.sync.current_frame

    @property
    def confirmed_frame(self) -> int:
        """Newest frame confirmed and simulated from confirmed inputs, or -1."""
        return self.last_recorded_frame

    @property
    def verified_frame(self) -> int:
        """Highest frame verified with every active peer, or -1."""
        return self.desync.verified_frame()

    def on(self, name: str, fn: Callable[[dict[str, Any]], Any]) -> Callable[[], None]:
        """Subscribe to an event; returns an unsubscribe function."""
        self._listeners.setdefault(name, []).append(fn)

        def unsubscribe() -> None:
            lst = self._listeners.get(name, [])
            if fn in lst:
                lst.remove(fn)

        return unsubscribe

    def start(self) -> None:
        """Begin the handshake: HELLO to every peer (a rejoin: CATCHUP_REQUEST instead)."""
        if self._state != SessionState.CREATED:
            return
        now = self.now()
        self.started_at_wall = self.wall_clock()
        self._state = SessionState.CATCHUP if self.rejoin else SessionState.HANDSHAKE
        for ep in self.endpoints.values():
            ep.start_time = now
            # Silence counts from our start at the earliest (a HELLO kept from before start()).
            if ep.last_recv > -math.inf and ep.last_recv < now:
                ep.last_recv = now
            if not self.rejoin:
                self._send_hello(ep, now)
        if self.rejoin:
            self.rejoin_info = {"source": None, "requested_at": iso_time(self.wall_clock()), "caught_up_at": None,
                                "frame": None, "frames": 0, "bytes": 0, "transfer_s": None, "replay_s": None}
            self.rejoin_started_at = now
            self._send_catchup_requests(now, True)
        self._flush_events()

    def close(self, reason: int = ByeReason.LEFT) -> None:
        """Leave the game (BYE left to everyone)."""
        if self._state == SessionState.CLOSED:
            return
        now = self.now()
        for ep in self.endpoints.values():
            if ep.active:
                self._send(ep, Bye(int(reason)), now)
        if self.finish_reason is None:
            self._finish("closed", now, False)
        self._set_closed(now)
        self._flush_events()

    def receive(self, peer: int, data: bytes) -> None:
        """Bytes from the transport for one peer. Never raises for bad bytes."""
        if self._state == SessionState.CLOSED:
            return
        now = self.now()
        # Only real bytes count (JS counts byteLength; anything else has none).
        length = len(data) if isinstance(data, (bytes, bytearray, memoryview)) else 0
        self.counters.bytes_received += length
        self.counters.messages_received += 1
        if isinstance(peer, bool) or not isinstance(peer, int) or not 0 <= peer < self.num_players or peer == self.local_player:
            self.counters.invalid_messages += 1
            return
        try:
            msg = decode(data)
        except Exception:  # not bytes at all: same as undecodable
            msg = DecodeError("invalid", "not bytes")
        if isinstance(msg, DecodeError):
            self.counters.decode_errors += 1
            return
        ep = self.endpoints[peer]
        if not ep.active:
            self.counters.ignored_messages += 1
            return
        self._dispatch(ep, msg, now)
        self._flush_events()

    def tick(self, local_action: int | None = None) -> TickResult:
        """One frame period (call it fps times per second)."""
        if local_action is None:
            local_action = self.settings.default_action
        result = TickResult(False, self.sync.current_frame - 1, self.episode, self._state)
        if self._state in (SessionState.CREATED, SessionState.CLOSED):
            return result
        if not _is_i32(local_action):
            raise ValueError(f"P2PSession.tick: local_action must be a signed 32-bit integer, got {local_action!r}")
        now = self.now()
        self.tick_count += 1
        self._poll_timers(now)
        self._check_hidden_limit(now)
        if self._state == SessionState.HANDSHAKE and self._all_hellos():
            self._begin_countdown(now)
        if self._state == SessionState.COUNTDOWN:
            self._step_countdown(now)
        if self._state == SessionState.CATCHUP:
            self._step_catchup(now)
        if self.replay is not None:
            # Rejoining: re-simulate the game so far as fast as the budget allows, no local input.
            self._step_replay(now)
            result.status = (SessionState.CATCHUP if self.replay is not None or self._state == SessionState.CATCHUP
                             else self._state)
        else:
            if self._state == SessionState.TRANSITION:
                # The reset freeze: exactly reset_freeze_frames ticks on every peer, counted from the
                # tick after the episode's end was confirmed; then the wait for every peer's READY.
                if self.freeze_left > 0:
                    self.freeze_left -= 1
                elif self._all_ready():
                    self._start_next_episode(now)
            if self._state == SessionState.RUNNING:
                result.status = self._step_game(now, local_action, result)
            else:
                result.status = self._state
        if self._state == SessionState.FINISHED:
            self._linger(now)
        if self._state != SessionState.CLOSED:
            self._send_inputs(now)
            self._send_hash_requests(now)
            self._send_keepalives(now)
            self._send_catchup(now)
            if self.tick_count % PRUNE_EVERY_TICKS == 0 or self.replay is not None:
                self._prune()
        result.frame = self.sync.current_frame - 1
        result.episode = self.episode
        self._flush_events()
        return result

    def set_hosted_action(self, seat: int, action: int) -> None:
        """The action a seat this peer hosts takes from the next local input on (held until changed)."""
        if seat not in self.hosted_actions:
            raise ValueError(f"P2PSession.set_hosted_action: seat {seat} is not hosted by player {self.local_player}")
        if not _is_i32(action):
            raise ValueError(f"P2PSession.set_hosted_action: action must be a signed 32-bit integer, got {action!r}")
        self.hosted_actions[seat] = action

    def seats_of(self, player: int) -> list[int]:
        """Seats ``player`` speaks for on the wire: its own and the seats it hosts."""
        return [player] + [seat for seat, host in self.host_of.items() if host == player]

    def set_path(self, path: dict[str, Any] | None) -> None:
        self.path = path

    def note_key(self, key: str, down: bool, t: float | None = None, epoch_ms: float | None = None) -> None:
        """A local key went down or up (``noteKey``): for the record's ``inputs``."""
        if self._state == SessionState.CLOSED:
            return
        self.input_log.key(key, down, self.now() if t is None else t, self.wall_clock() if epoch_ms is None else epoch_ms)

    def note_displayed(self, frame: int, t: float | None = None) -> None:
        """The newest simulated frame ``frame`` was drawn (``noteDisplayed``)."""
        if self._state == SessionState.CLOSED or frame < 0:
            return
        self.input_log.displayed(frame, self.now() if t is None else t, frame > self.sync.confirmed_frame(),
                                 self.sync.stamp_of(frame))

    def set_hidden(self, hidden: bool) -> dict[str, Any] | None:
        """The local page went to the background (True) or came back (False); while hidden the
        local inputs are ``hidden_action`` (default: ``default_action``). Returns the event."""
        if self._state == SessionState.CLOSED:
            return None
        now = self.now()
        iv = self.hidden_log.set(bool(hidden), now, self.wall_clock())
        if iv is None:
            return None
        ev = {"hidden": bool(hidden), "frame": self.sync.current_frame, "time": iso_time(self.wall_clock()),
              "first_frame": iv.first_frame, "last_frame": iv.last_frame,
              "duration_s": 0 if hidden else round3((iv.end_ms - iv.start_ms) / 1000)}  # type: ignore[operator]
        self._emit("hidden", ev)
        self._flush_events()
        return ev

    @property
    def hidden(self) -> bool:
        return self.hidden_log.hidden

    def hidden_ms(self) -> float:
        return self.hidden_log.hidden_ms(self.now())

    def exclude(self, reason: str = "excluded", policy: str = "end") -> bool:
        """Exclude the local player (as ``session.js`` ``exclude``): game over for us (reason
        ``excluded``); our BYE tells the others to end ('end') or play on with our default
        action ('default_action', needs a running game)."""
        st = self._state
        if st not in (SessionState.HANDSHAKE, SessionState.COUNTDOWN, SessionState.RUNNING, SessionState.TRANSITION):
            return False
        if policy not in ("end", "default_action"):
            raise ValueError(f"P2PSession.exclude: policy must be 'end' or 'default_action', got {policy!r}")
        now = self.now()
        play_on = policy == "default_action" and st in (SessionState.RUNNING, SessionState.TRANSITION)
        self.exclusion = {"reason": str(reason), "policy": "default_action" if play_on else "end",
                          "frame": self.sync.current_frame, "time": iso_time(self.wall_clock())}
        self.hidden_log.mark_excluded()
        self.finish_bye = int(ByeReason.EXCLUDED_DEFAULT_ACTION if play_on else ByeReason.EXCLUDED_END)
        self._finish("excluded", now, True)
        self._emit("excluded", dict(self.exclusion))
        for ep in self.endpoints.values():
            if not ep.active:
                continue
            ep.last_bye_sent = now
            self.bye_sent_to.add(ep.peer)
            self._send(ep, Bye(self.finish_bye), now)
        self._flush_events()
        return True

    def peer_away(self, peer: int) -> bool:
        """The runner heard that a peer's page went away with its seat held (the server's
        ``peer_interrupted``): wait for it to rejoin (up to away_timeout_ms). Its BYE(away) does
        the same on the DataChannel. Returns whether it was newly marked away."""
        changed = self._mark_away(peer, self.now())
        self._flush_events()
        return changed

    def peer_gone(self, peer: int) -> bool:
        """The runner heard that a peer's held seat is gone for good (the server's ``peer_left``):
        a peer still away or silent is declared disconnected now."""
        ep = self.endpoints.get(peer)
        if ep is None or not ep.active or self._state in (SessionState.CREATED, SessionState.CLOSED):
            return False
        if ep.state not in (PeerState.AWAY, PeerState.INTERRUPTED, PeerState.WAITING):
            return False
        self._declare_gone(peer, "disconnected", self.now(), ByeReason.TIMEOUT)
        self._flush_events()
        return True

    def _mark_away(self, peer: int, now: float) -> bool:
        ep = self.endpoints.get(peer)
        st = self._state
        if ep is None or not ep.active or ep.state == PeerState.AWAY or st in (SessionState.CREATED, SessionState.CLOSED):
            return False
        if st == SessionState.FINISHED or self.settings.away_timeout_ms == 0:
            # Nothing to rejoin (the game is over), or the scene holds no seats: leaving, as before.
            self._declare_gone(peer, "left", now, None)
            return False
        ep.set_away(now + self.settings.away_timeout_ms)
        self._connection_event(peer, "away", now)
        return True

    @property
    def catching_up(self) -> bool:
        """A reloaded page's session is still rebuilding the game (fetching or re-simulating it)."""
        return self._state == SessionState.CATCHUP or self.replay is not None

    def catchup_progress(self) -> dict[str, Any] | None:
        """``{phase: connecting|transfer|replay|live, received, total, frame, target}`` of a rejoin."""
        if self.catchup is None:
            return None
        received, total = self.catchup.progress()
        if self._state == SessionState.CATCHUP:
            phase = "connecting" if self.catchup.source is None else "transfer"
            return {"phase": phase, "received": received, "total": total, "frame": None, "target": None}
        if self.replay is not None:
            return {"phase": "replay", "received": received, "total": total, "frame": self.sync.current_frame - 1,
                    "target": self.replay.target}
        return {"phase": "live", "received": received, "total": total, "frame": self.sync.current_frame - 1,
                "target": None if self.rejoin_info is None else self.rejoin_info["frame"]}

    @property
    def countdown_left(self) -> int | None:
        return None if self.countdown is None else self.countdown.left

    def peer_info(self) -> list[dict[str, Any]]:
        """Per peer: state, rtt, frame advantage, silence and (while interrupted) the grace left."""
        now = self.now()
        out = []
        for ep in self.endpoints.values():
            silent = None if ep.last_recv == -math.inf else max(0.0, now - ep.last_recv)
            grace = (max(0.0, self.settings.disconnect_timeout_ms - silent)
                     if ep.state == PeerState.INTERRUPTED and silent is not None else None)
            if ep.state == PeerState.AWAY and ep.away_until is not None:
                grace = max(0.0, ep.away_until - now)
            out.append({"peer_index": ep.peer, "state": ep.state, "rtt_ms": ep.last_rtt,
                        "frame_advantage": ep.time_sync.frame_advantage(), "silent_ms": silent, "grace_left_ms": grace})
        return out

    # ------------------------------------------------------------------ events

    def _emit(self, name: str, payload: dict[str, Any]) -> None:
        self._event_queue.append((name, payload))

    def _flush_events(self) -> None:
        """Delivered after the call that produced them finished: listeners see a consistent
        session (and may call tick/receive themselves)."""
        if self._dispatching:
            return
        self._dispatching = True
        try:
            while self._event_queue:
                name, payload = self._event_queue.pop(0)
                for fn in list(self._listeners.get(name, ())):
                    fn(payload)
        finally:
            self._dispatching = False

    # ------------------------------------------------------------------ sending

    def _send(self, ep: Endpoint, msg: Message, now: float) -> None:
        data = encode(msg)
        t = self.sent_by_type[_TYPE_NAMES[type(msg)]]
        t["messages"] += 1
        t["bytes"] += len(data)
        self.counters.bytes_sent += len(data)
        self.counters.messages_sent += 1
        ep.mark_sent(now)
        try:
            self.transport.send(ep.peer, data)
        except Exception:  # a closing channel must not break the loop; silence shows up later
            self.counters.send_errors += 1

    def _send_hello(self, ep: Endpoint, now: float) -> None:
        ep.last_hello_sent = now
        self._send(ep, Hello(PROTOCOL_VERSION, self.local_player, self.num_players), now)

    def _ack_for(self, ep: Endpoint) -> int:
        # With hosted seats the ack covers every seat the peer speaks for (the lowest run).
        if not ep.got_input:
            return -1
        return min(self.sync.queues[p].last_confirmed_frame for p in self.seats_of(ep.peer))

    def _send_inputs(self, now: float) -> None:
        if self._state in (SessionState.HANDSHAKE, SessionState.COUNTDOWN) or self.catching_up:
            return
        local = self.sync.queues[self.local_player]
        through = local.last_confirmed_frame
        for ep in self.endpoints.values():
            if not ep.active or ep.state == PeerState.DONE:
                continue
            ack = self._ack_for(ep)
            if not ep.input_due(through, ack):
                continue
            msg = ep.build_input(self.local_player, local, ack, self.settings.input_redundancy)
            self._send(ep, msg, now)
            ep.note_input_sent(now, msg)
            # Hosted seats: the same window of each seat's inputs (they run with ours), same ack.
            for seat in self.local_hosted:
                self._send(ep, ep.build_input(seat, self.sync.queues[seat], ack, self.settings.input_redundancy), now)
        self._send_relays(now)

    def _send_hash_requests(self, now: float) -> None:
        interval = self.settings.resend_ms if self._state == SessionState.FINISHED else None
        for peer, frame, h in self.desync.requests_due(now, self._max_rtt(), 4, interval):
            ep = self.endpoints.get(peer)
            if ep is not None and ep.active:
                self._send(ep, StateHash(frame, h), now)

    def _send_keepalives(self, now: float) -> None:
        if self._state in (SessionState.HANDSHAKE, SessionState.COUNTDOWN):
            return  # HELLOs keep the channel warm in the handshake, COUNTDOWNs (every tick) after
        for ep in self.endpoints.values():
            if ep.active and ep.state != PeerState.DONE and ep.keepalive_due(now):
                self._send(ep, KeepAlive(), now)

    def _max_rtt(self) -> float:
        m = 0.0
        for ep in self.endpoints.values():
            if ep.active and ep.last_rtt is not None and ep.last_rtt > m:
                m = ep.last_rtt
        return m

    # ------------------------------------------------------------------ timers

    def _poll_timers(self, now: float) -> None:
        for ep in self.endpoints.values():
            if not ep.active:
                continue
            if ep.state == PeerState.AWAY and ep.away_until is not None and now >= ep.away_until:
                self._declare_gone(ep.peer, "disconnected", now, ByeReason.TIMEOUT)
                continue
            ev = None if ep.state == PeerState.DONE else ep.check_silence(now)
            if ev == "interrupted":
                self._connection_event(ep.peer, "interrupted", now)
            elif ev == "disconnected":
                self._declare_gone(ep.peer, "disconnected", now, ByeReason.TIMEOUT)
            if not ep.active:
                continue
            # Before the game HELLO doubles as keepalive; after, only until the peer proves it has ours.
            due = (now - ep.last_hello_sent >= self.settings.hello_interval_ms
                   if self._state == SessionState.HANDSHAKE else ep.hello_due(now))
            if due:
                self._send_hello(ep, now)
            if self._is_playing() and ep.got_input and ep.state != PeerState.DONE and ep.ping_due(now):
                adv = self._advantage_over(ep)
                ep.last_ping_sent = now
                self._send(ep, Ping(int(js_round(0 if adv is None else adv)), now), now)
        self._poll_episode_messages(now)
        self._poll_agreements(now)

    def _is_playing(self) -> bool:
        return self._state in (SessionState.RUNNING, SessionState.TRANSITION, SessionState.FINISHED)

    # ------------------------------------------------------------------ receiving

    def _plausible_frame_limit(self) -> int:
        """Newest frame a peer can have confirmed/hashed/ended at: it needs our inputs for it."""
        return self.sync.queues[self.local_player].last_confirmed_frame

    def _dispatch(self, ep: Endpoint, msg: Message, now: float) -> None:
        if not self._plausible(msg):
            self.counters.invalid_messages += 1
            return
        # A rejoining session only takes what it can use before it has the game.
        if self._state == SessionState.CATCHUP and not isinstance(msg, _CATCHUP_MESSAGES):
            ep.on_message(now, False)
            self.counters.ignored_messages += 1
            return
        # A catch-up request is a new session of the peer (its page reloaded): 'rejoined', not 'resumed'.
        if ep.on_message(now, isinstance(msg, (Hello, Bye))) == "resumed" and not isinstance(msg, CatchupRequest):
            self._connection_event(ep.peer, "resumed", now)
        if isinstance(msg, Hello):
            self._on_hello(ep, msg, now)
        elif isinstance(msg, Input):
            self._on_input(ep, msg, now)
        elif isinstance(msg, Ping):
            # The pre-game RTT probe's PINGs carry no frame advantage: only in-game ones count.
            if self._is_playing() and ep.got_input:
                ep.time_sync.add_remote(msg.advantage)
            self._send(ep, Pong(msg.time), now)
        elif isinstance(msg, Pong):
            rtt = ep.on_pong(now, msg.time)
            if rtt is not None and self.input_delay is None:
                ep.probe_rtts.append(rtt)
        elif isinstance(msg, KeepAlive):
            pass
        elif isinstance(msg, EpisodeEnd):
            self._on_episode_end(ep, msg, now)
        elif isinstance(msg, EpisodeReady):
            self._on_episode_ready(ep, msg)
        elif isinstance(msg, StateHash):
            self._on_state_hash(ep, msg, now)
        elif isinstance(msg, Bye):
            self._on_bye(ep, msg, now)
        elif isinstance(msg, Countdown):
            if self.countdown is not None:
                self.countdown.receive(ep.peer, msg.left, msg.advantage)
        elif isinstance(msg, CatchupRequest):
            self._on_catchup_request(ep, msg, now)
        elif isinstance(msg, CatchupOffer):
            if self._state != SessionState.CATCHUP or self.catchup is None or not self.catchup.on_offer(ep.peer, msg):
                self.counters.ignored_messages += 1
        elif isinstance(msg, CatchupAck):
            sender = self.serving.get(ep.peer)
            if sender is not None and sender.nonce == msg.nonce:
                sender.on_ack(msg.next, msg.mask)
            else:
                self.counters.ignored_messages += 1
        elif isinstance(msg, CatchupChunk):
            if self.catchup is not None and self.catchup.on_chunk(ep.peer, msg) != "ignored":
                self.catchup_ack_due = True
            else:
                self.counters.ignored_messages += 1
        else:
            self.counters.invalid_messages += 1

    def _plausible(self, msg: Message) -> bool:
        s = self.settings
        if isinstance(msg, Input):
            # A peer's newest input is at most its frame + its delay, its frame at most our
            # newest input + the prediction window + 1 (our own delay is in our newest input).
            return (msg.start + len(msg.actions) - 1
                    <= self._plausible_frame_limit() + s.max_prediction_window + MAX_INPUT_DELAY + 2)
        if isinstance(msg, StateHash):
            return msg.frame <= self._plausible_frame_limit()
        if isinstance(msg, EpisodeEnd):
            return msg.frame <= self._plausible_frame_limit() and msg.episode <= max(self.ready_episode, 0)
        if isinstance(msg, EpisodeReady):
            return msg.episode <= self.ready_episode + 1
        return True

    def _on_hello(self, ep: Endpoint, msg: Hello, now: float) -> None:
        if msg.version != PROTOCOL_VERSION or msg.player != ep.peer or msg.num_players != self.num_players:
            self.counters.invalid_messages += 1
            self._emit("error", {
                "code": "hello_mismatch",
                "message": (f"peer {ep.peer} sent HELLO version {msg.version}, player {msg.player}, "
                            f"numPlayers {msg.num_players}; expected version {PROTOCOL_VERSION}, "
                            f"player {ep.peer}, numPlayers {self.num_players}"),
            })
            self._send(ep, Bye(ByeReason.ERROR), now)
            ep.state = PeerState.DISCONNECTED
            self.desync.deactivate(ep.peer)
            self._connection_event(ep.peer, "disconnected", now)
            self._finish("error", now, True)
            return
        if not ep.hello_received:
            ep.hello_received = True
            if self._state != SessionState.CREATED:
                self._send_hello(ep, now)

    def _add_run(self, player: int, start: int, actions: tuple[int, ...]) -> None:
        for i, a in enumerate(actions):
            r = self.sync.add_input(player, start + i, a)
            if r == GAP or r == IGNORED:
                break

    def _on_input(self, ep: Endpoint, msg: Input, now: float) -> None:
        ep.on_ack(-1 if msg.ack is None else msg.ack)
        last = msg.start + len(msg.actions) - 1
        # Its own inputs, or those of a seat it hosts.
        if msg.player == ep.peer or self.host_of.get(msg.player) == ep.peer:
            if msg.player == ep.peer:
                ep.on_remote_inputs(last)
            if msg.player in self.agreements:
                return  # frozen (cannot happen while active; kept safe)
            self._add_run(msg.player, msg.start, msg.actions)
            return
        # Another player's inputs relayed by this peer: that player (or a hosted seat's host)
        # was declared gone.
        c = msg.player
        # Relays exist under policy default_action, and for a player excluded with that policy.
        plays_on = self.settings.disconnect_policy == "default_action" or c in self.agreements
        if (not plays_on or c == self.local_player or c >= self.num_players or c in self.ai_seats
                or c in self.local_hosted):
            self.counters.invalid_messages += 1
            return
        if c not in self.agreements:
            self._declare_gone(self.host_of.get(c, c), "disconnected", now, ByeReason.TIMEOUT)
        ag = self.agreements.get(c)
        if ag is None:
            return
        if ag.default_from is None:
            self._add_run(c, msg.start, msg.actions)
        ag.announce(ep.peer, last)

    def _on_state_hash(self, ep: Endpoint, msg: StateHash, now: float) -> None:
        if msg.frame > ep.highest_hash_frame:
            ep.highest_hash_frame = msg.frame
        mismatches, answer = self.desync.add_remote(ep.peer, msg.frame, msg.hash, now)
        for m in mismatches:
            self._record_desync(m, now)
        if answer:
            mine = self.desync.local.get(msg.frame)
            if mine is not None:
                self._send(ep, StateHash(msg.frame, mine.hash), now)

    def _on_episode_ready(self, ep: Endpoint, msg: EpisodeReady) -> None:
        if msg.episode > ep.ready_episode:
            ep.ready_episode = msg.episode
        known = ep.delays.get(msg.episode)
        if known is not None:
            # A peer announces one delay per episode; a different one for the same episode is broken.
            if known != msg.input_delay:
                self.counters.invalid_messages += 1
            return
        ep.delays[msg.episode] = msg.input_delay
        if msg.episode == 0:
            for p in self.seats_of(ep.peer):
                self._prefill_delay(p, msg.input_delay)

    def _on_episode_end(self, ep: Endpoint, msg: EpisodeEnd, now: float) -> None:
        ep.ends_received[msg.episode] = msg.frame
        mine = self.episode_ends.get(msg.episode)
        if mine is not None:
            self._cross_check_end(ep.peer, msg.episode, mine, msg.frame, now)

    def _cross_check_end(self, peer: int, episode: int, local_frame: int | None, peer_frame: int, now: float) -> None:
        if local_frame == peer_frame:
            return
        key = (peer, episode)
        if key in self._end_mismatch_keys:
            return
        self._end_mismatch_keys.add(key)
        # local_frame None: our env had not ended the episode at the peer's (confirmed) frame.
        ev = {"episode": episode, "peer_index": peer, "local_frame": local_frame,
              "peer_frame": peer_frame, "time": iso_time(self.wall_clock())}
        self.end_mismatches.append(ev)
        self._emit("episode_mismatch", ev)

    def _on_bye(self, ep: Endpoint, msg: Bye, now: float) -> None:
        if msg.reason == ByeReason.AWAY:
            self._mark_away(ep.peer, now)
            return
        if msg.reason in _EXCLUDED_BYES:
            self._on_excluded_bye(ep, msg.reason, now)
            return
        if msg.reason == ByeReason.GAME_OVER:
            ep.bye_received = msg.reason
            if self._state in (SessionState.FINISHED, SessionState.CLOSED):
                ep.state = PeerState.DONE
                return
            if self.settings.disconnect_policy == "end" or self._state == SessionState.HANDSHAKE:
                ep.state = PeerState.DONE
                self._finish("peer_ended", now, True)
            else:
                self._declare_gone(ep.peer, "left", now, None)
            return
        self._declare_gone(ep.peer, "left" if msg.reason == ByeReason.LEFT else "disconnected", now, None)

    def _on_excluded_bye(self, ep: Endpoint, reason: int, now: float) -> None:
        """A peer was excluded: its BYE says whether the game ends or goes on with its default action."""
        ep.bye_received = reason
        if self._state in (SessionState.FINISHED, SessionState.CLOSED):
            ep.state = PeerState.DONE  # our game is over anyway
            return
        running = self._state in (SessionState.RUNNING, SessionState.TRANSITION)
        if reason == ByeReason.EXCLUDED_DEFAULT_ACTION and running:
            # One BYE(game over) back lets it close at once.
            self._declare_gone(ep.peer, "excluded", now, ByeReason.GAME_OVER, "default_action")
            return
        self._connection_event(ep.peer, "excluded", now)
        ep.state = PeerState.DONE
        self._finish("peer_excluded", now, True)

    # ------------------------------------------------------------------ connection events

    def _connection_event(self, peer: int, event: str, now: float) -> None:
        ev = {"peer_index": peer, "event": event, "frame": self.sync.current_frame,
              "time": iso_time(self.wall_clock())}
        self.connection_events.append(ev)
        self._emit("connection", ev)

    def _declare_gone(self, peer: int, event: str, now: float, bye_reason: int | None,
                      policy: str | None = None) -> None:
        """A peer is gone: policy end ends the game; default_action starts the agreement."""
        ep = self.endpoints.get(peer)
        if ep is None or not ep.active:
            return
        ep.state = PeerState.LEFT if event in ("left", "excluded") else PeerState.DISCONNECTED
        self._connection_event(peer, event, now)
        self.desync.deactivate(peer)
        if bye_reason is not None:
            self._send(ep, Bye(int(bye_reason)), now)
        if self._state in (SessionState.FINISHED, SessionState.CLOSED):
            return
        if (policy or self.settings.disconnect_policy) == "end":
            self._finish("disconnected", now, True)
            return
        # The seats it hosted go with it: the same agreement, each on its own frame.
        for p in self.seats_of(peer):
            if p not in self.agreements:
                self.agreements[p] = DisconnectAgreement(p)
                self._emit("disconnect_agreement", {"peer_index": p,
                                                    "known_frame": self.sync.queues[p].last_confirmed_frame})

    def _remaining_peers(self, exclude: int) -> list[int]:
        return [ep.peer for ep in self.endpoints.values() if ep.active and ep.peer != exclude]

    def _poll_agreements(self, now: float) -> None:
        for ag in self.agreements.values():
            if ag.default_from is not None:
                continue
            known = self.sync.queues[ag.player].last_confirmed_frame
            d = ag.try_decide(self._remaining_peers(ag.player), known)
            if d is not None:
                self.sync.set_default_from(ag.player, d)
                self.default_action_from[ag.player] = d
                self._emit("default_action", {"peer_index": ag.player, "frame": d})

    def _send_relays(self, now: float) -> None:
        if not self.agreements or self._state == SessionState.CLOSED:
            return
        for ag in self.agreements.values():
            q = self.sync.queues[ag.player]
            known = q.last_confirmed_frame
            if known < 0:
                continue
            for ep in self.endpoints.values():
                if not ep.active or ep.state == PeerState.DONE:
                    continue
                if not ag.relay_due(ep.peer, now, known, self.settings.resend_ms, ep.highest_hash_frame):
                    continue
                start = max(0, known - 127)
                actions = tuple(q.confirmed(f) for f in range(start, known + 1))
                ack = self._ack_for(ep)
                self._send(ep, Input(ag.player, None if ack < 0 else ack, start, actions), now)
                ag.note_relay(ep.peer, now, known)

    # ------------------------------------------------------------------ game flow

    def _all_hellos(self) -> bool:
        return all(ep.hello_received for ep in self.endpoints.values() if ep.active)

    def _begin_countdown(self, now: float) -> None:
        """Every HELLO is in: count down (lined up with the peers) while the input delays are
        agreed, or, without a countdown, agree them and start as soon as they are."""
        if self.countdown is None:
            self._agree_delay(now)
            if self._delays_agreed():
                self._begin_game(now)
            return
        self._state = SessionState.COUNTDOWN
        self.countdown_seconds = None

    def _step_countdown(self, now: float) -> None:
        """One countdown tick: line up, count, tell the peers where we are; frame 0 at zero once
        every delay is agreed (the count holds at zero until then)."""
        assert self.countdown is not None
        self._agree_delay(now)
        active = self._remaining_peers(-1)
        done = self.countdown.tick(active)
        seconds = math.ceil(self.countdown.left / self.settings.fps)
        if seconds != self.countdown_seconds and not done and not self.countdown.done:
            self.countdown_seconds = seconds
            self._emit("countdown", {"seconds": seconds, "left": self.countdown.left})
        for peer in active:
            ep = self.endpoints[peer]
            self._send(ep, Countdown(self.countdown.left, self.countdown.advantage_for(peer)), now)
        if self.countdown.done and self._delays_agreed():
            self._begin_game(now)

    def _agree_delay(self, now: float) -> None:
        """Choose our input delay (fixed: at once; 'auto': after the RTT probe) and announce it
        in EPISODE_READY(0). Called every pre-game tick once every HELLO is in."""
        if self.input_delay is not None:
            return
        s = self.settings
        if self.probe_started_at is None:
            self.probe_started_at = now
        if self.preset_delay is not None:
            self._choose_delay(self.preset_delay, None, now)  # a rejoin: the delay the peers know
        elif s.input_delay != "auto":
            self._choose_delay(int(s.input_delay), None, now)
        elif self._probe_done(now):
            rtt = self._probe_rtt()
            self._choose_delay(auto_input_delay(rtt, s.fps, s.max_prediction_window), rtt, now)
        else:
            self._send_probes(now)

    def _delays_agreed(self) -> bool:
        """Our delay is chosen and every active peer's EPISODE_READY(0) (its delay) is in."""
        return self.input_delay is not None and self._all_ready()
    def _probe_done(self, now: float) -> bool:
        assert self.probe_started_at is not None
        if now - self.probe_started_at >= RTT_PROBE_TIMEOUT_MS:
            return True
        return all(len(ep.probe_rtts) >= RTT_PROBE_SAMPLES for ep in self.endpoints.values() if ep.active)

    def _probe_rtt(self) -> float:
        """Largest median probe RTT over the active peers (inf if one has no sample)."""
        m = 0.0
        for ep in self.endpoints.values():
            if ep.active:
                r = median_rtt(ep.probe_rtts)
                m = max(m, math.inf if r is None else r)
        return m

    def _send_probes(self, now: float) -> None:
        for ep in self.endpoints.values():
            if (not ep.active or len(ep.probe_rtts) >= RTT_PROBE_SAMPLES
                    or now - ep.last_ping_sent < RTT_PROBE_INTERVAL_MS):
                continue
            ep.last_ping_sent = now
            self._send(ep, Ping(0, now), now)

    def _choose_delay(self, delay: int, rtt: float | None, now: float) -> None:
        self.input_delay = delay
        self.probe_rtt_ms = rtt
        self.first_input_frame = max(1, delay)
        for p in self.seats_of(self.local_player):
            self._prefill_delay(p, delay)
        self.ready_episode = 0
        self._send_first_ready(now, True)

    def _prefill_delay(self, player: int, delay: int) -> None:
        """A player's frames 1..delay-1 of the game hold no sampled input: the default action."""
        for f in range(1, delay):
            r = self.sync.add_input(player, f, self.settings.default_action)
            if r in (GAP, IGNORED):
                break

    def _begin_game(self, now: float) -> None:
        # Countdown samples described the countdown, not the game's frames.
        for ep in self.endpoints.values():
            ep.time_sync.clear()
        self.input_log.start(now)
        self._emit("started", {"time": iso_time(self.wall_clock()), "input_delay": self.input_delay})
        self._begin_episode(0, 0, now)

    def _begin_episode(self, episode: int, start_frame: int, now: float) -> None:
        self.episode = episode
        seed = episode_seed(self.shared_seed, episode)
        if episode == 0:
            self.sync.start_episode(seed, start_frame)
        delays: list[int | None] = [None] * self.num_players
        delays[self.local_player] = self.input_delay
        for p in self.ai_seats:
            delays[p] = 0  # an AI acts on the state its frame starts from
        for ep in self.endpoints.values():
            if episode in ep.delays:
                delays[ep.peer] = ep.delays[episode]
        for seat, host in self.host_of.items():
            delays[seat] = delays[host]  # a hosted seat runs with its host's delay
        self.episode_delays[episode] = delays
        self.episode_starts[episode] = start_frame
        self.current_log = EpisodeLog(episode, seed, start_frame, self.num_players,
                                      reports_rewards=getattr(self.env, "reports_rewards", False) is True)
        self.logs.append(self.current_log)
        self.ready_episode = episode
        self._state = SessionState.RUNNING
        self._emit("episode_start", {"episode": episode, "seed": seed, "frame": start_frame,
                                     "input_delays": list(delays)})

    def _step_game(self, now: float, local_action: int, result: TickResult) -> str:
        s = self.settings
        self.sync.rollback()
        self._process_confirmed(now)
        if self._state != SessionState.RUNNING:
            return self._state
        self._sample_advantage()
        # The local input for current_frame + input_delay is taken before any reason not to
        # advance: with no delay and no window the frame cannot be confirmed without it.
        f = self.sync.current_frame
        assert self.input_delay is not None
        input_frame = f + self.input_delay
        local = self.sync.queues[self.local_player]
        if input_frame > local.last_confirmed_frame:
            # No gap opens while a player's delay stays the same; should it grow, the frames in
            # between get the default action so the run stays contiguous.
            for g in range(local.last_confirmed_frame + 1, input_frame):
                self.sync.add_input(self.local_player, g, s.default_action)
            # While the page is hidden nobody chose this action: the hidden action, recorded as such.
            hidden = self.hidden_log.hidden
            if hidden:
                local_action = s.default_action if s.hidden_action is None else s.hidden_action
            self.sync.add_input(self.local_player, input_frame, local_action)
            if hidden:
                self.hidden_log.note_input(input_frame)
            # Seats we host take their current action at the same frame.
            for seat in self.local_hosted:
                for g in range(self.sync.queues[seat].last_confirmed_frame + 1, input_frame):
                    self.sync.add_input(seat, g, s.default_action)
                self.sync.add_input(seat, input_frame, self.hosted_actions[seat])
            self.input_log.assign(input_frame)
            self._input_tick[input_frame & 4095] = self.tick_count
            result.input_frame = input_frame
        if not self.sync.can_advance():
            # The last simulated frame ended the episode on predicted inputs: never pass it.
            self.counters.stalled += 1
            self.counters.stalled_terminal += 1
            return "stalled"
        if self.sync.current_frame - self.sync.confirmed_input_frame() > s.max_prediction_window:
            self.counters.stalled += 1
            return "stalled"
        if self._time_sync_wait():
            self.counters.timesync_waits += 1
            return "waiting"
        first_time = f > self.sync.max_simulated_frame
        self.sync.advance_frame()
        self.frames_advanced += 1
        if first_time and self.first_input_frame is not None and f >= self.first_input_frame:
            lat = self.tick_count - self._input_tick[f & 4095]
            self.latency_sum += lat
            self.latency_count += 1
            if lat > self.latency_max:
                self.latency_max = lat
        result.advanced = True
        self._process_confirmed(now)
        return "running"

    def _sample_advantage(self) -> None:
        for ep in self.endpoints.values():
            if not ep.active or ep.state in (PeerState.DONE, PeerState.AWAY):
                continue
            a = self._advantage_over(ep)
            if a is not None:
                ep.time_sync.add_local(a)

    def _advantage_over(self, ep: Endpoint) -> int | None:
        """Our frame advantage over a peer: newest input frames compared, each less its
        player's delay in this episode, so players with different delays line up their frames."""
        a = ep.local_advantage(self.sync.queues[self.local_player].last_confirmed_frame)
        if a is None:
            return None
        delays = self.episode_delays.get(self.episode)
        theirs = delays[ep.peer] if delays is not None else None
        if theirs is None or self.input_delay is None:
            return a
        return a - (self.input_delay - theirs)

    def _max_episode_delay(self) -> int:
        """Largest input delay of this episode (the time-sync wait cap)."""
        m = self.input_delay or 0
        for d in self.episode_delays.get(self.episode) or ():
            if d is not None and d > m:
                m = d
        return m

    def _time_sync_wait(self) -> bool:
        """Skip this tick so slower peers catch up? (at most every other tick)"""
        if self.wait_budget == 0:
            w = 0
            for ep in self.endpoints.values():
                if not ep.active or ep.state in (PeerState.DONE, PeerState.AWAY):
                    continue
                r = ep.time_sync.recommend_wait(self.settings.max_prediction_window + self._max_episode_delay())
                if r > w:
                    w = r
            if w > 0:
                self.wait_budget = w
                # Samples from before the correction describe the old offset.
                for ep in self.endpoints.values():
                    ep.time_sync.clear()
        if self.wait_budget > 0 and not self.waited_last_tick:
            self.wait_budget -= 1
            self.waited_last_tick = True
            return True
        self.waited_last_tick = False
        return False

    def _process_confirmed(self, now: float) -> None:
        """Hash newly confirmed frames, send their hashes, append their rows, detect the end."""
        hashes = self.sync.collect_confirmed_hashes()
        by_frame: dict[int, str] = {}
        for frame, h in hashes:
            by_frame[frame] = h
            for m in self.desync.add_local(frame, h, self.episode, now):
                self._record_desync(m, now)
            # Re-simulating after a reload: the peers verified frames up to the old page's last
            # verified one already (the lost-hash requests fetch any other they lack).
            if self.replay is not None and frame < self.replay.hash_send_from:
                continue
            for ep in self.endpoints.values():
                if ep.active and ep.state != PeerState.DONE:
                    self._send(ep, StateHash(frame, h), now)
        confirmed = self.sync.confirmed_frame()
        log = self.current_log
        assert log is not None
        for f in range(self.last_recorded_frame + 1, confirmed + 1):
            report = self.sync.take_step_report(f)
            actions = self.sync.confirmed_actions(f)
            # AI seats: the action their policy took in this confirmed step (the queue holds a placeholder).
            if report is not None and report.ai_actions:
                for p, a in report.ai_actions:
                    actions[p] = a
            log.append(f, actions, by_frame.get(f), report)
        if confirmed > self.last_recorded_frame:
            self.last_recorded_frame = confirmed
        self.input_log.confirm_through(confirmed, self.sync.stamp_of)
        done_at = self.sync.done_at
        if done_at != NO_FRAME and done_at <= confirmed:
            self._end_episode(done_at, now, False)
            return
        # A peer ended this episode at a frame we confirmed as not terminal: the simulations
        # diverged. End ours at our confirmed frame so neither side waits forever.
        for ep in self.endpoints.values():
            peer_end = ep.ends_received.get(self.episode)
            if ep.active and peer_end is not None and peer_end <= confirmed and confirmed >= log.start_frame:
                self.sync.truncate_after(confirmed)
                self._cross_check_end(ep.peer, self.episode, None, peer_end, now)
                self._end_episode(confirmed, now, True)
                return

    def _end_episode(self, frame: int, now: float, forced: bool) -> None:
        log = self.current_log
        assert log is not None
        log.end_frame = frame
        # forced: a peer's environment ended the episode where ours did not (they diverged).
        log.end_reason = "desync" if forced else self.sync.done_reason
        log.seal()
        self.episode_ends[self.episode] = frame
        self._emit("episode_end", {"episode": self.episode, "frame": frame, "forced": forced})
        for ep in self.endpoints.values():
            peer_end = ep.ends_received.get(self.episode)
            if peer_end is not None:
                self._cross_check_end(ep.peer, self.episode, frame, peer_end, now)
        done = self.episode + 1
        if self.settings.max_episodes is not None and done >= self.settings.max_episodes:
            self.final_frame = frame
            self._finish("completed", now, False)
            self._send_episode_messages(now, True)
            return
        nxt = self.episode + 1
        # The env keeps the episode's final state through the transition (a desync dump of the
        # end frame is that state); it is reset when the next episode starts, at frame + 1.
        self.next_start_frame = frame + 1
        self.freeze_left = self.settings.reset_freeze_frames
        self.episode_starts[nxt] = frame + 1
        self.ready_episode = nxt
        self._state = SessionState.TRANSITION
        self._send_episode_messages(now, True)

    def _peer_started(self, ep: Endpoint, n: int) -> bool:
        """Proof the peer started episode n: a later EPISODE_READY, an EPISODE_END of n or
        later, or a hash of a frame after ITS end of n-1."""
        if ep.started_episode >= n:
            return True
        # Episode 0: a peer sends INPUT and STATE_HASH only once it started the game.
        yes = ep.ready_episode > n or (n == 0 and (ep.got_input or ep.highest_hash_frame >= 0))
        if not yes:
            yes = any(e >= n for e in ep.ends_received)
        if not yes and (n - 1) in ep.ends_received:
            yes = ep.highest_hash_frame > ep.ends_received[n - 1]
        if yes:
            ep.started_episode = n
        return yes

    def _all_ready(self) -> bool:
        """Every active peer's EPISODE_READY of the episode we are ready for (with its delay) is
        in. A peer resends it until we prove we started that episode: no deadlock."""
        n = self.ready_episode
        return all(n in ep.delays for ep in self.endpoints.values() if ep.active)

    def _send_episode_messages(self, now: float, force: bool) -> None:
        """EPISODE_END (+ EPISODE_READY of the next) until the peer proves it started the next
        episode; after the last episode EPISODE_END alone until its BYE."""
        last_ended = len(self.episode_ends) - 1
        if last_ended < 0:
            self._send_first_ready(now, force)
            return
        end_frame = self.episode_ends[last_ended]
        final = self._state == SessionState.FINISHED
        for ep in self.endpoints.values():
            if not ep.active or ep.state == PeerState.DONE:
                continue
            if not final and self._peer_started(ep, last_ended + 1):
                continue
            if not force and now - ep.last_episode_sent < self.settings.resend_ms:
                continue
            ep.last_episode_sent = now
            self._send(ep, EpisodeEnd(end_frame, last_ended), now)
            if not final:
                assert self.input_delay is not None
                self._send(ep, EpisodeReady(last_ended + 1, self.input_delay), now)

    def _send_first_ready(self, now: float, force: bool) -> None:
        """EPISODE_READY(0) to peers that have not shown they started the game, every resend_ms."""
        if self.input_delay is None:
            return
        for ep in self.endpoints.values():
            if not ep.active or ep.state == PeerState.DONE or self._peer_started(ep, 0):
                continue
            if not force and now - ep.last_episode_sent < self.settings.resend_ms:
                continue
            ep.last_episode_sent = now
            self._send(ep, EpisodeReady(0, self.input_delay), now)

    def _poll_episode_messages(self, now: float) -> None:
        if self._state == SessionState.FINISHED and self.finish_reason != "completed":
            return
        self._send_episode_messages(now, False)

    # ------------------------------------------------------------------ game over

    def _finish(self, reason: str, now: float, abnormal: bool) -> None:
        if self._state in (SessionState.FINISHED, SessionState.CLOSED):
            return
        self._state = SessionState.FINISHED
        self.finish_reason = reason
        self.finished_at = now
        self.abnormal_end = abnormal
        self.ended_at_wall = self.wall_clock()
        self._emit("game_over", {"reason": reason, "frame": self.last_recorded_frame, "episode": self.episode})

    def _linger(self, now: float) -> None:
        """After the game: resend last inputs/hashes until every peer has them, exchange
        BYE(game over), then close; capped at disconnect_timeout_ms."""
        s = self.settings
        all_byes = True
        for ep in self.endpoints.values():
            if not ep.active:
                continue
            ready = self.abnormal_end or self._peer_has_everything(ep)
            if ready and now - ep.last_bye_sent >= s.resend_ms:
                ep.last_bye_sent = now
                self.bye_sent_to.add(ep.peer)
                self._send(ep, Bye(self.finish_bye), now)
            if ep.peer not in self.bye_sent_to or not self._said_game_over(ep):
                all_byes = False
        assert self.finished_at is not None
        if all_byes:
            # The peer may have lost every BYE we sent and would wait out its timeout: the
            # last word goes out FINAL_BYE_COPIES more times (as session.js does).
            for ep in self.endpoints.values():
                if ep.active:
                    for _ in range(FINAL_BYE_COPIES):
                        self._send(ep, Bye(self.finish_bye), now)
            self._set_closed(now)
        elif now - self.finished_at >= s.disconnect_timeout_ms:
            self._set_closed(now)

    @staticmethod
    def _said_game_over(ep: Endpoint) -> bool:
        """The peer's last word: BYE(game over), or the BYE of its exclusion."""
        return ep.bye_received == ByeReason.GAME_OVER or ep.bye_received in _EXCLUDED_BYES

    def _check_hidden_limit(self, now: float) -> None:
        limit = self.settings.max_hidden_ms
        if limit is None or not self.hidden_log.hidden or self.hidden_log.hidden_ms(now) < limit:
            return
        self.exclude("hidden", self.settings.hidden_policy)

    def _peer_has_everything(self, ep: Endpoint) -> bool:
        last = self.last_recorded_frame if self.final_frame is None else self.final_frame
        if self.episode not in ep.ends_received:
            return False
        if ep.remote_ack < last:
            return False
        last_hashed = last - (last % self.settings.hash_interval)
        return self.desync.compared_through[ep.peer] >= last_hashed

    def _set_closed(self, now: float) -> None:
        if self._state == SessionState.CLOSED:
            return
        self._state = SessionState.CLOSED
        if self.ended_at_wall is None:
            self.ended_at_wall = self.wall_clock()
        self._emit("closed", {"reason": self.finish_reason})

    # ------------------------------------------------------------------ validation

    # ------------------------------------------------------------------ rejoin after a reload
    # docs/rollback.md "Rejoining after a reload" (session.js twin).

    def _start_next_episode(self, now: float) -> None:
        self.sync.start_episode(episode_seed(self.shared_seed, self.ready_episode), self.next_start_frame)
        self._begin_episode(self.ready_episode, self.next_start_frame, now)

    def _on_catchup_request(self, ep: Endpoint, msg: CatchupRequest, now: float) -> None:
        """A peer's new session (its page reloaded) asks for the game so far."""
        if self._state in (SessionState.CREATED, SessionState.CLOSED) or self.catching_up:
            self.counters.ignored_messages += 1
            return
        if ep.catchup_nonce == msg.nonce:
            sender = self.serving.get(ep.peer)
            if sender is not None and sender.nonce == msg.nonce:
                self._send_offer(ep, sender, now)
            return
        ep.new_incarnation(msg.nonce)
        self._connection_event(ep.peer, "rejoined", now)
        doc = self.build_catchup_doc(ep.peer)
        known = doc.players[ep.peer].known
        sender = CatchupSender(msg.nonce, encode_catchup_doc(doc), now, -1 if known is None else known,
                               -1 if doc.confirmed is None else doc.confirmed)
        self.serving[ep.peer] = sender
        self._send_offer(ep, sender, now)
        self._emit("catchup_serve", {"peer_index": ep.peer, "bytes": sender.size,
                                     "frame": -1 if doc.confirmed is None else doc.confirmed})

    def _send_offer(self, ep: Endpoint, sender: CatchupSender, now: float) -> None:
        self._send(ep, CatchupOffer(sender.nonce, sender.size, None if sender.known < 0 else sender.known,
                                    None if sender.confirmed < 0 else sender.confirmed), now)

    def _delays_of(self, episode: int) -> list[int | None]:
        out: list[int | None] = [None] * self.num_players
        out[self.local_player] = self.input_delay
        for ep in self.endpoints.values():
            if episode in ep.delays:
                out[ep.peer] = ep.delays[episode]
        return out

    def build_catchup_doc(self, peer: int) -> CatchupDoc:
        """The game so far as a catch-up document for ``peer``."""
        n = self.num_players
        confirmed = self.last_recorded_frame
        st = self._state
        state = {SessionState.RUNNING: "running", SessionState.TRANSITION: "transition",
                 SessionState.FINISHED: "finished"}.get(st, "pregame")
        episodes = tuple(
            CatchupEpisode(log.start_frame, log.end_frame,
                           tuple(self.episode_delays.get(log.episode) or self._delays_of(log.episode)))
            for log in self.logs)
        next_delays: tuple[int | None, ...] | None = None
        if st == SessionState.TRANSITION:
            next_delays = tuple(self._delays_of(self.ready_episode))
        elif state == "pregame":
            d = self._delays_of(0)
            if any(x is not None for x in d):
                next_delays = tuple(d)
        players = []
        for p in range(n):
            q = self.sync.queues[p]
            if p in self.ai_seats:
                # An AI seat has no inputs: its queue holds the default action from frame 1 in
                # every session (the environment makes its actions again in the re-simulation).
                players.append(CatchupPlayer(0, 1, (q.confirmed(0),)))
                continue
            known = q.last_confirmed_frame
            actions = [0] * (known + 1)
            # Confirmed frames come from the episode logs (the queues keep only the last 4096).
            for log in self.logs:
                for f in range(log.start_frame, min(log.start_frame + log.count - 1, known) + 1):
                    actions[f] = log.action_at(f, p)
            for f in range(max(0, confirmed + 1), known + 1):
                actions[f] = q.confirmed(f)
            players.append(CatchupPlayer(None if known < 0 else known, q.default_from, tuple(actions)))
        hi = self.settings.hash_interval
        hashes = []
        for log in self.logs:
            last = min(log.start_frame + log.count - 1, confirmed)
            for f in range(log.start_frame + (hi - log.start_frame % hi) % hi, last + 1, hi):
                h = log.hash_of(f)
                assert h is not None, f"confirmed frame {f} has no hash"
                hashes.append(h)
        verified = self.desync.verified_frame()
        # None: us, an AI seat, or nothing verified with that peer yet.
        verified_through = tuple(
            None if self.desync.verified_through.get(p, -1) < 0 else self.desync.verified_through[p] for p in range(n))
        return CatchupDoc(n, hi, state, None if confirmed < 0 else confirmed, None if verified < 0 else verified,
                          verified_through, episodes, next_delays, tuple(players), tuple(hashes))

    def _send_catchup(self, now: float) -> None:
        """Every tick: the source's chunks, the rejoiner's acknowledgements; old transfers dropped."""
        if self.serving:
            rto = max(2 * self._max_rtt(), self.settings.resend_ms)
            budget = self.settings.catchup_chunks_per_tick
            for peer, sender in list(self.serving.items()):
                ep = self.endpoints[peer]
                if (not ep.active or sender.done or ep.catchup_nonce != sender.nonce
                        or now - sender.created_at > CATCHUP_KEEP_MS):
                    del self.serving[peer]
                    continue
                for i in sender.due(now, rto, budget):
                    self._send(ep, CatchupChunk(sender.nonce, i, sender.chunk(i)), now)
                    sender.mark_sent(i, now)
                    budget -= 1
        c = self.catchup
        if c is None or c.source is None:
            return
        ep = self.endpoints[c.source]
        if not ep.active:
            return
        # Chunks in: say so (once per tick). Missing ones: say where we are every resend_ms.
        if self.catchup_ack_due or (not c.complete and now - self.last_catchup_sent >= self.settings.resend_ms):
            self.catchup_ack_due = False
            self.last_catchup_sent = now
            self._send(ep, CatchupAck(*c.ack()), now)

    def _send_catchup_requests(self, now: float, force: bool) -> None:
        if not force and now - self.last_catchup_sent < self.settings.resend_ms:
            return
        self.last_catchup_sent = now
        assert self.catchup is not None
        for ep in self.endpoints.values():
            if ep.active and ep.peer not in self.catchup.offers:
                self._send(ep, CatchupRequest(self.catchup.nonce), now)

    def _step_catchup(self, now: float) -> None:
        """The rejoiner before it has the document: ask, choose a source, wait for the chunks."""
        c = self.catchup
        assert c is not None
        active = self._remaining_peers(-1)
        if not active:
            if self._state == SessionState.CATCHUP:
                self._finish("disconnected", now, True)
            return
        if c.source is not None and c.source not in active:
            c.drop_source()  # the source is gone: take the document from another peer
            self.catchup_source = None
        if c.source is None:
            self._send_catchup_requests(now, False)
            source = c.choose(active)
            if source is None:
                return
            self.catchup_source = source
            assert self.rejoin_info is not None
            self.rejoin_info["source"] = source
            self.catchup_ack_due = True  # our first ACK starts the transfer
        if c.complete:
            self._apply_catchup(now)

    def _catchup_failed(self, now: float, message: str) -> None:
        self._emit("error", {"code": "catchup_failed", "message": message})
        self._finish("error", now, True)

    def _apply_catchup(self, now: float) -> None:
        """The whole document is in: set the game up from it and re-simulate from frame 0."""
        c = self.catchup
        info = self.rejoin_info
        assert c is not None and info is not None
        data = c.assemble()
        info["bytes"] = len(data)
        info["transfer_s"] = round3((now - self.rejoin_started_at) / 1000)
        doc = decode_catchup_doc(data)
        if isinstance(doc, DecodeError):
            self._catchup_failed(now, f"the catch-up document from player {c.source} does not decode: "
                                      f"{doc.code} ({doc.detail})")
            return
        if doc.num_players != self.num_players or doc.hash_interval != self.settings.hash_interval:
            self._catchup_failed(now, f"the catch-up document from player {c.source} is for {doc.num_players} "
                                      f"players and hash interval {doc.hash_interval}")
            return
        if doc.state != "pregame" and not doc.episodes:
            self._catchup_failed(now, f"player {c.source} has no game to rejoin ({doc.state}, no episode)")
            return
        me = self.local_player
        for i, e in enumerate(doc.episodes):
            self.episode_delays[i] = list(e.delays)
        nxt = len(doc.episodes)
        for ep in self.endpoints.values():
            p = ep.peer
            ep.hello_received = True  # it greeted our old page
            for i, e in enumerate(doc.episodes):
                if e.delays[p] is not None:
                    ep.delays[i] = e.delays[p]
                if e.end is not None:
                    ep.ends_received[i] = e.end
            if doc.next_delays is not None and doc.next_delays[p] is not None:
                ep.delays[nxt] = doc.next_delays[p]
            for e in ep.delays:
                if e > ep.ready_episode:
                    ep.ready_episode = e
            if nxt > 0:
                ep.started_episode = nxt - 1
            pl = doc.players[p]
            if pl.known is not None:
                ep.got_input = True
                if pl.known > ep.remote_newest:
                    ep.remote_newest = pl.known
            # The source has our inputs through what its document says: no need to send them again.
            mine_known = doc.players[me].known
            if p == c.source and mine_known is not None and mine_known > ep.remote_ack:
                ep.remote_ack = mine_known
            if pl.default_from is not None:
                # Gone before we came back: its default action from the frame the others agreed on.
                ep.state = PeerState.DISCONNECTED
                self.desync.deactivate(p)
                ag = DisconnectAgreement(p)
                ag.default_from = pl.default_from
                self.agreements[p] = ag
                self.default_action_from[p] = pl.default_from
        mine = None
        if doc.next_delays is not None:
            mine = doc.next_delays[me]
        if mine is None and doc.episodes:
            mine = doc.episodes[-1].delays[me]
        if doc.state == "pregame":
            # Nothing was played yet: the normal start, with our delay as the peers know it.
            self.preset_delay = mine
            for ep in self.endpoints.values():
                if 0 in ep.delays:
                    self._prefill_delay(ep.peer, ep.delays[0])
            self._state = SessionState.HANDSHAKE
            self._go_live(now)
            return
        if mine is None:
            self._catchup_failed(now, f"the catch-up document from player {c.source} does not say our input delay")
            return
        self.input_delay = mine
        self.first_input_frame = max(1, mine)
        target = math.inf
        for pl in doc.players:
            if pl.default_from is None:
                target = min(target, -1 if pl.known is None else pl.known)
        vt = doc.verified_through[me]
        self.replay = _Replay(doc, target, [0] * self.num_players, (-1 if vt is None else vt) + 1, now)
        self._begin_episode(0, 0, now)

    def _step_replay(self, now: float) -> None:
        """Re-simulate confirmed frames for at most catchup_budget_ms (and catchup_frames_per_tick)."""
        rp = self.replay
        assert rp is not None
        s = self.settings
        deadline = now + s.catchup_budget_ms
        n = 0
        while n < s.catchup_frames_per_tick:
            if self._state == SessionState.TRANSITION:
                # Past episodes start at once (the reset freeze is for the eyes); an episode the
                # others have not announced yet is waited for live.
                self.freeze_left = 0
                if not self._all_ready():
                    break
                self._start_next_episode(now)
            if self._state != SessionState.RUNNING:
                break
            f = self.sync.current_frame
            if f > rp.target:
                break
            self._feed_replay(f + 128)
            if self.sync.confirmed_input_frame() < f:
                break  # cannot happen with a sound document
            self._seed_replay_hashes(f, now)
            self.sync.advance_frame()
            n += 1
            self._process_confirmed(now)
            if n & 7 == 0 and self.now() >= deadline:
                break
        rp.frames += n
        st = self._state
        waiting = st == SessionState.TRANSITION and not self._all_ready()
        if (st in (SessionState.FINISHED, SessionState.CLOSED) or waiting or self.sync.current_frame > rp.target
                or (st == SessionState.RUNNING and self.sync.confirmed_input_frame() < self.sync.current_frame)):
            self._finish_replay(now)

    def _feed_replay(self, upto: int) -> None:
        """Inputs of the document into the queues, up to ``upto`` (the queues hold 4096 frames)."""
        rp = self.replay
        assert rp is not None
        for p, pl in enumerate(rp.doc.players):
            if p in self.ai_seats:
                continue  # set up by the constructor, as in every session
            known = -1 if pl.known is None else pl.known
            last = min(known, upto)
            for f in range(rp.fed[p] + 1, last + 1):
                self.sync.add_input(p, f, pl.actions[f])
            if last > rp.fed[p]:
                rp.fed[p] = last
            if pl.default_from is not None and rp.fed[p] == known and p not in rp.defaulted:
                rp.defaulted.add(p)
                self.sync.set_default_from(p, pl.default_from)

    def _seed_replay_hashes(self, frame: int, now: float) -> None:
        """The source's hash of every hashed frame up to ``frame`` (and, for a peer the source
        verified them with, that peer's), compared as our re-simulation hashes them."""
        rp = self.replay
        assert rp is not None
        doc = rp.doc
        hi = doc.hash_interval
        confirmed = -1 if doc.confirmed is None else doc.confirmed
        for g in range(rp.seeded + 1, frame + 1):
            rp.seeded = g
            if g % hi != 0 or g > confirmed:
                continue
            h = doc.hashes[g // hi]
            for ep in self.endpoints.values():
                if not ep.active:
                    continue
                vt = doc.verified_through[ep.peer]
                if ep.peer == self.catchup_source or (vt is not None and g <= vt):
                    self.desync.add_remote(ep.peer, g, h, now)

    def _finish_replay(self, now: float) -> None:
        rp = self.replay
        assert rp is not None and self.rejoin_info is not None
        self.replay = None
        self.rejoin_info["frames"] = rp.frames
        self.rejoin_info["replay_s"] = round3((now - rp.started_at) / 1000)
        self._go_live(now)

    def _go_live(self, now: float) -> None:
        """Caught up: from here the session plays like any other."""
        info = self.rejoin_info
        assert info is not None and self.catchup_source is not None
        info["caught_up_at"] = iso_time(self.wall_clock())
        info["frame"] = self.sync.current_frame
        for ep in self.endpoints.values():
            ep.time_sync.clear()
        self._connection_event(self.catchup_source, "rejoined", now)
        self._emit("rejoined", dict(info))

    def _record_desync(self, m: dict[str, Any], now: float) -> None:
        """Keep events sorted by frame, bounded lists keep the EARLIEST frames (hashes can be
        recovered out of order), so the first divergent frame always has its event and dump."""
        ev = {"frame": m["frame"], "episode": m["episode"], "local_hash": m["local_hash"],
              "peer_hash": m["peer_hash"], "peer_index": m["peer_index"],
              "time": iso_time(self.wall_clock()), "state": None}
        lst = self.desync_events
        i = len(lst)
        while i > 0 and (lst[i - 1]["frame"] > ev["frame"]
                         or (lst[i - 1]["frame"] == ev["frame"] and lst[i - 1]["peer_index"] > ev["peer_index"])):
            i -= 1
        if i >= self.settings.max_desync_events:
            self._emit("desync", ev)
            return
        lst.insert(i, ev)
        if len(lst) > self.settings.max_desync_events:
            dropped = lst.pop()
            if dropped["state"] is not None:
                self.state_dumps -= 1
        same = next((d for d in lst if d["frame"] == ev["frame"] and d is not ev and d["state"] is not None), None)
        if same is not None:
            ev["state"] = same["state"]
        elif self.settings.max_state_dumps > 0:
            if self.state_dumps >= self.settings.max_state_dumps:
                victim = None  # give the latest dumped frame's budget to this earlier frame
                for d in lst:
                    if d["state"] is not None and d["frame"] > ev["frame"]:
                        victim = d
                if victim is not None:
                    vf = victim["frame"]
                    for d in lst:
                        if d["frame"] == vf:
                            d["state"] = None
                    self.state_dumps -= 1
            if self.state_dumps < self.settings.max_state_dumps:
                ev["state"] = self.sync.canonical_state_at(m["frame"])
                if ev["state"] is not None:
                    self.state_dumps += 1
        self._emit("desync", ev)

    def _prune(self) -> None:
        verified = self.desync.verified_frame()
        self.sync.prune(verified + 1, self.settings.max_unverified_states)
        self.desync.prune(self.settings.pending_hash_limit)

    # ------------------------------------------------------------------ record

    def stats(self) -> dict[str, Any]:
        """Telemetry for the export and the benchmark (same keys as the JS session)."""
        c = self.counters
        rtts: list[float] = []
        samples = 0
        for ep in self.endpoints.values():
            rtts.extend(ep.rtt_samples())
            samples += ep.rtt_count
        ss = self.sync.stats
        ds = self.desync.stats
        return {
            "rtt_ms": {"p50": round3(percentile(rtts, 0.5)), "p95": round3(percentile(rtts, 0.95)), "samples": samples},
            "rollbacks": ss.rollbacks,
            "max_rollback_depth": ss.max_rollback_depth,
            "rollback_depth_histogram": histogram_object(ss.rollback_depth_histogram),
            "mispredicted_frames": ss.mispredicted_frames,
            "stalled_frames": c.stalled,
            "frames_simulated": ss.frames_simulated,
            "bytes_sent": c.bytes_sent,
            "bytes_received": c.bytes_received,
            "messages_sent": c.messages_sent,
            "messages_received": c.messages_received,
            "decode_errors": c.decode_errors,
            "path": copy.deepcopy(self.path),
            # Beyond the pinned export shape (kept by the record, dropped by the export builder):
            "frames_advanced": self.frames_advanced,
            "stalled_at_terminal": c.stalled_terminal,
            "timesync_wait_frames": c.timesync_waits,
            "local_input_latency_frames": round3(self.latency_sum / self.latency_count) if self.latency_count else None,
            "local_input_latency_max_frames": self.latency_max,
            "input_delay": self.input_delay,
            "input_delay_rtt_ms": (None if self.probe_rtt_ms is None or not math.isfinite(self.probe_rtt_ms)
                                   else round3(self.probe_rtt_ms)),
            "send_errors": c.send_errors,
            "ignored_messages": c.ignored_messages,
            "invalid_messages": c.invalid_messages,
            "hashes_compared": ds.compared,
            "hash_mismatches": ds.mismatches,
            "hashes_dropped": ds.hashes_dropped,
            "hash_requests_sent": ds.requests_sent,
            "hash_answers_sent": ds.answers_sent,
            "snapshot_loads": ss.snapshot_loads,
            "episode_end_mismatches": len(self.end_mismatches),
            "sent_by_type": copy.deepcopy(self.sent_by_type),
            "countdown_frames": self.settings.countdown_frames,
            "countdown_held_frames": 0 if self.countdown is None else self.countdown.held,
            "hidden_s": self.hidden_log.total_s(self.now()),
            "hidden_intervals_dropped": self.hidden_log.dropped,
            "input_events_dropped": self.input_log.dropped,
        }

    def record(self) -> dict[str, Any]:
        """The JSON-able part of the validation export this session owns (same shape as the
        JS ``record()``; the export builder adds schema, ids and settings)."""
        verified = self.desync.verified_frame()
        episodes = []
        for log in self.logs:
            last = log.last_frame
            v = min(verified, last) if verified >= log.start_frame and last is not None else None
            episodes.append({
                "episode": log.episode, "seed": log.seed, "start_frame": log.start_frame,
                "end_frame": log.end_frame, "last_confirmed_frame": last, "verified_frame": v,
                "input_delays": list(self.episode_delays.get(log.episode, [])),
                "frames": log.rows(),
                **log.step_record(),
            })
        end_wall = self.ended_at_wall if self.ended_at_wall is not None else self.wall_clock()
        start_wall = self.started_at_wall if self.started_at_wall is not None else end_wall
        duration_s = max(0.0, (end_wall - start_wall) / 1000)
        return {
            "partial": self.finish_reason is None,
            "episodes": episodes,
            "verified_frame": None if verified < 0 else verified,
            "desyncs": [dict(d) for d in self.desync_events],
            "connection_events": [dict(e) for e in self.connection_events],
            "stats": self.stats(),
            "timing": {
                "started_at": iso_time(start_wall),
                "ended_at": iso_time(end_wall),
                "duration_s": round3(duration_s),
                "fps_target": self.settings.fps,
                "fps_achieved": round3(self.frames_advanced / duration_s) if duration_s > 0 else None,
            },
            "game_over_reason": self.finish_reason,
            "episode_end_mismatches": [dict(e) for e in self.end_mismatches],
            "default_action_from": {str(p): f for p, f in self.default_action_from.items()},
            "hidden_intervals": self.hidden_log.records(self.now()),
            "inputs": self.input_log.rows(),
            "exclusion": None if self.exclusion is None else dict(self.exclusion),
            "rejoins": [] if self.rejoin_info is None else [dict(self.rejoin_info)],
        }
