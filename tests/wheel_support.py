"""Wheels the unit tests write directly (a minimal valid wheel; fast, no build tool).

The Chromium test builds its wheel with ``pip wheel`` instead: tests/e2e/harness/wheels.py.
"""

from __future__ import annotations

import zipfile
from pathlib import Path


def zip_wheel(folder: Path, name: str, version: str, module_source: str, requires: tuple[str, ...] = (),
              tag: str = "py3-none-any") -> Path:
    """``folder/<name>-<version>-<tag>.whl`` holding the module ``name`` and its metadata."""
    dist = f"{name}-{version}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dist}-{tag}.whl"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(f"Requires-Dist: {r}\n" for r in requires)
    files = {
        f"{name}/__init__.py": module_source,
        f"{dist}.dist-info/METADATA": metadata,
        f"{dist}.dist-info/WHEEL": f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n",
    }
    record = "".join(f"{n},,\n" for n in files) + f"{dist}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as zf:
        for n, text in files.items():
            zf.writestr(n, text)
        zf.writestr(f"{dist}.dist-info/RECORD", record)
    return path
