"""Tug: the smallest N-player (2-8) P2P environment, stdlib only.

Each player pushes a shared marker left or right; the episode ends after ``max_steps``
frames. Integer state, no randomness beyond the episode seed, so it is deterministic by
construction. It is a template for researchers' own environments (what a P2P scene needs:
``reset``, ``step``, ``get_state``/``set_state``, ``render``) and the 3- and 4-player test game.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

WIDTH = 480
HEIGHT = 160
NOOP, LEFT, RIGHT = 0, 1, 2
ACTION_MAPPING: dict[Any, int] = {"ArrowLeft": LEFT, "a": LEFT, "ArrowRight": RIGHT, "d": RIGHT}
COLORS = ("#ef4444", "#3b82f6", "#22c55e", "#eab308", "#a855f7", "#f97316", "#14b8a6", "#ec4899")


class TugEnv:
    """``num_players`` agents (0..n-1) move one marker; each push is remembered per player."""

    metadata = {"render_modes": ["interactive_gym"], "name": "tug"}

    def __init__(self, num_players: int = 3, max_steps: int = 300) -> None:
        if not 2 <= num_players <= len(COLORS):
            raise ValueError(f"num_players must be 2..{len(COLORS)}")
        if max_steps < 1:
            raise ValueError("max_steps must be >= 1")
        self.possible_agents = list(range(num_players))
        self.max_steps = int(max_steps)
        self.reset(seed=0)

    def reset(self, seed: int | None = None, options: dict | None = None):
        # The seed picks the marker's start, so episodes differ and a wrong seed shows in the hash.
        self._seed = int(seed or 0)
        self._x = WIDTH // 4 + self._seed % (WIDTH // 2)
        self._t = 0
        self._pushes = [0] * len(self.possible_agents)
        return self._observations(), {a: {} for a in self.possible_agents}

    def step(self, actions: dict):
        for agent in self.possible_agents:
            a = int(actions.get(agent, NOOP))
            if a in (LEFT, RIGHT):
                self._x = min(WIDTH - 10, max(10, self._x + (-4 if a == LEFT else 4)))
                self._pushes[agent] += 1
        self._t += 1
        done = self._t >= self.max_steps
        obs = self._observations()
        return (obs, {a: 0 for a in obs}, {a: done for a in obs}, {a: False for a in obs},
                {a: {} for a in obs})

    def _observations(self) -> dict[int, list[int]]:
        return {a: [self._x, self._t] for a in self.possible_agents}

    def get_state(self) -> dict[str, Any]:
        return {"seed": self._seed, "x": self._x, "t": self._t, "pushes": list(self._pushes)}

    def set_state(self, state: dict[str, Any]) -> None:
        self._seed, self._x, self._t = int(state["seed"]), int(state["x"]), int(state["t"])
        self._pushes = [int(v) for v in state["pushes"]]

    def render(self) -> list[dict[str, Any]]:
        objs: list[dict[str, Any]] = [{
            "uuid": "marker", "object_type": "circle", "color": "#f9fafb", "alpha": 1,
            "x": self._x / WIDTH, "y": 0.5, "radius": 12, "depth": 1, "permanent": False,
        }]
        for i, n in enumerate(self._pushes):
            objs.append({
                "uuid": f"pushes{i}", "object_type": "text", "text": f"P{i + 1}: {n}",
                "x": 0.02 + 0.12 * i, "y": 0.05, "size": 14, "color": COLORS[i], "font": "Arial",
                "depth": 2, "permanent": False,
            })
        return objs


def environment_initialization_code(num_players: int = 3, max_steps: int = 300) -> str:
    """Interactive Gym's ``environment_initialization_code``: defines ``env``."""
    source = Path(__file__).read_text(encoding="utf-8")
    return f"{source}\n\nenv = TugEnv(num_players={int(num_players)}, max_steps={int(max_steps)})\n"


AI_POLICY = """
# Tug's AI seat (ai_policy.py): pull the marker back to the middle, resting now and then.
MIDDLE = 240


def act(observation, context):
    x, _t = observation
    if context.rng.random() < 0.25:  # seeded from the shared seed: the same on every peer
        return 0
    return 2 if x < MIDDLE else 1
"""
"""An AI seat's policy for Tug (``P2PGymScene.ai_policy("tug_ai", code=AI_POLICY)``)."""


def build_stager(num_players: int = 3, max_steps: int = 300, ice_transport_policy: str = "all",
                 ai_seats: tuple[int, ...] = (), onnx_seats: dict[int, str] | None = None, **p2p: Any):
    """Start -> an N-player Tug scene -> End (used by the 3-player browser test). ``ai_seats``:
    player indices the AI policy plays (``num_players`` counts every seat, humans and AI);
    ``onnx_seats``: player index -> an .onnx file, hosted seats (docs/ai.md)."""
    from interactive_gym.scenes.stager import Stager
    from interactive_gym.scenes.static_scene import EndScene, StartScene

    from ..scene import P2PGymScene

    start = StartScene().scene(scene_id="welcome").display(scene_header="Tug", scene_body="<p>Press Continue.</p>")
    game = (
        P2PGymScene()
        .scene(scene_id="tug")
        .user_experience(scene_header="Tug", scene_body="<p>Left/right arrows push the marker.</p>")
        .pyodide(environment_initialization_code=environment_initialization_code(num_players, max_steps))
        .gameplay(default_action=NOOP, action_mapping=ACTION_MAPPING, num_episodes=1, max_steps=max_steps)
        .rendering(fps=30, game_width=WIDTH, game_height=HEIGHT, background="#111827")
    )
    onnx = {int(k): str(v) for k, v in (onnx_seats or {}).items()}
    if ai_seats or onnx:
        if ai_seats:
            game.ai_policy("tug_ai", code=AI_POLICY)
        game.policies(policy_mapping={i: onnx.get(i) or ("tug_ai" if i in ai_seats else "human") for i in range(num_players)})
        game.p2p(ice_transport_policy=ice_transport_policy, **p2p)
    else:
        game.p2p(players=num_players, ice_transport_policy=ice_transport_policy, **p2p)
    end = EndScene().scene(scene_id="thanks").display(scene_header="Thank you!", scene_body="<p>Done.</p>")
    return Stager(scenes=[start, game, end])
