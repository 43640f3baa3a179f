"""compare_exports: agreement, the first divergent frame with state dumps and a field-level
diff, unreached frames, sparse hashes, episode seeds, three players."""

from __future__ import annotations

import json

import pytest

from interactive_gym_p2p.validation.compare import compare_exports, frame_ranges, state_diff
from interactive_gym_p2p.validation.sample import make_game_exports
from interactive_gym_p2p.validation.schema import validate_export


def test_players_who_saw_the_same_game_agree() -> None:
    report = compare_exports(make_game_exports(episodes=2, frames_per_episode=150))
    assert report["status"] == "agree" and report["agree"] and report["complete"]
    assert report["common_frames"] == 300 == report["hashed_frames_compared"]
    assert report["verified_frame"] == 299
    assert report["first_divergent_frame"] is None and report["divergence"] is None
    assert report["unreached_frames"] == [] and report["warnings"] == []
    json.dumps(report, allow_nan=False)  # plain JSON


def test_hash_divergence_names_the_frame_and_the_fields_that_differ() -> None:
    docs = make_game_exports(diverge_at=137)
    report = compare_exports(docs)
    assert report["status"] == "diverged"
    assert report["first_divergent_frame"] == 137
    assert report["verified_frame"] == 136
    div = report["divergence"]
    assert div["kind"] == "hash" and div["frame"] == 137
    assert div["players"]["0"]["hash"] != div["players"]["1"]["hash"]
    assert div["states"]["0"]["frame"] == 137 and div["states"]["1"]["state"]["extra"] is True
    assert div["state_diff"]["paths"] == [
        {"path": "$.extra", "values": {"1": True}, "absent_in": [0]},
        {"path": "$.players[0][1]", "values": {"0": 20, "1": 21}},
    ]
    assert [d["frame"] for d in report["players"][0]["desyncs"]] == [137]
    assert report["players"][1]["desyncs"][0]["has_state"] is True
    assert "state" not in report["players"][1]["desyncs"][0]


def test_action_divergence_is_caught_even_when_hashes_agree() -> None:
    a, b = make_game_exports()
    b["episodes"][0]["frames"][42][1] = [8, 8]
    report = compare_exports([a, b])
    assert report["first_divergent_frame"] == 42
    assert report["divergence"]["kind"] == "actions"
    assert report["divergence"]["state_diff"] is None
    assert any("state dumps" in w for w in report["warnings"])


def test_frames_one_player_confirmed_that_the_other_never_reached() -> None:
    docs = make_game_exports(confirmed_upto={1: 199}, frames_per_episode=300)
    validate_export(docs[1])
    report = compare_exports(docs)
    assert report["agree"] and not report["complete"]
    assert report["common_frames"] == 200 and report["verified_frame"] == 199
    assert report["unreached_frames"] == [{"player_index": 0, "missing_in": 1, "count": 100, "ranges": [[200, 299]]}]
    assert report["players"][1]["partial"] is True


def test_sparse_hashes_are_compared_only_where_both_exist() -> None:
    a, b = make_game_exports()
    for doc in (a, b):
        for row in doc["episodes"][0]["frames"]:
            if row[0] % 10:
                row[2] = None
    b["episodes"][0]["frames"][55][2] = "0" * 16  # b hashed a frame a did not: not a divergence
    report = compare_exports([a, b])
    assert report["agree"]
    assert report["hashed_frames_compared"] == 30
    assert report["verified_frame"] == 290


def test_episode_seed_disagreement_is_reported() -> None:
    a, b = make_game_exports()
    b["episodes"][0]["seed"] ^= 1
    report = compare_exports([a, b])
    assert not report["agree"]
    assert report["episode_mismatches"] == [{"episode": 0, "field": "seed", "values": {"0": a["episodes"][0]["seed"], "1": b["episodes"][0]["seed"]}}]


def test_three_players_and_a_claimed_verification_past_the_divergence() -> None:
    docs = make_game_exports(subject_ids=("a1", "b2", "c3"), diverge_at=60, diverging_player=2)
    docs[1]["verified_frame"] = 250  # a wrong claim the report must flag
    report = compare_exports({d["ids"]["player_index"]: d for d in docs})
    assert report["first_divergent_frame"] == 60
    assert set(report["divergence"]["players"]) == {"0", "1", "2"}
    paths = [p["path"] for p in report["divergence"]["state_diff"]["paths"]]
    assert paths == ["$.extra", "$.players[0][1]"]
    assert any("player 1 reports verified_frame 250" in w for w in report["warnings"])


def test_comparison_needs_two_players_of_one_game() -> None:
    a, _ = make_game_exports()
    with pytest.raises(ValueError):
        compare_exports([a])
    with pytest.raises(ValueError, match="different games"):
        compare_exports([a, make_game_exports("game-2")[1]])


def test_state_diff_details() -> None:
    diff = state_diff({0: {"a": [1, 2, 3], "b": {"c": 1.0, "d": True}}, 1: {"a": [1, 2], "b": {"c": 1, "d": 1}}})
    assert diff["paths"] == [
        {"path": "$.a[2]", "values": {"0": 3}, "absent_in": [1]},
        {"path": "$.b.d", "values": {"0": True, "1": 1}},
    ]
    big = state_diff({0: list(range(500)), 1: [-1] * 500}, limit=20)
    assert big["truncated"] and len(big["paths"]) == 20
    assert state_diff({0: 1, 1: 2})["paths"] == [{"path": "$", "values": {"0": 1, "1": 2}}]
    assert frame_ranges([5, 1, 2, 3, 9]) == [[1, 3], [5, 5], [9, 9]]


def test_each_players_hidden_intervals_are_listed() -> None:
    docs = make_game_exports(episodes=1, frames_per_episode=50)
    docs[1]["hidden_intervals"] = [
        {"first_frame": 20, "last_frame": 29, "started_at": "2025-01-01T00:00:03Z", "ended_at": None,
         "duration_s": 2.5, "excluded": True}]
    older = dict(docs[0])
    older.pop("hidden_intervals")  # an export written before the field existed
    for doc in (docs[1], older):
        validate_export(doc)
    report = compare_exports([older, docs[1]])
    by_player = {p["player_index"]: p for p in report["players"]}
    assert by_player[0]["hidden_intervals"] is None and by_player[0]["hidden_s"] is None
    assert by_player[1]["hidden_intervals"] == docs[1]["hidden_intervals"]
    assert by_player[1]["hidden_s"] == 2.5
    # Hidden frames are the hidden action, not a divergence: the report still agrees.
    assert report["agree"] is True
    report = compare_exports(docs)
    assert {p["player_index"]: p["hidden_s"] for p in report["players"]} == {0: 1, 1: 2.5}


def test_each_players_rejoins_are_listed() -> None:
    docs = make_game_exports(episodes=1, frames_per_episode=50)
    docs[0]["rejoins"] = [
        {"reloaded_at": "2025-01-01T00:00:02Z", "requested_at": "2025-01-01T00:00:03Z",
         "caught_up_at": "2025-01-01T00:00:04Z", "source": 1, "frame": 31, "frames": 30, "bytes": 640,
         "transfer_s": 0.2, "replay_s": 0.1}]
    docs[1].pop("rejoins", None)  # an export written before the field existed
    for doc in docs:
        validate_export(doc)
    report = compare_exports(docs)
    by_player = {p["player_index"]: p for p in report["players"]}
    assert by_player[0]["rejoins"] == docs[0]["rejoins"] and by_player[1]["rejoins"] is None
    assert report["agree"] is True


def test_each_players_input_delays_and_key_to_screen_latency_are_listed() -> None:
    docs = make_game_exports(episodes=2, frames_per_episode=40)
    for doc in docs:
        for ep in doc["episodes"]:
            ep["input_delays"] = [0, 3]
    docs[1]["stats"]["key_to_screen_ms"] = {"p50": None, "p95": None, "samples": 0}  # a Python peer
    report = compare_exports(docs)
    by_player = {p["player_index"]: p for p in report["players"]}
    assert by_player[0]["input_delays"] == [0, 0] and by_player[1]["input_delays"] == [3, 3]
    assert by_player[0]["key_to_screen_ms"] == docs[0]["stats"]["key_to_screen_ms"]
    assert by_player[1]["key_to_screen_ms"]["samples"] == 0
    assert report["agree"] is True and report["warnings"] == []
    # Different records of the agreed delays: a warning, not a divergence.
    docs[1]["episodes"][1]["input_delays"] = [0, None]
    report = compare_exports(docs)
    assert report["agree"] is True
    assert any("episode 1: players recorded different input delays" in w for w in report["warnings"]), report["warnings"]
