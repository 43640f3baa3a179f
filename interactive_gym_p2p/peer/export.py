"""Validation export of the Python peer: the twin of ``static/js/validation.js``.

``build_export(record, ids, settings, partial, now_ms)`` gives the same document as the
browser's ``buildExport({record, ids, settings, partial, now})`` for the same input (same
keys in the same order, same values, same errors with the same paths; tested against node).
``upload_export`` POSTs it with the player's token and retries like ``uploadExport``: network
errors, timeouts and 5xx with exponential backoff, never a 4xx.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

logger = logging.getLogger(__name__)

SCHEMA_NAME = "interactive-gym-p2p/validation-export"
SCHEMA_VERSION = 1
IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", re.ASCII)

U32_MAX = 0xFFFFFFFF
I32_MIN = -2147483648
I32_MAX = 2147483647
MAX_SAFE_INTEGER = 2**53 - 1
MAX_INPUT_DELAY = 16  # protocol.MAX_INPUT_DELAY
HASH = re.compile(r"[0-9a-f]{16}", re.ASCII)
ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|([+-])(\d{2}):(\d{2}))", re.ASCII)
CONNECTION_EVENTS = ("interrupted", "resumed", "disconnected", "left", "excluded", "away", "rejoined")
PATH_KINDS = ("direct", "relay", "fallback", "simulated", "local")
CANDIDATE_TYPES = ("host", "srflx", "prflx", "relay")
END_REASONS = ("terminated", "truncated", "max_steps", "desync")
COUNTERS = (
    "rollbacks", "max_rollback_depth", "mispredicted_frames", "stalled_frames", "frames_simulated",
    "bytes_sent", "bytes_received", "messages_sent", "messages_received", "decode_errors",
)
_MISSING = object()


class ExportBuildError(ValueError):
    """The record cannot become a valid export; ``path`` names the field (``$.stats.rollbacks``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


def _fail(path: str, message: str) -> Any:
    raise ExportBuildError(path, message)


def _js(v: Any) -> str:
    """``JSON.stringify(v)`` for error messages (close enough: compact, no NaN)."""
    try:
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return repr(v)


def _is_object(v: Any) -> bool:
    return isinstance(v, Mapping)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _need(obj: Any, key: str, path: str) -> Any:
    if not _is_object(obj):
        _fail(path, f"expected an object, got {_js(obj)}")
    if key not in obj:
        _fail(f"{path}.{key}", "is missing")
    return obj[key]


def _identifier(v: Any, path: str) -> str:
    if not isinstance(v, str) or not IDENTIFIER.fullmatch(v) or ".." in v:
        _fail(path, f"{_js(v)} is not a plain identifier (letters, digits, '_', '.', '-'; at most 64; no '..')")
    return v


def _int(v: Any, path: str, lo: int, hi: int) -> int:
    if not _is_number(v) or (isinstance(v, float) and not (math.isfinite(v) and v.is_integer())) or v < lo or v > hi:
        _fail(path, f"{_js(v)} is not an integer in [{lo}, {hi}]")
    return int(v)


def _frame(v: Any, path: str) -> int:
    return _int(v, path, 0, U32_MAX)


def _frame_or_null(v: Any, path: str) -> int | None:
    return None if v is None else _frame(v, path)


def _count(v: Any, path: str) -> int:
    return _int(v, path, 0, MAX_SAFE_INTEGER)


def _hash_or_null(v: Any, path: str) -> str | None:
    if v is None:
        return None
    if not isinstance(v, str) or not HASH.fullmatch(v):
        _fail(path, f"{_js(v)} is not a 16-hex-digit hash")
    return v


def _finite_or_null(v: Any) -> float | int | None:
    """A finite non-negative number, or None for anything else (NaN p50 of no samples, 0/0 fps)."""
    return v if _is_number(v) and math.isfinite(v) and v >= 0 else None


def _iso_from_ms(ms: float, path: str) -> str:
    # new Date(ms).toISOString(): the time value is truncated toward zero to whole ms.
    whole = math.trunc(ms)
    try:
        dt = datetime.fromtimestamp(0, tz=timezone.utc) + timedelta(milliseconds=whole)
    except OverflowError:
        _fail(path, f"{_js(ms)} is not a time")
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + f".{dt.microsecond // 1000:03d}Z"


def iso_time(v: Any, path: str = "$") -> str:
    """ISO 8601 UTC text from epoch milliseconds, a datetime or an ISO string (checked, kept as is)."""
    if isinstance(v, str):
        if not ISO.fullmatch(v):
            _fail(path, f"{_js(v)} is not an ISO 8601 time")
        return v
    if isinstance(v, datetime):
        if v.tzinfo is None:
            _fail(path, "a naive datetime is not a time (give it a timezone)")
        return _iso_from_ms(v.timestamp() * 1000, path)
    if _is_number(v) and math.isfinite(v):
        return _iso_from_ms(v, path)
    return _fail(path, f"{_js(v)} is not a time")


def parse_iso_ms(text: str) -> float:
    """``Date.parse`` of an ISO string accepted by :func:`iso_time`: epoch ms (whole ms)."""
    m = ISO.fullmatch(text)
    if not m:
        return math.nan
    year, month, day, hour, minute, second = (int(m.group(i)) for i in range(1, 7))
    frac = (m.group(7) or "")[:3].ljust(3, "0")
    try:
        dt = datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except ValueError:
        return math.nan
    ms = dt.timestamp() * 1000 + int(frac)
    if m.group(8) != "Z":
        offset = (int(m.group(10)) * 60 + int(m.group(11))) * 60000
        ms -= offset if m.group(9) == "+" else -offset
    return ms


def json_copy(v: Any, path: str = "$", seen: set[int] | None = None) -> Any:
    """Deep JSON copy of free data (settings, state dumps): NaN/Infinity become the hashing
    contract's tokens, -0 becomes 0; anything that is not JSON is refused with its path."""
    seen = set() if seen is None else seen
    if v is None or isinstance(v, (str, bool)):
        return v
    if isinstance(v, float):
        if math.isnan(v):
            return "NaN"
        if v == math.inf:
            return "Infinity"
        if v == -math.inf:
            return "-Infinity"
        return 0 if v == 0 else v
    if isinstance(v, int):
        # A JS number cannot hold it exactly; validation.js refuses such a bigint the same way.
        if abs(v) > MAX_SAFE_INTEGER:
            _fail(path, "integer too large for JSON")
        return v
    if not isinstance(v, (Mapping, list, tuple, bytes, bytearray)):
        _fail(path, f"a {type(v).__name__} is not JSON")
    if id(v) in seen:
        _fail(path, "reference cycle")
    seen.add(id(v))
    out: Any
    if isinstance(v, (list, tuple, bytes, bytearray)):
        out = [json_copy(x, f"{path}[{i}]", seen) for i, x in enumerate(v)]
    else:
        out = {}
        for k, x in v.items():
            key = _key(k)
            out[key] = json_copy(x, f"{path}.{key}", seen)
    seen.discard(id(v))
    return out


def _key(k: Any) -> str:
    """``String(k)`` of a key."""
    if isinstance(k, bool):
        return "true" if k else "false"
    if k is None:
        return "null"
    return str(k)


def _bot_flag(obj: Any, path: str) -> bool:
    """``bot`` of an ids object: True, or False/None/absent; anything else is an error."""
    v = obj.get("bot") if isinstance(obj, dict) else None
    if v is None or v is False:
        return False
    if v is True:
        return True
    _fail(f"{path}.bot", "must be true, false or absent")
    return False


def _build_peer(p: Any, path: str) -> dict[str, Any]:
    peer: dict[str, Any] = {
        "player_index": _int(_need(p, "player_index", path), f"{path}.player_index", 0, 255),
        "subject_id": _identifier(_need(p, "subject_id", path), f"{path}.subject_id"),
    }
    if _bot_flag(p, path):
        peer["bot"] = True
    return peer


def _build_ai_seat(a: Any, path: str) -> dict[str, Any]:
    agent = _need(a, "agent_id", path)
    if agent is not None and (isinstance(agent, bool) or not isinstance(agent, (str, int))):
        _fail(f"{path}.agent_id", "must be a string, an integer or null")
    policy = _need(a, "policy", path)
    if not isinstance(policy, str) or not 1 <= len(policy) <= 256:
        _fail(f"{path}.policy", "must be the policy's name or .onnx file (1..256 characters)")
    kind = _need(a, "kind", path)
    if kind not in ("python", "onnx"):
        _fail(f"{path}.kind", "must be 'python' or 'onnx'")
    out = {"player_index": _int(_need(a, "player_index", path), f"{path}.player_index", 0, 255),
           "agent_id": agent, "policy": policy, "kind": kind}
    if kind == "onnx":  # a hosted seat: the player whose page ran the model
        out["host"] = _int(_need(a, "host", path), f"{path}.host", 0, 255)
    elif "host" in a:
        _fail(f"{path}.host", "must be absent unless kind is 'onnx'")
    return out


_RECRUITMENT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")
_RECRUITMENT_VALUE = re.compile(r"[^\x00-\x1f\x7f]{1,256}")


def _build_recruitment(r: Any, path: str) -> dict[str, str]:
    """Recruitment ids (PROLIFIC_PID, ...): name -> non-empty text, keys in sorted order."""
    if r is None:
        return {}
    if not _is_object(r):
        _fail(path, "must be an object of recruitment parameter -> value")
    out: dict[str, str] = {}
    for name in sorted(r, key=str):
        if not isinstance(name, str) or not _RECRUITMENT_NAME.fullmatch(name):
            _fail(f"{path}.{name}", "is not a plain parameter name")
        value = r[name]
        if not isinstance(value, str) or not _RECRUITMENT_VALUE.fullmatch(value):
            _fail(f"{path}.{name}", "must be 1 to 256 characters without control characters")
        out[name] = value
    return out


def _build_ids(ids: Any) -> dict[str, Any]:
    path = "$.ids"
    player_index = _int(_need(ids, "player_index", path), f"{path}.player_index", 0, 255)
    peers = _need(ids, "peers", path)
    if not isinstance(peers, (list, tuple)):
        _fail(f"{path}.peers", "must be a list of the other players")
    ai_seats = ids.get("ai_seats") if isinstance(ids, dict) else None
    if ai_seats is not None and (not isinstance(ai_seats, (list, tuple)) or len(ai_seats) == 0):
        _fail(f"{path}.ai_seats", "must be absent or a non-empty list")
    if len(peers) == 0 and not ai_seats:
        _fail(f"{path}.peers", "must list at least one peer (or the game's AI seats)")
    out = {
        "game_id": _identifier(_need(ids, "game_id", path), f"{path}.game_id"),
        "scene_id": _identifier(_need(ids, "scene_id", path), f"{path}.scene_id"),
        "subject_id": _identifier(_need(ids, "subject_id", path), f"{path}.subject_id"),
        "player_index": player_index,
        "peers": [_build_peer(p, f"{path}.peers[{i}]") for i, p in enumerate(peers)],
    }
    out["recruitment"] = _build_recruitment(ids.get("recruitment") if _is_object(ids) else None, f"{path}.recruitment")
    # Optional: present only when they apply (a scene with conditions; a bot's seat).
    condition = ids.get("condition") if isinstance(ids, dict) else None
    if condition is not None:
        out["condition"] = _identifier(condition, f"{path}.condition")
    if _bot_flag(ids, path):
        out["bot"] = True
    if ai_seats:
        out["ai_seats"] = sorted((_build_ai_seat(a, f"{path}.ai_seats[{i}]") for i, a in enumerate(ai_seats)),
                                 key=lambda a: a["player_index"])
    indexes = sorted([player_index, *(p["player_index"] for p in out["peers"]), *(a["player_index"] for a in out.get("ai_seats", ()))])
    if indexes != list(range(len(indexes))):
        _fail(path, f"player indexes {_js(indexes)} must be 0..{len(indexes) - 1}, each once")
    out["peers"].sort(key=lambda p: p["player_index"])
    return out


def _build_settings(settings: Any) -> dict[str, Any]:
    path = "$.settings"
    p2p = _need(settings, "p2p", path)
    validation = _need(settings, "validation", path)
    impairment = settings.get("impairment")
    if not _is_object(p2p):
        _fail(f"{path}.p2p", "must be an object")
    if not _is_object(validation):
        _fail(f"{path}.validation", "must be an object")
    if impairment is not None and not _is_object(impairment):
        _fail(f"{path}.impairment", "must be an object or null")
    return {
        "p2p": json_copy(p2p, f"{path}.p2p"),
        "validation": json_copy(validation, f"{path}.validation"),
        "impairment": None if impairment is None else json_copy(impairment, f"{path}.impairment"),
    }


def _build_delays(v: Any, path: str, num_players: int) -> list[int | None]:
    if not isinstance(v, (list, tuple)) or len(v) != num_players:
        _fail(path, f"must hold {num_players} input delays (null = unknown)")
    return [None if d is None else _int(d, f"{path}[{i}]", 0, MAX_INPUT_DELAY) for i, d in enumerate(v)]


def _build_key_to_screen(v: Any, path: str) -> dict[str, Any]:
    """Key-to-screen latency {p50, p95, samples}; absent = not measured (this peer has no screen)."""
    if v is None:
        return {"p50": None, "p95": None, "samples": 0}
    return {
        "p50": _finite_or_null(_need(v, "p50", path)),
        "p95": _finite_or_null(_need(v, "p95", path)),
        "samples": _count(_need(v, "samples", path), f"{path}.samples"),
    }


def _build_episode(ep: Any, e: int, num_players: int) -> dict[str, Any]:
    path = f"$.episodes[{e}]"
    start = _frame(_need(ep, "start_frame", path), f"{path}.start_frame")
    last = _frame_or_null(_need(ep, "last_confirmed_frame", path), f"{path}.last_confirmed_frame")
    rows = _need(ep, "frames", path)
    if not isinstance(rows, (list, tuple)):
        _fail(f"{path}.frames", "must be an array of [frame, actions, hash] rows")
    frames: list[list[Any]] = []
    previous = -1
    for r, row in enumerate(rows):
        rp = f"{path}.frames[{r}]"
        if not isinstance(row, (list, tuple)) or len(row) != 3:
            _fail(rp, "must be [frame, actions, hash]")
        frame = _frame(row[0], f"{rp}[0]")
        # Past the last confirmed frame a row can only be a prediction: never exported.
        if last is None or frame > last:
            continue
        if frame < start:
            _fail(f"{rp}[0]", f"frame {frame} is before the episode's start_frame {start}")
        if frame <= previous:
            _fail(f"{rp}[0]", f"frame {frame} does not follow frame {previous}")
        previous = frame
        actions = row[1]
        if not isinstance(actions, (list, tuple)) or len(actions) != num_players:
            _fail(f"{rp}[1]", f"must hold {num_players} actions")
        frames.append([frame, [_int(a, f"{rp}[1][{i}]", I32_MIN, I32_MAX) for i, a in enumerate(actions)],
                       _hash_or_null(row[2], f"{rp}[2]")])
    verified = _frame_or_null(_need(ep, "verified_frame", path), f"{path}.verified_frame")
    out: dict[str, Any] = {
        "episode": _count(_need(ep, "episode", path), f"{path}.episode"),
        "seed": _int(_need(ep, "seed", path), f"{path}.seed", 0, U32_MAX),
        "start_frame": start,
        "end_frame": _frame_or_null(_need(ep, "end_frame", path), f"{path}.end_frame"),
        "last_confirmed_frame": last,
        "verified_frame": verified,
    }
    # Every player's input delay (absent only in records of older engines), before the rows.
    if "input_delays" in ep:
        out["input_delays"] = _build_delays(ep["input_delays"], f"{path}.input_delays", num_players)
    out["frames"] = frames
    # Per-frame step data (optional keys: absent in records of older engines).
    if "rewards" in ep:
        out["rewards"] = None if ep["rewards"] is None else _step_rows(
            ep["rewards"], f"{path}.rewards", start, last, num_players, _reward_value)
    if "terminated" in ep:
        out["terminated"] = _step_rows(ep["terminated"], f"{path}.terminated", start, last, num_players, _flag_value)
    if "truncated" in ep:
        out["truncated"] = _step_rows(ep["truncated"], f"{path}.truncated", start, last, num_players, _flag_value)
    if "infos" in ep:
        out["infos"] = _step_rows(ep["infos"], f"{path}.infos", start, last, num_players, None)
    if "end_reason" in ep:
        reason = ep["end_reason"]
        if reason is not None and reason not in END_REASONS:
            _fail(f"{path}.end_reason", f"{_js(reason)} is not one of {', '.join(END_REASONS)}")
        out["end_reason"] = reason
    return out


def _reward_value(v: Any, path: str) -> Any:
    if v is None:
        return None
    if _is_number(v) and math.isfinite(v):
        # Integral floats as ints: the JSON text is the browser's.
        return int(v) if isinstance(v, float) and v.is_integer() and abs(v) <= MAX_SAFE_INTEGER else (0 if v == 0 else v)
    return _fail(path, f"{_js(v)} is not a finite number or null")


def _flag_value(v: Any, path: str) -> bool:
    return v if isinstance(v, bool) else _fail(path, f"{_js(v)} is not a boolean")


def _step_rows(rows: Any, path: str, start: int, last: int | None, num_players: int,
               value: Callable[[Any, str], Any] | None) -> list[list[Any]]:
    """``stepRows`` of validation.js: sparse ``[frame, values]`` rows, frames increasing inside
    ``[start, last]`` (rows after ``last`` dropped); ``value=None``: info rows (any JSON)."""
    if not isinstance(rows, (list, tuple)):
        _fail(path, "must be an array of [frame, values] rows")
    out: list[list[Any]] = []
    previous = -1

    def per_player(vals: Any, vp: str, check: Callable[[Any, str], Any]) -> list[Any]:
        if not isinstance(vals, (list, tuple)) or len(vals) != num_players:
            _fail(vp, f"must hold {num_players} values, one per player")
        return [check(v, f"{vp}[{i}]") for i, v in enumerate(vals)]

    for r, row in enumerate(rows):
        rp = f"{path}[{r}]"
        if not isinstance(row, (list, tuple)) or len(row) != 2:
            _fail(rp, "must be [frame, values]")
        frame = _frame(row[0], f"{rp}[0]")
        if last is None or frame > last:
            continue
        if frame < start:
            _fail(f"{rp}[0]", f"frame {frame} is before the episode's start_frame {start}")
        if frame <= previous:
            _fail(f"{rp}[0]", f"frame {frame} does not follow frame {previous}")
        previous = frame
        if value is not None:
            out.append([frame, per_player(row[1], f"{rp}[1]", value)])
        else:
            if not _is_object(row[1]):
                _fail(f"{rp}[1]", "must be an object of key -> [value per player]")
            out.append([frame, {_key(k): per_player(vals, f"{rp}[1].{_key(k)}", json_copy) for k, vals in row[1].items()}])
    return out


def _build_desync(d: Any, i: int) -> dict[str, Any]:
    path = f"$.desyncs[{i}]"
    state = d.get("state") if _is_object(d) else None

    def hash_(v: Any, p: str) -> str | None:
        if v is None:
            _fail(p, "is missing")
        return _hash_or_null(v, p)

    return {
        "frame": _frame(_need(d, "frame", path), f"{path}.frame"),
        "episode": _count(_need(d, "episode", path), f"{path}.episode"),
        "local_hash": hash_(_need(d, "local_hash", path), f"{path}.local_hash"),
        "peer_hash": hash_(_need(d, "peer_hash", path), f"{path}.peer_hash"),
        "peer_index": _int(_need(d, "peer_index", path), f"{path}.peer_index", 0, 255),
        "time": iso_time(_need(d, "time", path), f"{path}.time"),
        "state": None if state is None else json_copy(state, f"{path}.state"),
    }


def _build_connection_event(ev: Any, i: int) -> dict[str, Any]:
    path = f"$.connection_events[{i}]"
    event = _need(ev, "event", path)
    if event not in CONNECTION_EVENTS:
        _fail(f"{path}.event", f"{_js(event)} is not one of {', '.join(CONNECTION_EVENTS)}")
    return {
        "peer_index": _int(_need(ev, "peer_index", path), f"{path}.peer_index", 0, 255),
        "event": event,
        "frame": _frame_or_null(ev.get("frame"), f"{path}.frame"),
        "time": iso_time(_need(ev, "time", path), f"{path}.time"),
    }


def _build_inputs(rows: Any) -> list[list[Any]]:
    """``buildInputs``: the input log's rows ``[key, down, epoch_ms, t_ms, frame, screen_frame,
    predicted, corrected, shown_ms]``."""
    if not isinstance(rows, (list, tuple)):
        _fail("$.inputs", "must be an array of key event rows")

    def number(v: Any, p: str) -> Any:
        if not _is_number(v) or not math.isfinite(v):
            _fail(p, f"{_js(v)} is not a finite number")
        return int(v) if isinstance(v, float) and v.is_integer() and abs(v) <= MAX_SAFE_INTEGER else v

    def flag_or_null(v: Any, p: str) -> bool | None:
        if v is not None and not isinstance(v, bool):
            _fail(p, f"{_js(v)} is not a boolean or null")
        return v

    out = []
    for i, row in enumerate(rows):
        p = f"$.inputs[{i}]"
        if not isinstance(row, (list, tuple)) or len(row) != 9:
            _fail(p, "must be [key, down, epoch_ms, t_ms, frame, screen_frame, predicted, corrected, shown_ms]")
        if not isinstance(row[0], str) or not 0 < len(row[0]) <= 64:
            _fail(f"{p}[0]", f"{_js(row[0])} is not a key name")
        if not isinstance(row[1], bool):
            _fail(f"{p}[1]", "must be a boolean")
        out.append([row[0], row[1], _int(row[2], f"{p}[2]", 0, MAX_SAFE_INTEGER), number(row[3], f"{p}[3]"),
                    _frame_or_null(row[4], f"{p}[4]"), _frame_or_null(row[5], f"{p}[5]"),
                    flag_or_null(row[6], f"{p}[6]"), flag_or_null(row[7], f"{p}[7]"),
                    None if row[8] is None else number(row[8], f"{p}[8]")])
    return out


def _build_rejoin(rj: Any, i: int) -> dict[str, Any]:
    path = f"$.rejoins[{i}]"
    source = _need(rj, "source", path)
    caught = _need(rj, "caught_up_at", path)
    out: dict[str, Any] = {}
    # reloaded_at: when the old page went away (only the page knows it; absent: unknown).
    if "reloaded_at" in rj:
        reloaded = rj["reloaded_at"]
        out["reloaded_at"] = None if reloaded is None else iso_time(reloaded, f"{path}.reloaded_at")
    out.update({
        "requested_at": iso_time(_need(rj, "requested_at", path), f"{path}.requested_at"),
        "caught_up_at": None if caught is None else iso_time(caught, f"{path}.caught_up_at"),
        "source": None if source is None else _int(source, f"{path}.source", 0, 255),
        "frame": _frame_or_null(_need(rj, "frame", path), f"{path}.frame"),
        "frames": _count(_need(rj, "frames", path), f"{path}.frames"),
        "bytes": _count(_need(rj, "bytes", path), f"{path}.bytes"),
        "transfer_s": _finite_or_null(rj.get("transfer_s")),
        "replay_s": _finite_or_null(rj.get("replay_s")),
    })
    return out


def _build_hidden_interval(iv: Any, i: int) -> dict[str, Any]:
    path = f"$.hidden_intervals[{i}]"
    first = _frame_or_null(_need(iv, "first_frame", path), f"{path}.first_frame")
    last = _frame_or_null(_need(iv, "last_frame", path), f"{path}.last_frame")
    if (first is None) != (last is None):
        _fail(path, "first_frame and last_frame are both frames or both null")
    if first is not None and last is not None and last < first:
        _fail(f"{path}.last_frame", f"{last} is before first_frame {first}")
    ended = _need(iv, "ended_at", path)
    duration = _need(iv, "duration_s", path)
    if not _is_number(duration) or not math.isfinite(duration) or duration < 0:
        _fail(f"{path}.duration_s", f"{_js(duration)} is not a non-negative number")
    excluded = _need(iv, "excluded", path)
    if not isinstance(excluded, bool):
        _fail(f"{path}.excluded", "must be a boolean")
    return {
        "first_frame": first,
        "last_frame": last,
        "started_at": iso_time(_need(iv, "started_at", path), f"{path}.started_at"),
        "ended_at": None if ended is None else iso_time(ended, f"{path}.ended_at"),
        "duration_s": duration,
        "excluded": excluded,
    }


def _depth_key(depth: Any) -> float:
    try:
        return float(depth)
    except (TypeError, ValueError):
        return math.inf


def _build_stats(stats: Any) -> dict[str, Any]:
    path = "$.stats"
    rtt = _need(stats, "rtt_ms", path)
    histogram = _need(stats, "rollback_depth_histogram", path)
    path_info = _need(stats, "path", path)
    kind = _need(path_info, "kind", f"{path}.path")
    if kind not in PATH_KINDS:
        _fail(f"{path}.path.kind", f"{_js(kind)} is not one of {', '.join(PATH_KINDS)}")
    protocol = path_info.get("protocol")
    if protocol is not None and protocol not in ("udp", "tcp"):
        _fail(f"{path}.path.protocol", f"{_js(protocol)} is not udp, tcp or null")

    def candidate(key: str) -> str | None:
        v = path_info.get(key)
        if v is not None and v not in CANDIDATE_TYPES:
            _fail(f"{path}.path.{key}", f"{_js(v)} is not a candidate type")
        return v

    out: dict[str, Any] = {
        "rtt_ms": {
            "p50": _finite_or_null(_need(rtt, "p50", f"{path}.rtt_ms")),
            "p95": _finite_or_null(_need(rtt, "p95", f"{path}.rtt_ms")),
            "samples": _count(_need(rtt, "samples", f"{path}.rtt_ms"), f"{path}.rtt_ms.samples"),
        },
        "key_to_screen_ms": _build_key_to_screen(stats.get("key_to_screen_ms"), f"{path}.key_to_screen_ms"),
    }
    for key in COUNTERS[:2]:
        out[key] = _count(_need(stats, key, path), f"{path}.{key}")
    if not _is_object(histogram):
        _fail(f"{path}.rollback_depth_histogram", "must be an object of depth -> count")
    hist: dict[str, int] = {}
    for depth, n in sorted(histogram.items(), key=lambda kv: _depth_key(kv[0])):
        key = _key(depth)
        if not re.fullmatch(r"[1-9][0-9]{0,9}", key, re.ASCII):
            _fail(f"{path}.rollback_depth_histogram", f"depth {_js(depth)} is not a positive integer")
        hist[key] = _count(n, f"{path}.rollback_depth_histogram.{depth}")
    out["rollback_depth_histogram"] = hist
    for key in COUNTERS[2:]:
        out[key] = _count(_need(stats, key, path), f"{path}.{key}")
    out["path"] = {
        "kind": kind,
        "protocol": protocol,
        "local_candidate_type": candidate("local_candidate_type"),
        "remote_candidate_type": candidate("remote_candidate_type"),
    }
    return out


def _build_timing(timing: Any, fallback_end: Any) -> dict[str, Any]:
    path = "$.timing"
    started = iso_time(_need(timing, "started_at", path), f"{path}.started_at")
    ended_raw = timing.get("ended_at")
    ended = iso_time(fallback_end if ended_raw is None else ended_raw, f"{path}.ended_at")
    duration = timing.get("duration_s")
    if not _is_number(duration) or not math.isfinite(duration) or duration < 0:
        diff = (parse_iso_ms(ended) - parse_iso_ms(started)) / 1000
        # Math.max(0, NaN) is NaN in JS; JSON then writes null. Keep that (the schema refuses it).
        duration = None if math.isnan(diff) else max(0, diff)
        if isinstance(duration, float) and duration.is_integer():
            duration = int(duration)
    fps_target = _need(timing, "fps_target", path)
    if not _is_number(fps_target) or not math.isfinite(fps_target) or fps_target <= 0:
        _fail(f"{path}.fps_target", "must be a positive number")
    return {
        "started_at": started,
        "ended_at": ended,
        "duration_s": duration,
        "fps_target": fps_target,
        "fps_achieved": _finite_or_null(timing.get("fps_achieved")),
    }


def build_export(
    record: Any,
    ids: Any,
    settings: Any,
    partial: bool | None = None,
    now_ms: float | None = None,
) -> dict[str, Any]:
    """The export document of one player (the pinned shape, keys in the documented order).

    ``record``: the session's ``record()``; ``ids``: ``{game_id, scene_id, subject_id,
    player_index, peers: [{player_index, subject_id}]}``; ``settings``: ``{p2p, validation,
    impairment | None}``; ``partial`` defaults to ``record["partial"]`` (else False);
    ``now_ms`` (epoch ms) is the end time when the record has no ``timing.ended_at``.
    """
    if not _is_object(record):
        _fail("$", "record must be an object")
    out_ids = _build_ids(ids)
    num_players = 1 + len(out_ids["peers"]) + len(out_ids.get("ai_seats", ()))
    episodes = _need(record, "episodes", "$")
    if not isinstance(episodes, (list, tuple)):
        _fail("$.episodes", "must be an array")
    desyncs = record.get("desyncs")
    desyncs = [] if desyncs is None else desyncs
    events = record.get("connection_events")
    events = [] if events is None else events
    if not isinstance(desyncs, (list, tuple)):
        _fail("$.desyncs", "must be an array")
    if not isinstance(events, (list, tuple)):
        _fail("$.connection_events", "must be an array")
    is_partial = partial if partial is not None else record.get("partial")
    is_partial = False if is_partial is None else is_partial
    if not isinstance(is_partial, bool):
        _fail("$.partial", "must be a boolean")
    # Optional (absent from older records); a headless peer is never hidden: [].
    hidden = record.get("hidden_intervals", _MISSING)
    if hidden is not _MISSING and not isinstance(hidden, (list, tuple)):
        _fail("$.hidden_intervals", "must be an array")
    rejoins = record.get("rejoins", _MISSING)
    if rejoins is not _MISSING and not isinstance(rejoins, (list, tuple)):
        _fail("$.rejoins", "must be an array")
    doc = {
        "schema": SCHEMA_NAME,
        "schema_version": SCHEMA_VERSION,
        "partial": is_partial,
        "ids": out_ids,
        "settings": _build_settings(settings),
        "episodes": [_build_episode(ep, e, num_players) for e, ep in enumerate(episodes)],
        "verified_frame": _frame_or_null(_need(record, "verified_frame", "$"), "$.verified_frame"),
        "desyncs": [_build_desync(d, i) for i, d in enumerate(desyncs)],
        "connection_events": [_build_connection_event(ev, i) for i, ev in enumerate(events)],
    }
    if hidden is not _MISSING:
        doc["hidden_intervals"] = [_build_hidden_interval(iv, i) for i, iv in enumerate(hidden)]
    if "inputs" in record:
        doc["inputs"] = _build_inputs(record["inputs"])
    if rejoins is not _MISSING:  # optional (absent from older records): rejoins after a page reload
        doc["rejoins"] = [_build_rejoin(rj, i) for i, rj in enumerate(rejoins)]
    doc["stats"] = _build_stats(_need(record, "stats", "$"))
    doc["timing"] = _build_timing(_need(record, "timing", "$"), time.time() * 1000 if now_ms is None else now_ms)
    return doc


def export_upload_url(base: str, game_id: str, player_index: int) -> str:
    """``exportUploadUrl``: the upload URL of one export slot."""
    _identifier(game_id, "gameId")
    _int(player_index, "playerIndex", 0, 255)
    return f"{(base or '').rstrip('/')}/p2p/exports/{game_id}/{player_index}"


def backoff_delay(attempt: int, base_delay_ms: float = 500, max_delay_ms: float = 15000,
                  rand: Callable[[], float] = random.random) -> int:
    """Backoff before attempt n+1: ``base * 2^(n-1)``, capped, times a jitter factor in [0.5, 1]."""
    raw = min(max_delay_ms, base_delay_ms * 2 ** (attempt - 1))
    # Jitter: after a server restart every waiting peer must not come back in the same ms.
    return int(math.floor(raw * (0.5 + 0.5 * rand()) + 0.5))


@dataclass
class UploadResult:
    """How an upload ended (``uploadExport``'s result)."""

    ok: bool
    outcome: str
    """``stored`` | ``duplicate`` | ``rejected`` (4xx, final) | ``gave_up``."""
    http_status: int | None
    response: Any
    attempts: int
    reason: str | None = None


async def upload_export(
    url: str,
    token: str,
    doc: Mapping[str, Any] | str,
    *,
    max_attempts: int = 8,
    base_delay_ms: float = 500,
    max_delay_ms: float = 15000,
    timeout_ms: float = 30000,
    on_status: Callable[[dict[str, Any]], None] | None = None,
    session: Any = None,
) -> UploadResult:
    """POST the export with ``Authorization: Bearer <token>``; never raises for network trouble."""
    import aiohttp  # imported on use: building an export must not need it

    if not url:
        raise TypeError("upload_export: url is required")
    if not token:
        raise TypeError("upload_export: token is required")
    body = doc if isinstance(doc, str) else json.dumps(doc, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    data = body.encode("utf-8")

    def report(status: dict[str, Any]) -> None:
        if on_status is None:
            return
        try:
            on_status(status)
        except Exception:  # the caller's problem, not the upload's
            logger.exception("upload on_status callback failed")

    own = session is None
    http = session or aiohttp.ClientSession()
    last_reason, last_status = "not attempted", None
    try:
        for attempt in range(1, max_attempts + 1):
            report({"phase": "uploading", "attempt": attempt, "max_attempts": max_attempts, "bytes": len(data)})
            try:
                async with http.post(
                    url, data=data, timeout=aiohttp.ClientTimeout(total=timeout_ms / 1000),
                    headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
                ) as response:
                    text = await response.text()
                    status = response.status
                try:
                    payload = json.loads(text) if text else None
                except ValueError:
                    payload = {"message": text[:200]}
                if status in (200, 201):
                    outcome = "stored" if status == 201 else "duplicate"
                    report({"phase": outcome, "attempt": attempt, "http_status": status, "response": payload})
                    return UploadResult(True, outcome, status, payload, attempt)
                if status < 500:
                    # 4xx: the server understood and refused; the same bytes would be refused again.
                    message = payload.get("message") if isinstance(payload, dict) else None
                    report({"phase": "rejected", "attempt": attempt, "http_status": status, "message": message})
                    return UploadResult(False, "rejected", status, payload, attempt, message or f"HTTP {status}")
                detail = payload.get("message") if isinstance(payload, dict) else None
                last_reason, last_status = f"server error: HTTP {status}" + (f" ({detail})" if detail else ""), status
            except asyncio.TimeoutError:
                last_reason, last_status = f"network: no answer in {timeout_ms:g} ms", None
            except aiohttp.ClientError as exc:
                last_reason, last_status = f"network: {exc}", None
            if attempt < max_attempts:
                delay = backoff_delay(attempt, base_delay_ms, max_delay_ms)
                report({"phase": "retrying", "attempt": attempt, "delay_ms": delay, "reason": last_reason})
                await asyncio.sleep(delay / 1000)
        report({"phase": "failed", "attempts": max_attempts, "reason": last_reason})
        return UploadResult(False, "gave_up", last_status, None, max_attempts, last_reason)
    finally:
        if own:
            await http.close()
