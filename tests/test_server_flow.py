"""The participant flow and HTTP routes against a real server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import flask
import pytest
import socketio
from interactive_gym.scenes.gym_scene import GymScene

from interactive_gym_p2p import P2PGymScene
from interactive_gym_p2p.server import ExperimentError, ServerConfig, ServerContext, create_app
from interactive_gym_p2p.server.pyodide import LOCAL_URL

from server_harness import (
    ParticipantClient,
    SignalingClient,
    http_get,
    make_scene,
    make_stager,
    running_server,
    static_scene,
)

ROOT = Path(__file__).resolve().parent.parent


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    """GET without following redirects."""
    return http_get(url, follow_redirects=False)


def flow_stager() -> Any:
    return make_stager(static_scene("instructions"), make_scene("game"), static_scene("survey"))


def advance(client: ParticipantClient, from_scene: str, to_scene: str) -> dict[str, Any]:
    assert client.call("advance_scene", {"scene_id": from_scene}) == {"ok": True, "scene_id": to_scene}
    return client.log.wait("activate_scene", lambda d: d["scene_id"] == to_scene)


def test_start_static_p2p_static_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A working directory of its own: tests running beside this one (pytest-xdist) may write
    # into the repository's (a wheel build's build/ folder).
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    cwd_before = set(os.listdir(os.getcwd()))
    with running_server(flow_stager(), tmp_path) as server:
        people = {s: ParticipantClient(server.url, s) for s in ("ann", "ben")}
        signaling: dict[str, SignalingClient] = {}
        try:
            for subject, person in people.items():
                start = person.log.wait("activate_scene")
                assert start["scene_id"] == "start" and start["scene_type"] == "StartScene" and start["scene_header"] == "Welcome"
                advance(person, "start", "instructions")
                game = advance(person, "instructions", "game")
                p2p = game["p2p"]
                assert p2p["signaling"]["namespace"] == "/p2p" and p2p["signaling"]["subject_id"] == subject
                assert p2p["settings"]["p2p"]["players"] == 2 and "class CounterEnv" in p2p["env"]["code"]
                signaling[subject] = SignalingClient(server.url, p2p["signaling"]["ticket"])
                assert signaling[subject].join()["ok"]
            ready = {s: c.log.wait("game_ready") for s, c in signaling.items()}
            assert ready["ann"]["game_id"] == ready["ben"]["game_id"]
            assert sorted(r["players"][r["player_index"]]["subject_id"] for r in ready.values()) == ["ann", "ben"]
            for subject, client in signaling.items():
                assert client.call("finished", {"game_id": ready[subject]["game_id"]}) == {"ok": True}
            for subject, person in people.items():
                advance(person, "game", "survey")
                assert person.log.wait("terminate_scene", lambda d: d["scene_id"] == "game")
                saved = person.call("static_scene_data_emission", {"scene_id": "survey", "data": {"q1": "yes"}, "interactiveGymGlobals": {"k": 1}})
                assert saved == {"ok": True, "saved": True}
                end = advance(person, "survey", "end")
                assert end["scene_type"] == "EndScene"
                refused = person.call("advance_scene", {"scene_id": "end"})
                assert refused["error"]["code"] == "at_end"
                assert person.log.wait("flow_error")["code"] == "at_end"
            for client in signaling.values():  # they finished: leaving the scene tells no one
                assert not client.log.of("peer_left")
        finally:
            for c in [*people.values(), *signaling.values()]:
                c.close()
        data = tmp_path / "data"
        survey = json.loads((data / "survey" / "ann.json").read_text())
        assert survey["data"] == {"q1": "yes"} and survey["globals"] == {"k": 1} and survey["subject_id"] == "ann"
        start_meta = json.loads((data / "start" / "ben_metadata.json").read_text())
        assert start_meta["scene_id"] == "start"
        health = json.loads(get(server.url + "/p2p/health")[2])
        assert health["participants"] == 2 and health["games"] == 0
    assert set(os.listdir(os.getcwd())) == cwd_before, "the server wrote into the working directory"
    assert not (Path(os.getcwd()) / "iglog.log").exists()


def test_leaving_the_p2p_scene_mid_game_tells_the_peer(tmp_path: Path) -> None:
    with running_server(make_stager(make_scene("game", disconnect_policy="end")), tmp_path) as server:
        people = {s: ParticipantClient(server.url, s) for s in ("x", "y")}
        signaling: dict[str, SignalingClient] = {}
        try:
            for subject, person in people.items():
                person.log.wait("activate_scene")
                game = advance(person, "start", "game")
                signaling[subject] = SignalingClient(server.url, game["p2p"]["signaling"]["ticket"])
                signaling[subject].join()
            rx = signaling["x"].log.wait("game_ready")
            advance(people["x"], "game", "end")  # the scene's deactivate hook gives up the seat
            left = signaling["y"].log.wait("peer_left")
            assert left["player_index"] == rx["player_index"] and left["reason"] == "left" and left["game_over"] is True
            # x reached the end without finishing its game: the server's outcome, not "completed".
            end = people["x"].log.wait("study_end")
            assert (end["outcome"], end["reason"]) == ("excluded", "left")
            assert signaling["x"].join()["error"]["code"] == "study_over"
        finally:
            for c in [*people.values(), *signaling.values()]:
                c.close()


def test_reload_resumes_the_current_scene(tmp_path: Path) -> None:
    with running_server(flow_stager(), tmp_path) as server:
        first = ParticipantClient(server.url, "returning")
        first.log.wait("activate_scene")
        advance(first, "start", "instructions")
        game = advance(first, "instructions", "game")
        first.close()
        second = ParticipantClient(server.url, "returning")
        try:
            again = second.log.wait("activate_scene")
            assert again["scene_id"] == "game"
            assert again["p2p"]["signaling"]["ticket"] == game["p2p"]["signaling"]["ticket"]
        finally:
            second.close()


def test_a_second_tab_takes_over(tmp_path: Path) -> None:
    with running_server(flow_stager(), tmp_path) as server:
        first = ParticipantClient(server.url, "twotabs")
        first.log.wait("activate_scene")
        disconnected = []
        first.sio.on("disconnect", lambda *a: disconnected.append(True))
        second = ParticipantClient(server.url, "twotabs")
        try:
            assert second.log.wait("activate_scene")["scene_id"] == "start"
            assert first.log.wait("superseded")
            assert second.call("advance_scene", {"scene_id": "start"})["ok"]
            assert second.call("advance_scene", {"scene_id": "start"})["error"]["code"] == "stale_scene"
        finally:
            first.close()
            second.close()


def test_participant_connect_needs_a_valid_subject_id(tmp_path: Path) -> None:
    with running_server(flow_stager(), tmp_path) as server:
        for subject in ("../etc", "a/b", "", None):
            sio = socketio.Client(reconnection=False)
            errors: list[Any] = []
            sio.on("connect_error", errors.append)
            with pytest.raises(socketio.exceptions.ConnectionError):
                sio.connect(server.url, auth={"subject_id": subject}, transports=["websocket"], wait_timeout=15)
            assert errors and "not a plain identifier" in errors[0]["message"], errors


def test_http_routes(tmp_path: Path) -> None:
    pyodide_dir = ROOT / "node_modules" / "pyodide"
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "gem.txt").write_text("gem")
    with running_server(flow_stager(), tmp_path, pyodide_dir=pyodide_dir, assets_dir=assets) as server:
        url = server.url
        status, headers, _ = get(url + "/")
        assert status == 302 and len(headers["Location"].rsplit("/", 1)[1]) == 32
        status, headers, _ = get(url + "/?subject_id=prolific_123")
        assert status == 302 and headers["Location"].endswith("/prolific_123")
        for bad in ("/?subject_id=../etc", "/?subject_id=a%2Fb", "/a..b", "/x/y"):
            status, _, body = get(url + bad)
            assert status == 400 and b"Invalid subject id" in body, (bad, body)
        status, headers, body = get(url + "/prolific_123")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        page = body.decode()
        config = json.loads(page.split('id="p2p-config">', 1)[1].split("</script>", 1)[0])
        assert config["subject_id"] == "prolific_123" and config["signaling_namespace"] == "/p2p"
        assert config["pyodide_index_url"] == LOCAL_URL
        assert '<script type="module" src="/p2p/static/js/client.js">' in page
        status, headers, body = get(url + "/p2p/static/js/protocol.js")
        assert status == 200 and headers["Content-Type"].startswith("text/javascript") and b"export" in body
        assert get(url + "/p2p/static/../setup.cfg")[0] == 404
        status, headers, body = get(url + "/p2p/py/hashing.py")
        assert status == 200 and b"def state_hash" in body
        assert get(url + "/p2p/py/server.py")[0] == 404
        status, headers, _ = get(url + LOCAL_URL + "pyodide.mjs")
        assert status == 200 and headers["Content-Type"].startswith("text/javascript")
        assert get(url + LOCAL_URL + "pyodide.asm.wasm")[1]["Content-Type"] == "application/wasm"
        assert get(url + "/assets/gem.txt")[2] == b"gem"
        assert get(url + "/favicon.ico")[0] == 204
        health = json.loads(get(url + "/p2p/health")[2])
        assert health == {"ok": True, "experiment_id": None, "games": 0, "waiting": 0, "participants": 0}


def page_config(url: str) -> dict[str, Any]:
    page = get(url)[2].decode()
    return json.loads(page.split('id="p2p-config">', 1)[1].split("</script>", 1)[0])


def test_page_preloads_the_first_games_environment(tmp_path: Path) -> None:
    """The page gets the first P2P scene's p2p block (no ticket) to load it during the pages
    before it; it is what activate_scene brings later, but for the ticket."""
    with running_server(flow_stager(), tmp_path) as server:
        config = page_config(server.url + "/ann")
        preload = config["preload"]
        assert preload["scene_id"] == "game" and preload["p2p"]["signaling"] is None
        person = ParticipantClient(server.url, "ann")
        try:
            person.log.wait("activate_scene")
            advance(person, "start", "instructions")
            game = advance(person, "instructions", "game")["p2p"]
        finally:
            person.close()
        assert game["signaling"]["ticket"]
        assert {**game, "signaling": None} == preload["p2p"]
    with running_server(flow_stager(), tmp_path / "off", preload_environment=False) as server:
        assert page_config(server.url + "/ann")["preload"] is None


def test_extra_blueprints_get_the_context(tmp_path: Path) -> None:
    seen: list[ServerContext] = []

    def factory(ctx: ServerContext) -> flask.Blueprint:
        seen.append(ctx)
        bp = flask.Blueprint("extra", __name__)

        @bp.post("/p2p/exports/<game_id>/<int:player_index>")
        def upload(game_id: str, player_index: int) -> Any:
            token = flask.request.headers.get("Authorization", "").removeprefix("Bearer ")
            ok = ctx.upload_tokens.verify(token, game_id, player_index, flask.request.args.get("subject", ""))
            return flask.jsonify({"ok": ok, "researcher_token": ctx.researcher_token is not None}), 200 if ok else 403

        return bp

    token_holder = "researcher-token-0123456789"
    with running_server(make_stager(make_scene()), tmp_path, blueprints=[factory], researcher_token=token_holder) as server:
        assert seen and seen[0].data_dir == (tmp_path / "data").resolve()
        a = SignalingClient(server.url, server.context.tickets.issue("a", "game", 1))
        b = SignalingClient(server.url, server.context.tickets.issue("b", "game", 1))
        try:
            a.join()
            b.join()
            ready = a.log.wait("game_ready")
            upload = ready["upload"]
            request = urllib.request.Request(
                server.url + upload["url"] + "?subject=a", data=b"{}", method="POST",
                headers={"Authorization": f"Bearer {upload['token']}"},
            )
            with urllib.request.urlopen(request, timeout=15) as response:
                assert json.loads(response.read()) == {"ok": True, "researcher_token": True}
        finally:
            a.close()
            b.close()


def test_experiment_is_checked_before_serving(tmp_path: Path) -> None:
    config = ServerConfig(async_mode="threading", data_dir=tmp_path)
    plain_gym = GymScene().scene(scene_id="server_game")
    with pytest.raises(ExperimentError, match=r"GymScene 'server_game'.*Interactive Gym's own server"):
        create_app(make_stager(plain_gym), config)
    no_default = P2PGymScene().scene(scene_id="g").pyodide(environment_initialization_code="class E:\n    pass\nenv = 1\n")
    with pytest.raises(ExperimentError, match=r"P2PGymScene 'g'.*default_action"):
        create_app(make_stager(no_default), config)
    headless = make_stager(make_scene())
    headless.scenes = headless.scenes[1:]  # Stager() asserts this; a later edit must not slip by
    with pytest.raises(ExperimentError, match="must begin with a StartScene"):
        create_app(headless, config)
    with pytest.raises(ExperimentError, match="expected an Interactive Gym Stager"):
        create_app([make_scene()], config)
    with pytest.raises(ValueError, match="ServerConfig.port"):
        create_app(make_stager(make_scene()), ServerConfig(port=70000))
    with pytest.raises(ValueError, match="ServerConfig.async_mode"):
        create_app(make_stager(make_scene()), ServerConfig(async_mode="asyncio"))


def test_imports_and_app_creation_have_no_side_effects(tmp_path: Path) -> None:
    probe = f"""
import sys, threading, os
sys.path.insert(0, {str(ROOT)!r}); sys.path.insert(0, {str(ROOT / 'tests')!r})
import interactive_gym_p2p, interactive_gym_p2p.scene, interactive_gym_p2p.server, interactive_gym_p2p.signaling, interactive_gym_p2p.cli
threads_after_import = threading.active_count()
from server_harness import make_scene, make_stager
from interactive_gym_p2p.server import create_app, ServerConfig
app, sio = create_app(make_stager(make_scene()), ServerConfig(async_mode='threading', data_dir='data'))
print(threads_after_import, threading.active_count(), 'interactive_gym.server.app' in sys.modules, sorted(os.listdir('.')))
"""
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    threads_import, threads_app, imported_ig_app, files = out.stdout.split(" ", 3)
    assert threads_import == "1" and threads_app == "1"
    assert imported_ig_app == "False"
    assert files.strip() == "[]", files


def test_validation_seams_wired_end_to_end(tmp_path: Path) -> None:
    """The seams as the lead wires them: on_game_created registers the game in the export
    store, the validation blueprint gets the upload tokens, and each player's upload token
    from game_ready is accepted for exactly its own export slot."""
    from interactive_gym_p2p.validation.routes import create_validation_blueprint
    from interactive_gym_p2p.validation.sample import make_game_exports
    from interactive_gym_p2p.validation.storage import ExportStore, GameRecord

    store = ExportStore(tmp_path / "exports")
    researcher = "researcher-token-0123456789"
    with running_server(
        make_stager(make_scene()), tmp_path,
        on_game_created=lambda info: store.register_game(GameRecord.from_info(info)),
        blueprints=[lambda ctx: create_validation_blueprint(store, ctx.upload_tokens, ctx.researcher_token)],
        researcher_token=researcher,
    ) as server:
        clients = {s: SignalingClient(server.url, server.context.tickets.issue(s, "game", 1)) for s in ("pa", "pb")}
        try:
            for client in clients.values():
                client.join()
            ready = {s: c.log.wait("game_ready") for s, c in clients.items()}
            game_id = ready["pa"]["game_id"]
            record = store.game(game_id)
            assert record is not None and record.seed == ready["pa"]["seed"]
            by_index = sorted(ready.values(), key=lambda r: r["player_index"])
            subjects = tuple(r["players"][r["player_index"]]["subject_id"] for r in by_index)
            assert record.subject_ids == subjects
            exports = make_game_exports(game_id, scene_id="game", subject_ids=subjects, seed=ready["pa"]["seed"], frames_per_episode=30)

            def upload(doc: dict[str, Any], slot: dict[str, Any]) -> int:
                request = urllib.request.Request(
                    server.url + slot["url"], data=json.dumps(doc).encode(), method="POST",
                    headers={"Authorization": f"Bearer {slot['token']}", "Content-Type": "application/json"},
                )
                try:
                    with urllib.request.urlopen(request, timeout=15) as response:
                        return response.status
                except urllib.error.HTTPError as error:
                    return error.code

            assert upload(exports[1], by_index[0]["upload"]) in (400, 403)  # another slot's token
            for r in by_index:
                assert upload(exports[r["player_index"]], r["upload"]) == 201
            listing = urllib.request.Request(server.url + "/p2p/research/api/games", headers={"Authorization": f"Bearer {researcher}"})
            with urllib.request.urlopen(listing, timeout=15) as response:
                games = json.loads(response.read())["games"]
            assert [g["game_id"] for g in games] == [game_id]
        finally:
            for client in clients.values():
                client.close()


def raw_request(url: str, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, str, bytes]:
    """One request with the path sent exactly as given (urllib would re-quote it)."""
    import http.client
    from urllib.parse import urlsplit

    conn = http.client.HTTPConnection(urlsplit(url).hostname, urlsplit(url).port, timeout=15)
    try:
        conn.request(method, path, body=b"{}" if method == "POST" else None, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type") or "", response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("researcher_token", [None, "researcher-token-0123456789"])
def test_routes_answer_as_documented_beside_the_participant_catch_all(tmp_path: Path, researcher_token: str | None) -> None:
    """The full server (participant catch-all + validation blueprint): an encoded slash in a
    game id is the upload route's 400 invalid_id, not the catch-all's 405; without a
    researcher token the researcher routes are 404, not the catch-all's 400."""
    from interactive_gym_p2p.validation.routes import create_validation_blueprint
    from interactive_gym_p2p.validation.storage import ExportStore

    store = ExportStore(tmp_path / "exports")
    with running_server(
        make_stager(make_scene()), tmp_path, researcher_token=researcher_token,
        blueprints=[lambda ctx: create_validation_blueprint(store, ctx.upload_tokens, ctx.researcher_token)],
    ) as server:
        bearer = {"Authorization": "Bearer " + "x" * 64}
        for path in ("/p2p/exports/..%2F..%2Fetc/0", "/p2p/exports/..%2f..%2fetc/0", "/p2p/exports/a%2Fb/0",
                     "/p2p/exports/game-1/x", "/p2p/exports/game-1"):
            status, ctype, body = raw_request(server.url, "POST", path, bearer)
            assert (status, ctype, json.loads(body)["error"]) == (400, "application/json", "invalid_id"), (path, body[:200])
        research = ["/p2p/research/", "/p2p/research/api/games", "/p2p/research/api/games/g-1",
                    "/p2p/research/api/games/g-1/comparison", "/p2p/research/api/download"]
        for path in research:
            for headers in ({}, {"Authorization": "Bearer anything-at-all-0123"}):
                status, _, body = raw_request(server.url, "GET", path, headers)
                if researcher_token is None:
                    assert status == 404 and b"Invalid subject id" not in body, (path, status, body[:200])
                else:
                    assert status in (200, 401, 403) if path == "/p2p/research/" else status in (401, 403), (path, status)
        if researcher_token is None:
            for path in ("/p2p/research/api/live/recruitment", "/p2p/research/api/live/games/g-1/end"):
                status, ctype, body = raw_request(server.url, "POST", path)
                assert (status, ctype, json.loads(body)["error"]) == (404, "application/json", "not_found"), (path, body[:200])
        # Unknown paths of the package are not found either (any method); participant ids still get their 400.
        assert raw_request(server.url, "GET", "/p2p/nothing/here")[0] == 404
        assert raw_request(server.url, "POST", "/p2p/static/js/protocol.js")[0] == 404
        status, _, body = raw_request(server.url, "GET", "/a/b")
        assert status == 400 and b"Invalid subject id" in body


def test_interactive_gym_experiment_config(tmp_path: Path) -> None:
    from interactive_gym.configurations.experiment_config import ExperimentConfig

    experiment = ExperimentConfig().experiment(experiment_id="exp1", stager=flow_stager(), save_experiment_data=False)
    with running_server(experiment, tmp_path) as server:
        assert json.loads(get(server.url + "/p2p/health")[2])["experiment_id"] == "exp1"
        person = ParticipantClient(server.url, "nosave")
        try:
            person.log.wait("activate_scene")
            advance(person, "start", "instructions")
            ack = person.call("static_scene_data_emission", {"scene_id": "instructions", "data": {"a": 1}})
            assert ack == {"ok": True, "saved": False}
        finally:
            person.close()
    assert not (tmp_path / "data").exists()


class _BrokenCallbackScene(type(static_scene("x"))):  # a StaticScene whose hook raises
    def on_client_callback(self, data: Any, sio: Any, room: Any) -> None:
        raise RuntimeError("researcher hook bug")


def test_a_failing_scene_hook_is_answered_not_fatal(tmp_path: Path) -> None:
    broken = _BrokenCallbackScene().scene(scene_id="broken")
    with running_server(make_stager(broken), tmp_path) as server:
        person = ParticipantClient(server.url, "hooked")
        try:
            person.log.wait("activate_scene")
            advance(person, "start", "broken")
            ack = person.call("client_callback", {"x": 1})
            assert ack["ok"] is False and ack["error"]["code"] == "internal"
            advance(person, "broken", "end")  # the connection and the flow go on
        finally:
            person.close()
