"""Validation export ingestion: uploads/s and MB/s on loopback with concurrent uploaders.

    python benchmarks/export_ingest.py [--uploads 100] [--concurrency 50] [--max-seconds 120]
                                       [--server werkzeug|eventlet|both]

Generates a 10-minute 60 fps two-player game (36 000 confirmed frames per export; prints its
size raw and gzip'd), starts the real validation server (``validation.standalone``) on
127.0.0.1 with a fresh data directory, and has N threads upload exports of distinct games
(every upload a new file: parse, token, schema, write + fsync, comparison when the pair is
complete), then the same exports again (idempotent duplicates), then one uploader alone.
Bounded: each scenario stops at --uploads or --max-seconds, whichever comes first.
Also prints where the server's CPU goes for one export (measured in this process).
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from interactive_gym_p2p.validation.compare import compare_exports  # noqa: E402
from interactive_gym_p2p.validation.sample import make_game_exports  # noqa: E402
from interactive_gym_p2p.validation.schema import parse_json, reference_schema_problems, schema_problems, consistency_problems  # noqa: E402
from interactive_gym_p2p.validation.storage import canonical_digest  # noqa: E402
from interactive_gym_p2p.validation.tokens import UploadTokens  # noqa: E402

SECRET = os.urandom(32)
FRAMES = 10 * 60 * 60  # 10 minutes at 60 fps


def start_server(data_dir: Path, kind: str) -> tuple[subprocess.Popen, int]:
    env = {**os.environ, "IGP2P_UPLOAD_SECRET": SECRET.hex(), "PYTHONPATH": str(ROOT)}
    env.pop("IGP2P_RESEARCHER_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "interactive_gym_p2p.validation.standalone", "--data-dir", str(data_dir), "--port", "0", "--server", kind],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
    )
    line = proc.stdout.readline()  # blocks until the server prints its port (or exits)
    match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"server did not start: {line!r}")
    return proc, int(match.group(1))


def body_for(template: bytes, game: int) -> bytes:
    # The template's game id is "bench-000000": same length, so one replace makes a new game.
    return template.replace(b'"game_id":"bench-000000"', f'"game_id":"bench-{game:06d}"'.encode(), 1)


def run_scenario(port: int, templates: list[bytes], subjects: list[str], games: range, concurrency: int, max_uploads: int, max_seconds: float) -> dict:
    tokens = UploadTokens(SECRET)
    jobs = [(g, p) for g in games for p in range(len(templates))][:max_uploads]
    lock = threading.Lock()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sent_bytes = [0]
    next_job = [0]
    deadline = time.monotonic() + max_seconds

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=max_seconds + 60)
        while True:
            with lock:
                if next_job[0] >= len(jobs) or time.monotonic() > deadline:
                    break
                game, player = jobs[next_job[0]]
                next_job[0] += 1
            body = body_for(templates[player], game)
            token = tokens.issue(f"bench-{game:06d}", player, subjects[player])
            t0 = time.perf_counter()
            try:
                conn.request("POST", f"/p2p/exports/bench-{game:06d}/{player}", body=body,
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=max_seconds + 60)
                status = 0
            elapsed = time.perf_counter() - t0
            with lock:
                latencies.append(elapsed)
                statuses[status] = statuses.get(status, 0) + 1
                sent_bytes[0] += len(body)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    latencies.sort()
    n = len(latencies)
    return {
        "uploads": n,
        "statuses": statuses,
        "wall": wall,
        "rate": n / wall if wall else 0.0,
        "mbps": sent_bytes[0] / wall / 1e6 if wall else 0.0,
        "p50": latencies[n // 2] * 1000 if n else float("nan"),
        "p95": latencies[min(n - 1, int(n * 0.95))] * 1000 if n else float("nan"),
    }


def timed(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--uploads", type=int, default=100, help="uploads per concurrent scenario (default 100 = 50 games)")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--max-seconds", type=float, default=120.0, help="time cap per scenario")
    parser.add_argument("--server", choices=("werkzeug", "eventlet", "both"), default="both")
    args = parser.parse_args()

    subjects = ["subject-a", "subject-b"]
    docs = make_game_exports("bench-000000", subject_ids=tuple(subjects), frames_per_episode=FRAMES, fps=60)
    templates = [json.dumps(d, separators=(",", ":")).encode() for d in docs]
    raw = len(templates[0])
    gz = len(gzip.compress(templates[0], compresslevel=6))
    print(f"export of one player, 10 min at 60 fps ({FRAMES} confirmed frames, 2 players):")
    print(f"  raw {raw / 1e6:.2f} MB ({raw / FRAMES:.1f} bytes/frame), gzip -6 {gz / 1e6:.2f} MB ({gz / raw:.0%})\n")

    doc = docs[0]
    print("server CPU per export (this process, best of 3):")
    print(f"  {'step':<34}{'ms':>9}")
    for name, fn in [
        ("json parse (strict)", lambda: parse_json(templates[0])),
        ("schema check (jsonschema-rs)", lambda: schema_problems(doc)),
        ("consistency rules", lambda: consistency_problems(doc)),
        ("canonical digest (dedupe)", lambda: canonical_digest(doc)),
        ("compare the pair", lambda: compare_exports(docs)),
    ]:
        print(f"  {name:<34}{timed(fn):>9.1f}")
    print(f"  {'schema check (jsonschema, ref.)':<34}{timed(lambda: reference_schema_problems(doc), 1):>9.1f}\n")

    kinds = ["werkzeug", "eventlet"] if args.server == "both" else [args.server]
    rows = []
    for kind in kinds:
        with tempfile.TemporaryDirectory(prefix="ingest-") as tmp:
            proc, port = start_server(Path(tmp) / "data", kind)
            try:
                games = range(args.uploads // 2 + 1)
                new = run_scenario(port, templates, subjects, games, args.concurrency, args.uploads, args.max_seconds)
                dup = run_scenario(port, templates, subjects, games, args.concurrency, args.uploads, args.max_seconds)
                single = run_scenario(port, templates, subjects, range(10_000, 10_010), 1, 20, args.max_seconds)
                stored = sum(1 for _ in (Path(tmp) / "data" / "games").glob("*/player-*.json"))
                comparisons = sum(1 for _ in (Path(tmp) / "data" / "games").glob("*/comparison.json"))
            finally:
                proc.terminate()
                proc.wait(timeout=30)
            rows += [
                (kind, f"new exports, {args.concurrency} uploaders", new),
                (kind, f"duplicates, {args.concurrency} uploaders", dup),
                (kind, "new exports, 1 uploader", single),
            ]
            print(f"[{kind}] files stored: {stored} exports, {comparisons} comparison reports")
    print()
    header = f"{'server':<9}{'scenario':<28}{'uploads':>8}{'HTTP status':>16}{'wall s':>8}{'uploads/s':>10}{'MB/s':>8}{'p50 ms':>9}{'p95 ms':>9}"
    print(header)
    print("-" * len(header))
    for kind, name, r in rows:
        codes = ",".join(f"{k}x{v}" for k, v in sorted(r["statuses"].items()))
        print(f"{kind:<9}{name:<28}{r['uploads']:>8}{codes:>16}{r['wall']:>8.1f}{r['rate']:>10.1f}{r['mbps']:>8.1f}{r['p50']:>9.0f}{r['p95']:>9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
