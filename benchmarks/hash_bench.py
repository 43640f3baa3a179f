"""Cost of one state hash in Python (interactive_gym_p2p.hashing), small and large game state.

    python benchmarks/hash_bench.py [--rounds N]

The states come from ``make_game_state``, a seeded generator that benchmarks/hash_bench.mjs
mirrors call for call, so both scripts hash the SAME states and print the same hashes
(tests/vectors/hashing.json pins them). Prints median and p95 microseconds per hash.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # runnable from a checkout without installing the package
    sys.path.insert(0, str(ROOT))

MASK32 = 0xFFFFFFFF
KINDS = ["gem", "rock", "door", "slime"]
# (name, players, entities): about 1 KB and about 100 KB of canonical JSON.
SIZES = [("small", 2, 4), ("large", 4, 790)]
SEED = 20240611


class XorShift32:
    """Tiny seeded PRNG whose integer steps are identical in JavaScript (hash_bench.mjs)."""

    def __init__(self, seed: int) -> None:
        self.x = (seed & MASK32) or 1

    def next(self) -> int:
        x = self.x
        x ^= (x << 13) & MASK32
        x ^= x >> 17
        x ^= (x << 5) & MASK32
        self.x = x
        return x

    def float(self) -> float:
        return self.next() / 4294967296

    def int(self, n: int) -> int:
        return self.next() % n


def make_game_state(players: int, entities: int, seed: int = SEED) -> dict[str, Any]:
    """A representative env state: nested dicts/lists, long and short floats, ints, strings."""
    rng = XorShift32(seed)
    # Each value is drawn in source order; hash_bench.mjs draws in exactly the same order.
    state: dict[str, Any] = {
        "frame": 3600 + rng.int(1000),
        "episode": 3,
        "done": False,
        "level": {"name": "arena-2", "width": 640, "height": 480, "gravity": 9.81, "friction": 0.125},
        "players": [],
        "entities": [],
        "events": [],
    }
    for i in range(players):
        player: dict[str, Any] = {"id": i, "name": f"player-{i}"}
        player["x"] = rng.float() * 640
        player["y"] = rng.float() * 480
        player["vx"] = (rng.float() - 0.5) * 4
        player["vy"] = (rng.float() - 0.5) * 4
        player["score"] = rng.int(500)
        player["alive"] = True
        player["action"] = rng.int(5)
        player["inventory"] = {"gems": rng.int(10), "keys": rng.int(3)}
        state["players"].append(player)
    for i in range(entities):
        entity: dict[str, Any] = {"id": i, "kind": KINDS[rng.int(4)]}
        entity["x"] = rng.float() * 640
        entity["y"] = rng.float() * 480
        entity["hp"] = rng.int(400) / 4
        entity["angle"] = rng.float() * 6.283185307179586
        entity["active"] = rng.int(2) == 1
        entity["tags"] = [f"t{rng.int(9)}" for _ in range(rng.int(3))]
        state["entities"].append(entity)
    for _ in range(max(1, entities // 10)):
        state["events"].append({"frame": rng.int(3600), "type": "pickup", "who": rng.int(max(1, players))})
    return state


def _percentile(sorted_values: list[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def measure(state: Any, rounds: int) -> tuple[float, float]:
    from interactive_gym_p2p.hashing import state_hash

    for _ in range(min(rounds, 50)):  # warm-up
        state_hash(state)
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        state_hash(state)
        samples.append((time.perf_counter_ns() - t0) / 1000)
    samples.sort()
    return statistics.median(samples), _percentile(samples, 0.95)


def main(argv: list[str] | None = None) -> int:
    from interactive_gym_p2p.hashing import canonicalize, state_hash

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=0, help="hashes per state (default: 2000 small, 200 large)")
    args = parser.parse_args(argv)
    print(f"python {sys.version.split()[0]}  interactive_gym_p2p.hashing.state_hash")
    print(f"{'state':<7} {'canonical bytes':>15} {'median us':>10} {'p95 us':>10}  hash")
    for name, players, entities in SIZES:
        state = make_game_state(players, entities)
        size = len(canonicalize(state).encode("utf-8"))
        rounds = args.rounds or (2000 if size < 10_000 else 200)
        median, p95 = measure(state, rounds)
        print(f"{name:<7} {size:>15} {median:>10.1f} {p95:>10.1f}  {state_hash(state)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
