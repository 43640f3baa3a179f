"""Signaling load: many simulated participants joining at once, matched into 2-player games.

Starts the real server (``python -m interactive_gym_p2p.cli``, eventlet by default) in its
own process for each level, connects N python-socketio AsyncClients over loopback to the
signaling namespace, then has all of them send ``join`` at once and records, per client,
the time from sending ``join`` to receiving ``game_ready``. Prints a table:

    python benchmarks/signaling_load.py                  # 100, 500, 1000 participants
    python benchmarks/signaling_load.py --levels 200 --async-mode threading
    python benchmarks/signaling_load.py --processes 1 2 4 --levels 500

``--processes`` runs each level once per number of server processes, all sharing one
``redis-server`` (started by the benchmark on a free port, no persistence): participant
``i`` connects to process ``i % P``, so most pairs are matched across processes (their
events go through Redis). The row ``1 (no Redis)`` is the single process with its
in-memory store, for comparison.

Numbers include the client side: all simulated participants share one asyncio loop in one
process, on the same machine as the server. Bounded in time: each level gives up after
``--level-timeout`` seconds and reports what it has.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import socketio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from interactive_gym_p2p.server.config import derive_secret  # noqa: E402
from interactive_gym_p2p.signaling.tickets import SignalingTickets  # noqa: E402
from _cli_server import free_port, start_cli_server, stop_server  # noqa: E402  (benchmarks/ is sys.path[0] when run as a script)

EXPERIMENT = '''
from interactive_gym.scenes.stager import Stager
from interactive_gym.scenes.static_scene import EndScene, StartScene
from interactive_gym_p2p import P2PGymScene

ENV = """
class Env:
    def reset(self, seed=None, options=None): self.t = 0
    def step(self, actions): self.t += 1
    def get_state(self): return {"t": self.t}
    def set_state(self, s): self.t = s["t"]
env = Env()
"""
game = (P2PGymScene().scene(scene_id="load").pyodide(environment_initialization_code=ENV)
        .gameplay(default_action=0).p2p(players=2, wait_timeout_s=3600))
stager = Stager(scenes=[StartScene().scene(scene_id="start"), game, EndScene().scene(scene_id="end")])
'''


@dataclass
class LevelResult:
    processes: str
    participants: int
    connected: int
    connect_s: float
    ready: int
    matches_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int


def start_server(workdir: Path, port: int, secret: str, async_mode: str, redis_url: str | None = None) -> subprocess.Popen:
    extra = ["--async-mode", async_mode, "--data-dir", str(workdir / "data"), "--turn", "none"]
    if redis_url is not None:
        extra += ["--redis", redis_url]
    return start_cli_server(workdir, port, secret, extra)


class RedisServer:
    """A redis-server of the benchmark's own: a free port, no persistence, a temp folder."""

    def __init__(self, folder: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit("--processes needs redis-server (Debian package redis-server)")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(folder), "--loglevel", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)  # polling the new process with a deadline
        raise SystemExit("redis-server did not start")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def flush(self) -> None:
        subprocess.run(["redis-cli", "-p", str(self.port), "flushall"], check=True, capture_output=True)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


async def run_level(urls: list[str], tickets: SignalingTickets, n: int, timeout_s: float, connect_concurrency: int,
                    processes: str) -> LevelResult:
    loop = asyncio.get_running_loop()
    ready_at: dict[int, float] = {}
    join_at: dict[int, float] = {}
    all_ready = asyncio.Event()
    errors = 0
    clients: list[socketio.AsyncClient] = []

    def make_client(i: int) -> socketio.AsyncClient:
        client = socketio.AsyncClient(reconnection=False)

        async def on_ready(data: dict) -> None:
            ready_at.setdefault(i, loop.time())
            if len(ready_at) >= n - (n % 2):
                all_ready.set()

        client.on("game_ready", on_ready, namespace="/p2p")
        return client

    gate = asyncio.Semaphore(connect_concurrency)

    async def connect(i: int) -> bool:
        client = make_client(i)
        clients.append(client)
        async with gate:
            try:
                await client.connect(urls[i % len(urls)], namespaces=["/p2p"], transports=["websocket"],
                                     auth={"ticket": tickets.issue(f"load{i:05d}", "load", 1)}, wait_timeout=30)
                return True
            except Exception:
                return False

    t0 = loop.time()
    connected_flags = await asyncio.wait_for(asyncio.gather(*(connect(i) for i in range(n))), timeout=timeout_s)
    connect_s = loop.time() - t0
    connected = [c for c, ok in zip(clients, connected_flags) if ok]
    index_of = {id(c): i for i, c in enumerate(clients)}

    async def join(client: socketio.AsyncClient) -> None:
        nonlocal errors
        i = index_of[id(client)]
        join_at[i] = loop.time()
        try:
            await client.emit("join", {}, namespace="/p2p")
        except Exception:
            errors += 1

    await asyncio.gather(*(join(c) for c in connected))
    try:
        await asyncio.wait_for(all_ready.wait(), timeout=timeout_s)
    except asyncio.TimeoutError:
        pass
    latencies = sorted((ready_at[i] - join_at[i]) * 1000 for i in ready_at if i in join_at)
    span = (max(ready_at.values()) - min(join_at.values())) if ready_at else float("nan")
    await asyncio.gather(*(c.disconnect() for c in connected), return_exceptions=True)

    def pct(p: float) -> float:
        if not latencies:
            return float("nan")
        return latencies[min(len(latencies) - 1, int(round(p / 100 * (len(latencies) - 1))))]

    return LevelResult(
        processes=processes,
        participants=n,
        connected=len(connected),
        connect_s=connect_s,
        ready=len(ready_at),
        matches_per_s=(len(ready_at) / 2) / span if ready_at and span > 0 else float("nan"),
        p50_ms=statistics.median(latencies) if latencies else float("nan"),
        p99_ms=pct(99),
        max_ms=latencies[-1] if latencies else float("nan"),
        errors=errors + (n - len(connected)),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--levels", type=int, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--async-mode", default="eventlet", choices=["eventlet", "threading"])
    parser.add_argument("--level-timeout", type=float, default=120.0, help="seconds per level for connecting, and again for matching")
    parser.add_argument("--connect-concurrency", type=int, default=50)
    parser.add_argument("--processes", type=int, nargs="+", default=None,
                        help="numbers of server processes sharing one redis-server (e.g. 1 2 4); "
                        "a single process without Redis is measured too")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args()

    secret = secrets.token_hex(32)
    tickets = SignalingTickets(derive_secret(secret.encode(), "signaling-ticket"))
    results: list[LevelResult] = []
    setups: list[tuple[str, int, bool]] = [("1", 1, False)]
    if args.processes:
        setups = [("1 (no Redis)", 1, False)] + [(str(p), p, True) for p in args.processes]
    with tempfile.TemporaryDirectory(prefix="p2p-load-") as tmp:
        workdir = Path(tmp)
        (workdir / "experiment.py").write_text(EXPERIMENT)
        redis_server = RedisServer(workdir) if args.processes else None
        try:
            for n in args.levels:
                for label, count, shared in setups:
                    if redis_server is not None:
                        redis_server.flush()  # each run starts from an empty study
                    redis_url = redis_server.url if shared and redis_server is not None else None
                    ports = [free_port() for _ in range(count)]
                    procs: list[subprocess.Popen] = []
                    try:
                        for port in ports:
                            procs.append(start_server(workdir, port, secret, args.async_mode, redis_url))
                        urls = [f"http://127.0.0.1:{port}" for port in ports]
                        result = asyncio.run(run_level(urls, tickets, n, args.level_timeout, args.connect_concurrency, label))
                    finally:
                        for proc in procs:
                            stop_server(proc)
                    results.append(result)
                    print(f"  level {n}, processes {label}: done", file=sys.stderr, flush=True)
        finally:
            if redis_server is not None:
                redis_server.stop()

    print(f"\nsignaling load ({args.async_mode} server, 2-player scene, all joins sent at once; {os.cpu_count()} CPUs shared)")
    header = f"{'processes':>12} {'participants':>12} {'connected':>9} {'connect s':>9} {'ready':>6} {'matches/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>6}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r.processes:>12} {r.participants:>12} {r.connected:>9} {r.connect_s:>9.1f} {r.ready:>6} {r.matches_per_s:>10.1f} "
              f"{r.p50_ms:>8.1f} {r.p99_ms:>8.1f} {r.max_ms:>8.1f} {r.errors:>6}")
    if args.json:
        print(json.dumps([r.__dict__ for r in results]))
    return 0 if all(r.ready == r.participants - r.participants % 2 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
