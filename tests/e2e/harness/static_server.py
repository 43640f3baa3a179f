"""A tiny static HTTP server for the test pages, runnable as a script so it can be started
inside a network namespace (``nsenter -t PID -n python3 static_server.py ...``).

    python3 static_server.py --host 127.0.0.1 --port 0 --mount /static=DIR --mount /=DIR

Prints ``READY <port>`` once listening and serves until its stdin closes, so it never
outlives the test that started it.
"""

from __future__ import annotations

import argparse
import logging
import mimetypes
import os
import posixpath
import sys
import threading
import urllib.parse
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

logger = logging.getLogger(__name__)

# Browsers refuse ES modules and wasm served with the wrong type.
EXTRA_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm",
               ".json": "application/json", ".map": "application/json"}


def make_handler(mounts: list[tuple[str, Path]]) -> type[SimpleHTTPRequestHandler]:
    # Longest prefix first so /static/ wins over /.
    ordered = sorted(mounts, key=lambda m: len(m[0]), reverse=True)

    class Handler(SimpleHTTPRequestHandler):
        extensions_map = {**mimetypes.types_map, **EXTRA_TYPES}

        def translate_path(self, path: str) -> str:
            path = urllib.parse.unquote(urllib.parse.urlsplit(path).path)
            for prefix, root in ordered:
                if path == prefix.rstrip("/") or path.startswith(prefix):
                    rest = path[len(prefix):]
                    parts = [p for p in posixpath.normpath("/" + rest).split("/") if p not in ("", ".", "..")]
                    return str(root.joinpath(*parts)) if parts else str(root)
            return str(Path(os.devnull))

        def end_headers(self) -> None:
            # Tests load fresh copies; a cached module from an earlier run would lie.
            self.send_header("Cache-Control", "no-store")
            super().end_headers()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            logger.debug("%s %s", self.address_string(), format % args)

    return Handler


def serve(host: str, port: int, mounts: list[tuple[str, Path]]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), make_handler(mounts))
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mount", action="append", default=[], help="PREFIX=DIR")
    args = ap.parse_args(argv)
    mounts = []
    for m in args.mount:
        prefix, _, directory = m.partition("=")
        if not prefix.startswith("/") or not Path(directory).is_dir():
            print(f"bad --mount {m!r}: want /PREFIX=EXISTING_DIR", file=sys.stderr)
            return 2
        mounts.append((prefix if prefix.endswith("/") else prefix + "/", Path(directory).resolve()))
    server = serve(args.host, args.port, mounts)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"READY {server.server_address[1]}", flush=True)
    sys.stdin.read()  # until the parent closes our stdin (or dies)
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
