"""Where browsers load Pyodide from: decided once at start, explicit, logged.

In this order:

1. ``pyodide_index_url`` (``--pyodide-index-url``): the researcher's own copy, used as given;
2. ``pyodide_cdn`` (``--pyodide-cdn``): the public CDN, only when asked for;
3. the local Pyodide (``--pyodide-dir``, else the cache of ``python -m interactive_gym_p2p.pyodide
   fetch``, else ``node_modules/pyodide`` of a clone), served from this origin at
   ``/p2p/pyodide/<version>/`` after every file matched its pinned checksum;
4. nothing: the server refuses to start, naming the fetch command.

The server never fetches anything from the CDN itself.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from .. import resources
from ..pyodide import cache, pin
from ..pyodide.lock import Needs, requirement_name, resolve, resolve_needs
from ..wheelhouse import Wheelhouse, WheelhouseError, load_wheelhouse
from ..wheelhouse import resolve as resolve_wheels

logger = logging.getLogger(__name__)

PYODIDE_VERSION = pin.VERSION
"""The pinned npm ``pyodide`` version (package.json pins the same)."""
CDN_INDEX_URL = f"https://cdn.jsdelivr.net/pyodide/v{PYODIDE_VERSION}/full/"
LOCAL_URL = f"/p2p/pyodide/{PYODIDE_VERSION}/"
"""Where the local copy is served (the version in the path lets browsers keep it for good)."""


class PyodideUnavailable(RuntimeError):
    """No Pyodide the participants' browsers could load; the message says what to run."""


@dataclass(frozen=True)
class PyodideSource:
    """The server's choice, as the page and the routes use it."""

    kind: str
    """"local", "index_url" (the researcher's URL) or "cdn"."""
    index_url: str
    """What the page hands to loadPyodide."""
    description: str
    """One line for the log."""
    folder: Path | None = None
    served: Mapping[str, str] = field(default_factory=dict)
    """Local only: file name -> SHA-256 of every file the route may serve."""
    wheelhouse: Wheelhouse | None = None
    """The researcher's wheels, served as micropip's only package index (wheelhouse.py)."""


def experiment_needs(experiment: Any) -> Needs:
    """Packages and Python sources of every P2P scene of a loaded experiment."""
    from .experiment import _flatten  # the same flattening load_experiment checked
    from ..scene import P2PGymScene

    needs = Needs()
    for scene in _flatten(experiment.stager):
        if isinstance(scene, P2PGymScene):
            env = scene.p2p_payload()["env"]
            sources = tuple(s for s in (env.get("code"), env.get("on_game_step_code")) if isinstance(s, str) and s)
            needs = needs.merged(Needs(tuple(env.get("packages") or ()), sources))
    return needs


def _search_paths() -> tuple[Path, ...]:
    # node_modules/pyodide of a clone (npm ci): the working directory, then the checkout.
    bases = [Path.cwd()]
    try:
        bases.append(resources.static_dir().parent)
    except FileNotFoundError:
        pass
    return tuple(dict.fromkeys(bases))


def _refusal(found: cache.Found) -> str:
    lines = [f"No local Pyodide {PYODIDE_VERSION} to serve to the participants' browsers "
             f"(looked in {', '.join(found.looked)})."]
    if found.other_versions:
        lines.append(f"{found.root} holds only Pyodide {', '.join(found.other_versions)}: this version of "
                     f"interactive-gym-p2p pins {PYODIDE_VERSION} (a stale cache).")
    lines.append(f"Fetch the pinned Pyodide once with:  {cache.fetch_command(found.root)}")
    lines.append("Or point browsers elsewhere: --pyodide-index-url URL (a copy you host), or --pyodide-cdn "
                 f"(the public CDN {CDN_INDEX_URL}; every participant then depends on it).")
    return "\n".join(lines)


def _wheel_problem(missing: tuple[str, ...], wheelhouse: Wheelhouse) -> str:
    return (f"The scenes need the packages {'; '.join(missing)}, which neither Pyodide's package repository "
            f"nor the wheelhouse {wheelhouse.folder} provides (with a wheelhouse, micropip installs only from "
            "these two, never from PyPI). Add their wheels to the wheelhouse (`pip wheel NAME -w DIR`).")


def choose_pyodide(*, index_url: str | None = None, cdn: bool = False, pyodide_dir: Path | None = None,
                   needs: Needs = Needs(), wheelhouse: Wheelhouse | None = None) -> PyodideSource:
    """The source browsers load Pyodide from (see the module's docstring for the order).

    Raises PyodideUnavailable when the local copy is missing, stale, corrupted or lacks a
    package the scenes need (or, with a wheelhouse, when a package is in neither)."""
    if index_url or cdn:
        if wheelhouse is not None:
            # The remote lock is not known here: only names the wheelhouse does list are checked.
            listed = [p for p in needs.packages if requirement_name(p) in wheelhouse.projects]
            problems = resolve_wheels(wheelhouse, listed, None).missing
            if problems:
                raise PyodideUnavailable(_wheel_problem(problems, wheelhouse))
    if index_url:
        url = index_url if index_url.endswith("/") else index_url + "/"
        return PyodideSource("index_url", url, f"the index URL given by the researcher, {url} (not checked by this server)",
                             wheelhouse=wheelhouse)
    if cdn:
        return PyodideSource("cdn", CDN_INDEX_URL, f"the public CDN {CDN_INDEX_URL} (--pyodide-cdn): every "
                             "participant's browser depends on it", wheelhouse=wheelhouse)
    found = cache.find(pyodide_dir, _search_paths())
    if found.folder is None:
        raise PyodideUnavailable(_refusal(found))
    seen = cache.inspect(found.folder)
    repair = cache.fetch_command(found.root if found.kind == "cache" else None)
    if seen.problems:
        if found.kind == "folder":
            hint = ("reinstall it (`npm ci` for a clone's node_modules), or fetch the pinned copy with:  "
                    + cache.fetch_command(None))
        else:
            hint = f"Repair it with:  {repair}"
        raise PyodideUnavailable(f"The local Pyodide in {found.folder} cannot be served: "
                                 + "; ".join(seen.problems) + f".\n{hint}")
    if seen.package_problems:
        raise PyodideUnavailable(f"The local Pyodide in {found.folder} cannot be served: "
                                 + "; ".join(seen.package_problems) + f".\nRepair it with:  {repair}")
    assert seen.lock is not None
    resolved = resolve_needs(seen.lock, needs)
    lock_packages = resolved.packages
    if wheelhouse is not None:
        wheels = resolve_wheels(wheelhouse, resolved.not_in_lock, seen.lock.packages.keys())
        if wheels.missing:
            raise PyodideUnavailable(_wheel_problem(wheels.missing, wheelhouse))
        # Lock packages the researcher's wheels depend on are served from the Pyodide folder too.
        lock_packages = resolve(seen.lock, [p.name for p in lock_packages] + list(wheels.lock_names))
    missing = [p.name for p in lock_packages if p.name not in seen.packages]
    if missing:
        flags = " ".join(f"--package {name}" for name in missing)
        raise PyodideUnavailable(
            f"The scenes need the Pyodide packages {', '.join(missing)}, which {found.folder} does not hold.\n"
            f"Fetch them (from Pyodide's package repository) with:  {cache.fetch_command(found.root)} {flags}")
    if resolved.not_in_lock and wheelhouse is None:
        logger.warning("packages_to_install %s are not in Pyodide's lock file: micropip fetches them from PyPI "
                       "in each participant's browser (not from this server)", list(resolved.not_in_lock))
    packages = f"; packages {', '.join(sorted(p.name for p in lock_packages))}" if lock_packages else ""
    where = "the local cache" if found.kind == "cache" else "the local folder"
    return PyodideSource(
        "local", LOCAL_URL,
        f"{where} {found.folder} ({len(pin.FILES)} core files checked against the pin{packages}), "
        f"served at {LOCAL_URL}",
        folder=found.folder, served=seen.served(), wheelhouse=wheelhouse,
    )


def pyodide_for(config: Any, experiment: Any) -> PyodideSource:
    """:func:`choose_pyodide` for a ServerConfig and a loaded experiment."""
    wheelhouse = None
    if getattr(config, "wheelhouse", None) is not None:
        try:
            wheelhouse = load_wheelhouse(config.wheelhouse)
        except WheelhouseError as exc:
            raise PyodideUnavailable(str(exc)) from None
    return choose_pyodide(index_url=config.pyodide_index_url, cdn=config.pyodide_cdn,
                          pyodide_dir=config.pyodide_dir, needs=experiment_needs(experiment), wheelhouse=wheelhouse)
