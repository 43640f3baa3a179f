"""Assertions shared by the Python peer's simulation tests (tests/js/support/checks.mjs)."""

from __future__ import annotations

import re
from typing import Any

from interactive_gym_p2p.peer.env import InteractiveGymEnvAdapter
from interactive_gym_p2p.peer.sim import Game, confirmed_rows

HASH = re.compile(r"[0-9a-f]{16}\Z")


def assert_agreement(g: Game, window: int = 8, label: str = "") -> list[dict[str, Any]]:
    """Every peer finished normally with the same confirmed actions and hashes, no desync, no
    rollback deeper than the window, every frame hashed and verified, episodes tiling the game."""
    records = [s.record() for s in g.sessions]
    for i, r in enumerate(records):
        assert r["game_over_reason"] == "completed", f"{label} peer {i} ended with {r['game_over_reason']}"
        assert r["partial"] is False
        assert r["desyncs"] == [], f"{label} peer {i} reported a false desync"
        assert r["stats"]["hash_mismatches"] == 0
        assert r["stats"]["max_rollback_depth"] <= window
        assert r["stats"]["decode_errors"] == 0
        assert r["episode_end_mismatches"] == []
    rows = [confirmed_rows(r) for r in records]
    for i in range(1, len(rows)):
        assert ([e["input_delays"] for e in records[i]["episodes"]]
                == [e["input_delays"] for e in records[0]["episodes"]]), f"{label} peer {i} recorded other input delays"
        assert len(rows[i]) == len(rows[0]), f"{label} peer {i} confirmed {len(rows[i])} frames, peer 0 {len(rows[0])}"
        diff = next((k for k, (a, b) in enumerate(zip(rows[i], rows[0])) if a != b), None)
        assert diff is None, f"{label} peer {i} differs at row {diff}: {rows[i][diff]} vs {rows[0][diff]}"
    last = records[0]["episodes"][-1]["end_frame"]
    for r in records:
        assert r["verified_frame"] == last, f"{label} verified {r['verified_frame']}, last frame {last}"
        for ep in r["episodes"]:
            for row in ep["frames"]:
                assert HASH.match(row[2])
    nxt = 0
    for ep in records[0]["episodes"]:
        assert ep["start_frame"] == nxt and ep["frames"][0][0] == ep["start_frame"]
        assert ep["frames"][-1][0] == ep["end_frame"]
        nxt = ep["end_frame"] + 1
    return records


def assert_ai_seat_replays(env: InteractiveGymEnvAdapter, episode: dict[str, Any], seat: int, what: str = "the AI") -> None:
    """CPython, from an export's episode alone: at every confirmed frame the AI seat's action is
    the one its policy chooses from the replayed state, and every state hash matches."""
    env.reset(episode["seed"])
    for frame, actions, digest in episode["frames"]:
        assert env.ai is not None and actions[seat] == env.ai.next[0], f"frame {frame}: {what}'s action differs from CPython's"
        env.step(actions)
        assert env.state_hash() == digest
