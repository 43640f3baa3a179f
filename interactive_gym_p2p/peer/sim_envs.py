"""Test environments implementing the Python adapter contract directly, twins of
``tests/js/support/envs.mjs`` (same arithmetic, so the same inputs give the same hashes in
both languages). Small and fast, for simulations and the benchmark; not for experiments."""

from __future__ import annotations

import json
import logging
from typing import Any, Sequence

from ..hashing import state_hash
from .record import StepResult
from .stats import js_round

logger = logging.getLogger(__name__)

_M32 = 0xFFFFFFFF


def _i32(x: int) -> int:
    x &= _M32
    return x - 0x100000000 if x & 0x80000000 else x


def _imul(a: int, b: int) -> int:
    return _i32(a * b)


class CounterEnv:
    """State depends on every action of every frame; episode ends depend on the inputs; floats
    exercise hashing's normalization. ``noise_at`` injects a hidden per-instance value at that
    step index (the classic nondeterminism bug) for desync tests."""

    def __init__(self, num_players: int, min_steps: int = 40, max_steps: int = 120,
                 noise_at: int | None = None, noise_salt: int = 0, report_steps: bool = False) -> None:
        self.num_players = num_players
        self.report_steps = report_steps
        self.reports_rewards = report_steps
        self.min_steps = min_steps
        self.max_steps = max_steps
        self.noise_at = noise_at
        self.noise_salt = noise_salt
        self.hidden_calls = 0
        self.s: dict[str, Any] = {}

    def reset(self, seed: int) -> None:
        n = self.num_players
        self.s = {"seed": seed, "t": 0, "acc": seed % 1000, "pos": [i * 0.5 for i in range(n)],
                  "last": [0] * n, "noise": 0}

    def step(self, actions: Sequence[int]) -> bool | StepResult:
        self.hidden_calls += 1
        s = self.s
        pos, last = s["pos"], s["last"]
        for i in range(self.num_players):
            a = actions[i]
            pos[i] = js_round((pos[i] * 0.9 + a * 0.3 + i * 0.01) * 1e6) / 1e6
            last[i] = a
            s["acc"] = (s["acc"] * 31 + a + 7 * i + 1) & _M32
        if self.noise_at is not None and s["t"] == self.noise_at:
            s["noise"] = self.noise_salt * 1000003 + (self.hidden_calls % 1000003)
        s["t"] += 1
        truncated = s["t"] >= self.max_steps
        done = truncated or (s["t"] >= self.min_steps and s["acc"] % 11 == 0)
        if not self.report_steps:
            return done
        n = self.num_players
        rewards: list[float] = [0] * n
        for i in range(n):
            k = (s["acc"] + i) % 13
            if k == 0:
                rewards[i] = 0.1 * (i + 1)
            elif k == 5:
                rewards[i] = -1
        return StepResult(
            done=done,
            ended_by=("truncated" if truncated else "terminated") if done else None,
            rewards=rewards,
            terminated=[(done and not truncated) or (i == 0 and s["t"] % 30 == 0) for i in range(n)],
            truncated=[truncated] * n,
            info={"phase": [s["t"] // 25 + i for i in range(n)], "lead": [v >= s["pos"][0] for v in s["pos"]]},
        )

    def save(self) -> Any:
        s = self.s
        return (s["seed"], s["t"], s["acc"], list(s["pos"]), list(s["last"]), s["noise"])

    def load(self, snap: Any) -> None:
        seed, t, acc, pos, last, noise = snap
        self.s = {"seed": seed, "t": t, "acc": acc, "pos": list(pos), "last": list(last), "noise": noise}

    def state_hash(self) -> str:
        return state_hash(self.s)

    def canonical_state(self) -> Any:
        return json.loads(json.dumps(self.s))

    def render(self) -> Any:
        return {"t": self.s["t"]}


class TrivialEnv:
    """The cheapest environment (engine overhead measurements): an integer counter."""

    def __init__(self, num_players: int, episode_steps: int = 10**9) -> None:
        self.num_players = num_players
        self.episode_steps = episode_steps
        self.t = 0
        self.sum = 0

    def reset(self, seed: int) -> None:
        self.t = 0
        self.sum = _i32(seed)

    def step(self, actions: Sequence[int]) -> bool:
        for a in actions:
            self.sum = _i32(_imul(self.sum, 31) + a)
        self.t += 1
        return self.t >= self.episode_steps

    def save(self) -> Any:
        return (self.t, self.sum)

    def load(self, snap: Any) -> None:
        self.t, self.sum = snap

    def state_hash(self) -> str:
        h = _imul(self.t ^ 0x9E3779B9, 0x85EBCA6B) ^ _imul(self.sum, 0xC2B2AE35)
        return f"{self.t & _M32:08x}{(h ^ self.sum) & _M32:08x}"

    def canonical_state(self) -> Any:
        return {"t": self.t, "sum": self.sum}
