"""ExportStore: validation exports on disk, one file per game and player, never overwritten.

Layout under the data directory (every name comes from a checked plain identifier)::

    games/<game_id>/game.json           manifest written by register_game (if the game was registered)
    games/<game_id>/player-<i>.json     player i's first export, byte for byte as uploaded
    games/<game_id>/player-<i>.r<n>.json   revision n (n >= 2) when a different export came later
    games/<game_id>/comparison.json     cross-player report over each player's latest revision
    games/<game_id>/index.json          derived listing data (revisions, digests); rebuilt when stale

Exports are written to a temporary file in the same folder, fsync'd, then hard-linked to
their final name: the link fails if the name exists, so even two server processes sharing
the folder can never overwrite a revision (``os.replace`` would silently replace it). Derived
files (manifest, index, comparison) are replaced atomically with ``os.replace``. A killed
process can leave only ``.tmp-*`` files, which are ignored and removed when a store opens.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import logging
import os
import re
import secrets
import threading
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Iterator, Mapping

from .compare import compare_exports
from .ids import check_identifier, check_player_index, is_identifier
from .schema import ExportInvalid, parse_export, parse_json

logger = logging.getLogger(__name__)

_EXPORT_NAME = re.compile(r"player-(\d{1,3})(?:\.r([1-9]\d{0,8}))?\.json")
_TMP_PREFIX = ".tmp-"


class StoreError(Exception):
    """Base class of the store's refusals."""


class ExportConflict(StoreError):
    """An export that contradicts the game's registered manifest (wrong scene, subject, players)."""


class GameConflict(StoreError):
    """A second, different manifest for a game id that is already registered."""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def canonical_digest(doc: Any) -> str:
    """SHA-256 of a canonical serialization: equal for the same JSON content in any key order."""
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class GameRecord:
    """What the server knew when it created a game (signaling's ``on_game_created``)."""

    game_id: str
    """Plain identifier of the game."""
    scene_id: str
    """Plain identifier of the scene the game belongs to."""
    seed: int
    """Shared u32 seed; episode seeds derive from it (``episode_seed``)."""
    subject_ids: tuple[str | None, ...]
    """Subject id of each player, indexed by player index (None for an AI seat)."""
    settings: Mapping[str, Any] = field(default_factory=dict)
    """Settings the server gave the players (JSON-able)."""
    created_at: str = ""
    """ISO 8601 UTC time of creation; filled in by ``register_game`` when empty."""
    condition: str | None = None
    """The game's experimental condition (None: the scene declares none)."""
    bot_players: tuple[int, ...] = ()
    """Player indices of seats a bot took."""
    ai_players: tuple[int, ...] = ()
    """Player indices of AI seats (no participant, no export: ai_policy.py)."""

    def __post_init__(self) -> None:
        check_identifier(self.game_id, "game id")
        check_identifier(self.scene_id, "scene id")
        if len(self.subject_ids) < 2:
            raise ValueError("a game has at least two players")
        for i, subject in enumerate(self.subject_ids):
            if i in self.ai_players:
                if subject is not None:
                    raise ValueError(f"player {i} is an AI seat: it has no subject id")
                continue
            check_identifier(subject, f"subject id of player {i}")
        if len(self.ai_players) >= len(self.subject_ids):
            raise ValueError("a game has at least one participant")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= 0xFFFFFFFF:
            raise ValueError(f"seed {self.seed!r} is not a u32")
        if self.condition is not None:
            check_identifier(self.condition, "condition")
        for index in self.bot_players:
            if not 0 <= index < len(self.subject_ids):
                raise ValueError(f"bot player {index!r} is not a player of this game")

    @classmethod
    def from_info(cls, info: Any) -> "GameRecord":
        """Build from signaling's game info: a mapping or an object with the same names.

        Accepts ``subject_ids`` or ``players`` (a list of subject ids, or of mappings with a
        ``subject_id``), in player-index order.
        """
        get = info.get if isinstance(info, Mapping) else lambda k, d=None: getattr(info, k, d)
        players = get("subject_ids") or get("players") or ()
        subjects = tuple(p["subject_id"] if isinstance(p, Mapping) else str(p) for p in players)
        bots = get("bot_players")
        if bots is None:
            bots = tuple(i for i, p in enumerate(players) if (p.get("bot") if isinstance(p, Mapping) else getattr(p, "bot", False)))
        if isinstance(players, (list, tuple)) and players and not isinstance(players[0], (str, Mapping)):
            # PlayerInfo records: by player index
            ordered = sorted(players, key=lambda p: p.player_index)
            subjects = tuple(p.subject_id for p in ordered)
            bots = tuple(p.player_index for p in ordered if getattr(p, "bot", False))
        condition = get("condition")
        ai = tuple(int(a) for a in (get("ai_players") or ()))
        if ai:
            # Seats by player index: the participants' subjects, None at the AI seats.
            by_index: dict[int, str] = {}
            for i, p in enumerate(get("players") or players):
                if isinstance(p, Mapping):
                    by_index[int(p.get("player_index", i))] = str(p["subject_id"])
                elif isinstance(p, str):
                    raise ValueError("a game with AI seats lists its players with their player_index")
                else:
                    by_index[int(p.player_index)] = str(p.subject_id)
            seats = len(by_index) + len(ai)
            subjects = tuple(None if i in ai else by_index[i] for i in range(seats))  # type: ignore[assignment]
        return cls(
            game_id=str(get("game_id")),
            scene_id=str(get("scene_id")),
            seed=int(get("seed")),
            subject_ids=subjects,
            settings=dict(get("settings") or {}),
            created_at=str(get("created_at") or ""),
            condition=None if condition is None else str(condition),
            bot_players=tuple(int(b) for b in bots),
            ai_players=ai,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "game_id": self.game_id,
            "scene_id": self.scene_id,
            "seed": self.seed,
            "subject_ids": list(self.subject_ids),
            "settings": dict(self.settings),
            "created_at": self.created_at,
            "condition": self.condition,
            "bot_players": list(self.bot_players),
            "ai_players": list(self.ai_players),
        }

    @property
    def hosted_players(self) -> dict[int, int]:
        """Hosted (ONNX) seats among the AI seats -> the player that hosted each (docs/ai.md),
        from the game's ``settings.p2p.ai_seats``."""
        seats = (self.settings.get("p2p") or {}).get("ai_seats") or ()
        return {int(a["player_index"]): int(a["host"]) for a in seats if a.get("kind") == "onnx"}

    @property
    def uploaders(self) -> tuple[int, ...]:
        """Players that upload an export: every seat but the AI seats."""
        return tuple(i for i in range(len(self.subject_ids)) if i not in self.ai_players)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "GameRecord":
        return cls(
            game_id=data["game_id"],
            scene_id=data["scene_id"],
            seed=data["seed"],
            subject_ids=tuple(data["subject_ids"]),
            settings=data.get("settings") or {},
            created_at=data.get("created_at") or "",
            condition=data.get("condition"),
            bot_players=tuple(data.get("bot_players") or ()),
            ai_players=tuple(data.get("ai_players") or ()),
        )


@dataclass(frozen=True)
class StoredExport:
    """The outcome of storing one upload."""

    game_id: str
    player_index: int
    revision: int
    """1 for the first export of the slot, 2, 3, ... for later different ones."""
    sha256: str
    """Canonical content digest (see :func:`canonical_digest`)."""
    created: bool
    """False when the upload repeated an existing revision (nothing was written)."""
    path: Path
    comparison_status: str | None
    """Status of the game's comparison report after this upload ("waiting", "agree", "diverged")."""


def export_filename(player_index: int, revision: int) -> str:
    return f"player-{player_index}.json" if revision == 1 else f"player-{player_index}.r{revision}.json"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ExportStore:
    """Validation exports under one data directory. Thread-safe; survives restarts."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.data_dir = Path(data_dir)
        self.games_dir = self.data_dir / "games"
        self.games_dir.mkdir(parents=True, exist_ok=True)
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self.removed_temp_files = self._remove_stale_temp_files()
        self.on_complete: Callable[[str], None] | None = None
        """Called with the game id when every player's export is in and a new comparison was
        written (the server builds the game's research tables then: data/study.py)."""

    # --- paths and locks
    def game_dir(self, game_id: str) -> Path:
        return self.games_dir / check_identifier(game_id, "game id")

    @contextmanager
    def _lock(self, game_id: str) -> Iterator[None]:
        """One game's store-and-compare steps, one at a time: across this process's threads,
        and (a flock on the game's folder) across the server processes sharing the data
        directory (docs/cluster.md), so two players' uploads reaching two processes at once
        still end in one comparison. The folder exists from register_game on."""
        with self._guard:
            lock = self._locks.setdefault(game_id, threading.Lock())
        with lock:
            try:
                fd: int | None = os.open(self.game_dir(game_id), os.O_RDONLY | os.O_DIRECTORY)
            except FileNotFoundError:
                fd = None  # nothing stored for this game yet
            try:
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                yield
            finally:
                if fd is not None:
                    os.close(fd)  # releases the flock

    def _remove_stale_temp_files(self) -> int:
        removed = 0
        for tmp in self.games_dir.glob(f"*/{_TMP_PREFIX}*"):
            # .tmp-<pid>-<random>: leave a live process's file alone (it may be mid-write).
            try:
                pid = int(tmp.name[len(_TMP_PREFIX):].split("-", 1)[0])
            except ValueError:
                pid = -1
            if pid == os.getpid() or pid < 0 or not _pid_alive(pid):
                tmp.unlink(missing_ok=True)
                removed += 1
        if removed:
            logger.warning("removed %d unfinished temporary file(s) under %s", removed, self.games_dir)
        return removed

    # --- low-level atomic writes
    def _write_temp(self, folder: Path, data: bytes) -> Path:
        tmp = folder / f"{_TMP_PREFIX}{os.getpid()}-{secrets.token_hex(8)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        return tmp

    def _replace_file(self, path: Path, data: bytes) -> None:
        """Atomically write a derived file (may replace its previous version)."""
        tmp = self._write_temp(path.parent, data)
        try:
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(path.parent)

    def _create_file(self, path: Path, data: bytes) -> bool:
        """Atomically create ``path``; False (and nothing written) when it already exists."""
        tmp = self._write_temp(path.parent, data)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)
        _fsync_dir(path.parent)
        return True

    def _ensure_game_dir(self, game_id: str) -> Path:
        folder = self.game_dir(game_id)
        if not folder.is_dir():
            folder.mkdir(exist_ok=True)
            _fsync_dir(self.games_dir)
        return folder

    # --- games
    def register_game(self, record: GameRecord) -> Path:
        """Write the game's manifest. Idempotent for the same record; a different one is refused."""
        with self._lock(record.game_id):
            folder = self._ensure_game_dir(record.game_id)
            existing = self.game(record.game_id)
            if existing is not None:
                same = {**existing.to_json(), "created_at": ""} == {**record.to_json(), "created_at": ""}
                if same:
                    return folder / "game.json"
                raise GameConflict(f"game {record.game_id!r} is already registered with different details")
            if not record.created_at:
                record = GameRecord(**{**record.__dict__, "created_at": utc_now()})
            self._replace_file(folder / "game.json", _dumps(record.to_json()))
            logger.info("registered game %s (%d players)", record.game_id, len(record.subject_ids))
            return folder / "game.json"

    def game(self, game_id: str) -> GameRecord | None:
        """The registered manifest of a game, or None."""
        path = self.game_dir(game_id) / "game.json"
        try:
            return GameRecord.from_json(json.loads(path.read_bytes()))
        except FileNotFoundError:
            return None

    def game_ids(self) -> list[str]:
        """Every game with a folder (registered or uploaded to), sorted."""
        return sorted(p.name for p in self.games_dir.iterdir() if p.is_dir() and is_identifier(p.name))

    # --- exports
    def _scan(self, game_id: str) -> dict[int, list[int]]:
        folder = self.game_dir(game_id)
        slots: dict[int, list[int]] = {}
        if not folder.is_dir():
            return slots
        for entry in folder.iterdir():
            match = _EXPORT_NAME.fullmatch(entry.name)
            if match:
                slots.setdefault(int(match.group(1)), []).append(int(match.group(2) or 1))
        return {p: sorted(r) for p, r in sorted(slots.items())}

    def revisions(self, game_id: str, player_index: int) -> list[int]:
        """Revision numbers stored for one slot, ascending (empty when none)."""
        return self._scan(game_id).get(player_index, [])

    def export_path(self, game_id: str, player_index: int, revision: int | None = None) -> Path:
        """File of one revision (default: the latest). Raises FileNotFoundError when absent."""
        check_player_index(player_index)
        revs = self.revisions(game_id, player_index)
        if not revs:
            raise FileNotFoundError(f"no export of player {player_index} in game {game_id!r}")
        if revision is None:
            revision = revs[-1]
        if revision not in revs:
            raise FileNotFoundError(f"no revision {revision} of player {player_index} in game {game_id!r}")
        return self.game_dir(game_id) / export_filename(player_index, revision)

    def read_export(self, game_id: str, player_index: int, revision: int | None = None) -> bytes:
        return self.export_path(game_id, player_index, revision).read_bytes()

    def store_export(self, body: bytes, doc: Mapping[str, Any] | None = None) -> StoredExport:
        """Store one player's export (``doc`` = the parsed, validated ``body``; parsed here if None).

        The same content again returns the existing revision (``created=False``); different
        content for the same slot becomes a new revision. Raises ExportInvalid or ExportConflict.
        """
        if doc is None:
            doc = parse_export(body)
        ids = doc["ids"]
        game_id = check_identifier(ids["game_id"], "game id")
        player = check_player_index(ids["player_index"])
        digest = canonical_digest(doc)
        with self._lock(game_id):
            self._check_manifest(doc)
            folder = self._ensure_game_dir(game_id)
            index = self._index(game_id)
            for entry in index["exports"]:
                if entry["player_index"] == player and entry["sha256"] == digest:
                    status = self._refresh_comparison(game_id, index)
                    return StoredExport(game_id, player, entry["revision"], digest, False, folder / entry["file"], status)
            revision = max(self.revisions(game_id, player), default=0) + 1
            while True:
                path = folder / export_filename(player, revision)
                if self._create_file(path, body):
                    break
                revision += 1  # another process took this number first
            index["exports"].append(_index_entry(doc, player, revision, digest, len(body), utc_now()))
            index["exports"].sort(key=lambda e: (e["player_index"], e["revision"]))
            self._replace_file(folder / "index.json", _dumps(index))
            logger.info("stored export game=%s player=%d revision=%d (%d bytes)", game_id, player, revision, len(body))
            status = self._refresh_comparison(game_id, index, fresh={player: doc})
            return StoredExport(game_id, player, revision, digest, True, path, status)

    def _check_manifest(self, doc: Mapping[str, Any]) -> None:
        ids = doc["ids"]
        record = self.game(ids["game_id"])
        if record is None:
            return
        player = ids["player_index"]
        subjects = {player: ids["subject_id"], **{p["player_index"]: p["subject_id"] for p in ids["peers"]}}
        if ids["scene_id"] != record.scene_id:
            raise ExportConflict(f"scene {ids['scene_id']!r} is not the game's scene {record.scene_id!r}")
        ai = sorted(a["player_index"] for a in ids.get("ai_seats", ()))
        if len(subjects) + len(ai) != len(record.subject_ids):
            raise ExportConflict(f"the export names {len(subjects) + len(ai)} players, the game has {len(record.subject_ids)}")
        if ai != sorted(record.ai_players):
            raise ExportConflict(f"AI seats {ai} are not the game's {sorted(record.ai_players)}")
        for index, subject in sorted(subjects.items()):
            if index >= len(record.subject_ids) or record.subject_ids[index] != subject:
                raise ExportConflict(f"player {index} is not subject {subject!r} in this game")
        if ids.get("condition") != record.condition:
            raise ExportConflict(f"condition {ids.get('condition')!r} is not the game's condition {record.condition!r}")
        bots = {player} if ids.get("bot") else set()
        bots |= {p["player_index"] for p in ids["peers"] if p.get("bot")}
        if bots != set(record.bot_players):
            raise ExportConflict(f"bot seats {sorted(bots)} are not the game's {sorted(record.bot_players)}")

    # --- derived data: index and comparison
    def _index(self, game_id: str) -> dict[str, Any]:
        """index.json, repaired from the export files when it misses or lists stale entries."""
        folder = self.game_dir(game_id)
        try:
            index = json.loads((folder / "index.json").read_bytes())
        except (FileNotFoundError, ValueError):
            index = {"game_id": game_id, "exports": []}
        on_disk = {(p, r) for p, revs in self._scan(game_id).items() for r in revs}
        listed = {(e["player_index"], e["revision"]) for e in index["exports"]}
        if listed == on_disk:
            return index
        entries = [e for e in index["exports"] if (e["player_index"], e["revision"]) in on_disk]
        for player, revision in sorted(on_disk - listed):
            path = folder / export_filename(player, revision)
            body = path.read_bytes()
            try:
                doc = parse_export(body)
            except ExportInvalid as exc:  # only a hand-edited file gets here
                logger.error("stored export %s is not valid: %s", path, exc)
                continue
            mtime = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc)
            uploaded = mtime.isoformat(timespec="milliseconds").replace("+00:00", "Z")
            entries.append(_index_entry(doc, player, revision, canonical_digest(doc), len(body), uploaded))
        index = {"game_id": game_id, "exports": sorted(entries, key=lambda e: (e["player_index"], e["revision"]))}
        if folder.is_dir():
            self._replace_file(folder / "index.json", _dumps(index))
        return index

    def _num_players(self, game_id: str, index: Mapping[str, Any]) -> int | None:
        record = self.game(game_id)
        if record is not None:
            return len(record.subject_ids)
        counts = {e["num_players"] for e in index["exports"]}
        return max(counts) if counts else None

    def _ai_players(self, game_id: str, index: Mapping[str, Any]) -> set[int]:
        record = self.game(game_id)
        if record is not None:
            return set(record.ai_players)
        return {a for e in index["exports"] for a in e.get("ai_players", ())}

    def _uploaders(self, game_id: str, index: Mapping[str, Any]) -> list[int] | None:
        """Players expected to upload (AI seats upload nothing), or None while unknown."""
        n = self._num_players(game_id, index)
        if n is None:
            return None
        ai = self._ai_players(game_id, index)
        return [p for p in range(n) if p not in ai]

    def _latest(self, index: Mapping[str, Any]) -> dict[int, Mapping[str, Any]]:
        latest: dict[int, Mapping[str, Any]] = {}
        for entry in index["exports"]:
            latest[entry["player_index"]] = entry  # entries are sorted by revision
        return latest

    def _refresh_comparison(self, game_id: str, index: Mapping[str, Any], fresh: Mapping[int, Mapping[str, Any]] | None = None) -> str:
        """Write comparison.json when every player has uploaded and it is missing or stale.

        ``fresh`` holds documents already parsed for this call (the upload in hand); stored
        exports were validated when they came in, so they are only parsed again.
        """
        latest = self._latest(index)
        expected = self._uploaders(game_id, index)
        if expected is None or sorted(latest) != expected:
            return "waiting"
        inputs = [{"player_index": p, "revision": e["revision"], "sha256": e["sha256"]} for p, e in sorted(latest.items())]
        path = self.game_dir(game_id) / "comparison.json"
        try:
            current = json.loads(path.read_bytes())
            if current.get("inputs") == inputs:
                return str(current["status"])
        except (FileNotFoundError, ValueError):
            pass
        fresh = fresh or {}
        docs = {p: fresh[p] if p in fresh else parse_json(self.read_export(game_id, p, e["revision"])) for p, e in latest.items()}
        report = compare_exports(docs)
        report["inputs"] = inputs
        report["generated_at"] = utc_now()
        self._replace_file(path, _dumps(report))
        logger.info("comparison of game %s: %s (first divergent frame %s)", game_id, report["status"], report["first_divergent_frame"])
        if self.on_complete is not None:
            try:
                self.on_complete(game_id)
            except Exception:  # a failing hook must not fail the upload that completed the game
                logger.exception("on_complete hook failed for game %s", game_id)
        return str(report["status"])

    def comparison(self, game_id: str) -> dict[str, Any] | None:
        """The game's comparison report (brought up to date first), or None while players are missing."""
        with self._lock(game_id):
            if not self.game_dir(game_id).is_dir():
                return None
            status = self._refresh_comparison(game_id, self._index(game_id))
            if status == "waiting":
                return None
            return json.loads((self.game_dir(game_id) / "comparison.json").read_bytes())

    # --- listing
    def game_summary(self, game_id: str) -> dict[str, Any]:
        """One line of the researcher's list: scene, time, players, verified frame, desyncs, status."""
        with self._lock(game_id):
            if not self.game_dir(game_id).is_dir():
                raise FileNotFoundError(f"no game {game_id!r}")
            index = self._index(game_id)
            status = self._refresh_comparison(game_id, index)
            report = None
            if status != "waiting":
                report = json.loads((self.game_dir(game_id) / "comparison.json").read_bytes())
        record = self.game(game_id)
        latest = self._latest(index)
        n = self._num_players(game_id, index) or 0
        ai = self._ai_players(game_id, index)
        players = []
        for p in range(n):
            entry = latest.get(p)
            revs = [e["revision"] for e in index["exports"] if e["player_index"] == p]
            subject = record.subject_ids[p] if record else (entry or {}).get("subject_id")
            players.append(
                {
                    "player_index": p,
                    "subject_id": subject,
                    "bot": bool(record and p in record.bot_players),
                    "ai": p in ai,
                    "uploaded": entry is not None,
                    "revisions": revs,
                    "partial": entry["partial"] if entry else None,
                    "verified_frame": entry["verified_frame"] if entry else None,
                    "last_confirmed_frame": entry["last_confirmed_frame"] if entry else None,
                    "desyncs": entry["desyncs"] if entry else None,
                    "uploaded_at": entry["uploaded_at"] if entry else None,
                }
            )
        first_upload = min((e["uploaded_at"] for e in index["exports"]), default=None)
        return {
            "game_id": game_id,
            "scene_id": record.scene_id if record else next((e["scene_id"] for e in index["exports"]), None),
            "registered": record is not None,
            "created_at": record.created_at if record else first_upload,
            "condition": record.condition if record else None,
            "num_players": n,
            "players": players,
            "uploads": len(latest),
            "verified_frame": report["verified_frame"] if report else None,
            "desyncs": sum(e["desyncs"] for e in latest.values()),
            "comparison": status,
            "first_divergent_frame": report["first_divergent_frame"] if report else None,
        }

    def list_games(self) -> list[dict[str, Any]]:
        """Summaries of every game, newest first (ties by game id)."""
        summaries = [self.game_summary(g) for g in self.game_ids()]
        summaries.sort(key=lambda s: s["game_id"])
        summaries.sort(key=lambda s: s["created_at"] or "", reverse=True)
        return summaries

    # --- archives
    def write_zip(self, out: BinaryIO, game_ids: Iterable[str] | None = None) -> int:
        """Zip the given games (default: all) as ``games/<id>/...``; returns the file count."""
        ids = self.game_ids() if game_ids is None else [check_identifier(g, "game id") for g in game_ids]
        count = 0
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for game_id in ids:
                folder = self.game_dir(game_id)
                if not folder.is_dir():
                    raise FileNotFoundError(f"no game {game_id!r}")
                self.comparison(game_id)  # bring it up to date before it is archived
                for entry in sorted(folder.iterdir()):
                    if entry.is_file() and not entry.name.startswith(_TMP_PREFIX):
                        archive.write(entry, f"games/{game_id}/{entry.name}")
                        count += 1
        return count

    def zip_bytes(self, game_ids: Iterable[str] | None = None) -> bytes:
        buffer = io.BytesIO()
        self.write_zip(buffer, game_ids)
        return buffer.getvalue()


def _index_entry(doc: Mapping[str, Any], player: int, revision: int, digest: str, size: int, uploaded_at: str) -> dict[str, Any]:
    last = [e["last_confirmed_frame"] for e in doc["episodes"] if e["last_confirmed_frame"] is not None]
    return {
        "player_index": player,
        "revision": revision,
        "file": export_filename(player, revision),
        "sha256": digest,
        "size": size,
        "uploaded_at": uploaded_at,
        "subject_id": doc["ids"]["subject_id"],
        "scene_id": doc["ids"]["scene_id"],
        "num_players": 1 + len(doc["ids"]["peers"]) + len(doc["ids"].get("ai_seats", ())),
        "ai_players": [a["player_index"] for a in doc["ids"].get("ai_seats", ())],
        "partial": doc["partial"],
        "verified_frame": doc["verified_frame"],
        "last_confirmed_frame": max(last) if last else None,
        "desyncs": len(doc["desyncs"]),
    }


def _dumps(data: Any) -> bytes:
    return (json.dumps(data, indent=1, sort_keys=False, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
