"""Matching quality: FIFO vs latency-aware FIFO on the same arrival trace, side by side.

The real matchmaking code (``signaling.Signaling`` with its matchers, probes, timeouts and
in-memory store) is driven on a virtual clock by a seeded population, so a run takes seconds
and every configuration sees exactly the same participants at exactly the same times:

- arrivals: a Poisson process (``--rate`` per minute for ``--minutes``);
- where they are: points on a plane in ms of one-way latency from the server (the server at
  the origin): ``--near`` share of a cluster around the server, the rest in a far cluster and
  scattered points (the mixture of a study recruiting on two continents);
- their RTT to the server, as the server measures it on the socket: ``2 * distance + base``
  plus a seeded jitter per sample (one sample on arrival and one per second, as the server
  pings); the peer-to-peer RTT of a pair on a direct path: ``2 * distance(a, b) + base``
  (what the games would play at); a probe measures that (plus jitter) and takes ``--probe-s``;
- a participant waits at most ``--wait-timeout`` seconds (policy leave).

Per configuration it prints the games formed, the mean and p95 RTT of those games (their
direct-path RTT), the share above the limit, the mean and p95 wait of matched participants,
timeouts, and the error of the sum-of-server-RTTs estimate against the true RTT of the pairs
it was computed for (mean error; it over-estimates direct paths by the triangle inequality).

    python benchmarks/matchmaking_quality.py
    python benchmarks/matchmaking_quality.py --rate 6 --minutes 60 --max-rtt 150 --seed 3
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from interactive_gym_p2p.signaling import InMemoryStore, Signaling, Slot  # noqa: E402
from interactive_gym_p2p.signaling.messages import GameRef, ProbeReport  # noqa: E402
from server_harness import make_scene  # noqa: E402  (the tests' small experiment)

BASE_MS = 8.0
"""Fixed part of any RTT (access links, stacks)."""
SWEEP_S = 0.2


@dataclass
class Person:
    sid: str
    subject: str
    arrival: float
    x: float
    y: float
    matched_at: float | None = None
    timed_out: bool = False

    def server_rtt(self) -> float:
        return 2 * math.hypot(self.x, self.y) + BASE_MS


def true_rtt(a: Person, b: Person) -> float:
    return 2 * math.hypot(a.x - b.x, a.y - b.y) + BASE_MS


def population(args: argparse.Namespace) -> list[Person]:
    rng = random.Random(args.seed)
    t, people = 0.0, []
    while True:
        t += rng.expovariate(args.rate / 60.0)
        if t > args.minutes * 60:
            return people
        u = rng.random()
        if u < args.near:
            x, y = rng.gauss(0, 12), rng.gauss(0, 12)  # around the server
        elif u < args.near + (1 - args.near) * 0.7:
            x, y = rng.gauss(110, 15), rng.gauss(30, 15)  # the far cluster
        else:
            angle, r = rng.uniform(0, 2 * math.pi), rng.uniform(20, 160)
            x, y = r * math.cos(angle), r * math.sin(angle)
        i = len(people)
        people.append(Person(f"s{i}", f"p{i}", t, x, y))


class Wire:
    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, str]] = []

    def emit(self, event: str, payload: Any, sid: str) -> None:
        self.sent.append((event, payload, sid))


@dataclass
class Outcome:
    name: str
    games: list[tuple[Person, Person, float]] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    timeouts: int = 0
    estimate_errors: list[float] = field(default_factory=list)
    probes: int = 0
    rejected: int = 0


def run(name: str, people: list[Person], args: argparse.Namespace, **matchmaking: Any) -> Outcome:
    scene = make_scene("game", wait_timeout_s=args.wait_timeout)
    if matchmaking:
        scene.matchmaking(**matchmaking)
    rules = scene.signaling_rules()
    clock = [0.0]
    wire = Wire()
    signaling = Signaling({"game": rules}, store=InMemoryStore(), transport=wire, clock=lambda: clock[0],
                          rng=random.Random(args.seed))
    by_sid = {p.sid: Person(**{**p.__dict__}) for p in people}
    noise = random.Random(args.seed + 1)
    out = Outcome(name)
    original_run = signaling._run

    def counted(body: Any) -> Any:
        result = original_run(body)
        for d in result.decisions:
            out.probes += d["event"] == "probe_start"
            out.rejected += d["event"] == "probe_rejected"
        return result

    signaling._run = counted  # type: ignore[method-assign]
    pending_probes: list[tuple[float, str, dict[str, Any]]] = []
    arrivals = sorted(by_sid.values(), key=lambda p: p.arrival)
    next_arrival, seen, t = 0, 0, 0.0
    end = args.minutes * 60 + args.wait_timeout + 5
    last_ping: dict[str, float] = {}

    def sample(person: Person) -> None:
        signaling.rtt_sample(person.sid, max(1.0, person.server_rtt() + noise.gauss(0, args.jitter)))
        last_ping[person.sid] = clock[0]

    while t <= end:
        clock[0] = t
        while next_arrival < len(arrivals) and arrivals[next_arrival].arrival <= t:
            p = arrivals[next_arrival]
            next_arrival += 1
            signaling.connect(p.sid, Slot(p.subject, "game", 1))
            signaling.join(p.sid)
            sample(p)
        for sid in signaling.waiting_sids():
            if t - last_ping.get(sid, -10) >= 1.0:
                sample(by_sid[sid])
        for due, sid, report in [x for x in pending_probes if x[0] <= t]:
            pending_probes.remove((due, sid, report))
            signaling.probe_result(sid, ProbeReport(report["probe_id"], report["rtt_ms"], None, None))
        signaling.sweep()
        fresh = wire.sent[seen:]
        probes: dict[str, list[tuple[int, str]]] = {}
        for event, payload, sid in fresh:
            if event == "probe":
                probes.setdefault(payload["probe_id"], []).append((payload["player_index"], sid))
        for probe_id, members in probes.items():
            for index, sid in members:
                me = by_sid[sid]
                measured = {other_index: [max(1.0, true_rtt(me, by_sid[other]) + noise.gauss(0, args.jitter)) for _ in range(5)]
                            for other_index, other in members if other != sid}
                pending_probes.append((t + args.probe_s, sid, {"probe_id": probe_id, "rtt_ms": measured}))
        for event, payload, sid in fresh:
            person = by_sid[sid]
            if event == "game_ready" and person.matched_at is None:
                person.matched_at = t
                out.waits.append(t - person.arrival)
                if payload["player_index"] == 0:
                    partner = next(by_sid[s] for e, pl, s in fresh
                                   if e == "game_ready" and pl["game_id"] == payload["game_id"] and s != sid)
                    out.games.append((person, partner, true_rtt(person, partner)))
                    out.estimate_errors.append(person.server_rtt() + partner.server_rtt() - true_rtt(person, partner))
            elif event == "wait_timeout":
                person.timed_out = True
                out.timeouts += 1
        for event, payload, sid in fresh:
            if event == "game_ready" and payload["player_index"] == 0:
                for s in [s for e, pl, s in fresh if e == "game_ready" and pl["game_id"] == payload["game_id"]]:
                    signaling.finished(s, GameRef(payload["game_id"]))
        seen = len(wire.sent)
        t = round(t + SWEEP_S, 6)
    return out


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=4.0, help="arrivals per minute (default 4)")
    ap.add_argument("--minutes", type=float, default=90.0, help="length of the arrival trace (default 90)")
    ap.add_argument("--near", type=float, default=0.6, help="share of arrivals near the server (default 0.6)")
    ap.add_argument("--max-rtt", type=int, default=150, help="max_p2p_rtt_ms of the limited configurations (default 150)")
    ap.add_argument("--wait-timeout", type=float, default=180.0, help="waiting-room timeout in s (default 180)")
    ap.add_argument("--probe-s", type=float, default=1.5, help="how long a probe takes (default 1.5 s)")
    ap.add_argument("--jitter", type=float, default=3.0, help="sd of RTT measurement noise in ms (default 3)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    people = population(args)
    configs = [
        ("fifo", {}),
        ("latency_fifo", {"matcher": "latency_fifo"}),
        (f"fifo + probe <={args.max_rtt}", {"max_p2p_rtt_ms": args.max_rtt}),
        (f"latency_fifo <={args.max_rtt} (est.)", {"matcher": "latency_fifo", "max_p2p_rtt_ms": args.max_rtt, "probe": False}),
        (f"latency_fifo <={args.max_rtt} + probe", {"matcher": "latency_fifo", "max_p2p_rtt_ms": args.max_rtt}),
    ]
    print(f"{len(people)} arrivals over {args.minutes:g} min ({args.rate:g}/min), {args.near:.0%} near the server, "
          f"wait timeout {args.wait_timeout:g} s, seed {args.seed}")
    header = ("matcher", "games", "rtt mean", "rtt p95", f">{args.max_rtt}ms", "wait mean", "wait p95", "timeouts",
              "probes", "rejected", "est. err")
    rows = []
    for name, mm in configs:
        o = run(name, people, args, **mm)
        rtts = [g[2] for g in o.games]
        above = sum(r > args.max_rtt for r in rtts)
        rows.append((
            name, str(len(o.games)),
            f"{statistics.fmean(rtts):.0f} ms" if rtts else "-", f"{pct(rtts, 0.95):.0f} ms" if rtts else "-",
            f"{above / len(rtts):.0%}" if rtts else "-",
            f"{statistics.fmean(o.waits):.0f} s" if o.waits else "-", f"{pct(o.waits, 0.95):.0f} s" if o.waits else "-",
            str(o.timeouts), str(o.probes), str(o.rejected),
            f"+{statistics.fmean(o.estimate_errors):.0f} ms" if o.estimate_errors else "-",
        ))
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(c.rjust(w) for c, w in zip(r, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
