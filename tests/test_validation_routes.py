"""The upload and researcher routes in a real server process on 127.0.0.1 (the validation
blueprint in a small Flask app), with its data directory on disk: bad uploads of every
kind, idempotent duplicates and revisions, a cut-off upload, a SIGKILL and a restart."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from interactive_gym_p2p.validation.sample import make_game_exports
from interactive_gym_p2p.validation.tokens import UploadTokens

from validation_helpers import (
    RESEARCHER_TOKEN,
    UPLOAD_SECRET,
    ServerProcess,
    dumps,
    files_under,
    post_export,
    raw_exchange,
)
from waiting import wait_for_files

TOKENS = UploadTokens(UPLOAD_SECRET)
LIMIT = 1_000_000


def token(doc: dict) -> str:
    ids = doc["ids"]
    return TOKENS.issue(ids["game_id"], ids["player_index"], ids["subject_id"])


# Both ways the routes are served: werkzeug's threaded server, and eventlet (one OS thread,
# green threads), which is how the experiment server runs them.
@pytest.fixture(scope="module", params=["werkzeug", "eventlet"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp(f"routes-{request.param}") / "data"
    proc = ServerProcess(data, max_upload_bytes=LIMIT, kind=request.param)
    proc.data_dir = data
    yield proc
    proc.stop()


def head(path: str, length: int | None, extra: str = "", auth: str | None = "x" * 64) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    if auth:
        lines.append(f"Authorization: Bearer {auth}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if extra:
        lines.append(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def status_of(raw: bytes) -> int:
    return int(raw.split(b" ", 2)[1])


def test_upload_then_duplicate_then_new_revision(server: ServerProcess) -> None:
    a, b = make_game_exports("up-1")
    status, body = post_export(server, "up-1", 0, dumps(a), token(a))
    assert (status, body["status"], body["revision"], body["comparison"]) == (201, "stored", 1, "waiting")
    status, body = post_export(server, "up-1", 0, json.dumps(a, indent=2).encode(), token(a))
    assert (status, body["status"], body["revision"]) == (200, "duplicate", 1)
    changed = json.loads(dumps(a))
    changed["partial"] = True
    status, body = post_export(server, "up-1", 0, dumps(changed), token(a))
    assert (status, body["revision"]) == (201, 2)
    status, body = post_export(server, "up-1", 1, dumps(b), token(b))
    assert (status, body["comparison"]) == (201, "agree")
    folder = server.data_dir / "games" / "up-1"
    assert (folder / "player-0.json").read_bytes() == dumps(a)
    assert (folder / "player-0.r2.json").read_bytes() == dumps(changed)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b'{"ids": ', 400, "malformed_json"),
        (b"", 400, "malformed_json"),
        (b'{"a": 1, "a": 2}', 400, "malformed_json"),
        (b"\xff\xfe", 400, "malformed_json"),
        (b"[1, 2]", 400, "invalid_id"),
    ],
)
def test_malformed_bodies_are_refused(server: ServerProcess, body: bytes, status: int, code: str) -> None:
    got, answer = post_export(server, "bad-json", 0, body, "t" * 64)
    assert (got, answer["error"]) == (status, code)
    assert not (server.data_dir / "games" / "bad-json").exists()


def test_schema_violations_are_refused_with_json_paths(server: ServerProcess) -> None:
    doc = make_game_exports("schema-1")[0]
    doc["episodes"][0]["frames"][9][2] = "nothex"
    del doc["stats"]["rollbacks"]
    status, answer = post_export(server, "schema-1", 0, dumps(doc), token(doc))
    assert (status, answer["error"]) == (422, "schema")
    paths = {p["path"] for p in answer["problems"]}
    assert {"$.episodes[0].frames[9][2]", "$.stats"} <= paths
    assert not (server.data_dir / "games" / "schema-1").exists()


def test_tokens_decide_who_may_upload_where(server: ServerProcess) -> None:
    a, b = make_game_exports("tok-1")
    assert post_export(server, "tok-1", 0, dumps(a), None)[1]["error"] == "missing_token"
    assert post_export(server, "tok-1", 0, dumps(a), None)[0] == 401
    assert post_export(server, "tok-1", 0, dumps(a), "0" * 64)[0] == 403
    # Player 1 uploading into player 0's slot, with its own token or with its own document.
    assert post_export(server, "tok-1", 0, dumps(a), token(b))[0] == 403
    assert post_export(server, "tok-1", 0, dumps(b), token(b))[0] == 403
    # A valid token of another game.
    other = make_game_exports("tok-2")[0]
    assert post_export(server, "tok-1", 0, dumps(a), token(other))[0] == 403
    # The token fits the URL's slot but the document claims another game.
    moved = json.loads(dumps(other))
    moved["ids"]["subject_id"] = "subject-a"
    status, answer = post_export(server, "tok-1", 0, dumps(moved), token(a))
    assert (status, answer["error"]) == (400, "ids_mismatch")
    assert not (server.data_dir / "games" / "tok-1").exists()
    assert not (server.data_dir / "games" / "tok-2").exists()


@pytest.mark.parametrize(
    "path",
    [f"/p2p/exports/{g}/0" for g in ("..", "..hidden", ".env", "a..b", "a%00b", "%2e%2e", "x" * 65, "a%20b",
                                     "..%2f..%2fetc", "..%2F..%2Fetc", "a%2Fb", "a/b")]
    + ["/p2p/exports/game-1/x", "/p2p/exports/game-1/-1", "/p2p/exports/game-1/300", "/p2p/exports/game-1",
       "/p2p/exports/game-1/0/extra"],
)
def test_path_like_game_ids_in_the_url_are_refused(server: ServerProcess, path: str) -> None:
    doc = make_game_exports("ok-game")[0]
    outside = files_under(server.data_dir.parent)
    status, headers, body = server.request("POST", path, dumps(doc), {"Authorization": "Bearer " + "x" * 64})
    # Always the documented JSON answer, also for an encoded slash (decoded before routing).
    assert (status, headers["content-type"], json.loads(body)["error"]) == (400, "application/json", "invalid_id")
    assert files_under(server.data_dir.parent) == outside


def test_path_like_subject_ids_in_the_document_are_refused(server: ServerProcess) -> None:
    doc = make_game_exports("subj-1")[0]
    doc["ids"]["subject_id"] = "../../../tmp/x"
    status, answer = post_export(server, "subj-1", 0, dumps(doc), "t" * 64)
    assert (status, answer["error"]) == (400, "invalid_id")


def test_oversized_body_is_refused_before_it_is_sent(server: ServerProcess) -> None:
    # Only the headers go out: the answer comes without the server waiting for 50 MB.
    raw = raw_exchange(server.port, head("/p2p/exports/big-1/0", 50_000_000))
    assert status_of(raw) == 413
    assert b"too_large" in raw


def test_oversized_chunked_body_is_capped_while_reading(server: ServerProcess) -> None:
    chunk = b"x" * 65536
    n_chunks = LIMIT // len(chunk) + 4
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(n_chunks)) + b"0\r\n\r\n"
    raw = raw_exchange(server.port, head("/p2p/exports/big-2/0", None, "Transfer-Encoding: chunked"), body)
    assert status_of(raw) == 413
    assert not (server.data_dir / "games" / "big-2").exists()


def test_a_chunked_upload_is_read_and_a_body_without_length_is_refused(server: ServerProcess) -> None:
    doc = make_game_exports("chunk-1")[0]
    body = dumps(doc)
    pieces = [body[i : i + 4000] for i in range(0, len(body), 4000)]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"
    raw = raw_exchange(server.port, head("/p2p/exports/chunk-1/0", None, "Transfer-Encoding: chunked", auth=token(doc)), chunked)
    assert status_of(raw) == 201, raw[-300:]
    assert (server.data_dir / "games/chunk-1/player-0.json").read_bytes() == body
    raw = raw_exchange(server.port, head("/p2p/exports/chunk-1/0", None, "Connection: close", auth=token(doc)))
    assert status_of(raw) == 411


def test_an_upload_cut_off_mid_body_leaves_nothing(server: ServerProcess) -> None:
    doc = make_game_exports("cut-1")[0]
    body = dumps(doc)
    mark = len(server.lines)
    raw_exchange(server.port, head("/p2p/exports/cut-1/0", len(body), auth=token(doc)), body[: len(body) // 2], close_after_send=True)
    server.wait_for_line(r"upload to /p2p/exports/cut-1/0 cut off", start=mark)
    assert not (server.data_dir / "games" / "cut-1").exists()
    # (Another test's complete game may be having its research tables built right now: those
    # temporary files are not this upload's.)
    assert not [p for p in files_under(server.data_dir) if ".tmp-" in p and "/tables/.tmp-" not in p]
    # The same upload, complete, goes through afterwards.
    assert post_export(server, "cut-1", 0, body, token(doc))[0] == 201


def test_schema_is_served(server: ServerProcess) -> None:
    status, headers, body = server.request("GET", "/p2p/exports/schema.json")
    assert status == 200
    assert json.loads(body)["$id"] == "urn:interactive-gym-p2p:validation-export:1"


# --- researcher routes

RESEARCH_PATHS = [
    "/p2p/research/api/games",
    "/p2p/research/api/games/res-1",
    "/p2p/research/api/games/res-1/exports/0",
    "/p2p/research/api/games/res-1/comparison",
    "/p2p/research/api/games/res-1/download",
    "/p2p/research/api/download",
]


@pytest.fixture(scope="module")
def research_game(server: ServerProcess) -> list[dict]:
    docs = make_game_exports("res-1", diverge_at=33)
    for d in docs:
        assert post_export(server, "res-1", d["ids"]["player_index"], dumps(d), token(d))[0] == 201
    return docs


@pytest.mark.parametrize("path", RESEARCH_PATHS)
def test_researcher_routes_need_the_token(server: ServerProcess, research_game: list, path: str) -> None:
    status, headers, body = server.request("GET", path)
    assert status == 401 and "bearer" in headers.get("www-authenticate", "").lower()
    assert b"res-1" not in body
    for wrong in ("wrong-token-0123456789", RESEARCHER_TOKEN[:-1], RESEARCHER_TOKEN + "x", ""):
        status, _, body = server.request("GET", path, headers={"Authorization": f"Bearer {wrong}"})
        assert status in (401, 403) and b"res-1" not in body
    status, _, body = server.request("GET", path, headers={"Authorization": f"Bearer {RESEARCHER_TOKEN}"})
    assert status == 200, body[:300]


def test_researcher_api_content(server: ServerProcess, research_game: list) -> None:
    auth = {"Authorization": f"Bearer {RESEARCHER_TOKEN}"}
    games = {g["game_id"]: g for g in json.loads(server.request("GET", "/p2p/research/api/games", headers=auth)[2])["games"]}
    g = games["res-1"]
    assert (g["scene_id"], g["comparison"], g["first_divergent_frame"], g["verified_frame"], g["desyncs"]) == ("scene-1", "diverged", 33, 32, 2)
    assert [p["subject_id"] for p in g["players"]] == ["subject-a", "subject-b"]
    status, headers, body = server.request("GET", "/p2p/research/api/games/res-1/exports/1", headers=auth)
    assert body == dumps(research_game[1]) and "attachment" in headers["content-disposition"]
    assert server.request("GET", "/p2p/research/api/games/res-1/exports/1?revision=9", headers=auth)[0] == 404
    assert server.request("GET", "/p2p/research/api/games/nope/exports/1", headers=auth)[0] == 404
    assert server.request("GET", "/p2p/research/api/games/..x/download", headers=auth)[0] == 400
    report = json.loads(server.request("GET", "/p2p/research/api/games/res-1/comparison", headers=auth)[2])
    assert report["divergence"]["state_diff"]["paths"][1]["path"] == "$.players[0][1]"
    archive = zipfile.ZipFile(io.BytesIO(server.request("GET", "/p2p/research/api/games/res-1/download", headers=auth)[2]))
    assert "games/res-1/player-1.json" in archive.namelist() and "games/res-1/comparison.json" in archive.namelist()
    everything = zipfile.ZipFile(io.BytesIO(server.request("GET", "/p2p/research/api/download", headers=auth)[2]))
    assert {n.split("/")[1] for n in everything.namelist()} >= {"res-1"}
    page = server.request("GET", "/p2p/research/")
    assert page[0] == 200 and b"Researcher token" in page[2] and b"res-1" not in page[2]
    # The page's scripts are served here too (a validation-only server has no live console).
    assert b'src="/p2p/static/js/console_page.js"' in page[2]
    status, headers, body = server.request("GET", "/p2p/static/js/console_page.js")
    assert status == 200 and headers["content-type"].startswith("text/javascript") and b"startConsole" in body
    assert server.request("GET", "/p2p/static/vendor/uplot/uPlot.esm.js")[0] == 200


def test_no_researcher_token_means_the_routes_are_off(tmp_path: Path) -> None:
    proc = ServerProcess(tmp_path / "data", researcher_token=None)
    try:
        for path in ["/p2p/research/", *RESEARCH_PATHS]:
            for headers in ({}, {"Authorization": "Bearer anything-at-all-0123"}):
                assert proc.request("GET", path, headers=headers)[0] == 404, path
        # Uploads still work without researcher routes.
        doc = make_game_exports("off-1")[0]
        assert post_export(proc, "off-1", 0, dumps(doc), token(doc))[0] == 201
    finally:
        proc.stop()


# --- crash and restart


def test_killed_server_restarts_with_its_data_intact(tmp_path: Path) -> None:
    data = tmp_path / "data"
    a, b = make_game_exports("crash-1", diverge_at=70)
    first = ServerProcess(data)
    try:
        assert post_export(first, "crash-1", 0, dumps(a), token(a))[0] == 201
        # An upload is in flight (half its body sent) when the server is killed.
        body_b = dumps(b)
        import socket

        sock = socket.create_connection(("127.0.0.1", first.port))
        sock.sendall(head("/p2p/exports/crash-1/1", len(body_b), auth=token(b)) + body_b[: len(body_b) // 2])
        first.kill()
        sock.close()
    finally:
        first.kill()
    before = {p: (data / p).read_bytes() for p in files_under(data)}
    assert sorted(before) == ["games/crash-1/index.json", "games/crash-1/player-0.json"]

    second = ServerProcess(data)
    try:
        assert {p: (data / p).read_bytes() for p in files_under(data)} == before
        status, answer = post_export(second, "crash-1", 0, dumps(a), token(a))
        assert (status, answer["status"], answer["revision"]) == (200, "duplicate", 1)
        status, answer = post_export(second, "crash-1", 1, body_b, token(b))
        assert (status, answer["comparison"]) == (201, "diverged")
        auth = {"Authorization": f"Bearer {RESEARCHER_TOKEN}"}
        games = json.loads(second.request("GET", "/p2p/research/api/games", headers=auth)[2])["games"]
        assert [(g["game_id"], g["uploads"], g["first_divergent_frame"]) for g in games] == [("crash-1", 2, 70)]
        # The complete game's research tables are built in the background; source.json is their
        # last file. Only then may no temporary file be left (the killed upload left none either).
        source = data / "games" / "crash-1" / "tables" / "source.json"
        wait_for_files([source], 30, "the research tables")
        assert not [p for p in files_under(data) if ".tmp-" in p]
    finally:
        second.stop()
