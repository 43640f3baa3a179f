"""What the research console costs the server: CPU per telemetry report, per pushed snapshot,
per timeline request, and the memory a game's timeline holds.

    python benchmarks/console_cost.py [--games 100,500,1000] [--reports 20000]

Measured in this process on the real code (``console.report.parse_report``,
``console.service.Console`` with the in-memory store), without the network: a report is the
parse plus the aggregation, exactly what the ``telemetry`` handler adds to a Socket.IO event;
a snapshot is what the ``/p2p-console`` feed builds once per interval (2 s) for all open
consoles. Signaling's own part of the snapshot (reading waiting rooms and seats) is stood in
by a prepared view of the same size. Prints one table per measurement.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from interactive_gym_p2p.console.report import parse_report  # noqa: E402
from interactive_gym_p2p.console.service import Console  # noqa: E402
from interactive_gym_p2p.console.store import InMemoryConsoleStore  # noqa: E402
from interactive_gym_p2p.console.timeline import DEFAULT_MAX_POINTS  # noqa: E402
from interactive_gym_p2p.signaling.records import GameInfo, PlayerInfo  # noqa: E402


class View:
    """Signaling's snapshot of ``games`` two-player games and 20 waiters."""

    def __init__(self, games: int) -> None:
        self.view = {
            "waiting": [{"room": "fifo:game", "scene_id": "game", "group": False, "players_needed": 2,
                         "waiters": [{"subject_id": f"w{i}", "waited_s": 3.0, "remaining_s": 57.0, "rtt_ms": None} for i in range(20)]}],
            "games": [{"game_id": f"{g:016x}", "scene_id": "game", "created_at": "2025-01-01T00:00:00.000Z", "condition": None,
                       "seats": [{"player_index": i, "subject_id": f"s{g}-{i}", "state": "connected"} for i in range(2)]}
                      for g in range(games)],
        }

    def snapshot(self) -> dict[str, Any]:
        return self.view


def payload(game: int, player: int, seq: int) -> dict[str, Any]:
    return {"game_id": f"{game:016x}", "seq": seq, "frame": 60 * seq, "confirmed_frame": max(-1, 60 * seq - 3), "verified_frame": max(-1, 60 * seq - 5),
            "episode": 0, "state": "running", "rtt_ms": {str(1 - player): 40.0 + seq % 7}, "rollbacks": seq * 3,
            "max_rollback_depth": 4, "stalled_frames": seq // 5, "mispredicted_frames": seq * 4, "desyncs": 0,
            "first_desync_frame": None, "path_kind": "relay", "hidden": False, "hidden_s": 0.0}


def console_with(games: int, samples: int) -> Console:
    console = Console(View(games), InMemoryConsoleStore())
    for g in range(games):
        console.game_created(GameInfo(f"{g:016x}", "game", 1, (PlayerInfo(0, f"s{g}-0", None), PlayerInfo(1, f"s{g}-1", None)), {},
                                      "2025-01-01T00:00:00.000Z"))
        for seq in range(samples):
            for p in (0, 1):
                console.report(f"{g:016x}", p, parse_report(payload(g, p, seq)))
    return console


def per_report(n: int) -> None:
    games = 500
    console = console_with(games, 1)
    items = [(g, p, payload(g, p, 1 + i // (2 * games))) for i, (g, p) in enumerate((g, p) for _ in range(n // (2 * games) + 1)
                                                                                    for g in range(games) for p in (0, 1))][:n]
    t0 = time.perf_counter()
    for g, p, data in items:
        r = parse_report(data)
        console.report(r.game_id, p, r)
    dt = time.perf_counter() - t0
    us = dt / n * 1e6
    print("\ntelemetry report (parse + aggregate), 500 live games")
    print(f"{'reports':>10} {'us/report':>10} {'CPU share at 1000 players (500 reports/s)':>44}")
    print(f"{n:>10} {us:>10.1f} {us * 500 / 1e6 * 100:>43.2f}%")


def per_snapshot(game_counts: list[int]) -> None:
    print("\nsnapshot (one per push interval for all open consoles; players have reported)")
    print(f"{'games':>7} {'ms/snapshot':>12} {'ms/encode':>10} {'JSON KiB':>9} {'CPU share at one push per 2 s':>31}")
    for games in game_counts:
        console = console_with(games, 2)
        times = []
        encode = []
        for _ in range(7):
            t0 = time.perf_counter()
            snap = console.snapshot()
            t1 = time.perf_counter()
            body = json.dumps(snap)  # what Socket.IO does once per push
            encode.append(time.perf_counter() - t1)
            times.append(t1 - t0)
        ms = statistics.median(times) * 1000
        enc = statistics.median(encode) * 1000
        size = len(body) / 1024
        print(f"{games:>7} {ms:>12.2f} {enc:>10.2f} {size:>9.0f} {(ms + enc) / 2000 * 100:>30.2f}%")


def per_timeline() -> None:
    print("\none game's timeline, two players, an hour of reports (every 2 s) and three hours (merged)")
    print(f"{'hours':>6} {'samples/player':>15} {'ms/request':>11} {'JSON KiB':>9} {'memory KiB':>11}")
    for hours in (1, 3):
        samples = hours * 1800
        gc.collect()
        tracemalloc.start()
        console = console_with(1, samples)
        current, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        times = []
        for _ in range(5):
            t0 = time.perf_counter()
            tl = console.timeline(f"{0:016x}")
            body = json.dumps(tl)
            times.append(time.perf_counter() - t0)
        assert tl is not None
        kept = len(tl["players"][0]["t"])
        print(f"{hours:>6} {kept:>15} {statistics.median(times) * 1000:>11.2f} {len(body) / 1024:>9.0f} {current / 1024:>11.0f}")
    print(f"(a timeline holds at most {DEFAULT_MAX_POINTS} samples per player; memory includes the console's other records)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--games", default="100,500,1000", help="game counts for the snapshot table")
    ap.add_argument("--reports", type=int, default=20000)
    args = ap.parse_args()
    per_report(args.reports)
    per_snapshot([int(x) for x in args.games.split(",")])
    per_timeline()
    return 0


if __name__ == "__main__":
    sys.exit(main())
