"""Configuration-time checks that an environment can be rolled back.

Rollback needs ``reset``, ``step``, ``get_state`` (JSON-able, hashed) and ``set_state``.
A Pyodide scene's environment is Python source that defines ``env``; it is read with
``ast`` (never executed here). When ``env`` is an instance of a class defined in that same
source, the class (and its in-source bases) must have every method; when the class comes
from a package the source imports, nothing can be proven and the report says so.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

REQUIRED_METHODS = ("reset", "step", "get_state", "set_state")
ENV_VARIABLE = "env"


class EnvCheckError(ValueError):
    """The environment definitely cannot be used for rollback; the message says why."""


@dataclass(frozen=True)
class EnvCodeReport:
    """Outcome of reading environment source without running it."""

    verified: bool
    """True when the env's class is defined in the source and has every required method."""
    env_class: str | None
    """Name of the class ``env`` is built from, when that can be seen."""
    note: str
    """Why the source could not be verified (empty when verified)."""


def _top_level_statements(body: list[ast.stmt]) -> list[ast.stmt]:
    # Module level includes the bodies of top-level if/try/with (guards such as
    # ``if sys.platform == "emscripten":`` are common in Pyodide code).
    out: list[ast.stmt] = []
    for node in body:
        out.append(node)
        if isinstance(node, ast.If):
            out.extend(_top_level_statements(node.body + node.orelse))
        elif isinstance(node, ast.Try):
            handlers = [s for h in node.handlers for s in h.body]
            out.extend(_top_level_statements(node.body + handlers + node.orelse + node.finalbody))
        elif isinstance(node, ast.With):
            out.extend(_top_level_statements(node.body))
    return out


def _class_methods(cls: ast.ClassDef) -> set[str]:
    names: set[str] = set()
    for node in cls.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def _methods_with_bases(
    name: str, classes: dict[str, ast.ClassDef], seen: frozenset[str] = frozenset()
) -> tuple[set[str], bool]:
    """Methods of class ``name`` including in-source bases; bool: all bases were in the source."""
    cls = classes[name]
    methods = _class_methods(cls)
    complete = True
    for base in cls.bases:
        if isinstance(base, ast.Name) and base.id in classes and base.id not in seen:
            base_methods, base_complete = _methods_with_bases(base.id, classes, seen | {name})
            methods |= base_methods
            complete = complete and base_complete
        elif isinstance(base, ast.Name) and base.id == "object":
            continue
        else:
            complete = False
    return methods, complete


def _env_bindings(statements: list[ast.stmt]) -> list[ast.stmt]:
    found = []
    for node in statements:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == ENV_VARIABLE for t in node.targets
        ):
            found.append(node)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == ENV_VARIABLE:
            found.append(node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)) and any(
            (alias.asname or alias.name) == ENV_VARIABLE for alias in node.names
        ):
            found.append(node)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == ENV_VARIABLE:
            found.append(node)
    return found


def inspect_env_code(source: str, setting: str = "environment_initialization_code") -> EnvCodeReport:
    """Read Pyodide environment source; raise :class:`EnvCheckError` when it cannot work."""
    if not isinstance(source, str) or not source.strip():
        raise EnvCheckError(f"{setting}: is empty; it must define a variable named '{ENV_VARIABLE}'")
    try:
        tree = ast.parse(source, filename=f"<{setting}>")
    except SyntaxError as exc:
        raise EnvCheckError(f"{setting}: line {exc.lineno}: {exc.msg}") from None
    statements = _top_level_statements(tree.body)
    classes = {node.name: node for node in statements if isinstance(node, ast.ClassDef)}
    star_import = any(
        isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names) for node in statements
    )
    bindings = _env_bindings(statements)
    if not bindings:
        if star_import:
            return EnvCodeReport(False, None, f"'{ENV_VARIABLE}' may come from a star import; not verified")
        raise EnvCheckError(
            f"{setting}: defines no module-level variable named '{ENV_VARIABLE}' "
            f"(the environment instance the P2P client steps)"
        )
    last = bindings[-1]
    value = getattr(last, "value", None)
    if not (isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id in classes):
        return EnvCodeReport(False, None, f"'{ENV_VARIABLE}' is not built from a class defined in the source; not verified")
    class_name = value.func.id
    methods, complete = _methods_with_bases(class_name, classes)
    missing = [m for m in REQUIRED_METHODS if m not in methods]
    if missing and complete:
        raise EnvCheckError(
            f"{setting}: class {class_name} (the type of '{ENV_VARIABLE}') has no "
            f"{', '.join(m + '()' for m in missing)}; P2P rollback needs {', '.join(m + '()' for m in REQUIRED_METHODS)}"
        )
    if missing:
        return EnvCodeReport(False, class_name, f"{class_name} may inherit {missing} from a base class outside the source")
    return EnvCodeReport(True, class_name, "")


def _require_methods(obj: Any, name: str, setting: str) -> None:
    missing = [m for m in REQUIRED_METHODS if not callable(getattr(obj, m, None))]
    if missing:
        raise EnvCheckError(
            f"{setting}: {name} has no {', '.join(m + '()' for m in missing)}; "
            f"P2P rollback needs {', '.join(m + '()' for m in REQUIRED_METHODS)}"
        )


def check_env_type(env_type: type, setting: str = "env_creator") -> None:
    """A class (CPython env creator) must have every rollback method."""
    _require_methods(env_type, env_type.__name__, setting)


def check_env_instance(env: Any, setting: str = "env_creator") -> Any:
    """An environment object (what an env creator returned) must have every rollback method."""
    _require_methods(env, type(env).__name__, setting)
    return env


PAGE_MODULES = ("js", "pyodide", "pyodide_js")
"""Modules that reach the participant's page: what they return differs between browsers."""


def inspect_step_code(source: str, setting: str = "on_game_step_code") -> None:
    """``on_game_step_code`` runs inside every simulated step of every peer, so it must compile
    and must not read the page (``js``): each participant's page holds different values, and
    peers that compute different steps diverge. Raise :class:`EnvCheckError` otherwise."""
    if not isinstance(source, str):
        raise EnvCheckError(f"{setting}: must be Python source (a string), got {type(source).__name__}")
    if not source.strip():
        return
    try:
        tree = ast.parse(source, filename=f"<{setting}>")
    except SyntaxError as exc:
        raise EnvCheckError(f"{setting}: line {exc.lineno}: {exc.msg}") from None
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            if name.split(".")[0] in PAGE_MODULES:
                raise EnvCheckError(
                    f"{setting}: line {node.lineno} imports {name!r}, which reads the participant's page; each "
                    "peer's page differs, so the peers' simulations would diverge. It runs inside every simulated "
                    "step: compute from env and from constants defined in the environment code"
                )
