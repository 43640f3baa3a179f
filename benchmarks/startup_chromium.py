"""Start-up: from "partner found" to the first frame, before and after loading early.

    python benchmarks/startup_chromium.py [--games 10] [--read-s 5] [--modes before,after]

Two headless Chromium participants (each its own browser context, so nothing is cached
between games, like two first-time participants) open the real demo experiment served by the
real server (embedded TURN relay). Each reads the start page for ``--read-s`` seconds before
clicking on; the first then waits, the second is matched at once. ``partner found`` is
game_ready arriving at the page, ``first frame`` is frame 0 being simulated
(``window.p2p.times``); ``ready`` is when the game could start (the countdown's first tick, or
frame 0 without a countdown).

- before: ``ServerConfig(preload_environment=False)`` and ``countdown_s=0``: Pyodide and the
  environment load when the game scene starts, the game starts as soon as both are connected;
- after: the defaults: the first game's environment loads while the participant reads the
  start page, and a 3-2-1 countdown (3 s) lined up across both pages precedes frame 0.

Prints, per mode, p50/p95 over the games of: partner found -> ready, partner found -> first
frame (both for the participant matched last, who waited least), the gap between the two
pages' first frames, and how the early load went.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(1, str(REPO / "tests"))  # harness imports tests/waiting.py

from harness.game import LOAD_TIMEOUT_S, open_participant, start_game_server  # noqa: E402
from harness.session import BrowserSession  # noqa: E402

MODES = {
    "before": {"preload": False, "kwargs": {"countdown_s": 0}},
    "after": {"preload": True, "kwargs": {}},
}


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def one_game(session: BrowserSession, url: str, tag: str, read_s: float) -> list[dict[str, Any]]:
    pages = []
    for i in range(2):
        p = await open_participant(session, url, i, f"{tag}-{i}")
        await p.wait("p.phase === 'scene'", LOAD_TIMEOUT_S, "start page")
        await asyncio.sleep(read_s)  # the participant reads the start page
        await p.page.click("#advanceButton")
        if i == 0:
            await p.wait("p.phase === 'waiting' || p.phase === 'loading'", LOAD_TIMEOUT_S, "waiting room")
        pages.append(p)
    snaps = []
    for p in pages:
        snaps.append(await p.wait("p.times && p.times.first_frame !== null", LOAD_TIMEOUT_S + 30, "first frame"))
    for p in pages:
        await p.wait("['done', 'partner_left'].includes(p.phase)", 120, "game over")
    for p in pages:
        await p.page.context.close()
    return [s["p2p"] for s in snaps]


async def run_mode(mode: str, games: int, read_s: float, workdir: Path) -> list[list[dict[str, Any]]]:
    spec = MODES[mode]
    server = start_game_server(workdir / mode, {"num_episodes": 1, "max_steps": 30, "ice_transport_policy": "relay",
                                                **spec["kwargs"]}, preload=spec["preload"])
    out = []
    try:
        async with BrowserSession(f"bench-startup-{mode}", workdir / "artifacts") as session:
            for g in range(games):
                out.append(await one_game(session, server.url, f"{mode}{g}", read_s))
                p = out[-1][1]
                t = p["times"]
                print(f"  {mode} game {g + 1}: found->first frame {t['first_frame'] - t['partner_found']} ms "
                      f"(preload {p.get('preload')})", file=sys.stderr, flush=True)
    finally:
        server.stop()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--games", type=int, default=10)
    ap.add_argument("--read-s", type=float, default=5.0, help="seconds each participant reads the start page")
    ap.add_argument("--modes", default="before,after")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="p2p-startup-bench-") as tmp:
        for mode in args.modes.split(","):
            games = asyncio.run(run_mode(mode, args.games, args.read_s, Path(tmp)))
            last = [g[1] for g in games]  # the participant matched last
            ready = [(p["times"]["countdown"] or p["times"]["first_frame"]) - p["times"]["partner_found"] for p in last]
            first = [p["times"]["first_frame"] - p["times"]["partner_found"] for p in last]
            gap = [abs(g[0]["times"]["first_frame"] - g[1]["times"]["first_frame"]) for g in games]
            preload = sorted({str((p.get("preload") or {}).get("status")) for g in games for p in g})
            rows.append((mode, ready, first, gap, preload))
    print(f"{len(rows and rows[0][1])} games per mode, {args.read_s:g} s reading the start page; ms, p50 / p95")
    print(f"{'mode':<7} {'found->ready':>15} {'found->first frame':>19} {'first-frame gap':>16}  early load")
    for mode, ready, first, gap, preload in rows:
        print(f"{mode:<7} {pct(ready, .5):>7.0f} /{pct(ready, .95):>6.0f} {pct(first, .5):>10.0f} /{pct(first, .95):>6.0f} "
              f"{pct(gap, .5):>8.0f} /{pct(gap, .95):>5.0f}  {','.join(preload)}")
        print(f"        mean found->first frame {statistics.mean(first):.0f} ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
