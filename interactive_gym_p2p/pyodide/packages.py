"""Packages from Pyodide's package repository: the lock's files, each checked by its SHA-256.

The repository is the folder of the full Pyodide distribution (the CDN folder of the pinned
version by default, or a mirror, or an unpacked release on disk). Which file makes up a
package, and its SHA-256, come from the pinned ``pyodide-lock.json``, never from the
repository: a file that does not match is refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from . import pin
from ..downloads import download, join
from .lock import LockPackage

DEFAULT_PACKAGE_INDEX = f"https://cdn.jsdelivr.net/pyodide/v{pin.VERSION}/full/"


def fetch_packages(folder: Path, packages: Iterable[LockPackage], index: str | None = None,
                   log: Callable[[str], None] = print) -> list[str]:
    """Download every package file of ``packages`` from ``index`` into ``folder``; returns the
    names fetched."""
    base = index or DEFAULT_PACKAGE_INDEX
    fetched: list[str] = []
    for package in packages:
        size = download(join(base, package.file_name), folder / package.file_name, "sha256", package.sha256,
                        what=f"package {package.name} ({package.file_name})")
        log(f"  {package.file_name}: {size / 1e6:.1f} MB, SHA-256 verified")
        fetched.append(package.name)
    return fetched
