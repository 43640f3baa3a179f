"""The Python peer's input log (twin of static/js/input_log.js) on the shared vector."""

from __future__ import annotations

import json
from pathlib import Path

from interactive_gym_p2p.peer.input_log import InputLog

VECTOR = json.loads((Path(__file__).parent / "vectors" / "input_log.json").read_text())


def test_shared_vector() -> None:
    log = InputLog(limit=VECTOR["limit"])
    for op, *a in VECTOR["calls"]:
        if op == "key":
            log.key(*a)
        elif op == "start":
            log.start(a[0])
        elif op == "assign":
            log.assign(a[0])
        elif op == "displayed":
            log.displayed(*a)
        elif op == "confirm":
            stamps = {int(k): v for k, v in a[1].items()}
            log.confirm_through(a[0], lambda f, stamps=stamps: stamps.get(f, 0))
        else:
            raise AssertionError(op)
    assert log.rows() == VECTOR["rows"]
    assert json.dumps(log.rows()) == json.dumps(VECTOR["rows"]), "same JSON text as the browser's"
    assert log.dropped == VECTOR["dropped"]
