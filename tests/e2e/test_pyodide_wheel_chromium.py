"""A pip-only install serves the pinned Pyodide from its own cache, end to end.

The wheel built from this repository goes into a fresh virtual environment outside the
repository (its dependencies from pip's usual sources and cache), with a fresh HOME, so the
user cache folder is empty and no ``node_modules`` is anywhere near. Then, as a researcher
would:

1. ``python -m interactive_gym_p2p.examples.demo`` refuses to start, naming the fetch command;
2. ``python -m interactive_gym_p2p.pyodide fetch --registry <local npm registry>`` fills the
   cache (the registry serves the pinned tarball taken from npm's cache: no network);
3. the demo starts, logs that Pyodide comes from that cache, and two Chromium participants
   play Gem Rush to the end, their pages loading Pyodide from ``/p2p/pyodide/<version>/``;
4. a cached file damaged on disk is caught by ``verify``;
5. a page whose Pyodide cannot load shows the plain message, then the `error` outcome page
   (reason env_load) with the configured code and no "Loading the game..." left on it; the
   server's outcome record has the code and the technical reason.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.request
import venv
from pathlib import Path
from typing import Any

import pytest

from harness.game import (LOAD_TIMEOUT_S, REPO, open_participant, play_to_end, read_json, snapshot, start_pair,
                          wait_for_files, wait_until)
from harness.processes import ReadyProcess, start_ready_process
from harness.session import BrowserSession

pytestmark = pytest.mark.e2e

VERSION = json.loads((REPO / "package.json").read_text())["devDependencies"]["pyodide"]
ENV_LOAD_MESSAGE = ("The game could not be loaded in your browser, so it cannot take place. "
                    "Please let the experimenter know.")
MAX_STEPS = 150
ERROR_CODE = "ERR-ENV-1"


class Install:
    """The fresh virtual environment and the clean environment variables to run it with."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.python = root / "venv" / "bin" / "python"
        self.home = root / "home"
        self.cwd = root / "work"  # outside the repository, empty
        self.home.mkdir()
        self.cwd.mkdir()
        keep = ("PATH", "LANG", "LC_ALL", "TMPDIR", "PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL",
                "PIP_CERT", "PIP_DEFAULT_TIMEOUT", "PIP_CONSTRAINT", "PIP_CONFIG_FILE")
        self.env = {k: v for k, v in os.environ.items() if k in keep}
        self.env["HOME"] = str(self.home)
        self.env["PYTHONUNBUFFERED"] = "1"

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.python), *args], cwd=self.cwd, env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def cache_folder(self) -> Path:
        return self.home / ".cache" / "interactive-gym-p2p" / "pyodide" / VERSION


@pytest.fixture(scope="module")
def install(tmp_path_factory: pytest.TempPathFactory) -> Install:
    root = tmp_path_factory.mktemp("pip-only")
    wheels = root / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(wheels)],
                   check=True, cwd=root, timeout=300)
    (wheel,) = wheels.glob("interactive_gym_p2p-*.whl")
    venv.EnvBuilder(with_pip=True).create(root / "venv")
    inst = Install(root)
    # pip's own config and cache stay (HOME is the real one here): dependencies come from
    # wherever the machine installs them from, already cached by scripts/test's install.
    pip_env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip_env.pop("PYTHONPATH", None)
    subprocess.run([str(inst.python), "-m", "pip", "install", "-q", "--no-compile", str(wheel)],
                   check=True, env=pip_env, cwd=inst.cwd, timeout=600)
    probe = inst.run("-c", "import interactive_gym_p2p, sys; print(interactive_gym_p2p.__file__)")
    assert probe.returncode == 0 and probe.stdout.startswith(str(root / "venv")), (probe.stdout, probe.stderr)
    return inst


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Demo:
    """The installed demo as a child process (output kept for the checks and for failures)."""

    def __init__(self, inst: Install, *args: str) -> None:
        self.port = free_port()
        self.data = inst.root / f"data-{self.port}"
        cmd = ["env", "-i", *(f"{k}={v}" for k, v in inst.env.items()), str(inst.python), "-m",
               "interactive_gym_p2p.examples.demo", "--port", str(self.port), "--turn-port", "0",
               "--data-dir", str(self.data), *args]
        self.proc: ReadyProcess = start_ready_process(cmd, name="installed demo", ready_prefix="Serving the experiment",
                                                      timeout=60)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_until(self._healthy, 30, "the demo's /p2p/health")

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/p2p/health", timeout=2):
                return True
        except OSError:
            return False

    def log(self) -> str:
        return "\n".join(self.proc.output)

    def stop(self) -> None:
        # The demo never reads its stdin; SIGTERM stops it at once (its TURN child follows it).
        self.proc.proc.terminate()
        try:
            self.proc.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.proc.kill()
            self.proc.proc.wait(timeout=10)


def test_pip_only_install_fetches_pyodide_once_and_two_participants_play(install: Install, chromium_available,
                                                                        artifacts_dir, request) -> None:
    # 1. Nothing local, no --pyodide-cdn: the demo refuses, naming the command.
    refused = install.run("-m", "interactive_gym_p2p.examples.demo", "--port", str(free_port()))
    assert refused.returncode == 2, (refused.stdout, refused.stderr)
    assert "open http" not in refused.stdout
    assert "No local Pyodide" in refused.stderr
    assert "Fetch the pinned Pyodide once with:  python -m interactive_gym_p2p.pyodide fetch\n" in refused.stderr

    # 2. The one fetch command, against a local npm registry.
    registry = start_ready_process([sys.executable, str(REPO / "tests" / "pyodide_support.py"), "registry"],
                                   name="local npm registry", timeout=120)
    try:
        fetched = install.run("-m", "interactive_gym_p2p.pyodide", "fetch", "--registry", registry.ready_line.split()[1])
    finally:
        registry.stop()
    assert fetched.returncode == 0, (fetched.stdout, fetched.stderr)
    served = wait_until(lambda: next((l for l in registry.output if l.startswith("REQUESTS")), None), 10,
                        "the registry's request log")
    assert json.loads(served.split(" ", 1)[1]) == ["/pyodide", f"/pyodide/-/pyodide-{VERSION}.tgz"], served
    folder = install.cache_folder()
    assert f"ok: Pyodide {VERSION} in {folder}" in fetched.stdout, fetched.stdout
    assert (folder / "pyodide.asm.wasm").is_file()

    # 3. The demo serves it; two participants play to the end.
    demo = Demo(install, "--relay", "--episodes", "1", "--max-steps", str(MAX_STEPS))
    try:
        wait_until(lambda: "for the participants' browsers" in demo.log(), 10, "the Pyodide choice in the log")
        assert f"Pyodide (pinned {VERSION}) for the participants' browsers: the local cache {folder}" in demo.log()

        async def body(session: BrowserSession) -> list[dict[str, Any]]:
            pair = await start_pair(session, demo, "pip")
            await play_to_end(pair)
            snaps = [await snapshot(p.page) for p in pair]
            for p in pair:
                # Pyodide loads in the game worker, whose requests the page's Resource Timing does not list.
                loaded = await p.page.evaluate(
                    "() => [...performance.getEntriesByType('resource').map(e => e.name), ...(window.p2p.envResources ?? [])]"
                    ".map(u => new URL(u).pathname)")
                assert f"/p2p/pyodide/{VERSION}/pyodide.asm.wasm" in loaded, loaded
                assert f"/p2p/pyodide/{VERSION}/python_stdlib.zip" in loaded, loaded
            return snaps

        snaps = run_in_browser(request, artifacts_dir, body)
        game_ids = {s["p2p"]["gameId"] for s in snaps}
        assert len(game_ids) == 1 and None not in game_ids
        for s in snaps:
            # The end scene, with the server's `completed` outcome on it (docs/participants.md).
            assert s["p2p"]["phase"] == "ended" and s["p2p"]["sceneType"] == "EndScene", s["p2p"]["phase"]
            assert s["p2p"]["outcome"]["outcome"] == "completed", s["p2p"]["outcome"]
            assert s["p2p"]["upload"]["status"] == "uploaded", s["p2p"]["upload"]
        games = demo.data / "exports" / "games" / game_ids.pop()
        wait_for_files([games / "player-0.json", games / "player-1.json", games / "comparison.json"], 20, "exports")
        report = read_json(games / "comparison.json")
        assert report["agree"] is True and report["complete"] is True, report
        assert report["common_frames"] == MAX_STEPS
    finally:
        demo.stop()

    # 4. A damaged cached file (same size) is caught by its checksum.
    wasm = folder / "pyodide.asm.wasm"
    data = bytearray(wasm.read_bytes())
    data[4096] ^= 0x01
    wasm.write_bytes(bytes(data))
    checked = install.run("-m", "interactive_gym_p2p.pyodide", "verify")
    assert checked.returncode == 1
    assert "pyodide.asm.wasm does not match its pinned SHA-256" in checked.stderr, checked.stderr
    assert "python -m interactive_gym_p2p.pyodide fetch" in checked.stderr


def test_a_page_whose_pyodide_cannot_load_says_so_plainly(install: Install, chromium_available,
                                                         artifacts_dir, request) -> None:
    # Nothing listens there: the browser's import of pyodide.mjs fails (the raw module error).
    nowhere = f"http://127.0.0.1:{free_port()}/pyodide/"
    demo = Demo(install, "--pyodide-index-url", nowhere, "--code", f"error={ERROR_CODE}")
    try:
        async def body(session: BrowserSession) -> dict[str, Any]:
            person = await open_participant(session, demo.url, 0, "noload")
            await person.wait("p.phase === 'scene' && p.sceneType === 'StartScene'", LOAD_TIMEOUT_S, "start scene")
            await person.page.click("#advanceButton")
            # The plain message, then the study ends with the `error` outcome (its page).
            await person.page.wait_for_function("() => window.p2p && window.p2p.phase === 'ended'",
                                                timeout=LOAD_TIMEOUT_S * 1000, polling=100)
            snap = await snapshot(person.page)
            shown = await person.page.evaluate(
                "() => ({text: document.body.innerText,"
                " message: document.getElementById('outcomeMessage').textContent,"
                " code: document.getElementById('outcomeCode').textContent,"
                " button: !document.getElementById('advanceButton').hidden})")
            return {"snap": snap, "shown": shown}

        seen = run_in_browser(request, artifacts_dir, body)
        assert seen["snap"]["p2p"]["outcome"]["outcome"] == "error", seen["snap"]["p2p"]["outcome"]
        assert "could not be loaded in your browser" in seen["shown"]["message"], seen["shown"]
        assert "pyodide.mjs" not in seen["shown"]["text"] and "dynamically imported" not in seen["shown"]["text"], seen["shown"]
        assert seen["shown"]["button"] is False
        # The outcome page replaces the status line: nothing still says the game is loading.
        assert "Loading the game" not in seen["shown"]["text"], seen["shown"]["text"]
        assert seen["shown"]["code"] == ERROR_CODE and seen["snap"]["p2p"]["outcome"]["code"] == ERROR_CODE
        assert "error" in [e["phase"] for e in seen["snap"]["phases"]], "the plain message came first"
        (error,) = [e for e in seen["snap"]["p2p"]["errors"] if e["code"] == "env_load"]
        assert "pyodide.mjs" in error["detail"] and error["message"] == ENV_LOAD_MESSAGE, error
        # The server's outcome record keeps the technical reason for the researcher.
        outcome = read_json(demo.data / "participants" / "noload" / "outcome.json")
        assert (outcome["outcome"], outcome["reason"]) == ("error", "env_load") and "pyodide.mjs" in outcome["detail"], outcome
        assert outcome["code"] == ERROR_CODE and outcome["reported_by"] == "client", outcome
        wait_until(lambda: "env_load_failed" in demo.log(), 10, "the server's record of the failure")
        assert "pyodide.mjs" in next(line for line in demo.log().splitlines() if "env_load_failed" in line)
    finally:
        demo.stop()


def run_in_browser(request, artifacts_dir, body) -> Any:
    async def scenario() -> Any:
        async with BrowserSession(request.node.nodeid, artifacts_dir) as session:
            return await body(session)

    return asyncio.run(scenario())
