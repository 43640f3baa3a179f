"""The Python peer (aiortc, interactive_gym_p2p.peer) and a Chromium participant in one game.

The demo experiment with the scene's ice_transport_policy 'relay' and the embedded TURN
server; the Chromium page waits in the waitroom, the Python peer (its own process, seeded
random actions) joins through the same participant flow and signaling. Both must confirm the
same actions and the same state hash on every frame, both exports reach the server and its
comparison report agrees on every frame.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from harness.game import LOAD_TIMEOUT_S, REPO, open_participant, read_json, wait_for_files
from harness.session import BrowserSession

pytestmark = pytest.mark.e2e

PEER_SCRIPT = Path(__file__).resolve().parent / "harness" / "python_peer.py"
NUM_EPISODES = 2
MAX_STEPS = 150
PEER_TIMEOUT_S = 150


def rows(export: dict[str, Any]) -> list[list[Any]]:
    return [row for ep in export["episodes"] for row in ep["frames"]]


async def run_python_peer(url: str, subject: str, out: Path, log: Path) -> asyncio.subprocess.Process:
    """The peer's output goes to a file (a pipe nobody reads while the game runs could fill)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
    with log.open("wb") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable, str(PEER_SCRIPT), "--url", url, "--subject", subject, "--out", str(out),
            "--timeout", str(PEER_TIMEOUT_S), stdin=asyncio.subprocess.DEVNULL, stdout=sink,
            stderr=asyncio.subprocess.STDOUT, env=env)


@asynccontextmanager
async def python_partner(browser: Any, url: str, subject: str, out: Path, log: Path, artifacts_dir: Path,
                         timeout_s: float) -> AsyncIterator[asyncio.subprocess.Process]:
    """The browser (past its start scenes) waits in the waitroom, then the Python peer joins as
    its partner; the body plays the game. After the body the peer must exit with 0 within
    ``timeout_s``; should anything fail, the peer is killed and its log kept with the artifacts."""
    await browser.wait("(window.__phaseLog || []).some(e => e.phase === 'waiting')", LOAD_TIMEOUT_S, "waitroom")
    peer = await run_python_peer(url, subject, out, log)
    try:
        await browser.wait("p.phase === 'playing'", LOAD_TIMEOUT_S, "game started with the Python peer")
        yield peer
        await asyncio.wait_for(peer.wait(), timeout_s)
    except BaseException:
        if peer.returncode is None:
            peer.kill()
            await peer.wait()
        artifacts_dir.mkdir(parents=True, exist_ok=True)
        (artifacts_dir / f"{subject}-peer.log").write_bytes(log.read_bytes())
        raise
    assert peer.returncode == 0, f"Python peer failed (exit {peer.returncode}):\n{log.read_text(errors='replace')[-4000:]}"


def test_python_peer_and_chromium_agree_frame_by_frame(game_server, chromium_available, artifacts_dir, request, tmp_path):
    server = game_server({"num_episodes": NUM_EPISODES, "max_steps": MAX_STEPS, "ice_transport_policy": "relay"})
    out = tmp_path / "peer-result.json"
    peer_log = tmp_path / "peer.log"

    async def scenario() -> None:
        async with BrowserSession(request.node.nodeid, artifacts_dir) as session:
            browser = await open_participant(session, server.url, 0, "interop-browser")
            await browser.advance_to_game(LOAD_TIMEOUT_S)
            async with python_partner(browser, server.url, "interop-python", out, peer_log, artifacts_dir, PEER_TIMEOUT_S):
                await browser.press_keys_while_playing(["ArrowUp", "ArrowRight", "ArrowDown", "ArrowLeft"],
                                                       timeout_s=PEER_TIMEOUT_S)
                snap = await browser.finish()
            check(server, snap["p2p"], read_json(out), peer_log.read_text(errors="replace"))

    asyncio.run(scenario())


def check(server, p: dict[str, Any], result: dict[str, Any], peer_log: str) -> None:
    assert result["game_id"] == p["gameId"], (result["game_id"], p["gameId"])
    assert result["upload"] and result["upload"]["ok"], f"Python peer's upload: {result['upload']}\n{peer_log[-2000:]}"
    assert p["upload"]["status"] == "uploaded", p["upload"]
    assert {result["player_index"], p["playerIndex"]} == {0, 1}
    folder = server.game_dir(p["gameId"])
    wait_for_files([folder / "player-0.json", folder / "player-1.json", folder / "comparison.json"], 20,
                   "both exports and the comparison report")
    py_export = read_json(folder / f"player-{result['player_index']}.json")
    browser_export = read_json(folder / f"player-{p['playerIndex']}.json")
    assert py_export == result["export"], "the stored export is what the Python peer built"

    py_rows, br_rows = rows(py_export), rows(browser_export)
    assert len(br_rows) == NUM_EPISODES * MAX_STEPS, len(br_rows)
    for a, b in zip(py_rows, br_rows):
        assert a == b, f"first differing confirmed frame: python {a} vs chromium {b}"
    assert len(py_rows) == len(br_rows)
    assert all(r[2] is not None for r in br_rows), "every confirmed frame hashed"
    # Both players really acted: the Chromium one from the keyboard, the Python one at random.
    for idx in range(2):
        assert len({r[1][idx] for r in br_rows}) >= 3, f"player {idx} actions: {sorted({r[1][idx] for r in br_rows})}"

    report = read_json(folder / "comparison.json")
    assert report["status"] == "agree" and report["complete"] is True, json.dumps(report)[:2000]
    assert report["hashed_frames_compared"] == NUM_EPISODES * MAX_STEPS
    assert report["verified_frame"] == br_rows[-1][0]
    assert browser_export["stats"]["path"]["kind"] == "relay", browser_export["stats"]["path"]
    assert result["path"] and result["path"]["kind"] == "relay", result["path"]
    assert result["game_over_reason"] == "completed" and result["reached_end"] is True, \
        (result["game_over_reason"], result["scenes"])
