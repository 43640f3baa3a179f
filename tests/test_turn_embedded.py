"""EmbeddedTurn: the TURN server as a real child process (``python -m interactive_gym_p2p.turn``)."""

from __future__ import annotations

import asyncio
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest

from interactive_gym_p2p.turn import credentials
from interactive_gym_p2p.turn.client import TurnClient, TurnError
from interactive_gym_p2p.turn.embedded import EmbeddedTurn, EmbeddedTurnError

ROOT = Path(__file__).resolve().parent.parent
SECRET = "embedded-test-secret-value"
T = 5.0


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != credentials.SECRET_ENV}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


def read_line(stream: IO[str], timeout: float = 30.0) -> str:
    """One line from a child's stdout, or fail after ``timeout`` (never hang)."""
    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, f"no line from the child within {timeout} s"
    return stream.readline()


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # reap it if it is our child
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.02)
    return False


async def allocate(port: int, transport: str, username: str, password: str) -> TurnClient:
    client = await TurnClient.connect(("127.0.0.1", port), transport, username, password)
    await client.allocate()
    return client


def test_start_serves_udp_and_tcp_on_one_port_then_stops() -> None:
    turn = EmbeddedTurn("127.0.0.1", 0, SECRET, "embedded.realm", allow_loopback=True, log_level="WARNING")
    with turn:
        assert turn.running and turn.port > 0
        assert turn.urls == [
            f"stun:127.0.0.1:{turn.port}",
            f"turn:127.0.0.1:{turn.port}?transport=udp",
            f"turn:127.0.0.1:{turn.port}?transport=tcp",
        ]
        cmdline = Path(f"/proc/{turn.pid}/cmdline").read_bytes()
        assert SECRET.encode() not in cmdline, "the secret must never be on the command line"
        assert SECRET not in " ".join(turn.command())

        async def scenario() -> None:
            (entry,) = turn.ice_servers("subject-1")
            for transport in ("udp", "tcp"):
                client = await allocate(turn.port, transport, entry["username"], entry["credential"])
                assert await client.binding() == client.local_address
                assert client.relayed_address is not None and client.relayed_address[0] == "127.0.0.1"
                client.close()
            wrong = credentials.issue("not-the-secret", "subject-2")
            client = await TurnClient.connect(("127.0.0.1", turn.port), "udp", wrong.username, wrong.password)
            with pytest.raises(TurnError) as exc:
                await client.allocate()
            assert exc.value.code == 401
            client.close()

        asyncio.run(asyncio.wait_for(scenario(), 30))
        pid = turn.pid
    assert not turn.running
    assert pid is not None and wait_gone(pid)


def test_quota_and_peer_policy_reach_the_child() -> None:
    with EmbeddedTurn("127.0.0.1", 0, SECRET, "r", max_allocations_per_user=1, log_level="WARNING") as turn:

        async def scenario() -> None:
            cred = credentials.issue(SECRET, "p1")
            first = await allocate(turn.port, "udp", cred.username, cred.password)
            second = await TurnClient.connect(("127.0.0.1", turn.port), "tcp", cred.username, cred.password)
            with pytest.raises(TurnError) as exc:
                await second.allocate()
            assert exc.value.code == 486
            with pytest.raises(TurnError) as exc:  # loopback not allowed by default
                await first.create_permission(("127.0.0.1", 40000))
            assert exc.value.code == 403
            first.close()
            second.close()

        asyncio.run(asyncio.wait_for(scenario(), 30))


def test_child_exits_when_its_parent_dies() -> None:
    # A parent process starts the server and is then SIGKILLed: no cleanup code runs in it,
    # yet the TURN child must notice (EOF on the stdin pipe) and exit.
    script = (
        "import sys, time\n"
        "from interactive_gym_p2p.turn.embedded import EmbeddedTurn\n"
        f"t = EmbeddedTurn('127.0.0.1', 0, {SECRET!r}, 'r', log_level='WARNING').start()\n"
        "print(t.pid, t.port, flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, env=child_env(), cwd=ROOT, text=True
    )
    try:
        assert parent.stdout is not None
        line = read_line(parent.stdout)
        child_pid, port = (int(x) for x in line.split())
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=T)
        assert wait_gone(child_pid), "TURN child outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(timeout=T)
        if parent.stdout is not None:
            parent.stdout.close()


def test_module_refuses_to_run_without_a_secret() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "interactive_gym_p2p.turn", "--port", "0"],
        env=child_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert credentials.SECRET_ENV in result.stderr and result.stdout == ""


def test_module_reads_the_secret_from_a_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "interactive_gym_p2p.turn", "--port", "0", "--secret-file", str(secret_file)],
        env=child_env(),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = read_line(proc.stdout).strip()
        assert line.startswith("READY udp=127.0.0.1:") and " tcp=127.0.0.1:" in line
        port = int(line.split()[1].rsplit(":", 1)[1])

        async def scenario() -> None:
            cred = credentials.issue("from-a-file", "p")
            client = await allocate(port, "udp", cred.username, cred.password)
            client.close()

        asyncio.run(asyncio.wait_for(scenario(), 30))
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=T)
        if proc.stdout is not None:
            proc.stdout.close()
        assert code == 0


def test_busy_port_fails_with_a_clear_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        turn = EmbeddedTurn("127.0.0.1", port, SECRET, "r", log_level="ERROR")
        with pytest.raises(EmbeddedTurnError, match="exited with code"):
            turn.start()
        assert not turn.running


def test_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="advertise_host"):
        EmbeddedTurn("0.0.0.0", 3478, SECRET, "r")
    turn = EmbeddedTurn("0.0.0.0", 3478, SECRET, "r", external_ip="203.0.113.10")
    assert turn.urls[0] == "stun:203.0.113.10:3478"
    v6 = EmbeddedTurn("::1", 3478, SECRET, "r")
    assert v6.urls[1] == "turn:[::1]:3478?transport=udp"
    monkeypatch.delenv(credentials.SECRET_ENV, raising=False)
    assert len(EmbeddedTurn(secret=None).secret) >= 32  # a random one when none is configured
    monkeypatch.setenv(credentials.SECRET_ENV, "from-the-environment")
    assert EmbeddedTurn(secret=None).secret == "from-the-environment"


def test_start_and_stop_cooperate_with_eventlet() -> None:
    # The experiment server runs under eventlet: starting the TURN child must not block its hub.
    script = (
        "import warnings; warnings.simplefilter('ignore')\n"
        "import eventlet\n"
        "eventlet.monkey_patch()\n"
        "from interactive_gym_p2p.turn.embedded import EmbeddedTurn\n"
        "state = {'starting': False, 'ran_during_start': 0}\n"
        "def ticker():\n"
        "    while True:\n"
        "        if state['starting']:\n"
        "            state['ran_during_start'] += 1\n"
        "        eventlet.sleep(0.001)\n"
        "eventlet.spawn(ticker)\n"
        "eventlet.sleep(0.01)\n"
        "state['starting'] = True\n"
        f"turn = EmbeddedTurn('127.0.0.1', 0, {SECRET!r}, 'r', log_level='WARNING').start()\n"
        "state['starting'] = False\n"
        "print(turn.port, state['ran_during_start'], flush=True)\n"
        "turn.stop()\n"
        "print('stopped', turn.running, flush=True)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], env=child_env(), cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    port, ran = (int(x) for x in first.split())
    assert port > 0
    assert ran > 0, "EmbeddedTurn.start() blocked the eventlet hub"
    assert second == "stopped False"
