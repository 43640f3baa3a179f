"""Run the embedded TURN server as a child process of the experiment server.

The experiment server runs under eventlet; the TURN server runs on asyncio. They never share
a process: :class:`EmbeddedTurn` spawns ``python -m interactive_gym_p2p.turn``, hands it the
secret through the environment (not argv, which ``ps`` shows), waits for its READY line and
keeps a pipe on its stdin so the child exits when this process dies, even by SIGKILL.
Only blocking-free primitives are used (``select`` with a deadline, ``os.read``), so this
works the same with or without eventlet's monkey patching.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from . import credentials
from .credentials import SECRET_ENV

logger = logging.getLogger(__name__)

READY_PREFIX = "READY "


class EmbeddedTurnError(RuntimeError):
    """The TURN child process could not be started."""


def _url_host(host: str) -> str:
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host  # a DNS name


class EmbeddedTurn:
    """The embedded STUN/TURN server as a managed child process.

    ``EmbeddedTurn(host, port, secret, realm, allow_loopback=False, ...)``; ``start()`` returns
    once the child listens (``port=0`` picks a free port, read back from ``.port``);
    ``stop()`` ends it; ``urls`` lists ``stun:``, ``turn:?transport=udp`` and
    ``turn:?transport=tcp`` for the ICE server list. ``secret=None`` uses ``$IGP2P_TURN_SECRET``
    or a fresh random secret (read it back from ``.secret`` to issue credentials).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 3478,
        secret: str | None = None,
        realm: str = "interactive-gym-p2p",
        allow_loopback: bool = False,
        *,
        allow_cidrs: tuple[str, ...] | list[str] = (),
        deny_cidrs: tuple[str, ...] | list[str] = (),
        external_ip: str | None = None,
        relay_ip: str | None = None,
        advertise_host: str | None = None,
        min_port: int = 0,
        max_port: int = 0,
        max_allocations_per_user: int | None = None,
        max_allocations: int | None = None,
        udp: bool = True,
        tcp: bool = True,
        log_level: str = "INFO",
        log_path: str | os.PathLike[str] | None = None,
        startup_timeout: float = 15.0,
        python: str = sys.executable,
    ) -> None:
        self.host = host
        self.port = port
        self.secret = credentials.resolve_secret(secret)
        self.realm = realm
        self.allow_loopback = allow_loopback
        self.allow_cidrs = tuple(allow_cidrs)
        self.deny_cidrs = tuple(deny_cidrs)
        self.external_ip = external_ip
        self.relay_ip = relay_ip
        self.min_port = min_port
        self.max_port = max_port
        self.max_allocations_per_user = max_allocations_per_user
        self.max_allocations = max_allocations
        self.udp = udp
        self.tcp = tcp
        self.log_level = log_level
        self.log_path = Path(log_path) if log_path is not None else None
        self.startup_timeout = startup_timeout
        self.python = python
        self.advertise_host = advertise_host or external_ip or host
        if ipaddress.ip_address(host).is_unspecified and not (advertise_host or external_ip):
            raise ValueError("listening on an unspecified address: pass advertise_host or external_ip for the URLs")
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    # -- public API --------------------------------------------------------------------------------

    @property
    def urls(self) -> list[str]:
        """ICE server URLs for this server (STUN plus TURN over UDP and TCP)."""
        h = f"{_url_host(self.advertise_host)}:{self.port}"
        urls = [f"stun:{h}"]
        if self.udp:
            urls.append(f"turn:{h}?transport=udp")
        if self.tcp:
            urls.append(f"turn:{h}?transport=tcp")
        return urls

    def ice_servers(self, participant_id: str, ttl_s: int = credentials.DEFAULT_TTL_S) -> list[dict]:
        """RTCIceServer dicts with fresh credentials for one participant."""
        return credentials.ice_servers(self.urls, self.secret, participant_id, ttl_s=ttl_s)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def command(self) -> list[str]:
        """The child's argv (contains no secret)."""
        argv = [
            self.python,
            "-m",
            "interactive_gym_p2p.turn",
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--realm",
            self.realm,
            "--secret-env",
            SECRET_ENV,
            "--exit-on-stdin-eof",
            "--log-level",
            self.log_level,
        ]
        if self.allow_loopback:
            argv.append("--allow-loopback")
        for cidr in self.allow_cidrs:
            argv += ["--allow-cidr", cidr]
        for cidr in self.deny_cidrs:
            argv += ["--deny-cidr", cidr]
        for flag, value in (
            ("--external-ip", self.external_ip),
            ("--relay-ip", self.relay_ip),
            ("--max-allocations-per-user", self.max_allocations_per_user),
            ("--max-allocations", self.max_allocations),
        ):
            if value is not None:
                argv += [flag, str(value)]
        if self.min_port or self.max_port:
            argv += ["--min-port", str(self.min_port), "--max-port", str(self.max_port)]
        if not self.udp:
            argv.append("--no-udp")
        if not self.tcp:
            argv.append("--no-tcp")
        return argv

    def start(self) -> EmbeddedTurn:
        """Spawn the server and wait (up to ``startup_timeout``) until it listens."""
        if self.running:
            return self
        env = dict(os.environ)
        env[SECRET_ENV] = self.secret
        # Let the child import this package when it is used from a source checkout. (An
        # installed copy needs nothing, and site-packages must not go ahead of the stdlib.)
        package_root = Path(__file__).resolve().parents[2]
        if package_root.name not in ("site-packages", "dist-packages"):
            env["PYTHONPATH"] = os.pathsep.join(p for p in (str(package_root), env.get("PYTHONPATH", "")) if p)
        stderr: Any = None
        if self.log_path is not None:
            self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the child
            stderr = self._log_file
        argv = self.command()
        logger.info("starting embedded TURN: %s", " ".join(argv))
        self._proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env, close_fds=True
        )
        try:
            line = self._read_ready_line()
        except BaseException:
            self.stop()
            raise
        self._parse_ready(line)
        assert self._proc.stdout is not None
        self._proc.stdout.close()  # the child prints nothing after READY
        logger.info("embedded TURN ready (pid %d): %s", self._proc.pid, " ".join(self.urls))
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the child (EOF on stdin + SIGTERM, then SIGKILL after ``timeout``)."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
            except OSError:
                pass
            proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            if proc.poll() is None:
                logger.warning("embedded TURN (pid %d) ignored SIGTERM; killing it", proc.pid)
                proc.kill()
                proc.wait(timeout=timeout)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None and not stream.closed:
                stream.close()
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        self._proc = None

    def __enter__(self) -> EmbeddedTurn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals ---------------------------------------------------------------------------------

    def _read_ready_line(self) -> str:
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        fd = proc.stdout.fileno()
        deadline = time.monotonic() + self.startup_timeout
        buf = b""
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise EmbeddedTurnError(
                    f"embedded TURN did not report READY within {self.startup_timeout} s (command: {self.command()})"
                )
            readable, _, _ = select.select([fd], [], [], min(left, 0.5))
            if readable:
                chunk = os.read(fd, 4096)
                if not chunk:
                    code = proc.wait(timeout=5)
                    raise EmbeddedTurnError(
                        f"embedded TURN exited with code {code} before it was ready; see its stderr "
                        f"(command: {self.command()})"
                    )
                buf += chunk
            elif proc.poll() is not None:
                raise EmbeddedTurnError(f"embedded TURN exited with code {proc.returncode} before it was ready")
        line = buf.split(b"\n", 1)[0].decode("utf-8", errors="replace").strip()
        if not line.startswith(READY_PREFIX):
            raise EmbeddedTurnError(f"unexpected first line from embedded TURN: {line!r}")
        return line

    def _parse_ready(self, line: str) -> None:
        ports = set()
        for part in line[len(READY_PREFIX) :].split():
            _, _, addr = part.partition("=")
            ports.add(int(addr.rsplit(":", 1)[1]))
        if len(ports) != 1:
            raise EmbeddedTurnError(f"READY line does not name one port: {line!r}")
        self.port = ports.pop()
