"""The local Pyodide folder: where it lives, what it must hold, and whether it does.

A cache root holds one folder per pinned version, ``<root>/<version>/``: the pinned core files
(:data:`pin.FILES`) and the package files of ``pyodide-lock.json`` fetched for scenes. The
root is ``--pyodide-dir``, else ``$IGP2P_PYODIDE_DIR``, else the user cache folder
(``~/.cache/interactive-gym-p2p/pyodide`` on Linux). A folder that holds ``pyodide.mjs``
itself (``node_modules/pyodide`` of a clone) is used as it is.

Nothing in a folder is trusted by its name: every core file must match its pinned SHA-256 and
every package file the SHA-256 the (pinned) lock gives it; :func:`inspect` names each file
that does not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from .. import environ, npm_tarball
from ..npm_tarball import check_files, file_sha256, forget_checksums  # noqa: F401 (forget_checksums: re-exported)
from . import npm, pin
from .lock import Lock, LockError, LockPackage, parse_lock

CACHE_ENV = environ.name(environ.PYODIDE_DIR)
"""Environment variable naming the cache root (``--pyodide-dir`` overrides it)."""
MARKER = "pyodide.mjs"
LOCK_FILE = "pyodide-lock.json"
FETCH_COMMAND = "python -m interactive_gym_p2p.pyodide fetch"


def default_root() -> Path:
    """The cache root when none is given: ``$IGP2P_PYODIDE_DIR``, else the user cache folder."""
    return npm_tarball.cache_root(environ.get(environ.PYODIDE_DIR), "pyodide")


def version_folder(root: Path) -> Path:
    """Where ``root`` keeps the pinned version."""
    return Path(root) / pin.VERSION


def fetch_command(root: Path | None) -> str:
    """The command that fills ``root`` (the default root needs no option)."""
    return npm_tarball.fetch_command(FETCH_COMMAND, root, default_root())


# ---------------------------------------------------------------------------- inspection


@dataclass(frozen=True)
class Inspection:
    """What a folder holds, checked against the pin and the lock."""

    folder: Path
    version: str | None
    """The Pyodide version its package.json names (None: no readable package.json)."""
    problems: tuple[str, ...]
    """Core problems, one sentence per file (empty: every pinned file is there and matches)."""
    lock: Lock | None = None
    packages: Mapping[str, LockPackage] = field(default_factory=dict)
    """Lock packages whose file is in the folder and matches, by name."""
    package_problems: tuple[str, ...] = ()
    """Package files in the folder that do not match the lock."""

    @property
    def ok(self) -> bool:
        return not self.problems and not self.package_problems

    @property
    def stale(self) -> bool:
        return self.version is not None and self.version != pin.VERSION

    def served(self) -> dict[str, str]:
        """File name -> SHA-256 of everything the server may serve from this folder."""
        files = {name: sha for name, (sha, _size) in pin.FILES.items()}
        files.update({p.file_name: p.sha256 for p in self.packages.values()})
        return files


def _package_version(folder: Path) -> str | None:
    try:
        return str(json.loads((folder / "package.json").read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def inspect(folder: Path) -> Inspection:
    """Check every pinned core file of ``folder``, then every lock package file it holds."""
    folder = Path(folder)
    version = _package_version(folder)
    if version is not None and version != pin.VERSION:
        return Inspection(folder, version, (f"{folder} holds Pyodide {version}, but this version of "
                                            f"interactive-gym-p2p pins Pyodide {pin.VERSION}",))
    problems = check_files(npm.PIN, folder)
    if problems:
        return Inspection(folder, version, problems)
    try:
        lock = parse_lock(json.loads((folder / LOCK_FILE).read_text(encoding="utf-8")))
    except (OSError, ValueError, LockError) as exc:  # cannot happen with a matching pinned lock
        return Inspection(folder, version, (f"{LOCK_FILE} cannot be read: {exc}",))
    packages: dict[str, LockPackage] = {}
    package_problems: list[str] = []
    for package in lock.packages.values():
        path = folder / package.file_name
        if not path.is_file():
            continue
        if file_sha256(path) == package.sha256:
            packages[package.name] = package
        else:
            package_problems.append(f"{package.file_name} (package {package.name}) does not match the "
                                    "SHA-256 in pyodide-lock.json (corrupted or changed)")
    return Inspection(folder, version, (), lock, packages, tuple(package_problems))


# ---------------------------------------------------------------------------- finding


Found = npm_tarball.Found


def find(explicit: Path | None, search: tuple[Path, ...] = ()) -> Found:
    """The local Pyodide to serve.

    ``explicit`` (``--pyodide-dir``) is a folder holding pyodide.mjs, or a cache root holding
    ``<version>/``; nothing else is looked at then. Without it: the default root's
    ``<version>/``, then ``node_modules/pyodide`` under each folder of ``search``.
    """
    return npm_tarball.find(explicit=explicit, default_root=default_root, version=pin.VERSION, marker=MARKER,
                            node_path="pyodide", search=search)
