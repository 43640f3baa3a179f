"""Pyodide's ``pyodide-lock.json``: which package files make up each package, and what a scene needs.

Pyodide's browser side loads a package by its lock entry (``file_name`` next to the lock file,
checked against ``sha256``) together with the entries it ``depends`` on. A scene needs the
packages it lists in ``packages_to_install`` (installed by micropip, which the lock also
carries) and those its environment code imports (``loadPackagesFromImports`` maps a module
to a package through the lock's ``imports``). Names the lock does not know (PyPI packages,
wheel URLs) are reported apart: they are not part of Pyodide's package repository.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from packaging.requirements import InvalidRequirement, Requirement

MICROPIP = "micropip"


def normalize(name: str) -> str:
    """PEP 503 normal form, as the lock's keys are written."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class LockPackage:
    """One entry of the lock's ``packages``."""

    name: str
    version: str
    file_name: str
    """The package file, relative to the lock file's folder."""
    sha256: str
    depends: tuple[str, ...]
    imports: tuple[str, ...]
    """Top-level modules it provides (how imports map to packages)."""


@dataclass(frozen=True)
class Lock:
    packages: Mapping[str, LockPackage]

    def by_import(self, module: str) -> LockPackage | None:
        for package in self.packages.values():
            if module in package.imports:
                return package
        return None


class LockError(ValueError):
    """The lock file is not one this code understands."""


def parse_lock(data: Any) -> Lock:
    """A parsed ``pyodide-lock.json`` (the decoded JSON document)."""
    if not isinstance(data, dict) or not isinstance(data.get("packages"), dict):
        raise LockError("pyodide-lock.json has no 'packages' object")
    packages: dict[str, LockPackage] = {}
    for key, entry in data["packages"].items():
        try:
            file_name = str(entry["file_name"])
            if "/" in file_name or "\\" in file_name or file_name.startswith("."):
                raise LockError(f"pyodide-lock.json: package {key!r} has file_name {file_name!r} outside its folder")
            packages[normalize(key)] = LockPackage(
                name=normalize(key),
                version=str(entry.get("version", "")),
                file_name=file_name,
                sha256=str(entry["sha256"]).lower(),
                depends=tuple(normalize(d) for d in entry.get("depends", ())),
                imports=tuple(str(i) for i in entry.get("imports", ())),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise LockError(f"pyodide-lock.json: package {key!r} is malformed ({exc!r})") from None
    return Lock(packages=packages)


def requirement_name(spec: str) -> str | None:
    """The normalized package name of a ``packages_to_install`` entry ("numpy", "numpy==2.4.6"),
    or None for a URL or file (``https://.../x.whl``, ``emfs:/x.whl``): micropip fetches those
    itself."""
    if "://" in spec or spec.endswith(".whl") or spec.startswith(("emfs:", "/", ".")):
        return None
    try:
        return normalize(Requirement(spec).name)
    except InvalidRequirement:
        return None


def imported_modules(source: str) -> set[str]:
    """Top-level modules a Python source imports anywhere (absolute imports only), as
    Pyodide's ``find_imports`` sees them; an unparsable source imports nothing."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@dataclass(frozen=True)
class Needs:
    """What the browsers of an experiment load beyond Pyodide's core."""

    packages: tuple[str, ...] = ()
    """``packages_to_install`` entries of every P2P scene, as written."""
    sources: tuple[str, ...] = ()
    """Python sources the browsers run (environment code, on_game_step_code)."""

    def merged(self, other: "Needs") -> "Needs":
        return Needs(tuple(dict.fromkeys(self.packages + other.packages)), tuple(dict.fromkeys(self.sources + other.sources)))


@dataclass(frozen=True)
class Resolved:
    """Needs mapped onto a lock."""

    packages: tuple[LockPackage, ...]
    """Lock packages to serve, dependencies included, sorted by name."""
    not_in_lock: tuple[str, ...]
    """``packages_to_install`` entries the lock does not carry (micropip gets them elsewhere)."""


def resolve(lock: Lock, names: Iterable[str]) -> tuple[LockPackage, ...]:
    """The lock packages ``names`` (normalized lock names) need, dependencies included.

    Raises LockError naming a dependency the lock itself does not carry."""
    seen: dict[str, LockPackage] = {}
    stack = [normalize(n) for n in names]
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        package = lock.packages.get(name)
        if package is None:
            raise LockError(f"pyodide-lock.json has no package {name!r}")
        seen[name] = package
        stack.extend(package.depends)
    return tuple(seen[n] for n in sorted(seen))


def resolve_needs(lock: Lock, needs: Needs) -> Resolved:
    """The lock packages a set of scenes needs, and the requested names the lock lacks."""
    wanted: list[str] = []
    not_in_lock: list[str] = []
    for spec in needs.packages:
        name = requirement_name(spec)
        if name is not None and name in lock.packages:
            wanted.append(name)
        else:
            not_in_lock.append(spec)
    if needs.packages:
        wanted.append(MICROPIP)  # the client installs listed packages through micropip
    for source in needs.sources:
        for module in sorted(imported_modules(source)):
            package = lock.by_import(module)
            if package is not None:
                wanted.append(package.name)
    return Resolved(packages=resolve(lock, wanted), not_in_lock=tuple(dict.fromkeys(not_in_lock)))
