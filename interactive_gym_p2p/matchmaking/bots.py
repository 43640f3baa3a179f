"""Bots that fill empty seats: the headless Python peer, started by the server in its own process.

When a waiting room's timeout policy is 'bot', signaling decides which seats a bot takes and
names the bots' subject ids; the server then starts ``python -m interactive_gym_p2p.peer``
with those ids (one process per fill, never asyncio inside the eventlet server). The bot goes
through the participant flow like anyone, plays only that scene and uploads its export.
``ProcessBotLauncher`` reaps finished processes (``poll``) and ends the running ones when the
server stops.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BotRequest:
    """Start bots for one fill of one waiting room."""

    fill_id: str
    scene_id: str
    subject_ids: tuple[str, ...]
    actions: str
    """Action source spec ('random', 'noop', 'script:...', 'policy:module:function')."""
    seed: int


class BotLaunchError(RuntimeError):
    """The bot process could not be started."""


class BotLauncher(Protocol):
    def launch(self, request: BotRequest) -> None: ...
    def poll(self) -> None: ...
    def stop(self) -> None: ...


class ProcessBotLauncher:
    """One ``python -m interactive_gym_p2p.peer`` process per fill; its output goes to a log file."""

    def __init__(self, log_dir: Path | None = None, python: str = sys.executable, server_url: str | None = None,
                 timeout_s: float = 3600.0) -> None:
        self.log_dir = None if log_dir is None else Path(log_dir)
        self.python = python
        self.server_url = server_url
        """Base URL the bots connect to (set by the server once it knows its port)."""
        self.timeout_s = timeout_s
        self._procs: dict[str, tuple[subprocess.Popen[bytes], IO[bytes] | None]] = {}
        self._lock = threading.Lock()

    def command(self, request: BotRequest) -> list[str]:
        if not self.server_url:
            raise BotLaunchError("the bot launcher has no server URL yet")
        return [
            self.python, "-m", "interactive_gym_p2p.peer",
            "--server", self.server_url,
            "--subject-ids", ",".join(request.subject_ids),
            "--scene", request.scene_id,
            "--actions", request.actions,
            "--seed", str(request.seed),
            "--timeout", str(self.timeout_s),
            "--log-level", "INFO",
            "--exit-with-parent", str(os.getpid()),
        ]

    def launch(self, request: BotRequest) -> None:
        argv = self.command(request)
        sink: IO[bytes] | None = None
        try:
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                sink = (self.log_dir / f"bot-{request.fill_id}.log").open("ab")
            # The peer must import this very package: the server's own sys.path goes along.
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=sink or subprocess.DEVNULL, stderr=subprocess.STDOUT,
                env=env, start_new_session=True, close_fds=True,
            )
        except OSError as exc:
            if sink is not None:
                sink.close()
            raise BotLaunchError(f"starting the bot process failed: {exc}") from exc
        with self._lock:
            self._procs[request.fill_id] = (proc, sink)
        logger.info("bot fill %s: started pid %d for %s in scene %s", request.fill_id, proc.pid,
                    ", ".join(request.subject_ids), request.scene_id)

    def poll(self) -> None:
        with self._lock:
            done = [(k, p, s) for k, (p, s) in self._procs.items() if p.poll() is not None]
            for key, _, _ in done:
                del self._procs[key]
        for key, proc, sink in done:
            if sink is not None:
                sink.close()
            logger.info("bot fill %s: process %d exited with %s", key, proc.pid, proc.returncode)

    def running(self) -> int:
        self.poll()
        with self._lock:
            return len(self._procs)

    def stop(self) -> None:
        with self._lock:
            procs = list(self._procs.items())
            self._procs.clear()
        for key, (proc, sink) in procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
            if sink is not None:
                sink.close()
            logger.info("bot fill %s: stopped", key)
