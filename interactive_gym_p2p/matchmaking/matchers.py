"""Matchers: which waiting participants form the next game.

A matcher sees a :class:`MatchView` (the matchable waiters of one scene's waiting room, oldest
first, each with its server RTT, and the pairs that must never play together) and returns a
:class:`Decision`: a group of candidate keys, or none, with the reason and the RTTs it
weighed. It decides only; forming the game, probing and logging happen around it. Nothing
here does I/O or keeps state, so every matcher is tested alone on hand-made views.

- :class:`FifoMatcher`: arrival order (today's behaviour), skipping pairs that must not meet.
- :class:`LatencyFifoMatcher`: the oldest waiter that can be served anchors the game; its
  partners are the compatible waiters with the lowest estimated RTT (ties: arrival order).
- :class:`CallableMatcher`: a researcher's function ``view -> keys | None``, checked.

What the server RTTs tell about the peer-to-peer RTT of two waiters: their sum is the RTT of
a path relayed by a TURN server next to the signaling server, and an upper bound (by the
triangle inequality, roughly) for a direct path; their difference is a lower bound for any
path. Without a probe a pair is compatible when the sum is within the limit (whatever path
the game takes, it is then within); with a probe a pair is proposed unless the lower bound
is already over the limit (two far-away participants close to each other may still have a
fast direct path), and the probe decides.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol, Sequence

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    """One matchable waiter as a matcher sees it."""

    key: str
    """Unique key of the waiter (its slot: ``scene/visit/subject``)."""
    subject_id: str
    waited_s: float
    """Seconds since the participant first entered this scene's waiting room."""
    server_rtt_ms: float | None
    """Median RTT to the server on its signaling socket; None: not measured yet."""
    excluded: frozenset[str] = frozenset()
    """Subject ids this waiter must never be grouped with (a failed game or probe together)."""
    requeues: int = 0
    """Times this waiter was put back after a failed connection."""


def pair_key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def estimate_rtt_ms(a: Candidate, b: Candidate) -> float | None:
    """Estimated peer-to-peer RTT: the sum of both RTTs to the server (None if one is unknown).
    The RTT through a TURN relay beside the server; an upper bound for a direct path."""
    if a.server_rtt_ms is None or b.server_rtt_ms is None:
        return None
    return a.server_rtt_ms + b.server_rtt_ms


def lower_bound_rtt_ms(a: Candidate, b: Candidate) -> float | None:
    """The difference of both RTTs to the server: no path between them is faster."""
    if a.server_rtt_ms is None or b.server_rtt_ms is None:
        return None
    return abs(a.server_rtt_ms - b.server_rtt_ms)


@dataclass(frozen=True)
class MatchView:
    """One waiting room as the matcher sees it."""

    scene_id: str
    players: int
    """Players per game."""
    candidates: tuple[Candidate, ...]
    """Matchable waiters, oldest first (waiters in a probe or awaiting a bot are left out)."""
    max_p2p_rtt_ms: int | None = None
    """The scene's limit."""
    waiting_total: int = 0
    """Everyone in the room, matchable or not."""
    probing: bool = False
    """A probe will measure the group before it forms (then only the lower bound rules a pair out)."""
    slack_ms: float = 0.0
    """Allowance for measurement noise on the lower bound (``rtt_slack_ms``)."""

    def by_key(self) -> dict[str, Candidate]:
        return {c.key: c for c in self.candidates}

    def allowed(self, a: Candidate, b: Candidate) -> bool:
        """May these two ever play together (no failed game or probe between them)?"""
        return a.subject_id not in b.excluded and b.subject_id not in a.excluded and a.subject_id != b.subject_id

    def within_limit(self, a: Candidate, b: Candidate) -> bool:
        """May this pair be proposed under ``max_p2p_rtt_ms``? Without probing: the sum of the
        server RTTs is within; with probing: the lower bound is not over (plus the slack).
        Unknown RTTs count as within."""
        limit = self.max_p2p_rtt_ms
        if limit is None:
            return True
        if self.probing:
            low = lower_bound_rtt_ms(a, b)
            return low is None or low <= limit + self.slack_ms
        est = estimate_rtt_ms(a, b)
        return est is None or est <= limit


@dataclass(frozen=True)
class WeighedPair:
    """One pair a matcher looked at, for the decision log."""

    a: str
    b: str
    estimated_ms: float | None
    """Sum of the server RTTs (relay path; upper bound of a direct one)."""
    lower_ms: float | None
    """Difference of the server RTTs (lower bound of any path)."""
    allowed: bool
    within_limit: bool

    def to_dict(self) -> dict[str, Any]:
        est = None if self.estimated_ms is None else round(self.estimated_ms, 1)
        low = None if self.lower_ms is None else round(self.lower_ms, 1)
        return {"a": self.a, "b": self.b, "estimated_ms": est, "lower_ms": low, "allowed": self.allowed,
                "within_limit": self.within_limit}


@dataclass(frozen=True)
class Decision:
    """A matcher's answer: a group (candidate keys) or None, and why."""

    group: tuple[str, ...] | None
    reason: str
    weighed: tuple[WeighedPair, ...] = field(default=())


class Matcher(Protocol):
    name: str

    def decide(self, view: MatchView) -> Decision: ...


def _weigh(view: MatchView, a: Candidate, others: Iterable[Candidate]) -> list[WeighedPair]:
    return [
        WeighedPair(a.subject_id, b.subject_id, estimate_rtt_ms(a, b), lower_bound_rtt_ms(a, b), view.allowed(a, b),
                    view.within_limit(a, b))
        for b in others
    ]


class FifoMatcher:
    """First come, first served: the oldest waiters that may play together."""

    name = "fifo"

    def decide(self, view: MatchView) -> Decision:
        need = view.players
        if len(view.candidates) < need:
            return Decision(None, f"{len(view.candidates)} matchable of {need} needed")
        for i, anchor in enumerate(view.candidates):
            group = [anchor]
            for other in view.candidates[i + 1 :]:
                if all(view.allowed(member, other) for member in group):
                    group.append(other)
                    if len(group) == need:
                        weighed = _weigh(view, anchor, group[1:])
                        return Decision(tuple(c.key for c in group), "oldest waiters", tuple(weighed))
        return Decision(None, "no group without a pair that already failed together")


class LatencyFifoMatcher:
    """The oldest waiter that can be served anchors; partners by lowest estimated RTT.

    A pair is compatible when it may play together and ``view.within_limit`` holds (unknown
    RTTs count as compatible). A waiter younger than ``rtt_wait_s`` without a server RTT is
    held back until its first measurement arrives.
    """

    name = "latency_fifo"

    def __init__(self, rtt_wait_s: float = 2.0) -> None:
        self.rtt_wait_s = rtt_wait_s

    def decide(self, view: MatchView) -> Decision:
        need = view.players
        ready = [c for c in view.candidates if c.server_rtt_ms is not None or c.waited_s >= self.rtt_wait_s]
        if len(ready) < need:
            held = len(view.candidates) - len(ready)
            extra = f" ({held} still being measured)" if held else ""
            return Decision(None, f"{len(ready)} matchable of {need} needed{extra}")
        all_weighed: list[WeighedPair] = []
        for anchor in ready:
            others = [c for c in ready if c is not anchor]
            weighed = _weigh(view, anchor, others)
            all_weighed.extend(weighed)

            def order(c: Candidate) -> tuple[float, float]:
                est = estimate_rtt_ms(anchor, c)
                # Unknown estimates go after known ones; arrival order breaks ties.
                return (float("inf") if est is None else est, -c.waited_s)

            group = [anchor]
            for other in sorted(others, key=order):
                if all(view.allowed(m, other) and view.within_limit(m, other) for m in group):
                    group.append(other)
                    if len(group) == need:
                        rtts = [estimate_rtt_ms(anchor, c) for c in group[1:]]
                        known = [r for r in rtts if r is not None]
                        how = f"estimated RTT {max(known):.0f} ms" if known else "RTT unknown"
                        return Decision(tuple(c.key for c in group), f"oldest servable waiter; {how}", tuple(weighed))
        limit = f"within {view.max_p2p_rtt_ms} ms " if view.max_p2p_rtt_ms is not None else ""
        return Decision(None, f"no group {limit}among {len(ready)} waiters", tuple(all_weighed))


class CallableMatcher:
    """A researcher's matcher: ``fn(view) -> sequence of candidate keys | None``.

    Called under signaling's lock: keep it fast, no I/O. A result that names unknown or
    duplicate keys, the wrong number of players, or two waiters that must not meet is refused
    (logged) and treated as "no match".
    """

    def __init__(self, fn: Callable[[MatchView], Sequence[str] | None]) -> None:
        self.fn = fn
        self.name = "callable:" + getattr(fn, "__qualname__", type(fn).__name__)

    def decide(self, view: MatchView) -> Decision:
        try:
            out = self.fn(view)
        except Exception as exc:
            logger.exception("matcher %s failed on scene %s", self.name, view.scene_id)
            return Decision(None, f"matcher raised {type(exc).__name__}: {exc}")
        if out is None:
            return Decision(None, "matcher chose nobody")
        if isinstance(out, Decision):
            keys = out.group
            if keys is None:
                return out
        else:
            keys = tuple(out) if isinstance(out, (list, tuple)) else None
        problem = self._problem(view, keys)
        if problem is not None:
            logger.error("matcher %s on scene %s: %s", self.name, view.scene_id, problem)
            return Decision(None, f"refused the matcher's group: {problem}")
        assert keys is not None
        by_key = view.by_key()
        anchor = by_key[keys[0]]
        weighed = tuple(_weigh(view, anchor, [by_key[k] for k in keys[1:]]))
        reason = out.reason if isinstance(out, Decision) else "chosen by the researcher's matcher"
        return Decision(tuple(keys), reason, weighed)

    @staticmethod
    def _problem(view: MatchView, keys: Any) -> str | None:
        if keys is None or not all(isinstance(k, str) for k in keys):
            return f"expected a list of candidate keys, got {keys!r}"
        if len(keys) != view.players:
            return f"a game needs {view.players} players, got {len(keys)}"
        by_key = view.by_key()
        unknown = [k for k in keys if k not in by_key]
        if unknown:
            return f"unknown candidate keys {unknown}"
        if len(set(keys)) != len(keys):
            return f"duplicate keys {list(keys)}"
        members = [by_key[k] for k in keys]
        for i, a in enumerate(members):
            for b in members[i + 1 :]:
                if not view.allowed(a, b):
                    return f"{a.subject_id} and {b.subject_id} must not play together (they failed before)"
        return None


def make_matcher(spec: str | Callable[..., Any], rtt_wait_s: float = 2.0) -> Matcher:
    """The matcher a scene's ``matchmaking(matcher=...)`` names."""
    if spec == "fifo":
        return FifoMatcher()
    if spec == "latency_fifo":
        return LatencyFifoMatcher(rtt_wait_s)
    if hasattr(spec, "decide") and hasattr(spec, "name"):
        return spec  # type: ignore[return-value]
    if callable(spec):
        return CallableMatcher(spec)
    raise ValueError(f"unknown matcher {spec!r}")
