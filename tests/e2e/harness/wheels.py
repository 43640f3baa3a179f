"""Wheels for the Chromium tests.

- :func:`pip_wheel`: a real ``pip wheel`` of a tiny project written to a temporary folder
  (what a researcher does: ``pip wheel . -w wheelhouse``); pip builds it with setuptools from
  its usual sources and cache.
- :func:`micropip_wheel`: the PyPI wheel of the micropip version the pinned Pyodide lock
  names, by ``pip download`` into a folder that keeps it (later runs need no network).
  Pyodide's own build of micropip (the lock's file) is on Pyodide's CDN only, which tests
  cannot reach.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def pip_wheel(work: Path, dest: Path, name: str, version: str, module_source: str) -> Path:
    """A real wheel of a one-module project, built by ``pip wheel`` into ``dest``."""
    src = work / f"{name}-src"
    (src / name).mkdir(parents=True, exist_ok=True)
    (src / name / "__init__.py").write_text(module_source, encoding="utf-8")
    (src / "pyproject.toml").write_text(
        "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n\n"
        f"[project]\nname = \"{name}\"\nversion = \"{version}\"\nrequires-python = \">=3.8\"\n\n"
        f"[tool.setuptools]\npackages = [\"{name}\"]\n", encoding="utf-8")
    dest.mkdir(parents=True, exist_ok=True)
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-q", "-w", str(dest)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"pip wheel {name} failed: {result.stderr[-2000:]}"
    (wheel,) = dest.glob(f"{name}-{version}-*.whl")
    return wheel


def micropip_wheel(dest: Path) -> Path:
    """micropip's PyPI wheel, the version the pinned pyodide-lock.json names."""
    lock = json.loads((REPO / "node_modules" / "pyodide" / "pyodide-lock.json").read_text(encoding="utf-8"))
    version = lock["packages"]["micropip"]["version"]
    dest.mkdir(parents=True, exist_ok=True)
    found = list(dest.glob(f"micropip-{version}-*.whl"))
    if found:
        return found[0]
    python = lock["info"]["python"].rsplit(".", 1)[0]
    result = subprocess.run([sys.executable, "-m", "pip", "download", f"micropip=={version}", "--no-deps",
                             "--only-binary=:all:", "--python-version", python, "-q", "-d", str(dest)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"pip download micropip=={version} failed (PyPI or pip's cache): {result.stderr[-2000:]}"
    (wheel,) = dest.glob(f"micropip-{version}-*.whl")
    return wheel
