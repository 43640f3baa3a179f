"""Frame pacing on the participant's screen: two headless Chromium participants play a game
through the real server and the embedded TURN relay; each page records, on every animation
frame, whether a new game frame is on screen. The table gives the interval between new game
frames on screen (p50/p99, ms; the target is 1000/fps), the game frames never shown (the
screen skipped them), the intervals over twice the target (visible stutter), and from each
export the engine's side: rollbacks, stalled ticks (prediction window full: waiting for the
other page) and re-simulated frames per frame.

    python benchmarks/frame_pacing.py [--frames 600] [--games gem_rush,kitchen,kitchen3ms] [--rtt 0,150]

RTT comes from the scene's seeded impairment shim (half the RTT each way). Gem Rush is the
demo (docs/client.md), Kitchen the 2-chef Overcooked-like example, kitchen3ms the same with
about 3 ms of extra work per step. Keys are pressed on both
pages throughout, so predictions are sometimes wrong and rollbacks happen.
Run it with nothing else heavy on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(1, str(REPO / "tests"))  # harness imports tests/waiting.py

from harness.game import read_json, start_game_server, start_pair, wait_for_files  # noqa: E402
from harness.session import BrowserSession  # noqa: E402

GAMES: dict[str, tuple[str, dict[str, Any], list[list[str]]]] = {
    "gem_rush": ("interactive_gym_p2p.examples.demo:build_stager", {"num_episodes": 1},
                 [["ArrowRight", "ArrowDown", "ArrowLeft", "ArrowUp"], ["ArrowLeft", "ArrowUp", "ArrowRight", "ArrowDown"]]),
    "kitchen": ("interactive_gym_p2p.examples.kitchen:build_stager", {"num_players": 2},
                [["ArrowRight", " ", "ArrowLeft", " "], ["ArrowLeft", " ", "ArrowDown", " "]]),
    # Kitchen with KitchenEnv(work=10000): about 3 ms per step+save+hash in Pyodide (node, this
    # machine), an environment "whose step costs milliseconds".
    "kitchen3ms": ("interactive_gym_p2p.examples.kitchen:build_stager", {"num_players": 2, "work": 10000},
                   [["ArrowRight", " ", "ArrowLeft", " "], ["ArrowLeft", " ", "ArrowDown", " "]]),
}

# Runs in the page once the game plays: on every animation frame, note when the newest game
# frame (window.p2p.frame) changed since the last one.
PROBE = """() => {
  const log = [];
  window.__pace = log;
  let last = null;
  const loop = (t) => {
    const p = window.p2p;
    if (p && p.frame !== last && Number.isInteger(p.frame)) { log.push([t, p.frame]); last = p.frame; }
    if (!p || p.phase === 'playing') requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
}"""


def pacing(log: list[list[float]], fps: int) -> dict[str, float]:
    period = 1000 / fps
    shown = [(t, f) for t, f in log]
    intervals = [b[0] - a[0] for a, b in zip(shown, shown[1:]) if b[1] > a[1]]
    skipped = sum(b[1] - a[1] - 1 for a, b in zip(shown, shown[1:]) if b[1] > a[1] + 1)
    q = statistics.quantiles(intervals, n=100) if len(intervals) >= 2 else [float("nan")] * 99
    return {"p50": statistics.median(intervals) if intervals else float("nan"), "p99": q[98],
            "skipped": skipped, "stutter": sum(1 for i in intervals if i > 2 * period), "shown": len(shown)}


async def play(game: str, frames: int, rtt: int, workdir: Path) -> list[dict[str, Any]]:
    experiment, kwargs, keys = GAMES[game]
    impairment = {"delay_ms": rtt // 2, "seed": 7} if rtt else None
    tag = f"{game}-{rtt}"
    server = start_game_server(workdir / tag, {**kwargs, "max_steps": frames, "ice_transport_policy": "relay",
                                               "impairment": impairment}, experiment=experiment)
    try:
        async with BrowserSession(f"bench-{tag}", workdir / "artifacts") as session:
            pair = await start_pair(session, server, tag)
            await asyncio.gather(*(p.page.evaluate(PROBE) for p in pair))
            game_id = await pair[0].page.evaluate("() => window.p2p.gameId")
            await asyncio.gather(*(p.press_keys_while_playing(keys[i], frames_per_key=8, timeout_s=frames / 30 * 4 + 60)
                                   for i, p in enumerate(pair)))
            logs = await asyncio.gather(*(p.page.evaluate("() => window.__pace") for p in pair))
        folder = server.game_dir(game_id)
        files = [folder / f"player-{i}.json" for i in range(2)]
        wait_for_files(files, 60, "exports")
        rows = []
        for log, f in zip(logs, files):
            st = read_json(f)["stats"]
            # The engine's side: re-simulated frames per frame played, and ticks it could not advance.
            rows.append({**pacing(log, 30), "rollbacks": st["rollbacks"], "stalled": st["stalled_frames"],
                         "resim": st["frames_simulated"] / max(1, frames) - 1})
        return rows
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=600, help="frames of the one episode (30 fps)")
    parser.add_argument("--games", default=",".join(GAMES))
    parser.add_argument("--rtt", default="0,150", help="comma-separated RTTs in ms (the impairment shim)")
    args = parser.parse_args()
    print(f"{'game':<10} {'rtt ms':>6} {'player':>6} {'p50 ms':>7} {'p99 ms':>7} {'skipped':>8} {'>2x':>5} {'shown':>6} "
          f"{'rollbacks':>9} {'stalled':>8} {'resim/f':>8}")
    with tempfile.TemporaryDirectory(prefix="p2p-pacing-") as tmp:
        for game in args.games.split(","):
            for rtt in (int(r) for r in args.rtt.split(",")):
                rows = asyncio.run(play(game, args.frames, rtt, Path(tmp)))
                for i, r in enumerate(rows):
                    print(f"{game:<10} {rtt:>6} {i:>6} {r['p50']:>7.1f} {r['p99']:>7.1f} {r['skipped']:>8} "
                          f"{r['stutter']:>5} {r['shown']:>6} {r['rollbacks']:>9} {r['stalled']:>8} {r['resim']:>8.2f}",
                          flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
