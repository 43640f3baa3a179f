"""``python -m interactive_gym_p2p.exports``: list, download, validate, compare, verify, as a
researcher runs it (a real process, against a real server or a data directory)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from interactive_gym_p2p.validation.sample import make_game_exports
from interactive_gym_p2p.validation.storage import ExportStore
from interactive_gym_p2p.validation.tokens import UploadTokens

from validation_helpers import RESEARCHER_TOKEN, ROOT, UPLOAD_SECRET, ServerProcess, dumps, played_exports, post_export


def cli(*args: str, token: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IGP2P_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests")])
    if token is not None:
        env["IGP2P_RESEARCHER_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "interactive_gym_p2p.exports", *args],
        capture_output=True, text=True, env=env, cwd=cwd or ROOT, timeout=120,
    )


@pytest.fixture()
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, doc in [("a", make_game_exports(diverge_at=40)[0]), ("b", make_game_exports(diverge_at=40)[1]),
                      ("c", make_game_exports()[1])]:
        out[name] = tmp_path / f"{name}.json"
        out[name].write_bytes(dumps(doc))
    broken = make_game_exports()[0]
    broken["episodes"][0]["frames"][3][1] = [1]
    out["broken"] = tmp_path / "broken.json"
    out["broken"].write_bytes(dumps(broken))
    return out


def test_validate(files: dict[str, Path]) -> None:
    ok = cli("validate", str(files["a"]), str(files["b"]))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "valid export of game game-1 player 0 (1 episode(s), 300 confirmed frames, 1 desync(s))" in ok.stdout
    bad = cli("validate", str(files["a"]), str(files["broken"]))
    assert bad.returncode == 1
    assert "broken.json: INVALID" in bad.stdout and "$.episodes[0].frames[3][1]" in bad.stdout
    ref = cli("validate", "--reference", str(files["broken"]))
    assert ref.returncode == 1 and "$.episodes[0].frames[3][1]" in ref.stdout
    missing = cli("validate", str(files["a"].with_name("nope.json")))
    assert missing.returncode == 3 and "nope.json" in missing.stderr


def test_compare_files(files: dict[str, Path], tmp_path: Path) -> None:
    diverged = cli("compare", str(files["a"]), str(files["b"]), "-o", str(tmp_path / "report.json"))
    assert diverged.returncode == 1
    assert "first divergent frame: 40" in diverged.stdout
    assert "$.players[0][1]: player 0: 20, player 1: 21" in diverged.stdout
    assert json.loads((tmp_path / "report.json").read_text())["first_divergent_frame"] == 40
    # Player 0 of the diverged game saw the same frames as player 1 of a clean one: they agree,
    # and player 0's desync event (against its own peer) is still listed.
    agree = cli("compare", str(files["a"]), str(files["c"]))
    assert agree.returncode == 0, agree.stdout
    assert "AGREE" in agree.stdout and "player 0 saw 1 desync(s) at frames [40]" in agree.stdout
    report = json.loads(cli("compare", str(files["a"]), str(files["c"]), "--json").stdout)
    assert report["verified_frame"] == 299 and report["first_divergent_frame"] is None


def test_list_and_compare_a_data_directory(tmp_path: Path) -> None:
    store = ExportStore(tmp_path / "data")
    for doc in make_game_exports("dir-1"):
        store.store_export(dumps(doc))
    out = cli("list", "--data-dir", str(tmp_path / "data"))
    assert out.returncode == 0, out.stderr
    assert "dir-1" in out.stdout and "agree" in out.stdout and "2/2" in out.stdout
    listed = json.loads(cli("list", "--data-dir", str(tmp_path / "data"), "--json").stdout)
    assert listed[0]["verified_frame"] == 299
    same = cli("compare", "--data-dir", str(tmp_path / "data"), "--game", "dir-1")
    assert same.returncode == 0 and "AGREE" in same.stdout
    assert cli("list", "--data-dir", str(tmp_path / "nowhere")).returncode == 3


def test_list_and_download_from_a_running_server(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    tokens = UploadTokens(UPLOAD_SECRET)
    try:
        docs = make_game_exports("srv-1")
        for d in docs:
            ids = d["ids"]
            assert post_export(server, "srv-1", ids["player_index"], dumps(d), tokens.issue("srv-1", ids["player_index"], ids["subject_id"]))[0] == 201
        listed = cli("list", "--server", server.url, token=RESEARCHER_TOKEN)
        assert listed.returncode == 0, listed.stderr
        assert "srv-1" in listed.stdout and "agree" in listed.stdout
        denied = cli("list", "--server", server.url, token="not-the-token-at-all")
        assert denied.returncode == 3 and "HTTP 403" in denied.stderr
        assert cli("list", "--server", server.url).returncode == 3  # no token at all
        (tmp_path / "token.txt").write_text(RESEARCHER_TOKEN + "\n")
        one = cli("download", "--server", server.url, "--game", "srv-1", "--player", "1", "--token-file", str(tmp_path / "token.txt"), cwd=tmp_path)
        assert one.returncode == 0, one.stderr
        assert (tmp_path / "srv-1-player-1.json").read_bytes() == dumps(docs[1])
        game = cli("download", "--server", server.url, "--game", "srv-1", "-o", str(tmp_path / "g.zip"), token=RESEARCHER_TOKEN)
        assert game.returncode == 0 and "games/srv-1/comparison.json" in zipfile.ZipFile(tmp_path / "g.zip").namelist()
        everything = cli("download", "--server", server.url, token=RESEARCHER_TOKEN, cwd=tmp_path)
        assert everything.returncode == 0
        assert "games/srv-1/player-0.json" in zipfile.ZipFile(tmp_path / "validation-exports.zip").namelist()
        assert not list(tmp_path.glob("*.part"))
    finally:
        server.stop()
    gone = cli("list", "--server", server.url, token=RESEARCHER_TOKEN)
    assert gone.returncode == 3 and "error:" in gone.stderr


def test_verify(tmp_path: Path) -> None:
    doc = played_exports()[0]
    path = tmp_path / "export.json"
    path.write_bytes(dumps(doc))
    ok = cli("verify", str(path), "--env", "validation_helpers:make_drift_env", "--seed", "77")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "REPRODUCED: 80 frame hashes over 80 frames in 2 episode(s) match" in ok.stdout
    # The replay options: agent ids in player order, the scene's step code (a file).
    code = tmp_path / "step.py"
    code.write_text("pass\n")
    with_options = cli("verify", str(path), "--env", "validation_helpers:make_drift_env", "--agents", "0,1",
                       "--on-game-step-code", str(code))
    assert with_options.returncode == 0 and "REPRODUCED" in with_options.stdout, with_options.stdout + with_options.stderr
    missing = cli("verify", str(path), "--env", "validation_helpers:make_drift_env", "--on-game-step-code", str(tmp_path / "no.py"))
    assert missing.returncode == 3 and "--on-game-step-code" in missing.stderr, missing.stderr
    doc["episodes"][1]["frames"][7][2] = "ffffffffffffffff"
    path.write_bytes(dumps(doc))
    bad = cli("verify", str(path), "--env", "validation_helpers:make_drift_env")
    assert bad.returncode == 1
    assert "NOT REPRODUCED: frame 47 (episode 1)" in bad.stdout and "the export says ffffffffffffffff" in bad.stdout
    assert cli("verify", str(path), "--env", "no_such_module:x").returncode == 3
