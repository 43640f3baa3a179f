"""``python -m interactive_gym_p2p.turn``: run the embedded STUN/TURN server in this process.

The shared secret never appears on the command line (``ps`` shows arguments to every user):
it comes from the environment variable named by ``--secret-env`` (default IGP2P_TURN_SECRET)
or from ``--secret-file``. When listening, one line goes to stdout::

    READY udp=127.0.0.1:3478 tcp=127.0.0.1:3478

and nothing else is ever printed there (logs go to stderr), so a parent can wait for it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from .allocations import Limits
from .credentials import SECRET_ENV
from .policy import PeerPolicy
from .server import TurnConfig, TurnServer

logger = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m interactive_gym_p2p.turn",
        description="Embedded STUN/TURN server (RFC 8489/8656) with TURN REST API credentials.",
    )
    p.add_argument("--host", default="127.0.0.1", help="listening address for UDP and TCP (default %(default)s)")
    p.add_argument("--port", type=int, default=3478, help="listening port, 0 = pick a free one (default %(default)s)")
    p.add_argument("--realm", default="interactive-gym-p2p", help="long-term credential realm")
    p.add_argument("--secret-env", default=SECRET_ENV, help="environment variable holding the shared secret")
    p.add_argument("--secret-file", type=Path, help="file holding the shared secret (first line)")
    p.add_argument("--relay-ip", help="local address relay sockets bind to (default: --host)")
    p.add_argument("--external-ip", help="address advertised as the relayed address (behind 1:1 NAT)")
    p.add_argument("--min-port", type=int, default=0, help="lowest relay port (default: OS ephemeral range)")
    p.add_argument("--max-port", type=int, default=0, help="highest relay port")
    p.add_argument("--no-udp", action="store_true", help="do not listen on UDP")
    p.add_argument("--no-tcp", action="store_true", help="do not listen on TCP")
    p.add_argument("--allow-loopback", action="store_true", help="let clients relay to 127.0.0.0/8 and ::1 (tests, demos)")
    p.add_argument("--allow-cidr", action="append", default=[], help="permit peers in this range (repeatable)")
    p.add_argument("--deny-cidr", action="append", default=[], help="refuse peers in this range (repeatable)")
    p.add_argument("--max-allocations-per-user", type=int, default=Limits.max_allocations_per_user)
    p.add_argument("--max-allocations", type=int, default=Limits.max_allocations_total)
    p.add_argument("--default-lifetime", type=int, default=Limits.default_lifetime)
    p.add_argument("--max-lifetime", type=int, default=Limits.max_lifetime)
    p.add_argument("--nonce-lifetime", type=float, default=600.0)
    p.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="exit when stdin closes (a parent passes a pipe so the server dies with it)",
    )
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def read_secret(args: argparse.Namespace, environ: dict[str, str] | os._Environ[str] = os.environ) -> str:
    if args.secret_file is not None:
        try:
            secret = args.secret_file.read_text(encoding="utf-8").splitlines()[0].strip()
        except (OSError, IndexError) as exc:
            raise SystemExit(f"cannot read a secret from {args.secret_file}: {exc}") from None
    else:
        secret = environ.get(args.secret_env, "")
    if not secret:
        raise SystemExit(
            f"no TURN secret: set ${args.secret_env} or pass --secret-file "
            "(never on the command line, where ps would show it)"
        )
    return secret


def config_from_args(args: argparse.Namespace, secret: str) -> TurnConfig:
    limits = Limits(
        max_allocations_per_user=args.max_allocations_per_user,
        max_allocations_total=args.max_allocations,
        default_lifetime=args.default_lifetime,
        max_lifetime=args.max_lifetime,
    )
    policy = PeerPolicy(
        allow_loopback=args.allow_loopback, allow_cidrs=tuple(args.allow_cidr), deny_cidrs=tuple(args.deny_cidr)
    )
    return TurnConfig(
        realm=args.realm,
        secret=secret,
        host=args.host,
        port=args.port,
        relay_ip=args.relay_ip,
        external_ip=args.external_ip,
        udp=not args.no_udp,
        tcp=not args.no_tcp,
        policy=policy,
        limits=limits,
        min_port=args.min_port,
        max_port=args.max_port,
        nonce_lifetime=args.nonce_lifetime,
    )


async def serve(config: TurnConfig, exit_on_stdin_eof: bool = False) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    server = TurnServer(config)
    await server.start()
    watcher = loop.create_task(_watch_stdin(stop)) if exit_on_stdin_eof else None
    parts = []
    if server.udp_address:
        parts.append(f"udp={server.udp_address[0]}:{server.udp_address[1]}")
    if server.tcp_address:
        parts.append(f"tcp={server.tcp_address[0]}:{server.tcp_address[1]}")
    sys.stdout.write("READY " + " ".join(parts) + "\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        logger.info("TURN server stopping: %s", server.stats)
        if watcher is not None:
            watcher.cancel()
        await server.close()


async def _watch_stdin(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(4096):
        pass
    logger.info("stdin closed (parent gone): stopping")
    stop.set()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, stream=sys.stderr, format="%(asctime)s turn %(levelname)s %(name)s: %(message)s"
    )
    secret = read_secret(args)
    try:
        config = config_from_args(args, secret)
    except ValueError as exc:
        raise SystemExit(f"bad TURN configuration: {exc}") from None
    try:
        asyncio.run(serve(config, exit_on_stdin_eof=args.exit_on_stdin_eof))
    except OSError as exc:
        raise SystemExit(f"cannot start the TURN server on {args.host}:{args.port}: {exc}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
