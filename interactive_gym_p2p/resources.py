"""Where the browser client (``static/``) and page templates (``templates/``) live.

An installed wheel carries them inside the package; a source checkout keeps them at the
repository's top level. Everything that serves files asks here, so both layouts work.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _asset_dir(name: str) -> Path:
    installed = _PACKAGE_DIR / name
    if installed.is_dir():
        return installed
    checkout = _PACKAGE_DIR.parent / name
    if checkout.is_dir() and (_PACKAGE_DIR.parent / "setup.cfg").is_file():
        return checkout
    raise FileNotFoundError(
        f"interactive_gym_p2p cannot find its {name}/ folder (looked in {installed} and "
        f"{checkout}); reinstall the package"
    )


def static_dir() -> Path:
    """The folder served at ``/p2p/static``: JavaScript client, CSS, vendored libraries."""
    return _asset_dir("static")


def templates_dir() -> Path:
    """The folder of Jinja templates for participant and researcher pages."""
    return _asset_dir("templates")


def docs_schema_path() -> Path:
    """The JSON Schema of the validation export, shipped inside the package."""
    return _PACKAGE_DIR / "validation" / "export.schema.json"


INTERACTIVE_GYM_MODULES = (
    "interactive_gym/__init__.py",
    "interactive_gym/configurations/__init__.py",
    "interactive_gym/configurations/object_contexts.py",
    "interactive_gym/configurations/render_configs.py",
    "interactive_gym/configurations/configuration_constants.py",
)
"""The pure-Python modules of the installed Interactive Gym an environment's code imports in
the browser (``from interactive_gym.configurations import object_contexts``)."""


def interactive_gym_sources() -> dict[str, str]:
    """Source of :data:`INTERACTIVE_GYM_MODULES` from the installed ``interactive_gym``, by
    path: the browser writes them into Pyodide, so Interactive Gym-style environment code runs
    offline without installing the package (and its numpy) there."""
    import importlib.util

    spec = importlib.util.find_spec("interactive_gym")
    if spec is None or not spec.submodule_search_locations:
        return {}
    root = Path(next(iter(spec.submodule_search_locations))).parent
    out = {}
    for rel in INTERACTIVE_GYM_MODULES:
        file = root / rel
        if file.is_file():
            out[rel] = file.read_text(encoding="utf-8")
    return out
