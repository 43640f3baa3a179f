"""Deterministic network simulator for the Python session, the twin of
``tests/js/support/sim.mjs``: N sessions over simulated links with seeded latency, jitter,
loss, duplication and reordering (:mod:`.impairment`), all on one virtual clock. No sleeps:
events (ticks, deliveries) run in time order, ties in scheduling order, so a seed replays
exactly, and the same seed schedules the same game as the JS simulator.

A player can be any object with the session's face (``start``, ``tick``, ``receive``,
``state``, ``record``): ``make_session`` lets a test put a JS session (run by node) in a seat.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from .impairment import Impairment
from .prng import Prng
from .session import P2PSession

logger = logging.getLogger(__name__)

EPOCH_MS = 1735689600000  # Date.UTC(2025, 0, 1), as sim.mjs
SIMULATED_PATH = {"kind": "simulated", "protocol": None, "local_candidate_type": None, "remote_candidate_type": None}


class VirtualClock:
    """Events ordered by (time, scheduling order)."""

    def __init__(self) -> None:
        self.t: float = 0
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self.t

    def at(self, t: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._events, (max(t, self.t), next(self._seq), fn))

    def run(self, until: float, stop: Callable[[], bool] | None = None) -> bool:
        """Run events up to virtual time ``until``; True if ``stop()`` ended the run."""
        ev = self._events
        while ev and ev[0][0] <= until:
            t, _, fn = heapq.heappop(ev)
            self.t = t
            fn()
            if stop is not None and stop():
                return True
        self.t = max(self.t, until)
        return False


def default_input(player: int, tick: int, prng: Prng, last: dict[int, int], session: Any) -> int:
    """sim.mjs ``defaultInput``: actions that change now and then (mostly right predictions)."""
    if prng.float() < 0.15:
        last[player] = prng.int(5)
    return last.get(player, 0)


@dataclass
class PlayerResult:
    advanced: int = 0
    stalled: int = 0
    waiting: int = 0
    stall_run: int = 0
    max_stall_run: int = 0


@dataclass
class SimStats:
    delivered: int = 0
    injected: int = 0
    sent_bytes: list[int] = field(default_factory=list)


class _LinkTransport:
    def __init__(self, game: "Game", player: int) -> None:
        self.game = game
        self.player = player

    def send(self, to: int, data: bytes) -> None:
        self.game._send(self.player, to, bytes(data))


MakeSession = Callable[..., Any]


class Game:
    """A full game of N peers on one virtual clock (see :func:`create_game`)."""

    def __init__(self, num_players: int, make_env: Callable[[int], Any],
                 settings: Mapping[str, Any] | None = None, seed: int = 1,
                 link: Mapping[str, Any] | Callable[[int, int], Mapping[str, Any]] | None = None,
                 start_at: list[float] | None = None, input: Callable[..., int] | None = None,
                 tick_period_ms: list[float] | None = None, make_session: MakeSession | None = None,
                 measure: bool = False, player_settings: list[Mapping[str, Any] | None] | None = None,
                 ai_seats: tuple[int, ...] = (), hosted_seats: tuple[tuple[int, int], ...] = (),
                 hosted: Callable[..., int] | None = None) -> None:
        self.num_players = num_players
        self.ai_seats = tuple(ai_seats)
        """Players that are AI seats: no session of their own (``sessions[p]`` is None)."""
        self.hosted_seats = tuple((int(a), int(b)) for a, b in hosted_seats)
        """``(seat, host)`` pairs: no session either; the host's session is given the seat's action
        from ``hosted(seat, tick, prng, last, session)`` before each tick (sim.mjs ``hosted``)."""
        self.hosted = hosted
        self._sessionless = set(self.ai_seats) | {seat for seat, _ in self.hosted_seats}
        self.clock = VirtualClock()
        master = Prng(seed)
        self.shared_seed = master.next()
        self.settings = dict(settings or {})
        fps = self.settings.get("fps", 30)
        period = 1000 / fps
        link_opts = link if callable(link) else (lambda a, b: link or {})
        self.links: dict[tuple[int, int], Impairment] = {}
        for a in range(num_players):
            for b in range(num_players):
                if a != b:
                    self.links[(a, b)] = Impairment.from_settings(dict(link_opts(a, b)), seed=master.next())
        self.stats = SimStats(sent_bytes=[0] * num_players)
        self.blocked: set[tuple[int, int]] = set()
        self.alive = [True] * num_players
        self.envs: list[Any] = []
        self.sessions: list[Any] = []  # by player index; None for an AI seat
        self.input_prngs: list[Prng] = []
        self._last_action: dict[int, int] = {}
        self._keyed: dict[int, int] = {}  # the action each player's keys last said (key events)
        self.measure = measure
        self.engine_s = 0.0
        # A page reload gives a player a new session on a new channel: messages sent to the old
        # page never reach the new one (incarnation), and the old page's tick loop stops.
        self.incarnation = [0] * num_players
        self._make_env = make_env
        self._make_session = make_session
        self._player_settings = player_settings
        for p in range(num_players):
            self.input_prngs.append(Prng(master.next()))
            self.envs.append(None)
            if p in self._sessionless:
                self.sessions.append(None)
                continue
            self.sessions.append(self._new_session(p))
        self.input = input or default_input
        self.tick_counts = [0] * num_players
        self.results = [PlayerResult() for _ in range(num_players)]
        self.periods = tick_period_ms or [period] * num_players
        for p in range(num_players):
            if p not in self._sessionless:
                self._schedule_ticks(p, (start_at or [0] * num_players)[p])

    def _new_session(self, p: int, **extra: Any) -> Any:
        env = self._make_env(p)
        self.envs[p] = env
        ps = self._player_settings
        kwargs = dict(env=env, transport=_LinkTransport(self, p), local_player=p, num_players=self.num_players,
                      shared_seed=self.shared_seed,
                      settings={**self.settings, **(ps[p] or {})} if ps else self.settings,
                      now=self.clock.now,
                      wall_clock=lambda: EPOCH_MS + self.clock.now(), path=dict(SIMULATED_PATH), **extra)
        if self.ai_seats:
            kwargs["ai_seats"] = self.ai_seats
        if self.hosted_seats:
            kwargs["hosted_seats"] = self.hosted_seats
        return self._make_session(**kwargs) if self._make_session else P2PSession(**kwargs)

    def _send(self, frm: int, to: int, data: bytes) -> None:
        self.stats.sent_bytes[frm] += len(data)
        if not self.alive[frm] or (frm, to) in self.blocked:
            return
        inc = self.incarnation[to]
        for t in self.links[(frm, to)].schedule(self.clock.now(), len(data)):
            self.clock.at(t, lambda to=to, data=data: self._deliver(to, frm, data, inc))

    def _deliver(self, to: int, frm: int, data: bytes, inc: int | None = None) -> None:
        if not self.alive[to] or (inc is not None and self.incarnation[to] != inc):
            return
        self.stats.delivered += 1
        if self.measure:
            t0 = time.perf_counter()
            self.sessions[to].receive(frm, data)
            self.engine_s += time.perf_counter() - t0
        else:
            self.sessions[to].receive(frm, data)

    def _schedule_ticks(self, p: int, t0: float) -> None:
        inc = self.incarnation[p]

        def begin() -> None:
            if not self.alive[p] or self.incarnation[p] != inc:
                return
            self.sessions[p].start()
            loop(0)

        def loop(k: int) -> None:
            self.clock.at(t0 + k * self.periods[p], lambda: one(k))

        def one(k: int) -> None:
            if not self.alive[p] or self.incarnation[p] != inc:
                return
            s = self.sessions[p]
            if s.state == "closed":
                return
            for seat in getattr(s, "local_hosted", ()):
                assert self.hosted is not None, "a game with hosted seats needs hosted=..."
                s.set_hosted_action(seat, self.hosted(seat, self.tick_counts[p], self.input_prngs[seat], self._last_action, s))
            a = self.input(p, self.tick_counts[p], self.input_prngs[p], self._last_action, s)
            self.tick_counts[p] += 1
            # Key events for the input log (sim.mjs does the same): a change of action is a key
            # up and a key down.
            held = self._keyed.get(p, 0)
            if a != held:
                if held != 0:
                    s.note_key(f"a{held}", False)
                if a != 0:
                    s.note_key(f"a{a}", True)
                self._keyed[p] = a
            if self.measure:
                t1 = time.perf_counter()
                r = s.tick(a)
                self.engine_s += time.perf_counter() - t1
            else:
                r = s.tick(a)
            if r.advanced:
                s.note_displayed(r.frame)
            res = self.results[p]
            if r.advanced:
                res.advanced += 1
            elif r.status == "stalled":
                res.stalled += 1
            elif r.status == "waiting":
                res.waiting += 1
            res.stall_run = res.stall_run + 1 if r.status == "stalled" else 0
            res.max_stall_run = max(res.max_stall_run, res.stall_run)
            loop(k + 1)

        self.clock.at(t0, begin)

    def run(self, ms: float, stop: Callable[[], bool] | None = None) -> bool:
        return self.clock.run(ms, stop)

    def run_to_end(self, max_ms: float) -> bool:
        """Run until every live session is closed (or ``max_ms`` virtual ms passed)."""
        return self.clock.run(max_ms, lambda: all(s is None or not self.alive[i] or s.state == "closed"
                                                  for i, s in enumerate(self.sessions)))

    def block(self, frm: int, to: int, both: bool = False) -> None:
        self.blocked.add((frm, to))
        if both:
            self.blocked.add((to, frm))

    def unblock(self, frm: int, to: int, both: bool = False) -> None:
        self.blocked.discard((frm, to))
        if both:
            self.blocked.discard((to, frm))

    def kill(self, p: int) -> None:
        """Peer ``p`` vanishes without a BYE: it sends and receives nothing more."""
        self.alive[p] = False

    def reload(self, p: int, down_ms: float = 2000, bye: bool = True, nonce: int | None = None) -> Any:
        """Player ``p``'s page reloads now (sim.mjs ``reload``): the old session says BYE(away)
        (unless ``bye`` is False), it is gone for ``down_ms``, then a new session rejoins
        (``rejoin=True``, a fresh environment). Returns the old session."""
        old = self.sessions[p]
        if bye:
            old.close(6)  # ByeReason.AWAY
        self.alive[p] = False
        self.incarnation[p] += 1
        back = self.clock.now() + down_ms

        def come_back() -> None:
            self.alive[p] = True
            extra: dict[str, Any] = {"rejoin": True}
            if nonce is not None:
                extra["nonce"] = nonce
            self.sessions[p] = self._new_session(p, **extra)
            self._schedule_ticks(p, back)

        self.clock.at(back, come_back)
        return old

    def inject(self, to: int, frm: int, data: bytes, t: float | None = None) -> None:
        def go() -> None:
            self.stats.injected += 1
            self.sessions[to].receive(frm, data)

        self.clock.at(self.clock.now() if t is None else t, go)


def create_game(**kwargs: Any) -> Game:
    return Game(**kwargs)


def confirmed_rows(record: Mapping[str, Any]) -> list[str]:
    """Confirmed rows as ``"frame:a0,a1:hash"`` strings (sim.mjs ``confirmedRows``)."""
    out = []
    for ep in record["episodes"]:
        for f, actions, h in ep["frames"]:
            out.append(f"{f}:{','.join(str(a) for a in actions)}:{'null' if h is None else h}")
    return out
