"""Condition assignment and the durable count of completed games per condition.

A new game goes to the condition with the fewest *completed plus running* games (running
games count provisionally so that games starting together spread out; a game that ends
incomplete gives its place back), among the conditions whose completed plus running games are
still below their target; ties go to
the fewest completed, then to a random one (the caller's CSPRNG). Only completed games are
counted for good, and games with a bot seat never count (they are not human data of the
condition). When every condition has reached its target, new games still go to the least
filled one (over-recruiting is the researcher's call: close recruitment in the console).

:class:`ConditionLedger` keeps the completed games across server restarts: a JSON-lines file
``data_dir/matchmaking/conditions.jsonl``, one line per completed game, appended outside
signaling's lock. The signaling store holds the counts while the server runs; at start the
ledger's counts are loaded into it. A Redis store (issue 18) can keep the counts itself.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Mapping, Protocol, Sequence

from .settings import Condition

logger = logging.getLogger(__name__)


def choose_condition(
    conditions: Sequence[Condition],
    completed: Mapping[str, int],
    running: Mapping[str, int],
    rng: random.Random,
) -> tuple[Condition, str]:
    """The condition of the next game and why (for the decision log)."""
    # A condition whose completed plus running games already reach its target takes no more
    # (unless every condition is there), so targets are not overshot by games in progress.
    open_ = [c for c in conditions if c.target is None or completed.get(c.name, 0) + running.get(c.name, 0) < c.target]
    pool = open_ or list(conditions)

    def load(c: Condition) -> tuple[int, int]:
        done = completed.get(c.name, 0)
        return (done + running.get(c.name, 0), done)

    best = min(load(c) for c in pool)
    ties = [c for c in pool if load(c) == best]
    chosen = ties[0] if len(ties) == 1 else rng.choice(ties)
    counts = ", ".join(f"{c.name}={completed.get(c.name, 0)}+{running.get(c.name, 0)}" for c in conditions)
    why = f"fewest completed+running ({counts})"
    if not open_:
        why += "; every condition has reached its target"
    return chosen, why


@dataclass(frozen=True)
class Completion:
    """One completed game of a condition."""

    scene_id: str
    condition: str
    game_id: str
    at: str

    def to_dict(self) -> dict[str, str]:
        return {"scene_id": self.scene_id, "condition": self.condition, "game_id": self.game_id, "at": self.at}


class ConditionLedger(Protocol):
    def load(self) -> dict[str, dict[str, int]]:
        """Completed games per scene and condition: ``{scene_id: {condition: n}}``."""

    def record(self, completion: Completion) -> None:
        """Add one completed game (a game id recorded twice counts once)."""


class MemoryLedger:
    """A ledger that forgets at exit (tests, servers without a data directory)."""

    def __init__(self) -> None:
        self.completions: dict[str, Completion] = {}

    def load(self) -> dict[str, dict[str, int]]:
        return _fold(self.completions.values())

    def record(self, completion: Completion) -> None:
        self.completions.setdefault(completion.game_id, completion)


class JsonlLedger:
    """Completed games as JSON lines in one file; each line is appended and fsynced."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._seen: set[str] | None = None

    def _read(self) -> list[Completion]:
        if not self.path.exists():
            return []
        out = []
        for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                out.append(Completion(str(d["scene_id"]), str(d["condition"]), str(d["game_id"]), str(d.get("at", ""))))
            except (ValueError, KeyError, TypeError):
                # A torn last line after a crash loses that one game, never the others.
                logger.warning("%s line %d is not a completion record; skipped", self.path, n)
        return out

    def load(self) -> dict[str, dict[str, int]]:
        with self._lock:
            records = self._read()
            unique = {c.game_id: c for c in reversed(records)}
            self._seen = set(unique)
            return _fold(unique.values())

    def record(self, completion: Completion) -> None:
        with self._lock:
            if self._seen is None:
                self._seen = {c.game_id for c in self._read()}
            if completion.game_id in self._seen:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            line = json.dumps(completion.to_dict(), sort_keys=True) + "\n"
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
            self._seen.add(completion.game_id)


def _fold(completions: object) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for c in completions:  # type: ignore[attr-defined]
        scene = out.setdefault(c.scene_id, {})
        scene[c.condition] = scene.get(c.condition, 0) + 1
    return out


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
