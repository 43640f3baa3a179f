"""Load the validation export's JSON Schema and check documents against it.

Two layers: the JSON Schema (``export.schema.json``, shipped in the package and used by the
browser client too) says what each field looks like, checked by ``jsonschema-rs`` (a compiled
Draft 2020-12 validator: milliseconds for a 36 000-frame export, so an upload never blocks
the eventlet server for long); :func:`consistency_problems`
adds the rules a schema cannot say (frames in order and inside their episode, one action per
player, the ids rule without its ``$`` loophole). Every problem names the JSON path of the
value at fault, e.g. ``$.episodes[0].frames[12][2]``.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Sequence

import jsonschema_rs
from jsonschema import Draft202012Validator

from .ids import identifier_problem

logger = logging.getLogger(__name__)

SCHEMA_NAME = "interactive-gym-p2p/validation-export"
SCHEMA_VERSION = 1
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
SCHEMA_PATH = Path(__file__).resolve().parent / "export.schema.json"

STEP_ROW_KEYS = ("rewards", "terminated", "truncated", "infos")
"""An episode's sparse per-frame rows ``[frame, values]`` (values: one per player, or for
infos ``{key: [one per player]}``)."""

MAX_REPORTED_PROBLEMS = 50
"""A broken 36 000-frame export could produce 36 000 messages; the first few say enough."""


@dataclass(frozen=True)
class SchemaProblem:
    """One reason a document is not a valid export."""

    path: str
    """JSON path of the offending value, ``$`` for the document itself."""
    message: str
    """What is wrong there, in plain words."""

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"

    def to_json(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class ExportInvalid(ValueError):
    """A document that is not a valid export (or not JSON at all); ``.problems`` lists why."""

    def __init__(self, problems: Sequence[SchemaProblem]) -> None:
        self.problems = list(problems)
        first = "; ".join(str(p) for p in self.problems[:3])
        more = f" (and {len(self.problems) - 3} more)" if len(self.problems) > 3 else ""
        super().__init__(f"invalid validation export: {first}{more}")


def json_path(parts: Iterable[Any]) -> str:
    """``["episodes", 0, "frames"]`` -> ``$.episodes[0].frames``."""
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and _PLAIN_KEY.fullmatch(part):
            out += f".{part}"
        else:
            out += "[" + json.dumps(str(part)) + "]"
    return out


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The export's JSON Schema (draft 2020-12), read once from the package."""
    with SCHEMA_PATH.open("r", encoding="utf-8") as f:
        schema = json.load(f)
    Draft202012Validator.check_schema(schema)
    return schema


@lru_cache(maxsize=1)
def _reference_validator() -> Draft202012Validator:
    return Draft202012Validator(load_schema())


@lru_cache(maxsize=1)
def _validator() -> jsonschema_rs.Draft202012Validator:
    return jsonschema_rs.Draft202012Validator(load_schema())


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _pairs_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            # Two values for one key: which one a reader keeps differs between parsers.
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def parse_json(data: bytes | str) -> Any:
    """Strict JSON: UTF-8, no NaN/Infinity literals, no duplicate keys. Raises ExportInvalid."""
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    except UnicodeDecodeError as exc:
        raise ExportInvalid([SchemaProblem("$", f"not UTF-8 text: {exc}")]) from None
    try:
        return json.loads(text, object_pairs_hook=_pairs_without_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ExportInvalid([SchemaProblem("$", f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")]) from None
    except (ValueError, RecursionError) as exc:
        raise ExportInvalid([SchemaProblem("$", f"malformed JSON: {exc}")]) from None


def schema_problems(doc: Any, limit: int = MAX_REPORTED_PROBLEMS) -> list[SchemaProblem]:
    """What the JSON Schema says is wrong with ``doc`` (empty when it conforms), fast
    (jsonschema-rs), sorted by path."""
    validator = _validator()
    if validator.is_valid(doc):
        return []
    problems = []
    for error in validator.iter_errors(doc):
        problems.append(SchemaProblem(json_path(error.instance_path), error.message))
        if len(problems) >= limit:
            break
    problems.sort(key=lambda p: p.path)
    return problems


def reference_schema_problems(doc: Any, limit: int = MAX_REPORTED_PROBLEMS) -> list[SchemaProblem]:
    """The same verdict from the ``jsonschema`` reference validator (slow on big exports)."""
    problems = []
    for error in _reference_validator().iter_errors(doc):
        problems.append(SchemaProblem(json_path(error.absolute_path), error.message))
        if len(problems) >= limit:
            break
    problems.sort(key=lambda p: p.path)
    return problems


def consistency_problems(doc: dict[str, Any], limit: int = MAX_REPORTED_PROBLEMS) -> list[SchemaProblem]:
    """Rules across fields, for a document that already conforms to the schema."""
    problems: list[SchemaProblem] = []

    def add(path: str, message: str) -> bool:
        problems.append(SchemaProblem(path, message))
        return len(problems) >= limit

    ids = doc["ids"]
    for key in ("game_id", "scene_id", "subject_id"):
        reason = identifier_problem(ids[key])
        if reason is not None and add(f"$.ids.{key}", reason):
            return problems
    indexes = ([ids["player_index"]] + [p["player_index"] for p in ids["peers"]]
               + [a["player_index"] for a in ids.get("ai_seats", ())])
    num_players = len(indexes)
    if sorted(indexes) != list(range(num_players)):
        add("$.ids", f"player indexes {sorted(indexes)} should be 0..{num_players - 1}, each once")
    for i, peer in enumerate(ids["peers"]):
        reason = identifier_problem(peer["subject_id"])
        if reason is not None and add(f"$.ids.peers[{i}].subject_id", reason):
            return problems

    previous_episode = -1
    previous_frame = -1
    for e, episode in enumerate(doc["episodes"]):
        base = f"$.episodes[{e}]"
        if episode["episode"] <= previous_episode and add(f"{base}.episode", "episodes must be listed in increasing order"):
            return problems
        previous_episode = episode["episode"]
        start, end, last = episode["start_frame"], episode["end_frame"], episode["last_confirmed_frame"]
        if end is not None and end < start and add(f"{base}.end_frame", f"{end} is before start_frame {start}"):
            return problems
        if last is not None and end is not None and last > end and add(
            f"{base}.last_confirmed_frame", f"{last} is after end_frame {end}"
        ):
            return problems
        delays = episode.get("input_delays")
        if delays is not None and len(delays) != num_players and add(f"{base}.input_delays", f"{len(delays)} delays for {num_players} players"):
            return problems
        verified = episode["verified_frame"]
        if verified is not None and (last is None or verified > last) and add(
            f"{base}.verified_frame", f"{verified} is after last_confirmed_frame {last}"
        ):
            return problems
        for r, (frame, actions, _hash) in enumerate(episode["frames"]):
            row = f"{base}.frames[{r}]"
            if frame <= previous_frame:
                if add(f"{row}[0]", f"frame {frame} does not follow frame {previous_frame}"):
                    return problems
            elif frame < start:
                if add(f"{row}[0]", f"frame {frame} is before the episode's start_frame {start}"):
                    return problems
            elif last is None or frame > last:
                # Rows past the last confirmed frame would be predictions: never exported.
                if add(f"{row}[0]", f"frame {frame} is after last_confirmed_frame {last}"):
                    return problems
            previous_frame = max(previous_frame, frame)
            if len(actions) != num_players and add(
                f"{row}[1]", f"{len(actions)} actions for {num_players} players"
            ):
                return problems
        for key in STEP_ROW_KEYS:
            rows = episode.get(key)
            if not rows:
                continue
            previous_row_frame = -1
            for r, (frame, values) in enumerate(rows):
                row = f"{base}.{key}[{r}]"
                if frame <= previous_row_frame:
                    message = f"frame {frame} does not follow frame {previous_row_frame}"
                elif frame < start or last is None or frame > last:
                    message = f"frame {frame} is outside the episode's confirmed frames [{start}, {last}]"
                else:
                    message = None
                if message is not None and add(f"{row}[0]", message):
                    return problems
                previous_row_frame = max(previous_row_frame, frame)
                lists = values.items() if key == "infos" else [(None, values)]
                for name, vals in lists:
                    where = f"{row}[1]" if name is None else f"{row}[1]{json_path([name])[1:]}"
                    if len(vals) != num_players and add(where, f"{len(vals)} values for {num_players} players"):
                        return problems
    for d, desync in enumerate(doc["desyncs"]):
        if desync["peer_index"] not in indexes[1:] and add(
            f"$.desyncs[{d}].peer_index", f"{desync['peer_index']} is not a peer of this player"
        ):
            return problems
    previous_last = -1
    for h, interval in enumerate(doc.get("hidden_intervals", ())):
        base = f"$.hidden_intervals[{h}]"
        first, last = interval["first_frame"], interval["last_frame"]
        if (first is None) != (last is None):
            if add(base, "first_frame and last_frame are both frames or both null"):
                return problems
        elif first is not None and last is not None:
            if last < first and add(f"{base}.last_frame", f"{last} is before first_frame {first}"):
                return problems
            if first <= previous_last and add(f"{base}.first_frame", f"{first} is not after the previous interval's last_frame {previous_last}"):
                return problems
            previous_last = max(previous_last, last)
        if interval["ended_at"] is None and h != len(doc["hidden_intervals"]) - 1 and add(
            f"{base}.ended_at", "only the last interval can still be open"
        ):
            return problems
    return problems


def validate_export(doc: Any, *, reference: bool = False) -> dict[str, Any]:
    """Return ``doc`` when it is a valid export, else raise :class:`ExportInvalid`.

    ``reference=True`` checks the schema with the pure-Python ``jsonschema`` instead of
    ``jsonschema-rs`` (a second opinion; about 4 s for a 36 000-frame export).
    """
    problems = reference_schema_problems(doc) if reference else schema_problems(doc)
    if not problems:
        problems = consistency_problems(doc)
    if problems:
        raise ExportInvalid(problems)
    return doc


def parse_export(data: bytes | str, *, reference: bool = False) -> dict[str, Any]:
    """Parse and validate one uploaded or stored export."""
    return validate_export(parse_json(data), reference=reference)
