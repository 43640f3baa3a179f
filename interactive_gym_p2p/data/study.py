"""A study's data directory as research tables: every game's tables (built once per set of
exports and kept beside them), the participants table, and the study zip.

Where things are (the server's data directory)::

    <root>/exports/games/<game_id>/...       the export store (validation/storage.py)
    <root>/exports/games/<game_id>/tables/   this game's tables (frames, inputs, episodes, events, players .csv)
    <root>/participants/<subject>/participant.json, outcome.json   recruitment ids, games, outcome (participants store)
    <root>/<scene_id>/<subject>.json         a static scene's form answers (server/participants.py)

``root`` may also be given as the export store itself (``<root>/exports``), then participants
and forms are looked for beside it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Mapping

from ..validation.ids import is_identifier
from ..validation.storage import ExportStore
from .codebook import TABLE_NAMES, codebook_rows
from .files import csv_text, merge, parquet_available, read_csv, write_parquet
from .tables import GAME_TABLES, GameSource, Pause, Table, _columns, game_tables, no_pause

logger = logging.getLogger(__name__)

TABLES_DIR = "tables"
SOURCE_FILE = "source.json"

Derive = Callable[[Mapping[str, Any]], "dict[int, dict[str, Any]] | None"]
"""export -> derived step data (data/derive.py bound to an environment), or None."""


@dataclass
class StudyPaths:
    exports: Path
    root: Path | None

    @classmethod
    def of(cls, path: Path) -> "StudyPaths":
        path = Path(path)
        if (path / "exports" / "games").is_dir():
            return cls(path / "exports", path)
        if (path / "games").is_dir():
            return cls(path, path.parent if path.name == "exports" else None)
        raise FileNotFoundError(f"{path}: no exports here (expected {path}/exports/games or {path}/games)")


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def game_source(store: ExportStore, game_id: str, outcomes: Mapping[str, Mapping[str, Any]] | None = None,
                derive: Derive | None = None, pause: Pause = no_pause) -> GameSource | None:
    """The game's latest exports, manifest and comparison (None when nothing was uploaded)."""
    exports: dict[int, Any] = {}
    p = 0
    game_dir = store.game_dir(game_id)
    for path in sorted(game_dir.glob("player-*.json")):
        index = path.stem.split("-", 1)[1].split(".")[0]
        if index.isdigit():
            p = int(index)
            if p not in exports:
                pause()
                exports[p] = json.loads(store.read_export(game_id, p))
    if not exports:
        return None
    record = store.game(game_id)
    manifest = _read_json(game_dir / "game.json") if record is not None else None
    src = GameSource(game_id=game_id, exports=exports, manifest=manifest, comparison=store.comparison(game_id),
                     outcomes=outcomes or {})
    if derive is not None:
        ref = max(sorted(exports), key=lambda q: sum(len(e["frames"]) for e in exports[q]["episodes"]))
        if any(e.get("rewards") is None for e in exports[ref]["episodes"]):
            src.derived = derive(exports[ref])
    return src


def _source_key(store: ExportStore, game_id: str, derived: bool) -> dict[str, Any]:
    revisions = {}
    for path in store.game_dir(game_id).glob("player-*.json"):
        index = path.stem.split("-", 1)[1].split(".")[0]
        if index.isdigit():
            revisions[index] = max(store.revisions(game_id, int(index)) or [0])
    comp = store.game_dir(game_id) / "comparison.json"
    # The codebook's columns too: tables kept by an older version are rebuilt, not reused.
    columns = hashlib.sha256(json.dumps(codebook_rows()).encode()).hexdigest()[:16]
    return {"revisions": dict(sorted(revisions.items())), "comparison": comp.exists(), "derived": derived,
            "codebook": columns}


def build_game_tables(store: ExportStore, game_id: str, *, derive: Derive | None = None,
                      force: bool = False, pause: Pause = no_pause) -> dict[str, Table] | None:
    """The game's tables, from ``<game>/tables/`` when they were built from the same exports,
    else built now and written there. None when the game has no export. (Outcome events are
    added at the study level: outcomes change after the game's exports are complete.)"""
    out_dir = store.game_dir(game_id) / TABLES_DIR
    key = _source_key(store, game_id, derive is not None)
    if not force and _read_json(out_dir / SOURCE_FILE) == key:
        try:
            return {name: read_csv(name, (out_dir / f"{name}.csv").read_text(encoding="utf-8"), pause)
                    for name in GAME_TABLES}
        except OSError:
            pass
    src = game_source(store, game_id, None, derive, pause)
    if src is None:
        return None
    pause()
    tables = game_tables(src, pause)
    _write_atomic_dir(out_dir, {f"{n}.csv": csv_text(t, pause).encode() for n, t in tables.items()}, json.dumps(key).encode())
    return tables


def _write_atomic_dir(out_dir: Path, files: Mapping[str, bytes], source: bytes) -> None:
    """Each file replaced atomically; source.json last, so it only names complete tables."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / SOURCE_FILE).unlink(missing_ok=True)
    for name, data in files.items():
        tmp = out_dir / f".tmp-{name}"
        tmp.write_bytes(data)
        tmp.replace(out_dir / name)
    tmp = out_dir / f".tmp-{SOURCE_FILE}"
    tmp.write_bytes(source)
    tmp.replace(out_dir / SOURCE_FILE)


@dataclass
class Participants:
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    """subject -> participant.json (recruitment, games, ...)"""
    outcomes: dict[str, dict[str, Any]] = field(default_factory=dict)
    """subject -> outcome.json"""
    forms: dict[str, dict[str, Any]] = field(default_factory=dict)
    """subject -> {"<scene_id>.<element_id>": answer}"""


def read_participants(root: Path | None, form_scenes: Iterable[str] | None = None) -> Participants:
    """Participant records, outcomes and static-scene form answers under ``root``."""
    out = Participants()
    if root is None:
        return out
    pdir = root / "participants"
    if pdir.is_dir():
        for d in sorted(pdir.iterdir()):
            if not d.is_dir() or not is_identifier(d.name):
                continue
            rec = _read_json(d / "participant.json")
            if isinstance(rec, dict):
                out.records[d.name] = rec
            outcome = _read_json(d / "outcome.json")
            if isinstance(outcome, dict):
                out.outcomes[d.name] = outcome
            elif isinstance(rec, dict) and isinstance(rec.get("outcome"), dict):
                out.outcomes[d.name] = rec["outcome"]
    scenes = list(form_scenes) if form_scenes is not None else [
        d.name for d in sorted(root.iterdir()) if d.is_dir() and d.name not in ("exports", "participants") and is_identifier(d.name)
    ]
    for scene in scenes:
        sdir = root / scene
        if not sdir.is_dir():
            continue
        for path in sorted(sdir.glob("*.json")):
            doc = _read_json(path)
            # A form document: {"subject_id", "scene_id", "data": {element id: value}}.
            if not (isinstance(doc, dict) and isinstance(doc.get("data"), dict) and doc.get("scene_id") == scene
                    and isinstance(doc.get("subject_id"), str)):
                continue
            answers = out.forms.setdefault(doc["subject_id"], {})
            for element, value in doc["data"].items():
                answers[f"{scene}.{element}"] = value if isinstance(value, (str, int, float, bool)) or value is None \
                    else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return out


def outcome_events(people: Participants, players: Table, columns: list[str]) -> list[list[Any]]:
    """An ``outcome`` event per participant with an outcome, in the events table's columns."""
    seats: dict[tuple[str, str | None], list[Any]] = {}
    pc = players.columns
    for r in players.rows:
        seats.setdefault((r[pc.index("subject_id")], r[pc.index("game_id")]), r)
    rows = []
    for sid, out in sorted(people.outcomes.items()):
        seat = seats.get((sid, out.get("game_id")))
        values = {
            "game_id": out.get("game_id"), "scene_id": out.get("scene_id"),
            "condition": None if seat is None else seat[pc.index("condition")],
            "player_index": None if seat is None else seat[pc.index("player_index")],
            "subject_id": sid, "kind": "outcome", "event": out.get("outcome"), "time": out.get("recorded_at"),
            "frame": None, "peer_index": None,
            "detail": json.dumps({k: out[k] for k in ("reason", "code", "detail", "reported_by") if out.get(k) is not None},
                                 separators=(",", ":"), ensure_ascii=False, sort_keys=True),
        }
        rows.append([values.get(c) for c in columns])
    return rows


def participants_table(people: Participants, players: Table | None, frames: Table | None = None) -> Table:
    """One row per participant seen anywhere in the study (exports, records, forms). Recruitment
    ids come from the participant's record, else from their exports (the frames' columns)."""
    games: dict[str, list[tuple[str, str | None]]] = {}
    recruitment: dict[str, dict[str, str]] = {}
    bots: set[str] = set()
    if frames is not None:
        fc = frames.columns
        si = fc.index("subject_id")
        rcols = [(i, c.split(".", 1)[1]) for i, c in enumerate(fc) if c.startswith("recruitment.")]
        if rcols:
            for r in frames.rows:
                if r[si] is None:  # an AI seat
                    continue
                ids = recruitment.setdefault(r[si], {})
                for i, name in rcols:
                    if r[i] is not None and name not in ids:
                        ids[name] = r[i]
    if players is not None:
        cols = players.columns
        gi, si, ci, bi = cols.index("game_id"), cols.index("subject_id"), cols.index("condition"), cols.index("bot")
        for r in players.rows:
            if r[si] is not None:
                games.setdefault(r[si], []).append((r[gi], r[ci]))
                if r[bi]:
                    bots.add(r[si])
    for sid, rec in people.records.items():
        if rec.get("recruitment"):
            recruitment[sid] = {str(k): str(v) for k, v in rec["recruitment"].items()}
        for g in rec.get("games") or []:
            if isinstance(g, dict) and g.get("game_id") and (g["game_id"], None) not in games.get(sid, []) \
                    and all(x[0] != g["game_id"] for x in games.get(sid, [])):
                games.setdefault(sid, []).append((g["game_id"], None))
    subjects = sorted(set(games) | set(people.records) | set(people.outcomes) | set(people.forms))
    rkeys = sorted({k for r in recruitment.values() for k in r})
    fkeys = sorted({k for f in people.forms.values() for k in f})
    t = Table("participants", _columns("participants", recruitment=rkeys, form=fkeys))
    for sid in subjects:
        rec = people.records.get(sid, {})
        out = people.outcomes.get(sid, {})
        g = games.get(sid, [])
        t.rows.append(
            [sid, sid in bots] + [recruitment.get(sid, {}).get(k) for k in rkeys] + [
                ";".join(x[0] for x in g) or None,
                ";".join(sorted({x[1] for x in g if x[1]})) or None,
                out.get("outcome"), out.get("reason"), out.get("code"),
                rec.get("started_at"), out.get("recorded_at") or rec.get("ended_at"),
            ] + [people.forms.get(sid, {}).get(k) for k in fkeys]
        )
    return t


def study_tables(path: Path, *, derive: Derive | None = None, game_ids: Iterable[str] | None = None,
                 on_error: Callable[[str, Exception], None] | None = None, pause: Pause = no_pause) -> dict[str, Table]:
    """All six tables of a study (every game, or ``game_ids``)."""
    paths = StudyPaths.of(path)
    store = ExportStore(paths.exports)
    people = read_participants(paths.root)
    per_game: dict[str, list[Table]] = {n: [] for n in GAME_TABLES}
    for gid in (list(game_ids) if game_ids is not None else store.game_ids()):
        try:
            tables = build_game_tables(store, gid, derive=derive, pause=pause)
        except Exception as exc:  # one broken game must not cost the study its tables
            if on_error is None:
                raise
            on_error(gid, exc)
            continue
        if tables is None:
            continue
        for name, t in tables.items():
            per_game[name].append(t)
    merged = {name: merge(name, ts) if ts else Table(name, _columns(name)) for name, ts in per_game.items()}
    merged["events"].rows.extend(outcome_events(people, merged["players"], merged["events"].columns))
    merged["participants"] = participants_table(people, merged["players"], merged["frames"])
    return {name: merged[name] for name in TABLE_NAMES}


README = """This zip is one study's data from interactive-gym-p2p.

tables/        the research tables (docs/data.md): frames, inputs, episodes, events, players,
               participants as CSV (and Parquet when the server has pyarrow)
codebook.csv   every column: table, column, type, unit, description
exports/       the raw per-player validation exports, game manifests and comparison reports
participants/  participant records and outcomes (recruitment ids, completion codes), when kept
forms/         static-scene form answers as saved (<scene_id>/<subject_id>.json), when kept

Load it in Python:  from interactive_gym_p2p.data import load; tables = load("study.zip")
"""


def write_study_zip(path: Path, out: BinaryIO, *, derive: Derive | None = None,
                    parquet: bool | None = None, pause: Pause = no_pause) -> dict[str, int]:
    """The study zip: tables, codebook, raw exports and reports, participant records and forms.
    Returns the row count of each table."""
    paths = StudyPaths.of(path)
    errors: list[str] = []
    tables = study_tables(path, derive=derive, on_error=lambda gid, exc: errors.append(f"{gid}: {exc}"), pause=pause)
    with_parquet = parquet_available() if parquet is None else parquet
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("README.txt", README)
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["table", "column", "type", "unit", "description"])
        w.writerows(codebook_rows())
        z.writestr("codebook.csv", buf.getvalue())
        for name, t in tables.items():
            z.writestr(f"tables/{name}.csv", csv_text(t, pause))
            if with_parquet:
                pause()
                pbuf = io.BytesIO()
                write_parquet(t, pbuf, pause)
                z.writestr(f"tables/{name}.parquet", pbuf.getvalue())
        if errors:
            z.writestr("tables/ERRORS.txt", "\n".join(errors) + "\n")
        for f in sorted((paths.exports / "games").rglob("*")):
            rel = f.relative_to(paths.exports / "games")
            if f.is_file() and not f.name.startswith(".tmp-") and rel.parts[1:2] != (TABLES_DIR,):
                pause()
                z.write(f, f"exports/games/{rel.as_posix()}")
        if paths.root is not None:
            pdir = paths.root / "participants"
            if pdir.is_dir():
                for f in sorted(pdir.rglob("*.json")):
                    if not f.name.startswith(".tmp-"):
                        z.write(f, f"participants/{f.relative_to(pdir).as_posix()}")
            for scene in sorted({k.split(".", 1)[0] for fs in read_participants(paths.root).forms.values() for k in fs}):
                for f in sorted((paths.root / scene).glob("*.json")):
                    z.write(f, f"forms/{scene}/{f.name}")
    return {name: len(t.rows) for name, t in tables.items()}
