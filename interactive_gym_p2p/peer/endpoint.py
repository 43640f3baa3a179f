"""One remote peer as the local session sees it (``static/js/endpoint.js``): connection state,
what it acknowledged of our inputs, what we received of its inputs, RTT, frame-advantage
samples and send timers. It decides WHAT to send and WHEN; the session encodes and sends."""

from __future__ import annotations

import logging
import math

from ..protocol import Input
from .input_queue import InputQueue
from .settings import SessionSettings
from .time_sync import TimeSync

logger = logging.getLogger(__name__)


class PeerState:
    WAITING = "waiting"  # nothing received yet
    RUNNING = "running"
    INTERRUPTED = "interrupted"
    AWAY = "away"  # its page went away (a reload) with its seat held: waited for, not timed out by silence
    DISCONNECTED = "disconnected"  # declared gone (timeout, BYE error/timeout, a peer's relay)
    LEFT = "left"  # said BYE(left)
    DONE = "done"  # said BYE(game over) after a finished game


class Endpoint:
    def __init__(self, peer: int, settings: SessionSettings, start_time: float = 0) -> None:
        self.peer = peer
        self.settings = settings
        self.state = PeerState.WAITING
        self.start_time = start_time
        self.last_recv = -math.inf
        self.last_send = -math.inf
        # handshake
        self.hello_received = False
        self.hello_proven = False  # the peer has our HELLO (it sent something else)
        self.last_hello_sent = -math.inf
        # inputs
        self.remote_ack = -1  # highest frame of OUR inputs the peer has contiguously
        self.got_input = False
        self.remote_newest = -1
        self.last_input_sent = -math.inf
        self.last_ack_sent = -2
        self.last_sent_through = -1
        # ping / rtt
        self.last_ping_sent = -math.inf
        self._rtt = [0.0] * settings.rtt_samples
        self.rtt_count = 0
        self.last_rtt: float | None = None
        self.time_sync = TimeSync(settings.time_sync_window)
        # episodes
        self.ready_episode = -1
        self.delays: dict[int, int] = {}  # episode -> the peer's input delay (its EPISODE_READY)
        self.probe_rtts: list[float] = []  # RTT samples of the pre-game probe ('auto')
        self.started_episode = -1
        self.ends_received: dict[int, int] = {}
        self.last_episode_sent = -math.inf
        # sync validation
        self.highest_hash_frame = -1
        # game over
        self.bye_received: int | None = None
        self.last_bye_sent = -math.inf
        # rejoin after a reload
        self.away_until: float | None = None  # AWAY: when it counts as disconnected if not back
        self.catchup_nonce: int | None = None  # the nonce of its latest CATCHUP_REQUEST

    @property
    def active(self) -> bool:
        return self.state != PeerState.DISCONNECTED and self.state != PeerState.LEFT

    def on_message(self, now: float, is_hello: bool) -> str | None:
        """A valid message arrived; returns ``"resumed"`` after an interruption."""
        self.last_recv = now
        if not is_hello:
            self.hello_proven = True
        if self.state == PeerState.WAITING:
            self.state = PeerState.RUNNING
        elif self.state in (PeerState.INTERRUPTED, PeerState.AWAY):
            self.state = PeerState.RUNNING
            self.away_until = None
            return "resumed"
        return None

    def set_away(self, until: float) -> None:
        """Its page went away with its seat held: wait for it until ``until`` (no silence timeout)."""
        self.state = PeerState.AWAY
        self.away_until = until
        self.time_sync.clear()

    def new_incarnation(self, nonce: int) -> None:
        """A new session of this peer (its page reloaded) asked to catch up."""
        self.catchup_nonce = nonce
        self.hello_proven = True  # it sent a non-HELLO message
        self.bye_received = None
        self.last_ack_sent = -2  # tell it our ack again
        self.last_episode_sent = -math.inf
        self.last_ping_sent = -math.inf
        self.time_sync.clear()

    def check_silence(self, now: float) -> str | None:
        """``"interrupted"``, ``"disconnected"`` or None."""
        s = self.settings
        if self.state in (PeerState.RUNNING, PeerState.INTERRUPTED):
            quiet = now - self.last_recv
            if quiet >= s.disconnect_timeout_ms:
                return "disconnected"
            if self.state == PeerState.RUNNING and quiet >= s.disconnect_notify_ms:
                self.state = PeerState.INTERRUPTED
                return "interrupted"
        elif self.state == PeerState.WAITING:
            # Never heard from: no "interrupted" (it never ran); the first-contact wait from our start.
            wait = s.disconnect_timeout_ms if s.handshake_timeout_ms is None else s.handshake_timeout_ms
            if now - self.start_time >= wait:
                return "disconnected"
        return None

    def mark_sent(self, now: float) -> None:
        self.last_send = now

    def hello_due(self, now: float) -> bool:
        return not self.hello_proven and now - self.last_hello_sent >= self.settings.hello_interval_ms

    def ping_due(self, now: float) -> bool:
        return now - self.last_ping_sent >= self.settings.ping_interval_ms

    def keepalive_due(self, now: float) -> bool:
        return now - self.last_send >= self.settings.keepalive_ms

    def on_ack(self, ack: int) -> None:
        if ack > self.remote_ack:
            self.remote_ack = ack

    def on_remote_inputs(self, last_frame: int) -> None:
        self.got_input = True
        if last_frame > self.remote_newest:
            self.remote_newest = last_frame

    def on_pong(self, now: float, time: float) -> float | None:
        rtt = now - time
        # A PONG echoes our own clock; negative or absurd values are not ours.
        if not (0 <= rtt < 600000):
            return None
        self._rtt[self.rtt_count % len(self._rtt)] = rtt
        self.rtt_count += 1
        self.last_rtt = rtt
        return rtt

    def rtt_samples(self) -> list[float]:
        return self._rtt[:min(self.rtt_count, len(self._rtt))]

    def input_due(self, local_through: int, ack: int) -> bool:
        if local_through < 0:
            return False
        return (local_through > self.last_sent_through or self.remote_ack < local_through
                or ack != self.last_ack_sent)

    def build_input(self, local_player: int, local_queue: InputQueue, ack: int, redundancy: int) -> Input:
        """Every input the peer has not acked, at least the last ``redundancy``, at most 128."""
        last = local_queue.last_confirmed_frame
        # Never before the oldest frame the queue still holds (a rejoined page's queue starts at
        # the end of a long game, before the peers' acks are in).
        start = max(0, last - local_queue.mask, min(self.remote_ack + 1, last - redundancy + 1))
        end = last
        if end - start + 1 > 128:
            end = start + 127
        actions = tuple(local_queue.confirmed(f) for f in range(start, end + 1))
        return Input(player=local_player, ack=None if ack < 0 else ack, start=start, actions=actions)

    def note_input_sent(self, now: float, msg: Input) -> None:
        self.last_input_sent = now
        self.last_ack_sent = -1 if msg.ack is None else msg.ack
        through = msg.start + len(msg.actions) - 1
        if through > self.last_sent_through:
            self.last_sent_through = through

    def local_advantage(self, local_through: int) -> int | None:
        if not self.got_input:
            return None
        return local_through - self.remote_newest
