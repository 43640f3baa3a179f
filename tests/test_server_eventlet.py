"""The console entry point under the default async mode (eventlet), in its own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from interactive_gym_p2p.cli import build_parser, config_from_args, main

from server_harness import WAIT_S, ParticipantClient, SignalingClient

ROOT = Path(__file__).resolve().parent.parent

EXPERIMENT = """
from server_harness import make_scene, make_stager, no_screening
stager = make_stager(make_scene("game", reconnect_grace_s=1, disconnect_policy="end"))
# The CLI reads the study beside the stager (these python-socketio clients run no screening).
study = no_screening().outcomes(completed="EVENTLET-1")
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen) -> dict:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the server exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            with urllib.request.urlopen(url + "/p2p/health", timeout=2) as response:
                return json.loads(response.read())
        except OSError:
            time.sleep(0.1)  # polling a condition with a deadline: the process is starting
    raise AssertionError("the server did not answer /p2p/health within 60 s")


def test_cli_serves_under_eventlet_without_writing_to_cwd(tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (tmp_path / "experiment.py").write_text(EXPERIMENT)
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "interactive_gym_p2p.cli", str(tmp_path / "experiment.py"),
         "--port", str(port), "--data-dir", str(tmp_path / "data"), "--turn-port", "0"],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    clients: list = []
    try:
        assert _wait_healthy(url, proc)["ok"] is True
        tickets = {}
        for subject in ("e1", "e2"):
            person = ParticipantClient(url, subject)
            clients.append(person)
            person.log.wait("activate_scene")
            assert person.call("advance_scene", {"scene_id": "start"})["ok"]
            tickets[subject] = person.log.wait("activate_scene", lambda d: d["scene_id"] == "game")["p2p"]["signaling"]["ticket"]
        peers = {s: SignalingClient(url, t) for s, t in tickets.items()}
        clients.extend(peers.values())
        for peer in peers.values():
            assert peer.join()["ok"]
        ready = {s: p.log.wait("game_ready") for s, p in peers.items()}
        assert ready["e1"]["game_id"] == ready["e2"]["game_id"]
        # The CLI started the embedded TURN server and hands out per-participant credentials.
        for subject, info in ready.items():
            (server,) = info["ice_servers"]
            assert any(u.startswith("turn:127.0.0.1:") for u in server["urls"]), server
            assert server["username"].endswith(":" + subject) and server["credential"]
        r1 = ready["e1"]
        assert peers["e1"].call("signal", {"game_id": r1["game_id"], "to": 1 - r1["player_index"], "kind": "offer",
                                           "data": {"type": "offer", "sdp": "eventlet"}}) == {"ok": True}
        assert peers["e2"].log.wait("signal")["data"]["sdp"] == "eventlet"
        # The sweeper (a background task in eventlet) ends the grace period.
        peers["e1"].close()
        left = peers["e2"].log.wait("peer_left", timeout=WAIT_S)
        assert left["reason"] == "disconnected" and left["game_over"] is True
        # ... and records e1's outcome (the study beside the stager was loaded: its screening is
        # off, so the joins above were let in).
        page = clients[0].log.wait("study_end")
        assert (page["outcome"], page["reason"]) == ("connection_failed", "server"), page
    finally:
        for client in clients:
            client.close()
        proc.terminate()
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
    assert f"Serving the experiment at http://127.0.0.1:{port}/" in out, (out, err)
    assert "eventlet" in out
    assert os.listdir(cwd) == [], f"the server wrote {os.listdir(cwd)} into its working directory"
    assert "Traceback" not in err, err
    # SIGTERM is a clean stop (stop_app ran), even when it lands inside an event handler.
    assert proc.returncode == 0 and "server stopped" in err, err[-3000:]


def test_cli_arguments() -> None:
    args = build_parser().parse_args(["exp.py", "--public", "--port", "8080", "--async-mode", "threading"])
    config = config_from_args(args)
    assert (config.host, config.port, config.async_mode) == ("0.0.0.0", 8080, "threading")
    assert config_from_args(build_parser().parse_args(["exp.py"])).host == "127.0.0.1"


def test_cli_reports_a_bad_experiment(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "missing.py"), "--port", "1"]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.py"
    bad.write_text("stager = 42\n")
    assert main([str(bad), "--port", "1"]) == 2
    assert "not a Stager or ExperimentConfig" in capsys.readouterr().err
