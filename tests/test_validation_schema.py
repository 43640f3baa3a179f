"""The export schema (shipped JSON Schema + consistency rules), strict JSON parsing, the ids rule,
and jsonschema-rs (the server's validator) agreeing with the jsonschema reference validator."""

from __future__ import annotations

import copy
import json
import random

import pytest
from jsonschema import Draft202012Validator

from interactive_gym_p2p.resources import docs_schema_path
from interactive_gym_p2p.validation.ids import InvalidIdentifier, check_identifier, check_player_index, is_identifier
from interactive_gym_p2p.validation.sample import make_game_exports
from interactive_gym_p2p.validation.schema import (
    SCHEMA_PATH,
    ExportInvalid,
    load_schema,
    parse_export,
    parse_json,
    reference_schema_problems,
    schema_problems,
    validate_export,
)
import jsonschema_rs


def test_schema_ships_in_the_package_and_is_draft_2020_12() -> None:
    assert docs_schema_path() == SCHEMA_PATH
    schema = json.loads(SCHEMA_PATH.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)
    assert jsonschema_rs.meta.is_valid(schema)


@pytest.mark.parametrize("good", ["a", "G-1", "subject_01.x", "9" * 64, "a.b-c_d"])
def test_plain_identifiers_pass(good: str) -> None:
    assert is_identifier(good)
    assert check_identifier(good) == good


@pytest.mark.parametrize(
    "bad", ["", "..", "../x", "a/b", "a\\b", ".hidden", "-x", "_x", "a..b", "x" * 65, "a b", "a\n", "é", "a\x00", None, 3]
)
def test_path_like_or_odd_identifiers_are_refused_with_a_reason(bad: object) -> None:
    assert not is_identifier(bad)
    with pytest.raises(InvalidIdentifier) as err:
        check_identifier(bad, "game id")
    assert "game id" in str(err.value)


def test_player_index_bounds() -> None:
    assert check_player_index(0) == 0
    for bad in (-1, 256, True, 1.0, "1"):
        with pytest.raises(ValueError):
            check_player_index(bad)


def test_sample_exports_are_valid_under_both_validators() -> None:
    for doc in make_game_exports(diverge_at=50, confirmed_upto={0: 120}, episodes=2, frames_per_episode=100):
        assert validate_export(doc) is doc
        assert validate_export(doc, reference=True) is doc
    # Exports written before input_delays and key_to_screen_ms existed stay valid.
    older = make_game_exports()[0]
    for ep in older["episodes"]:
        del ep["input_delays"]
    del older["stats"]["key_to_screen_ms"]
    assert validate_export(older) is older


@pytest.mark.parametrize(
    ("mutate", "path"),
    [
        (lambda d: d.__setitem__("schema_version", 2), "$.schema_version"),
        (lambda d: d["ids"].__setitem__("game_id", "../../etc"), "$.ids.game_id"),
        (lambda d: d["ids"].__setitem__("subject_id", "ok\n"), "$.ids.subject_id"),
        (lambda d: d["episodes"][0]["frames"][7].__setitem__(2, "ABCDEF0123456789"), "$.episodes[0].frames[7][2]"),
        (lambda d: d["episodes"][0]["frames"][3][1].append(1), "$.episodes[0].frames[3][1]"),
        (lambda d: d["episodes"][0]["frames"][3][1].__setitem__(0, 2**31), "$.episodes[0].frames[3][1][0]"),
        (lambda d: d["episodes"][0]["frames"][4].__setitem__(0, 3), "$.episodes[0].frames[4][0]"),
        (lambda d: d["episodes"][0]["frames"].append([400, [0, 0], None]), "$.episodes[0].frames[300][0]"),
        (lambda d: d["stats"].__setitem__("extra", 1), "$.stats"),
        (lambda d: d["stats"]["path"].__setitem__("kind", "pigeon"), "$.stats.path.kind"),
        (lambda d: d["timing"].pop("ended_at"), "$.timing"),
        (lambda d: d["timing"].__setitem__("started_at", "2025-01-01 00:00"), "$.timing.started_at"),
        (lambda d: d["ids"]["peers"][0].__setitem__("player_index", 0), "$.ids"),
        (lambda d: d["desyncs"].append({**d["desyncs"][0], "peer_index": 0}), "$.desyncs[1].peer_index"),
        (lambda d: d["stats"]["rollback_depth_histogram"].__setitem__("0", 1), "$.stats.rollback_depth_histogram"),
        (lambda d: d["episodes"][0].__setitem__("verified_frame", 10**6), "$.episodes[0].verified_frame"),
        (lambda d: d["hidden_intervals"][0].__setitem__("last_frame", None), "$.hidden_intervals[0]"),
        (lambda d: d["hidden_intervals"][0].__setitem__("last_frame", 4), "$.hidden_intervals[0].last_frame"),
        (lambda d: d["hidden_intervals"].append({**d["hidden_intervals"][0]}), "$.hidden_intervals[1].first_frame"),
        (lambda d: d["hidden_intervals"].insert(0, {**d["hidden_intervals"][0], "first_frame": 1, "last_frame": 2,
                                                    "ended_at": None}), "$.hidden_intervals[0].ended_at"),
        (lambda d: d["hidden_intervals"][0].__setitem__("excluded", 1), "$.hidden_intervals[0].excluded"),
        (lambda d: d["hidden_intervals"][0].__setitem__("why", "tab"), "$.hidden_intervals[0]"),
        (lambda d: d["connection_events"].append({"peer_index": 1, "event": "kicked", "frame": 1,
                                                  "time": "2025-01-01T00:00:01Z"}), "$.connection_events[0].event"),
        (lambda d: d["episodes"][0]["rewards"][0][1].__setitem__(0, "1"), "$.episodes[0].rewards[0][1][0]"),
        (lambda d: d["episodes"][0]["rewards"][1].__setitem__(0, d["episodes"][0]["rewards"][0][0]), "$.episodes[0].rewards[1][0]"),
        (lambda d: d["episodes"][0]["rewards"].append([400, [1, 0]]), "$.episodes[0].rewards"),
        (lambda d: d["episodes"][0]["rewards"][0][1].append(0), "$.episodes[0].rewards[0][1]"),
        (lambda d: d["episodes"][0]["terminated"][0][1].__setitem__(1, 1), "$.episodes[0].terminated[0][1][1]"),
        (lambda d: d["episodes"][0]["infos"][0][1]["score"].pop(), "$.episodes[0].infos[0][1].score"),
        (lambda d: d["episodes"][0].__setitem__("end_reason", "bored"), "$.episodes[0].end_reason"),
        (lambda d: d["episodes"][0].__setitem__("input_delays", [0, 17]), "$.episodes[0].input_delays[1]"),
        (lambda d: d["episodes"][0].__setitem__("input_delays", [0]), "$.episodes[0].input_delays"),
        (lambda d: d["episodes"][0].__setitem__("input_delays", [0, 1, 2]), "$.episodes[0].input_delays"),
        (lambda d: d["stats"]["key_to_screen_ms"].pop("samples"), "$.stats.key_to_screen_ms"),
        (lambda d: d["stats"]["key_to_screen_ms"].__setitem__("p50", -1), "$.stats.key_to_screen_ms.p50"),
    ],
)
def test_invalid_documents_name_the_json_path(mutate, path: str) -> None:
    doc = make_game_exports(diverge_at=100)[0]
    mutate(doc)
    with pytest.raises(ExportInvalid) as err:
        validate_export(doc)
    paths = [p.path for p in err.value.problems]
    assert any(p == path or p.startswith(path + "[") or p.startswith(path + ".") for p in paths), paths
    assert path.split("[")[0] in str(err.value)


def test_strict_json_parsing() -> None:
    with pytest.raises(ExportInvalid, match="malformed JSON"):
        parse_json(b'{"a": 1,}')
    with pytest.raises(ExportInvalid, match="duplicate key 'a'"):
        parse_json(b'{"a": 1, "a": 2}')
    with pytest.raises(ExportInvalid, match="NaN is not JSON"):
        parse_json(b'{"a": NaN}')
    with pytest.raises(ExportInvalid, match="not UTF-8"):
        parse_json(b'{"a": "\xff"}')
    with pytest.raises(ExportInvalid):
        parse_export(b"[]")
    assert parse_json(b'{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}


def test_problem_count_is_bounded_for_huge_broken_documents() -> None:
    doc = make_game_exports(frames_per_episode=2000)[0]
    for row in doc["episodes"][0]["frames"]:
        row[2] = "bad"
    assert len(schema_problems(doc)) == 50


def _mutations(doc: dict, rng: random.Random) -> dict:
    """A random small change somewhere in the document: type swaps, deletions, additions."""
    out = copy.deepcopy(doc)
    containers = []

    def walk(v):
        if isinstance(v, dict):
            containers.append(v)
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            containers.append(v)
            for x in v:
                walk(x)

    walk(out)
    target = rng.choice(containers)
    replacements = [None, True, 0, -1, 1.5, 2**32, "x", "0123456789abcdef", [], {}, [1, 2], "../x", "2025-01-01T00:00:00Z"]
    if isinstance(target, dict) and target:
        key = rng.choice(sorted(target))
        action = rng.randrange(3)
        if action == 0:
            del target[key]
        elif action == 1:
            target[key] = rng.choice(replacements)
        else:
            target["unexpected"] = rng.choice(replacements)
    elif isinstance(target, list) and target:
        i = rng.randrange(len(target))
        if rng.randrange(2):
            target[i] = rng.choice(replacements)
        else:
            target.append(rng.choice(replacements))
    return out


def test_jsonschema_rs_agrees_with_jsonschema_on_many_mutations() -> None:
    rng = random.Random(2025)
    base = make_game_exports(frames_per_episode=12, episodes=2, diverge_at=5)
    fast = jsonschema_rs.Draft202012Validator(load_schema())
    reference = Draft202012Validator(load_schema())
    disagreements = []
    invalid = 0
    for n in range(1500):
        doc = _mutations(base[n % 2], rng)
        a = fast.is_valid(doc)
        b = reference.is_valid(doc)
        invalid += not b
        if a != b:
            disagreements.append((doc, a, b))
    assert not disagreements, disagreements[:1]
    assert invalid > 700, "the mutations should mostly break the document"
    # Where both find problems, they point at the same places.
    doc = _mutations(base[0], random.Random(7))
    assert {p.path for p in schema_problems(doc)} == {p.path for p in reference_schema_problems(doc)}


def test_exports_without_step_data_stay_valid() -> None:
    """Exports written before the per-frame step data existed (optional keys) still validate."""
    for doc in make_game_exports(step_data=False):
        assert validate_export(doc) is doc
    doc = make_game_exports()[0]
    doc["episodes"][0]["rewards"] = None  # an environment that reports no rewards
    assert validate_export(doc) is doc
