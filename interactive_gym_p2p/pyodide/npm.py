"""Pyodide's core from the npm registry: the pinned ``pyodide`` tarball, checked, unpacked.

The registry is asked where the tarball of the pinned version is (its metadata document);
the tarball is accepted only if its SHA-512 is the pinned integrity (the same string
package-lock.json carries), and each served file only if its SHA-256 is the pinned one. A
tarball can also come from a file or URL (``npm pack pyodide@<version>`` output copied to an
offline machine).
"""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Callable

from . import pin
from .download import DownloadError, copy_verified, download, join, read_bytes, sri_to_hex

DEFAULT_REGISTRY = "https://registry.npmjs.org/"
PACKAGE = "pyodide"
# npm's abbreviated metadata (versions -> dist) is enough and much smaller.
_ACCEPT = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8"


def registry_url(explicit: str | None = None) -> str:
    """``explicit``, else npm's own setting from the environment, else the public registry."""
    for value in (explicit, os.environ.get("npm_config_registry"), os.environ.get("NPM_CONFIG_REGISTRY")):
        if value:
            return value if value.endswith("/") else value + "/"
    return DEFAULT_REGISTRY


def tarball_url(registry: str) -> str:
    """Where ``registry`` keeps the pinned version's tarball (from its metadata document).

    Refuses a registry whose metadata gives another integrity than the pin."""
    document = read_bytes(join(registry, PACKAGE), accept=_ACCEPT)
    try:
        dist = json.loads(document)["versions"][pin.VERSION]["dist"]
        url = str(dist["tarball"])
    except (ValueError, KeyError, TypeError):
        raise DownloadError(f"the registry {registry} has no {PACKAGE}@{pin.VERSION}") from None
    integrity = dist.get("integrity")
    if integrity and integrity != pin.TARBALL_INTEGRITY:
        raise DownloadError(f"the registry {registry} gives {PACKAGE}@{pin.VERSION} the integrity {integrity}, "
                            f"but this package pins {pin.TARBALL_INTEGRITY}: refused")
    return url


def fetch_tarball(source: str, dest: Path) -> int:
    """The pinned tarball from ``source`` (URL or path) into ``dest``, integrity checked."""
    algorithm, expected = sri_to_hex(pin.TARBALL_INTEGRITY)
    return download(source, dest, algorithm, expected, what=f"the {PACKAGE}@{pin.VERSION} tarball")


def unpack_core(tarball: Path, folder: Path, log: Callable[[str], None] = lambda _m: None) -> list[str]:
    """Write every pinned file of ``tarball`` into ``folder`` (each checked); returns their names.

    Only the pinned names are read, by name: nothing else in the archive reaches the disk."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    with tarfile.open(tarball, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        for name, (sha, _size) in sorted(pin.FILES.items()):
            member = members.get(f"package/{name}")
            if member is None:
                raise DownloadError(f"{tarball} has no package/{name}: not the pinned {PACKAGE} tarball")
            stream = tar.extractfile(member)
            assert stream is not None  # a regular file member
            with stream:
                copy_verified(stream, folder / name, sha, what=f"{name} in {tarball.name}")
            written.append(name)
    log(f"  unpacked {len(written)} files, each matching its pinned SHA-256")
    return written


def fetch_core(folder: Path, *, registry: str | None = None, tarball: str | None = None,
               log: Callable[[str], None] = print) -> None:
    """The pinned core into ``folder``: from ``tarball`` (path or URL) when given, else from
    the registry."""
    source = tarball
    if source is None:
        reg = registry_url(registry)
        log(f"asking {reg} for {PACKAGE}@{pin.VERSION}")
        source = tarball_url(reg)
    log(f"downloading {source}")
    with tempfile.TemporaryDirectory(prefix="igp2p-pyodide-") as tmp:
        path = Path(tmp) / f"{PACKAGE}-{pin.VERSION}.tgz"
        size = fetch_tarball(source, path)
        log(f"  {size / 1e6:.1f} MB, integrity {pin.TARBALL_INTEGRITY[:20]}... verified")
        unpack_core(path, folder, log)
