"""Offline verification: an export's confirmed actions replayed through the environment in
CPython reproduce every hash; a tampered hash, action or seed is found at its exact frame."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from interactive_gym_p2p.hashing import state_hash
from interactive_gym_p2p.validation.replay import episode_seed, load_factory, replay_export

from validation_helpers import ROOT, DriftEnv, dumps, make_drift_env, played_exports


def test_episode_seed_rule() -> None:
    assert episode_seed(0, 0) == 0x9E3779B1
    assert episode_seed(0xFFFFFFFF, 0) == 0xFFFFFFFF ^ 0x9E3779B1
    assert episode_seed(2**40 + 5, 1) == 5 ^ ((2 * 0x9E3779B1) & 0xFFFFFFFF)
    assert all(0 <= episode_seed(s, e) <= 0xFFFFFFFF for s in (0, 1, 2**32 - 1) for e in range(50))


def test_a_faithful_export_reproduces_every_hash() -> None:
    doc = played_exports(episodes=3)[0]
    result = replay_export(doc, make_drift_env, shared_seed=77)
    assert result.ok, (result.problems, result.mismatch)
    assert result.hashes_checked == result.frames_replayed == 120
    assert result.episodes_replayed == 3
    assert result.notes == []


def test_a_tampered_hash_is_found_at_its_frame() -> None:
    doc = played_exports()[0]
    row = doc["episodes"][1]["frames"][13]
    row[2] = "0123456789abcdef"
    result = replay_export(doc, make_drift_env)
    assert not result.ok
    assert (result.mismatch.frame, result.mismatch.episode) == (53, 1)
    assert result.mismatch.expected == "0123456789abcdef"
    assert result.mismatch.actual == state_hash(result.mismatch.state)


def test_a_changed_action_breaks_the_hash_of_that_frame() -> None:
    doc = played_exports()[0]
    doc["episodes"][0]["frames"][20][1] = [4, 4]
    result = replay_export(doc, make_drift_env)
    assert result.mismatch is not None and result.mismatch.frame == 20


def test_an_environment_that_is_not_deterministic_is_caught() -> None:
    doc = played_exports()[0]
    result = replay_export(doc, lambda: DriftEnv(bug_at=31))
    assert result.mismatch is not None and result.mismatch.frame == 30  # t == 31 after frame 30's step


def test_seed_gaps_and_ends_are_problems_not_silence() -> None:
    doc = played_exports()[0]
    assert "seed" in replay_export(doc, make_drift_env, shared_seed=78).problems[0]
    gap = json.loads(dumps(doc))
    del gap["episodes"][0]["frames"][5]
    assert "frame 5 is missing" in replay_export(gap, make_drift_env).problems[0]
    longer = json.loads(dumps(doc))
    longer["episodes"][0]["frames"].append([40, [0, 0], None])
    assert "ended the episode at frame 39" in replay_export(longer, make_drift_env).problems[0]
    shorter = replay_export(doc, lambda: DriftEnv(length=100))
    assert shorter.ok and "did not end it" in shorter.notes[0]
    unhashed = json.loads(dumps(doc))
    for ep in unhashed["episodes"]:
        for row in ep["frames"]:
            row[2] = None
    assert not replay_export(unhashed, make_drift_env).ok


def test_load_factory() -> None:
    assert load_factory("validation_helpers:make_drift_env") is make_drift_env
    for bad in ("nocolon", "validation_helpers:", "validation_helpers:ROOT"):
        try:
            load_factory(bad)
        except (ValueError, TypeError):
            pass
        else:
            raise AssertionError(bad)


def test_the_demo_environment_replays_in_cpython(tmp_path: Path) -> None:
    """Gem Rush (the demo's Pyodide env) played in Python, exported, verified by the CLI."""
    from interactive_gym_p2p.examples.gem_rush import GemRushEnv

    doc = played_exports()[0]
    env = GemRushEnv(max_steps=60)
    frame = 0
    episodes = []
    for e in range(2):
        seed = episode_seed(99, e)
        env.reset(seed=seed)
        rows, start, done = [], frame, False
        while not done:
            actions = [(frame * 3) % 9, (frame * 5 + 2) % 9]
            *_, truncs, _ = env.step({0: actions[0], 1: actions[1]})
            done = truncs["__all__"]
            rows.append([frame, actions, state_hash(env.get_state())])
            frame += 1
        episodes.append({"episode": e, "seed": seed, "start_frame": start, "end_frame": frame - 1,
                         "last_confirmed_frame": frame - 1, "verified_frame": frame - 1, "frames": rows})
    doc["episodes"] = episodes
    doc["verified_frame"] = frame - 1
    path = tmp_path / "gem-rush-export.json"
    path.write_bytes(dumps(doc))
    out = subprocess.run(
        [sys.executable, "-m", "interactive_gym_p2p.exports", "verify", str(path),
         "--env", "interactive_gym_p2p.examples.gem_rush:GemRushEnv", "--seed", "99"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    # GemRushEnv() defaults to a longer episode: the replay notes it, every hash still matches.
    assert out.returncode == 0, out.stdout + out.stderr
    assert "REPRODUCED: 120 frame hashes over 120 frames in 2 episode(s)" in out.stdout
