"""HTTP routes: the participant page, this package's static files, Pyodide, health.

The participant page is a thin shell (``templates/participant.html``): it carries the
page's configuration as JSON and loads ``static/js/client.js``, which does everything else.
"""

from __future__ import annotations

import html
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import flask
from werkzeug.exceptions import NotFound

from .. import resources
from ..participants.recruitment import RecruitmentSettings
from ..validation.ids import identifier_problem
from ..wheelhouse import FILES_URL as WHEELHOUSE_FILES_URL
from ..wheelhouse import INDEX_URL as WHEELHOUSE_INDEX_URL
from ..wheelhouse import SIMPLE_JSON
from .onnxruntime import ONNXRUNTIME_FILES, ONNXRUNTIME_URL, OnnxRuntimeSource
from .pyodide import PYODIDE_VERSION, PyodideSource

# Python sources the browser loads into Pyodide (hashing is shared with the server).
PY_SOURCES = {"hashing.py": "hashing.py", "protocol.py": "protocol.py", "step_outcome.py": "step_outcome.py",
              "ai_policy.py": "ai_policy.py"}
_PACKAGE_DIR = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class PageSettings:
    experiment_id: str | None
    participant_namespace: str
    signaling_namespace: str
    pyodide: PyodideSource
    assets_dir: Path | None
    scene_asset_files: Mapping[str, Path] = field(default_factory=dict)
    """``<sha256-16>/<name>`` -> file: what the P2P scenes' asset specs name (scene_assets.py)."""
    recruitment: RecruitmentSettings = field(default_factory=RecruitmentSettings)
    preload: Mapping[str, Any] | None = None
    """``{scene_id, p2p}`` of the first P2P scene (its ``p2p`` block without a ticket), which the
    page starts loading at once; None: load each scene's environment when it starts."""
    onnxruntime: OnnxRuntimeSource | None = None
    """Where hosted seats' host pages load onnxruntime-web from (None: no hosted seats; onnxruntime.py)."""


# Browsers refuse module scripts and streaming wasm compiles with a wrong type, and the
# system mime table differs between machines.
_MIMETYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json",
              ".map": "application/json", ".zip": "application/zip", ".whl": "application/zip"}


PYODIDE_MAX_AGE_S = 365 * 24 * 3600
"""Pinned runtimes (Pyodide, onnxruntime-web) are served at versioned URLs: cached for good."""


def _send(directory: Path, filename: str, max_age: int | None = None) -> flask.Response:
    mimetype = _MIMETYPES.get(Path(filename).suffix)
    return flask.send_from_directory(directory, filename, mimetype=mimetype, max_age=max_age)


def _bad_subject(value: object, problem: str) -> flask.Response:
    text = f"Invalid subject id {value!r}: {problem}.\n"
    return flask.Response(text, status=400, mimetype="text/plain")


def _missing_id(param: str) -> flask.Response:
    text = (
        "<!doctype html><meta charset=utf-8><title>Link incomplete</title>"
        "<main style='font-family:system-ui;max-width:40rem;margin:3rem auto'>"
        "<h1>This study link is incomplete</h1>"
        f"<p>The link does not carry your participant id (<code>{html.escape(param)}</code>). "
        "Please open the study again from the site you were recruited on (for example Prolific).</p></main>"
    )
    return flask.Response(text, status=400, mimetype="text/html")


def participant_blueprint(page: PageSettings, stats: Callable[[], dict[str, Any]]) -> flask.Blueprint:
    bp = flask.Blueprint("p2p_participant", __name__)

    @bp.get("/")
    def index() -> Any:
        # The participant id: ?subject_id=, else the recruiter's id parameter (PROLIFIC_PID),
        # else a fresh random one (unless the study requires a recruiter id).
        args = flask.request.args
        settings = page.recruitment
        subject_id = args.get("subject_id")
        if subject_id is None and settings.id_param:
            subject_id = args.get(settings.id_param)
        if subject_id is None:
            if settings.require_id:
                return _missing_id(settings.id_param or "subject_id")
            subject_id = uuid.uuid4().hex
        problem = identifier_problem(subject_id)
        if problem is not None:
            return _bad_subject(subject_id, problem)
        # Every other parameter goes along (recruitment ids, autoadvance): the page reads them.
        rest = [(k, v) for k, v in args.items(multi=True) if k != "subject_id"]
        target = flask.url_for("p2p_participant.participant", subject_id=subject_id)
        if rest:
            target += "?" + urllib.parse.urlencode(rest)
        return flask.redirect(target)

    @bp.get("/<subject_id>")
    def participant(subject_id: str) -> Any:
        problem = identifier_problem(subject_id)
        if problem is not None:
            return _bad_subject(subject_id, problem)
        config = {
            "subject_id": subject_id,
            "experiment_id": page.experiment_id,
            "participant_namespace": page.participant_namespace,
            "signaling_namespace": page.signaling_namespace,
            "socketio_path": "/socket.io",
            "static_url": "/p2p/static/",
            "python_url": "/p2p/py/",
            "pyodide_index_url": page.pyodide.index_url,
            # micropip's only package index when the server has a wheelhouse (else micropip's default).
            "wheelhouse_url": None if page.pyodide.wheelhouse is None else WHEELHOUSE_INDEX_URL,
            "recruitment_params": list(page.recruitment.params),
            "preload": page.preload,
            "onnxruntime_url": None if page.onnxruntime is None else page.onnxruntime.url,
        }
        response = flask.make_response(flask.render_template("participant.html", config=config))
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.get("/<path:raw>")
    def path_like(raw: str) -> Any:
        # Reached only by paths no other route serves, e.g. a subject id with a slash in it.
        problem = identifier_problem(raw) or "a subject id cannot contain '/'"
        return _bad_subject(raw, problem)

    @bp.route("/p2p/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def package_path(rest: str) -> Any:
        # The package's own paths that no route serves (/p2p/research/... of a server without
        # a researcher token, a POST to a GET route): not found, never the catch-all's 400/405.
        response = flask.jsonify({"error": "not_found", "message": f"no route {flask.request.method} /p2p/{rest}"})
        response.status_code = 404
        return response

    @bp.get("/favicon.ico")
    def favicon() -> Any:
        return flask.Response(status=204)

    @bp.get("/p2p/static/<path:filename>")
    def static(filename: str) -> Any:
        return _send(resources.static_dir(), filename, max_age=0)

    @bp.get("/p2p/py/interactive_gym.json")
    def interactive_gym_modules() -> Any:
        response = flask.jsonify(resources.interactive_gym_sources())
        response.headers["Cache-Control"] = "no-cache"
        return response

    @bp.get("/p2p/py/<name>")
    def python_source(name: str) -> Any:
        if name not in PY_SOURCES:
            raise NotFound()
        return flask.send_from_directory(_PACKAGE_DIR, PY_SOURCES[name], mimetype="text/x-python", max_age=0)

    @bp.get(f"/p2p/pyodide/{PYODIDE_VERSION}/<filename>")
    def pyodide(filename: str) -> Any:
        # Only the files checked at start (pinned core, lock packages): nothing else in the folder.
        if page.pyodide.folder is None or filename not in page.pyodide.served:
            raise NotFound()
        response = _send(page.pyodide.folder, filename, max_age=PYODIDE_MAX_AGE_S)
        # Pinned content under a versioned path never changes: browsers may keep it for good.
        response.headers["Cache-Control"] = f"public, max-age={PYODIDE_MAX_AGE_S}, immutable"
        return response

    @bp.get(f"{WHEELHOUSE_INDEX_URL}<name>/")
    def wheel_project(name: str) -> Any:
        # PEP 691 Simple JSON, the form micropip asks for first.
        wheelhouse = page.pyodide.wheelhouse
        # Absolute file URLs, on the origin the browser reached this server at.
        project = None if wheelhouse is None else wheelhouse.project_json(name, flask.request.host_url)
        if project is None:
            raise NotFound()
        response = flask.Response(flask.json.dumps(project), mimetype=SIMPLE_JSON)
        response.headers["Cache-Control"] = "no-cache"
        return response

    @bp.get(f"{WHEELHOUSE_FILES_URL}<filename>")
    def wheel_file(filename: str) -> Any:
        wheelhouse = page.pyodide.wheelhouse
        wheel = None if wheelhouse is None else wheelhouse.files.get(filename)
        if wheel is None:
            raise NotFound()
        # micropip checks the SHA-256 the index gives; a rebuilt wheel with the same name gets a new one.
        return _send(wheel.path.parent, wheel.path.name, max_age=0)

    @bp.get("/assets/<path:filename>")
    def assets(filename: str) -> Any:
        if page.assets_dir is None:
            raise NotFound()
        return _send(page.assets_dir, filename)

    @bp.get("/p2p/assets/<digest>/<name>")
    def scene_asset(digest: str, name: str) -> Any:
        # Only files a scene names, at a URL that changes with their content: cache for good.
        file = page.scene_asset_files.get(f"{digest}/{name}")
        if file is None:
            raise NotFound()
        return _send(file.parent, file.name, max_age=365 * 24 * 3600)

    @bp.get(f"{ONNXRUNTIME_URL}<filename>")
    def onnxruntime(filename: str) -> Any:
        source = page.onnxruntime
        if source is None or source.folder is None or filename not in ONNXRUNTIME_FILES:
            raise NotFound()
        response = _send(source.folder, filename, max_age=PYODIDE_MAX_AGE_S)
        # The version is in the URL and every file matched its pin: it never changes there.
        response.headers["Cache-Control"] = f"public, max-age={PYODIDE_MAX_AGE_S}, immutable"
        return response

    @bp.get("/p2p/health")
    def health() -> Any:
        return flask.jsonify({"ok": True, "experiment_id": page.experiment_id, **stats()})

    return bp
