"""Sync layer (``static/js/sync.js``): the input queues, the environment, the saved-state
map, rollback and re-simulation, and the hashes of confirmed frames. Driven by the session;
it only talks to the environment adapter (reset/step/save/load/state_hash/canonical_state).

Frame f is the step applied with every player's input for f; the snapshot stored under f is
the state AFTER that step; ``base`` is the state right after the episode's reset.

What a step reports besides ``done`` is kept per simulated frame beside its snapshot: a
rollback overwrites the report of every frame it re-simulates, so once a frame is confirmed
(after ``rollback()``) its report is the one of a step whose inputs all equal the confirmed
inputs; the session takes it only then (``take_step_report``), never from a predicted step.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

from .input_queue import MISPREDICTED, NO_FRAME, InputQueue
from .record import StepResult, step_report

logger = logging.getLogger(__name__)

_WRONG_SLOTS = 4096


class EnvAdapter(Protocol):
    """The synchronous environment adapter the engine drives (contract B)."""

    num_players: int

    def reset(self, seed: int) -> None: ...
    def step(self, actions: list[int]) -> bool | StepResult: ...
    def save(self) -> Any: ...
    def load(self, snapshot: Any) -> None: ...
    def state_hash(self) -> str: ...
    def canonical_state(self) -> Any: ...


@dataclass
class SyncStats:
    frames_simulated: int = 0
    rollbacks: int = 0
    max_rollback_depth: int = 0
    rollback_depth_histogram: dict[int, int] = field(default_factory=dict)
    mispredicted_frames: int = 0
    snapshot_loads: int = 0


class SyncLayer:
    def __init__(self, env: EnvAdapter, num_players: int, default_action: int = 0,
                 hash_interval: int = 1, max_steps_per_episode: int | None = None) -> None:
        self.env = env
        self.num_players = num_players
        self.hash_interval = hash_interval
        self.max_steps_per_episode = max_steps_per_episode
        self.queues = [InputQueue(p, default_action) for p in range(num_players)]
        self.current_frame = 0  # next frame to simulate
        self.episode_start_frame = 0
        self.base: Any = None
        self.snapshots: dict[int, Any] = {}  # insertion order == increasing frames
        self.done_at = NO_FRAME  # the last simulated frame ended the episode
        self.done_reason: str | None = None  # 'terminated' | 'truncated' (env) | 'max_steps' (cap)
        self.step_reports: dict[int, StepResult] = {}  # latest simulation's report, frames with one
        self.hashed_through = -1
        self.step_hashes: dict[int, str] = {}  # frames confirmed when simulated -> hash
        self.wrong_flags = [False] * _WRONG_SLOTS
        # frame & 4095 -> stamp of its latest simulation (input_log: drawn vs confirmed stamp)
        self.sim_stamps = [0] * _WRONG_SLOTS
        self.sim_counter = 0
        self.max_simulated_frame = -1
        self.stats = SyncStats()

    def start_episode(self, seed: int, start_frame: int) -> None:
        self.env.reset(seed)
        self.base = self.env.save()
        self.episode_start_frame = start_frame
        self.current_frame = start_frame
        self.done_at = NO_FRAME
        self.done_reason = None
        self.hashed_through = max(self.hashed_through, start_frame - 1)

    def confirmed_input_frame(self) -> float:
        m = math.inf
        for q in self.queues:
            c = q.confirmed_up_to()
            if c < m:
                m = c
        return m

    def confirmed_frame(self) -> int:
        return int(min(self.confirmed_input_frame(), self.current_frame - 1))

    def add_input(self, player: int, frame: int, action: int) -> str:
        r = self.queues[player].add(frame, action)
        if r == MISPREDICTED:
            self._mark_wrong(frame)
        return r

    def set_default_from(self, player: int, frame: int) -> None:
        for f in self.queues[player].set_default_from(frame, self.current_frame - 1):
            self._mark_wrong(f)

    def _mark_wrong(self, frame: int) -> None:
        i = frame & (_WRONG_SLOTS - 1)
        if not self.wrong_flags[i]:
            self.wrong_flags[i] = True
            self.stats.mispredicted_frames += 1

    def first_incorrect_frame(self) -> int:
        m = NO_FRAME
        for q in self.queues:
            f = q.first_incorrect_frame
            if f != NO_FRAME and f < self.current_frame and (m == NO_FRAME or f < m):
                m = f
        return m

    def state_before(self, frame: int) -> Any:
        if frame == self.episode_start_frame:
            return self.base
        if frame - 1 not in self.snapshots:
            raise RuntimeError(f"SyncLayer: no saved state for frame {frame - 1}")
        return self.snapshots[frame - 1]

    def can_advance(self) -> bool:
        return self.done_at == NO_FRAME

    def prediction_depth(self) -> int:
        return self.current_frame - 1 - self.confirmed_frame()

    def advance_frame(self) -> bool:
        """Simulate current_frame with confirmed inputs or predictions; True = episode ended."""
        f = self.current_frame
        actions = [0] * self.num_players
        all_confirmed = True
        for p, q in enumerate(self.queues):
            if q.is_confirmed(f):
                actions[p] = q.confirmed(f)
            else:
                all_confirmed = False
                actions[p] = q.input_for(f)
        if f > self.max_simulated_frame:
            # First simulation of f: its flag slot is reused from frame f - 4096.
            self.wrong_flags[f & (_WRONG_SLOTS - 1)] = False
            self.max_simulated_frame = f
        self.sim_counter = (self.sim_counter + 1) & 0xFFFFFFFF
        self.sim_stamps[f & (_WRONG_SLOTS - 1)] = self.sim_counter
        result = self.env.step(actions)
        done = result.done if isinstance(result, StepResult) else bool(result)
        reason = None
        if done:
            reason = "truncated" if isinstance(result, StepResult) and result.ended_by == "truncated" else "terminated"
        elif self.max_steps_per_episode is not None and f - self.episode_start_frame + 1 >= self.max_steps_per_episode:
            done = True
            reason = "max_steps"
        report = step_report(result)
        if report is not None:
            self.step_reports[f] = report
        else:
            self.step_reports.pop(f, None)
        self.snapshots[f] = self.env.save()
        self.current_frame = f + 1
        self.stats.frames_simulated += 1
        self.done_at = f if done else NO_FRAME
        self.done_reason = reason
        # Every input of every frame <= f is confirmed and no earlier prediction was wrong (the
        # session rolls back before it advances): this is the confirmed state of f, hash it now.
        if (all_confirmed and f > self.hashed_through and f % self.hash_interval == 0
                and f <= self.confirmed_input_frame()):
            self.step_hashes[f] = self.env.state_hash()
        return done

    def rollback(self) -> int:
        """Re-simulate from the first wrongly predicted frame; returns the depth (0: none)."""
        first = self.first_incorrect_frame()
        for q in self.queues:
            q.reset_incorrect()
        if first == NO_FRAME:
            return 0
        target = self.current_frame
        depth = target - first
        self.env.load(self.state_before(first))
        self.stats.snapshot_loads += 1
        for f in range(first, target):
            self.snapshots.pop(f, None)
            self.step_hashes.pop(f, None)
            self.step_reports.pop(f, None)
        self.current_frame = first
        self.done_at = NO_FRAME
        self.done_reason = None
        while self.current_frame < target:
            if self.advance_frame():
                break
        if self.current_frame < target:
            # An earlier terminal: the frames after it are not simulated any more.
            for q in self.queues:
                q.discard_predictions_from(self.current_frame, target - 1)
        s = self.stats
        s.rollbacks += 1
        if depth > s.max_rollback_depth:
            s.max_rollback_depth = depth
        s.rollback_depth_histogram[depth] = s.rollback_depth_histogram.get(depth, 0) + 1
        return depth

    def collect_confirmed_hashes(self) -> list[tuple[int, str]]:
        """(frame, hash) of newly confirmed hashed frames, in frame order."""
        upto = self.confirmed_frame()
        out: list[tuple[int, str]] = []
        loaded = False
        f = self.hashed_through + 1
        rem = f % self.hash_interval
        if rem != 0:
            f += self.hash_interval - rem
        while f <= upto:
            h = self.step_hashes.pop(f, None)
            if h is None:
                if f == self.current_frame - 1 and not loaded:
                    h = self.env.state_hash()
                else:
                    if f not in self.snapshots:
                        raise RuntimeError(f"SyncLayer: no saved state to hash frame {f}")
                    self.env.load(self.snapshots[f])
                    self.stats.snapshot_loads += 1
                    loaded = True
                    h = self.env.state_hash()
            out.append((f, h))
            f += self.hash_interval
        if upto > self.hashed_through:
            self.hashed_through = upto
        if loaded:
            self.restore_current()
        return out

    def truncate_after(self, frame: int) -> None:
        """Forget simulated frames after ``frame`` (predictions): its state becomes current."""
        target = self.current_frame
        if frame >= target - 1:
            return
        self.env.load(self.snapshots[frame])
        self.stats.snapshot_loads += 1
        for f in range(frame + 1, target):
            self.snapshots.pop(f, None)
            self.step_hashes.pop(f, None)
            self.step_reports.pop(f, None)
        for q in self.queues:
            q.discard_predictions_from(frame + 1, target - 1)
        self.current_frame = frame + 1
        self.done_at = NO_FRAME
        self.done_reason = None

    def restore_current(self) -> None:
        self.env.load(self.state_before(self.current_frame))
        self.stats.snapshot_loads += 1

    def canonical_state_at(self, frame: int) -> Any:
        """Canonical state of a simulated frame, or None if its snapshot is gone."""
        if frame not in self.snapshots:
            return None
        if frame == self.current_frame - 1:
            return self.env.canonical_state()
        self.env.load(self.snapshots[frame])
        self.stats.snapshot_loads += 1
        state = self.env.canonical_state()
        self.restore_current()
        return state

    def take_step_report(self, frame: int) -> StepResult | None:
        """The step report of a confirmed frame (removed: each frame is recorded once), or None.
        Only for ``frame <= confirmed_frame()``, after ``rollback()``."""
        return self.step_reports.pop(frame, None)

    def stamp_of(self, frame: int) -> int:
        """Stamp of the latest simulation of a recent frame (changes each time it is simulated)."""
        return self.sim_stamps[frame & (_WRONG_SLOTS - 1)]

    def confirmed_actions(self, frame: int) -> list[int]:
        return [q.confirmed(frame) for q in self.queues]

    def prune(self, keep_from: int, max_kept: int) -> None:
        """Drop snapshots older than ``keep_from`` but never the rollback base or newer; at most
        ``max_kept`` snapshots older than the rollback base stay."""
        rollback_base = self.confirmed_frame()
        floor = max(min(keep_from, rollback_base), rollback_base - max_kept)
        for f in list(self.snapshots):
            if f >= floor:
                break
            del self.snapshots[f]
        for f in list(self.step_hashes):
            if f > self.hashed_through:
                break
            del self.step_hashes[f]
