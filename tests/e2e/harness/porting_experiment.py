"""An experiment written the Interactive Gym way, made peer to peer by changing its scene class.

The environment code imports Interactive Gym's object contexts (``Sprite``, ``Text``,
``Polygon``, ``Line``, ``Circle``) and returns their ``as_dict()`` from ``render()``, as an
Interactive Gym Pyodide scene does; the scene preloads an atlas and images with ``AtlasSpec`` /
``ImgSpec``; counters are permanent sprites listed only right after a reset (``env.t == 0``,
as Interactive Gym's Overcooked does); chefs are tweened atlas sprites whose frame follows their
direction; a spinning marker has an angle; ``on_game_step_code`` changes a scoring weight
every step; ``reset_freeze_s`` holds the last frame of an episode. The test makes the image
files (``write_assets``) and passes their paths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interactive_gym.configurations.object_contexts import AtlasSpec, ImgSpec, Text
from interactive_gym.scenes.stager import Stager
from interactive_gym.scenes.static_scene import EndScene, StartScene

from interactive_gym_p2p import P2PGymScene

TILE = 32
COLS, ROWS = 7, 5
SCENE_ID = "chef_world"

# Frame colours of the test's atlas (RGBA): a test can find them on the canvas.
CHEF_FRAMES = {"up.png": (200, 40, 40, 255), "down.png": (40, 200, 40, 255),
               "left.png": (40, 40, 200, 255), "right.png": (200, 200, 40, 255)}
TERRAIN_FRAMES = {"counter.png": (150, 100, 50, 255), "serve.png": (230, 230, 230, 255)}
GEM = (240, 0, 240, 255)
FLOOR = (60, 70, 80, 255)

ENV_CODE = f'''
import random

from interactive_gym.configurations.object_contexts import Circle, Line, Polygon, Sprite, Text

TILE = {TILE}
COLS, ROWS = {COLS}, {ROWS}
MOVES = {{0: (0, 0), 1: (0, -1), 2: (0, 1), 3: (-1, 0), 4: (1, 0)}}
FACING = {{1: "up", 2: "down", 3: "left", 4: "right"}}
COUNTERS = [(x, 0) for x in range(COLS)] + [(0, y) for y in range(1, ROWS)] + [(COLS - 1, y) for y in range(1, ROWS)]


class ChefWorld:
    possible_agents = [0, 1]

    def __init__(self, steps):
        self.steps = steps
        self.reset(0)

    def reset(self, seed=None, options=None):
        rng = random.Random(seed)
        self.t = 0
        self.pos = [[1, 1], [COLS - 2, ROWS - 1]]
        self.facing = ["down", "up"]
        self.score = [0, 0]
        self.weight = 1
        self.gems = sorted({{(rng.randrange(1, COLS - 1), rng.randrange(1, ROWS)) for _ in range(4)}})
        return {{a: 0 for a in self.possible_agents}}, {{}}

    def step(self, actions):
        for agent in self.possible_agents:
            action = actions[agent]
            dx, dy = MOVES.get(action, (0, 0))
            if action in FACING:
                self.facing[agent] = FACING[action]
            x, y = self.pos[agent][0] + dx, self.pos[agent][1] + dy
            if (x, y) not in COUNTERS and 0 <= x < COLS and 0 <= y < ROWS:
                self.pos[agent] = [x, y]
            here = tuple(self.pos[agent])
            if here in self.gems:
                self.gems.remove(here)
                self.score[agent] += self.weight
        self.t += 1
        done = self.t >= self.steps
        rewards = {{a: 0 for a in self.possible_agents}}
        return ({{a: 0 for a in self.possible_agents}}, rewards, {{"__all__": done}}, {{"__all__": False}}, {{}})

    def get_state(self):
        return {{"t": self.t, "pos": [list(p) for p in self.pos], "facing": list(self.facing),
                "score": list(self.score), "weight": self.weight, "gems": [list(g) for g in self.gems]}}

    def set_state(self, s):
        self.t, self.weight = s["t"], s["weight"]
        self.pos = [list(p) for p in s["pos"]]
        self.facing = list(s["facing"])
        self.score = list(s["score"])
        self.gems = [tuple(g) for g in s["gems"]]

    def render(self):
        w, h = COLS * TILE, ROWS * TILE
        objs = []
        if self.t == 0:
            objs += [Sprite(f"counter-{{x}}-{{y}}", x=x * TILE / w, y=y * TILE / h, width=TILE, height=TILE,
                            image_name="terrain", frame="counter.png", permanent=True, depth=-2)
                     for x, y in COUNTERS]
            objs.append(Sprite("serve", x=3 * TILE / w, y=0, width=TILE, height=TILE, image_name="terrain",
                               frame="serve.png", permanent=True, depth=-1))
        for x, y in self.gems:
            objs.append(Sprite(f"gem-{{x}}-{{y}}", x=(x * TILE + 8) / w, y=(y * TILE + 8) / h, width=16, height=16,
                               image_name="gem"))
        for i, (x, y) in enumerate(self.pos):
            objs.append(Sprite(f"chef-{{i}}", x=x * TILE / w, y=y * TILE / h, width=TILE, height=TILE,
                               image_name="chefs", frame=self.facing[i] + ".png", tween=True, tween_duration=80,
                               depth=1))
        objs.append(Sprite("marker", x=0.5, y=0.5, width=12, height=12, image_name="gem",
                           angle=(self.t * 15) % 360, depth=3))
        objs.append(Polygon("zone", color="#3355ff", points=[(0.3, 0.45), (0.45, 0.45), (0.375, 0.6)], alpha=0.6))
        objs.append(Line("rule", color="#ffffff", width=2, points=[(0.15, 0.95), (0.85, 0.95)], depth=2))
        objs.append(Circle("lamp", color="#ffcc00", x=0.9, y=0.3, radius=6, alpha=0.8, depth=2))
        objs.append(Text("score", text=f"{{self.score[0]}} : {{self.score[1]}} x{{self.weight}}", x=0.4, y=0.82,
                         size=14, color="#ffffff", depth=4))
        return [o.as_dict() for o in objs]


env = ChefWorld(steps=interactive_gym_globals.get("steps", {{STEPS}}))
'''

# Interactive Gym runs this before every step; here it runs inside the simulated step.
STEP_CODE = "env.weight = 3 if env.t % 40 < 20 else 1\n"

KEYS = {"ArrowUp": 1, "ArrowDown": 2, "ArrowLeft": 3, "ArrowRight": 4}


def write_assets(folder: Path) -> dict[str, str]:
    """The atlas (PNG + JSON hash) and images this scene preloads; returns their paths."""
    import sys

    tests_dir = str(Path(__file__).resolve().parents[2])  # tests/png_files.py, shared with the unit tests
    if tests_dir not in sys.path:
        sys.path.append(tests_dir)
    from png_files import png_bytes, write_atlas

    folder.mkdir(parents=True, exist_ok=True)
    chefs_png, chefs_json = write_atlas(folder, "chefs", CHEF_FRAMES, size=TILE)
    terrain_png, terrain_json = write_atlas(folder, "terrain", TERRAIN_FRAMES, size=TILE)
    (folder / "gem.png").write_bytes(png_bytes(16, 16, lambda x, y: GEM if 3 <= x <= 12 and 3 <= y <= 12 else (0, 0, 0, 0)))
    (folder / "floor.png").write_bytes(png_bytes(COLS * TILE, ROWS * TILE, lambda x, y: FLOOR))
    return {"chefs_png": str(chefs_png), "chefs_json": str(chefs_json), "terrain_png": str(terrain_png),
            "terrain_json": str(terrain_json), "gem": str(folder / "gem.png"), "floor": str(folder / "floor.png")}


def build_stager(assets: dict[str, str], steps: int = 120, num_episodes: int = 2, reset_freeze_s: float = 3,
                 impairment: dict[str, Any] | None = None) -> Stager:
    preload = [
        AtlasSpec(name="chefs", img_path=assets["chefs_png"], atlas_path=assets["chefs_json"]).as_dict(),
        AtlasSpec(name="terrain", img_path=assets["terrain_png"], atlas_path=assets["terrain_json"]).as_dict(),
        ImgSpec(name="gem", img_path=assets["gem"]).as_dict(),
        ImgSpec(name="floor", img_path=assets["floor"]).as_dict(),
    ]
    game = (
        P2PGymScene()  # was: gym_scene.GymScene()
        .scene(scene_id=SCENE_ID)
        .policies(policy_mapping={0: "human", 1: "human"})
        .rendering(fps=30, game_width=COLS * TILE, game_height=ROWS * TILE, background="floor",
                   assets_to_preload=preload,
                   state_init=[Text("wait", text="Get ready", x=0.35, y=0.45, size=16, color="#ffffff").as_dict()])
        .gameplay(default_action=0, action_mapping=KEYS, num_episodes=num_episodes, max_steps=steps,
                  reset_freeze_s=reset_freeze_s)
        .user_experience(scene_header="Chef world", scene_body="<p>Loading...</p>",
                         in_game_scene_body="<p>Arrow keys to move.</p>")
        .pyodide(run_through_pyodide=True, environment_initialization_code=ENV_CODE.replace("{STEPS}", str(steps)),
                 on_game_step_code=STEP_CODE)
        .p2p(players=2, ice_transport_policy="relay", impairment=impairment)
    )
    start = StartScene().scene(scene_id="welcome").display(scene_header="Welcome", scene_body="<p>Continue.</p>")
    end = EndScene().scene(scene_id="thanks").display(scene_header="Thanks")
    return Stager(scenes=[start, game, end])
