"""The demo experiment: a start page, a two-player Gem Rush game over WebRTC, an end page.

    python -m interactive_gym_p2p.examples.demo [--port 5702] [--host 127.0.0.1]
        [--turn embedded|none] [--turn-port 3478] [--data-dir data] [--bot-after S]
        [--pyodide-dir DIR | --pyodide-index-url URL | --pyodide-cdn] [--wheelhouse DIR]
        [--code OUTCOME=CODE ...] [--example-codes] [--redirect-url URL | --prolific]

Completion codes (docs/participants.md): ``--code completed=C1A2B3`` gives participants who
finish that code (repeat for ``partner_left``, ``lobby_timeout``, ``connection_failed``,
``excluded`` or ``excluded:screening``, ``study_full``, ``error``); ``--example-codes`` sets a
readable code for every outcome (``DEMO-COMPLETED``, ...). ``--prolific`` sends participants
back to Prolific's completion page with their code. Open the printed Prolific-style link to see
the recruitment ids land in the participant records and exports.

Open the printed URL in two browser windows (two participants), or in one with ``--bot-after
20``: after 20 s alone in the waiting room a computer partner (the Python peer, started by
the server) takes the empty seat. The server hands out TURN
credentials for its embedded TURN server, serves the pinned Pyodide from this origin (the cache
of ``python -m interactive_gym_p2p.pyodide fetch``, or ``node_modules/pyodide`` in a clone: no
internet needed) and stores each player's validation export under
``<data-dir>/exports``. :func:`build_stager` is the experiment; tests reuse it with short games.
"""

from __future__ import annotations

import argparse
import logging
import secrets
import sys
from pathlib import Path
from typing import Any, Sequence

from interactive_gym.scenes.stager import Stager
from interactive_gym.scenes.static_scene import EndScene, StartScene

from ..cli import add_pyodide_arguments
from ..participants.outcomes import OUTCOMES
from ..participants.study import PROLIFIC_COMPLETION_URL, Study
from ..scene import P2PGymScene, SceneConfigError
from . import gem_rush

logger = logging.getLogger(__name__)

GAME_SCENE_ID = "gem_rush"

START_BODY = """
<p>You will play <b>Gem Rush</b> with another participant, each in your own browser.</p>
<p>Move with the <b>arrow keys</b> (or <b>W A S D</b>). Collect gems: green ones are worth
1 point, gold ones 3. Avoid the comets: they stun you for a second.</p>
<p>Press <b>Continue</b> to look for a partner.</p>
"""

GAME_BODY = "<p>Arrow keys or W A S D to move. Green gem: 1 point, gold gem: 3 points.</p>"


def build_game_scene(
    *,
    num_episodes: int = 2,
    max_steps: int = 1350,
    fps: int = 30,
    impairment: dict[str, Any] | None = None,
    ice_transport_policy: str = "all",
    scene_id: str = GAME_SCENE_ID,
    waiting_room: dict[str, Any] | None = None,
    matchmaking: dict[str, Any] | None = None,
    exclusion: dict[str, Any] | None = None,
    **p2p: Any,
) -> P2PGymScene:
    """The Gem Rush scene: two players, ``num_episodes`` rounds of ``max_steps`` frames.
    ``waiting_room`` and ``matchmaking`` go to those calls (docs/matchmaking.md), ``exclusion``
    to ``.exclusion(...)`` (docs/participants.md)."""
    scene = (
        P2PGymScene()
        .scene(scene_id=scene_id)
        .user_experience(scene_header="Gem Rush", scene_body=GAME_BODY, in_game_scene_body=GAME_BODY)
        .pyodide(environment_initialization_code=gem_rush.environment_initialization_code(max_steps))
        .gameplay(
            default_action=gem_rush.NOOP,
            action_mapping=gem_rush.ACTION_MAPPING,
            num_episodes=num_episodes,
            max_steps=max_steps,
        )
        .rendering(fps=fps, game_width=gem_rush.WIDTH, game_height=gem_rush.HEIGHT, background="#0f172a")
        .p2p(players=2, ice_transport_policy=ice_transport_policy, impairment=impairment, **p2p)
        # Each player's running score on every confirmed frame (the data tables' info_score).
        .validation(record_info=["score"])
    )
    if waiting_room:
        scene.waiting_room(**waiting_room)
    if matchmaking:
        scene.matchmaking(**matchmaking)
    if exclusion:
        scene.exclusion(**exclusion)
    return scene


def build_stager(
    num_episodes: int = 2,
    max_steps: int = 1350,
    impairment: dict[str, Any] | None = None,
    ice_transport_policy: str = "all",
    **game: Any,
) -> Stager:
    """StartScene -> Gem Rush (P2PGymScene) -> EndScene. Extra keywords go to ``.p2p(...)``
    (e.g. ``connection_timeout_s``, ``disconnect_policy``) or :func:`build_game_scene`."""
    start = (
        StartScene()
        .scene(scene_id="welcome")
        .display(scene_header="Welcome", scene_body=START_BODY)
    )
    play = build_game_scene(
        num_episodes=num_episodes, max_steps=max_steps, impairment=impairment,
        ice_transport_policy=ice_transport_policy, **game,
    )
    end = (
        EndScene()
        .scene(scene_id="thanks")
        .display(scene_header="Thank you!", scene_body="<p>The experiment is over. You can close this window.</p>")
    )
    return Stager(scenes=[start, play, end])


def example_codes() -> dict[str, str]:
    """A readable code for every outcome: DEMO-COMPLETED, DEMO-PARTNER-LEFT, ..."""
    return {outcome: "DEMO-" + outcome.upper().replace("_", "-") for outcome in OUTCOMES}


def build_study(codes: dict[str, Any] | None = None, redirect_url: str | None = None) -> Study:
    """The demo's participant settings: Prolific's URL parameters, ``codes`` (outcome or
    ``outcome:reason`` -> code or OutcomeSpec fields), an optional redirect for every coded outcome."""
    return Study().recruitment().outcomes(dict(codes or {}), redirect_url=redirect_url).check()


def _code_arg(text: str) -> tuple[str, str]:
    outcome, sep, code = text.partition("=")
    if not sep or not outcome or not code:
        raise argparse.ArgumentTypeError(f"expected OUTCOME=CODE (e.g. completed=C1A2B3), got {text!r}")
    return outcome, code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m interactive_gym_p2p.examples.demo", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5702, help="TCP port (default 5702)")
    parser.add_argument("--turn", choices=["embedded", "none"], default="embedded",
                        help="embedded: start this package's TURN server (default); none: no ICE servers")
    parser.add_argument("--turn-port", type=int, default=3478, help="UDP/TCP port of the embedded TURN server")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="where scene data and exports go (default ./data)")
    parser.add_argument("--episodes", type=int, default=2, help="rounds per game (default 2)")
    parser.add_argument("--max-steps", type=int, default=1350, help="frames per round (default 1350 = 45 s at 30 fps)")
    parser.add_argument("--relay", action="store_true", help="force the TURN relay (iceTransportPolicy 'relay')")
    parser.add_argument("--game", choices=["gem_rush", "kitchen"], default="gem_rush",
                        help="Gem Rush (default) or Kitchen, the cooperative Overcooked-like game (docs/client.md)")
    parser.add_argument("--ai-partner", action="store_true",
                        help="Kitchen only: the partner is the scripted AI chef (an AI seat, docs/ai.md); "
                             "each participant plays alone with it")
    parser.add_argument("--bot-after", type=float, default=None, metavar="S",
                        help="after S seconds alone in the waiting room, a bot (the Python peer) takes the empty seat")
    parser.add_argument("--code", type=_code_arg, action="append", default=[], metavar="OUTCOME=CODE",
                        help="completion code of an outcome (repeatable): completed, partner_left, lobby_timeout, "
                             "connection_failed, excluded (or excluded:screening, ...), study_full, error")
    parser.add_argument("--example-codes", action="store_true",
                        help="a readable code for every outcome (DEMO-COMPLETED, DEMO-PARTNER-LEFT, ...); --code overrides")
    redirect = parser.add_mutually_exclusive_group()
    redirect.add_argument("--redirect-url", default=None,
                          help="send participants with a code here; {code}, {subject_id}, {PROLIFIC_PID}, ... are filled in")
    redirect.add_argument("--prolific", action="store_true", help=f"redirect to Prolific's completion page ({PROLIFIC_COMPLETION_URL})")
    parser.add_argument("--wait-timeout", type=float, default=None, help="seconds in the waiting room before lobby_timeout (default 120)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    add_pyodide_arguments(parser)
    return parser


def game_stager(args: argparse.Namespace, extra: dict[str, Any]) -> Stager:
    """The experiment the command line asks for (``--game``, ``--ai-partner``)."""
    policy = "relay" if args.relay else "all"
    if args.game == "kitchen":
        from . import kitchen

        if args.ai_partner and args.bot_after is not None:
            raise SceneConfigError("--ai-partner", "plays without a waiting room: --bot-after has no seat to fill")
        return kitchen.build_stager(num_players=2, max_steps=args.max_steps, ai_seats=(1,) if args.ai_partner else (),
                                    num_episodes=args.episodes, ice_transport_policy=policy, **extra)
    if args.ai_partner:
        raise SceneConfigError("--ai-partner", "needs --game kitchen (Gem Rush has no AI policy)")
    return build_stager(num_episodes=args.episodes, max_steps=args.max_steps, ice_transport_policy=policy, **extra)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from .. import environ
    from ..cli import RESEARCHER_TOKEN_ENV
    from ..server import ServerConfig, load_experiment, run
    from ..server.pyodide import PyodideUnavailable, pyodide_for
    from ..server.services import TurnSettings

    try:
        extra: dict[str, Any] = {}
        if args.bot_after is not None:
            extra = {"wait_timeout_s": args.bot_after, "waiting_room": {"on_timeout": "bot", "bot_actions": "random"}}
        elif args.wait_timeout is not None:
            extra = {"wait_timeout_s": args.wait_timeout}
        stager = game_stager(args, extra)
        codes = {**(example_codes() if args.example_codes else {}), **dict(args.code)}
        study = build_study(codes, PROLIFIC_COMPLETION_URL if args.prolific else args.redirect_url)
        # The demo turns the researcher page on: the token comes from the environment, else a
        # fresh one per run that only the person at this terminal sees.
        from_env = environ.get(environ.RESEARCHER_TOKEN)
        token = from_env or secrets.token_urlsafe(24)
        config = ServerConfig(
            host=args.host, port=args.port, data_dir=args.data_dir,
            pyodide_dir=args.pyodide_dir, pyodide_index_url=args.pyodide_index_url, pyodide_cdn=args.pyodide_cdn,
            wheelhouse=args.wheelhouse,
            researcher_token=token, study=study,
        )
        config.check()
        pyodide_for(config, load_experiment(stager))  # refuses before the banner, naming the fetch command
        # mode "none" still wires the export store and upload routes (turn=None would not).
        turn = TurnSettings(mode=args.turn, host=args.host, port=args.turn_port)
        shown = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
        print(f"Gem Rush demo: open http://{shown}:{args.port}/ in two browser windows (one per player).", flush=True)
        if args.bot_after is not None:
            print(f"Alone? After {args.bot_after:g} s in the waiting room a bot takes the other seat.", flush=True)
        print(f"A participant arriving from Prolific: http://{shown}:{args.port}/?PROLIFIC_PID=demo1&STUDY_ID=study1&SESSION_ID=s1", flush=True)
        if codes:
            print("Completion codes: " + ", ".join(f"{k}={v}" for k, v in sorted(codes.items())), flush=True)
        print(f"Exports are stored under {Path(args.data_dir) / 'exports'}; participant outcomes under "
              f"{Path(args.data_dir) / 'participants'}.", flush=True)
        if from_env:
            print(f"Researcher page: http://{shown}:{args.port}/p2p/research/ (token from ${RESEARCHER_TOKEN_ENV}).", flush=True)
        else:
            print(f"Researcher page: http://{shown}:{args.port}/p2p/research/ (token for this run: {token}).", flush=True)
        print(f"Outcomes for payments: IGP2P_RESEARCHER_TOKEN=... python -m interactive_gym_p2p.exports participants "
              f"--server http://{shown}:{args.port} --csv", flush=True)
        run(stager, config, turn=turn)
    except (ValueError, PyodideUnavailable) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
