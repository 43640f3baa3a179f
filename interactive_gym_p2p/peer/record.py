"""Log of confirmed frames per episode (``static/js/record.js``): ``rows()`` gives the
export's ``[frame, [actions...], "hash16" | None]`` rows. Actions live in one flat list and
hashes in another, so a long game holds no per-frame objects beyond them.

What each confirmed frame's step reported besides ``done`` (:class:`StepResult`: rewards,
per-player terminated/truncated flags, the scene's record_info values) is kept sparse: a
reward row only where some reward is not 0, a flag row only where some flag is true, an info
row only where some value differs from the previous confirmed frame's (docs/data.md)."""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

logger = logging.getLogger(__name__)

_SAFE = 2**53


@dataclass(frozen=True)
class StepResult:
    """What one environment step reported. An adapter's ``step()`` returns this, or a bare
    bool (done, nothing else reported) like the engine's test environments."""

    done: bool
    """The episode is over (the environment says so)."""
    ended_by: str | None = None
    """When done: ``"terminated"`` or ``"truncated"`` (which of the env's flags ended it)."""
    rewards: Sequence[Any] | None = None
    """One reward per player (None: the step reported none)."""
    terminated: Sequence[bool] | None = None
    """One terminated flag per player."""
    truncated: Sequence[bool] | None = None
    """One truncated flag per player."""
    info: Mapping[str, Sequence[Any]] | None = None
    """``{key: [value per player]}`` for the scene's ``record_info`` keys (JSON values)."""
    ai_actions: Sequence[Sequence[int]] | None = None
    """``[[player_index, action], ...]``: what the AI seats did in this step (ai_policy.py)."""


def step_report(out: Any) -> StepResult | None:
    """The part of a step result worth keeping until its frame is confirmed, or None
    (``stepReport`` in record.js)."""
    if not isinstance(out, StepResult):
        return None
    if (not out.rewards and not out.terminated and not out.truncated and not out.info and not out.ended_by
            and not out.ai_actions):
        return None
    return out


def _reward(v: Any) -> int | float | None:
    """``Number(v)`` as record.js keeps it: non-finite -> None, -0 -> 0, integral -> int (so
    the JSON text is the browser's)."""
    if v is None:
        return 0
    try:
        r = float(v)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(r):
        return None
    if r.is_integer() and abs(r) < _SAFE:
        return int(r)
    return r


def _reward_row(rewards: Sequence[Any], n: int) -> list[Any] | None:
    row = [_reward(rewards[p]) if p < len(rewards) else 0 for p in range(n)]
    return row if any(r != 0 for r in row) else None


def _flag_row(flags: Sequence[Any], n: int) -> list[bool] | None:
    row = [p < len(flags) and flags[p] is True for p in range(n)]
    return row if any(row) else None


class EpisodeLog:
    def __init__(self, episode: int, seed: int, start_frame: int, num_players: int,
                 reports_rewards: bool = False) -> None:
        self.episode = episode
        self.seed = seed
        self.start_frame = start_frame
        self.num_players = num_players
        self.end_frame: int | None = None
        self.end_reason: str | None = None
        """'terminated' | 'truncated' | 'max_steps' | 'desync'; None while running."""
        self.reports_rewards = reports_rewards
        self._reward_rows: list[list[Any]] = []
        self._terminated_rows: list[list[Any]] = []
        self._truncated_rows: list[list[Any]] = []
        self._info_rows: list[list[Any]] = []
        self._last_info_text: str | None = None
        self.count = 0
        self._actions: list[int] = []
        self._hashes: list[str | None] = []

    @property
    def last_frame(self) -> int | None:
        return None if self.count == 0 else self.start_frame + self.count - 1

    def append(self, frame: int, actions: Sequence[int], hash_: str | None, step: StepResult | None = None) -> None:
        if frame != self.start_frame + self.count:
            raise ValueError(f"EpisodeLog {self.episode}: expected frame {self.start_frame + self.count}, got {frame}")
        self._actions.extend(actions[: self.num_players])
        self._hashes.append(hash_)
        self.count += 1
        if step is None:
            return
        n = self.num_players
        if step.rewards:
            row = _reward_row(step.rewards, n)
            if row is not None:
                self._reward_rows.append([frame, row])
        if step.terminated:
            flags = _flag_row(step.terminated, n)
            if flags is not None:
                self._terminated_rows.append([frame, flags])
        if step.truncated:
            flags = _flag_row(step.truncated, n)
            if flags is not None:
                self._truncated_rows.append([frame, flags])
        if step.info:
            text = json.dumps(step.info, separators=(",", ":"), ensure_ascii=False)
            if text != self._last_info_text:
                self._last_info_text = text
                self._info_rows.append([frame, json.loads(text)])

    def step_record(self) -> dict[str, Any]:
        """The sparse per-frame step data of the record (rewards None when not reported)."""
        return {
            "rewards": [[f, list(r)] for f, r in self._reward_rows] if self.reports_rewards else None,
            "terminated": [[f, list(r)] for f, r in self._terminated_rows],
            "truncated": [[f, list(r)] for f, r in self._truncated_rows],
            "infos": [[f, json.loads(json.dumps(v))] for f, v in self._info_rows],
            "end_reason": self.end_reason,
        }

    def seal(self) -> None:
        """The episode is over (nothing to give back in Python; kept for symmetry)."""

    def hash_of(self, frame: int) -> str | None:
        i = frame - self.start_frame
        if i < 0 or i >= self.count:
            return None
        return self._hashes[i]

    def actions_of(self, frame: int) -> list[int]:
        i = (frame - self.start_frame) * self.num_players
        return self._actions[i:i + self.num_players]

    def action_at(self, frame: int, player: int) -> int:
        return self._actions[(frame - self.start_frame) * self.num_players + player]

    def rows(self) -> list[list]:
        n = self.num_players
        a = self._actions
        return [[self.start_frame + i, a[i * n:(i + 1) * n], self._hashes[i]] for i in range(self.count)]
