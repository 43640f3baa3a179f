"""``fetch``: fill (or repair) the cache with the pinned core and the packages scenes need.

Idempotent: files already there and matching are kept; missing, corrupted or stale ones are
fetched again. The core comes from the npm tarball (registry or a given tarball), packages
from Pyodide's package repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from . import cache, pin
from .lock import Needs, resolve_needs
from .npm import fetch_core
from .packages import DEFAULT_PACKAGE_INDEX, fetch_packages


@dataclass(frozen=True)
class FetchResult:
    folder: Path
    core_fetched: bool
    packages_fetched: tuple[str, ...]
    packages: tuple[str, ...]
    """Every lock package the folder now holds, verified."""
    not_in_lock: tuple[str, ...]
    """Requested names that are not Pyodide packages (left to micropip / a wheelhouse)."""


class FetchError(RuntimeError):
    """The cache could not be filled; the message says why."""


def fetch(root: Path, *, registry: str | None = None, tarball: str | None = None, needs: Needs = Needs(),
          package_index: str | None = None, force: bool = False,
          log: Callable[[str], None] = print) -> FetchResult:
    folder = cache.version_folder(root)
    before = cache.inspect(folder) if (folder / cache.MARKER).exists() else None
    core_fetched = False
    if force or before is None or before.problems:
        for problem in (before.problems if before is not None else ()):
            log(f"repairing: {problem}")
        fetch_core(folder, registry=registry, tarball=tarball, log=log)
        core_fetched = True
    else:
        log(f"Pyodide {pin.VERSION} core: already in {folder}, every file matches its pinned SHA-256")
    cache.forget_checksums()
    seen = cache.inspect(folder)
    if seen.problems:  # cannot happen after unpack_core checked every file; never serve it anyway
        raise FetchError(f"{folder} still fails its check: {'; '.join(seen.problems)}")
    assert seen.lock is not None
    resolved = resolve_needs(seen.lock, needs)
    corrupt = {p.name for p in seen.lock.packages.values()
               if (folder / p.file_name).is_file() and p.name not in seen.packages}
    wanted = [p for p in resolved.packages if force or p.name not in seen.packages]
    wanted += [seen.lock.packages[n] for n in sorted(corrupt) if n not in {p.name for p in wanted}]
    fetched: tuple[str, ...] = ()
    if wanted:
        log(f"packages from {package_index or DEFAULT_PACKAGE_INDEX}: {', '.join(p.name for p in wanted)}")
        fetched = tuple(fetch_packages(folder, wanted, package_index, log))
    elif resolved.packages:
        log(f"packages {', '.join(p.name for p in resolved.packages)}: already there, verified")
    cache.forget_checksums()
    final = cache.inspect(folder)
    if not final.ok:
        raise FetchError(f"{folder} fails its check: {'; '.join(final.problems + final.package_problems)}")
    return FetchResult(folder, core_fetched, fetched, tuple(sorted(final.packages)), resolved.not_in_lock)
