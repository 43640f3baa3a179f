"""The pinned Pyodide cache: the pin, ``fetch`` (from a local npm registry or tarball, offline),
checksums catching corrupted and stale files, and the lock resolver with a fake package
repository (no registry here serves Pyodide builds of real packages, so the package part runs
against a lock and a pure-Python wheel made here)."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from interactive_gym_p2p.pyodide import cache, pin
from interactive_gym_p2p.pyodide.cli import main as pyodide_main
from interactive_gym_p2p.downloads import DownloadError
from interactive_gym_p2p.pyodide.lock import (LockError, Needs, imported_modules, parse_lock, requirement_name, resolve,
                                              resolve_needs)
from interactive_gym_p2p.pyodide.packages import fetch_packages
from interactive_gym_p2p.server.pyodide import CDN_INDEX_URL, PyodideUnavailable, choose_pyodide

from pyodide_support import FileServer, LocalRegistry, pinned_tarball

ROOT = Path(__file__).resolve().parent.parent
NODE_PYODIDE = ROOT / "node_modules" / "pyodide"


@pytest.fixture(scope="module")
def tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return pinned_tarball(tmp_path_factory.mktemp("npm"))


def fetch(*args: str) -> int:
    return pyodide_main(["fetch", *args])


# ---------------------------------------------------------------------------- the pin


def test_pin_matches_package_json_lock_and_node_modules() -> None:
    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert package["devDependencies"]["pyodide"] == pin.VERSION
    entry = lock["packages"]["node_modules/pyodide"]
    assert (entry["version"], entry["integrity"]) == (pin.VERSION, pin.TARBALL_INTEGRITY)
    # npm ci unpacks the same bytes: the clone's node_modules/pyodide passes the same check.
    seen = cache.inspect(NODE_PYODIDE)
    assert seen.ok and seen.version == pin.VERSION, seen.problems
    assert {"pyodide.mjs", "pyodide.asm.wasm", "python_stdlib.zip", "pyodide-lock.json"} <= set(pin.FILES)
    # The client's own fallback and the server's CDN URL name the same version.
    assert f"/v{pin.VERSION}/" in CDN_INDEX_URL
    assert f"/v{pin.VERSION}/" in (ROOT / "static" / "js" / "env_pyodide.js").read_text()


def test_tarball_from_npm_cache_has_the_pinned_integrity(tarball: Path) -> None:
    import base64

    assert "sha512-" + base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode() == pin.TARBALL_INTEGRITY


# ---------------------------------------------------------------------------- fetch


def test_fetch_from_a_local_registry_fills_the_cache_once(tarball: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "cache"
    with LocalRegistry(tarball) as registry:
        assert fetch("--dir", str(root), "--registry", registry.url) == 0
        assert registry.requests == ["/pyodide", f"/pyodide/-/pyodide-{pin.VERSION}.tgz"]
        folder = root / pin.VERSION
        assert sorted(p.name for p in folder.iterdir()) == sorted(pin.FILES)  # nothing else, no .part left
        assert cache.inspect(folder).ok
        # Again: every file already matches, nothing is downloaded.
        assert fetch("--dir", str(root), "--registry", registry.url) == 0
        assert len(registry.requests) == 2
    out = capsys.readouterr().out
    assert "integrity sha512-" in out and "already in" in out
    assert pyodide_main(["verify", "--dir", str(root)]) == 0
    assert f"from the local cache {folder}" in capsys.readouterr().out
    assert pyodide_main(["where", "--dir", str(root)]) == 0
    assert capsys.readouterr().out.strip() == str(folder)


def test_fetch_from_a_tarball_file(tarball: Path, tmp_path: Path) -> None:
    assert fetch("--dir", str(tmp_path), "--tarball", str(tarball)) == 0
    assert cache.inspect(tmp_path / pin.VERSION).ok


def test_a_tampered_tarball_or_registry_is_refused(tarball: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "pyodide-bad.tgz"
    data = bytearray(tarball.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    root = tmp_path / "cache"
    assert fetch("--dir", str(root), "--tarball", str(bad)) == 1
    assert "does not match its pinned SHA512" in capsys.readouterr().err
    assert not (root / pin.VERSION / "pyodide.mjs").exists()
    assert not list(root.rglob("*.part"))
    # A registry that announces another tarball is refused before anything is downloaded.
    with LocalRegistry(tarball, integrity="sha512-" + "A" * 86 + "==") as registry:
        assert fetch("--dir", str(root), "--registry", registry.url) == 1
        assert registry.requests == ["/pyodide"]
    assert "but this package pins" in capsys.readouterr().err


def test_unreachable_registry_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with LocalRegistry(tmp_path / "absent.tgz") as registry:
        url = registry.url
    assert fetch("--dir", str(tmp_path), "--registry", url) == 1
    assert f"cannot reach {url}pyodide" in capsys.readouterr().err


# ---------------------------------------------------------------------------- checks


def test_a_corrupted_cached_file_is_detected_by_its_checksum_and_repaired(tarball: Path, tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert fetch("--dir", str(tmp_path), "--tarball", str(tarball)) == 0
    wasm = tmp_path / pin.VERSION / "pyodide.asm.wasm"
    data = bytearray(wasm.read_bytes())
    data[1000] ^= 0x01  # same size: only the checksum can tell
    wasm.write_bytes(bytes(data))
    cache.forget_checksums()  # as a fresh server process would
    seen = cache.inspect(tmp_path / pin.VERSION)
    assert seen.problems == ("pyodide.asm.wasm does not match its pinned SHA-256 (corrupted or changed)",)
    with pytest.raises(PyodideUnavailable) as refused:
        choose_pyodide(pyodide_dir=tmp_path)
    assert "pyodide.asm.wasm does not match its pinned SHA-256" in str(refused.value)
    assert f"python -m interactive_gym_p2p.pyodide fetch --dir {tmp_path}" in str(refused.value)
    capsys.readouterr()
    assert pyodide_main(["verify", "--dir", str(tmp_path)]) == 1
    assert "pyodide.asm.wasm" in capsys.readouterr().err
    assert fetch("--dir", str(tmp_path), "--tarball", str(tarball)) == 0
    assert "repairing: pyodide.asm.wasm" in capsys.readouterr().out
    cache.forget_checksums()
    assert cache.inspect(tmp_path / pin.VERSION).ok


def test_a_missing_file_is_named(tarball: Path, tmp_path: Path) -> None:
    assert fetch("--dir", str(tmp_path), "--tarball", str(tarball)) == 0
    (tmp_path / pin.VERSION / "python_stdlib.zip").unlink()
    with pytest.raises(PyodideUnavailable, match="python_stdlib.zip is missing"):
        choose_pyodide(pyodide_dir=tmp_path)


def _fake_version(folder: Path, version: str) -> None:
    folder.mkdir(parents=True)
    (folder / "pyodide.mjs").write_text("export {};\n")
    (folder / "package.json").write_text(json.dumps({"name": "pyodide", "version": version}))


def test_a_stale_cache_is_named_with_both_versions(tmp_path: Path) -> None:
    _fake_version(tmp_path / "0.27.0", "0.27.0")
    with pytest.raises(PyodideUnavailable) as refused:
        choose_pyodide(pyodide_dir=tmp_path)
    text = str(refused.value)
    assert f"holds only Pyodide 0.27.0" in text and f"pins {pin.VERSION}" in text and "stale" in text
    assert f"python -m interactive_gym_p2p.pyodide fetch --dir {tmp_path}" in text
    # A folder given directly that holds another version.
    with pytest.raises(PyodideUnavailable, match=rf"holds Pyodide 0\.27\.0, but .* pins Pyodide {pin.VERSION}"):
        choose_pyodide(pyodide_dir=tmp_path / "0.27.0")


def test_nothing_local_refuses_naming_the_fetch_command_and_the_alternatives(tmp_path: Path) -> None:
    with pytest.raises(PyodideUnavailable) as refused:
        choose_pyodide(pyodide_dir=tmp_path / "empty")
    text = str(refused.value)
    assert f"python -m interactive_gym_p2p.pyodide fetch --dir {tmp_path / 'empty'}" in text
    assert "--pyodide-index-url" in text and "--pyodide-cdn" in text


def test_default_root_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.CACHE_ENV, str(tmp_path / "r"))
    assert cache.default_root() == tmp_path / "r"
    assert cache.fetch_command(tmp_path / "r") == "python -m interactive_gym_p2p.pyodide fetch"
    monkeypatch.delenv(cache.CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.default_root() == tmp_path / "xdg" / "interactive-gym-p2p" / "pyodide"


# ---------------------------------------------------------------------------- the lock and packages


def make_wheel(folder: Path, name: str, version: str, module_source: str) -> Path:
    """A minimal pure-Python wheel (what micropip and Pyodide's loader unpack)."""
    dist = f"{name}-{version}"
    path = folder / f"{dist}-py3-none-any.whl"
    files = {
        f"{name}/__init__.py": module_source,
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{n},,\n" for n in files) + f"{dist}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as zf:
        for n, text in files.items():
            zf.writestr(n, text)
        zf.writestr(f"{dist}.dist-info/RECORD", record)
    return path


@pytest.fixture
def fake_repository(tmp_path: Path) -> tuple[Path, dict]:
    """A folder laid out like Pyodide's package repository: two wheels and their lock."""
    repo = tmp_path / "repo"
    repo.mkdir()
    dep = make_wheel(repo, "tinydep", "1.0", "VALUE = 41\n")
    top = make_wheel(repo, "tinypkg", "2.0", "from tinydep import VALUE\nANSWER = VALUE + 1\n")
    sha = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (dep, top)}
    lock = {"info": {"python": "3.14"}, "packages": {
        "tinydep": {"name": "tinydep", "version": "1.0", "file_name": dep.name, "sha256": sha[dep.name],
                    "depends": [], "imports": ["tinydep"], "install_dir": "site", "package_type": "package"},
        "tinypkg": {"name": "tinypkg", "version": "2.0", "file_name": top.name, "sha256": sha[top.name],
                    "depends": ["tinydep"], "imports": ["tinypkg"], "install_dir": "site", "package_type": "package"},
        "micropip": {"name": "micropip", "version": "0.11.1", "file_name": "micropip-0.11.1-py3-none-any.whl",
                     "sha256": "0" * 64, "depends": [], "imports": ["micropip"]},
    }}
    (repo / "pyodide-lock.json").write_text(json.dumps(lock))
    return repo, lock


def test_lock_resolves_listed_and_imported_packages_with_dependencies(fake_repository) -> None:
    _repo, data = fake_repository
    lock = parse_lock(data)
    assert [p.name for p in resolve(lock, ["TinyPkg"])] == ["tinydep", "tinypkg"]
    listed = resolve_needs(lock, Needs(packages=("tinypkg>=2", "requests", "https://x.test/y-1-py3-none-any.whl")))
    assert [p.name for p in listed.packages] == ["micropip", "tinydep", "tinypkg"]  # micropip installs listed ones
    assert listed.not_in_lock == ("requests", "https://x.test/y-1-py3-none-any.whl")
    imported = resolve_needs(lock, Needs(sources=("import json\ndef f():\n    from tinypkg.sub import x\n",)))
    assert [p.name for p in imported.packages] == ["tinydep", "tinypkg"]
    assert resolve_needs(lock, Needs(sources=("import random\n",))).packages == ()
    with pytest.raises(LockError, match="no package 'absent'"):
        resolve(lock, ["absent"])
    assert requirement_name("Foo_Bar[x]==1.0") == "foo-bar" and requirement_name("emfs:/w.whl") is None
    assert imported_modules("import a.b, c\nfrom d.e import f\nfrom . import g\n") == {"a", "c", "d"}
    with pytest.raises(LockError, match="outside its folder"):
        parse_lock({"packages": {"x": {"file_name": "../x.whl", "sha256": "0"}}})


def test_packages_come_from_the_repository_checked_by_the_lock(fake_repository, tmp_path: Path) -> None:
    repo, data = fake_repository
    lock = parse_lock(data)
    wanted = resolve(lock, ["tinypkg"])
    folder = tmp_path / "cache"
    with FileServer(repo) as server:
        assert fetch_packages(folder, wanted, server.url, log=lambda _m: None) == ["tinydep", "tinypkg"]
        assert sorted(server.requests) == sorted(f"/{p.file_name}" for p in wanted)
    for p in wanted:
        assert hashlib.sha256((folder / p.file_name).read_bytes()).hexdigest() == p.sha256
        assert zipfile.ZipFile(folder / p.file_name).testzip() is None
    # A local copy of the repository (a release unpacked on disk) works the same.
    folder2 = tmp_path / "cache2"
    assert fetch_packages(folder2, wanted, str(repo), log=lambda _m: None) == ["tinydep", "tinypkg"]
    # A repository file that differs from the lock is refused and never lands in the cache.
    (repo / wanted[0].file_name).write_bytes(b"not the wheel the lock names")
    folder3 = tmp_path / "cache3"
    with pytest.raises(DownloadError, match="does not match its pinned SHA256"):
        fetch_packages(folder3, wanted, str(repo), log=lambda _m: None)
    assert not (folder3 / wanted[0].file_name).exists() and not list(folder3.glob("*.part"))


def test_fetch_experiment_asks_the_repository_for_what_its_scenes_need(tarball: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    experiment = tmp_path / "experiment.py"
    experiment.write_text(
        "import sys\nsys.path.insert(0, %r)\n"
        "from server_harness import ENV_CODE, make_scene, make_stager\n"
        "stager = make_stager(make_scene('a').pyodide(packages_to_install=['six']),\n"
        "                     make_scene('b').pyodide(environment_initialization_code='import pytz\\n' + ENV_CODE))\n"
        % str(ROOT / "tests"))
    root = tmp_path / "cache"
    assert fetch("--dir", str(root), "--tarball", str(tarball)) == 0
    lock = cache.inspect(root / pin.VERSION).lock
    assert lock is not None
    empty = tmp_path / "repo"
    empty.mkdir()
    with FileServer(empty) as repository:  # holds nothing: every package request is a 404
        assert fetch("--pyodide-dir", str(root), "--experiment", str(experiment), "--package-index", repository.url) == 1
    # listed (six) and imported (pytz) packages, with micropip for the listed one, in name order
    assert repository.requests == [f"/{lock.packages['micropip'].file_name}"]
    assert "HTTP 404" in capsys.readouterr().err
    from interactive_gym_p2p.server.experiment import load_experiment, resolve_experiment
    from interactive_gym_p2p.server.pyodide import experiment_needs

    needs = experiment_needs(load_experiment(resolve_experiment(str(experiment))))
    assert [p.name for p in resolve_needs(lock, needs).packages] == ["micropip", "pytz", "six"]
