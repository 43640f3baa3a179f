"""Exports built by the browser code from simulated sessions, stored and compared by the server code.

The node simulator (tests/js/support/sim_exports.mjs) plays a two-player game over a lossy
simulated link and writes each player's export with static/js/validation.js; the Python
ExportStore validates and stores them and writes the comparison report.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from interactive_gym_p2p.validation.storage import ExportStore, GameRecord

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "js" / "support" / "sim_exports.mjs"


def _play(out: Path, noise_at: int | None) -> list[bytes]:
    node = shutil.which("node")
    assert node, "node is required (scripts/test installs it)"
    args = [node, str(SCRIPT), str(out)] + ([] if noise_at is None else [str(noise_at)])
    subprocess.run(args, check=True, timeout=120)
    return [(out / f"export_p{i}.json").read_bytes() for i in range(2)]


def _store_and_compare(tmp_path: Path, bodies: list[bytes]) -> dict:
    store = ExportStore(tmp_path / "exports")
    store.register_game(
        GameRecord.from_info({"game_id": "simgame", "scene_id": "sim", "seed": 1, "subject_ids": ["s0", "s1"], "settings": {}})
    )
    for body in bodies:
        assert store.store_export(body).created
    report = store.comparison("simgame")
    assert report is not None, "the comparison is written once every player has uploaded"
    return report


def test_clean_game_exports_agree(tmp_path: Path) -> None:
    report = _store_and_compare(tmp_path, _play(tmp_path / "out", None))
    assert report["agree"] is True and report["status"] == "agree"
    assert report["first_divergent_frame"] is None
    assert report["complete"] is True
    assert report["hashed_frames_compared"] > 300
    for player in report["players"]:
        assert player["desyncs"] == []
        assert player["verified_frame"] == player["last_confirmed_frame"]


@pytest.mark.parametrize("noise_at", [37, 120])
def test_injected_desync_is_named_at_its_frame(tmp_path: Path, noise_at: int) -> None:
    bodies = _play(tmp_path / "out", noise_at)
    docs = [json.loads(b) for b in bodies]
    assert all(d["desyncs"][0]["frame"] == noise_at for d in docs)
    report = _store_and_compare(tmp_path, bodies)
    assert report["agree"] is False
    assert report["first_divergent_frame"] == noise_at
    for player in report["players"]:
        assert player["desyncs"][0]["frame"] == noise_at
    # Divergence explained: the field that differs in the state dumps is named.
    assert "noise" in json.dumps(report["divergence"])
