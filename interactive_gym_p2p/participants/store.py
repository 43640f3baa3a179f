"""Where participant records live, behind a small interface.

:class:`ParticipantStore` is what the ledger needs; :class:`FileParticipantStore` keeps one
folder per participant under the data directory::

    participants/<subject_id>/participant.json   arrival, recruitment ids, screening, games (replaced atomically)
    participants/<subject_id>/outcome.json       the final outcome: created once, never replaced
    participants/.settings.json                  study-wide settings (recruitment open or closed)

``set_outcome`` is the one operation that must be atomic across processes: the outcome file
is hard-linked into place, which fails when it exists, so with several server processes on
one data directory the first outcome still wins. A Redis store (issue 18) would implement the
same methods: ``set_outcome`` as ``SET key value NX`` (then ``GET``), the rest as plain keys.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
from pathlib import Path
from typing import Any, Protocol

from ..validation.ids import check_identifier, is_identifier
from .records import OutcomeRecord, ParticipantRecord

logger = logging.getLogger(__name__)


class ParticipantStore(Protocol):
    def get(self, subject_id: str) -> ParticipantRecord | None:
        """The participant with its outcome, or None if never seen."""

    def put(self, record: ParticipantRecord) -> None:
        """Write everything but the outcome (which only :meth:`set_outcome` writes)."""

    def set_outcome(self, subject_id: str, outcome: OutcomeRecord) -> tuple[OutcomeRecord, bool]:
        """Store ``outcome`` unless the participant has one: (the stored outcome, whether it is this one)."""

    def subject_ids(self) -> list[str]:
        """Every participant, in no particular order."""

    def get_setting(self, name: str) -> Any:
        """A study-wide setting kept across restarts (e.g. ``recruitment_open``), or None."""

    def put_setting(self, name: str, value: Any) -> None:
        """Keep a study-wide setting (JSON value)."""


def _write_new(path: Path, data: bytes, *, exclusive: bool, durable: bool = True) -> bool:
    """Write ``data`` to a temp file (fsync'd when ``durable``), then put it at ``path``: a hard
    link when ``exclusive`` (False if the name exists), else os.replace. Readers never see half
    a file."""
    tmp = path.parent / f".tmp-{os.getpid()}-{secrets.token_hex(6)}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        if exclusive:
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
        else:
            os.replace(tmp, path)
        return True
    finally:
        tmp.unlink(missing_ok=True)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


class FileParticipantStore:
    """Participant records as JSON files (one folder per participant)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()

    def _dir(self, subject_id: str) -> Path:
        return self.root / check_identifier(subject_id, "subject id")

    def get(self, subject_id: str) -> ParticipantRecord | None:
        folder = self._dir(subject_id)
        data = _read_json(folder / "participant.json")
        if data is None:
            return None
        record = ParticipantRecord.from_json(data)
        outcome = _read_json(folder / "outcome.json")
        record.outcome = OutcomeRecord.from_json(outcome) if outcome else None
        return record

    def put(self, record: ParticipantRecord) -> None:
        folder = self._dir(record.subject_id)
        doc = record.to_json()
        doc["outcome"] = None  # outcome.json is the only place of the outcome
        with self._lock:
            folder.mkdir(parents=True, exist_ok=True)
            # Not fsync'd: written on matchmaking's path (a game's players); a crash can lose the
            # last update of this file, never corrupt it. The outcome (below) is fsync'd.
            _write_new(folder / "participant.json", json.dumps(doc, indent=1, sort_keys=True).encode(), exclusive=False,
                       durable=False)

    def set_outcome(self, subject_id: str, outcome: OutcomeRecord) -> tuple[OutcomeRecord, bool]:
        folder = self._dir(subject_id)
        folder.mkdir(parents=True, exist_ok=True)
        data = json.dumps(outcome.to_json(), indent=1, sort_keys=True).encode()
        if _write_new(folder / "outcome.json", data, exclusive=True):
            return outcome, True
        existing = _read_json(folder / "outcome.json")
        return OutcomeRecord.from_json(existing), False

    def subject_ids(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return [p.name for p in self.root.iterdir() if is_identifier(p.name) and (p / "participant.json").is_file()]

    def get_setting(self, name: str) -> Any:
        return (_read_json(self.root / ".settings.json") or {}).get(name)

    def put_setting(self, name: str, value: Any) -> None:
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            settings = _read_json(self.root / ".settings.json") or {}
            settings[name] = value
            _write_new(self.root / ".settings.json", json.dumps(settings, indent=1, sort_keys=True).encode(), exclusive=False)


class InMemoryParticipantStore:
    """For unit tests of the ledger: the same semantics without files."""

    def __init__(self) -> None:
        self._records: dict[str, dict[str, Any]] = {}
        self._outcomes: dict[str, dict[str, Any]] = {}
        self._settings: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, subject_id: str) -> ParticipantRecord | None:
        with self._lock:
            data = self._records.get(subject_id)
            if data is None:
                return None
            record = ParticipantRecord.from_json(data)
            outcome = self._outcomes.get(subject_id)
            record.outcome = OutcomeRecord.from_json(outcome) if outcome else None
            return record

    def put(self, record: ParticipantRecord) -> None:
        doc = record.to_json()
        doc["outcome"] = None
        with self._lock:
            self._records[record.subject_id] = json.loads(json.dumps(doc))

    def set_outcome(self, subject_id: str, outcome: OutcomeRecord) -> tuple[OutcomeRecord, bool]:
        with self._lock:
            existing = self._outcomes.get(subject_id)
            if existing is not None:
                return OutcomeRecord.from_json(existing), False
            self._outcomes[subject_id] = outcome.to_json()
            return outcome, True

    def subject_ids(self) -> list[str]:
        with self._lock:
            return list(self._records)

    def get_setting(self, name: str) -> Any:
        with self._lock:
            return self._settings.get(name)

    def put_setting(self, name: str, value: Any) -> None:
        with self._lock:
            self._settings[name] = json.loads(json.dumps(value))
