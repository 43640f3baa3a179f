"""HTTP routes of the validation export: participants upload, researchers list and download.

``create_validation_blueprint(store, tokens, researcher_token)`` returns a Flask blueprint:

- ``POST /p2p/exports/<game_id>/<player_index>`` with ``Authorization: Bearer <upload token>``:
  one player's export. Size-limited before the body is read, parsed strictly, the token
  checked against the slot (game, player, subject id from the document), then the schema;
  201 for a new revision, 200 when the same export was already stored.
- ``GET /p2p/exports/schema.json``: the JSON Schema the server validates against.
- ``/p2p/research/...`` (page and JSON API) with ``Authorization: Bearer <researcher token>``.
  With no researcher token configured these routes do not exist (404): off, never open.
"""

from __future__ import annotations

import json
import logging
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

from flask import Blueprint, Response, abort, jsonify, render_template, request, send_file
from werkzeug.exceptions import ClientDisconnected

from ..research_auth import MIN_TOKEN_LENGTH, bearer_token, http_guard
from ..research_auth import researcher_token_matches as researcher_token_matches  # re-exported
from ..resources import templates_dir
from .ids import MAX_PLAYERS, identifier_problem, is_identifier
from .schema import SCHEMA_PATH, ExportInvalid, parse_json, validate_export
from .storage import ExportConflict, ExportStore
from .tokens import UploadTokens

logger = logging.getLogger(__name__)

DEFAULT_MAX_UPLOAD_BYTES = 16 * 1024 * 1024
"""A 10-minute 60 fps two-player export is about 1.2 MB; room for big desync state dumps."""
_CHUNK = 64 * 1024


def _error(status: int, code: str, message: str, **extra: Any) -> Response:
    response = jsonify({"error": code, "message": message, **extra})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def _bearer() -> str | None:
    return bearer_token(request.headers.get("Authorization"))


def _read_body(limit: int) -> bytes | Response:
    """The request body, or an error response; never more than ``limit + 1`` bytes in memory."""
    declared = request.content_length
    if declared is not None and declared > limit:
        response = _error(413, "too_large", f"the export is {declared} bytes; the limit is {limit}")
        response.headers["Connection"] = "close"  # the unread body must not be parsed as a request
        return response
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    if declared is None and not chunked:
        return _error(411, "length_required", "send Content-Length (or a chunked body)")
    # A chunked body: werkzeug's request.stream is empty unless the server says the input is
    # terminated, which eventlet does not; both servers hand wsgi.input over already dechunked.
    stream = request.environ["wsgi.input"] if declared is None else request.stream
    chunks = []
    total = 0
    try:
        while True:
            chunk = stream.read(min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
            if total > limit:
                response = _error(413, "too_large", f"the export is larger than the limit of {limit} bytes")
                response.headers["Connection"] = "close"
                return response
    except ClientDisconnected:
        logger.warning("upload to %s cut off after %d of %s bytes; nothing stored", request.path, total, declared)
        return _error(400, "incomplete_body", f"the upload ended after {total} of {declared} bytes")
    if declared is not None and total != declared:
        logger.warning("upload to %s cut off after %d of %s bytes; nothing stored", request.path, total, declared)
        return _error(400, "incomplete_body", f"the upload ended after {total} of {declared} bytes")
    return b"".join(chunks)


def create_validation_blueprint(
    store: ExportStore,
    tokens: UploadTokens,
    researcher_token: str | None,
    *,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    name: str = "p2p_validation",
    data_root: Path | None = None,
    background: Callable[..., Any] | None = None,
    pause: Callable[[], Any] | None = None,
) -> Blueprint:
    """The upload route, the schema, and (when ``researcher_token`` is set) the researcher routes.

    ``data_root``: the server's data directory (participant records and form answers for the
    study zip; default: beside the store). ``background(fn, *args)`` runs work off the request
    (the app passes ``socketio.start_background_task``; default: a daemon thread): each game's
    research tables are built there once its exports are complete. ``pause()`` is called every
    few thousand rows while tables are built or zipped (the app passes ``socketio.sleep(0)``, so
    a long game's tables never hold eventlet's hub for long; default: nothing)."""
    if researcher_token is not None and len(researcher_token) < MIN_TOKEN_LENGTH:
        raise ValueError("the researcher token must be at least 16 characters (or None to turn the routes off)")
    bp = Blueprint(name, __name__, template_folder=str(templates_dir()))
    study_root = Path(data_root) if data_root is not None else store.data_dir

    def breathe() -> None:
        if pause is not None:
            pause()

    def build_tables(game_id: str) -> None:
        from ..data.study import build_game_tables

        try:
            build_game_tables(store, game_id, pause=breathe)
            logger.info("research tables of game %s built", game_id)
        except Exception:
            logger.exception("building the research tables of game %s failed", game_id)

    def run_in_background(fn: Callable[..., Any], *args: Any) -> None:
        if background is not None:
            background(fn, *args)
        else:
            threading.Thread(target=fn, args=args, name="p2p-tables", daemon=True).start()

    store.on_complete = lambda game_id: run_in_background(build_tables, game_id)

    @bp.post("/p2p/exports/<game_id>/<int:player_index>")
    def upload(game_id: str, player_index: int) -> Response:
        problem = identifier_problem(game_id)
        if problem is not None:
            return _error(400, "invalid_id", f"game id {game_id!r}: {problem}")
        if player_index > MAX_PLAYERS:
            return _error(400, "invalid_id", f"player index {player_index} is out of range")
        token = _bearer()
        if token is None:
            return _error(401, "missing_token", "send the upload token as 'Authorization: Bearer <token>'")
        body = _read_body(max_upload_bytes)
        if isinstance(body, Response):
            return body
        try:
            doc = parse_json(body)
        except ExportInvalid as exc:
            return _error(400, "malformed_json", str(exc.problems[0].message))
        ids = doc.get("ids") if isinstance(doc, dict) else None
        subject = ids.get("subject_id") if isinstance(ids, dict) else None
        if not is_identifier(subject):
            return _error(400, "invalid_id", f"$.ids.subject_id {subject!r} is not a plain identifier")
        # Token before the schema: nobody without a token gets the server to validate 16 MB.
        if not tokens.verify(token, game_id, player_index, subject):
            logger.warning("upload to game %s player %d refused: token does not match the slot", game_id, player_index)
            return _error(403, "wrong_token", "the upload token is not valid for this game, player and subject")
        if ids.get("game_id") != game_id or ids.get("player_index") != player_index:
            return _error(
                400, "ids_mismatch",
                f"the document is for game {ids.get('game_id')!r} player {ids.get('player_index')!r}, "
                f"uploaded to game {game_id!r} player {player_index}",
            )
        try:
            validate_export(doc)
        except ExportInvalid as exc:
            return _error(422, "schema", str(exc), problems=[p.to_json() for p in exc.problems])
        try:
            stored = store.store_export(body, doc)
        except ExportConflict as exc:
            return _error(409, "conflict", str(exc))
        except OSError:
            logger.exception("could not store the export of game %s player %d", game_id, player_index)
            return _error(503, "storage_unavailable", "the server could not store the export; try again")
        response = jsonify(
            {
                "status": "stored" if stored.created else "duplicate",
                "game_id": stored.game_id,
                "player_index": stored.player_index,
                "revision": stored.revision,
                "sha256": stored.sha256,
                "comparison": stored.comparison_status,
            }
        )
        response.status_code = 201 if stored.created else 200
        return response

    @bp.post("/p2p/exports/<path:rest>")
    def upload_elsewhere(rest: str) -> Response:
        # Any other POST under /p2p/exports/: an encoded slash in the game id ("..%2F..%2Fetc"
        # arrives decoded), a missing or non-numeric player index. Answered here, not by the
        # participant catch-all (which knows only GET and would say 405 in HTML).
        game_id, slash, player = rest.rpartition("/")
        if not slash:
            return _error(400, "invalid_id", "upload to /p2p/exports/<game_id>/<player_index>")
        problem = identifier_problem(game_id)
        if problem is not None:
            return _error(400, "invalid_id", f"game id {game_id!r}: {problem}")
        return _error(400, "invalid_id", f"player index {player!r} is not an integer from 0 to {MAX_PLAYERS}")

    @bp.get("/p2p/exports/schema.json")
    def schema() -> Response:
        return send_file(SCHEMA_PATH, mimetype="application/schema+json", max_age=300)

    if researcher_token is None:
        logger.info("no researcher token configured: /p2p/research routes are off")
        return bp
    guard = http_guard(researcher_token)

    def checked_game(game_id: str) -> str:
        if not is_identifier(game_id):
            abort(_error(400, "invalid_id", f"game id {game_id!r} is not a plain identifier"))
        if not store.game_dir(game_id).is_dir():
            abort(_error(404, "not_found", f"no game {game_id!r}"))
        return game_id

    @bp.get("/p2p/research/")
    def research_page() -> str:
        # The page holds no data: it asks for the token and calls the API below with it.
        config = {"api": "/p2p/research/api", "console_namespace": "/p2p-console", "socketio_path": "/socket.io"}
        return render_template("research.html", console_config=config, static_url="/p2p/static/")

    @bp.get("/p2p/research/api/games")
    def list_games() -> Response:
        if (denied := guard()) is not None:
            return denied
        response = jsonify({"games": store.list_games()})
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.get("/p2p/research/api/games/<game_id>")
    def game_detail(game_id: str) -> Response:
        if (denied := guard()) is not None:
            return denied
        checked_game(game_id)
        record = store.game(game_id)
        response = jsonify(
            {
                "summary": store.game_summary(game_id),
                "game": record.to_json() if record else None,
                "comparison": store.comparison(game_id),
            }
        )
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.get("/p2p/research/api/games/<game_id>/exports/<int:player_index>")
    def download_export(game_id: str, player_index: int) -> Response:
        if (denied := guard()) is not None:
            return denied
        checked_game(game_id)
        revision = request.args.get("revision", type=int)
        try:
            path = store.export_path(game_id, player_index, revision)
        except (FileNotFoundError, ValueError) as exc:
            return _error(404, "not_found", str(exc))
        return send_file(path, mimetype="application/json", as_attachment=True, download_name=f"{game_id}-{path.name}", max_age=0)

    @bp.get("/p2p/research/api/games/<game_id>/comparison")
    def download_comparison(game_id: str) -> Response:
        if (denied := guard()) is not None:
            return denied
        checked_game(game_id)
        report = store.comparison(game_id)
        if report is None:
            return _error(404, "not_found", f"game {game_id!r} has no comparison yet (players missing)")
        return Response(json.dumps(report, indent=1), mimetype="application/json")

    def zip_response(game_ids: list[str] | None, filename: str) -> Response:
        # Spooled: small archives stay in memory, big ones (everything) go to a temp file.
        spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)
        store.write_zip(spool, game_ids)
        spool.seek(0)
        return send_file(spool, mimetype="application/zip", as_attachment=True, download_name=filename, max_age=0)

    @bp.get("/p2p/research/api/games/<game_id>/download")
    def download_game(game_id: str) -> Response:
        if (denied := guard()) is not None:
            return denied
        checked_game(game_id)
        return zip_response([game_id], f"{game_id}.zip")

    @bp.get("/p2p/research/api/download")
    def download_all() -> Response:
        if (denied := guard()) is not None:
            return denied
        return zip_response(None, "validation-exports.zip")

    @bp.get("/p2p/research/api/study.zip")
    def download_study() -> Response:
        """Research tables (built where missing), codebook, raw exports, reports, participants."""
        if (denied := guard()) is not None:
            return denied
        from ..data.study import write_study_zip

        spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)
        write_study_zip(study_root, spool, pause=breathe)
        spool.seek(0)
        return send_file(spool, mimetype="application/zip", as_attachment=True, download_name="study.zip", max_age=0)

    return bp
