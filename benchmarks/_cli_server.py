"""Start and stop ``interactive-gym-p2p`` on an experiment file as a child process, for
benchmarks that load a real server (its log goes to a file: an undrained pipe would block it)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def start_cli_server(workdir: Path, port: int, secret: str, extra_args: list[str]) -> subprocess.Popen:
    """``workdir/experiment.py`` served on ``port``; returns once /p2p/health answers."""
    env = {**os.environ, "IGP2P_SECRET": secret, "PYTHONPATH": str(ROOT)}
    log_path = workdir / f"server-{port}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "interactive_gym_p2p.cli", str(workdir / "experiment.py"), "--port", str(port),
             "--log-level", "WARNING", *extra_args],
            cwd=workdir, env=env, stdout=log, stderr=log, text=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/p2p/health", timeout=2):
                return proc
        except OSError:
            time.sleep(0.1)  # polling the health route with a deadline
    proc.kill()
    raise RuntimeError("server did not start within 60 s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_server(proc: subprocess.Popen) -> None:
    # Python can swallow one KeyboardInterrupt (raised inside a weakref callback), so
    # SIGINT is followed by SIGTERM, then SIGKILL, when it was not enough.
    for sig, wait_s in ((signal.SIGINT, 5), (signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue
