"""Debian's coturn (/usr/bin/turnserver) on 127.0.0.1 for relay-only WebRTC tests.

A temporary config: TURN REST API credentials (use-auth-secret), UDP/TCP on a free port, no
TLS/DTLS, no CLI, loopback peers ALLOWED (both browsers' relayed addresses are on 127.0.0.1,
which coturn refuses by default; only ever do this on a test server). Ready once it answers
a STUN Binding request.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import socket
import struct
import time
from dataclasses import dataclass
from pathlib import Path

from interactive_gym_p2p.turn.credentials import ice_servers

from .processes import ProcessStartError, ReadyProcess, start_ready_process

logger = logging.getLogger(__name__)

TURNSERVER = "/usr/bin/turnserver"
STUN_MAGIC = 0x2112A442


class CoturnError(RuntimeError):
    """coturn is missing or did not start."""


def free_port_udp_tcp() -> int:
    """A port number free for both UDP and TCP on 127.0.0.1 right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise CoturnError("no free UDP+TCP port on 127.0.0.1")


def stun_binding_ok(port: int, timeout: float = 0.5) -> bool:
    """Send one STUN Binding request to 127.0.0.1:port; True on a matching success response."""
    txid = secrets.token_bytes(12)
    request = struct.pack("!HHI", 0x0001, 0, STUN_MAGIC) + txid
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(request, ("127.0.0.1", port))
            data, _ = s.recvfrom(2048)
        except OSError:
            return False
    return len(data) >= 20 and data[0:2] == b"\x01\x01" and data[8:20] == txid


@dataclass
class Coturn:
    process: ReadyProcess
    port: int
    secret: str
    realm: str
    log_path: Path

    def ice_servers(self, user: str, transport: str = "udp") -> list[dict]:
        """The package's own TURN REST credentials, as the server hands them to browsers."""
        return ice_servers([f"turn:127.0.0.1:{self.port}?transport={transport}"], self.secret, user)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        # Closing stdin makes the wrapper shell kill turnserver and wait for it.
        self.process.stop()


def start_coturn(workdir: Path, deadline_s: float = 20.0) -> Coturn:
    if not (os.path.isfile(TURNSERVER) and os.access(TURNSERVER, os.X_OK)):
        raise CoturnError(f"{TURNSERVER} not found: install Debian's 'coturn' package")
    if shutil.which("sh") is None:
        raise CoturnError("no /bin/sh")
    port = free_port_udp_tcp()
    relay_min = 20000 + (port * 7) % 30000  # a window unlikely to collide with another run
    secret = secrets.token_hex(16)
    realm = "p2p.test"
    log_path = workdir / "turnserver.log"
    conf = workdir / "turnserver.conf"
    conf.write_text("\n".join([
        "listening-ip=127.0.0.1",
        "relay-ip=127.0.0.1",
        f"listening-port={port}",
        f"min-port={relay_min}",
        f"max-port={relay_min + 200}",
        "use-auth-secret",
        f"static-auth-secret={secret}",
        f"realm={realm}",
        "fingerprint",
        "no-tls",
        "no-dtls",
        "no-cli",
        "no-multicast-peers",
        "allow-loopback-peers",
        f"userdb={workdir / 'turndb'}",
        f"pidfile={workdir / 'turnserver.pid'}",
        f"log-file={log_path}",
        "simple-log",
        "",
    ]), encoding="utf-8")
    # turnserver does not read stdin: the shell waits on stdin and stops it on EOF, so the
    # relay never outlives the test.
    script = (f'{TURNSERVER} -c {conf} & pid=$!; echo READY $pid; cat >/dev/null; kill $pid; wait $pid')
    try:
        proc = start_ready_process(["sh", "-c", script], name="coturn")
    except ProcessStartError as err:
        raise CoturnError(str(err)) from err
    server = Coturn(process=proc, port=port, secret=secret, realm=realm, log_path=log_path)
    end = time.monotonic() + deadline_s
    while not stun_binding_ok(port):
        if proc.proc.poll() is not None or time.monotonic() > end:
            tail = server.log_tail()
            server.stop()
            raise CoturnError(f"coturn did not answer STUN on 127.0.0.1:{port}; log:\n{tail}")
    logger.info("coturn on 127.0.0.1:%d", port)
    return server
