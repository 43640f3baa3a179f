"""``python -m interactive_gym_p2p.pyodide``: fetch, check and locate the pinned Pyodide.

    python -m interactive_gym_p2p.pyodide fetch [--dir ROOT] [--experiment FILE.py[:name]] [--package NAME]
    python -m interactive_gym_p2p.pyodide verify [--dir ROOT] [--experiment ...] [--package ...]
    python -m interactive_gym_p2p.pyodide where [--dir ROOT]

``fetch`` fills ``ROOT/<version>/`` (default root: ``$IGP2P_PYODIDE_DIR``, else the user cache
folder) with the pinned core from the npm registry (``--registry``, or ``--tarball`` for a file
or URL of ``npm pack pyodide@<version>``) and the Pyodide packages the experiment's scenes list
or import, with their dependencies, from Pyodide's package repository (``--package-index``).
``verify`` runs the check the server runs at start and says what it would serve.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from . import cache, pin
from ..downloads import DownloadError
from .lock import LockError, Needs

PROG = "python -m interactive_gym_p2p.pyodide"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=f"Fetch, check and locate the pinned Pyodide ({pin.VERSION}).")
    commands = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--dir", "--pyodide-dir", dest="dir", type=Path, default=None,
                       help=f"cache root (default: ${cache.CACHE_ENV}, else the user cache folder); "
                            "the server's --pyodide-dir takes the same folder")

    def needs(p: argparse.ArgumentParser) -> None:
        p.add_argument("--experiment", action="append", default=[], metavar="SPEC",
                       help="path/to/file.py[:name] or package.module[:name]: add the Pyodide packages its "
                            "P2P scenes list (packages_to_install) or import (repeatable)")
        p.add_argument("--package", action="append", default=[], metavar="NAME",
                       help="a Pyodide package to add, with its dependencies (repeatable)")

    fetch = commands.add_parser("fetch", help="fill or repair the cache (idempotent)")
    common(fetch)
    needs(fetch)
    source = fetch.add_mutually_exclusive_group()
    source.add_argument("--registry", default=None,
                        help="npm registry URL (default: $npm_config_registry, else the public npm registry)")
    source.add_argument("--tarball", default=None, metavar="PATH_OR_URL",
                        help=f"the pyodide-{pin.VERSION}.tgz tarball itself (`npm pack pyodide@{pin.VERSION}`)")
    fetch.add_argument("--package-index", default=None, metavar="URL_OR_DIR",
                       help="Pyodide's package repository: a URL or a folder of the full distribution "
                            f"(default: the Pyodide {pin.VERSION} CDN folder)")
    fetch.add_argument("--force", action="store_true", help="download everything again")

    verify = commands.add_parser("verify", help="check the local Pyodide as the server does at start")
    common(verify)
    needs(verify)

    where = commands.add_parser("where", help="print the cache folder of the pinned version")
    common(where)
    return parser


def _needs(args: argparse.Namespace) -> Needs:
    result = Needs(packages=tuple(args.package))
    if args.experiment:
        from ..server.experiment import load_experiment, resolve_experiment
        from ..server.pyodide import experiment_needs

        for spec in args.experiment:
            result = result.merged(experiment_needs(load_experiment(resolve_experiment(spec))))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root = args.dir.expanduser().resolve() if args.dir is not None else cache.default_root()
    if args.command == "where":
        print(cache.version_folder(root))
        return 0
    try:
        needs = _needs(args)
        if args.command == "verify":
            from ..server.pyodide import PyodideUnavailable, choose_pyodide

            try:
                source = choose_pyodide(pyodide_dir=args.dir, needs=needs)
            except PyodideUnavailable as exc:
                print(exc, file=sys.stderr)
                return 1
            print(f"ok: the server would serve Pyodide {pin.VERSION} from {source.description}")
            return 0
        from .fetch import FetchError, fetch

        result = fetch(root, registry=args.registry, tarball=args.tarball, needs=needs,
                       package_index=args.package_index, force=args.force)
    except (DownloadError, FetchError, LockError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # an experiment that cannot be loaded (ExperimentError)
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    if result.not_in_lock:
        print(f"not Pyodide packages (micropip installs them from PyPI in the browser): {', '.join(result.not_in_lock)}")
    packages = f" and {len(result.packages)} package(s) ({', '.join(result.packages)})" if result.packages else ""
    print(f"ok: Pyodide {pin.VERSION}{packages} in {result.folder}")
    option = "" if args.dir is None else f" --pyodide-dir {args.dir}"
    print(f"The server uses it when started with{option or ' no Pyodide option'}.")
    return 0
