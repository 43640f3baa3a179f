"""The local onnxruntime-web: where it lives, whether it is intact, and filling the cache.

A cache root holds one folder per pinned version, ``<root>/<version>/``, with the pinned files
(:data:`pin.FILES`) only. The root is ``--onnxruntime-dir``, else ``$IGP2P_ONNXRUNTIME_DIR``,
else the user cache folder (``~/.cache/interactive-gym-p2p/onnxruntime-web`` on Linux). A folder
that holds ``ort.wasm.min.mjs`` itself (``node_modules/onnxruntime-web/dist`` of a clone) is used
as it is. Nothing is trusted by its name: every file must match its pinned SHA-256.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import environ, npm_tarball
from . import pin

CACHE_ENV = environ.name(environ.ONNXRUNTIME_DIR)
"""Environment variable naming the cache root (``--onnxruntime-dir`` overrides it)."""
FETCH_COMMAND = "python -m interactive_gym_p2p.onnxruntime_web fetch"
NODE_PATH = "onnxruntime-web/dist"


class FetchError(RuntimeError):
    """The cache could not be filled; the message says why."""


def default_root() -> Path:
    """The cache root when none is given: ``$IGP2P_ONNXRUNTIME_DIR``, else the user cache folder."""
    return npm_tarball.cache_root(environ.get(environ.ONNXRUNTIME_DIR), "onnxruntime-web")


def version_folder(root: Path) -> Path:
    """Where ``root`` keeps the pinned version."""
    return Path(root) / pin.VERSION


def fetch_command(root: Path | None) -> str:
    """The command that fills ``root`` (the default root needs no option)."""
    return npm_tarball.fetch_command(FETCH_COMMAND, root, default_root())


def find(explicit: Path | None, search: tuple[Path, ...] = ()) -> npm_tarball.Found:
    """The local copy to serve: ``explicit`` only when given (a cache root or a folder holding
    the files); else the default root's ``<version>/``, then ``node_modules/onnxruntime-web/dist``
    under each folder of ``search``."""
    return npm_tarball.find(explicit=explicit, default_root=default_root, version=pin.VERSION, marker=pin.MODULE,
                            node_path=NODE_PATH, search=search)


def problems(folder: Path) -> tuple[str, ...]:
    """One sentence per pinned file of ``folder`` that is missing or does not match."""
    return npm_tarball.check_files(pin.PIN, folder)


@dataclass(frozen=True)
class FetchResult:
    folder: Path
    fetched: bool
    """False: every file was already there and matched."""


def fetch(root: Path, *, registry: str | None = None, tarball: str | None = None, force: bool = False,
          log: Callable[[str], None] = print) -> FetchResult:
    """Fill (or repair) ``<root>/<version>/``; idempotent."""
    folder = version_folder(root)
    before = problems(folder) if folder.is_dir() else ("empty",)
    if not force and not before:
        log(f"onnxruntime-web {pin.VERSION}: already in {folder}, every file matches its pinned SHA-256")
        return FetchResult(folder, False)
    if folder.is_dir():
        for problem in before:
            log(f"repairing: {problem}")
    npm_tarball.fetch_into(pin.PIN, folder, registry=registry, tarball=tarball, log=log)
    npm_tarball.forget_checksums()
    after = problems(folder)
    if after:  # cannot happen after unpack checked every file; never serve it anyway
        raise FetchError(f"{folder} still fails its check: {'; '.join(after)}")
    return FetchResult(folder, True)
