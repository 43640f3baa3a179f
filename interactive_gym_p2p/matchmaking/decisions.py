"""The matchmaking decision log: one JSON object per line for every decision signaling makes
about a waiting room (a game formed, a probe started or judged, a group held back, a
participant put back after a failed connection, a lobby timeout and its policy, a bot fill),
with the RTTs it weighed. Written outside signaling's lock; the file is
``data_dir/matchmaking/decisions.jsonl``. Fields are documented in ``docs/matchmaking.md``.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, Protocol

logger = logging.getLogger(__name__)


class DecisionLog(Protocol):
    def write(self, entries: list[dict[str, Any]]) -> None: ...


class MemoryDecisionLog:
    """Keeps the entries in a list (tests, and a server without a data directory)."""

    def __init__(self, limit: int = 10_000) -> None:
        self.entries: list[dict[str, Any]] = []
        self.limit = limit
        self._lock = threading.Lock()

    def write(self, entries: list[dict[str, Any]]) -> None:
        with self._lock:
            self.entries.extend(entries)
            if len(self.entries) > self.limit:
                del self.entries[: len(self.entries) - self.limit]

    def of(self, event: str) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self.entries if e.get("event") == event]


class JsonlDecisionLog:
    """Appends each batch of entries with one write (lines never interleave); the file stays
    open between batches (a burst of matches costs no open/close each) until ``close()``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fd: int | None = None

    def write(self, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        data = "".join(json.dumps(e, sort_keys=True, separators=(",", ":")) + "\n" for e in entries).encode("utf-8")
        with self._lock:
            try:
                if self._fd is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                os.write(self._fd, data)
            except OSError:
                logger.exception("writing %d matchmaking decisions to %s failed", len(entries), self.path)
                self.close_locked()

    def close_locked(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None

    def close(self) -> None:
        with self._lock:
            self.close_locked()

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
