"""Reload to playing again: two headless Chromium participants play the demo (Gem Rush in
Pyodide) through the real server and embedded TURN relay under the scene's seeded impairment;
player 0's page reloads at about frame 200 and the time until it plays again is measured.

    python benchmarks/rejoin_chromium.py [--runs 5] [--frames 450] [--reload-at 200] [--clean]

Each run is a new game (a new pair of participants, each in its own browser context). The reload
is Playwright's page.reload(), so Pyodide and the game's files come from the browser's cache, as
after a participant's own reload. Columns (seconds unless named):
  reload->playing  from page.reload() to the rejoined session going live (the export's
                   rejoins[0].caught_up_at; the game is on screen from then)
  ->rejoining      from page.reload() to "Rejoining your game..." on screen (the page polled)
  ->request        from page.reload() to the new session's first CATCHUP_REQUEST (rejoins[0]
                   .requested_at: after the page, its sockets and the WebRTC connection)
  transfer         the catch-up document's transfer (rejoins[0].transfer_s)
  replay           the re-simulation of every confirmed frame (rejoins[0].replay_s)
  frames, doc B    frames re-simulated, catch-up document bytes
then p50 and p95 of reload->playing over the runs (the goal is under 5 s).

Needs what the e2e tests need (Debian chromium, node_modules/pyodide). Run it with nothing else
heavy on the machine: it measures wall time on shared cores.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(1, str(REPO / "tests"))  # harness imports tests/waiting.py

from harness.game import (GAME_TIMEOUT_S, KEYS, LOAD_TIMEOUT_S, Participant, read_json, snapshot,  # noqa: E402
                          start_game_server, start_pair, wait_until)
from harness.session import BrowserSession  # noqa: E402

IMPAIRMENT = {"delay_ms": 80, "loss": 0.05, "seed": 20261201}


def iso_s(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


async def keys_until_over(p: Participant, keys: list[str]) -> None:
    try:
        await p.press_keys_while_playing(keys, timeout_s=GAME_TIMEOUT_S)
    except Exception:  # the page reloaded under it
        pass


async def one_run(session: BrowserSession, server: Any, tag: str, reload_at: int) -> dict[str, Any]:
    pair = await start_pair(session, server, tag)
    snaps = [await snapshot(p.page) for p in pair]
    i = next(k for k, s in enumerate(snaps) if s["p2p"]["playerIndex"] == 0)
    back, stay = pair[i], pair[1 - i]
    keys = asyncio.gather(keys_until_over(stay, KEYS[1]), keys_until_over(back, KEYS[0]))
    await back.wait(f"p.confirmedFrame >= {reload_at}", GAME_TIMEOUT_S, f"frame {reload_at} confirmed")
    t0 = time.time()
    await back.page.reload(wait_until="commit")
    await back.wait("p.phase === 'rejoining' || (p.rejoin && p.rejoin.phase === 'live')", LOAD_TIMEOUT_S, "rejoining screen")
    t_rejoining = time.time() - t0
    await back.wait("p.phase === 'playing' && p.rejoin && p.rejoin.phase === 'live'", LOAD_TIMEOUT_S, "back in the game")
    await keys
    await keys_until_over(back, KEYS[0])
    await asyncio.gather(*(p.finish() for p in pair))
    game_id = snaps[0]["p2p"]["gameId"]
    folder = server.game_dir(game_id)

    def final_export() -> dict[str, Any] | None:
        for path in sorted(folder.glob("player-0*.json")):
            doc = read_json(path)
            if not doc.get("partial") and doc.get("rejoins"):
                return doc
        return None

    export = wait_until(final_export, 30, "player 0's final export with its rejoin")
    report = wait_until(lambda: (folder / "comparison.json").exists() and read_json(folder / "comparison.json"), 30,
                        "comparison report")
    rj = export["rejoins"][0]
    for ctx in {p.page.context for p in pair}:
        await ctx.close()
    return {
        "playing": iso_s(rj["caught_up_at"]) - t0, "rejoining": t_rejoining,
        "request": iso_s(rj["requested_at"]) - t0, "transfer": rj["transfer_s"], "replay": rj["replay_s"],
        "frames": rj["frames"], "bytes": rj["bytes"], "agree": report.get("agree"), "complete": report.get("complete"),
    }


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, -(-len(ordered) * q // 100) - 1))
    return ordered[int(k)]


async def run(args: argparse.Namespace, workdir: Path) -> list[dict[str, Any]]:
    kwargs = {"num_episodes": 1, "max_steps": args.frames, "ice_transport_policy": "relay",
              "impairment": None if args.clean else IMPAIRMENT}
    server = start_game_server(workdir / "server", kwargs)
    out = []
    try:
        async with BrowserSession("bench-rejoin", workdir / "artifacts") as session:
            for n in range(args.runs):
                r = await one_run(session, server, f"rejoin{n}", args.reload_at)
                out.append(r)
                print(f"{n + 1:>3} {r['playing']:>15.2f} {r['rejoining']:>11.2f} {r['request']:>9.2f} {r['transfer']:>9.3f} "
                      f"{r['replay']:>7.3f} {r['frames']:>7} {r['bytes']:>7} {str(r['agree']):>6} {str(r['complete']):>8}",
                      flush=True)
    finally:
        server.stop()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--frames", type=int, default=450, help="frames in the game's one episode (30 fps)")
    parser.add_argument("--reload-at", type=int, default=200, help="player 0 reloads once this frame is confirmed")
    parser.add_argument("--clean", action="store_true", help="no impairment (default: 80 ms / 5 %% loss)")
    args = parser.parse_args()
    print(f"reload at frame {args.reload_at} of {args.frames}, {'clean' if args.clean else '80 ms / 5 % loss'}, relay")
    print(f"{'run':>3} {'reload->playing':>15} {'->rejoining':>11} {'->request':>9} {'transfer':>9} {'replay':>7} "
          f"{'frames':>7} {'doc B':>7} {'agree':>6} {'complete':>8}")
    with tempfile.TemporaryDirectory(prefix="p2p-rejoin-bench-") as tmp:
        rows = asyncio.run(run(args, Path(tmp)))
    playing = [r["playing"] for r in rows]
    print(f"reload->playing over {len(rows)} runs: p50 {statistics.median(playing):.2f} s, "
          f"p95 {percentile(playing, 95):.2f} s, max {max(playing):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
