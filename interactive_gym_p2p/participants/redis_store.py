"""Participant records in Redis, for a study that several server processes serve (``--redis``).

The same :class:`~.store.ParticipantStore` as the files, with Redis as the authority and the
files as a mirror (layout ``P`` = ``igp2p:<experiment_id>:participants:``)::

    P records        hash    subject id -> participant.json's document (outcome left out)
    P outcome:<id>   string  the outcome: SET ... NX, so of two processes recording at once one wins
    P settings       hash    study-wide setting -> JSON (recruitment open or closed)
    P flow           hash    subject id -> FlowState (where the participant is in the study)
    P lock:<id>      string  a short per-participant lock for read-modify-write of a record

Every write also goes to the data directory's files (:class:`~.store.FileParticipantStore`),
which the research tables and downloads read, and which outlive Redis: a record Redis does
not have (Redis restarted empty) is read from the files and put back.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

from .records import OutcomeRecord, ParticipantRecord
from .flow_state import FlowState
from .store import FileParticipantStore

if TYPE_CHECKING:  # pragma: no cover
    import redis

logger = logging.getLogger(__name__)

RECORDS, SETTINGS, FLOW = "records", "settings", "flow"
LOCK_TTL_S = 10.0
LOCK_WAIT_S = 15.0


class RedisParticipantStore:
    """:class:`~.store.ParticipantStore` over Redis, mirrored to files (see the module docstring)."""

    def __init__(self, client: "redis.Redis", prefix: str, files: FileParticipantStore | None = None) -> None:
        self.client = client
        self.prefix = prefix
        self.files = files

    def _outcome_key(self, subject_id: str) -> str:
        return f"{self.prefix}outcome:{subject_id}"

    # ------------------------------------------------------------------ ParticipantStore

    def get(self, subject_id: str) -> ParticipantRecord | None:
        pipe = self.client.pipeline(transaction=False)
        pipe.hget(self.prefix + RECORDS, subject_id)
        pipe.get(self._outcome_key(subject_id))
        raw, outcome = pipe.execute()
        if raw is None:
            record = self.files.get(subject_id) if self.files is not None else None
            if record is not None:
                self._restore(record)  # Redis lost it (restarted empty): the files are the copy
            return record
        record = ParticipantRecord.from_json(json.loads(raw))
        record.outcome = OutcomeRecord.from_json(json.loads(outcome)) if outcome else None
        return record

    def put(self, record: ParticipantRecord) -> None:
        doc = record.to_json()
        doc["outcome"] = None  # kept apart, written once
        self.client.hset(self.prefix + RECORDS, record.subject_id, json.dumps(doc, sort_keys=True))
        if self.files is not None:
            self.files.put(record)

    def set_outcome(self, subject_id: str, outcome: OutcomeRecord) -> tuple[OutcomeRecord, bool]:
        text = json.dumps(outcome.to_json(), sort_keys=True)
        key = self._outcome_key(subject_id)
        if not self.client.set(key, text, nx=True):
            stands = OutcomeRecord.from_json(json.loads(self.client.get(key)))
            if self.files is not None:
                self.files.set_outcome(subject_id, stands)  # the winner died before its file was written
            return stands, False
        if self.files is None:
            return outcome, True
        # This outcome won in Redis; the file follows. Its own first-wins link agrees, unless the
        # file was there before Redis had the key (Redis restarted empty): the file's outcome stands.
        stored, _ = self.files.set_outcome(subject_id, outcome)
        if stored != outcome:  # (a loser's repair above may have written this very outcome first)
            self.client.set(key, json.dumps(stored.to_json(), sort_keys=True))
            return stored, False
        return outcome, True

    def subject_ids(self) -> list[str]:
        files = set(self.files.subject_ids()) if self.files is not None else set()
        return sorted(set(self.client.hkeys(self.prefix + RECORDS)) | files)

    def get_setting(self, name: str) -> Any:
        raw = self.client.hget(self.prefix + SETTINGS, name)
        if raw is None:
            return self.files.get_setting(name) if self.files is not None else None
        return json.loads(raw)

    def put_setting(self, name: str, value: Any) -> None:
        self.client.hset(self.prefix + SETTINGS, name, json.dumps(value, sort_keys=True))
        if self.files is not None:
            self.files.put_setting(name, value)

    # ------------------------------------------------------------------ across processes

    @contextmanager
    def locked(self, subject_id: str) -> Iterator[None]:
        """One process at a time changes ``subject_id``'s record (the ledger's read-modify-write)."""
        lock = self.client.lock(f"{self.prefix}lock:{subject_id}", timeout=LOCK_TTL_S, blocking_timeout=LOCK_WAIT_S)
        if not lock.acquire():
            raise TimeoutError(f"participant {subject_id}: the record lock was held for more than {LOCK_WAIT_S:g} s")
        try:
            yield
        finally:
            try:
                lock.release()
            except Exception:  # expired meanwhile (a stalled step): the next one goes on
                logger.warning("participant %s: the record lock had expired before its release", subject_id)

    def _restore(self, record: ParticipantRecord) -> None:
        doc = record.to_json()
        doc["outcome"] = None
        self.client.hsetnx(self.prefix + RECORDS, record.subject_id, json.dumps(doc, sort_keys=True))
        if record.outcome is not None:
            self.client.set(self._outcome_key(record.subject_id), json.dumps(record.outcome.to_json(), sort_keys=True), nx=True)

    # ------------------------------------------------------------------ FlowStates

    def get_flow(self, subject_id: str) -> FlowState | None:
        raw = self.client.hget(self.prefix + FLOW, subject_id)
        return None if raw is None else FlowState.from_json(json.loads(raw))

    def put_flow(self, subject_id: str, state: FlowState) -> None:
        self.client.hset(self.prefix + FLOW, subject_id, json.dumps(state.to_json(), sort_keys=True))
