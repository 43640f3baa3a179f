"""Tidy research tables of one game, built from its players' validation exports (plain Python,
no pandas): ``frames``, ``inputs``, ``episodes``, ``events`` and ``players``. The study-wide
``participants`` table is in :mod:`.study`. Every column is in :mod:`.codebook`.

Which export says what:

- frames, actions, rewards, flags and infos come from the *reference* export: the player's
  export with the most confirmed frames (the lowest player index on a tie). Every player's
  export holds every player's confirmed actions, and the same step data, so one suffices; the
  frames after a divergence are the reference player's view (``verified`` is false there);
- ``hidden`` of player p, its key events and its connection statistics come from player p's
  own export;
- ``verified`` uses the server's comparison report (or, without one, the reference export's
  own verified frame).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

from .codebook import COLUMNS, TABLE_NAMES

logger = logging.getLogger(__name__)

GAME_TABLES = tuple(t for t in TABLE_NAMES if t != "participants")

Pause = Callable[[], None]
"""Called every :data:`PAUSE_EVERY` rows while tables are built or written: the server passes
``socketio.sleep(0)``-like, so a long game's tables do not hold eventlet's hub (the signaling of
live games) for seconds."""
PAUSE_EVERY = 2048


def no_pause() -> None:
    pass


@dataclass
class Table:
    name: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


@dataclass
class GameSource:
    """Everything known about one game."""

    game_id: str
    exports: dict[int, Mapping[str, Any]]
    """player index -> that player's (latest) export."""
    manifest: Mapping[str, Any] | None = None
    """The store's game.json (scene, subjects, condition, bot players), when registered."""
    comparison: Mapping[str, Any] | None = None
    """The server's comparison report, when every player uploaded."""
    derived: Mapping[int, Mapping[str, Any]] | None = None
    """episode -> step data derived by replay (:mod:`.derive`), used where the export has none."""
    outcomes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """subject id -> the participant's outcome record (participants store), for events."""


def _json(v: Any) -> str:
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def iso_from_ms(ms: float) -> str:
    dt = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def percentile(values: list[float], q: float) -> float | None:
    """Nearest rank (the engines' rule for RTT)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 1)) - 1))
    return ordered[rank]


class _Game:
    """Lookups over one game's exports shared by the table builders."""

    def __init__(self, src: GameSource, pause: Pause = no_pause) -> None:
        self.src = src
        self.pause = pause
        if not src.exports:
            raise ValueError(f"game {src.game_id}: no export")
        self.ref_index = max(sorted(src.exports), key=lambda p: sum(len(e["frames"]) for e in src.exports[p]["episodes"]))
        self.ref = src.exports[self.ref_index]
        ids = self.ref["ids"]
        m = src.manifest or {}
        self.scene_id = ids["scene_id"]
        ai_seats = ids.get("ai_seats") or []
        self.num_players = 1 + len(ids["peers"]) + len(ai_seats)
        self.subjects: dict[int, str] = {ids["player_index"]: ids["subject_id"]}
        self.bots: dict[int, bool] = {ids["player_index"]: bool(ids.get("bot", False))}
        for peer in ids["peers"]:
            self.subjects[peer["player_index"]] = peer["subject_id"]
            self.bots[peer["player_index"]] = bool(peer.get("bot", False))
        # AI seats (docs/ai.md): no participant, no export; their actions are in every frame.
        self.ai_policies: dict[int, str] = {a["player_index"]: a["policy"] for a in ai_seats}
        self.ai_hosts: dict[int, int] = {a["player_index"]: a["host"] for a in ai_seats if a.get("kind") == "onnx"}
        for p in m.get("bot_players") or []:
            self.bots[int(p)] = True
        self.condition = ids.get("condition") or m.get("condition")
        self.recruitment: dict[int, dict[str, str]] = {
            p: dict(doc["ids"].get("recruitment") or {}) for p, doc in src.exports.items()
        }
        comp = src.comparison
        if comp is not None and "verified_frame" in comp:
            self.verified = comp["verified_frame"]
        else:
            self.verified = self.ref.get("verified_frame")
        self.hidden_frames: dict[int, list[tuple[int, int]] | None] = {}
        for p in range(self.num_players):
            doc = src.exports.get(p)
            if doc is None or "hidden_intervals" not in doc:
                self.hidden_frames[p] = None
            else:
                self.hidden_frames[p] = [(iv["first_frame"], iv["last_frame"]) for iv in doc["hidden_intervals"]
                                         if iv["first_frame"] is not None]
        self.episode_starts = sorted((e["start_frame"], e["episode"]) for e in self.ref["episodes"])

    def game_cols(self) -> list[Any]:
        return [self.src.game_id, self.scene_id, self.condition]

    def player_cols(self, p: int) -> list[Any]:
        return [p, self.subjects.get(p), self.bots.get(p, False), self.ai_policies.get(p), self.ai_hosts.get(p)]

    def is_hidden(self, p: int, frame: int) -> bool | None:
        ivs = self.hidden_frames.get(p)
        if ivs is None:
            return None
        return any(a <= frame <= b for a, b in ivs)

    def episode_of(self, frame: int | None) -> int | None:
        if frame is None:
            return None
        ep = None
        for start, number in self.episode_starts:
            if start <= frame:
                ep = number
        return ep

    def step_data(self, episode: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None]:
        """The episode's step data and its source: recorded, derived or None (unknown)."""
        if episode.get("rewards") is not None:
            return episode, "recorded"
        derived = (self.src.derived or {}).get(episode["episode"])
        if derived is not None:
            return derived, "derived"
        return episode, None

    def recruitment_keys(self) -> list[str]:
        return sorted({k for r in self.recruitment.values() for k in r})


def _info_keys(game: _Game) -> list[str]:
    keys: list[str] = []
    for ep in game.ref["episodes"]:
        data, _ = game.step_data(ep)
        for _, values in data.get("infos") or []:
            for k in values:
                if k not in keys:
                    keys.append(k)
    return keys


def _columns(table: str, **dynamic: list[str]) -> list[str]:
    out = []
    for c in COLUMNS[table]:
        if c.name == "recruitment.<NAME>":
            out += [f"recruitment.{k}" for k in dynamic.get("recruitment", [])]
        elif c.name == "info.<key>":
            out += [f"info.{k}" for k in dynamic.get("info", [])]
        elif c.name == "<scene_id>.<element_id>":
            out += dynamic.get("form", [])
        else:
            out.append(c.name)
    return out


def frames_table(game: _Game) -> Table:
    rkeys = game.recruitment_keys()
    ikeys = _info_keys(game)
    t = Table("frames", _columns("frames", recruitment=rkeys, info=ikeys))
    n = game.num_players
    verified = game.verified
    for ep in game.ref["episodes"]:
        data, source = game.step_data(ep)
        rewards = {f: r for f, r in data.get("rewards") or []}
        term = {f: r for f, r in data.get("terminated") or []}
        trunc = {f: r for f, r in data.get("truncated") or []}
        info_rows = {f: v for f, v in data.get("infos") or []}
        current_info: dict[str, Any] = {}
        start = ep["start_frame"]
        known = source is not None
        for frame, actions, _hash in ep["frames"]:
            if len(t.rows) % PAUSE_EVERY < n:
                game.pause()
            if frame in info_rows:
                current_info = info_rows[frame]
            r = rewards.get(frame)
            te = term.get(frame)
            tr = trunc.get(frame)
            is_verified = verified is not None and frame <= verified
            for p in range(n):
                row = game.game_cols() + [ep["episode"], frame, frame - start] + game.player_cols(p)
                rec = game.recruitment.get(p, {})
                row += [rec.get(k) for k in rkeys]
                row += [
                    actions[p],
                    (r[p] if r is not None else 0) if known else None,
                    source,
                    te[p] if te is not None else False,
                    tr[p] if tr is not None else False,
                ]
                for k in ikeys:
                    vals = current_info.get(k)
                    v = None if vals is None else vals[p]
                    row.append(_json(v) if isinstance(v, (list, dict)) else v)
                row += [game.is_hidden(p, frame), is_verified]
                t.rows.append(row)
    return t


def inputs_table(game: _Game) -> Table:
    t = Table("inputs", _columns("inputs"))
    for p in sorted(game.src.exports):
        doc = game.src.exports[p]
        for key, down, epoch_ms, t_ms, frame, screen, predicted, corrected, shown in doc.get("inputs") or []:
            if len(t.rows) % PAUSE_EVERY == 0:
                game.pause()
            lag = None if shown is None else round(shown - t_ms, 3)
            t.rows.append(game.game_cols() + game.player_cols(p) + [
                game.episode_of(frame), key, "down" if down else "up", epoch_ms, iso_from_ms(epoch_ms), t_ms,
                frame, screen, predicted, corrected, shown, lag,
            ])
    return t


def episodes_table(game: _Game) -> Table:
    t = Table("episodes", _columns("episodes"))
    for ep in game.ref["episodes"]:
        data, source = game.step_data(ep)
        totals = [0.0] * game.num_players
        for _, r in data.get("rewards") or []:
            for p, v in enumerate(r):
                if v is not None:
                    totals[p] += v
        end_reason = data.get("end_reason") if source == "derived" else ep.get("end_reason")
        if ep["end_frame"] is None:
            end_reason = "incomplete"
        delays = ep.get("input_delays")
        frames = [f for f, _, _ in ep["frames"]]
        for p in range(game.num_players):
            hidden = None
            if game.hidden_frames.get(p) is not None:
                hidden = sum(1 for f in frames if game.is_hidden(p, f))
            t.rows.append(game.game_cols() + [ep["episode"]] + game.player_cols(p) + [
                ep["seed"], ep["start_frame"], ep["end_frame"], len(ep["frames"]),
                (int(totals[p]) if float(totals[p]).is_integer() else totals[p]) if source is not None else None,
                source, end_reason,
                delays[p] if delays is not None and p < len(delays) else None,
                hidden, ep["verified_frame"],
            ])
    return t


def events_table(game: _Game) -> Table:
    t = Table("events", _columns("events"))

    def add(p: int, kind: str, event: str, time: str | None, frame: int | None, peer: int | None, detail: Any) -> None:
        t.rows.append(game.game_cols() + [p, game.subjects.get(p), kind, event, time, frame, peer,
                                          None if detail is None else _json(detail)])

    for p in sorted(game.src.exports):
        doc = game.src.exports[p]
        for ev in doc.get("connection_events") or []:
            add(p, "connection", ev["event"], ev["time"], ev.get("frame"), ev["peer_index"], None)
        for d in doc.get("desyncs") or []:
            add(p, "desync", "desync", d["time"], d["frame"], d["peer_index"],
                {"episode": d["episode"], "local_hash": d["local_hash"], "peer_hash": d["peer_hash"],
                 "state_dump": d.get("state") is not None})
        for iv in doc.get("hidden_intervals") or []:
            add(p, "hidden", "hidden", iv["started_at"], iv["first_frame"], None,
                {"duration_s": iv["duration_s"], "excluded": iv["excluded"]})
            if iv["ended_at"] is not None:
                add(p, "hidden", "visible", iv["ended_at"], iv["last_frame"], None, None)
            if iv["excluded"]:
                # The interval went past max_hidden_s: the player was excluded at its end.
                add(p, "exclusion", "excluded", iv["ended_at"], iv["last_frame"], None, {"reason": "hidden"})
    comp = game.src.comparison
    if comp is not None and comp.get("first_divergent_frame") is not None:
        div = comp.get("divergence") or {}
        add(game.ref_index, "divergence", "diverged", comp.get("generated_at"), comp["first_divergent_frame"], None,
            {"kind": div.get("kind"), "episode": div.get("episode")})
    for p in range(game.num_players):
        out = game.src.outcomes.get(game.subjects.get(p) or "")
        if out and (out.get("game_id") in (None, game.src.game_id)):
            add(p, "outcome", out.get("outcome"), out.get("recorded_at"), None, None,
                {k: out.get(k) for k in ("reason", "code", "detail", "reported_by") if out.get(k) is not None})
    t.rows.sort(key=lambda r: (r[6] or "", r[3], r[7] if r[7] is not None else -1))
    return t


def players_table(game: _Game) -> Table:
    t = Table("players", _columns("players"))
    for p in range(game.num_players):
        doc = game.src.exports.get(p)
        if doc is None:
            head = game.game_cols() + game.player_cols(p) + [False]
            t.rows.append(head + [None] * (len(t.columns) - len(head)))
            continue
        stats = doc["stats"]
        timing = doc["timing"]
        inputs = doc.get("inputs") or []
        lags = [r[8] - r[3] for r in inputs if r[1] and r[8] is not None]
        shown = [r for r in inputs if r[5] is not None]
        k2s = stats.get("key_to_screen_ms") or {}
        hidden_s = None
        if "hidden_intervals" in doc:
            hidden_s = round(sum(iv["duration_s"] for iv in doc["hidden_intervals"]), 3)
        t.rows.append(game.game_cols() + game.player_cols(p) + [
            True, doc["partial"], sum(len(e["frames"]) for e in doc["episodes"]), game.verified,
            len(doc["desyncs"]), stats["rtt_ms"]["p50"], stats["rtt_ms"]["p95"], stats["rollbacks"],
            stats["max_rollback_depth"], stats["stalled_frames"], stats["path"]["kind"], timing["fps_achieved"],
            timing["started_at"], timing["ended_at"], hidden_s, len(inputs),
            round(sum(1 for r in shown if r[6]) / len(shown), 4) if shown else None,
            round(sum(1 for r in shown if r[7]) / len(shown), 4) if shown else None,
            round(sum(lags) / len(lags), 3) if lags else None,
            round(percentile(lags, 0.95), 3) if lags else None,
            k2s.get("p50"), k2s.get("p95"), k2s.get("samples"),
            len(doc["rejoins"]) if "rejoins" in doc else None,
        ])
    return t


def game_tables(src: GameSource, pause: Pause = no_pause) -> dict[str, Table]:
    """The five per-game tables of one game."""
    game = _Game(src, pause)
    return {
        "frames": frames_table(game),
        "inputs": inputs_table(game),
        "episodes": episodes_table(game),
        "events": events_table(game),
        "players": players_table(game),
    }
