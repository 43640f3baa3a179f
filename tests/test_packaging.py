"""The built wheel carries the browser client and templates, and an installed copy finds them.

static/ and templates/ live at the repository's top level; setup.py copies them into the
package at build time. This test builds the real wheel, installs it into a fresh virtual
environment (no source tree on its path) and asks the installed package where its assets are.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)],
        check=True,
        cwd=out,
    )
    wheels = list(out.glob("interactive_gym_p2p-*.whl"))
    assert len(wheels) == 1, f"expected one wheel, found {wheels}"
    return wheels[0]


def test_wheel_contains_static_and_templates(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "interactive_gym_p2p/static/js/protocol.js" in names
    assert "interactive_gym_p2p/static/js/hashing.js" in names
    assert any(n.startswith("interactive_gym_p2p/templates/") and n.endswith(".html") for n in names)
    assert not any("node_modules" in n or "__pycache__" in n for n in names)
    # The pin travels with the wheel; Pyodide itself does not (python -m interactive_gym_p2p.pyodide fetch).
    assert "interactive_gym_p2p/pyodide/pin.py" in names
    # Likewise onnxruntime-web's pin and fetch command (python -m interactive_gym_p2p.onnxruntime_web fetch).
    assert {"interactive_gym_p2p/onnxruntime_web/pin.py", "interactive_gym_p2p/onnxruntime_web/__main__.py",
            "interactive_gym_p2p/npm_tarball.py", "interactive_gym_p2p/downloads.py"} <= set(names)
    assert not any(n.endswith(".mjs") and "/ort" in n for n in names)
    assert not any(n.endswith((".wasm", ".tgz")) or "python_stdlib" in n for n in names)


def test_installed_wheel_finds_its_assets(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # --no-deps: the asset lookup must not need the runtime dependencies, and the test
    # must not download them again.
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    probe = (
        "import json, interactive_gym_p2p.resources as r;"
        "s = r.static_dir(); t = r.templates_dir();"
        "print(json.dumps({'static': str(s), 'templates': str(t),"
        " 'js': (s / 'js' / 'protocol.js').read_text(),"
        " 'templates_html': sorted(p.name for p in t.glob('*.html'))}))"
    )
    # Run from an empty folder with a clean environment, so the source tree cannot leak in.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run(
        [python, "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path, env=env
    )
    found = json.loads(result.stdout)
    site = str(env_dir)
    assert found["static"].startswith(site), found
    assert found["templates"].startswith(site), found
    assert found["js"] == (ROOT / "static" / "js" / "protocol.js").read_text()
    assert found["templates_html"], "no template found in the installed copy"
