"""The console's HTTP API (researcher token as ``Authorization: Bearer``), beside the
validation routes under ``/p2p/research/api/``:

- ``GET  live``: the live view (the same document the feed pushes);
- ``GET  live/games/<game_id>/timeline``: one game's timeline (404 when the console has none);
- ``POST live/games/<game_id>/end`` ``{message?}``: end a game in progress (404 when none);
- ``POST live/recruitment`` ``{open: bool}``: open or close recruitment.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from ..research_auth import http_guard
from ..validation.ids import identifier_problem
from .service import Console

API = "/p2p/research/api/live"


def _answer(status: int, body: dict[str, Any]) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _error(status: int, code: str, message: str) -> Response:
    return _answer(status, {"error": code, "message": message})


def create_console_blueprint(console: Console, researcher_token: str) -> Blueprint:
    bp = Blueprint("p2p_console", __name__)
    guard = http_guard(researcher_token)

    def game_id_problem(game_id: str) -> Response | None:
        problem = identifier_problem(game_id)
        return None if problem is None else _error(400, "invalid_id", f"game id {game_id!r}: {problem}")

    def json_body() -> dict[str, Any] | Response:
        if request.content_length is not None and request.content_length > 16 * 1024:
            return _error(413, "too_large", "the body is larger than 16 KiB")
        data = request.get_json(silent=True, force=True) if request.content_length else {}
        if not isinstance(data, dict):
            return _error(400, "malformed_json", "send a JSON object")
        return data

    @bp.get(API)
    def live() -> Response:
        if (denied := guard()) is not None:
            return denied
        return _answer(200, console.snapshot())

    @bp.get(f"{API}/games/<game_id>/timeline")
    def timeline(game_id: str) -> Response:
        if (denied := guard()) is not None:
            return denied
        if (bad := game_id_problem(game_id)) is not None:
            return bad
        found = console.timeline(game_id)
        if found is None:
            return _error(404, "not_found", f"the console has no timeline of game {game_id!r} (not live, or finished too long ago)")
        return _answer(200, found)

    @bp.post(f"{API}/games/<game_id>/end")
    def end(game_id: str) -> Response:
        if (denied := guard()) is not None:
            return denied
        if (bad := game_id_problem(game_id)) is not None:
            return bad
        body = json_body()
        if isinstance(body, Response):
            return body
        message = body.get("message")
        if message is not None and not isinstance(message, str):
            return _error(400, "malformed", "message must be text")
        ack = console.end_game(game_id, message)
        if ack.get("ok"):
            return _answer(200, ack)
        error = ack["error"]
        status = {"not_found": 404, "malformed": 400}.get(error["code"], 503)
        return _error(status, error["code"], error["message"])

    @bp.post(f"{API}/recruitment")
    def recruitment() -> Response:
        if (denied := guard()) is not None:
            return denied
        body = json_body()
        if isinstance(body, Response):
            return body
        if not isinstance(body.get("open"), bool):
            return _error(400, "malformed", "send {open: true} or {open: false}")
        return _answer(200, {"ok": True, "recruitment": console.set_recruitment(body["open"]).to_json()})

    return bp
