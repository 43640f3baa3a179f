"""Key-to-screen latency in real Chromium, input delay 2 (the old default) against 'auto', side
by side: two headless Chromium participants play the demo (Gem Rush in Pyodide, 30 fps) through
the real server, signaling and embedded TURN relay on 127.0.0.1, with the scene's seeded
impairment adding RTT (half each way); the figures come from the exports the server stored
(stats.key_to_screen_ms: keydown to the animation frame after the first draw that includes the
press, docs/client.md). Then the node simulator's rollback depth and stalls for the same
settings (benchmarks/input_delay_bench.mjs).

    python benchmarks/key_to_screen_bench.py [--frames 600] [--rtts 0,80,150] [--sim-seconds 30]

Needs what the e2e tests need (Debian chromium, node_modules/pyodide). Run it under the shared
lock (flock /tmp/igp2p-heavy.lock ...): timings on a loaded machine say little. Keys are held
on both pages for 12 frames each, in turn (tests/e2e/harness), so each player makes a press
about every 0.4 s.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(1, str(REPO / "tests"))  # harness imports tests/waiting.py

from harness.game import play_to_end, read_json, start_game_server, start_pair, wait_for_files  # noqa: E402
from harness.session import BrowserSession  # noqa: E402

DELAYS: list[int | str] = [2, "auto"]


async def play(frames: int, rtt: int, delay: int | str, tag: str, workdir: Path) -> list[dict[str, Any]]:
    impairment = {"delay_ms": rtt // 2, "seed": 21} if rtt > 0 else None
    server = start_game_server(workdir / tag, {"num_episodes": 1, "max_steps": frames, "input_delay": delay,
                                               "ice_transport_policy": "relay", "impairment": impairment})
    try:
        async with BrowserSession(f"bench-{tag}", workdir / "artifacts") as session:
            pair = await start_pair(session, server, tag)
            snaps = await play_to_end(pair, timeout_s=frames / 30 * 4 + 60)
        folder = server.game_dir(snaps[0]["p2p"]["gameId"])
        wait_for_files([folder / "player-0.json", folder / "player-1.json", folder / "comparison.json"], 30, "exports")
        report = read_json(folder / "comparison.json")
        out = []
        for i in range(2):
            ex = read_json(folder / f"player-{i}.json")
            s = ex["stats"]
            hist = s["rollback_depth_histogram"]
            n = sum(hist.values())
            out.append({
                "delays": ex["episodes"][0]["input_delays"], "k2s": s["key_to_screen_ms"], "rtt": s["rtt_ms"],
                "mean_depth": sum(int(k) * v for k, v in hist.items()) / n if n else 0.0,
                "max_depth": s["max_rollback_depth"], "stall_pct": 100 * s["stalled_frames"] / max(1, frames),
                "agree": report["agree"],
            })
        return out
    finally:
        server.stop()


def fmt(v: Any, width: int) -> str:
    return f"{'-' if v is None else v:>{width}}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=600, help="frames in the one episode (30 fps; default 20 s)")
    parser.add_argument("--rtts", default="0,80,150", help="added RTT in ms, comma-separated")
    parser.add_argument("--sim-seconds", type=int, default=30, help="virtual seconds per simulator row")
    args = parser.parse_args()
    rtts = [int(r) for r in args.rtts.split(",")]
    print(f"Chromium, demo at 30 fps, relay on 127.0.0.1, {args.frames} frames per game; key-to-screen in ms "
          "(keydown -> animation frame after the first draw of its frame)")
    print(f"{'RTT+':>5} {'delay':>6} {'player':>6} {'used':>5} {'k2s p50':>8} {'k2s p95':>8} {'presses':>7} "
          f"{'rtt p50':>8} {'depth':>11} {'stall%':>7} {'agree':>6}", flush=True)
    with tempfile.TemporaryDirectory(prefix="p2p-k2s-bench-") as tmp:
        for rtt in rtts:
            for delay in DELAYS:
                rows = asyncio.run(play(args.frames, rtt, delay, f"k2s-{rtt}-{delay}", Path(tmp)))
                for i, r in enumerate(rows):
                    k = r["k2s"]
                    print(f"{rtt:>5} {delay!s:>6} {i:>6} {r['delays'][i]!s:>5} {fmt(k['p50'], 8)} {fmt(k['p95'], 8)} "
                          f"{k['samples']:>7} {fmt(r['rtt']['p50'], 8)} "
                          f"{r['mean_depth']:>5.2f} / {r['max_depth']:<3} {r['stall_pct']:>7.2f} {str(r['agree']):>6}",
                          flush=True)
    print()
    print("node simulator, the same settings (2 peers, window 8; benchmarks/input_delay_bench.mjs):", flush=True)
    sim = subprocess.run(["node", str(REPO / "benchmarks" / "input_delay_bench.mjs"), str(args.sim_seconds), "1",
                          args.rtts, "30"], cwd=REPO, capture_output=True, text=True, timeout=600)
    print(sim.stdout, end="")
    if sim.returncode != 0:
        print(sim.stderr, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
