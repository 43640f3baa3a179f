"""A pinned npm package's files, fetched from its registry tarball into a folder, each checked.

The browser runtimes this package serves from its own origin (Pyodide, onnxruntime-web) are npm
packages. A pin (:class:`NpmPin`) names the package, its version, npm's integrity string of the
registry tarball (the one package-lock.json carries) and the SHA-256 and size of every file the
server serves from it. :func:`fetch_into` asks the registry where the tarball is, accepts the
tarball only if its digest is the pinned integrity, and writes only the pinned files, each only
if its SHA-256 is the pinned one; :func:`check_files` is the same check for a folder already on
disk (a cache, or ``node_modules`` of a clone). A tarball can also come from a file or URL
(``npm pack NAME@VERSION`` output copied to an offline machine).
"""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from .downloads import DownloadError, copy_verified, download, join, read_bytes, sri_to_hex

DEFAULT_REGISTRY = "https://registry.npmjs.org/"
# npm's abbreviated metadata (versions -> dist) is enough and much smaller.
_ACCEPT = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8"


@dataclass(frozen=True)
class NpmPin:
    """One npm package version and the files of its tarball that are served."""

    package: str
    version: str
    integrity: str
    """npm's Subresource Integrity string of the registry tarball (``sha512-<base64>``)."""
    files: Mapping[str, tuple[str, int]]
    """Served file name -> (SHA-256 hex, size in bytes); the folder holds them flat."""
    tarball_dir: str = ""
    """Where the files are inside the tarball's ``package/`` folder (``"dist/"`` for onnxruntime-web)."""

    @property
    def spec(self) -> str:
        return f"{self.package}@{self.version}"

    @property
    def tarball_name(self) -> str:
        """The name ``npm pack`` gives the tarball."""
        return f"{self.package.lstrip('@').replace('/', '-')}-{self.version}.tgz"


def registry_url(explicit: str | None = None) -> str:
    """``explicit``, else npm's own setting from the environment, else the public registry."""
    for value in (explicit, os.environ.get("npm_config_registry"), os.environ.get("NPM_CONFIG_REGISTRY")):
        if value:
            return value if value.endswith("/") else value + "/"
    return DEFAULT_REGISTRY


def tarball_url(pin: NpmPin, registry: str) -> str:
    """Where ``registry`` keeps the pinned version's tarball (from its metadata document).

    Refuses a registry whose metadata gives another integrity than the pin."""
    document = read_bytes(join(registry, pin.package), accept=_ACCEPT)
    try:
        dist = json.loads(document)["versions"][pin.version]["dist"]
        url = str(dist["tarball"])
    except (ValueError, KeyError, TypeError):
        raise DownloadError(f"the registry {registry} has no {pin.spec}") from None
    integrity = dist.get("integrity")
    if integrity and integrity != pin.integrity:
        raise DownloadError(f"the registry {registry} gives {pin.spec} the integrity {integrity}, "
                            f"but this package pins {pin.integrity}: refused")
    return url


def fetch_tarball(pin: NpmPin, source: str, dest: Path) -> int:
    """The pinned tarball from ``source`` (URL or path) into ``dest``, integrity checked."""
    algorithm, expected = sri_to_hex(pin.integrity)
    return download(source, dest, algorithm, expected, what=f"the {pin.spec} tarball")


def unpack(pin: NpmPin, tarball: Path, folder: Path, log: Callable[[str], None] = lambda _m: None) -> list[str]:
    """Write every pinned file of ``tarball`` into ``folder`` (each checked); returns their names.

    Only the pinned names are read, by name: nothing else in the archive reaches the disk."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    with tarfile.open(tarball, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        for name, (sha, _size) in sorted(pin.files.items()):
            path = f"package/{pin.tarball_dir}{name}"
            member = members.get(path)
            if member is None:
                raise DownloadError(f"{tarball} has no {path}: not the pinned {pin.package} tarball")
            stream = tar.extractfile(member)
            assert stream is not None  # a regular file member
            with stream:
                copy_verified(stream, folder / name, sha, what=f"{name} in {tarball.name}")
            written.append(name)
    log(f"  unpacked {len(written)} files, each matching its pinned SHA-256")
    return written


def fetch_into(pin: NpmPin, folder: Path, *, registry: str | None = None, tarball: str | None = None,
               log: Callable[[str], None] = print) -> None:
    """The pinned files into ``folder``: from ``tarball`` (path or URL) when given, else from
    the registry's tarball."""
    source = tarball
    if source is None:
        reg = registry_url(registry)
        log(f"asking {reg} for {pin.spec}")
        source = tarball_url(pin, reg)
    log(f"downloading {source}")
    with tempfile.TemporaryDirectory(prefix="igp2p-npm-") as tmp:
        path = Path(tmp) / pin.tarball_name
        size = fetch_tarball(pin, source, path)
        log(f"  {size / 1e6:.1f} MB, integrity {pin.integrity[:20]}... verified")
        unpack(pin, path, folder, log)


# ---------------------------------------------------------------------------- checks

_memo_lock = threading.Lock()
_memo: dict[tuple[str, int, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, remembered while its size, mtime and inode stay the same (a server
    start and every app a test builds check the same megabytes)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
    with _memo_lock:
        known = _memo.get(key)
    if known is not None:
        return known
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    value = digest.hexdigest()
    with _memo_lock:
        _memo[key] = value
    return value


def forget_checksums() -> None:
    """Drop remembered checksums (tests that rewrite a file within one mtime tick)."""
    with _memo_lock:
        _memo.clear()


def check_files(pin: NpmPin, folder: Path) -> tuple[str, ...]:
    """One sentence per pinned file of ``folder`` that is missing or does not match (empty: all good)."""
    problems: list[str] = []
    for name, (sha, size) in sorted(pin.files.items()):
        path = Path(folder) / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif path.stat().st_size != size or file_sha256(path) != sha:
            problems.append(f"{name} does not match its pinned SHA-256 (corrupted or changed)")
    return tuple(problems)


# ---------------------------------------------------------------------------- finding


@dataclass(frozen=True)
class Found:
    """Where a local copy of a pinned package was looked for, and what was found."""

    folder: Path | None
    """The folder to use (check it before serving), None when there is none."""
    kind: str
    """"cache" (``<root>/<version>``), "folder" (a folder holding the marker file) or "none"."""
    root: Path | None
    """The cache root in play (the given one, or the default)."""
    looked: tuple[str, ...]
    """Places looked at, in order (for the refusal message)."""
    other_versions: tuple[str, ...] = ()
    """Versions the root holds that are not the pinned one (a stale cache)."""


def cache_root(configured: str | None, folder: str) -> Path:
    """A cache root: ``configured`` (an environment variable's value) when set, else ``folder``
    in the user cache folder (``~/.cache/interactive-gym-p2p/<folder>`` on Linux)."""
    if configured:
        return Path(configured).expanduser()
    import platformdirs  # only when it is needed

    return Path(platformdirs.user_cache_dir("interactive-gym-p2p", appauthor=False)) / folder


def fetch_command(command: str, root: Path | None, default_root: Path) -> str:
    """``command``, with ``--dir root`` unless ``root`` is the default root (or None)."""
    if root is None or Path(root).expanduser().resolve() == default_root.resolve():
        return command
    return f"{command} --dir {root}"


def _other_versions(root: Path, version: str, marker: str) -> tuple[str, ...]:
    try:
        return tuple(sorted(p.name for p in root.iterdir() if p.is_dir() and (p / marker).is_file() and p.name != version))
    except OSError:
        return ()


def find(*, explicit: Path | None, default_root: Callable[[], Path], version: str, marker: str,
         node_path: str, search: tuple[Path, ...] = ()) -> Found:
    """The local copy to serve.

    ``explicit`` (a ``--...-dir`` option) is a folder holding ``marker``, or a cache root holding
    ``<version>/``; nothing else is looked at then. Without it: ``default_root()``'s
    ``<version>/``, then ``node_modules/<node_path>`` under each folder of ``search`` (a clone
    after ``npm ci``).
    """
    if explicit is not None:
        path = Path(explicit).expanduser().resolve()
        if (path / marker).is_file():
            return Found(path, "folder", None, (str(path),))
        candidate = path / version
        if (candidate / marker).is_file():
            return Found(candidate, "cache", path, (str(candidate),))
        return Found(None, "none", path, (str(path), str(candidate)), _other_versions(path, version, marker))
    root = default_root()
    candidate = root / version
    looked = [str(candidate)]
    if (candidate / marker).is_file():
        return Found(candidate.resolve(), "cache", root, tuple(looked))
    for base in search:
        folder = (Path(base) / "node_modules" / node_path).resolve()
        looked.append(str(folder))
        if (folder / marker).is_file():
            return Found(folder, "folder", root, tuple(looked))
    return Found(None, "none", root, tuple(looked), _other_versions(root, version, marker))
