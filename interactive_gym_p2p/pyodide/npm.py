"""Pyodide's core from the npm registry: the pinned ``pyodide`` tarball, checked, unpacked.

The work is :mod:`interactive_gym_p2p.npm_tarball`'s (registry metadata, integrity of the
tarball, SHA-256 of each served file); this module only names the Pyodide pin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from .. import npm_tarball
from . import pin

PIN = npm_tarball.NpmPin("pyodide", pin.VERSION, pin.TARBALL_INTEGRITY, pin.FILES)


def fetch_core(folder: Path, *, registry: str | None = None, tarball: str | None = None,
               log: Callable[[str], None] = print) -> None:
    """The pinned core into ``folder``: from ``tarball`` (path or URL) when given, else from
    the registry."""
    npm_tarball.fetch_into(PIN, folder, registry=registry, tarball=tarball, log=log)
