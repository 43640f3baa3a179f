"""The participant stores (files, memory, Redis over a real redis-server) pass one suite: the
first outcome wins, also when two processes' stores record at once; records and settings
round-trip; the Redis store mirrors the files the research tables read and falls back on
them when Redis lost its data."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Callable

import pytest
import redis

from interactive_gym_p2p.participants.flow_state import FlowState
from interactive_gym_p2p.participants.records import GameSeat, OutcomeRecord, ParticipantRecord
from interactive_gym_p2p.participants.redis_store import RedisParticipantStore
from interactive_gym_p2p.participants.store import FileParticipantStore, InMemoryParticipantStore

KINDS = ("files", "memory", "redis")


def outcome(name: str, reason: str | None = None) -> OutcomeRecord:
    return OutcomeRecord(name, reason, None, f"CODE-{name}", None, "server", "2026-01-01T00:00:00.000Z")


def record(subject_id: str) -> ParticipantRecord:
    return ParticipantRecord(subject_id, "exp", "2026-01-01T00:00:00.000Z", {"PROLIFIC_PID": subject_id})


@pytest.fixture(params=KINDS)
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Any]:
    """A factory: each call is another process's view of the same participant records."""
    if request.param == "files":
        return lambda: FileParticipantStore(tmp_path / "participants")
    if request.param == "memory":
        shared = InMemoryParticipantStore()
        return lambda: shared
    url = request.getfixturevalue("redis_url")
    return lambda: RedisParticipantStore(redis.Redis.from_url(url, decode_responses=True), "igp2p:test:participants:",
                                         FileParticipantStore(tmp_path / "participants"))


def test_records_round_trip_without_their_outcome(make_store) -> None:
    store = make_store()
    assert store.get("s1") is None
    rec = record("s1")
    rec.games.append(GameSeat("gems", "g1", 0, "2026-01-01T00:00:01.000Z"))
    rec.outcome = outcome("completed")  # put() never writes the outcome
    store.put(rec)
    back = make_store().get("s1")
    assert back is not None and back.recruitment == {"PROLIFIC_PID": "s1"} and back.games == rec.games
    assert back.outcome is None
    assert make_store().subject_ids() == ["s1"]


def test_the_first_outcome_wins(make_store) -> None:
    store = make_store()
    store.put(record("s1"))
    first, created = store.set_outcome("s1", outcome("completed"))
    assert created and first.outcome == "completed"
    again, created = make_store().set_outcome("s1", outcome("partner_left", "left"))
    assert not created and again == first
    assert make_store().get("s1").outcome == first


def test_concurrent_outcomes_from_several_processes_one_wins(make_store) -> None:
    names = [f"o{i}" for i in range(8)]
    for subject in ("a", "b", "c"):
        make_store().put(record(subject))
    results: list[tuple[str, OutcomeRecord, bool]] = []
    start = threading.Barrier(len(names))

    def report(name: str) -> None:
        store = make_store()  # each thread its own store (its own Redis connection, like a process)
        start.wait()
        for subject in ("a", "b", "c"):
            stored, created = store.set_outcome(subject, outcome(name))
            results.append((subject, stored, created))

    threads = [threading.Thread(target=report, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for subject in ("a", "b", "c"):
        mine = [(stored, created) for s, stored, created in results if s == subject]
        winners = [stored for stored, created in mine if created]
        assert len(winners) == 1, mine
        assert all(stored == winners[0] for stored, _ in mine)  # everyone is told the one that stands
        assert make_store().get(subject).outcome == winners[0]


def test_settings(make_store) -> None:
    store = make_store()
    assert store.get_setting("recruitment_open") is None
    store.put_setting("recruitment_open", False)
    assert make_store().get_setting("recruitment_open") is False


def test_redis_store_mirrors_the_files_and_falls_back_on_them(redis_url: str, tmp_path: Path) -> None:
    files = FileParticipantStore(tmp_path / "participants")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    store = RedisParticipantStore(client, "igp2p:test:mirror:", files)
    store.put(record("s1"))
    store.set_outcome("s1", outcome("completed"))
    store.put_setting("recruitment_open", False)
    assert (tmp_path / "participants" / "s1" / "participant.json").is_file()
    assert files.get("s1").outcome == outcome("completed")
    assert files.get_setting("recruitment_open") is False
    # Redis restarted empty: the files are the copy, and the first outcome still stands.
    client.flushall()
    again = RedisParticipantStore(client, "igp2p:test:mirror:", files)
    assert again.get("s1").outcome == outcome("completed")
    assert again.set_outcome("s1", outcome("error", "env_load")) == (outcome("completed"), False)
    assert again.get_setting("recruitment_open") is False
    # An outcome Redis took while its file was not written yet (the process died between the
    # two): the next report writes the file from Redis.
    client.set("igp2p:test:mirror:outcome:s2", '{"outcome": "excluded", "reason": "left", "detail": null, "code": null, '
               '"redirect_url": null, "reported_by": "server", "recorded_at": "2026-01-01T00:00:00.000Z"}')
    again.put(record("s2"))
    stands, created = again.set_outcome("s2", outcome("completed"))
    assert not created and stands.outcome == "excluded" and files.get("s2").outcome == stands


def test_flow_state_round_trips(redis_url: str) -> None:
    store = RedisParticipantStore(redis.Redis.from_url(redis_url, decode_responses=True), "igp2p:test:flow:")
    assert store.get_flow("s1") is None
    state = FlowState(scene_index=2, started=True, sid="abc", scene_data={"survey": {"age": "30"}},
                      screening={"passed": True, "problems": []})
    store.put_flow("s1", state)
    assert store.get_flow("s1") == state
