"""Child processes that announce readiness with a line on stdout and die with the test.

Every helper process here reads its stdin until EOF and exits then, so closing the pipe (or
the test process dying) ends it; ``stop()`` also terminates and, if needed, kills it.
"""

from __future__ import annotations

import logging
import queue
import subprocess
import threading
from dataclasses import dataclass, field

logger = logging.getLogger(__name__)


class ProcessStartError(RuntimeError):
    """A helper process exited or stayed silent instead of reporting ready."""


@dataclass
class ReadyProcess:
    """A running child and the output it printed so far (for error messages)."""

    proc: subprocess.Popen
    ready_line: str
    name: str
    output: list[str] = field(default_factory=list)

    def stop(self, timeout: float = 5.0) -> None:
        if self.proc.poll() is not None:
            return
        try:
            if self.proc.stdin and not self.proc.stdin.closed:
                self.proc.stdin.close()
            self.proc.wait(timeout=timeout)
        except (subprocess.TimeoutExpired, OSError):
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=timeout)


def start_ready_process(cmd: list[str], name: str, ready_prefix: str = "READY", timeout: float = 20.0,
                        env: dict[str, str] | None = None) -> ReadyProcess:
    """Start ``cmd`` (with ``env`` as its whole environment, when given); return once a stdout
    line starts with ``ready_prefix``.

    Raises ProcessStartError with the process's output if it exits or the deadline passes.
    """
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, bufsize=1, env=env)
    except OSError as err:
        raise ProcessStartError(f"{name}: cannot start {cmd[0]}: {err}") from err
    lines: queue.Queue[str | None] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line.rstrip("\n"))
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, name=f"{name}-stdout", daemon=True).start()
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            proc.kill()
            raise ProcessStartError(f"{name}: not ready within {timeout:.0f} s; output:\n" + "\n".join(output)) from None
        if line is None:
            proc.wait()
            raise ProcessStartError(f"{name}: exited with code {proc.returncode} before it was ready; output:\n"
                                    + "\n".join(output))
        if line.startswith(ready_prefix):
            return ReadyProcess(proc=proc, ready_line=line, name=name, output=output)
