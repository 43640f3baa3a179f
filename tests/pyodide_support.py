"""Offline stand-ins for where ``python -m interactive_gym_p2p.pyodide fetch`` downloads from.

    python tests/pyodide_support.py registry      # a LocalRegistry of the pinned tarball;
                                                  # prints READY <url>, serves until stdin closes

- :func:`pinned_tarball`: the registry's own ``pyodide-<version>.tgz``, taken by
  ``npm pack --offline`` from npm's cache (``npm ci`` put it there; no network).
- :class:`LocalRegistry`: a tiny npm registry on 127.0.0.1 serving that tarball (or any other)
  and the abbreviated metadata document npm clients ask for (the fields ``fetch`` reads).
- :func:`build_npm_tarball`: an npm-style ``.tgz`` of given files and its integrity string.
- :class:`FileServer`: any folder over HTTP on 127.0.0.1 (a fake Pyodide package repository),
  counting requests.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

from interactive_gym_p2p.pyodide import pin


def pinned_tarball(dest: Path) -> Path:
    """``dest/pyodide-<version>.tgz``, byte for byte the registry's (from npm's cache)."""
    npm = shutil.which("npm")
    assert npm, "npm is needed (scripts/test installs it)"
    dest.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([npm, "pack", f"pyodide@{pin.VERSION}", "--offline", "--silent", "--pack-destination", str(dest)],
                            capture_output=True, text=True, timeout=120)
    path = dest / f"pyodide-{pin.VERSION}.tgz"
    assert result.returncode == 0 and path.is_file(), (
        f"`npm pack pyodide@{pin.VERSION} --offline` failed (npm's cache is filled by `npm ci`): {result.stderr}")
    return path


def build_npm_tarball(dest: Path, files: dict[str, bytes]) -> tuple[Path, str]:
    """``dest`` as npm packs a package (``package/<path>`` for each of ``files``), and npm's
    integrity string of it."""
    import base64
    import hashlib
    import io
    import tarfile

    dest.parent.mkdir(parents=True, exist_ok=True)
    # compresslevel 1: a wasm file of megabytes packs in a fraction of a second.
    with tarfile.open(dest, "w:gz", compresslevel=1) as tar:
        for path, body in sorted(files.items()):
            info = tarfile.TarInfo(f"package/{path}")
            info.size = len(body)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(body))
    return dest, "sha512-" + base64.b64encode(hashlib.sha512(dest.read_bytes()).digest()).decode()


class _Server:
    def __init__(self, route: Callable[[str], tuple[int, str, bytes]]) -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                outer.requests.append(self.path)
                status, ctype, body = route(self.path)
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "_Server":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class LocalRegistry(_Server):
    """``GET /<package>`` -> metadata naming ``/<package>/-/<package>-<v>.tgz``; that path -> the tarball.

    Pyodide's pinned tarball by default; any package and version (onnxruntime-web, a tarball a
    test built) when given."""

    def __init__(self, tarball: Path, integrity: str = pin.TARBALL_INTEGRITY, *, package: str = "pyodide",
                 version: str = pin.VERSION) -> None:
        self.tarball = tarball
        self.integrity = integrity
        self.package = package
        self.version = version
        super().__init__(self._route)

    def _route(self, path: str) -> tuple[int, str, bytes]:
        name = f"{self.package}-{self.version}.tgz"
        if path == f"/{self.package}":
            doc = {"name": self.package, "dist-tags": {"latest": self.version},
                   "versions": {self.version: {"name": self.package, "version": self.version,
                                               "dist": {"tarball": f"{self.url}{self.package}/-/{name}",
                                                        "integrity": self.integrity}}}}
            return 200, "application/vnd.npm.install-v1+json", json.dumps(doc).encode()
        if path == f"/{self.package}/-/{name}":
            return 200, "application/octet-stream", self.tarball.read_bytes()
        return 404, "text/plain", b"not found"


class FileServer(_Server):
    """The files of ``folder`` at ``/<name>``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        super().__init__(self._route)

    def _route(self, path: str) -> tuple[int, str, bytes]:
        target = self.folder / path.lstrip("/")
        if "/" in path.lstrip("/") or not target.is_file():
            return 404, "text/plain", b"not found"
        return 200, "application/octet-stream", target.read_bytes()


def main(argv: list[str]) -> int:
    """A registry as a child process (the e2e harness's READY convention)."""
    if argv[1:] != ["registry"]:
        print(__doc__, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="igp2p-registry-") as tmp:
        with LocalRegistry(pinned_tarball(Path(tmp))) as registry:
            print(f"READY {registry.url}", flush=True)
            sys.stdin.read()
            print(f"REQUESTS {json.dumps(registry.requests)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
