"""A real two-player Gem Rush game played by two Python peers over the simulated network,
as the players' validation exports (rewards, score info, key events recorded by the engines),
for the research-table tests."""

from __future__ import annotations

import json
from typing import Any

from interactive_gym_p2p.examples import gem_rush
from interactive_gym_p2p.peer.env import InteractiveGymEnvAdapter
from interactive_gym_p2p.peer.export import build_export
from interactive_gym_p2p.peer.sim import EPOCH_MS, Game

SUBJECTS = ("ann", "ben")


def gem_rush_exports(game_id: str = "gems-1", *, episodes: int = 2, max_steps: int = 150, seed: int = 3,
                     link: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    code = gem_rush.environment_initialization_code(max_steps)
    settings = {"max_episodes": episodes, "input_delay": 1}

    def busy(p: int, tick: int, prng: Any, last: dict[int, int], s: Any) -> int:
        if prng.float() < 0.2:
            last[p] = prng.int(9)
        return last.get(p, 0)

    g = Game(num_players=2, seed=seed, settings=settings,
             link=link if link is not None else {"delay_ms": 50, "jitter_ms": 20, "loss": 0.05},
             make_env=lambda p: InteractiveGymEnvAdapter.from_code(code, 2, record_info=["score"]), input=busy)
    g.run_to_end(600000)
    docs = []
    for p, s in enumerate(g.sessions):
        ids = {"game_id": game_id, "scene_id": "gem_rush", "subject_id": SUBJECTS[p], "player_index": p,
               "peers": [{"player_index": 1 - p, "subject_id": SUBJECTS[1 - p]}],
               "recruitment": {"PROLIFIC_PID": f"pid-{SUBJECTS[p]}", "STUDY_ID": "s1"}}
        cfg = {"p2p": {"fps": 30, "input_delay": 1}, "validation": {"hash_interval": 1, "record_info": ["score"]},
               "impairment": None}
        docs.append(json.loads(json.dumps(build_export(s.record(), ids, cfg, None, EPOCH_MS + g.clock.now()))))
    return docs


def final_scores(doc: dict[str, Any]) -> list[list[int]]:
    """Each episode's final score per player, from the export's score info (what the page showed)."""
    out = []
    for ep in doc["episodes"]:
        out.append(ep["infos"][-1][1]["score"])
    return out


def gem_rush_150() -> Any:
    """The environment of :func:`gem_rush_exports` (episodes of 150 steps) for --replay."""
    return gem_rush.GemRushEnv(max_steps=150)


def without_step_data(doc: dict[str, Any]) -> dict[str, Any]:
    """The export as an older engine wrote it: no rewards, flags, infos or end reasons."""
    out = json.loads(json.dumps(doc))
    for ep in out["episodes"]:
        for key in ("rewards", "terminated", "truncated", "infos", "end_reason"):
            ep.pop(key, None)
    return out
