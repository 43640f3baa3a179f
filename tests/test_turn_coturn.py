"""coturn parity: the generated turnserver.conf, and the real coturn accepting exactly the
credentials this package issues (and refusing what the embedded server refuses).

The real ``/usr/bin/turnserver`` runs in the foreground on 127.0.0.1 with a generated config
in a temp dir. If it is missing or does not start, these tests FAIL (never skip).
"""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from interactive_gym_p2p.turn import coturn, credentials
from interactive_gym_p2p.turn.allocations import Limits
from interactive_gym_p2p.turn.client import TurnClient, TurnError
from interactive_gym_p2p.turn.policy import PeerPolicy

ROOT = Path(__file__).resolve().parent.parent
SECRET = "coturn-parity-secret"
REALM = "coturn.realm"


def test_rendered_config() -> None:
    text = coturn.render(
        coturn.CoturnConfig(
            realm="experiments.example.org",
            secret="s3cr3t",
            listening_ips=("10.0.0.5",),
            external_ip="203.0.113.10/10.0.0.5",
            tls_cert="/etc/ssl/turn.pem",
            tls_key="/etc/ssl/turn.key",
            log_file="/var/log/turn.log",
        )
    )
    lines = text.splitlines()
    for expected in [
        "use-auth-secret",
        "static-auth-secret=s3cr3t",
        "realm=experiments.example.org",
        "listening-ip=10.0.0.5",
        "external-ip=203.0.113.10/10.0.0.5",
        "fingerprint",
        "no-tcp-relay",
        "no-multicast-peers",
        "denied-peer-ip=10.0.0.0-10.255.255.255",
        "denied-peer-ip=169.254.0.0-169.254.255.255",
        "denied-peer-ip=192.168.0.0-192.168.255.255",
        "max-allocate-lifetime=3600",
        "channel-lifetime=600",
        "permission-lifetime=300",
        "user-quota=10",
        "cert=/etc/ssl/turn.pem",
        "pkey=/etc/ssl/turn.key",
        "tls-listening-port=5349",
        "no-cli",
        "log-file=/var/log/turn.log",
    ]:
        assert expected in lines, expected
    assert "allow-loopback-peers" not in lines  # only ever on request
    assert "no-tls" not in lines
    plain = coturn.render(coturn.CoturnConfig(realm="r", secret="s", policy=PeerPolicy(allow_loopback=True)))
    assert "allow-loopback-peers" in plain.splitlines() and "no-tls" in plain.splitlines()
    with pytest.raises(ValueError):
        coturn.CoturnConfig(realm="r", secret="two\nlines")
    with pytest.raises(ValueError):
        coturn.CoturnConfig(realm="r", secret="s", tls_cert="/only/cert.pem")


def test_command_line_writes_a_private_config(tmp_path: Path) -> None:
    out = tmp_path / "turnserver.conf"
    env = {k: v for k, v in os.environ.items() if k != credentials.SECRET_ENV}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    cmd = [sys.executable, "-m", "interactive_gym_p2p.turn.coturn", "--out", str(out), "--realm", "lab"]
    refused = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0 and credentials.SECRET_ENV in refused.stderr
    env[credentials.SECRET_ENV] = "from-env"
    subprocess.run(cmd + ["--external-ip", "198.51.100.7"], env=env, check=True, capture_output=True, timeout=30)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    text = out.read_text()
    assert "static-auth-secret=from-env" in text and "realm=lab" in text and "external-ip=198.51.100.7" in text


@pytest.fixture(scope="module")
def real_coturn() -> Iterator[coturn.CoturnProcess]:
    """coturn with the DEFAULT peer policy (loopback refused) and a per-user quota of 1."""
    process = coturn.CoturnProcess(SECRET, REALM, limits=Limits(max_allocations_per_user=1))
    try:
        process.start()
    except coturn.CoturnError as exc:
        pytest.fail(f"the real coturn must run for this test: {exc}")
    try:
        yield process
    finally:
        process.stop()
        assert process.dir is None  # its temp dir (config, log, db) is gone


def run(coro) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(asyncio.wait_for(coro, 60))


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_coturn_accepts_our_credentials(real_coturn: coturn.CoturnProcess, transport: str) -> None:
    async def scenario() -> None:
        (entry,) = credentials.ice_servers(real_coturn.urls, SECRET, f"subject-{transport}")
        client = await TurnClient.connect(("127.0.0.1", real_coturn.port), transport, entry["username"], entry["credential"])
        relayed = await client.allocate()  # also checks coturn signed its answer with our key
        assert relayed[0] == "127.0.0.1" and client.lifetime == 600
        assert await client.refresh(1200) == 1200
        await client.refresh(0)
        client.close()

    run(scenario())


@pytest.mark.parametrize("case", ["wrong-secret", "expired", "no-credential"])
def test_coturn_refuses_bad_credentials(real_coturn: coturn.CoturnProcess, case: str) -> None:
    async def scenario() -> None:
        addr = ("127.0.0.1", real_coturn.port)
        if case == "wrong-secret":
            cred = credentials.issue("other-secret", "x")
            client = await TurnClient.connect(addr, "udp", cred.username, cred.password)
        elif case == "expired":
            cred = credentials.issue(SECRET, "x", now=1_000_000)
            client = await TurnClient.connect(addr, "udp", cred.username, cred.password)
        else:
            client = await TurnClient.connect(addr, "udp")
        with pytest.raises(TurnError) as exc:
            await client.allocate()
        assert exc.value.code == 401
        client.close()

    run(scenario())


def test_coturn_quota_and_denied_peers_match_the_embedded_server(real_coturn: coturn.CoturnProcess) -> None:
    async def scenario() -> None:
        addr = ("127.0.0.1", real_coturn.port)
        cred = credentials.issue(SECRET, "quota-user")
        first = await TurnClient.connect(addr, "udp", cred.username, cred.password)
        await first.allocate()
        second = await TurnClient.connect(addr, "udp", cred.username, cred.password)
        with pytest.raises(TurnError) as exc:
            await second.allocate()
        assert exc.value.code == 486
        for ip in ["127.0.0.1", "10.1.2.3", "192.168.0.10", "169.254.169.254"]:
            with pytest.raises(TurnError) as exc:
                await first.create_permission((ip, 5000))
            assert exc.value.code == 403, ip
        await first.refresh(0)
        first.close()
        second.close()

    run(scenario())
