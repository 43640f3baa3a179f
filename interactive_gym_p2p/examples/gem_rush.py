"""Gem Rush: the demo's two-player arena game, a stdlib-only environment for Pyodide.

Two players race around an arena to grab gems (green = 1 point, gold = 3) while comets
bounce off the walls; a comet that hits a player stuns them for a second. Highest score
when the clock runs out wins the round.

Deterministic by design, because every peer re-simulates it during rollback and hashes it:
- all state is integers (positions in arena pixels, velocities, timers, scores), so no
  float rounding can differ between CPython, Pyodide or a future interpreter;
- randomness comes only from ``random.Random`` seeded from the episode seed and a draw
  counter kept IN the state, so ``set_state`` restores the random stream exactly and the
  state stays small (no 625-word Mersenne Twister state to copy and hash every frame);
- nothing iterates over sets or depends on time.

The module has no imports beyond the standard library and no side effects; the Interactive
Gym convention ``environment_initialization_code`` (code that defines ``env``) is produced
by :func:`environment_initialization_code`.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

WIDTH = 600
HEIGHT = 400
PLAYER_RADIUS = 14
GEM_RADIUS = 8
COMET_RADIUS = 11
PLAYER_SPEED = 6
STUN_STEPS = 30
MAX_GEMS = 4
GOLD_EVERY = 5  # every 5th gem spawned is gold
COMET_COUNT = 3

NOOP, UP, DOWN, LEFT, RIGHT, UP_LEFT, UP_RIGHT, DOWN_LEFT, DOWN_RIGHT = range(9)
# (dx, dy) per action; diagonals move ~the same distance as straight moves (6*0.7 ~ 4).
MOVES: tuple[tuple[int, int], ...] = (
    (0, 0), (0, -6), (0, 6), (-6, 0), (6, 0), (-4, -4), (4, -4), (-4, 4), (4, 4),
)

# Interactive Gym action mapping (pressed_keys input mode): composite keys are tuples.
ACTION_MAPPING: dict[Any, int] = {
    "ArrowUp": UP, "ArrowDown": DOWN, "ArrowLeft": LEFT, "ArrowRight": RIGHT,
    ("ArrowUp", "ArrowLeft"): UP_LEFT, ("ArrowUp", "ArrowRight"): UP_RIGHT,
    ("ArrowDown", "ArrowLeft"): DOWN_LEFT, ("ArrowDown", "ArrowRight"): DOWN_RIGHT,
    "w": UP, "s": DOWN, "a": LEFT, "d": RIGHT,
}

PLAYER_COLORS = ("#3b82f6", "#ef4444")
START_POSITIONS = ((WIDTH // 4, HEIGHT // 2), (3 * WIDTH // 4, HEIGHT // 2))


def _clamp(v: int, lo: int, hi: int) -> int:
    return lo if v < lo else hi if v > hi else v


def _touching(ax: int, ay: int, bx: int, by: int, reach: int) -> bool:
    dx, dy = ax - bx, ay - by
    return dx * dx + dy * dy <= reach * reach


class GemRushEnv:
    """Two-agent gymnasium-style multi-agent env (agents 0 and 1), integer state."""

    metadata = {"render_modes": ["interactive_gym"], "name": "gem_rush"}

    def __init__(self, max_steps: int = 1350) -> None:
        if max_steps < 1:
            raise ValueError("max_steps must be >= 1")
        self.max_steps = int(max_steps)
        self.possible_agents = [0, 1]
        self.agents = list(self.possible_agents)
        self._seed = 0
        self._draws = 0
        self._gems_spawned = 0
        self._t = 0
        self._players: list[list[int]] = []  # [x, y, score, stun]
        self._gems: list[list[int]] = []  # [x, y, value]
        self._comets: list[list[int]] = []  # [x, y, vx, vy]
        self.reset(seed=0)

    # --- randomness: a fresh Random per draw, keyed by (seed, draw index) kept in the state
    def _rng(self) -> random.Random:
        rng = random.Random(self._seed * 1_000_003 + self._draws)
        self._draws += 1
        return rng

    def _spawn_gem(self) -> None:
        rng = self._rng()
        self._gems_spawned += 1
        value = 3 if self._gems_spawned % GOLD_EVERY == 0 else 1
        for _ in range(20):  # avoid spawning on top of a player
            x = rng.randrange(30, WIDTH - 30)
            y = rng.randrange(50, HEIGHT - 30)
            if not any(_touching(x, y, p[0], p[1], 60) for p in self._players):
                break
        self._gems.append([x, y, value])

    # --- gymnasium-style API
    def reset(self, seed: int | None = None, options: dict | None = None):
        self._seed = int(seed) if seed is not None else 0
        self._draws = 0
        self._gems_spawned = 0
        self._t = 0
        self.agents = list(self.possible_agents)
        self._players = [[x, y, 0, 0] for x, y in START_POSITIONS]
        self._gems = []
        self._comets = []
        for i in range(COMET_COUNT):
            rng = self._rng()
            x = rng.randrange(100, WIDTH - 100)
            y = rng.randrange(60 + i * 100, 120 + i * 100)
            vx = rng.choice((-5, -4, -3, 3, 4, 5))
            vy = rng.choice((-4, -3, -2, 2, 3, 4))
            self._comets.append([x, y, vx, vy])
        for _ in range(MAX_GEMS):
            self._spawn_gem()
        return self._observations(), {a: {} for a in self.agents}

    def step(self, actions: dict):
        rewards = {0: 0, 1: 0}
        for agent in (0, 1):
            p = self._players[agent]
            if p[3] > 0:
                p[3] -= 1
                continue
            action = actions.get(agent, NOOP)
            try:
                dx, dy = MOVES[int(action)]
            except (IndexError, TypeError, ValueError):
                dx, dy = 0, 0  # unknown action: stand still rather than crash every peer
            p[0] = _clamp(p[0] + dx, PLAYER_RADIUS, WIDTH - PLAYER_RADIUS)
            p[1] = _clamp(p[1] + dy, 40 + PLAYER_RADIUS, HEIGHT - PLAYER_RADIUS)

        for c in self._comets:
            c[0] += c[2]
            c[1] += c[3]
            if c[0] < COMET_RADIUS or c[0] > WIDTH - COMET_RADIUS:
                c[2] = -c[2]
                c[0] = _clamp(c[0], COMET_RADIUS, WIDTH - COMET_RADIUS)
            if c[1] < 40 + COMET_RADIUS or c[1] > HEIGHT - COMET_RADIUS:
                c[3] = -c[3]
                c[1] = _clamp(c[1], 40 + COMET_RADIUS, HEIGHT - COMET_RADIUS)
            for p in self._players:
                if p[3] == 0 and _touching(c[0], c[1], p[0], p[1], COMET_RADIUS + PLAYER_RADIUS):
                    p[3] = STUN_STEPS

        # Player 0 is checked first on a tie: a fixed rule, the same on every peer.
        kept = []
        collected = 0
        for g in self._gems:
            taker = None
            for agent in (0, 1):
                p = self._players[agent]
                if _touching(g[0], g[1], p[0], p[1], GEM_RADIUS + PLAYER_RADIUS):
                    taker = agent
                    break
            if taker is None:
                kept.append(g)
            else:
                self._players[taker][2] += g[2]
                rewards[taker] += g[2]
                collected += 1
        self._gems = kept
        for _ in range(collected):
            self._spawn_gem()

        self._t += 1
        done = self._t >= self.max_steps
        terminateds = {0: False, 1: False, "__all__": False}
        truncateds = {0: done, 1: done, "__all__": done}
        # The running score, for scenes that record it per frame (record_info=["score"]).
        infos = {a: {"score": self._players[a][2]} for a in (0, 1)}
        return self._observations(), rewards, terminateds, truncateds, infos

    def _observations(self) -> dict[int, list[int]]:
        flat: list[int] = []
        for p in self._players:
            flat.extend(p)
        for g in self._gems:
            flat.extend(g)
        return {0: list(flat), 1: list(flat)}

    # --- rollback support: JSON-able, integer-only, never aliasing internal lists
    def get_state(self) -> dict[str, Any]:
        return {
            "t": self._t,
            "seed": self._seed,
            "draws": self._draws,
            "spawned": self._gems_spawned,
            "players": [list(p) for p in self._players],
            "gems": [list(g) for g in self._gems],
            "comets": [list(c) for c in self._comets],
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self._t = int(state["t"])
        self._seed = int(state["seed"])
        self._draws = int(state["draws"])
        self._gems_spawned = int(state["spawned"])
        self._players = [[int(v) for v in p] for p in state["players"]]
        self._gems = [[int(v) for v in g] for g in state["gems"]]
        self._comets = [[int(v) for v in c] for c in state["comets"]]

    # --- Interactive Gym object contexts (relative coordinates)
    def render(self) -> list[dict[str, Any]]:
        objs: list[dict[str, Any]] = [
            {"uuid": "hud_bar", "object_type": "polygon", "color": "#1f2937", "alpha": 1,
             "points": [[0, 0], [1, 0], [1, 40 / HEIGHT], [0, 40 / HEIGHT]],
             "depth": 0, "permanent": False},
        ]
        for i, g in enumerate(self._gems):
            objs.append({
                "uuid": f"gem{i}", "object_type": "circle",
                "color": "#facc15" if g[2] > 1 else "#22c55e", "alpha": 1,
                "x": g[0] / WIDTH, "y": g[1] / HEIGHT,
                "radius": GEM_RADIUS + (3 if g[2] > 1 else 0), "depth": 1, "permanent": False,
            })
        for i, c in enumerate(self._comets):
            objs.append({
                "uuid": f"comet{i}", "object_type": "circle", "color": "#a855f7", "alpha": 0.9,
                "x": c[0] / WIDTH, "y": c[1] / HEIGHT, "radius": COMET_RADIUS,
                "depth": 2, "permanent": False,
            })
            objs.append({
                "uuid": f"tail{i}", "object_type": "line", "color": "#c4b5fd", "width": 3,
                "points": [[c[0] / WIDTH, c[1] / HEIGHT],
                           [(c[0] - 3 * c[2]) / WIDTH, (c[1] - 3 * c[3]) / HEIGHT]],
                "fill_below": False, "fill_above": False, "depth": 1, "permanent": False,
            })
        for i, p in enumerate(self._players):
            objs.append({
                "uuid": f"player{i}", "object_type": "circle",
                "color": "#9ca3af" if p[3] > 0 else PLAYER_COLORS[i], "alpha": 1,
                "x": p[0] / WIDTH, "y": p[1] / HEIGHT, "radius": PLAYER_RADIUS,
                "depth": 3, "permanent": False,
            })
            objs.append({
                "uuid": f"label{i}", "object_type": "text", "text": f"P{i + 1}",
                "x": (p[0] - 8) / WIDTH, "y": (p[1] - 7) / HEIGHT, "size": 12,
                "color": "#ffffff", "font": "Arial", "depth": 4, "permanent": False,
            })
        seconds_left = (self.max_steps - self._t + 29) // 30
        scores = (self._players[0][2], self._players[1][2])
        objs.append({
            "uuid": "score", "object_type": "text",
            "text": f"P1 {scores[0]}   P2 {scores[1]}", "x": 0.02, "y": 0.025,
            "size": 20, "color": "#f9fafb", "font": "Arial", "depth": 5, "permanent": False,
        })
        objs.append({
            "uuid": "clock", "object_type": "text", "text": f"{seconds_left}s",
            "x": 0.88, "y": 0.025, "size": 20, "color": "#f9fafb", "font": "Arial",
            "depth": 5, "permanent": False,
        })
        return objs


def environment_source() -> str:
    """This module's source: the environment class, to run inside Pyodide."""
    return Path(__file__).read_text(encoding="utf-8")


def environment_initialization_code(max_steps: int = 1350) -> str:
    """Interactive Gym's ``environment_initialization_code``: defines ``env``."""
    return f"{environment_source()}\n\nenv = GemRushEnv(max_steps={int(max_steps)})\n"
