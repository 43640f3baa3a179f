"""Kitchen (interactive_gym_p2p/examples/kitchen.py): the rules, rollback state, its sprites and
scene, its scripted AI chef, and whole games of Python peers over impaired links (2-4 chefs,
with and without an AI seat) that agree frame for frame."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from interactive_gym_p2p.examples import kitchen, kitchen_sprites
from interactive_gym_p2p.peer.env import InteractiveGymEnvAdapter
from interactive_gym_p2p.peer.sim import Game
from interactive_gym_p2p.validation.replay import replay_export

from peer_checks import assert_agreement

N, U, D, L, R, I = kitchen.NOOP, kitchen.UP, kitchen.DOWN, kitchen.LEFT, kitchen.RIGHT, kitchen.INTERACT


def play(env: kitchen.KitchenEnv, moves: list[tuple[int, ...]]) -> float:
    total = 0.0
    for acts in moves:
        _, rewards, *_ = env.step(dict(enumerate(acts)))
        total += rewards[0]
    return total


def test_a_soup_from_crate_to_window() -> None:
    env = kitchen.KitchenEnv(num_players=2, max_steps=500)
    env.reset(seed=0)  # chef 0 at (1, 1), chef 1 at (7, 1)
    onion_trip = [(L, N), (I, N), (R, N), (R, N), (U, N), (I, N), (L, N)]  # crate (0,1) -> pot (3,0) -> back
    first = onion_trip[:6]
    assert play(env, first) == 0 and env.get_state()["pots"][0] == [1, 0]
    for _ in range(2):
        play(env, [(L, N), (L, N), (I, N), (R, N), (R, N), (U, N), (I, N)])
    pots = env.get_state()["pots"]
    assert pots[0][0] == 3 and pots[0][1] > 0, pots
    # A dish from the crate at (0, 3), back to the pot once it is cooked, then the window at (8, 2).
    play(env, [(L, N), (D, N), (D, N), (L, N), (I, N)])
    assert env.get_state()["chefs"][0][3] == "dish"
    play(env, [(U, N), (U, N), (R, N), (R, N)] + [(N, N)] * kitchen.COOK_FRAMES + [(U, N), (I, N)])
    assert env.get_state()["chefs"][0][3] == "soup" and env.get_state()["pots"][0] == [0, 0]
    walk = [(R, N)] * 4 + [(D, N), (R, N), (R, N), (R, N), (I, N)]
    assert play(env, walk) == kitchen.SOUP_REWARD
    assert env.get_state()["served"] == 1 and env.get_state()["chefs"][0][3] == ""


def test_chefs_block_each_other_and_counters_hold_items() -> None:
    env = kitchen.KitchenEnv(num_players=2, max_steps=100)
    env.reset(seed=0)
    env.set_state({**env.get_state(), "chefs": [[2, 1, R, "onion"], [3, 1, L, ""]]})
    play(env, [(R, L)])
    chefs = env.get_state()["chefs"]
    assert chefs[0][:2] == [2, 1] and chefs[1][:2] == [3, 1], "neither moved into the other"
    play(env, [(D, N)])  # (2, 2) is floor: chef 0 steps down, faces down
    play(env, [(R, N), (I, N)])  # faces the counter at (3, 2) and puts the onion there
    assert env.get_state()["counters"] == [[3, 2, "onion"]] and env.get_state()["chefs"][0][3] == ""
    play(env, [(I, N)])
    assert env.get_state()["counters"] == [] and env.get_state()["chefs"][0][3] == "onion"


def test_state_round_trips_and_the_seed_moves_the_chefs() -> None:
    env = kitchen.KitchenEnv(num_players=4, max_steps=50)
    env.reset(seed=1)
    play(env, [(R, L, U, D), (I, I, I, I)] * 3)
    saved = json.loads(json.dumps(env.get_state()))
    after = [env.step({0: R, 1: D, 2: I, 3: L}) and env.get_state() for _ in range(5)]
    env.set_state(saved)
    again = [env.step({0: R, 1: D, 2: I, 3: L}) and env.get_state() for _ in range(5)]
    assert after == again
    starts = set()
    for seed in range(4):
        env.reset(seed=seed)
        starts.add(tuple(tuple(c[:2]) for c in env.get_state()["chefs"]))
    assert len(starts) == 4
    with pytest.raises(ValueError):
        kitchen.KitchenEnv(num_players=5)


def test_render_uses_the_atlas_frames(tmp_path: Path) -> None:
    png, atlas = kitchen_sprites.write(tmp_path)
    committed = Path(kitchen.asset_paths()["img_path"])
    assert png.read_bytes() == committed.read_bytes(), "kitchen_assets/ is what the script writes"
    assert atlas.read_text() == Path(kitchen.asset_paths()["atlas_path"]).read_text()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    frames = set(json.loads(atlas.read_text())["frames"])
    env = kitchen.KitchenEnv(num_players=4, max_steps=10)
    env.reset(seed=0)
    env.set_state({**env.get_state(), "pots": [[2, 0], [3, 0]], "counters": [[3, 2, "soup"]],
                   "chefs": [[1, 1, U, "onion"], [7, 1, D, "dish"], [1, 3, L, ""], [7, 3, R, "soup"]]})
    objs = env.render()
    used = {o["frame"] for o in objs if o["object_type"] == "sprite"}
    assert used <= frames and {"pot_2", "pot_ready", "soup", "chef0_u", "chef3_r", "window"} <= used
    assert all(o["image_name"] == "kitchen" for o in objs if o["object_type"] == "sprite")


def test_scene_preloads_the_atlas_and_checks() -> None:
    scene = kitchen.build_scene(num_players=3, max_steps=60, ai_seats=(2,))
    scene.check()
    assert scene.p2p_settings.players == 2 and [s["player_index"] for s in scene.ai_seats] == [2]
    (spec,) = scene.assets_to_preload
    assert spec["object_type"] == "atlas_spec" and spec["name"] == "kitchen"
    kitchen.build_scene(num_players=4, max_steps=60).check()


def adapter(n: int, steps: int, ai: list[list[Any]] | None = None) -> InteractiveGymEnvAdapter:
    return InteractiveGymEnvAdapter.from_code(kitchen.environment_initialization_code(n, steps), n,
                                              ai={"seats": ai, "policies": {"chef": kitchen.AI_POLICY}} if ai else None)


def test_two_scripted_chefs_serve_soups() -> None:
    a = adapter(2, 900, [[0, 0, "chef"], [1, 1, "chef"]])
    a.reset(12345)
    for _ in range(900):
        a.step([0, 0])
    assert a.canonical_state()["served"] >= 10


def chef_input(player: int, tick: int, prng: Any, last: dict[int, int], session: Any) -> int:
    """A participant that wanders, interacts often and changes its mind every few frames."""
    if tick % 5 == 0 or player not in last:
        last[player] = prng.int(6)
    return last[player]


@pytest.mark.parametrize("n, ai_seats", [(2, ()), (3, (1,)), (4, ())])
def test_python_peers_agree_over_an_impaired_link(n: int, ai_seats: tuple[int, ...]) -> None:
    steps = 240
    seats = [[p, p, "chef"] for p in ai_seats]
    g = Game(num_players=n, seed=9, ai_seats=ai_seats, make_env=lambda p: adapter(n, steps, seats or None),
             settings={"fps": 30, "max_episodes": 1, "input_delay": 1},
             link={"delay_ms": 40, "jitter_ms": 10, "loss": 0.05}, input=chef_input)
    g.run_to_end(600_000)
    humans = [s for s in g.sessions if s is not None]
    records = [s.record() for s in humans]
    rows = [[(r[0], tuple(r[1]), r[2]) for e in rec["episodes"] for r in e["frames"]] for rec in records]
    assert all(r == rows[0] for r in rows) and len(rows[0]) == steps
    for rec in records:
        assert rec["game_over_reason"] == "completed" and rec["desyncs"] == []
        assert rec["stats"]["rollbacks"] > 0
    if not ai_seats:
        assert_agreement(g)
    from interactive_gym_p2p.peer.export import build_export

    peers = [{"player_index": p, "subject_id": f"s{p}"} for p in range(1, n) if p not in ai_seats]
    ai = [{"player_index": p, "agent_id": p, "policy": "chef", "kind": "python"} for p in ai_seats]
    doc = build_export(records[0], {"game_id": "g1", "scene_id": "kitchen", "subject_id": "s0", "player_index": 0,
                                    "peers": peers, **({"ai_seats": ai} if ai else {})}, {"p2p": {}, "validation": {}})
    result = replay_export(doc, lambda: kitchen.KitchenEnv(num_players=n, max_steps=steps), shared_seed=g.shared_seed)
    assert result.ok and result.hashes_checked == steps, (result.problems, result.mismatch)
