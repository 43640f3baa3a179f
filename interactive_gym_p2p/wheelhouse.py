"""The researcher's own wheels, served by the experiment's server to the browsers' micropip.

A wheelhouse is a folder of wheel files (``pip wheel . -w wheelhouse``): the researcher's
environment packaged as a pure-Python wheel, and any pure-Python dependency Pyodide's own
package repository does not carry. The server serves it as a package index in the Simple
JSON form micropip reads (PEP 691): ``/p2p/wheels/simple/<name>/`` lists a project's wheels
with their SHA-256 (micropip checks it), ``/p2p/wheels/files/<file>`` serves a wheel. The
page hands micropip that index as its only ``index_urls``, so nothing comes from PyPI: a
scene's ``packages_to_install`` are Pyodide's lock packages (from the server's Pyodide folder)
or wheelhouse projects, and :func:`resolve` refuses, at server start, a name that is neither
(with a wheel's dependencies, their environment markers evaluated as in Pyodide).

Only wheels a browser can install are served: pure Python (``none-any``) or built for
Pyodide (``pyodide_*``/``emscripten_*`` platform tags); others are listed as skipped.
"""

from __future__ import annotations

import email.parser
import hashlib
import logging
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from packaging.markers import default_environment
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename
from packaging.version import InvalidVersion, Version

logger = logging.getLogger(__name__)

INDEX_URL = "/p2p/wheels/simple/"
"""Where the server serves the wheelhouse's index (micropip's ``index_urls``)."""
FILES_URL = "/p2p/wheels/files/"
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"

PYODIDE_PYTHON = "3.14.2"
"""Python of the pinned Pyodide (pyodide-lock.json ``info.python``): markers are evaluated for it."""


class WheelhouseError(ValueError):
    """A wheelhouse that cannot be served, or scenes whose packages it cannot provide."""


@dataclass(frozen=True)
class Wheel:
    """One wheel file of the wheelhouse."""

    filename: str
    name: str
    """Normalized project name (PEP 503)."""
    version: Version
    sha256: str
    requires: tuple[Requirement, ...]
    """Requires-Dist entries that apply in Pyodide (markers evaluated, no extras)."""
    path: Path


@dataclass(frozen=True)
class Wheelhouse:
    folder: Path
    projects: Mapping[str, tuple[Wheel, ...]]
    """Normalized name -> its wheels, newest version first."""
    files: Mapping[str, Wheel]
    """File name -> wheel: the only files the route serves."""
    skipped: tuple[str, ...] = ()
    """Wheel files a browser cannot install (platform wheels), not served."""

    def project_json(self, name: str, origin: str = "") -> dict[str, Any] | None:
        """The PEP 691 project page of ``name`` (any spelling), or None. File URLs start with
        ``origin`` (``http://host:port``): micropip does not resolve relative ones from Simple JSON."""
        wheels = self.projects.get(canonicalize_name(name))
        if not wheels:
            return None
        return {
            "meta": {"api-version": "1.1"},
            "name": wheels[0].name,
            "versions": sorted({str(w.version) for w in wheels}, key=Version),
            "files": [
                {"filename": w.filename, "url": origin.rstrip("/") + FILES_URL + w.filename, "hashes": {"sha256": w.sha256},
                 "size": w.path.stat().st_size}
                for w in wheels
            ],
        }

    def best(self, requirement: Requirement) -> Wheel | None:
        """The newest wheel satisfying ``requirement``, or None."""
        for wheel in self.projects.get(canonicalize_name(requirement.name), ()):
            if requirement.specifier.contains(wheel.version, prereleases=True):
                return wheel
        return None


def pyodide_markers() -> dict[str, str]:
    """PEP 508 marker values of a browser running the pinned Pyodide."""
    env = dict(default_environment())
    major_minor = ".".join(PYODIDE_PYTHON.split(".")[:2])
    env.update({
        "python_version": major_minor, "python_full_version": PYODIDE_PYTHON, "sys_platform": "emscripten",
        "platform_system": "Emscripten", "platform_machine": "wasm32", "os_name": "posix",
        "implementation_name": "cpython", "platform_python_implementation": "CPython",
        "implementation_version": PYODIDE_PYTHON, "platform_release": "", "platform_version": "",
    })
    return env


def _browser_installable(filename: str) -> bool:
    _name, _version, _build, tags = parse_wheel_filename(filename)
    return any(t.platform == "any" or t.platform.startswith(("pyodide_", "emscripten_")) for t in tags)


def _requires(path: Path) -> tuple[Requirement, ...]:
    """Requires-Dist of a wheel that apply in Pyodide (extras are never installed for a dependency)."""
    with zipfile.ZipFile(path) as archive:
        metadata_name = next((n for n in archive.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1), None)
        if metadata_name is None:
            raise WheelhouseError(f"wheelhouse: {path.name} has no .dist-info/METADATA (not a wheel)")
        text = archive.read(metadata_name).decode("utf-8", errors="replace")
    message = email.parser.Parser().parsestr(text, headersonly=True)
    env = pyodide_markers()
    out = []
    for raw in message.get_all("Requires-Dist") or ():
        try:
            req = Requirement(raw)
        except InvalidRequirement as exc:
            raise WheelhouseError(f"wheelhouse: {path.name} has an invalid Requires-Dist {raw!r} ({exc})") from None
        if req.marker is None or req.marker.evaluate({**env, "extra": ""}):
            out.append(req)
    return tuple(out)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_wheelhouse(folder: Path | str) -> Wheelhouse:
    """Read a wheelhouse folder (its ``*.whl`` files; nothing else in it is served)."""
    root = Path(folder).expanduser().resolve()
    if not root.is_dir():
        raise WheelhouseError(f"wheelhouse {root} is not a folder")
    projects: dict[str, list[Wheel]] = {}
    files: dict[str, Wheel] = {}
    skipped: list[str] = []
    for path in sorted(root.glob("*.whl")):
        try:
            name, version, _build, _tags = parse_wheel_filename(path.name)
        except (InvalidWheelFilename, InvalidVersion) as exc:
            raise WheelhouseError(f"wheelhouse: {path.name} is not a wheel file name ({exc})") from None
        if not _browser_installable(path.name):
            skipped.append(path.name)
            continue
        try:
            requires = _requires(path)
        except zipfile.BadZipFile:
            raise WheelhouseError(f"wheelhouse: {path.name} is not a zip archive (a damaged wheel)") from None
        wheel = Wheel(path.name, str(name), version, _sha256(path), requires, path)
        projects.setdefault(wheel.name, []).append(wheel)
        files[path.name] = wheel
    if skipped:
        logger.warning("wheelhouse %s: %s are not pure-Python or Pyodide wheels; browsers cannot install them, "
                       "so they are not served", root, ", ".join(skipped))
    ordered = {n: tuple(sorted(ws, key=lambda w: w.version, reverse=True)) for n, ws in sorted(projects.items())}
    return Wheelhouse(root, ordered, files, tuple(skipped))


@dataclass(frozen=True)
class WheelhouseNeeds:
    """Scene packages mapped onto the lock and the wheelhouse."""

    lock_names: tuple[str, ...] = ()
    """Lock packages the wheelhouse's wheels depend on (the local Pyodide must hold them)."""
    wheels: tuple[Wheel, ...] = ()
    """Wheelhouse wheels the browsers install, dependencies included."""
    missing: tuple[str, ...] = field(default=())
    """Requirements found in neither (``"name (needed by x)"``)."""


def resolve(wheelhouse: Wheelhouse, specs: Iterable[str], lock_names: Iterable[str] | None) -> WheelhouseNeeds:
    """Map ``packages_to_install`` entries the lock does not carry onto the wheelhouse.

    ``lock_names``: normalized names of the Pyodide lock (None when the lock is not known
    here: a remote Pyodide; then only wheelhouse names are checked and others are not missing).
    """
    in_lock = None if lock_names is None else set(lock_names)
    wanted_lock: list[str] = []
    chosen: dict[str, Wheel] = {}
    missing: list[str] = []
    stack: list[tuple[Requirement, str | None]] = []
    for spec in specs:
        try:
            stack.append((Requirement(spec), None))
        except InvalidRequirement:
            missing.append(f"{spec} (not a requirement: URLs and files are not served from the wheelhouse)")
    while stack:
        req, parent = stack.pop(0)
        name = canonicalize_name(req.name)
        if name in chosen:
            if not req.specifier.contains(chosen[name].version, prereleases=True):
                missing.append(f"{req} ({f'needed by {parent}' if parent else 'packages_to_install'}; "
                               f"conflicts with {chosen[name].filename})")
            continue
        # micropip takes a name Pyodide's lock carries from the lock, before any index.
        if in_lock is not None and name in in_lock:
            if parent is not None:
                wanted_lock.append(name)
            continue
        wheel = wheelhouse.best(req)
        if wheel is not None:
            chosen[name] = wheel
            stack.extend((r, wheel.filename) for r in wheel.requires)
            continue
        if in_lock is None and name not in wheelhouse.projects:
            continue  # a remote Pyodide: its lock may carry it
        have = [str(w.version) for w in wheelhouse.projects.get(name, ())]
        why = f"needed by {parent}" if parent else "packages_to_install"
        extra = f"; the wheelhouse has only {', '.join(have)}" if have else ""
        missing.append(f"{req} ({why}{extra})")
    return WheelhouseNeeds(tuple(dict.fromkeys(wanted_lock)), tuple(chosen.values()), tuple(missing))
