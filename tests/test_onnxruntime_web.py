"""The pinned onnxruntime-web for hosted seats (docs/deployment.md): the pin, ``fetch`` from an npm
registry on 127.0.0.1 (tarballs built here: no internet), the shared npm tarball checks, the
lookup order, the refusal at start (only with hosted seats), and a server started with only the
cache serving what a hosting page loads."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from interactive_gym_p2p import npm_tarball
from interactive_gym_p2p.cli import main as cli_main
from interactive_gym_p2p.downloads import DownloadError
from interactive_gym_p2p.examples import tug
from interactive_gym_p2p.onnxruntime_web import local, pin
from interactive_gym_p2p.onnxruntime_web.cli import main as ort_main
from interactive_gym_p2p.server import ServerConfig, onnxruntime
from interactive_gym_p2p.server.experiment import load_experiment
from interactive_gym_p2p.server.onnxruntime import (CDN_URL, ONNXRUNTIME_URL, OnnxRuntimeUnavailable,
                                                    choose_onnxruntime, onnxruntime_for)

from pyodide_support import LocalRegistry, build_npm_tarball
from server_harness import running_server

ROOT = Path(__file__).resolve().parent.parent
NODE_DIST = ROOT / "node_modules" / "onnxruntime-web" / "dist"
FETCH = "python -m interactive_gym_p2p.onnxruntime_web fetch"


@pytest.fixture(autouse=True)
def no_user_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default cache root is a fresh folder of the test (never the machine's user cache)."""
    root = tmp_path / "user-cache"
    monkeypatch.setenv(local.CACHE_ENV, str(root))
    return root


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """An onnxruntime-web-shaped tarball built here from the clone's real dist files (plus files
    the page never loads), and its integrity."""
    files = {f"dist/{name}": (NODE_DIST / name).read_bytes() for name in pin.FILES}
    files["dist/ort.all.min.mjs"] = b"export {}; // not served"
    files["package.json"] = json.dumps({"name": "onnxruntime-web", "version": pin.VERSION}).encode()
    return build_npm_tarball(tmp_path_factory.mktemp("ort") / pin.PIN.tarball_name, files)


@pytest.fixture
def pinned_to_built(built: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """The pin, with the built tarball's integrity in place of the registry's (file checksums stay the real ones)."""
    tarball, integrity = built
    monkeypatch.setattr(pin, "PIN", dataclasses.replace(pin.PIN, integrity=integrity))
    return tarball


def registry(tarball: Path, integrity: str | None = None) -> LocalRegistry:
    return LocalRegistry(tarball, integrity or pin.PIN.integrity, package="onnxruntime-web", version=pin.VERSION)


def hosted_experiment(tmp_path: Path):
    model = tmp_path / "bot.onnx"
    model.write_bytes(b"read by the host page only")
    return tug.build_stager(num_players=2, max_steps=60, onnx_seats={1: str(model)})


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


# ---------------------------------------------------------------------------- the pin


def test_pin_matches_package_json_lock_node_modules_and_the_page() -> None:
    package = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    assert package["devDependencies"]["onnxruntime-web"] == pin.VERSION
    entry = lock["packages"]["node_modules/onnxruntime-web"]
    assert (entry["version"], entry["integrity"]) == (pin.VERSION, pin.TARBALL_INTEGRITY)
    # npm ci unpacked the same bytes: the clone's dist passes the server's check (after a bump,
    # copy these into pin.FILES).
    actual = {name: (hashlib.sha256((NODE_DIST / name).read_bytes()).hexdigest(), (NODE_DIST / name).stat().st_size)
              for name in pin.FILES}
    assert actual == pin.FILES
    assert local.problems(NODE_DIST) == ()
    assert f"${{base}}{pin.MODULE}" in (ROOT / "static" / "js" / "hosted_policy.js").read_text()
    assert f"onnxruntime-web@{pin.VERSION}/dist/" in CDN_URL and ONNXRUNTIME_URL.endswith(f"/{pin.VERSION}/")


# ---------------------------------------------------------------------------- npm_tarball (shared with Pyodide)


FAKE = {"dist/a.mjs": b"export const a = 1;\n", "dist/b.wasm": b"\0asm" + bytes(range(256)) * 40, "README.md": b"not served"}


def fake_pin(integrity: str, **changes: object) -> npm_tarball.NpmPin:
    files = {name.removeprefix("dist/"): (hashlib.sha256(body).hexdigest(), len(body))
             for name, body in FAKE.items() if name.startswith("dist/")}
    return dataclasses.replace(npm_tarball.NpmPin("fake-runtime", "2.0.1", integrity, files, tarball_dir="dist/"),
                               **changes)


def test_npm_tarball_fetches_only_the_pinned_files_through_the_registry(tmp_path: Path) -> None:
    tarball, integrity = build_npm_tarball(tmp_path / "fake-runtime-2.0.1.tgz", FAKE)
    pinned = fake_pin(integrity)
    folder = tmp_path / "out"
    with LocalRegistry(tarball, integrity, package="fake-runtime", version="2.0.1") as reg:
        npm_tarball.fetch_into(pinned, folder, registry=reg.url, log=lambda _m: None)
        assert reg.requests == ["/fake-runtime", "/fake-runtime/-/fake-runtime-2.0.1.tgz"]
    assert sorted(p.name for p in folder.iterdir()) == ["a.mjs", "b.wasm"]
    assert (folder / "b.wasm").read_bytes() == FAKE["dist/b.wasm"]
    assert npm_tarball.check_files(pinned, folder) == ()


def test_npm_tarball_refuses_a_tampered_tarball_a_lying_registry_and_a_wrong_file(tmp_path: Path) -> None:
    tarball, integrity = build_npm_tarball(tmp_path / "fake-runtime-2.0.1.tgz", FAKE)
    folder = tmp_path / "out"
    bad = tmp_path / "bad.tgz"
    data = bytearray(tarball.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(DownloadError, match="does not match its pinned SHA512"):
        npm_tarball.fetch_into(fake_pin(integrity), folder, tarball=str(bad), log=lambda _m: None)
    assert not folder.exists() or not list(folder.iterdir())
    # A registry announcing another tarball is refused before anything is downloaded.
    with LocalRegistry(tarball, "sha512-" + "A" * 86 + "==", package="fake-runtime", version="2.0.1") as reg:
        with pytest.raises(DownloadError, match="but this package pins"):
            npm_tarball.fetch_into(fake_pin(integrity), folder, registry=reg.url, log=lambda _m: None)
        assert reg.requests == ["/fake-runtime"]
    # The tarball is the pinned one but a file in it is not: refused, no partial file left.
    wrong = fake_pin(integrity, files={"a.mjs": ("0" * 64, 20), "b.wasm": fake_pin(integrity).files["b.wasm"]})
    with pytest.raises(DownloadError, match="a.mjs in fake-runtime-2.0.1.tgz does not match its pinned SHA-256"):
        npm_tarball.fetch_into(wrong, folder, tarball=str(tarball), log=lambda _m: None)
    assert not list(folder.glob("*.part")) and not (folder / "a.mjs").exists()
    # A pinned file the tarball lacks.
    with pytest.raises(DownloadError, match="has no package/dist/c.mjs"):
        npm_tarball.fetch_into(fake_pin(integrity, files={"c.mjs": ("0" * 64, 1)}), folder, tarball=str(tarball),
                               log=lambda _m: None)
    with pytest.raises(DownloadError, match="the registry .* has no fake-runtime@9.9.9"):
        with LocalRegistry(tarball, integrity, package="fake-runtime", version="2.0.1") as reg:
            npm_tarball.fetch_into(fake_pin(integrity, version="9.9.9"), folder, registry=reg.url, log=lambda _m: None)


# ---------------------------------------------------------------------------- fetch


def test_fetch_fills_the_cache_once_from_a_registry(pinned_to_built: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "cache"
    with registry(pinned_to_built) as reg:
        assert ort_main(["fetch", "--dir", str(root), "--registry", reg.url]) == 0
        assert reg.requests == ["/onnxruntime-web", f"/onnxruntime-web/-/onnxruntime-web-{pin.VERSION}.tgz"]
        folder = root / pin.VERSION
        assert sorted(p.name for p in folder.iterdir()) == sorted(pin.FILES)  # only what the page loads
        assert ort_main(["fetch", "--dir", str(root), "--registry", reg.url]) == 0
        assert len(reg.requests) == 2, "every file already matched: nothing downloaded again"
    out = capsys.readouterr().out
    assert "integrity sha512-" in out and "already in" in out
    assert ort_main(["verify", "--dir", str(root)]) == 0
    assert f"from the local cache {folder}" in capsys.readouterr().out
    assert ort_main(["where", "--dir", str(root)]) == 0
    assert capsys.readouterr().out.strip() == str(folder)


def test_fetch_refuses_a_tarball_that_is_not_the_pinned_one(built: tuple[Path, str], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    tarball, _integrity = built  # the real pin: this tarball (built here) is not the registry's
    root = tmp_path / "cache"
    assert ort_main(["fetch", "--dir", str(root), "--tarball", str(tarball)]) == 1
    assert "does not match its pinned SHA512" in capsys.readouterr().err
    assert not (root / pin.VERSION / pin.MODULE).exists() and not list(root.rglob("*.part"))
    with registry(tarball, integrity="sha512-" + "A" * 86 + "==") as reg:
        assert ort_main(["fetch", "--dir", str(root), "--registry", reg.url]) == 1
        assert reg.requests == ["/onnxruntime-web"]
    assert "but this package pins" in capsys.readouterr().err


def test_a_corrupted_cached_file_refuses_the_start_and_fetch_repairs_it(pinned_to_built: Path, tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "cache"
    assert ort_main(["fetch", "--dir", str(root), "--tarball", str(pinned_to_built)]) == 0
    wasm = root / pin.VERSION / "ort-wasm-simd-threaded.wasm"
    data = bytearray(wasm.read_bytes())
    data[1000] ^= 0x01  # same size: only the checksum can tell
    wasm.write_bytes(bytes(data))
    npm_tarball.forget_checksums()  # as a fresh server process would
    with pytest.raises(OnnxRuntimeUnavailable) as refused:
        choose_onnxruntime(onnxruntime_dir=root)
    assert "ort-wasm-simd-threaded.wasm does not match its pinned SHA-256" in str(refused.value)
    assert f"{FETCH} --dir {root}" in str(refused.value)
    capsys.readouterr()
    assert ort_main(["verify", "--dir", str(root)]) == 1
    assert "ort-wasm-simd-threaded.wasm" in capsys.readouterr().err
    assert ort_main(["fetch", "--dir", str(root), "--tarball", str(pinned_to_built)]) == 0
    assert "repairing: ort-wasm-simd-threaded.wasm" in capsys.readouterr().out
    npm_tarball.forget_checksums()
    assert local.problems(root / pin.VERSION) == ()


# ---------------------------------------------------------------------------- lookup and refusal


def _cache_copy(root: Path) -> Path:
    folder = root / pin.VERSION
    folder.mkdir(parents=True)
    for name in pin.FILES:
        (folder / name).write_bytes((NODE_DIST / name).read_bytes())
    return folder


def test_lookup_order_explicit_dir_then_user_cache_then_node_modules(tmp_path: Path, no_user_cache: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing in the user cache: the clone's node_modules (beside the package) is used.
    source = choose_onnxruntime()
    assert (source.kind, source.folder, source.url) == ("local", NODE_DIST.resolve(), ONNXRUNTIME_URL)
    # The user cache comes before node_modules.
    cached = _cache_copy(no_user_cache)
    assert choose_onnxruntime().folder == cached.resolve()
    assert "the local cache" in choose_onnxruntime().description
    # An explicit dir is the only place looked at: an empty one refuses although both exist.
    empty = tmp_path / "empty"
    with pytest.raises(OnnxRuntimeUnavailable) as refused:
        choose_onnxruntime(onnxruntime_dir=empty)
    message = str(refused.value)
    assert f"{FETCH} --dir {empty}" in message and "--onnxruntime-cdn" in message and str(empty) in message
    # A folder holding the files itself (node_modules/onnxruntime-web/dist) also works as the dir.
    assert choose_onnxruntime(onnxruntime_dir=NODE_DIST).kind == "local"
    # Nothing anywhere: the plain fetch command (the default root needs no option).
    monkeypatch.setattr(onnxruntime, "_search_paths", lambda: (tmp_path,))
    (cached / pin.MODULE).unlink()
    with pytest.raises(OnnxRuntimeUnavailable) as refused:
        choose_onnxruntime()
    assert f"Fetch the pinned onnxruntime-web once with:  {FETCH}\n" in str(refused.value)
    assert str(tmp_path / "node_modules" / "onnxruntime-web" / "dist") in str(refused.value)


def test_a_stale_cache_is_named(tmp_path: Path) -> None:
    old = tmp_path / "1.20.0"
    old.mkdir()
    (old / pin.MODULE).write_text("export {};\n")
    with pytest.raises(OnnxRuntimeUnavailable, match=f"holds only onnxruntime-web 1.20.0: .* pins {pin.VERSION}"):
        choose_onnxruntime(onnxruntime_dir=tmp_path)


def test_only_hosted_seats_need_it_and_url_or_cdn_are_used_only_when_given(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    hosted = load_experiment(hosted_experiment(tmp_path), base_dir=tmp_path)
    plain = load_experiment(tug.build_stager(num_players=2, max_steps=60), base_dir=tmp_path)
    assert onnxruntime_for(ServerConfig(onnxruntime_dir=empty), plain) is None, "no hosted seats: nothing looked for"
    with pytest.raises(OnnxRuntimeUnavailable, match="A scene has hosted seats"):
        onnxruntime_for(ServerConfig(onnxruntime_dir=empty), hosted)
    cdn = onnxruntime_for(ServerConfig(onnxruntime_dir=empty, onnxruntime_cdn=True), hosted)
    assert cdn is not None and (cdn.kind, cdn.url, cdn.folder) == ("cdn", CDN_URL, None)
    own = onnxruntime_for(ServerConfig(onnxruntime_dir=empty, onnxruntime_url="https://lab.example/ort"), hosted)
    assert own is not None and (own.kind, own.url) == ("url", "https://lab.example/ort/")
    with pytest.raises(ValueError, match="give one"):
        ServerConfig(onnxruntime_cdn=True, onnxruntime_url="https://lab.example/ort").check()


def test_the_server_refuses_to_start_naming_the_fetch_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    model = tmp_path / "bot.onnx"
    model.write_bytes(b"x")
    experiment = tmp_path / "experiment.py"
    experiment.write_text("from interactive_gym_p2p.examples import tug\n"
                          f"stager = tug.build_stager(num_players=2, max_steps=60, onnx_seats={{1: {str(model)!r}}})\n")
    empty = tmp_path / "empty"
    assert cli_main([str(experiment), "--onnxruntime-dir", str(empty), "--port", "0", "--turn", "none",
                     "--data-dir", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("interactive-gym-p2p: A scene has hosted seats")
    assert f"{FETCH} --dir {empty}" in err
    with pytest.raises(SystemExit):  # argparse: one or the other
        cli_main([str(experiment), "--onnxruntime-cdn", "--onnxruntime-url", "https://x/"])


# ---------------------------------------------------------------------------- served


def test_a_server_with_only_the_cache_serves_what_the_hosting_page_loads(pinned_to_built: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "cache"
    assert ort_main(["fetch", "--dir", str(root), "--tarball", str(pinned_to_built)]) == 0
    # No node_modules anywhere the server looks: only the fetched cache.
    monkeypatch.setattr(onnxruntime, "_search_paths", lambda: ())
    caplog.set_level(logging.INFO, logger="interactive_gym_p2p.server.app")
    with running_server(hosted_experiment(tmp_path), tmp_path, onnxruntime_dir=root) as server:
        page = get(server.url + "/someone")[2].decode()
        assert f'"onnxruntime_url": "{ONNXRUNTIME_URL}"' in page
        for name, ctype in ((pin.MODULE, "text/javascript"), ("ort-wasm-simd-threaded.mjs", "text/javascript"),
                            ("ort-wasm-simd-threaded.wasm", "application/wasm")):
            status, headers, body = get(server.url + ONNXRUNTIME_URL + name)
            assert status == 200 and headers["Content-Type"].startswith(ctype), (name, status, headers)
            assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
            assert body == (NODE_DIST / name).read_bytes()
        for path in ("ort.all.min.mjs", "..%2Fort.wasm.min.mjs", "sub/ort.wasm.min.mjs"):
            assert get(server.url + ONNXRUNTIME_URL + path)[0] in (400, 404), path
        assert get(server.url + "/p2p/onnxruntime/1.20.0/" + pin.MODULE)[0] == 404
    logged = [r.getMessage() for r in caplog.records if "onnxruntime-web" in r.getMessage()]
    assert logged == [f"onnxruntime-web (pinned {pin.VERSION}) for hosted seats' host pages: the local cache "
                      f"{root / pin.VERSION} (3 files checked against the pin), served at {ONNXRUNTIME_URL}"], logged
