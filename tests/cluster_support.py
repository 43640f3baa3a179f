"""Real server processes of one study (``interactive-gym-p2p --redis``) for the multi-process
tests: one redis-server (the ``redis_url`` fixture), a shared data directory, and a TURN server
all processes give out (the embedded one, standing in for coturn: shared-secret credentials)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from contextlib import contextmanager
from typing import Iterator

from interactive_gym_p2p.turn.embedded import EmbeddedTurn

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent
SECRET = "cluster-test-secret-0123456789abcdef"
TURN_SECRET = "cluster-test-turn-secret-0123456789"
RESEARCHER_TOKEN = "cluster-test-researcher-token"
"""The console is on (its live view of every game is in Redis: tests read players' frames there)."""
START_S = 60.0

EXPERIMENT = f'''
import sys
sys.path.insert(0, {str(TESTS)!r})
from peer_net_support import demo_stager, gem_rush_scene

stager = demo_stager(gem_rush_scene("gems", episodes=1, steps=60, reconnect_grace_s=30))
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    """Server processes of one study; ``start(n)`` returns their ports once all answer."""

    def __init__(self, folder: Path, redis_url: str, turn_urls: list[str], experiment: str = EXPERIMENT) -> None:
        self.folder = folder
        self.redis_url = redis_url
        self.turn_urls = turn_urls
        self.data_dir = folder / "data"
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        (folder / "experiment.py").write_text(experiment)

    def start(self, n: int, env: dict[str, str] | None = None) -> list[int]:
        """``env``: more environment variables for these processes (a test hook)."""
        env = {**os.environ, "IGP2P_RESEARCHER_TOKEN": RESEARCHER_TOKEN, "IGP2P_SECRET": SECRET, "IGP2P_TURN_SECRET": TURN_SECRET, "IGP2P_REDIS_URL": self.redis_url,
               "PYTHONPATH": str(ROOT), **(env or {})}
        ports = [_free_port() for _ in range(n)]
        for port in ports:
            args = [sys.executable, "-m", "interactive_gym_p2p.cli", str(self.folder / "experiment.py"), "--port", str(port),
                    "--data-dir", str(self.data_dir), "--turn", "external", "--log-level", "INFO"]
            for url in self.turn_urls:
                args += ["--turn-url", url]
            with open(self.folder / f"server-{port}.log", "wb") as log:
                self.procs[port] = subprocess.Popen(args, cwd=self.folder, env=env, stdout=log, stderr=subprocess.STDOUT)
        for port in ports:
            self._wait_ready(port)
        return ports

    def _wait_ready(self, port: int) -> None:
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if self.procs[port].poll() is not None:
                raise AssertionError(f"server on {port} exited: {self.log(port)[-3000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/p2p/health", timeout=2) as r:
                    if json.load(r).get("process"):
                        return
            except OSError:
                time.sleep(0.1)  # polling a starting process with a deadline
        raise AssertionError(f"server on {port} did not answer within {START_S:.0f} s: {self.log(port)[-3000:]}")

    def log(self, port: int) -> str:
        return (self.folder / f"server-{port}.log").read_text(errors="replace")

    def kill(self, port: int) -> None:
        proc = self.procs[port]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


@contextmanager
def running_cluster(folder: Path, redis_url: str, experiment: str = EXPERIMENT) -> Iterator[Cluster]:
    turn = EmbeddedTurn("127.0.0.1", 0, TURN_SECRET, allow_loopback=True).start()
    cluster = Cluster(folder, redis_url, [u for u in turn.urls if u.startswith("turn:")], experiment)
    try:
        yield cluster
    finally:
        cluster.stop()
        turn.stop()


