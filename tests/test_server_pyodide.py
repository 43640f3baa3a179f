"""The server's Pyodide choice: explicit, logged, served from this origin, or a refusal to start."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from interactive_gym_p2p.cli import main as cli_main
from interactive_gym_p2p.examples import demo
from interactive_gym_p2p.pyodide import cache, pin
from interactive_gym_p2p.server import ServerConfig, create_app
from interactive_gym_p2p.server.pyodide import CDN_INDEX_URL, LOCAL_URL, PyodideUnavailable

from server_harness import ENV_CODE, make_scene, make_stager, running_server
from server_harness import http_get as get

ROOT = Path(__file__).resolve().parent.parent
NODE_PYODIDE = ROOT / "node_modules" / "pyodide"


def page_config(url: str) -> str:
    return get(url + "/someone")[2].decode()


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache root as ``fetch`` lays it out (a copy of the clone's verified files)."""
    root = tmp_path_factory.mktemp("pyodide-cache")
    folder = root / pin.VERSION
    folder.mkdir()
    for name in pin.FILES:
        shutil.copyfile(NODE_PYODIDE / name, folder / name)
    return root


def test_local_cache_is_served_same_origin_and_only_its_pinned_files(cache_root: Path, tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    (cache_root / pin.VERSION / "notes.txt").write_text("not part of Pyodide")
    caplog.set_level(logging.INFO, logger="interactive_gym_p2p.server.app")
    with running_server(make_stager(make_scene()), tmp_path, pyodide_dir=cache_root) as server:
        assert f'"pyodide_index_url": "{LOCAL_URL}"' in page_config(server.url)
        status, headers, body = get(server.url + LOCAL_URL + "pyodide.asm.wasm")
        assert status == 200 and headers["Content-Type"] == "application/wasm"
        assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert body == (NODE_PYODIDE / "pyodide.asm.wasm").read_bytes()
        assert get(server.url + LOCAL_URL + "python_stdlib.zip")[0] == 200
        for path in ("notes.txt", "README.md", "..%2Fpyodide.mjs", "sub/pyodide.mjs"):
            assert get(server.url + LOCAL_URL + path)[0] in (400, 404), path
        assert get(server.url + "/p2p/pyodide/0.27.0/pyodide.mjs")[0] in (400, 404)
    logged = [r.getMessage() for r in caplog.records if "Pyodide" in r.getMessage()]
    assert logged == [f"Pyodide (pinned {pin.VERSION}) for the participants' browsers: the local cache "
                      f"{cache_root / pin.VERSION} ({len(pin.FILES)} core files checked against the pin), "
                      f"served at {LOCAL_URL}"], logged


def test_index_url_and_cdn_are_used_only_when_given(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="interactive_gym_p2p.server.app")
    empty = tmp_path / "empty"  # no local copy either way: neither choice looks for one
    with running_server(make_stager(make_scene()), tmp_path, pyodide_dir=empty,
                        pyodide_index_url="https://lab.example/pyodide") as server:
        assert '"pyodide_index_url": "https://lab.example/pyodide/"' in page_config(server.url)
        assert get(server.url + LOCAL_URL + "pyodide.mjs")[0] == 404
    with running_server(make_stager(make_scene()), tmp_path, pyodide_dir=empty, pyodide_cdn=True) as server:
        assert f'"pyodide_index_url": "{CDN_INDEX_URL}"' in page_config(server.url)
    records = [r for r in caplog.records if "Pyodide" in r.getMessage()]
    assert "index URL given by the researcher, https://lab.example/pyodide/" in records[0].getMessage()
    assert records[1].levelno == logging.WARNING and "public CDN" in records[1].getMessage()
    with pytest.raises(ValueError, match="give one"):
        ServerConfig(pyodide_cdn=True, pyodide_index_url="https://lab.example/").check()


def test_nothing_local_and_no_cdn_refuses_to_start(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty"
    with pytest.raises(PyodideUnavailable, match="python -m interactive_gym_p2p.pyodide fetch"):
        create_app(make_stager(make_scene()), ServerConfig(port=0, async_mode="threading", data_dir=tmp_path, pyodide_dir=empty))
    experiment = tmp_path / "experiment.py"
    experiment.write_text("import sys\nsys.path.insert(0, %r)\nfrom server_harness import make_scene, make_stager\n"
                          "stager = make_stager(make_scene())\n" % str(ROOT / "tests"))
    assert cli_main([str(experiment), "--pyodide-dir", str(empty), "--port", "0", "--turn", "none",
                     "--data-dir", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("interactive-gym-p2p: No local Pyodide")
    assert f"python -m interactive_gym_p2p.pyodide fetch --dir {empty}" in err and "--pyodide-cdn" in err
    with pytest.raises(SystemExit):  # argparse: one or the other
        cli_main([str(experiment), "--pyodide-cdn", "--pyodide-index-url", "https://x/"])
    # The demo refuses before it prints its URL.
    assert demo.main(["--pyodide-dir", str(empty), "--port", "0", "--turn", "none"]) == 2
    out, err = capsys.readouterr()
    assert "open http" not in out and "demo: No local Pyodide" in err


def test_scene_packages_must_be_in_the_local_copy(cache_root: Path, tmp_path: Path) -> None:
    numpy_scene = (make_scene("np").pyodide(environment_initialization_code="import numpy\n" + ENV_CODE))
    with pytest.raises(PyodideUnavailable) as refused:
        create_app(make_stager(numpy_scene), ServerConfig(port=0, async_mode="threading", data_dir=tmp_path, pyodide_dir=cache_root))
    assert "need the Pyodide packages numpy" in str(refused.value)
    assert f"fetch --dir {cache_root} --package numpy" in str(refused.value)
    listed = make_scene("listed").pyodide(packages_to_install=["numpy"])
    with pytest.raises(PyodideUnavailable, match="micropip, numpy"):
        create_app(make_stager(listed), ServerConfig(port=0, async_mode="threading", data_dir=tmp_path, pyodide_dir=cache_root))
    # With --pyodide-cdn the packages come from the CDN too: nothing local is required.
    create_app(make_stager(listed), ServerConfig(port=0, async_mode="threading", data_dir=tmp_path, pyodide_cdn=True, pyodide_dir=cache_root))


def test_a_corrupted_package_file_in_the_cache_refuses(cache_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "root"
    shutil.copytree(cache_root, root)
    lock = cache.inspect(root / pin.VERSION).lock
    assert lock is not None
    (root / pin.VERSION / lock.packages["micropip"].file_name).write_bytes(b"not micropip")
    with pytest.raises(PyodideUnavailable, match=r"micropip-.*\.whl \(package micropip\) does not match the SHA-256"):
        create_app(make_stager(make_scene()), ServerConfig(port=0, async_mode="threading", data_dir=tmp_path, pyodide_dir=root))
