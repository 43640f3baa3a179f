"""A real ``redis-server`` for tests: a free port on 127.0.0.1, no persistence, a tmp folder.

Tests never skip when redis-server is missing: the Debian package ``redis-server`` is part of
what ``scripts/test`` installs, so its absence is an error that says so.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis

START_S = 20.0


class RedisServerError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RedisServer:
    """One redis-server process; ``url`` once started."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisServerError("redis-server is not installed (Debian package redis-server; scripts/test installs it)")
        self.folder.mkdir(parents=True, exist_ok=True)
        for _ in range(3):  # the free port may be taken between the probe and the bind
            self.port = _free_port()
            log = open(self.folder / f"redis-{self.port}.log", "wb")
            self.proc = subprocess.Popen(
                [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.folder), "--daemonize", "no", "--loglevel", "warning"],
                stdout=log, stderr=subprocess.STDOUT,
            )
            log.close()
            if self._wait_ready():
                return self
            self.stop()
        raise RedisServerError(f"redis-server did not start; see {self.folder}")

    def _wait_ready(self) -> bool:
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)
        deadline = time.monotonic() + START_S
        try:
            while time.monotonic() < deadline:
                if self.proc is None or self.proc.poll() is not None:
                    return False
                try:
                    if client.ping():
                        return True
                except redis.ConnectionError:
                    time.sleep(0.05)  # polling the new process with a deadline
            return False
        finally:
            client.close()

    def flush(self) -> None:
        client = redis.Redis(host="127.0.0.1", port=self.port)
        try:
            client.flushall()
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc = None
