"""The Python (aiortc) peer as a participant, in its own process, for the interop test.

    python3 python_peer.py --url http://127.0.0.1:PORT --subject py-peer --out result.json [--seed 7]

Runs ``interactive_gym_p2p.peer.runner.run_peer`` through the whole flow (start scene,
waitroom, game, export upload, end scene) with seeded random actions and writes the result
(export, path, upload outcome, ...) as JSON to ``--out``. Its own process, so its asyncio
loop and CPU time do not compete with Playwright's inside pytest. Exit code 0 on success,
1 (with the error on stderr) otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import sys
import traceback
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    from interactive_gym_p2p.peer.actions import RandomActions
    from interactive_gym_p2p.peer.runner import run_peer

    result = await run_peer(args.url, subject_id=args.subject,
                            actions=RandomActions(seed=args.seed, n_actions=9, hold=6),
                            timeout_s=args.timeout, upload=True, advance_to_end=True)
    if not result.games:
        raise RuntimeError(f"the Python peer played no game; scenes {result.scenes}")
    # The first (only) game's fields at the top, without the bulky session record.
    game = _jsonable(result.games[0])
    game.pop("record", None)
    game.pop("signaling_events", None)
    return {**game, "subject_id": result.subject_id, "scenes": result.scenes, "reached_end": result.reached_end}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--url", required=True)
    ap.add_argument("--subject", required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--timeout", type=float, default=150.0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        result = asyncio.run(_run(args))
    except Exception:
        traceback.print_exc()
        return 1
    args.out.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
