"""Research tables (interactive_gym_p2p.data) from real engine exports: a Gem Rush game played
by two Python peers over a lossy simulated link. The tables reproduce each player's score,
--replay derives the same rewards for exports that have none, a data directory's tables carry
participants (recruitment ids, outcome, completion code, form answers), CSV and Parquet load to
the same DataFrames, and the study zip the researcher route serves loads with load()."""

from __future__ import annotations

import io
import json
import threading
import time
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from interactive_gym_p2p.data import load
from interactive_gym_p2p.data.codebook import COLUMNS, TABLE_NAMES
from interactive_gym_p2p.data.tables import GameSource, game_tables
from interactive_gym_p2p.exports.cli import main as exports_main
from interactive_gym_p2p.validation.storage import ExportStore
from interactive_gym_p2p.validation.tokens import UploadTokens

from data_helpers import final_scores, gem_rush_exports, without_step_data
from validation_helpers import RESEARCHER_TOKEN, UPLOAD_SECRET, ServerProcess, post_export

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    return gem_rush_exports()


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return exports_main(list(argv), out), out.getvalue()


def test_tables_reproduce_every_players_score(docs: list[dict]) -> None:
    t = game_tables(GameSource("gems-1", {d["ids"]["player_index"]: d for d in docs}))
    frames, episodes = t["frames"], t["episodes"]
    confirmed = sum(len(e["frames"]) for e in docs[0]["episodes"])
    assert len(frames.rows) == 2 * confirmed
    c = frames.columns
    sums: dict[tuple[int, int], float] = {}
    for r in frames.rows:
        assert r[c.index("reward_source")] == "recorded"
        key = (r[c.index("episode")], r[c.index("player_index")])
        sums[key] = sums.get(key, 0) + r[c.index("reward")]
    scores = final_scores(docs[0])
    assert any(s > 0 for ep in scores for s in ep), "somebody scored"
    for e, ep_scores in enumerate(scores):
        for p, score in enumerate(ep_scores):
            assert sums[(e, p)] == score
    ec = episodes.columns
    assert {(r[ec.index("episode")], r[ec.index("player_index")]): r[ec.index("return")] for r in episodes.rows} == sums
    assert {r[ec.index("end_reason")] for r in episodes.rows} == {"truncated"}
    # The input delay each player used per episode (the export's episodes[].input_delays).
    assert [r[ec.index("input_delay")] for r in episodes.rows] == [1] * len(episodes.rows)
    # Python peers have no keyboard or screen: no key-to-screen measurement, 0 samples.
    pc = t["players"].columns
    for r in t["players"].rows:
        assert (r[pc.index("key_to_screen_p50_ms")], r[pc.index("key_to_screen_samples")]) == (None, 0)
        assert r[pc.index("rejoins")] == 0  # the Python peer writes rejoins: [] (no reload here)
    # The last frame of each episode carries the score info the page showed.
    last = {}
    for r in frames.rows:
        last[(r[c.index("episode")], r[c.index("player_index")])] = r[c.index("info.score")]
    assert last == {k: scores[k[0]][k[1]] for k in last}


def test_replay_derives_the_same_rewards_for_exports_without_them(docs: list[dict], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = []
    for d in docs:
        p = tmp_path / f"old-{d['ids']['player_index']}.json"
        p.write_text(json.dumps(without_step_data(d)))
        paths.append(str(p))
    code, out = cli("table", *paths, "-o", str(tmp_path / "plain"))
    assert code == 0, out
    plain = load(tmp_path / "plain")
    assert plain["frames"]["reward"].isna().all() and plain["frames"]["reward_source"].isna().all()
    code, out = cli("table", *paths, "-o", str(tmp_path / "derived"), "--replay", "--env", "data_helpers:gem_rush_150")
    assert code == 0, out
    derived = load(tmp_path / "derived")
    code, out = cli("table", *_write(tmp_path, docs), "-o", str(tmp_path / "recorded"))
    assert code == 0, out
    recorded = load(tmp_path / "recorded")
    # Without participant records, the recruitment ids come from the exports.
    people = recorded["participants"].set_index("subject_id")
    assert people["recruitment.PROLIFIC_PID"].to_dict() == {"ann": "pid-ann", "ben": "pid-ben"}
    assert (derived["frames"]["reward_source"] == "derived").all()
    assert derived["frames"]["reward"].tolist() == recorded["frames"]["reward"].tolist()
    assert derived["frames"]["info.score"].tolist() == recorded["frames"]["info.score"].tolist()
    assert derived["episodes"]["return"].tolist() == recorded["episodes"]["return"].tolist()
    assert derived["episodes"]["end_reason"].tolist() == recorded["episodes"]["end_reason"].tolist()
    # A replay that does not reproduce the game derives nothing (and says so).
    code, out = cli("table", *paths, "-o", str(tmp_path / "wrong"), "--replay", "--env",
                    "interactive_gym_p2p.examples.tug:TugEnv")
    assert "rewards not derived" in out or code != 0
    code, out = cli("table", *paths, "-o", str(tmp_path / "nocode"), "--replay", "--env", "data_helpers:gem_rush_150",
                    "--on-game-step-code", str(tmp_path / "no.py"))
    assert code == 3 and "error: --on-game-step-code" in capsys.readouterr().err
    code, out = cli("table", *paths, "-o", str(tmp_path / "noenv"), "--replay")
    assert code == 3 and "error: --replay needs --env" in capsys.readouterr().err


def _write(tmp_path: Path, docs: list[dict]) -> list[str]:
    out = []
    for d in docs:
        p = tmp_path / f"new-{d['ids']['player_index']}.json"
        p.write_text(json.dumps(d))
        out.append(str(p))
    return out


def _data_dir(tmp_path: Path, docs: list[dict]) -> Path:
    """A server data directory: the exports, the participant records as the server's ledger
    writes them (participants/<subject>/participant.json + outcome.json), and form answers."""
    from interactive_gym_p2p.participants.ledger import OutcomeReport, ParticipantLedger
    from interactive_gym_p2p.participants.store import FileParticipantStore
    from interactive_gym_p2p.participants.study import Study

    root = tmp_path / "data"
    store = ExportStore(root / "exports")
    for d in docs:
        store.store_export(json.dumps(d).encode())
    study = Study().recruitment().outcomes(completed="C-ANN", partner_left="C-PL")
    ledger = ParticipantLedger(FileParticipantStore(root / "participants"), study, "exp-1")
    for p, sid in enumerate(("ann", "ben")):
        ledger.arrive(sid, {"PROLIFIC_PID": f"pid-{sid}", "STUDY_ID": "s1", "SESSION_ID": f"se-{sid}"})
        ledger.note_game(sid, "gem_rush", "gems-1", p)
    ledger.end("ann", OutcomeReport("completed", scene_id="gem_rush", game_id="gems-1"))
    ledger.end("ben", OutcomeReport("partner_left", reason="left", scene_id="gem_rush", game_id="gems-1"))
    ledger.arrive("cat", {"PROLIFIC_PID": "pid-cat", "STUDY_ID": "s1"})  # screened out: no game
    ledger.end("cat", OutcomeReport("excluded", reason="screening", detail="no WebRTC"))
    (root / "survey").mkdir()
    (root / "survey" / "ann.json").write_text(json.dumps({"subject_id": "ann", "scene_id": "survey", "data": {"age": "31", "enjoyed": 4}}))
    (root / "survey" / "ann_metadata.json").write_text(json.dumps({"scene_id": "survey"}))
    return root


def test_a_data_directory_gives_all_tables_in_csv_and_parquet(docs: list[dict], tmp_path: Path) -> None:
    root = _data_dir(tmp_path, docs)
    code, out = cli("table", "--data-dir", str(root), "-o", str(tmp_path / "t"), "--format", "both")
    assert code == 0, out
    for name in TABLE_NAMES:
        assert (tmp_path / "t" / f"{name}.csv").exists() and (tmp_path / "t" / f"{name}.parquet").exists()
    from_parquet = load(tmp_path / "t")
    for name in TABLE_NAMES:
        (tmp_path / "t" / f"{name}.parquet").unlink()
    from_csv = load(tmp_path / "t")
    for name in TABLE_NAMES:
        assert from_csv[name].equals(from_parquet[name]), name
        assert list(from_csv[name].dtypes) == list(from_parquet[name].dtypes), name
    people = from_csv["participants"].set_index("subject_id")
    assert list(people.index) == ["ann", "ben", "cat"] and not people["bot"].any()
    assert people.loc["ann", "recruitment.PROLIFIC_PID"] == "pid-ann" and people.loc["ben", "recruitment.SESSION_ID"] == "se-ben"
    assert people.loc["ann", ["outcome", "completion_code"]].tolist() == ["completed", "C-ANN"]
    assert people.loc["ben", ["outcome", "outcome_reason", "completion_code"]].tolist() == ["partner_left", "left", "C-PL"]
    assert people.loc["cat", ["outcome", "outcome_reason"]].tolist() == ["excluded", "screening"]
    assert pd.isna(people.loc["cat", "games"]) and pd.isna(people.loc["cat", "completion_code"])
    assert people.loc["ann", "survey.age"] == "31" and people.loc["ann", "survey.enjoyed"] == "4"
    assert people.loc["ben", "games"] == "gems-1" and people.loc["ann", "started_at"] < people.loc["ann", "ended_at"]
    # The exports' own recruitment ids (ids.recruitment) fill the frames table's columns.
    frames = from_csv["frames"]
    assert set(zip(frames["subject_id"], frames["recruitment.PROLIFIC_PID"])) == {("ann", "pid-ann"), ("ben", "pid-ben")}
    events = from_csv["events"].set_index("subject_id")
    outcomes = events[events["kind"] == "outcome"]
    assert sorted(outcomes.index) == ["ann", "ben", "cat"]
    assert outcomes.loc["ben", "event"] == "partner_left" and outcomes.loc["ben", "player_index"] == 1
    assert json.loads(outcomes.loc["ben", "detail"]) == {"code": "C-PL", "reason": "left", "reported_by": "server"}
    # Columns follow the codebook (dynamic ones by their pattern).
    for name in TABLE_NAMES:
        fixed = {c.name for c in COLUMNS[name]}
        for col in from_csv[name].columns:
            assert col in fixed or col.startswith(("recruitment.", "info.", "survey.")), (name, col)


def test_the_loader_reads_the_study_zip_the_researcher_route_serves(docs: list[dict], tmp_path: Path) -> None:
    data = tmp_path / "store"
    tokens = UploadTokens(UPLOAD_SECRET)
    server = ServerProcess(data)
    try:
        for d in docs:
            ids = d["ids"]
            status, body = post_export(server, ids["game_id"], ids["player_index"], json.dumps(d).encode(),
                                       tokens.issue(ids["game_id"], ids["player_index"], ids["subject_id"]))
            assert status == 201, body
        # The tables are built in the background once the game's exports are complete.
        source = data / "games" / "gems-1" / "tables" / "source.json"
        deadline = time.monotonic() + 30
        while not source.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert source.exists(), "the server built the game's tables"
        req = urllib.request.Request(f"{server.url}/p2p/research/api/study.zip",
                                     headers={"Authorization": f"Bearer {RESEARCHER_TOKEN}"})
        with urllib.request.urlopen(req, timeout=60) as r:
            assert r.headers["Content-Type"] == "application/zip"
            (tmp_path / "study.zip").write_bytes(r.read())
        req = urllib.request.Request(f"{server.url}/p2p/research/api/study.zip")
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(req, timeout=30)
        assert denied.value.code == 401
        # The CLI downloads the same zip.
        (tmp_path / "token").write_text(RESEARCHER_TOKEN)
        code, out = cli("download", "--server", server.url, "--study", "--token-file", str(tmp_path / "token"),
                        "-o", str(tmp_path / "cli-study.zip"))
        assert code == 0, out
    finally:
        server.stop()
    names = zipfile.ZipFile(tmp_path / "study.zip").namelist()
    assert "codebook.csv" in names and "exports/games/gems-1/player-0.json" in names
    assert "exports/games/gems-1/comparison.json" in names
    tables = load(tmp_path / "study.zip")
    assert set(tables) == set(TABLE_NAMES)
    from_cli = load(tmp_path / "cli-study.zip")
    assert all(from_cli[name].equals(tables[name]) for name in TABLE_NAMES)
    returns = tables["episodes"].groupby(["episode", "player_index"])["return"].sum()
    scores = final_scores(docs[0])
    assert {k: int(v) for k, v in returns.items()} == {(e, p): scores[e][p] for e in range(2) for p in range(2)}
    assert tables["frames"]["verified"].all()


def test_a_games_tables_are_kept_and_rebuilt_when_their_source_changes(docs: list[dict], tmp_path: Path) -> None:
    from interactive_gym_p2p.data.study import build_game_tables

    store = ExportStore(tmp_path / "exports")
    store.store_export(json.dumps(docs[0]).encode())
    folder = store.game_dir("gems-1") / "tables"
    first = build_game_tables(store, "gems-1")
    assert first is not None and (folder / "source.json").exists()
    stamp = (folder / "frames.csv").stat().st_mtime_ns
    again = build_game_tables(store, "gems-1")
    assert (folder / "frames.csv").stat().st_mtime_ns == stamp, "same exports: the kept tables are read"
    assert again["episodes"].rows == first["episodes"].rows
    # Tables kept by a version with other columns are rebuilt.
    source = json.loads((folder / "source.json").read_text())
    (folder / "source.json").write_text(json.dumps({**source, "codebook": "older"}))
    build_game_tables(store, "gems-1")
    assert json.loads((folder / "source.json").read_text()) == source
    # The second player's export arrives: its rows join the tables.
    store.store_export(json.dumps(docs[1]).encode())
    both = build_game_tables(store, "gems-1")
    pc = both["players"].columns
    assert [r[pc.index("uploaded")] for r in both["players"].rows] == [True, True]


def test_an_ai_seat_has_its_rows_and_no_participant(tmp_path: Path) -> None:
    from interactive_gym_p2p.data.derive import derive_step_data
    from interactive_gym_p2p.examples import tug
    from interactive_gym_p2p.peer.export import build_export
    from interactive_gym_p2p.peer.sim import Game

    from test_ai_policy import make_adapter

    seats = [[1, 1, "middle"]]
    g = Game(num_players=3, seed=5, ai_seats=(1,), make_env=lambda p: make_adapter(60, seats),
             settings={"fps": 30, "max_episodes": 1, "input_delay": 0}, link={"delay_ms": 40, "loss": 0.02},
             input=lambda p, tick, prng, last, s: (tick // 9 + p) % 3)
    g.run_to_end(600_000)
    ai = [{"player_index": 1, "agent_id": 1, "policy": "middle", "kind": "python"}]
    exports = {}
    for p, other in ((0, 2), (2, 0)):
        ids = {"game_id": "tug-ai", "scene_id": "tug", "subject_id": f"s{p}", "player_index": p,
               "peers": [{"player_index": other, "subject_id": f"s{other}"}], "ai_seats": ai}
        exports[p] = json.loads(json.dumps(build_export(g.sessions[p].record(), ids, {"p2p": {}, "validation": {}})))
    t = game_tables(GameSource("tug-ai", exports))
    fc = t["frames"].columns
    seat1 = [r for r in t["frames"].rows if r[fc.index("player_index")] == 1]
    assert len(t["frames"].rows) == 3 * len(seat1) and len(seat1) == 60
    assert {(r[fc.index("subject_id")], r[fc.index("ai_policy")]) for r in seat1} == {(None, "middle")}
    assert {r[fc.index("action")] for r in seat1} <= {0, 1, 2}
    pc = t["players"].columns
    rows = {r[pc.index("player_index")]: r for r in t["players"].rows}
    assert [rows[p][pc.index("uploaded")] for p in range(3)] == [True, False, True]
    assert rows[0][pc.index("ai_policy")] is None and rows[1][pc.index("ai_policy")] == "middle"
    ec = t["episodes"].columns
    assert {(r[ec.index("player_index")], r[ec.index("input_delay")]) for r in t["episodes"].rows} == {(0, 0), (1, 0), (2, 0)}
    # --replay covers the AI seat's column too.
    derived = derive_step_data(without_step_data(exports[0]), lambda: tug.TugEnv(num_players=3, max_steps=60))
    recorded = exports[0]["episodes"][0]
    assert recorded["truncated"] or recorded["terminated"], "the episode's end is in the step data"
    for key in ("rewards", "terminated", "truncated", "end_reason"):
        assert derived[0][key] == recorded[key], key
    # Participants are the two people only.
    from interactive_gym_p2p.data.study import Participants, participants_table

    people = participants_table(Participants(), t["players"])
    assert [r[0] for r in people.rows] == ["s0", "s2"]


def test_building_and_zipping_a_long_game_pauses_every_few_thousand_rows(tmp_path: Path) -> None:
    """The server passes socketio.sleep(0) as pause: a long game's tables must let eventlet's hub
    run between chunks of rows (built when the exports are complete, and for the study zip)."""
    from flask import Flask

    from interactive_gym_p2p.data.tables import PAUSE_EVERY
    from interactive_gym_p2p.validation.routes import create_validation_blueprint
    from interactive_gym_p2p.validation.sample import make_game_exports

    docs = make_game_exports("long-1", frames_per_episode=3000)
    rows = 2 * 3000 + sum(len(d.get("inputs") or []) for d in docs)
    store = ExportStore(tmp_path / "exports")
    tokens = UploadTokens(UPLOAD_SECRET)
    calls: list[str] = []
    app = Flask(__name__)
    workers: list[threading.Thread] = []

    def background(fn: Any, *args: Any) -> None:  # as socketio.start_background_task: after the upload's lock
        workers.append(threading.Thread(target=fn, args=args))
        workers[-1].start()

    app.register_blueprint(create_validation_blueprint(
        store, tokens, RESEARCHER_TOKEN, background=background, pause=lambda: calls.append("p")))
    client = app.test_client()
    for d in docs:
        ids = d["ids"]
        r = client.post(f"/p2p/exports/{ids['game_id']}/{ids['player_index']}", data=json.dumps(d),
                        headers={"Content-Type": "application/json",
                                 "Authorization": f"Bearer {tokens.issue(ids['game_id'], ids['player_index'], ids['subject_id'])}"})
        assert r.status_code == 201, r.get_json()
    assert len(workers) == 1, "one build, when the game's exports are complete"
    workers[0].join(timeout=120)
    assert (store.game_dir("long-1") / "tables" / "source.json").exists()
    # Rows built, then written as CSV: at least one pause per PAUSE_EVERY rows each time.
    built = len(calls)
    assert built >= 2 * rows // PAUSE_EVERY, (built, rows)
    r = client.get("/p2p/research/api/study.zip", headers={"Authorization": f"Bearer {RESEARCHER_TOKEN}"})
    assert r.status_code == 200 and zipfile.ZipFile(io.BytesIO(r.data)).namelist()
    assert len(calls) - built >= 2 * rows // PAUSE_EVERY, (len(calls) - built, rows)


def test_hidden_intervals_give_the_hidden_flag_hidden_frames_and_an_exclusion_event() -> None:
    from interactive_gym_p2p.validation.sample import make_game_exports

    docs = make_game_exports("hid-1", frames_per_episode=40)
    iv = docs[0]["hidden_intervals"][0]
    iv["excluded"] = True
    docs[1]["connection_events"] = [{"peer_index": 0, "event": "excluded", "frame": iv["last_frame"], "time": iv["ended_at"]}]
    t = game_tables(GameSource("hid-1", {d["ids"]["player_index"]: d for d in docs}))
    fc = t["frames"].columns
    hidden = {(r[fc.index("player_index")], r[fc.index("frame")]) for r in t["frames"].rows if r[fc.index("hidden")]}
    assert hidden == {(0, f) for f in range(iv["first_frame"], iv["last_frame"] + 1)}
    assert {r[fc.index("hidden")] for r in t["frames"].rows if r[fc.index("player_index")] == 1} == {False}
    ec = t["episodes"].columns
    assert {r[ec.index("player_index")]: r[ec.index("hidden_frames")] for r in t["episodes"].rows} == {0: 5, 1: 0}
    vc = t["events"].columns
    events = [(r[vc.index("player_index")], r[vc.index("kind")], r[vc.index("event")], r[vc.index("frame")], r[vc.index("peer_index")])
              for r in t["events"].rows]
    assert (0, "hidden", "hidden", iv["first_frame"], None) in events
    assert (0, "hidden", "visible", iv["last_frame"], None) in events
    assert (0, "exclusion", "excluded", iv["last_frame"], None) in events
    assert (1, "connection", "excluded", iv["last_frame"], 0) in events
    pc = t["players"].columns
    assert [r[pc.index("hidden_s")] for r in t["players"].rows] == [1, 0]
