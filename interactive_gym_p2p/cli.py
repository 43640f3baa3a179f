"""``interactive-gym-p2p``: serve an experiment.

    interactive-gym-p2p path/to/experiment.py[:stager] [--port 5702] [--public] ...
    interactive-gym-p2p my_package.experiment:build_stager --async-mode threading

The experiment spec names a Stager, an Interactive Gym ExperimentConfig, or a callable that
returns one (see :func:`interactive_gym_p2p.server.resolve_experiment`). Secrets come from
files or the environment, never from the command line (it shows in ``ps``).
"""

from __future__ import annotations

import argparse
import logging
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from . import environ
from .async_mode import ASYNC_MODES, patch_standard_library

if TYPE_CHECKING:  # pragma: no cover
    from .server.config import ServerConfig
    from .server.services import TurnSettings

SECRET_ENV = environ.name(environ.SECRET)
RESEARCHER_TOKEN_ENV = environ.name(environ.RESEARCHER_TOKEN)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def add_pyodide_arguments(parser: argparse.ArgumentParser) -> None:
    """Where browsers load Pyodide from (shared with the demo)."""
    group = parser.add_argument_group("Pyodide (docs/deployment.md)")
    group.add_argument(
        "--pyodide-dir", type=Path, default=None,
        help="local Pyodide: the cache root filled by `python -m interactive_gym_p2p.pyodide fetch --dir DIR`, "
        "or a folder holding pyodide.mjs (default: $IGP2P_PYODIDE_DIR or the user cache, else node_modules/pyodide)",
    )
    group.add_argument(
        "--wheelhouse", type=Path, default=None,
        help="folder of your own wheels (`pip wheel . -w DIR`), served to the browsers' micropip as its only "
        "package index: packages_to_install come from Pyodide's packages or from here, never from PyPI",
    )
    choice = group.add_mutually_exclusive_group()
    choice.add_argument("--pyodide-index-url", default=None, help="browsers load Pyodide from this URL (a copy you host)")
    choice.add_argument("--pyodide-cdn", action="store_true",
                        help="browsers load Pyodide from the public CDN (the study then depends on it)")


def add_onnxruntime_arguments(parser: argparse.ArgumentParser) -> None:
    """Where a hosted seat's host page loads onnxruntime-web from (only scenes with hosted seats need it)."""
    group = parser.add_argument_group("onnxruntime-web for hosted (ONNX) seats (docs/deployment.md)")
    group.add_argument(
        "--onnxruntime-dir", type=Path, default=None,
        help="local onnxruntime-web: the cache root filled by `python -m interactive_gym_p2p.onnxruntime_web fetch "
        "--dir DIR`, or a folder holding ort.wasm.min.mjs (default: $IGP2P_ONNXRUNTIME_DIR or the user cache, "
        "else node_modules/onnxruntime-web/dist)",
    )
    choice = group.add_mutually_exclusive_group()
    choice.add_argument("--onnxruntime-url", default=None,
                        help="the host's page loads onnxruntime-web from this folder URL (a copy you host)")
    choice.add_argument("--onnxruntime-cdn", action="store_true",
                        help="the host's page loads onnxruntime-web from the public CDN (the study then depends on it)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="interactive-gym-p2p", description="Serve an Interactive Gym P2P experiment.")
    parser.add_argument("experiment", help="path/to/file.py[:name] or package.module[:name] (a Stager or ExperimentConfig; "
                        "a `study` defined beside it sets recruitment ids, completion codes and screening)")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--public", action="store_true", help="bind all interfaces (0.0.0.0) so the LAN can join")
    parser.add_argument("--port", type=int, default=5702, help="TCP port (default 5702; 0 picks a free one)")
    parser.add_argument("--async-mode", choices=ASYNC_MODES, default="eventlet", help="Flask-SocketIO async mode")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="where scene data and exports go (default ./data)")
    add_pyodide_arguments(parser)
    add_onnxruntime_arguments(parser)
    parser.add_argument("--assets-dir", type=Path, default=None, help="experiment assets served at /assets/")
    parser.add_argument(
        "--secret-file", type=Path, default=None,
        help=f"file holding the server secret (tickets, upload tokens); else ${SECRET_ENV}, else random per start",
    )
    parser.add_argument(
        "--turn", choices=["embedded", "external", "none"], default="embedded",
        help="TURN for participants: the embedded server (default), an external coturn (--turn-url, "
        f"secret from ${environ.name(environ.TURN_SECRET)}), or none",
    )
    parser.add_argument("--turn-port", type=int, default=3478, help="UDP/TCP port of the embedded TURN server (default 3478)")
    parser.add_argument("--turn-url", action="append", default=[], help="external TURN URL (repeatable)")
    parser.add_argument(
        "--redis", default=None, metavar="URL",
        help="share the study with other server processes through this Redis, e.g. redis://127.0.0.1:6379/0 "
        f"(else ${environ.name(environ.REDIS_URL)}; a URL with a password belongs there); docs/deployment.md",
    )
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return parser


def redis_url_from_args(args: argparse.Namespace) -> str | None:
    return args.redis or environ.get(environ.REDIS_URL)


def config_from_args(args: argparse.Namespace) -> "ServerConfig":
    from .server.config import ServerConfig

    secret: bytes | None = None
    if args.secret_file is not None:
        secret = args.secret_file.read_bytes().strip()
    elif environ.get(environ.SECRET):
        secret = str(environ.get(environ.SECRET)).encode()
    host = "0.0.0.0" if args.public else args.host
    port = _free_port(host) if args.port == 0 else args.port
    return ServerConfig(
        host=host,
        port=port,
        async_mode=args.async_mode,
        data_dir=args.data_dir,
        secret=secret,
        researcher_token=environ.get(environ.RESEARCHER_TOKEN),
        pyodide_dir=args.pyodide_dir,
        pyodide_index_url=args.pyodide_index_url,
        pyodide_cdn=args.pyodide_cdn,
        wheelhouse=args.wheelhouse,
        onnxruntime_dir=args.onnxruntime_dir,
        onnxruntime_url=args.onnxruntime_url,
        onnxruntime_cdn=args.onnxruntime_cdn,
        assets_dir=args.assets_dir,
        redis_url=redis_url_from_args(args),
    )


def turn_from_args(args: argparse.Namespace) -> "TurnSettings | None":
    from .server.services import TurnSettings

    if args.turn == "none":
        return None
    if args.turn == "external":
        return TurnSettings(mode="external", urls=tuple(args.turn_url), secret=environ.get(environ.TURN_SECRET))
    # With --public the embedded TURN stays on --host (loopback by default): LAN participants
    # reach each other directly; a relay for the LAN needs an address they can reach (docs/turn.md).
    return TurnSettings(mode="embedded", host=args.host, port=args.turn_port)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.redis and "@" in args.redis and ":" in args.redis.split("@", 1)[0].split("//", 1)[-1]:
        print(f"interactive-gym-p2p: the --redis URL holds a password, which shows in ps: put it in "
              f"${environ.name(environ.REDIS_URL)} instead", file=sys.stderr)
        return 2
    if redis_url_from_args(args):
        # Before the server's modules are imported: Redis's client (state store, Socket.IO's
        # message queue) must wait on green sockets, or one wait on Redis would stop everyone.
        patch_standard_library(args.async_mode)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .cluster.client import RedisUnavailable
    from .server import ExperimentError, resolve_experiment, run  # heavy imports only when running
    from .server.onnxruntime import OnnxRuntimeUnavailable
    from .server.pyodide import PyodideUnavailable
    from .server.experiment import resolve_study

    try:
        config = config_from_args(args)
        experiment = resolve_experiment(args.experiment)
        # Recruitment ids, outcome map and screening: a `study` beside the Stager (docs/participants.md).
        config.study = resolve_study(args.experiment)
        config.check()
        run(experiment, config, turn=turn_from_args(args))
    except (ExperimentError, ValueError, FileNotFoundError, PyodideUnavailable, OnnxRuntimeUnavailable, RedisUnavailable) as exc:
        print(f"interactive-gym-p2p: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
