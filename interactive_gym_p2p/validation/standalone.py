"""A validation-only server: the upload and researcher routes over one data directory.

The experiment server registers the same blueprint in its own app; this one exists so the
routes can be tested and measured as a real process (tests, ``benchmarks/export_ingest.py``)
and so a researcher can browse a copied data directory without running an experiment::

    python -m interactive_gym_p2p.validation.standalone --data-dir DIR --port 8765

Secrets come from the environment, never the command line (which other users can read):
``IGP2P_UPLOAD_SECRET`` (hex; uploads are refused without it) and
``IGP2P_RESEARCHER_TOKEN`` (researcher routes are off without it).
"""

from __future__ import annotations

import argparse
import logging
import sys

from typing import Any

from flask import Flask, send_from_directory
from werkzeug.serving import make_server

from .. import environ
from ..resources import static_dir
from .routes import DEFAULT_MAX_UPLOAD_BYTES, create_validation_blueprint
from .storage import ExportStore
from .tokens import UploadTokens

logger = logging.getLogger(__name__)


def create_app(
    data_dir: str,
    upload_secret: bytes | None,
    researcher_token: str | None,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
) -> Flask:
    """A Flask app with only the validation blueprint."""
    app = Flask(__name__)
    store = ExportStore(data_dir)
    # No secret: a random one, so no upload token anyone holds can match.
    tokens = UploadTokens(upload_secret) if upload_secret else UploadTokens()
    app.register_blueprint(create_validation_blueprint(store, tokens, researcher_token, max_upload_bytes=max_upload_bytes))
    app.extensions["p2p_export_store"] = store

    @app.get("/p2p/static/<path:filename>")
    def static_files(filename: str) -> Any:
        # The researcher page's scripts (its live console finds no feed here: finished games only).
        mimetype = "text/javascript" if filename.endswith(".js") else None
        return send_from_directory(static_dir(), filename, mimetype=mimetype, max_age=0)

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m interactive_gym_p2p.validation.standalone", description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on stdout)")
    parser.add_argument("--max-upload-bytes", type=int, default=DEFAULT_MAX_UPLOAD_BYTES)
    parser.add_argument(
        "--server", choices=("werkzeug", "eventlet"), default="werkzeug",
        help="werkzeug: a thread per request; eventlet: green threads in one OS thread, as the experiment server runs",
    )
    args = parser.parse_args(argv)
    if args.server == "eventlet":
        import eventlet

        eventlet.monkey_patch()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    secret_hex = environ.get(environ.UPLOAD_SECRET)
    app = create_app(
        args.data_dir,
        bytes.fromhex(secret_hex) if secret_hex else None,
        environ.get(environ.RESEARCHER_TOKEN),
        args.max_upload_bytes,
    )
    if args.server == "eventlet":
        import eventlet
        import eventlet.wsgi

        listener = eventlet.listen((args.host, args.port))
        # One parseable line, flushed: whoever started us waits for it instead of sleeping.
        print(f"listening on http://{args.host}:{listener.getsockname()[1]}", flush=True)
        eventlet.wsgi.server(listener, app, log_output=False, max_size=1000)
        return 0
    server = make_server(args.host, args.port, app, threaded=True)
    print(f"listening on http://{args.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
