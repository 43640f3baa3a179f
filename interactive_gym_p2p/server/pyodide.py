"""Where browsers load Pyodide from: a local folder served by us, or an index URL.

A lab without internet needs the local copy (``npm install`` puts it in
``node_modules/pyodide``); the CDN URL is only the last resort and is never fetched by the
server itself.
"""

from __future__ import annotations

from pathlib import Path

from .. import resources

PYODIDE_VERSION = "314.0.7"
"""The npm ``pyodide`` version in package.json (the CDN fallback must match the client)."""
CDN_INDEX_URL = f"https://cdn.jsdelivr.net/pyodide/v{PYODIDE_VERSION}/full/"
LOCAL_URL = "/p2p/pyodide/"
_MARKER = "pyodide.mjs"


def find_local_pyodide(explicit: Path | None) -> Path | None:
    """The local Pyodide folder: ``explicit`` (which must exist), else node_modules/pyodide
    in the working directory or next to the package checkout."""
    if explicit is not None:
        path = Path(explicit).resolve()
        if not (path / _MARKER).is_file():
            raise FileNotFoundError(f"ServerConfig.pyodide_dir {path} holds no {_MARKER}; run `npm install` or fix the path")
        return path
    for base in (Path.cwd(), resources.static_dir().parent):
        candidate = (base / "node_modules" / "pyodide").resolve()
        if (candidate / _MARKER).is_file():
            return candidate
    return None


def pyodide_index_url(override: str | None, local_dir: Path | None) -> str:
    if override:
        return override if override.endswith("/") else override + "/"
    return LOCAL_URL if local_dir is not None else CDN_INDEX_URL
