"""Synthetic but schema-valid exports of one game, for tests, benchmarks and the docs.

The frame hashes are not of any environment's state (they are derived from the frame and
its actions) so these documents exercise storage, upload and comparison, not replay.
Everything is a function of the arguments: the same call gives the same bytes.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any


def _fake_hash(frame: int, actions: list[int], salt: str = "") -> str:
    text = f"{salt}{frame}:{','.join(map(str, actions))}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _timestamp(second: int) -> str:
    minutes, seconds = divmod(second, 60)
    hours, minutes = divmod(minutes, 60)
    return f"2025-01-01T{hours:02d}:{minutes:02d}:{seconds:02d}.000Z"


def make_game_exports(
    game_id: str = "game-1",
    *,
    scene_id: str = "scene-1",
    subject_ids: tuple[str, ...] = ("subject-a", "subject-b"),
    frames_per_episode: int = 300,
    episodes: int = 1,
    fps: int = 60,
    seed: int = 1234,
    confirmed_upto: dict[int, int] | None = None,
    diverge_at: int | None = None,
    diverging_player: int = 1,
    step_data: bool = True,
) -> list[dict[str, Any]]:
    """One export per player of a game that every player saw the same way, unless told otherwise.

    ``confirmed_upto`` maps a player index to its last confirmed frame (game-global) and
    marks that player's export partial; ``diverge_at`` makes ``diverging_player``'s state
    (hash) differ from that frame on, with a desync event and state dumps at that frame.
    ``step_data`` adds per-frame rewards (player i scores 1 on frames where its action is
    8 - i), the terminated flags of each finished episode, a ``score`` info (the running
    sum of the player's rewards in the episode) and each episode's end reason.
    """
    rng = random.Random(seed)
    n = len(subject_ids)
    confirmed_upto = confirmed_upto or {}
    total_frames = frames_per_episode * episodes
    actions = [[rng.randrange(9) for _ in range(n)] for _ in range(total_frames)]
    docs = []
    for p in range(n):
        last_global = confirmed_upto.get(p, total_frames - 1)
        partial = p in confirmed_upto
        eps = []
        for e in range(episodes):
            start = e * frames_per_episode
            end = start + frames_per_episode - 1
            if start > last_global:
                break
            last = min(end, last_global)
            rows = []
            for f in range(start, last + 1):
                salt = "x" if diverge_at is not None and p == diverging_player and f >= diverge_at else ""
                rows.append([f, list(actions[f]), _fake_hash(f, actions[f], salt)])
            verified = last if diverge_at is None else min(last, diverge_at - 1)
            episode: dict[str, Any] = {
                "episode": e,
                "seed": (seed & 0xFFFFFFFF) ^ (((e + 1) * 0x9E3779B1) & 0xFFFFFFFF),
                "start_frame": start,
                "end_frame": end if last == end and not partial else None,
                "last_confirmed_frame": last,
                "verified_frame": verified if verified >= start else None,
                "input_delays": [2] * n,
                "frames": rows,
            }
            if step_data:
                rewards, infos, score = [], [], [0] * n
                for f in range(start, last + 1):
                    r = [1 if actions[f][i] == 8 - i else 0 for i in range(n)]
                    if any(r):
                        rewards.append([f, r])
                        score = [a + b for a, b in zip(score, r)]
                    if f == start or any(r):
                        infos.append([f, {"score": list(score)}])
                ended = episode["end_frame"] is not None
                episode.update(
                    rewards=rewards,
                    terminated=[[end, [True] * n]] if ended else [],
                    truncated=[],
                    infos=infos,
                    end_reason="terminated" if ended else None,
                )
            eps.append(episode)
        desyncs = []
        if diverge_at is not None and diverge_at <= last_global:
            others = [q for q in range(n) if q != p]
            peer = diverging_player if p != diverging_player else others[0]
            mine = _fake_hash(diverge_at, actions[diverge_at], "x" if p == diverging_player else "")
            theirs = _fake_hash(diverge_at, actions[diverge_at], "x" if peer == diverging_player else "")
            state = {"t": diverge_at, "players": [[10, 20, 0], [30, 40, 1]], "score": 5}
            if p == diverging_player:
                state = {"t": diverge_at, "players": [[10, 21, 0], [30, 40, 1]], "score": 5, "extra": True}
            desyncs.append(
                {
                    "frame": diverge_at,
                    "episode": diverge_at // frames_per_episode,
                    "local_hash": mine,
                    "peer_hash": theirs,
                    "peer_index": peer,
                    "time": _timestamp(diverge_at // fps),
                    "state": state,
                }
            )
        inputs: list[list[Any]] = []
        if step_data:
            # A key down whenever this player's action changes (key "k<action>"), taken by the frame
            # 2 frames later (input delay 2), drawn 3 frames after the one on screen.
            for f in range(1, last_global - 2):
                if actions[f][p] != actions[f - 1][p]:
                    t_ms = round(f * 1000 / fps, 3)
                    inputs.append([f"k{actions[f][p]}", True, 1735689600000 + round(t_ms), t_ms, f + 2, f,
                                   f % 3 == 0, f % 3 == 0 and f % 2 == 0, round(t_ms + 3000 / fps, 3)])
        verified_frames = [ep["verified_frame"] for ep in eps if ep["verified_frame"] is not None]
        duration = (last_global + 1) / fps
        docs.append(
            {
                "schema": "interactive-gym-p2p/validation-export",
                "schema_version": 1,
                "partial": partial,
                "ids": {
                    "game_id": game_id,
                    "scene_id": scene_id,
                    "subject_id": subject_ids[p],
                    "player_index": p,
                    "peers": [{"player_index": q, "subject_id": subject_ids[q]} for q in range(n) if q != p],
                    "recruitment": {},
                },
                "settings": {
                    "p2p": {"players": n, "fps": fps, "input_delay": 2, "max_rollback": 8},
                    "validation": {"hash_interval": 1},
                    "impairment": None,
                },
                "episodes": eps,
                "verified_frame": max(verified_frames) if verified_frames else None,
                "desyncs": desyncs,
                "connection_events": [],
                **({"inputs": inputs} if step_data else {}),
                # Player 0 had its page hidden once (frames 5..9), the others never.
                "hidden_intervals": [] if p else [
                    {"first_frame": 5, "last_frame": 9, "started_at": _timestamp(1), "ended_at": _timestamp(2),
                     "duration_s": 1, "excluded": False}],
                "stats": {
                    "rtt_ms": {"p50": 12.5, "p95": 30.25, "samples": 100},
                    "key_to_screen_ms": {"p50": 58.5, "p95": 91.25, "samples": 40},
                    "rollbacks": 40,
                    "max_rollback_depth": 3,
                    "rollback_depth_histogram": {"1": 30, "2": 8, "3": 2},
                    "mispredicted_frames": 52,
                    "stalled_frames": 0,
                    "frames_simulated": total_frames + 52,
                    "bytes_sent": 123456,
                    "bytes_received": 123400,
                    "messages_sent": 4000,
                    "messages_received": 3990,
                    "decode_errors": 0,
                    "path": {"kind": "direct", "protocol": "udp", "local_candidate_type": "host", "remote_candidate_type": "host"},
                },
                "timing": {
                    "started_at": _timestamp(0),
                    "ended_at": _timestamp(int(duration)),
                    "duration_s": duration,
                    "fps_target": fps,
                    "fps_achieved": float(fps),
                },
            }
        )
    return docs
