"""Signaling load: many simulated participants joining at once, matched into 2-player games.

Starts the real server (``python -m interactive_gym_p2p.cli``, eventlet by default) in its
own process for each level, connects N python-socketio AsyncClients over loopback to the
signaling namespace, then has all of them send ``join`` at once and records, per client,
the time from sending ``join`` to receiving ``game_ready``. Prints a table:

    python benchmarks/signaling_load.py                  # 100, 500, 1000 participants
    python benchmarks/signaling_load.py --levels 200 --async-mode threading

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
import statistics
import subprocess
import sys
import tempfile
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
    participants: int
    connected: int
    connect_s: float
    ready: int
    matches_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    errors: int


def start_server(workdir: Path, port: int, secret: str, async_mode: str) -> subprocess.Popen:
    return start_cli_server(workdir, port, secret, ["--async-mode", async_mode, "--data-dir", str(workdir / "data")])


async def run_level(url: str, tickets: SignalingTickets, n: int, timeout_s: float, connect_concurrency: int) -> LevelResult:
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
                await client.connect(url, namespaces=["/p2p"], transports=["websocket"],
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
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args()

    secret = secrets.token_hex(32)
    tickets = SignalingTickets(derive_secret(secret.encode(), "signaling-ticket"))
    results: list[LevelResult] = []
    with tempfile.TemporaryDirectory(prefix="p2p-load-") as tmp:
        workdir = Path(tmp)
        (workdir / "experiment.py").write_text(EXPERIMENT)
        for n in args.levels:
            port = free_port()
            proc = start_server(workdir, port, secret, args.async_mode)
            try:
                result = asyncio.run(run_level(f"http://127.0.0.1:{port}", tickets, n, args.level_timeout, args.connect_concurrency))
            finally:
                stop_server(proc)
            results.append(result)
            print(f"  level {n}: done", file=sys.stderr, flush=True)

    print(f"\nsignaling load ({args.async_mode} server, 2-player scene, all joins sent at once; {os.cpu_count()} CPUs shared)")
    header = f"{'participants':>12} {'connected':>9} {'connect s':>9} {'ready':>6} {'matches/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>6}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r.participants:>12} {r.connected:>9} {r.connect_s:>9.1f} {r.ready:>6} {r.matches_per_s:>10.1f} "
              f"{r.p50_ms:>8.1f} {r.p99_ms:>8.1f} {r.max_ms:>8.1f} {r.errors:>6}")
    if args.json:
        print(json.dumps([r.__dict__ for r in results]))
    return 0 if all(r.ready == r.participants - r.participants % 2 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
