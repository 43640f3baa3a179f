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
