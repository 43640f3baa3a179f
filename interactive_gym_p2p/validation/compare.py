"""Cross-player comparison of one game's validation exports.

Given every player's export, say whether they agree on every confirmed frame (actions and
state hash), the first frame where they do not, the highest frame all of them verified,
each player's desync events, and the frames one player confirmed that another never
reached. At the first divergent frame the report carries the players' state dumps (from
their desync events) and a field-level diff: the JSON paths whose values differ.

Pure function of the documents: the same exports always give the same report.
"""

from __future__ import annotations

import json
import copy
import logging
from typing import Any, Iterable, Mapping

from .schema import json_path

logger = logging.getLogger(__name__)


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON sees it: true is not 1, 1 is 1.0, lists and objects compare deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b

REPORT_SCHEMA = "interactive-gym-p2p/comparison-report"
REPORT_VERSION = 1
MAX_DIFF_PATHS = 200
"""A state with a thousand differing cells says no more than its first two hundred paths."""

_ABSENT = object()


def frame_ranges(frames: Iterable[int]) -> list[list[int]]:
    """``[1, 2, 3, 7]`` -> ``[[1, 3], [7, 7]]`` (inclusive ranges, ascending)."""
    out: list[list[int]] = []
    for f in sorted(frames):
        if out and f == out[-1][1] + 1:
            out[-1][1] = f
        else:
            out.append([f, f])
    return out


def state_diff(states: Mapping[int, Any], limit: int = MAX_DIFF_PATHS) -> dict[str, Any]:
    """Paths where any player's state differs from the lowest-indexed player's state."""
    players = sorted(states)
    reference = players[0]
    paths: dict[tuple, None] = {}  # insertion-ordered set
    truncated = False
    for other in players[1:]:
        for parts in _diff(states[reference], states[other], ()):
            paths.setdefault(parts)
            if len(paths) >= limit:
                truncated = True
                break
        if truncated:
            break
    entries = []
    for parts in sorted(paths, key=_path_sort_key):
        values: dict[str, Any] = {}
        absent = []
        for p in players:
            value = _lookup(states[p], parts)
            if value is _ABSENT:
                absent.append(p)
            else:
                values[str(p)] = value
        entry: dict[str, Any] = {"path": json_path(parts), "values": values}
        if absent:
            entry["absent_in"] = absent
        entries.append(entry)
    return {"reference": reference, "paths": entries, "truncated": truncated}


def _path_sort_key(parts: tuple) -> tuple:
    # Ints before strings at each level, so list indexes sort numerically and keys by name.
    return tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in parts)


def _diff(a: Any, b: Any, parts: tuple) -> Iterable[tuple]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                yield parts + (key,)
            else:
                yield from _diff(a[key], b[key], parts + (key,))
    elif isinstance(a, list) and isinstance(b, list):
        for i in range(max(len(a), len(b))):
            if i >= len(a) or i >= len(b):
                yield parts + (i,)
            else:
                yield from _diff(a[i], b[i], parts + (i,))
    elif not json_equal(a, b):
        yield parts


def _lookup(value: Any, parts: tuple) -> Any:
    for part in parts:
        if isinstance(part, int) and isinstance(value, list) and part < len(value):
            value = value[part]
        elif isinstance(part, str) and isinstance(value, dict) and part in value:
            value = value[part]
        else:
            return _ABSENT
    return value


def _rows(doc: Mapping[str, Any]) -> dict[int, tuple[int, list, str | None]]:
    rows: dict[int, tuple[int, list, str | None]] = {}
    for episode in doc["episodes"]:
        for frame, actions, digest in episode["frames"]:
            rows[int(frame)] = (int(episode["episode"]), actions, digest)
    return rows


def _desync_summary(event: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: event[k] for k in ("frame", "episode", "local_hash", "peer_hash", "peer_index", "time")}
    out["has_state"] = event.get("state") is not None
    return out


def _state_near(doc: Mapping[str, Any], frame: int) -> dict[str, Any] | None:
    """This player's dump at ``frame``, else at its first later desync (hashes may be sparse)."""
    candidates = [d for d in doc["desyncs"] if d.get("state") is not None and d["frame"] >= frame]
    if not candidates:
        return None
    best = min(candidates, key=lambda d: (d["frame"], d["peer_index"]))
    return {"frame": best["frame"], "state": best["state"]}


def _hidden_seconds(intervals: Any) -> float | None:
    if intervals is None:
        return None
    return round(sum(iv["duration_s"] for iv in intervals), 3)


def compare_exports(exports: Mapping[int, Mapping[str, Any]] | Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The comparison report of one game's exports (one valid export per player)."""
    docs = dict(exports) if isinstance(exports, Mapping) else {int(d["ids"]["player_index"]): d for d in exports}
    if len(docs) < 1:
        raise ValueError("a comparison needs at least one export")
    if len(docs) == 1:
        (only,) = docs.values()
        if not only["ids"].get("ai_seats") or only["ids"].get("peers"):
            raise ValueError("a comparison needs the exports of at least two players "
                             "(or the one export of a game whose other seats are all AI seats)")
    players = sorted(docs)
    game_ids = {docs[p]["ids"]["game_id"] for p in players}
    if len(game_ids) != 1:
        raise ValueError(f"exports of different games: {sorted(game_ids)}")
    warnings: list[str] = []
    if len(docs) == 1:
        # A game of one participant and AI seats: the report checks the export against itself.
        warnings.append("one participant (the other seats are AI seats): nothing to compare across browsers")
    scene_ids = sorted({docs[p]["ids"]["scene_id"] for p in players})
    if len(scene_ids) != 1:
        warnings.append(f"players name different scenes: {scene_ids}")

    rows = {p: _rows(docs[p]) for p in players}
    common = sorted(set.intersection(*(set(rows[p]) for p in players)))

    episode_mismatches = []
    episode_numbers = sorted({e["episode"] for p in players for e in docs[p]["episodes"]})
    for number in episode_numbers:
        per_player = {p: next((e for e in docs[p]["episodes"] if e["episode"] == number), None) for p in players}
        present = {p: e for p, e in per_player.items() if e is not None}
        for field in ("seed", "start_frame"):
            values = {p: e[field] for p, e in present.items()}
            if len(set(values.values())) > 1:
                episode_mismatches.append(
                    {"episode": number, "field": field, "values": {str(p): v for p, v in values.items()}}
                )
        # Every peer records the delays it agreed on; they only differ when a player was lost
        # while the episode started (its delay reached some peers): worth a look, no divergence.
        delays = {p: e.get("input_delays") for p, e in present.items()}
        if len({json.dumps(v) for v in delays.values()}) > 1:
            warnings.append(f"episode {number}: players recorded different input delays: "
                            f"{ {str(p): v for p, v in delays.items()} }")

    first_divergent: int | None = None
    kind: str | None = None
    hashed_compared = 0
    verified: int | None = None
    for frame in common:
        values = [rows[p][frame] for p in players]
        episodes = {v[0] for v in values}
        hashes = [v[2] for v in values]
        if len(episodes) > 1:
            kind = "episode"
        # Plain == is JSON equality here: validated actions are integers, never booleans.
        elif any(values[0][1] != v[1] for v in values[1:]):
            kind = "actions"
        elif None not in hashes and len(set(hashes)) > 1:
            kind = "hash"
        elif None in hashes and len({h for h in hashes if h is not None}) > 1:
            kind = "hash"
        if kind is not None:
            first_divergent = frame
            break
        if None not in hashes:
            hashed_compared += 1
            verified = frame

    divergence = None
    if first_divergent is not None:
        states = {p: _state_near(docs[p], first_divergent) for p in players}
        dumps = {p: s["state"] for p, s in states.items() if s is not None}
        divergence = {
            "frame": first_divergent,
            "episode": rows[players[0]][first_divergent][0],
            "kind": kind,
            "players": {
                str(p): {
                    "episode": rows[p][first_divergent][0],
                    "actions": rows[p][first_divergent][1],
                    "hash": rows[p][first_divergent][2],
                }
                for p in players
            },
            "states": {str(p): states[p] for p in players},
            "state_diff": state_diff(dumps) if len(dumps) >= 2 else None,
        }
        if len(dumps) < 2:
            warnings.append(
                f"state dumps at the divergent frame {first_divergent} are missing for players "
                f"{[p for p in players if states[p] is None]}: no field-level diff"
            )

    unreached = []
    for p in players:
        for q in players:
            if p == q:
                continue
            missing = set(rows[p]) - set(rows[q])
            if missing:
                unreached.append(
                    {
                        "player_index": p,
                        "missing_in": q,
                        "count": len(missing),
                        "ranges": frame_ranges(missing),
                    }
                )

    player_reports = []
    for p in players:
        doc = docs[p]
        frames = sorted(rows[p])
        reported = doc["verified_frame"]
        if first_divergent is not None and reported is not None and reported >= first_divergent:
            warnings.append(
                f"player {p} reports verified_frame {reported}, at or after the divergent frame {first_divergent}"
            )
        player_reports.append(
            {
                "player_index": p,
                "subject_id": doc["ids"]["subject_id"],
                "partial": doc["partial"],
                "episodes": len(doc["episodes"]),
                "confirmed_frames": len(frames),
                "first_frame": frames[0] if frames else None,
                "last_confirmed_frame": frames[-1] if frames else None,
                "verified_frame": reported,
                "desyncs": [_desync_summary(d) for d in doc["desyncs"]],
                # The player's page in the background: its actions on these frames were the
                # hidden action. None: the export predates the field (not recorded).
                "hidden_intervals": copy.deepcopy(doc.get("hidden_intervals")),
                "hidden_s": _hidden_seconds(doc.get("hidden_intervals")),
                # The delay this player used in each of its episodes, and what it felt of it.
                "input_delays": [e.get("input_delays", [None] * len(players))[p] for e in doc["episodes"]],
                "key_to_screen_ms": copy.deepcopy(doc["stats"].get("key_to_screen_ms")),
                # Its page reloaded mid-game and it re-simulated the game from a peer's inputs
                # (its rows are its own, checked like anyone's). None: predates the field.
                "rejoins": copy.deepcopy(doc.get("rejoins")),
            }
        )

    agree = first_divergent is None and not episode_mismatches
    return {
        "schema": REPORT_SCHEMA,
        "schema_version": REPORT_VERSION,
        "game_id": next(iter(game_ids)),
        "scene_id": scene_ids[0],
        "status": "agree" if agree else "diverged",
        "agree": agree,
        "complete": not unreached and not any(docs[p]["partial"] for p in players),
        "common_frames": len(common),
        "hashed_frames_compared": hashed_compared,
        "first_divergent_frame": first_divergent,
        "verified_frame": verified,
        "players": player_reports,
        "episode_mismatches": episode_mismatches,
        "unreached_frames": unreached,
        "divergence": divergence,
        "warnings": warnings,
    }
