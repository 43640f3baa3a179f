"""The researcher's own package, offline: a pure-Python wheel built here (``pip wheel``) sits in
the server's wheelhouse; each Chromium participant's micropip installs it from the experiment's
own server (its only package index), the environment imports it, and the game agrees.

Pyodide's core comes from node_modules/pyodide; micropip is the PyPI wheel of the version the
pinned lock names (Pyodide's own build of it is on Pyodide's CDN only), so the pages load a
test copy of the Pyodide folder whose lock names that wheel (``--pyodide-folder``)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from harness.game import REPO, play_to_end, read_json, start_pair, wait_for_files
from harness.session import BrowserSession
from harness.wheels import micropip_wheel, pip_wheel

pytestmark = pytest.mark.e2e

MAX_STEPS = 90
EXPERIMENT = "harness.wheelhouse_experiment:build_stager"
LABEL = "tug-rules 1.0 (wheelhouse)"
RULES = f"LABEL = {LABEL!r}\n\n\ndef push(right):\n    return 6 if right else -6\n"


def pyodide_folder(dest: Path, micropip: Path) -> Path:
    """node_modules/pyodide's core with a lock whose micropip entry is the PyPI wheel."""
    core = REPO / "node_modules" / "pyodide"
    dest.mkdir(parents=True)
    for f in core.iterdir():
        if f.is_file() and f.name != "pyodide-lock.json":
            (dest / f.name).symlink_to(f)
    lock = json.loads((core / "pyodide-lock.json").read_text(encoding="utf-8"))
    lock["packages"]["micropip"].update(file_name=micropip.name, sha256=hashlib.sha256(micropip.read_bytes()).hexdigest())
    (dest / "pyodide-lock.json").write_text(json.dumps(lock), encoding="utf-8")
    (dest / micropip.name).symlink_to(micropip)
    return dest


def test_wheel_from_the_wheelhouse_is_imported_in_both_browsers(game_server, chromium_available, artifacts_dir,
                                                               request, tmp_path):
    wheelhouse = tmp_path / "wheelhouse"
    wheel = pip_wheel(tmp_path, wheelhouse, "tug_rules", "1.0", RULES)
    folder = pyodide_folder(tmp_path / "pyodide", micropip_wheel(REPO / ".cache" / "test-wheels"))
    server = game_server({"max_steps": MAX_STEPS, "ice_transport_policy": "relay"}, experiment=EXPERIMENT,
                         extra_args=("--wheelhouse", str(wheelhouse), "--pyodide-folder", str(folder)))

    async def scenario() -> list[dict[str, Any]]:
        async with BrowserSession(request.node.nodeid, artifacts_dir) as session:
            pair = await start_pair(session, server, "wheel")
            return await play_to_end(pair, keys=(["ArrowRight"], ["ArrowLeft", "ArrowRight"]), frames_per_key=10)

    snaps = asyncio.run(scenario())
    (game_id,) = {s["p2p"]["gameId"] for s in snaps}
    folder_out = server.game_dir(game_id)
    files = [folder_out / f"player-{i}.json" for i in range(2)]
    wait_for_files([*files, folder_out / "comparison.json"], 20, "both exports and the comparison report")
    exports = [read_json(f) for f in files]
    report = read_json(folder_out / "comparison.json")
    assert report["agree"] is True and report["complete"] is True, report.get("divergence")
    assert report["hashed_frames_compared"] == MAX_STEPS
    for ex in exports:
        (episode,) = ex["episodes"]
        assert len(episode["frames"]) == MAX_STEPS and ex["desyncs"] == []
        # The environment ran the wheel's code in this browser: its label is in the recorded info.
        assert episode["infos"][0][1] == {"rules": [LABEL, LABEL]}, episode["infos"][:1]
    assert exports[0]["episodes"][0]["frames"] == exports[1]["episodes"][0]["frames"]
    log = server.log()
    assert f"wheelhouse {wheelhouse.resolve()}: {wheel.name} served" in log, log[-3000:]
