"""The researcher's wheelhouse: read, indexed for micropip (PEP 691), checked against the
scenes at start, served by the experiment's server."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import pytest

from interactive_gym_p2p.pyodide import pin
from interactive_gym_p2p.scene import P2PGymScene
from interactive_gym_p2p.server import ServerConfig, create_app
from interactive_gym_p2p.server.pyodide import PyodideUnavailable, choose_pyodide
from interactive_gym_p2p.pyodide.lock import Needs
from interactive_gym_p2p.wheelhouse import SIMPLE_JSON, WheelhouseError, load_wheelhouse, resolve

from server_harness import make_scene, make_stager, running_server
from server_harness import http_get as get
from wheel_support import zip_wheel

ROOT = Path(__file__).resolve().parent.parent
NODE_PYODIDE = ROOT / "node_modules" / "pyodide"


@pytest.fixture
def house(tmp_path: Path) -> Path:
    folder = tmp_path / "wheelhouse"
    zip_wheel(folder, "tug_rules", "1.0", "STEP = 3\n")
    zip_wheel(folder, "tug_rules", "1.2", "STEP = 4\n", requires=("tiny-helper>=2", "pytz", 'winonly; sys_platform == "win32"',
                                                                  "docs-only; extra == 'docs'"))
    zip_wheel(folder, "tiny_helper", "2.0", "X = 1\n")
    zip_wheel(folder, "native", "1.0", "", tag="cp314-cp314-manylinux_2_17_x86_64")
    (folder / "README.txt").write_text("not a wheel")
    return folder


def test_wheelhouse_lists_browser_installable_wheels_newest_first(house: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    wh = load_wheelhouse(house)
    assert list(wh.projects) == ["tiny-helper", "tug-rules"]
    assert [str(w.version) for w in wh.projects["tug-rules"]] == ["1.2", "1.0"]
    assert wh.skipped == ("native-1.0-cp314-cp314-manylinux_2_17_x86_64.whl",)
    assert "not pure-Python or Pyodide wheels" in caplog.text
    # Requirements that apply in Pyodide only: the Windows marker and the extra are dropped.
    assert [str(r) for r in wh.projects["tug-rules"][0].requires] == ["tiny-helper>=2", "pytz"]
    page = wh.project_json("Tug.Rules", "http://lab:5702/")
    assert page is not None and page["name"] == "tug-rules" and page["versions"] == ["1.0", "1.2"]
    newest = house / "tug_rules-1.2-py3-none-any.whl"
    assert page["files"][0] == {"filename": newest.name, "url": f"http://lab:5702/p2p/wheels/files/{newest.name}",
                                "hashes": {"sha256": hashlib.sha256(newest.read_bytes()).hexdigest()},
                                "size": newest.stat().st_size}
    assert wh.project_json("native") is None and wh.project_json("nothing") is None


def test_a_damaged_wheel_or_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(WheelhouseError, match="is not a folder"):
        load_wheelhouse(tmp_path / "nope")
    (tmp_path / "bad-1.0-py3-none-any.whl").write_bytes(b"not a zip")
    with pytest.raises(WheelhouseError, match="bad-1.0-py3-none-any.whl is not a zip archive"):
        load_wheelhouse(tmp_path)


def test_resolve_takes_lock_packages_first_and_names_what_is_missing(house: Path) -> None:
    wh = load_wheelhouse(house)
    lock = {"pytz", "numpy", "micropip"}
    ok = resolve(wh, ["tug-rules"], lock)
    assert [w.filename for w in ok.wheels] == ["tug_rules-1.2-py3-none-any.whl", "tiny_helper-2.0-py3-none-any.whl"]
    assert ok.lock_names == ("pytz",) and ok.missing == ()
    pinned = resolve(wh, ["tug_rules==1.0"], lock)
    assert [w.filename for w in pinned.wheels] == ["tug_rules-1.0-py3-none-any.whl"]
    bad = resolve(wh, ["tug-rules", "tug-rules>=3", "absent"], set())
    assert bad.missing == ("tug-rules>=3 (packages_to_install; conflicts with tug_rules-1.2-py3-none-any.whl)",
                           "absent (packages_to_install)", "pytz (needed by tug_rules-1.2-py3-none-any.whl)")
    too_new = resolve(wh, ["tiny-helper>=3"], lock)
    assert too_new.missing == ("tiny-helper>=3 (packages_to_install; the wheelhouse has only 2.0)",)
    # A remote Pyodide's lock is not known here: unknown names are left to it.
    assert resolve(wh, ["scipy", "tug-rules"], None).missing == ()


def test_server_start_checks_scene_packages_against_lock_and_wheelhouse(house: Path, tmp_path: Path) -> None:
    needs = Needs(("tug-rules", "absent-pkg"), ())
    with pytest.raises(PyodideUnavailable) as refused:
        choose_pyodide(pyodide_dir=NODE_PYODIDE, needs=needs, wheelhouse=load_wheelhouse(house))
    text = str(refused.value)
    assert "absent-pkg (packages_to_install)" in text and "never from PyPI" in text and "pip wheel" in text
    # In both: the wheels' lock dependencies (pytz) and micropip must be in the local Pyodide.
    with pytest.raises(PyodideUnavailable) as refused:
        choose_pyodide(pyodide_dir=NODE_PYODIDE, needs=Needs(("tug-rules",), ()), wheelhouse=load_wheelhouse(house))
    assert "need the Pyodide packages micropip, pytz" in str(refused.value)
    # A remote Pyodide: only what the wheelhouse itself lists is checked.
    remote = choose_pyodide(index_url="https://lab.example/pyodide", needs=Needs(("tug-rules", "scipy"), ()),
                            wheelhouse=load_wheelhouse(house))
    assert remote.wheelhouse is not None
    with pytest.raises(PyodideUnavailable, match=r"tiny-helper>=5 \(packages_to_install; the wheelhouse has only 2.0\)"):
        choose_pyodide(cdn=True, needs=Needs(("tiny-helper>=5",), ()), wheelhouse=load_wheelhouse(house))


def test_server_serves_the_wheelhouse_as_a_simple_json_index(house: Path, tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="interactive_gym_p2p.server.app")
    scene = make_scene().pyodide(packages_to_install=["tug-rules"])
    with running_server(make_stager(scene), tmp_path, pyodide_index_url="https://lab.example/pyodide",
                        wheelhouse=house) as server:
        assert '"wheelhouse_url": "/p2p/wheels/simple/"' in get(server.url + "/someone")[2].decode()
        status, headers, body = get(server.url + "/p2p/wheels/simple/tug_rules/")
        assert status == 200 and headers["Content-Type"] == SIMPLE_JSON
        page = json.loads(body)
        assert [f["filename"] for f in page["files"]] == ["tug_rules-1.2-py3-none-any.whl", "tug_rules-1.0-py3-none-any.whl"]
        assert page["files"][0]["url"].startswith(server.url + "/p2p/wheels/files/")
        status, headers, body = get(page["files"][0]["url"])
        assert status == 200 and headers["Content-Type"] == "application/zip"
        assert hashlib.sha256(body).hexdigest() == page["files"][0]["hashes"]["sha256"]
        for path in ("/p2p/wheels/simple/native/", "/p2p/wheels/simple/absent/",
                     "/p2p/wheels/files/native-1.0-cp314-cp314-manylinux_2_17_x86_64.whl", "/p2p/wheels/files/README.txt",
                     "/p2p/wheels/files/..%2Fwheelhouse%2FREADME.txt"):
            assert get(server.url + path)[0] == 404, path
    assert "tug_rules-1.0-py3-none-any.whl" in caplog.text and "its only package index" in caplog.text
    # Without a wheelhouse: no index, and the page does not send micropip anywhere else.
    with running_server(make_stager(make_scene()), tmp_path, pyodide_index_url="https://lab.example/pyodide") as server:
        assert '"wheelhouse_url": null' in get(server.url + "/someone")[2].decode()
        assert get(server.url + "/p2p/wheels/simple/tug_rules/")[0] == 404


def test_wheelhouse_option_of_the_command_line(house: Path, tmp_path: Path) -> None:
    from interactive_gym_p2p.cli import build_parser, config_from_args

    args = build_parser().parse_args(["exp.py", "--wheelhouse", str(house), "--pyodide-cdn"])
    assert config_from_args(args).wheelhouse == house
    with pytest.raises(PyodideUnavailable, match="is not a folder"):
        create_app(make_stager(make_scene()), ServerConfig(port=0, async_mode="threading", data_dir=tmp_path,
                                                           pyodide_cdn=True, wheelhouse=tmp_path / "missing"))


def test_the_researcher_log_names_a_package_a_browser_could_not_install(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="interactive_gym_p2p.scene")
    scene = P2PGymScene().scene(scene_id="pk")
    scene.on_client_callback({"type": "p2p_status", "event": "env_load_failed", "package": "tug-rules",
                              "detail": "could not install package \"tug-rules\": ValueError: Can't fetch metadata"}, None, "room")
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "could not install package 'tug-rules' of packages_to_install" in record.getMessage()
    assert "Can't fetch metadata" in record.getMessage()
