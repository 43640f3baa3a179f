"""Research tables: build time and peak memory for a 10-minute 60 fps two-player game, and the
export bytes per frame that the per-frame step data and the input log cost.

    python benchmarks/data_tables.py [--frames 36000] [--size-frames 2700]

1. Size: a real Gem Rush game (two Python peers over a 60 ms / 5 % loss simulated link, the
   demo's record_info=["score"], key events for every change of action), exported by the
   engine's export builder; compact JSON as the browser uploads it. "before" is the same
   export without the new fields (rewards, flags, infos, end_reason, inputs).
2. Build: a synthetic schema-valid export of --frames frames (validation/sample.py, step data
   and key events included) per player, stored in an export store; the tables are built from
   the store (frames, inputs, episodes, events, players, participants), written as CSV (and
   Parquet with pyarrow), then loaded with load().
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from interactive_gym_p2p.data.files import parquet_available, write_tables  # noqa: E402
from interactive_gym_p2p.data.study import study_tables  # noqa: E402
from interactive_gym_p2p.validation.sample import make_game_exports  # noqa: E402
from interactive_gym_p2p.validation.storage import ExportStore  # noqa: E402

NEW_EPISODE_KEYS = ("rewards", "terminated", "truncated", "infos", "end_reason")


def compact(doc: dict) -> int:
    return len(json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode())


def size_table(frames: int) -> None:
    from data_helpers import gem_rush_exports

    episodes = 2
    docs = gem_rush_exports("size-1", episodes=episodes, max_steps=frames // episodes,
                            link={"delay_ms": 60, "jitter_ms": 20, "loss": 0.05})
    doc = docs[0]
    old = json.loads(json.dumps(doc))
    for ep in old["episodes"]:
        for k in NEW_EPISODE_KEYS:
            ep.pop(k, None)
    old.pop("inputs", None)
    n = sum(len(e["frames"]) for e in doc["episodes"])
    base = {k: v for k, v in old.items() if k != "episodes"}
    base["episodes"] = []
    fixed = compact(base)
    before, after = compact(old), compact(doc)
    rewards = sum(len(e["rewards"]) for e in doc["episodes"])
    infos = sum(len(e["infos"]) for e in doc["episodes"])
    print(f"Export size, real Gem Rush game ({n} confirmed frames, 2 players, record_info=['score'],"
          f" {len(doc['inputs'])} key events, {rewards} reward rows, {infos} info rows)")
    print(f"  {'':<34}{'bytes':>10}{'bytes/frame':>14}")
    print(f"  {'before (frames and hashes only)':<34}{before:>10}{(before - fixed) / n:>14.1f}")
    print(f"  {'after (+ step data, key events)':<34}{after:>10}{(after - fixed) / n:>14.1f}")
    print(f"  growth per frame: {(after - fixed) / (before - fixed):.3f}x (goal: under 2x)\n")


def build_table(frames: int) -> None:
    docs = make_game_exports("bench-1", frames_per_episode=frames, fps=60)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        store = ExportStore(root / "exports")
        for d in docs:
            store.store_export(json.dumps(d).encode())
        size = sum(p.stat().st_size for p in (root / "exports" / "games" / "bench-1").glob("player-*.json"))
        print(f"Tables of a {frames}-frame two-player game ({frames / 60 / 60:.0f} min at 60 fps; exports {size / 1e6:.1f} MB,"
              f" {len(docs[0]['inputs'])} key events per player)")
        print(f"  {'step':<50}{'wall s':>8}{'CPU s':>8}{'peak MB':>9}{'max gap ms':>12}")
        tables_dir = root / "exports" / "games" / "bench-1" / "tables"

        def measure(label: str, fn, before=None, paused=True):  # type: ignore[no-untyped-def]
            # Timed without tracemalloc (it slows allocation-heavy code several times), then
            # run again under tracemalloc for the peak. "max gap": the longest stretch between
            # two pause() calls, i.e. how long the server's eventlet hub is held at once.
            if before:
                before()
            gaps = [0.0]
            last = [time.perf_counter()]

            def pause() -> None:
                now = time.perf_counter()
                gaps[0] = max(gaps[0], now - last[0])
                last[0] = now

            t0, c0 = time.perf_counter(), time.process_time()
            out = fn(pause)
            dt, ct = time.perf_counter() - t0, time.process_time() - c0
            gaps[0] = max(gaps[0], time.perf_counter() - last[0])
            if before:
                before()
            tracemalloc.start()
            fn(lambda: None)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            gap = f"{gaps[0] * 1000:>12.0f}" if paused else f"{'-':>12}"
            print(f"  {label:<50}{dt:>8.2f}{ct:>8.2f}{peak / 1e6:>9.1f}{gap}")
            return out

        def uncache() -> None:
            shutil.rmtree(tables_dir, ignore_errors=True)

        tables = measure("build the tables (first time, cached beside)", lambda pause: study_tables(root, pause=pause),
                         before=uncache)
        measure("build again (from the game's cached CSV)", lambda pause: study_tables(root, pause=pause))
        print("  rows: " + ", ".join(f"{k} {len(t.rows)}" for k, t in tables.items()))
        measure("write CSV", lambda pause: write_tables(tables, Path(tmp) / "csv", ["csv"]), paused=False)
        if parquet_available():
            measure("write Parquet", lambda pause: write_tables(tables, Path(tmp) / "pq", ["parquet"]), paused=False)
        csv_mb = sum(p.stat().st_size for p in (Path(tmp) / "csv").glob("*.csv")) / 1e6
        print(f"  CSV files: {csv_mb:.1f} MB" + (
            f", Parquet: {sum(p.stat().st_size for p in (Path(tmp) / 'pq').glob('*.parquet')) / 1e6:.1f} MB"
            if parquet_available() else ""))
        try:
            from interactive_gym_p2p.data import load

            measure("load() the CSV folder (pandas)", lambda pause: load(Path(tmp) / "csv"), paused=False)
            if parquet_available():
                measure("load() the Parquet folder (pandas)", lambda pause: load(Path(tmp) / "pq"), paused=False)
        except ImportError:
            print("  (pandas not installed: load() not measured)")
        from interactive_gym_p2p.data.study import write_study_zip

        buf = io.BytesIO()
        def study_zip(pause):  # type: ignore[no-untyped-def]
            buf.seek(0)
            buf.truncate()
            return write_study_zip(root, buf, pause=pause)

        measure("study zip (tables + exports, the server's route)", study_zip)
        print(f"  study zip: {len(buf.getvalue()) / 1e6:.1f} MB\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=36000, help="frames of the built game (default 36000 = 10 min at 60 fps)")
    ap.add_argument("--size-frames", type=int, default=2700, help="frames of the real game for the size measurement")
    args = ap.parse_args()
    size_table(args.size_frames)
    build_table(args.frames)


if __name__ == "__main__":
    main()
