"""The real experiment server for the game tests, as a child process.

    python3 game_server.py --experiment interactive_gym_p2p.examples.demo:build_stager \
        --kwargs '{"num_episodes": 2}' --data-dir DIR [--turn embedded|none]

Builds the Stager by calling the named factory with ``--kwargs``, wires the real services
(``ExperimentServices``: embedded TURN server on 127.0.0.1 with loopback peers allowed, the
export store under ``DIR/exports``, the validation routes) and serves it with
``BackgroundServer`` on a free port of 127.0.0.1. Prints ``READY <port>`` once listening and
serves until its stdin closes, so it never outlives the test. A separate process (not a thread
of pytest) so it can run inside the test's network namespace (``nsenter -t PID -n``) and does
not compete with Playwright for pytest's GIL.

Every game's end (signaling's ``on_game_ended``) is appended to ``DIR/game_ends.jsonl`` so a
test can check what the server decided (``completed`` / ``incomplete``, ``ended_by``).
``--researcher-token-file`` turns on the researcher routes and the research console.
``--countdown-s S`` sets every P2P scene's start countdown (the harness passes 0 unless a test
asks for the countdown: 3 s of waiting per game otherwise).
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def _factory(spec: str) -> Any:
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name or "build_stager")


def _p2p_scenes(items: Any) -> Any:
    """The P2P scenes among a Stager's scenes, inside wrappers too (without unpacking them:
    a RandomizeOrder's unpack shuffles)."""
    from interactive_gym.scenes.scene import SceneWrapper

    from interactive_gym_p2p.scene import P2PGymScene

    for item in items:
        if isinstance(item, SceneWrapper):
            yield from _p2p_scenes(item.scenes)
        elif isinstance(item, P2PGymScene):
            yield item


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--experiment", required=True, help="module:factory returning a Stager")
    ap.add_argument("--kwargs", default="{}", help="JSON object of keyword arguments for the factory")
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--turn", choices=["embedded", "none"], default="embedded")
    ap.add_argument("--pyodide-dir", type=Path, default=None)
    ap.add_argument("--pyodide-folder", type=Path, default=None,
                    help="a Pyodide folder the test made, served as-is at /test-pyodide/ (the pages' index URL; "
                    "not checked against the pin)")
    ap.add_argument("--wheelhouse", type=Path, default=None, help="the researcher's wheels (ServerConfig.wheelhouse)")
    ap.add_argument("--researcher-token-file", type=Path, default=None,
                    help="turns on the researcher routes and the research console (a secret: never on the command line)")
    ap.add_argument("--study", default=None, help="JSON keyword arguments of the demo's build_study (codes, redirect_url)")
    ap.add_argument("--no-preload", action="store_true", help="ServerConfig(preload_environment=False)")
    ap.add_argument("--countdown-s", type=float, default=None,
                    help="every P2P scene's countdown_s (default: the experiment's own)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from interactive_gym_p2p.server import BackgroundServer, ServerConfig
    from interactive_gym_p2p.server.services import ExperimentServices, TurnSettings

    stager = _factory(args.experiment)(**json.loads(args.kwargs))
    if args.countdown_s is not None:
        for scene in _p2p_scenes(stager.scenes):
            scene.p2p(countdown_s=args.countdown_s)
    ends = args.data_dir / "game_ends.jsonl"
    lock = threading.Lock()

    def on_game_ended(end: Any) -> None:
        row = {"game_id": end.game_id, "scene_id": end.scene_id, "outcome": end.outcome,
               "seats": {str(k): str(v) for k, v in dict(end.seats).items()}, "ended_by": end.ended_by}
        with lock, ends.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row, sort_keys=True) + "\n")

    args.data_dir.mkdir(parents=True, exist_ok=True)
    token = args.researcher_token_file.read_text(encoding="utf-8").strip() if args.researcher_token_file else None
    study = None
    if args.study is not None:
        from interactive_gym_p2p.examples.demo import build_study

        study = build_study(**json.loads(args.study))
    blueprints = []
    index_url = None
    if args.pyodide_folder is not None:
        import flask

        folder = args.pyodide_folder.resolve()
        bp = flask.Blueprint("test_pyodide", __name__)
        types = {".mjs": "text/javascript", ".js": "text/javascript", ".wasm": "application/wasm",
                 ".json": "application/json", ".zip": "application/zip", ".whl": "application/zip"}

        @bp.get("/test-pyodide/<name>")
        def test_pyodide(name: str) -> Any:
            return flask.send_from_directory(folder, name, mimetype=types.get(Path(name).suffix))

        blueprints.append(bp)
        index_url = "/test-pyodide/"
    config = ServerConfig(host="127.0.0.1", port=0, async_mode="threading", data_dir=args.data_dir,
                          pyodide_dir=args.pyodide_dir, on_game_ended=on_game_ended, researcher_token=token,
                          pyodide_index_url=index_url, wheelhouse=args.wheelhouse, blueprints=tuple(blueprints),
                          study=study, preload_environment=not args.no_preload)
    turn = TurnSettings(mode="embedded", host="127.0.0.1", port=0, allow_loopback=True) if args.turn == "embedded" \
        else TurnSettings(mode="none")
    services = ExperimentServices(config, turn)
    wired = services.start()
    try:
        server = BackgroundServer(stager, wired)
        url = server.start()
        turn_urls = ",".join(services.turn.urls) if services.turn is not None else "-"
        print(f"READY {url.rsplit(':', 1)[1]} {turn_urls}", flush=True)
        sys.stdin.read()  # until the test closes our stdin (or dies)
        server.stop()
    finally:
        services.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
