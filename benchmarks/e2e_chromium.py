"""End-to-end figures from real play: two headless Chromium participants play the demo
(Gem Rush in Pyodide) through the real server, signaling and embedded TURN relay, under
several seeded impairment conditions; the table comes from the exports the server stored.

    python benchmarks/e2e_chromium.py [--frames 900] [--conditions clean,80ms-5%,150ms-10%]

Needs what the e2e tests need (Debian chromium, node_modules/pyodide). Keys are pressed on
both pages throughout (tests/e2e/harness), so predictions are sometimes wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(1, str(REPO / "tests"))  # harness imports tests/waiting.py

from harness.game import play_to_end, read_json, start_game_server, start_pair, wait_for_files  # noqa: E402
from harness.session import BrowserSession  # noqa: E402

CONDITIONS: dict[str, dict[str, Any] | None] = {
    "clean": None,
    "80ms-5%": {"delay_ms": 80, "loss": 0.05, "seed": 1},
    "150ms-10%": {"delay_ms": 150, "jitter_ms": 20, "loss": 0.10, "seed": 2},
}


async def play(frames: int, impairment: dict[str, Any] | None, tag: str, workdir: Path) -> list[dict[str, Any]]:
    server = start_game_server(workdir / tag, {"num_episodes": 1, "max_steps": frames,
                                               "ice_transport_policy": "relay", "impairment": impairment})
    try:
        async with BrowserSession(f"bench-{tag}", workdir / "artifacts") as session:
            pair = await start_pair(session, server, tag)
            snaps = await play_to_end(pair, timeout_s=frames / 30 * 4 + 60)
        game_id = snaps[0]["p2p"]["gameId"]
        folder = server.game_dir(game_id)
        wait_for_files([folder / "player-0.json", folder / "player-1.json", folder / "comparison.json"], 30, "exports")
        exports = [read_json(folder / f"player-{i}.json") for i in range(2)]
        report = read_json(folder / "comparison.json")
        return [{**ex["stats"], "timing": ex["timing"], "agree": report["agree"]} for ex in exports]
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=900, help="frames in the one episode (30 fps)")
    parser.add_argument("--conditions", default=",".join(CONDITIONS), help="comma-separated: " + ", ".join(CONDITIONS))
    args = parser.parse_args()
    print(f"{'condition':<11} {'player':>6} {'rtt p50':>8} {'rtt p95':>8} {'rollbacks':>9} {'max depth':>9} "
          f"{'mispred':>8} {'stalled':>8} {'fps':>6} {'B/s sent':>9} {'agree':>6}")
    with tempfile.TemporaryDirectory(prefix="p2p-e2e-bench-") as tmp:
        for name in args.conditions.split(","):
            rows = asyncio.run(play(args.frames, CONDITIONS[name], name.replace("%", "pct"), Path(tmp)))
            for i, s in enumerate(rows):
                duration = s["timing"]["duration_s"] or 1
                print(f"{name:<11} {i:>6} {s['rtt_ms']['p50']:>8} {s['rtt_ms']['p95']:>8} {s['rollbacks']:>9} "
                      f"{s['max_rollback_depth']:>9} {s['mispredicted_frames']:>8} {s['stalled_frames']:>8} "
                      f"{s['timing']['fps_achieved']:>6} {round(s['bytes_sent'] / duration):>9} {str(s['agree']):>6}",
                      flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
