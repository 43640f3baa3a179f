"""Kitchen: a cooperative Overcooked-like grid game for 2-4 chefs, pure Python (stdlib only).

Chefs carry onions from the crates to the pots (three onions start a pot cooking), fetch a dish
when a soup is ready, plate it and serve it at the window; every served soup scores for the
whole team. Integer state, no randomness beyond the episode seed (it rotates the chefs' start
tiles), so every peer computes the same frames. Drawn with sprites from a texture atlas the
scene preloads (``kitchen_assets/``, written by ``python -m interactive_gym_p2p.examples.kitchen_sprites``).

``AI_POLICY`` is a scripted partner for an AI seat (docs/ai.md): it reads the kitchen's state
and walks the shortest path to what the team needs next.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

LAYOUT = (
    "XXXPXPXXX",
    "O.......O",
    "X..XXX..S",
    "D.......D",
    "XXXXXXXSX",
)
TILE = 48
"""Pixels per grid cell on the canvas (the sprites are 16 x 16, scaled up)."""
HUD_H = 28
WIDTH = len(LAYOUT[0]) * TILE
HEIGHT = len(LAYOUT) * TILE + HUD_H
STARTS = ((1, 1), (7, 1), (1, 3), (7, 3))
NOOP, UP, DOWN, LEFT, RIGHT, INTERACT = 0, 1, 2, 3, 4, 5
MOVES = {UP: (0, -1), DOWN: (0, 1), LEFT: (-1, 0), RIGHT: (1, 0)}
ACTION_MAPPING: dict[Any, int] = {
    "ArrowUp": UP, "ArrowDown": DOWN, "ArrowLeft": LEFT, "ArrowRight": RIGHT, " ": INTERACT,
    "w": UP, "s": DOWN, "a": LEFT, "d": RIGHT, "e": INTERACT,
}
COOK_FRAMES = 60
SOUP_REWARD = 20
TILE_FRAMES = {"X": "counter", "O": "onion_crate", "D": "dish_crate", "P": "pot", "S": "window", ".": "floor"}


class KitchenEnv:
    """``num_players`` chefs (agents 0..n-1) in one kitchen; actions 0 noop, 1-4 move/turn, 5 interact."""

    metadata = {"render_modes": ["interactive_gym"], "name": "kitchen"}

    def __init__(self, num_players: int = 2, max_steps: int = 900, work: int = 0) -> None:
        if not 2 <= num_players <= len(STARTS):
            raise ValueError(f"num_players must be 2..{len(STARTS)}")
        if max_steps < 1:
            raise ValueError("max_steps must be >= 1")
        self.possible_agents = list(range(num_players))
        self.max_steps = int(max_steps)
        # Benchmarks only (benchmarks/frame_pacing.py): extra deterministic arithmetic per step,
        # standing in for a research environment whose step costs milliseconds. It changes nothing.
        self.work = int(work)
        self.pot_cells = [(x, y) for y, row in enumerate(LAYOUT) for x, c in enumerate(row) if c == "P"]
        self.reset(seed=0)

    # ------------------------------------------------------------------ Gymnasium-style API
    def reset(self, seed: int | None = None, options: dict | None = None):
        self._seed = int(seed or 0)
        shift = self._seed % len(STARTS)
        # Chefs: [x, y, facing (a move action), held item ('' for nothing)].
        self._chefs = [[*STARTS[(i + shift) % len(STARTS)], DOWN, ""] for i in self.possible_agents]
        self._pots = [[0, 0] for _ in self.pot_cells]  # [onions, frames left to cook]
        self._counters: dict[tuple[int, int], str] = {}
        self._t = 0
        self._served = 0
        return self._observations(), {a: {} for a in self.possible_agents}

    def step(self, actions: dict):
        reward = 0
        for agent in self.possible_agents:  # in player order: the lower index moves first
            a = int(actions.get(agent, NOOP))
            if a in MOVES:
                self._move(agent, a)
            elif a == INTERACT:
                reward += self._interact(agent)
        if self.work:
            self._busy()
        for pot in self._pots:
            if pot[1] > 0:
                pot[1] -= 1
        self._t += 1
        done = self._t >= self.max_steps
        obs = self._observations()
        return (obs, {a: reward for a in obs}, {a: False for a in obs}, {a: done for a in obs},
                {a: {} for a in obs})

    def _busy(self) -> int:
        acc = self._t
        for i in range(self.work):
            acc = (acc * 1103515245 + 12345 + i) & 0x7FFFFFFF
        return acc

    def get_state(self) -> dict[str, Any]:
        return {
            "seed": self._seed, "t": self._t, "served": self._served,
            "chefs": [list(c) for c in self._chefs], "pots": [list(p) for p in self._pots],
            "counters": sorted([x, y, item] for (x, y), item in self._counters.items()),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        self._seed, self._t, self._served = int(state["seed"]), int(state["t"]), int(state["served"])
        self._chefs = [[int(c[0]), int(c[1]), int(c[2]), str(c[3])] for c in state["chefs"]]
        self._pots = [[int(p[0]), int(p[1])] for p in state["pots"]]
        self._counters = {(int(x), int(y)): str(item) for x, y, item in state["counters"]}

    # ------------------------------------------------------------------ rules
    def _move(self, agent: int, action: int) -> None:
        chef = self._chefs[agent]
        chef[2] = action
        dx, dy = MOVES[action]
        nx, ny = chef[0] + dx, chef[1] + dy
        if LAYOUT[ny][nx] != "." or any(c[0] == nx and c[1] == ny for c in self._chefs):
            return  # a wall, a station or another chef: the chef only turns
        chef[0], chef[1] = nx, ny

    def facing(self, agent: int) -> tuple[int, int]:
        x, y, f, _ = self._chefs[agent]
        dx, dy = MOVES[f]
        return x + dx, y + dy

    def _interact(self, agent: int) -> int:
        chef = self._chefs[agent]
        cell = self.facing(agent)
        kind = LAYOUT[cell[1]][cell[0]]
        held = chef[3]
        if kind == "O" and not held:
            chef[3] = "onion"
        elif kind == "D" and not held:
            chef[3] = "dish"
        elif kind == "P":
            pot = self._pots[self.pot_cells.index(cell)]
            if held == "onion" and pot[0] < 3:
                pot[0] += 1
                chef[3] = ""
                if pot[0] == 3:
                    pot[1] = COOK_FRAMES
            elif held == "dish" and pot[0] == 3 and pot[1] == 0:
                pot[0] = 0
                chef[3] = "soup"
        elif kind == "S" and held == "soup":
            chef[3] = ""
            self._served += 1
            return SOUP_REWARD
        elif kind == "X":
            if held and cell not in self._counters:
                self._counters[cell] = held
                chef[3] = ""
            elif not held and cell in self._counters:
                chef[3] = self._counters.pop(cell)
        return 0

    def _observations(self) -> dict[int, dict[str, Any]]:
        # Every chef sees the whole kitchen (it is small); policies read the same dict.
        state = self.get_state()
        return {a: {"me": a, **state} for a in self.possible_agents}

    # ------------------------------------------------------------------ drawing
    def render(self) -> list[dict[str, Any]]:
        objs: list[dict[str, Any]] = []

        def sprite(uuid: str, frame: str, x: int, y: int, depth: int, size: int = TILE, permanent: bool = False) -> None:
            objs.append({"uuid": uuid, "object_type": "sprite", "image_name": "kitchen", "frame": frame,
                         "x": x, "y": y, "width": size, "height": size, "depth": depth, "angle": 0,
                         "tween": False, "permanent": permanent})

        # The floor plan never changes; listed every frame anyway, so any frame draws the whole
        # kitchen (after a clear, a rejoin or a hidden tab).
        for y, row in enumerate(LAYOUT):
            for x, c in enumerate(row):
                sprite(f"tile{x}_{y}", TILE_FRAMES[c], x * TILE, HUD_H + y * TILE, 0)
        for i, ((x, y), (onions, left)) in enumerate(zip(self.pot_cells, self._pots)):
            frame = "pot" if onions == 0 else ("pot_ready" if onions == 3 and left == 0 else
                                               "pot_cooking" if onions == 3 else f"pot_{onions}")
            sprite(f"pot{i}", frame, x * TILE, HUD_H + y * TILE, 1)
        for (x, y), item in sorted(self._counters.items()):
            sprite(f"item{x}_{y}", item, x * TILE + TILE // 4, HUD_H + y * TILE + TILE // 4, 2, TILE // 2)
        for i, (x, y, f, held) in enumerate(self._chefs):
            sprite(f"chef{i}", f"chef{i}_{'udlr'[f - 1]}", x * TILE, HUD_H + y * TILE, 3)
            if held:
                sprite(f"held{i}", held, x * TILE + TILE // 2, HUD_H + y * TILE + TILE // 2, 4, TILE // 2)
        left = self.max_steps - self._t
        objs.append({"uuid": "hud", "object_type": "text", "text": f"Soups served: {self._served}   Time: {left}",
                     "x": 8, "y": 6, "size": 16, "color": "#f9fafb", "font": "Arial", "depth": 5, "permanent": False})
        return objs


def environment_initialization_code(num_players: int = 2, max_steps: int = 900, work: int = 0) -> str:
    """Interactive Gym's ``environment_initialization_code``: defines ``env``."""
    source = Path(__file__).read_text(encoding="utf-8")
    return f"{source}\n\nenv = KitchenEnv(num_players={int(num_players)}, max_steps={int(max_steps)}, work={int(work)})\n"


AI_POLICY = '''
# Kitchen's scripted chef (docs/ai.md): the shortest path to what the team needs next.
LAYOUT = ("XXXPXPXXX", "O.......O", "X..XXX..S", "D.......D", "XXXXXXXSX")
MOVES = ((1, 0, -1), (2, 0, 1), (3, -1, 0), (4, 1, 0))


def cells(kind):
    return [(x, y) for y, row in enumerate(LAYOUT) for x, c in enumerate(row) if c == kind]


def targets(obs):
    x, y, f, held = obs["chefs"][obs["me"]]
    pots = [(cell, p) for cell, p in zip(cells("P"), obs["pots"])]
    if held == "soup":
        return cells("S")
    taken = {(cx, cy) for cx, cy, _ in obs["counters"]}
    free_counters = [c for c in cells("X") if c not in taken]
    others_hold = [c[3] for i, c in enumerate(obs["chefs"]) if i != obs["me"]]
    if held == "dish":
        # Wait at a full pot (cooking or ready), or at any pot while someone brings onions;
        # else put the dish down, so no chef waits forever with one.
        full = [c for c, p in pots if p[0] == 3]
        return full or ([c for c, p in pots] if "onion" in others_hold else free_counters)
    if held == "onion":
        return [c for c, p in pots if p[0] < 3] or free_counters
    if any(p[0] == 3 for c, p in pots):
        return [(cx, cy) for cx, cy, item in obs["counters"] if item == "dish"] + cells("D")
    return [(cx, cy) for cx, cy, item in obs["counters"] if item == "onion"] + cells("O")


def act(observation, context):
    obs = observation
    me = obs["me"]
    x, y, facing, held = obs["chefs"][me]
    goals = set(targets(obs))
    for action, dx, dy in MOVES:
        if (x + dx, y + dy) in goals:
            # Next to a goal: turn to it, then use it.
            return 5 if facing == action else action
    others = {(c[0], c[1]) for i, c in enumerate(obs["chefs"]) if i != me}
    # Breadth-first search over floor cells, in a fixed move order: the same path on every peer.
    first = {(x, y): None}
    frontier = [(x, y)]
    while frontier:
        nxt = []
        for cx, cy in frontier:
            for action, dx, dy in MOVES:
                cell = (cx + dx, cy + dy)
                if cell in first or LAYOUT[cell[1]][cell[0]] != "." or cell in others:
                    continue
                first[cell] = first[(cx, cy)] or action
                if any((cell[0] + ex, cell[1] + ey) in goals for _, ex, ey in MOVES):
                    return first[cell]
                nxt.append(cell)
        frontier = nxt
    # Boxed in by the other chefs: the lowest-numbered chef nearby waits, the others step aside
    # at random (seeded: the same on every peer), so two chefs never block each other for good.
    near = [i for i, c in enumerate(obs["chefs"]) if abs(c[0] - x) + abs(c[1] - y) <= 2]
    if me == min(near):
        return 0
    return context.rng.choice((1, 2, 3, 4))
'''
"""The scripted partner of the AI-partner variant (``P2PGymScene.ai_policy("chef", code=AI_POLICY)``)."""


def asset_paths() -> dict[str, str]:
    """The atlas the scene preloads (absolute paths; the server serves them)."""
    folder = Path(__file__).resolve().parent / "kitchen_assets"
    return {"img_path": str(folder / "kitchen.png"), "atlas_path": str(folder / "kitchen.json")}


def build_scene(num_players: int = 2, max_steps: int = 900, ai_seats: tuple[int, ...] = (), scene_id: str = "kitchen",
                work: int = 0, num_episodes: int = 1, waiting_room: dict[str, Any] | None = None, **p2p: Any):
    """The Kitchen scene: ``num_players`` seats; ``ai_seats`` are played by ``AI_POLICY``;
    ``waiting_room`` goes to that call (docs/matchmaking.md), the rest to ``p2p(...)``."""
    from interactive_gym.configurations.object_contexts import AtlasSpec

    from ..scene import P2PGymScene

    game = (
        P2PGymScene()
        .scene(scene_id=scene_id)
        .user_experience(scene_header="Kitchen", scene_body=(
            "<p>Arrows move, space uses what you face. Three onions in a pot cook a soup; put it on a "
            "dish and serve it at the window.</p>"))
        .pyodide(environment_initialization_code=environment_initialization_code(num_players, max_steps, work))
        .gameplay(default_action=NOOP, action_mapping=ACTION_MAPPING, num_episodes=num_episodes, max_steps=max_steps)
        .rendering(fps=30, game_width=WIDTH, game_height=HEIGHT, background="#1f2937",
                   location_representation="pixels",
                   assets_to_preload=[AtlasSpec(name="kitchen", **asset_paths()).as_dict()])
    )
    if ai_seats:
        game.ai_policy("chef", code=AI_POLICY)
        game.policies(policy_mapping={i: "chef" if i in ai_seats else "human" for i in range(num_players)})
        game.p2p(**p2p)
    else:
        game.p2p(players=num_players, **p2p)
    if waiting_room:
        game.waiting_room(**waiting_room)
    return game


def build_stager(num_players: int = 2, max_steps: int = 900, ai_seats: tuple[int, ...] = (), work: int = 0, **game: Any):
    """Start -> Kitchen -> End (the browser tests; ``python -m interactive_gym_p2p.examples.demo
    --game kitchen [--ai-partner]``). Other keywords go to :func:`build_scene`."""
    from interactive_gym.scenes.stager import Stager
    from interactive_gym.scenes.static_scene import EndScene, StartScene

    start = StartScene().scene(scene_id="welcome").display(scene_header="Kitchen", scene_body="<p>Press Continue.</p>")
    end = EndScene().scene(scene_id="thanks").display(scene_header="Thank you!", scene_body="<p>Done.</p>")
    return Stager(scenes=[start, build_scene(num_players, max_steps, tuple(ai_seats), work=work, **game), end])
