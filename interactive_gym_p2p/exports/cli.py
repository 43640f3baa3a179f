"""Command line for researchers: ``python -m interactive_gym_p2p.exports COMMAND``.

    list      games on a running server (--server) or in a data directory (--data-dir)
    download  one export, one game (zip) or everything (zip) from a running server
    validate  check export files against the schema
    compare   the cross-player comparison report of export files (or of a stored game)
    verify    replay an export's confirmed actions through the environment and check every hash
    table     research tables (frames, inputs, episodes, events, players, participants) of one
              game, of export files, or of a whole data directory, as CSV (and Parquet)
    participants  every participant's outcome and completion code (a table, JSON or the payment CSV)

The researcher token comes from $IGP2P_RESEARCHER_TOKEN or --token-file (a --token flag
would be visible to other users in the process list).
Exit codes: 0 ok; 1 invalid, diverged or not reproduced; 2 usage; 3 server or file problem.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, Sequence, TextIO

from .. import environ
from ..validation.compare import compare_exports
from ..validation.schema import ExportInvalid, parse_export
from ..validation.storage import ExportStore
from .client import ResearchClient, ServerError

logger = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TROUBLE = 0, 1, 2, 3


class _Trouble(Exception):
    """A problem that is not the data's fault (server away, file missing)."""


def _token(args: argparse.Namespace) -> str:
    if args.token_file:
        return Path(args.token_file).read_text().strip()
    token = (environ.get(environ.RESEARCHER_TOKEN) or "").strip()
    if not token:
        raise _Trouble("no researcher token: set IGP2P_RESEARCHER_TOKEN or pass --token-file")
    return token


def _print_games(games: list[dict[str, Any]], out: TextIO) -> None:
    header = ("game", "scene", "created", "players", "uploaded", "verified", "desyncs", "comparison")
    rows = [header]
    for g in games:
        status = g["comparison"]
        if g.get("first_divergent_frame") is not None:
            status += f" @{g['first_divergent_frame']}"
        subjects = ",".join(str(p["subject_id"]) for p in g["players"])
        rows.append(
            (
                g["game_id"], str(g["scene_id"]), str(g["created_at"] or "-"), subjects,
                f"{g['uploads']}/{g['num_players']}", str(g["verified_frame"] if g["verified_frame"] is not None else "-"),
                str(g["desyncs"]), status,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    for r in rows:
        out.write("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")
    out.write(f"{len(games)} game(s)\n")


def _read_export(path: str) -> dict[str, Any]:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise _Trouble(f"{path}: {exc.strerror or exc}") from None
    return parse_export(data)


def cmd_list(args: argparse.Namespace, out: TextIO) -> int:
    if args.server:
        games = ResearchClient(args.server, _token(args)).games()
    else:
        if not Path(args.data_dir, "games").is_dir():
            raise _Trouble(f"{args.data_dir} is not a data directory (no games/ folder)")
        games = ExportStore(args.data_dir).list_games()
    if args.json:
        out.write(json.dumps(games, indent=1) + "\n")
    else:
        _print_games(games, out)
    return EXIT_OK


def cmd_download(args: argparse.Namespace, out: TextIO) -> int:
    client = ResearchClient(args.server, _token(args))
    if args.player is not None and not args.game:
        raise _Trouble("--player needs --game")
    if args.study:
        if args.game or args.player is not None:
            raise _Trouble("--study downloads the whole study; leave out --game and --player")
        dest = Path(args.output or "study.zip")
        client.download_study(dest)
    elif args.game and args.player is not None:
        dest = Path(args.output or f"{args.game}-player-{args.player}.json")
        client.download_export(args.game, args.player, dest, args.revision)
    elif args.game:
        dest = Path(args.output or f"{args.game}.zip")
        client.download_game(args.game, dest)
    else:
        dest = Path(args.output or "validation-exports.zip")
        client.download_all(dest)
    out.write(f"wrote {dest} ({dest.stat().st_size} bytes)\n")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace, out: TextIO) -> int:
    status = EXIT_OK
    for path in args.exports:
        try:
            doc = _read_export(path) if not args.reference else parse_export(Path(path).read_bytes(), reference=True)
        except ExportInvalid as exc:
            status = EXIT_FAILED
            out.write(f"{path}: INVALID\n")
            for problem in exc.problems:
                out.write(f"  {problem}\n")
            continue
        frames = sum(len(e["frames"]) for e in doc["episodes"])
        partial = " partial" if doc["partial"] else ""
        out.write(
            f"{path}: valid{partial} export of game {doc['ids']['game_id']} player {doc['ids']['player_index']}"
            f" ({len(doc['episodes'])} episode(s), {frames} confirmed frames, {len(doc['desyncs'])} desync(s))\n"
        )
    return status


def _summarize_report(report: dict[str, Any], out: TextIO) -> None:
    out.write(f"game {report['game_id']}: {report['status'].upper()}")
    out.write(f" ({report['common_frames']} frames confirmed by every player, verified up to frame {report['verified_frame']})\n")
    if report["first_divergent_frame"] is not None:
        div = report["divergence"]
        out.write(f"first divergent frame: {div['frame']} (episode {div['episode']}, {div['kind']} differ)\n")
        for p, v in sorted(div["players"].items()):
            out.write(f"  player {p}: actions {v['actions']} hash {v['hash']}\n")
        diff = div["state_diff"]
        if diff:
            out.write(f"  state fields that differ ({len(diff['paths'])}{'+' if diff['truncated'] else ''}):\n")
            for entry in diff["paths"][:20]:
                values = ", ".join(f"player {p}: {json.dumps(v)}" for p, v in sorted(entry["values"].items()))
                absent = f"; absent in {entry['absent_in']}" if entry.get("absent_in") else ""
                out.write(f"    {entry['path']}: {values}{absent}\n")
    for m in report["episode_mismatches"]:
        out.write(f"episode {m['episode']}: {m['field']} differs {m['values']}\n")
    for u in report["unreached_frames"]:
        out.write(f"player {u['player_index']} confirmed {u['count']} frame(s) player {u['missing_in']} never reached: {u['ranges'][:5]}\n")
    for p in report["players"]:
        if p["desyncs"]:
            frames = [d["frame"] for d in p["desyncs"]]
            out.write(f"player {p['player_index']} saw {len(frames)} desync(s) at frames {frames[:10]}\n")
    for w in report["warnings"]:
        out.write(f"warning: {w}\n")


def cmd_compare(args: argparse.Namespace, out: TextIO) -> int:
    if args.data_dir:
        if not args.game:
            raise _Trouble("--data-dir needs --game")
        report = ExportStore(args.data_dir).comparison(args.game)
        if report is None:
            raise _Trouble(f"game {args.game} has no comparison yet (a player's export is missing)")
    else:
        if len(args.exports) < 2:
            raise _Trouble("compare needs at least two export files (or --data-dir and --game)")
        report = compare_exports([_read_export(p) for p in args.exports])
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=1) + "\n")
    if args.json:
        out.write(json.dumps(report, indent=1) + "\n")
    else:
        _summarize_report(report, out)
    return EXIT_OK if report["agree"] else EXIT_FAILED


def cmd_verify(args: argparse.Namespace, out: TextIO) -> int:
    from ..validation.replay import replay_export

    doc = _read_export(args.export)
    factory, agents, step_code = _replay_options(args)
    result = replay_export(doc, factory, shared_seed=args.seed, agent_ids=agents, on_game_step_code=step_code)
    for note in result.notes:
        out.write(f"note: {note}\n")
    if result.mismatch is not None:
        m = result.mismatch
        out.write(
            f"NOT REPRODUCED: frame {m.frame} (episode {m.episode}) hashes {m.actual} in CPython, "
            f"the export says {m.expected}; actions {m.actions}\n"
        )
        out.write(f"replayed state: {json.dumps(m.state, sort_keys=True)[:2000]}\n")
        return EXIT_FAILED
    for problem in result.problems:
        out.write(f"PROBLEM: {problem}\n")
    if result.problems:
        return EXIT_FAILED
    out.write(
        f"REPRODUCED: {result.hashes_checked} frame hashes over {result.frames_replayed} frames "
        f"in {result.episodes_replayed} episode(s) match\n"
    )
    return EXIT_OK


def _replay_options(args: argparse.Namespace) -> tuple[Any, list[Any] | None, str | None]:
    """--env, --agents and --on-game-step-code: the environment factory, the agent ids in
    player order (None: the environment's) and the scene's step code (None: none)."""
    from ..validation.replay import load_factory

    try:
        factory = load_factory(args.env)
    except (ImportError, AttributeError, ValueError, TypeError) as exc:
        raise _Trouble(f"--env {args.env}: {exc}") from None
    agents = [int(a) if a.lstrip("-").isdigit() else a for a in args.agents.split(",")] if args.agents else None
    step_code = None
    if args.on_game_step_code:
        try:
            step_code = Path(args.on_game_step_code).read_text(encoding="utf-8")
        except OSError as exc:
            raise _Trouble(f"--on-game-step-code {args.on_game_step_code}: {exc}") from None
    return factory, agents, step_code


def cmd_table(args: argparse.Namespace, out: TextIO) -> int:
    from ..data.files import write_tables
    from ..data.tables import GameSource, game_tables

    derive = None
    if args.replay:
        from ..data.derive import DerivationFailed, derive_step_data

        if not args.env:
            raise _Trouble("--replay needs --env module:factory (the environment to replay the actions through)")
        factory, agents, step_code = _replay_options(args)

        def replayed(doc: Any) -> Any:
            try:
                return derive_step_data(doc, factory, agents, step_code)
            except DerivationFailed as exc:
                out.write(f"warning: game {doc['ids']['game_id']}: rewards not derived: {exc}\n")
                return None

        derive = replayed
    formats = ["csv", "parquet"] if args.format == "both" else [args.format]
    if args.exports:
        if args.data_dir:
            raise _Trouble("give export files or --data-dir, not both")
        from ..data.files import merge

        by_game: dict[str, dict[int, Any]] = {}
        for path in args.exports:
            doc = _read_export(path)
            by_game.setdefault(doc["ids"]["game_id"], {})[doc["ids"]["player_index"]] = doc
        per_game = []
        for gid, exports in sorted(by_game.items()):
            report = compare_exports(exports) if len(exports) == 1 + len(next(iter(exports.values()))["ids"]["peers"]) else None
            src = GameSource(game_id=gid, exports=exports, comparison=report)
            if derive is not None:
                ref = max(sorted(exports), key=lambda q: sum(len(e["frames"]) for e in exports[q]["episodes"]))
                if any(e.get("rewards") is None for e in exports[ref]["episodes"]):
                    src.derived = derive(exports[ref])
            per_game.append(game_tables(src))
        tables = {name: merge(name, [t[name] for t in per_game]) for name in per_game[0]}
        from ..data.study import Participants, participants_table

        # No participant records beside loose export files: subjects and recruitment ids from the exports.
        tables["participants"] = participants_table(Participants(), tables["players"], tables["frames"])
    elif args.data_dir:
        from ..data.study import study_tables

        try:
            tables = study_tables(Path(args.data_dir), derive=derive, game_ids=args.game or None,
                                  on_error=lambda gid, exc: out.write(f"warning: game {gid}: {exc}\n"))
        except FileNotFoundError as exc:
            raise _Trouble(str(exc)) from None
    else:
        raise _Trouble("give export files or --data-dir")
    try:
        written = write_tables(tables, Path(args.output), formats)
    except RuntimeError as exc:
        raise _Trouble(str(exc)) from None
    for name, t in tables.items():
        out.write(f"{name}: {len(t.rows)} rows\n")
    out.write(f"wrote {len(written)} file(s) to {args.output}\n")
    return EXIT_OK


def _participant_records(args: argparse.Namespace) -> list[dict[str, Any]]:
    if args.server:
        return ResearchClient(args.server, _token(args)).participants()
    from ..participants.ledger import ParticipantLedger
    from ..participants.store import FileParticipantStore
    from ..participants.study import Study

    folder = Path(args.data_dir, "participants")
    if not folder.is_dir():
        raise _Trouble(f"{args.data_dir} has no participants/ folder (no participant has connected yet?)")
    return ParticipantLedger(FileParticipantStore(folder), Study()).records()


def cmd_participants(args: argparse.Namespace, out: TextIO) -> int:
    from ..participants.routes import participants_csv

    records = _participant_records(args)
    if not args.json:  # the table and the CSV are of recruited people: bots left out
        records = [r for r in records if not r.get("bot")]
    if args.outcome:
        records = [r for r in records if (r.get("outcome") or {}).get("outcome") == args.outcome
                   or (args.outcome == "none" and not r.get("outcome"))]
    from ..participants.recruitment import MTURK_PARAMS, PROLIFIC_PARAMS

    known = (*PROLIFIC_PARAMS, *MTURK_PARAMS)
    names = {k for r in records for k in r.get("recruitment") or {}}
    # The recruiters' own order (PROLIFIC_PID, STUDY_ID, SESSION_ID), then any other name.
    params = sorted(names, key=lambda k: (known.index(k) if k in known else len(known), k))
    if args.csv:
        text = participants_csv(records, params)
    elif args.json:
        text = json.dumps(records, indent=1) + "\n"
    else:
        header = ("subject", *params, "outcome", "code", "started", "ended")
        rows = [header]
        for r in records:
            o = r.get("outcome") or {}
            name = (o.get("outcome") or "-") + (f":{o['reason']}" if o.get("reason") else "")
            rows.append((r["subject_id"], *((r.get("recruitment") or {}).get(p, "-") for p in params), name,
                         o.get("code") or "-", r.get("started_at") or "-", r.get("ended_at") or "-"))
        widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
        text = "".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() + "\n" for row in rows)
        counts: dict[str, int] = {}
        for r in records:
            key = (r.get("outcome") or {}).get("outcome") or "no outcome yet"
            counts[key] = counts.get(key, 0) + 1
        text += f"{len(records)} participant(s): " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + "\n"
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        out.write(f"wrote {args.output} ({len(records)} participant(s))\n")
    else:
        out.write(text)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m interactive_gym_p2p.exports",
        description="Validation exports: list, download, validate, compare, verify.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def token_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--token-file", help="file holding the researcher token (default: $IGP2P_RESEARCHER_TOKEN)")

    def server_or_data_dir(p: argparse.ArgumentParser) -> None:
        where = p.add_mutually_exclusive_group(required=True)
        where.add_argument("--server", help="a running server, e.g. http://127.0.0.1:8000")
        where.add_argument("--data-dir", help="a server's data directory")
        token_args(p)

    p = sub.add_parser("list", help="list games")
    server_or_data_dir(p)
    p.add_argument("--json", action="store_true", help="print the JSON list")
    p.set_defaults(run=cmd_list)

    p = sub.add_parser("download", help="download from a running server")
    p.add_argument("--server", required=True)
    p.add_argument("--game", help="one game (a zip), or with --player one export")
    p.add_argument("--player", type=int)
    p.add_argument("--revision", type=int, help="with --player: a given revision (default the latest)")
    p.add_argument("--study", action="store_true",
                   help="the study zip: research tables, codebook, raw exports, reports, participant records")
    p.add_argument("-o", "--output", help="where to write (default: a name in the current folder)")
    token_args(p)
    p.set_defaults(run=cmd_download)

    p = sub.add_parser("validate", help="check export files against the schema")
    p.add_argument("exports", nargs="+")
    p.add_argument("--reference", action="store_true", help="use the jsonschema reference validator (slow)")
    p.set_defaults(run=cmd_validate)

    p = sub.add_parser("compare", help="compare the players' exports of one game")
    p.add_argument("exports", nargs="*")
    p.add_argument("--data-dir", help="compare a stored game instead of files")
    p.add_argument("--game")
    p.add_argument("-o", "--output", help="also write the full report (JSON) here")
    p.add_argument("--json", action="store_true", help="print the full report")
    p.set_defaults(run=cmd_compare)

    p = sub.add_parser("verify", help="replay an export through the environment in CPython")
    p.add_argument("export")
    p.add_argument("--env", required=True, help="module:factory returning a fresh environment, e.g. pkg.envs:make_env")
    p.add_argument("--seed", type=int, help="the game's shared seed: also check each episode seed against it")
    p.add_argument("--agents", help="agent ids in player order, comma-separated (default env.possible_agents)")
    p.add_argument("--on-game-step-code", metavar="FILE",
                   help="the scene's on_game_step_code (a .py file), run before every step as the browser does")
    p.set_defaults(run=cmd_verify)

    p = sub.add_parser("table", help="research tables of export files or of a data directory")
    p.add_argument("exports", nargs="*", help="export files (any games; every player's export of a game for 'verified')")
    p.add_argument("--data-dir", help="a server's data directory (or its exports/ folder): every game, participants, forms")
    p.add_argument("--game", action="append", help="with --data-dir: only this game (repeatable)")
    p.add_argument("-o", "--output", required=True, help="folder to write the tables into")
    p.add_argument("--format", choices=["csv", "parquet", "both"], default="csv",
                   help="csv (default), parquet or both (Parquet needs the [data] extra)")
    p.add_argument("--replay", action="store_true",
                   help="derive rewards for exports without them by replaying the actions through --env in CPython")
    p.add_argument("--env", help="with --replay: module:factory returning a fresh environment")
    p.add_argument("--agents", help="with --replay: agent ids in player order, comma-separated")
    p.add_argument("--on-game-step-code", metavar="FILE", help="with --replay: the scene's on_game_step_code (a .py file)")
    p.set_defaults(run=cmd_table)

    p = sub.add_parser("participants", help="participants' outcomes and completion codes (for approving payments)")
    server_or_data_dir(p)
    shape = p.add_mutually_exclusive_group()
    shape.add_argument("--csv", action="store_true", help="the payment table as CSV (one row per participant)")
    shape.add_argument("--json", action="store_true", help="the full records as JSON")
    p.add_argument("--outcome", help="only this outcome (completed, partner_left, ..., or none: no outcome yet)")
    p.add_argument("-o", "--output", help="write to this file instead of the terminal")
    p.set_defaults(run=cmd_participants)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args, out))
    except ExportInvalid as exc:
        out.write(f"INVALID: {exc}\n")
        for problem in exc.problems:
            out.write(f"  {problem}\n")
        return EXIT_FAILED
    except (_Trouble, ServerError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_TROUBLE
