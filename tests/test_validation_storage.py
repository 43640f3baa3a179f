"""ExportStore on real files: layout, idempotent duplicates, revisions that never overwrite,
game manifests, the comparison written when every player has uploaded, crash leftovers."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from interactive_gym_p2p.validation.sample import make_game_exports
from interactive_gym_p2p.validation.schema import ExportInvalid
from interactive_gym_p2p.validation.storage import (
    ExportConflict,
    ExportStore,
    GameConflict,
    GameRecord,
    canonical_digest,
)

from validation_helpers import dumps, files_under


def record(game_id: str = "game-1", subjects: tuple[str, ...] = ("subject-a", "subject-b")) -> GameRecord:
    return GameRecord(game_id=game_id, scene_id="scene-1", seed=1234, subject_ids=subjects, settings={"fps": 60})


def test_first_upload_is_revision_one_byte_for_byte(tmp_path: Path) -> None:
    store = ExportStore(tmp_path)
    doc = make_game_exports()[0]
    body = dumps(doc)
    stored = store.store_export(body)
    assert (stored.revision, stored.created, stored.comparison_status) == (1, True, "waiting")
    assert stored.path == tmp_path / "games" / "game-1" / "player-0.json"
    assert stored.path.read_bytes() == body
    assert stored.sha256 == canonical_digest(doc)
    assert files_under(tmp_path) == ["games/game-1/index.json", "games/game-1/player-0.json"]


def test_duplicate_is_idempotent_for_same_bytes_and_same_content(tmp_path: Path) -> None:
    store = ExportStore(tmp_path)
    doc = make_game_exports()[0]
    first = store.store_export(dumps(doc))
    again = store.store_export(dumps(doc))
    # Same content, other key order and whitespace: still the same export.
    reordered = json.dumps(dict(reversed(list(doc.items()))), indent=2).encode()
    third = store.store_export(reordered)
    for dup in (again, third):
        assert (dup.revision, dup.created, dup.path) == (1, False, first.path)
    assert store.revisions("game-1", 0) == [1]
    assert first.path.read_bytes() == dumps(doc)


def test_a_different_export_for_the_same_slot_is_a_new_revision_and_never_overwrites(tmp_path: Path) -> None:
    store = ExportStore(tmp_path)
    doc = make_game_exports()[0]
    body1 = dumps(doc)
    store.store_export(body1)
    doc2 = json.loads(body1)
    doc2["stats"]["rollbacks"] += 1
    second = store.store_export(dumps(doc2))
    assert (second.revision, second.created) == (2, True)
    assert second.path.name == "player-0.r2.json"
    assert (tmp_path / "games/game-1/player-0.json").read_bytes() == body1
    # Going back to the first content is a duplicate of revision 1, not a revision 3.
    back = store.store_export(body1)
    assert (back.revision, back.created) == (1, False)
    assert store.revisions("game-1", 0) == [1, 2]
    assert store.read_export("game-1", 0) == dumps(doc2)  # latest
    assert store.read_export("game-1", 0, 1) == body1


def test_comparison_is_written_when_every_player_has_uploaded(tmp_path: Path) -> None:
    store = ExportStore(tmp_path)
    a, b = make_game_exports(diverge_at=120)
    assert store.store_export(dumps(a)).comparison_status == "waiting"
    assert store.comparison("game-1") is None
    assert store.store_export(dumps(b)).comparison_status == "diverged"
    report = json.loads((tmp_path / "games/game-1/comparison.json").read_bytes())
    assert report["first_divergent_frame"] == 120
    assert report["inputs"] == [
        {"player_index": 0, "revision": 1, "sha256": canonical_digest(a)},
        {"player_index": 1, "revision": 1, "sha256": canonical_digest(b)},
    ]
    # A new revision of one player makes the report follow the latest revisions.
    fixed = json.loads(dumps(a))
    fixed["stats"]["rollbacks"] = 0
    store.store_export(dumps(fixed))
    report = store.comparison("game-1")
    assert report["inputs"][0] == {"player_index": 0, "revision": 2, "sha256": canonical_digest(fixed)}


def test_registered_manifest_decides_the_players_and_refuses_contradictions(tmp_path: Path) -> None:
    store = ExportStore(tmp_path)
    path = store.register_game(record(subjects=("subject-a", "subject-b", "subject-c")))
    manifest = json.loads(path.read_bytes())
    assert manifest["subject_ids"] == ["subject-a", "subject-b", "subject-c"]
    assert manifest["created_at"].endswith("Z")
    assert store.register_game(record(subjects=("subject-a", "subject-b", "subject-c"))) == path  # idempotent
    with pytest.raises(GameConflict):
        store.register_game(record(subjects=("subject-a", "subject-x", "subject-c")))
    docs = make_game_exports(subject_ids=("subject-a", "subject-b", "subject-c"))
    assert store.store_export(dumps(docs[0])).comparison_status == "waiting"
    assert store.store_export(dumps(docs[1])).comparison_status == "waiting"  # 2 of 3
    assert store.store_export(dumps(docs[2])).comparison_status == "agree"
    other = make_game_exports(game_id="game-2", subject_ids=("subject-a", "mallory"))
    store.register_game(record("game-2"))
    with pytest.raises(ExportConflict, match="player 1 is not subject 'mallory'"):
        store.store_export(dumps(other[0]))
    assert store.revisions("game-2", 0) == []


def test_condition_and_bot_seats_must_match_the_registered_game(tmp_path: Path) -> None:
    from dataclasses import replace

    store = ExportStore(tmp_path)
    store.register_game(replace(record(), condition="fast", bot_players=(1,)))
    docs = make_game_exports()
    with pytest.raises(ExportConflict, match="condition None is not the game's condition 'fast'"):
        store.store_export(dumps(docs[0]))
    docs[0]["ids"]["condition"] = "slow"
    with pytest.raises(ExportConflict, match="condition 'slow'"):
        store.store_export(dumps(docs[0]))
    docs[0]["ids"]["condition"] = "fast"
    with pytest.raises(ExportConflict, match=r"bot seats \[\] are not the game's \[1\]"):
        store.store_export(dumps(docs[0]))
    docs[0]["ids"]["peers"][0]["bot"] = True
    assert store.store_export(dumps(docs[0])).created
    docs[1]["ids"].update(condition="fast", bot=True)
    assert store.store_export(dumps(docs[1])).comparison_status == "agree"
    summary = store.game_summary("game-1")
    assert summary["condition"] == "fast" and [p["bot"] for p in summary["players"]] == [False, True]


def test_game_record_from_signaling_info() -> None:
    info = {"game_id": "g1", "scene_id": "s1", "seed": 7, "players": [{"subject_id": "a"}, {"subject_id": "b"}], "settings": {"x": 1}}
    assert GameRecord.from_info(info).subject_ids == ("a", "b")

    class Info:
        game_id, scene_id, seed, subject_ids, settings = "g1", "s1", 7, ["a", "b"], None

    assert GameRecord.from_info(Info()).settings == {}
    with pytest.raises(ValueError):
        GameRecord.from_info({**info, "game_id": "../g"})
    with pytest.raises(ValueError):
        GameRecord.from_info({**info, "seed": 2**32})


def test_invalid_exports_are_refused_and_leave_nothing(tmp_path: Path) -> None:
    store = ExportStore(tmp_path)
    with pytest.raises(ExportInvalid):
        store.store_export(b'{"schema": "nope"}')
    assert files_under(tmp_path) == []


def test_a_restarted_store_sees_everything_and_repairs_derived_files(tmp_path: Path) -> None:
    a, b = make_game_exports()
    ExportStore(tmp_path).store_export(dumps(a))
    (tmp_path / "games/game-1/index.json").unlink()  # as if killed right after the export's link
    store = ExportStore(tmp_path)
    assert store.store_export(dumps(a)).created is False
    assert store.store_export(dumps(b)).comparison_status == "agree"
    (tmp_path / "games/game-1/comparison.json").write_text('{"status": "stale", "inputs": []}')
    assert ExportStore(tmp_path).comparison("game-1")["status"] == "agree"
    summary = ExportStore(tmp_path).list_games()[0]
    assert summary["comparison"] == "agree"
    assert [p["revisions"] for p in summary["players"]] == [[1], [1]]


def test_leftover_temp_files_of_dead_processes_are_removed_and_never_listed(tmp_path: Path) -> None:
    store = ExportStore(tmp_path)
    store.store_export(dumps(make_game_exports()[0]))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    stale = tmp_path / f"games/game-1/.tmp-{int(dead.stdout)}-abcdef"
    stale.write_bytes(b'{"half": ')
    alive = tmp_path / f"games/game-1/.tmp-{os.getppid()}-123456"  # a live process's write in progress
    alive.write_bytes(b"{")
    reopened = ExportStore(tmp_path)
    assert reopened.removed_temp_files == 1
    assert not stale.exists() and alive.exists()
    names = zipfile.ZipFile(io.BytesIO(reopened.zip_bytes())).namelist()
    assert not any(".tmp-" in n for n in names)


def test_concurrent_different_uploads_to_one_slot_get_distinct_revisions(tmp_path: Path) -> None:
    store = ExportStore(tmp_path)
    base = make_game_exports()[0]
    bodies = []
    for i in range(8):
        d = json.loads(dumps(base))
        d["stats"]["bytes_sent"] = i
        bodies.append(dumps(d))
    results = []
    barrier = threading.Barrier(len(bodies))

    def upload(body: bytes) -> None:
        barrier.wait()
        results.append(store.store_export(body))

    threads = [threading.Thread(target=upload, args=(b,)) for b in bodies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(r.revision for r in results) == list(range(1, 9))
    assert sorted(r.path.read_bytes() for r in results) == sorted(bodies)


def test_listing_and_zips(tmp_path: Path) -> None:
    store = ExportStore(tmp_path)
    store.register_game(record("game-1"))
    for doc in make_game_exports("game-1"):
        store.store_export(dumps(doc))
    store.store_export(dumps(make_game_exports("game-2", diverge_at=10)[0]))
    games = {g["game_id"]: g for g in store.list_games()}
    assert games["game-1"]["comparison"] == "agree"
    assert games["game-1"]["registered"] is True
    assert games["game-1"]["verified_frame"] == 299
    assert games["game-2"]["comparison"] == "waiting"
    assert games["game-2"]["uploads"] == 1 and games["game-2"]["desyncs"] == 1
    assert games["game-2"]["players"][1]["uploaded"] is False
    one = zipfile.ZipFile(io.BytesIO(store.zip_bytes(["game-1"])))
    assert sorted(one.namelist()) == [
        "games/game-1/comparison.json", "games/game-1/game.json", "games/game-1/index.json",
        "games/game-1/player-0.json", "games/game-1/player-1.json",
    ]
    assert one.read("games/game-1/player-0.json") == store.read_export("game-1", 0)
    everything = zipfile.ZipFile(io.BytesIO(store.zip_bytes()))
    assert "games/game-2/player-0.json" in everything.namelist()
    with pytest.raises(ValueError):
        store.zip_bytes(["../etc"])
