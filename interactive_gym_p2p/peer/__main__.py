"""``python -m interactive_gym_p2p.peer``: N headless peers against a running experiment.

    python -m interactive_gym_p2p.peer --server http://127.0.0.1:5702 --peers 2 \\
        [--actions random|noop|script:1,2,3|policy:module:function] [--seed S] [--impair delay=80,loss=0.05,seed=1]
        [--subject-ids a,b] [--scene SCENE_ID]

Every peer is a participant with its own subject id: it goes through the Stager's scenes,
plays every P2P scene over WebRTC (the server's ICE servers only) and uploads its export.
Prints one row per peer. Exit code 0 when every peer finished its games and uploaded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import sys
from typing import Any

from .actions import ActionError, parse_action_source, scene_actions
from .runner import PeerResult, quiet_lost_link_errors, run_peer

logger = logging.getLogger(__name__)

IMPAIR_KEYS = {"delay": "delay_ms", "jitter": "jitter_ms", "loss": "loss", "duplicate": "duplicate",
               "reorder": "reorder", "seed": "seed"}


def parse_impairment(text: str) -> dict[str, Any]:
    """``delay=80,loss=0.05,seed=1`` -> ``{"delay_ms": 80, "loss": 0.05, "seed": 1}`` (delay is one-way, ms)."""
    out: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or key not in IMPAIR_KEYS:
            raise argparse.ArgumentTypeError(f"--impair: {part!r}: use {', '.join(IMPAIR_KEYS)} as key=value")
        try:
            number = float(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--impair: {key} must be a number, got {value!r}") from None
        out[IMPAIR_KEYS[key]] = int(number) if key == "seed" or number.is_integer() else number
    out.setdefault("seed", 0)
    return out


def summary_rows(results: list[PeerResult | BaseException], subjects: list[str]) -> list[dict[str, Any]]:
    rows = []
    for subject, r in zip(subjects, results):
        if isinstance(r, BaseException):
            rows.append({"subject": subject, "game_id": None, "player": None, "frames": 0, "verified": None,
                         "path": None, "fps": None, "stalled_pct": None, "uploaded": None, "result": f"error: {r}"})
            continue
        if not r.games:
            rows.append({"subject": subject, "game_id": None, "player": None, "frames": 0, "verified": None,
                         "path": None, "fps": None, "stalled_pct": None, "uploaded": None, "result": "no P2P scene"})
        for g in r.games:
            path = g.path or {}
            rows.append({
                "subject": subject, "game_id": g.game_id, "player": g.player_index, "frames": g.frames,
                "verified": g.verified_frame,
                "path": f"{path.get('kind')}/{path.get('protocol')}" if path else None,
                "fps": round(g.ticks.fps, 1) if g.ticks.ticks else None,
                "stalled_pct": round(100 * g.ticks.stalled_ticks / g.ticks.ticks, 1) if g.ticks.ticks else None,
                "uploaded": (g.upload.outcome if g.upload else "no"),
                "result": g.error or g.game_over_reason,
            })
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    cols = ["subject", "game_id", "player", "frames", "verified", "path", "fps", "stalled_pct", "uploaded", "result"]
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in cols} if rows else {c: len(c) for c in cols}
    print("  ".join(c.rjust(widths[c]) for c in cols))
    print("  ".join("-" * widths[c] for c in cols))
    for r in rows:
        print("  ".join(str(r[c]).rjust(widths[c]) for c in cols))


async def exit_with_parent(parent: int, period_s: float = 1.0) -> None:
    """A bot the server started ends when that server is gone (its parent process is no longer
    ``parent``; a parent gone before this started watching counts too, hence its pid is given)."""
    while True:
        await asyncio.sleep(period_s)
        if os.getppid() != parent:
            logger.warning("the process that started these peers (pid %d) is gone: exiting", parent)
            os._exit(3)


async def run_many(args: argparse.Namespace, subjects: list[str]) -> list[PeerResult | BaseException]:
    quiet_lost_link_errors(asyncio.get_running_loop())
    # The server names itself: os.getppid() here would already be the reaper if it died while we imported.
    parent = args.exit_with_parent or os.getppid()
    watcher = asyncio.create_task(exit_with_parent(parent)) if args.exit_with_parent is not None else None

    def factory(i: int) -> Any:
        # One source per game, seeded from --seed and the peer's number: a run can be replayed.
        return lambda scene: parse_action_source(args.actions, seed=args.seed * 1000 + i, choices=scene_actions(scene))

    results = await asyncio.gather(*(
        run_peer(args.server, subject_id=s, actions=factory(i), impairment=args.impair, timeout_s=args.timeout,
                 upload=not args.no_upload, only_scene=args.scene, recruitment=args.recruitment)
        for i, s in enumerate(subjects)), return_exceptions=True)
    if watcher is not None:
        watcher.cancel()
    return list(results)


def parse_recruitment(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name or not value:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m interactive_gym_p2p.peer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server", required=True, help="experiment URL, e.g. http://127.0.0.1:5702")
    parser.add_argument("--peers", type=int, default=2, help="number of concurrent peers (participants)")
    parser.add_argument("--actions", default="random",
                        help="random | noop | script:a,b,... | policy:package.module:function (default random)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random actions (per peer: seed*1000+i)")
    parser.add_argument("--impair", type=parse_impairment, default=None,
                        help="seeded impairment of each peer's sends: delay=MS,jitter=MS,loss=P,duplicate=P,reorder=P,seed=N "
                             "(default: the scene's own setting)")
    parser.add_argument("--subject-prefix", default=None, help="subject ids are PREFIX0, PREFIX1, ... (default: random)")
    parser.add_argument("--subject-ids", default=None,
                        help="comma-separated subject ids, one per peer (overrides --peers and --subject-prefix; "
                             "how the server starts its bots)")
    parser.add_argument("--exit-with-parent", nargs="?", type=int, const=0, default=None, metavar="PID",
                        help="exit when the process that started this one (PID, default: the parent at start) "
                             "is gone (bots the server starts, giving its own pid)")
    parser.add_argument("--scene", default=None,
                        help="play only this P2P scene and stop there (default: every P2P scene, then the end scene)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds for each peer's whole run")
    parser.add_argument("--no-upload", action="store_true", help="build the exports but do not upload them")
    parser.add_argument("--recruitment", type=parse_recruitment, action="append", default=[], metavar="NAME=VALUE",
                        help="a recruitment id every peer sends, as a study link's parameter (repeatable), "
                             "e.g. STUDY_ID=pilot1; it lands in the participant records and the exports")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON too")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    if args.peers < 1:
        parser.error("--peers must be >= 1")
    args.recruitment = dict(args.recruitment)
    try:
        parse_action_source(args.actions, seed=0, choices=[0])
    except ActionError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.subject_ids:
        subjects = [x.strip() for x in args.subject_ids.split(",") if x.strip()]
        if not subjects:
            parser.error("--subject-ids lists no subject id")
    else:
        prefix = args.subject_prefix or f"pypeer-{secrets.token_hex(3)}-"
        subjects = [f"{prefix}{i}" for i in range(args.peers)]
    results = asyncio.run(run_many(args, subjects))
    rows = summary_rows(results, subjects)
    print_table(rows)
    if args.json:
        print(json.dumps(rows))
    ok = all(not isinstance(r, BaseException) and r.games and all(g.error is None and (args.no_upload or (g.upload and g.upload.ok))
                                                                  for g in r.games) for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
