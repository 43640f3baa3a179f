"""``python -m interactive_gym_p2p.onnxruntime_web``: fetch, check and locate the pinned onnxruntime-web.

    python -m interactive_gym_p2p.onnxruntime_web fetch  [--dir ROOT] [--registry URL | --tarball PATH_OR_URL] [--force]
    python -m interactive_gym_p2p.onnxruntime_web verify [--dir ROOT]
    python -m interactive_gym_p2p.onnxruntime_web where  [--dir ROOT]

``fetch`` fills ``ROOT/<version>/`` (default root: ``$IGP2P_ONNXRUNTIME_DIR``, else the user
cache folder) with the files a hosted seat's host page loads, from the npm registry's
``onnxruntime-web`` tarball of the pinned version (``--registry``, or ``--tarball`` for a file or
URL of ``npm pack onnxruntime-web@<version>``). ``verify`` runs the check the server runs at start.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from ..downloads import DownloadError
from . import local, pin

PROG = "python -m interactive_gym_p2p.onnxruntime_web"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=f"Fetch, check and locate the pinned onnxruntime-web ({pin.VERSION}) for hosted seats.")
    commands = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--dir", "--onnxruntime-dir", dest="dir", type=Path, default=None,
                       help=f"cache root (default: ${local.CACHE_ENV}, else the user cache folder); "
                            "the server's --onnxruntime-dir takes the same folder")

    fetch = commands.add_parser("fetch", help="fill or repair the cache (idempotent)")
    common(fetch)
    source = fetch.add_mutually_exclusive_group()
    source.add_argument("--registry", default=None,
                        help="npm registry URL (default: $npm_config_registry, else the public npm registry)")
    source.add_argument("--tarball", default=None, metavar="PATH_OR_URL",
                        help=f"the {pin.PIN.tarball_name} tarball itself (`npm pack {pin.PIN.spec}`)")
    fetch.add_argument("--force", action="store_true", help="download again")
    common(commands.add_parser("verify", help="check the local onnxruntime-web as the server does at start"))
    common(commands.add_parser("where", help="print the cache folder of the pinned version"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root = args.dir.expanduser().resolve() if args.dir is not None else local.default_root()
    if args.command == "where":
        print(local.version_folder(root))
        return 0
    if args.command == "verify":
        from ..server.onnxruntime import OnnxRuntimeUnavailable, choose_onnxruntime

        try:
            source = choose_onnxruntime(onnxruntime_dir=args.dir)
        except OnnxRuntimeUnavailable as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"ok: the server would serve onnxruntime-web {pin.VERSION} from {source.description}")
        return 0
    try:
        result = local.fetch(root, registry=args.registry, tarball=args.tarball, force=args.force)
    except (DownloadError, local.FetchError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    print(f"ok: onnxruntime-web {pin.VERSION} in {result.folder}")
    option = "" if args.dir is None else f" --onnxruntime-dir {args.dir}"
    print(f"The server uses it when started with{option or ' no onnxruntime option'}.")
    return 0
