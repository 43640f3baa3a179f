"""peer/export.py against static/js/validation.js: the same record gives the same export
document (or the same error path) in Python and in node; the upload retries like the
browser's (real aiohttp client, real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import asyncio
import copy
import json
import math
import shutil
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

from interactive_gym_p2p.peer.export import ExportBuildError, build_export, iso_time, upload_export
from interactive_gym_p2p.validation.schema import schema_problems

ROOT = Path(__file__).resolve().parent.parent
NODE_CLI = ROOT / "tests" / "js" / "support" / "build_export_cli.mjs"
NOW = 1_700_000_123_456


def record() -> dict[str, Any]:
    return {
        "partial": False,
        "episodes": [
            {"episode": 0, "seed": 123456789, "start_frame": 0, "end_frame": 3, "last_confirmed_frame": 3,
             "verified_frame": 3, "input_delays": [0, 3],
             "frames": [[0, [0, 0], "0123456789abcdef"], [1, [1, -2], None], [2, [2147483647, -2147483648], "fedcba9876543210"],
                        [3, [4, 5], "00000000000000ff"]],
             "rewards": [[1, [0.5, -0.0]], [3, [2.0, None]]], "terminated": [[3, [True, True]]], "truncated": [],
             "infos": [[0, {"score": [0, 0], "who": [{"a": 1.5}, None]}], [3, {"score": [2, 0], "who": ["x", None]}]],
             "end_reason": "terminated"},
            # unfinished: rows past last_confirmed_frame are predictions and must be dropped
            {"episode": 1, "seed": 4294967295, "start_frame": 4, "end_frame": None, "last_confirmed_frame": 5,
             "verified_frame": None, "input_delays": [2, None],
             "frames": [[4, [1, 1], "1111111111111111"], [5, [2, 2], None], [6, [3, 3], "2222222222222222"]],
             "rewards": [[5, [1, 0]], [6, [1, 1]]], "terminated": [], "truncated": [[6, [True, True]]],
             "infos": [], "end_reason": None},
        ],
        "verified_frame": 3,
        "desyncs": [{"frame": 2, "episode": 0, "local_hash": "fedcba9876543210", "peer_hash": "fedcba9876543211",
                     "peer_index": 1, "time": NOW - 5000,
                     "state": {"x": 1.5, "nan": math.nan, "inf": -math.inf, "neg0": -0.0, "nested": [1, {"k": True}]}}],
        "connection_events": [{"peer_index": 1, "event": "interrupted", "frame": 2, "time": "2023-11-14T22:15:18.456Z"},
                              {"peer_index": 1, "event": "resumed", "time": NOW - 1000.7}],
        "stats": {"rtt_ms": {"p50": 41.5, "p95": math.nan, "samples": 12}, "rollbacks": 3, "max_rollback_depth": 2,
                  "rollback_depth_histogram": {"2": 1, "1": 2, "10": 0}, "mispredicted_frames": 4, "stalled_frames": 0,
                  "frames_simulated": 11, "bytes_sent": 1000, "bytes_received": 990, "messages_sent": 50,
                  "messages_received": 49, "decode_errors": 0,
                  "path": {"kind": "relay", "protocol": "udp", "local_candidate_type": "relay", "remote_candidate_type": "relay"},
                  "frames_advanced": 7, "send_errors": 0},
        "timing": {"started_at": NOW - 10_000, "ended_at": None, "duration_s": None, "fps_target": 30, "fps_achieved": 29.5},
        "game_over_reason": "completed",
        "inputs": [["ArrowUp", True, NOW - 9000, 1000.5, 31, 29, True, False, 1066.667],
                   ["ArrowUp", False, NOW - 8800, 1200, None, None, None, None, None],
                   ["w", True, NOW - 8000.0, -5.25, 0, None, None, None, 10.0]],
    }


HIDDEN = [
    {"first_frame": 2, "last_frame": 4, "started_at": NOW - 9000, "ended_at": "2023-11-14T22:15:16.456Z",
     "duration_s": 2.5, "excluded": False},
    {"first_frame": None, "last_frame": None, "started_at": "2023-11-14T22:15:20.000Z", "ended_at": None,
     "duration_s": 3, "excluded": True},
]
REJOINS = [
    {"reloaded_at": "2023-11-14T22:15:15.000Z", "requested_at": NOW - 7000, "caught_up_at": "2023-11-14T22:15:18.000Z",
     "source": 1, "frame": 212, "frames": 203, "bytes": 1780, "transfer_s": 0.25, "replay_s": 0.5},
    {"requested_at": NOW - 1000, "caught_up_at": None, "source": None, "frame": None, "frames": 0, "bytes": 0,
     "transfer_s": None, "replay_s": None},
]
IDS = {"game_id": "g-1", "scene_id": "gems", "subject_id": "ann", "player_index": 0,
       "peers": [{"player_index": 1, "subject_id": "ben", "extra": "dropped"}]}
SETTINGS = {"p2p": {"fps": 30, "agent_ids": [0, 1]}, "validation": {"hash_interval": 1}, "impairment": None}


AI_SEAT = {"player_index": 1, "agent_id": 1, "policy": "tug_ai", "kind": "python"}


def three_seats() -> dict[str, Any]:
    """The record with a third seat (player 1 an AI seat, its column after the others' moves)."""
    r = record()
    for ep in r["episodes"]:
        for row in ep["frames"]:
            row[1] = [row[1][0], 2, row[1][1]]
        for key in ("rewards", "terminated", "truncated"):
            if isinstance(ep.get(key), list):
                for row in ep[key]:
                    if isinstance(row, list) and len(row) == 2 and isinstance(row[1], list) and len(row[1]) == 2:
                        row[1] = [row[1][0], row[1][1], row[1][1]]
        for row in ep.get("infos") or []:
            row[1] = {k: [v[0], None, v[1]] for k, v in row[1].items()}
        if "input_delays" in ep:
            ep["input_delays"] = [ep["input_delays"][0], 0, ep["input_delays"][1]]
    return r


def mutate(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    r = record()
    target = r
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return r


def cases() -> list[dict[str, Any]]:
    base = {"ids": IDS, "settings": SETTINGS, "now": NOW}
    out = [
        {**base, "record": record()},
        {**base, "record": record(), "partial": True},
        {**base, "record": mutate(("timing", "ended_at"), "2023-11-14T22:15:23.456+01:30"), "settings": {**SETTINGS, "impairment": {"delay_ms": 40, "loss": 0.05, "seed": 7}}},
        {**base, "record": mutate(("timing", "duration_s"), 12.25)},
        {**base, "record": mutate(("stats", "rtt_ms", "p50"), None)},
        {**base, "record": mutate(("stats", "key_to_screen_ms"), {"p50": 48.25, "p95": math.inf, "samples": 9})},
        {**base, "ids": {**IDS, "player_index": 1, "peers": [{"player_index": 0, "subject_id": "ben"}]}},
        # hidden intervals (optional key): an empty list (the Python peer's), then one closed
        # interval with frames and one open, excluded one without
        {**base, "record": {**record(), "hidden_intervals": []}},
        {**base, "record": {**record(), "hidden_intervals": HIDDEN}},
        # rejoins after a page reload (optional key): none, one caught up (with the page's
        # reloaded_at), one that never caught up; the new connection events
        {**base, "record": {**record(), "rejoins": []}},
        {**base, "record": {**record(), "rejoins": REJOINS}},
        {**base, "record": mutate(("connection_events", 0, "event"), "away")},
        {**base, "record": mutate(("connection_events", 1, "event"), "rejoined")},
        {**base, "record": {**record(), "rejoins": [{**REJOINS[0], "frames": -1}]}},
        {**base, "record": {**record(), "rejoins": [{**REJOINS[0], "source": 256}]}},
        {**base, "record": {**record(), "rejoins": [{**REJOINS[1], "requested_at": "later"}]}},
        {**base, "record": {**record(), "rejoins": [{k: v for k, v in REJOINS[0].items() if k != "bytes"}]}},
        {**base, "record": {**record(), "rejoins": {}}},
        # optional ids: the condition, bot seats (false/None mean "not a bot": left out)
        {**base, "ids": {**IDS, "condition": "fast", "bot": True,
                         "peers": [{"player_index": 1, "subject_id": "ben", "bot": True}]}},
        {**base, "ids": {**IDS, "condition": None, "bot": False, "peers": [{"player_index": 1, "subject_id": "ben", "bot": None}]}},
        # AI seats: a participant alone with an AI seat (no peers, no connection), and the same
        # seat beside a peer in a three-seat game
        {**base, "ids": {**IDS, "peers": [], "ai_seats": [AI_SEAT]},
         "record": mutate(("stats", "path", "kind"), "local")},
        {**base, "ids": {**IDS, "peers": [{"player_index": 2, "subject_id": "ben"}], "ai_seats": [AI_SEAT]},
         "record": three_seats()},
        # errors in the optional ids
        {**base, "ids": {**IDS, "peers": [], "ai_seats": [{**AI_SEAT, "kind": "onnx"}]}},
        {**base, "ids": {**IDS, "ai_seats": [AI_SEAT]}},
        {**base, "ids": {**IDS, "condition": "no/slash"}},
        {**base, "ids": {**IDS, "bot": "yes"}},
        {**base, "ids": {**IDS, "peers": [{"player_index": 1, "subject_id": "ben", "bot": 1}]}},
        # errors: each must fail at the same path in both languages
        {**base, "record": {**record(), "hidden_intervals": [{**HIDDEN[0], "last_frame": None}]}},
        {**base, "record": {**record(), "hidden_intervals": [{**HIDDEN[0], "last_frame": 1}]}},
        {**base, "record": {**record(), "hidden_intervals": [{**HIDDEN[1], "excluded": "yes"}]}},
        {**base, "record": {**record(), "hidden_intervals": [{**HIDDEN[1], "duration_s": -1}]}},
        {**base, "record": {**record(), "hidden_intervals": [{**HIDDEN[1], "ended_at": "soon"}]}},
        {**base, "record": {**record(), "hidden_intervals": {}}},
        {**base, "record": mutate(("connection_events", 0, "event"), "excluded")},
        {**base, "record": mutate(("stats", "rollbacks"), -1)},
        {**base, "record": mutate(("stats", "rollbacks"), KeyError)},
        {**base, "record": mutate(("stats", "path", "kind"), "carrier-pigeon")},
        {**base, "record": mutate(("episodes", 0, "frames", 1, 1), [1])},
        {**base, "record": mutate(("episodes", 0, "frames", 2, 1), [2147483648, 0])},
        {**base, "record": mutate(("episodes", 0, "frames", 3, 2), "XYZ")},
        {**base, "record": mutate(("episodes", 0, "seed"), 1.5)},
        {**base, "record": mutate(("episodes", 0, "rewards", 0, 1), [1])},
        {**base, "record": mutate(("episodes", 0, "rewards", 1, 1, 0), "2")},
        {**base, "record": mutate(("episodes", 0, "rewards", 1, 0), 1)},
        {**base, "record": mutate(("episodes", 0, "terminated", 0, 1, 1), 1)},
        {**base, "record": mutate(("episodes", 0, "infos", 0, 1, "score"), [0])},
        {**base, "record": mutate(("episodes", 0, "end_reason"), "bored")},
        {**base, "record": mutate(("episodes", 0, "rewards"), None)},
        {**base, "record": mutate(("inputs", 0, 0), "")},
        {**base, "record": mutate(("inputs", 0, 4), -1)},
        {**base, "record": mutate(("inputs", 1, 7), 0)},
        {**base, "record": mutate(("inputs", 2), ["w", True])},
        {**base, "record": mutate(("inputs",), {"w": 1})},
        {**base, "record": mutate(("desyncs", 0, "time"), "yesterday")},
        {**base, "record": mutate(("connection_events", 0, "event"), "exploded")},
        {**base, "record": mutate(("timing", "fps_target"), 0)},
        {**base, "record": mutate(("stats", "rollback_depth_histogram"), {"0": 1})},
        {**base, "record": mutate(("partial",), "yes")},
        {**base, "ids": {**IDS, "game_id": "../etc"}},
        {**base, "ids": {**IDS, "peers": [{"player_index": 2, "subject_id": "ben"}]}},
        {**base, "settings": {"p2p": {}}},
        {**base, "record": mutate(("episodes", 0, "input_delays"), KeyError)},
        {**base, "record": mutate(("episodes", 0, "input_delays"), [0])},
        {**base, "record": mutate(("episodes", 1, "input_delays"), [0, 17])},
        {**base, "record": mutate(("stats", "key_to_screen_ms"), {"p50": 1, "p95": 2})},
    ]
    return out


def run_node(payload: list[dict[str, Any]]) -> list[dict[str, Any]]:
    node = shutil.which("node")
    assert node, "node 20 is required (validation.js is the reference)"
    # Python's json writes NaN/-Infinity literals, which JSON.parse refuses but a JS
    # expression accepts: the cases go in as a literal.
    text = json.dumps(payload, allow_nan=True)
    script = (
        f"const data = {text};\n"
        f"const {{ buildExport, ExportBuildError }} = await import({json.dumps(str(ROOT / 'static/js/validation.js'))});\n"
        "const out = data.map((c) => { try { return { ok: true, doc: buildExport({ record: c.record, ids: c.ids, "
        "settings: c.settings, partial: c.partial ?? undefined, now: c.now ?? undefined }) }; } catch (err) { "
        "return { ok: false, path: err instanceof ExportBuildError ? err.path : null, message: String(err.message ?? err) }; } });\n"
        "process.stdout.write(JSON.stringify(out));\n"
    )
    # A file, not `node -e`: the cases outgrow the kernel's 128 KiB limit on one argument.
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cases.mjs"
        path.write_text(script, encoding="utf-8")
        done = subprocess.run([node, str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def run_python(c: dict[str, Any]) -> dict[str, Any]:
    try:
        doc = build_export(copy.deepcopy(c["record"]) if "record" in c else record(), c["ids"], c["settings"],
                           c.get("partial"), c.get("now"))
        return {"ok": True, "doc": json.loads(json.dumps(doc, allow_nan=False))}
    except ExportBuildError as exc:
        return {"ok": False, "path": exc.path, "message": str(exc)}


def test_python_build_export_equals_validation_js() -> None:
    payload = [{**c, "record": c.get("record", record())} for c in cases()]
    js = run_node(payload)
    assert len(js) == len(payload)
    oks = 0
    for i, (c, expected) in enumerate(zip(payload, js)):
        got = run_python(c)
        assert got["ok"] == expected["ok"], (i, got, expected)
        if expected["ok"]:
            oks += 1
            assert got["doc"] == expected["doc"], i
            # same key order too (the documented order)
            assert json.dumps(got["doc"]) == json.dumps(expected["doc"]), i
            assert schema_problems(got["doc"]) == [], i
        else:
            assert got["path"] == expected["path"], (i, got, expected)
    assert oks == 20


def test_dropped_predictions_and_tokens() -> None:
    doc = build_export(record(), IDS, SETTINGS, None, NOW)
    assert [row[0] for row in doc["episodes"][1]["frames"]] == [4, 5]
    # Step data past the last confirmed frame came from predicted steps: dropped like the rows.
    assert doc["episodes"][1]["rewards"] == [[5, [1, 0]]] and doc["episodes"][1]["truncated"] == []
    assert doc["episodes"][0]["rewards"] == [[1, [0.5, 0]], [3, [2, None]]]
    assert doc["desyncs"][0]["state"] == {"x": 1.5, "nan": "NaN", "inf": "-Infinity", "neg0": 0, "nested": [1, {"k": True}]}
    assert doc["stats"]["rtt_ms"] == {"p50": 41.5, "p95": None, "samples": 12}
    assert "frames_advanced" not in doc["stats"]
    assert doc["timing"]["ended_at"] == iso_time(NOW) == "2023-11-14T22:15:23.456Z"
    assert doc["timing"]["duration_s"] == 10
    assert list(doc["stats"]["rollback_depth_histogram"]) == ["1", "2", "10"]
    assert doc["ids"]["peers"] == [{"player_index": 1, "subject_id": "ben"}]
    assert "hidden_intervals" not in doc, "an older record without the key gives an export without it"
    doc = build_export({**record(), "hidden_intervals": HIDDEN}, IDS, SETTINGS, None, NOW)
    assert list(doc)[list(doc).index("connection_events") + 1] == "hidden_intervals"
    assert doc["hidden_intervals"][0]["started_at"] == iso_time(NOW - 9000)
    assert doc["hidden_intervals"][1] == HIDDEN[1]


class _Handler(BaseHTTPRequestHandler):
    answers: list[int] = []
    seen: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append({"auth": self.headers.get("Authorization"), "body": body})
        status = type(self).answers.pop(0) if type(self).answers else 201
        payload = json.dumps({"status": "stored" if status == 201 else "x", "message": f"answer {status}"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[str]:
    _Handler.answers, _Handler.seen = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/p2p/exports/g-1/0"
    finally:
        server.shutdown()
        server.server_close()


def test_upload_retries_5xx_and_stops_at_4xx(http_server: str) -> None:
    doc = build_export(record(), IDS, SETTINGS, None, NOW)
    _Handler.answers = [503, 500, 201]
    phases: list[str] = []
    result = asyncio.run(upload_export(http_server, "tok", doc, base_delay_ms=10, on_status=lambda s: phases.append(s["phase"])))
    assert (result.ok, result.outcome, result.http_status, result.attempts) == (True, "stored", 201, 3)
    assert phases == ["uploading", "retrying", "uploading", "retrying", "uploading", "stored"]
    assert {s["auth"] for s in _Handler.seen} == {"Bearer tok"}
    assert json.loads(_Handler.seen[-1]["body"]) == json.loads(json.dumps(doc))

    _Handler.answers = [403]
    result = asyncio.run(upload_export(http_server, "tok", doc, base_delay_ms=10))
    assert (result.ok, result.outcome, result.http_status, result.attempts) == (False, "rejected", 403, 1)


def test_upload_gives_up_when_nobody_listens() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    result = asyncio.run(upload_export(f"http://127.0.0.1:{port}/x", "tok", {"a": 1}, max_attempts=3, base_delay_ms=5))
    assert (result.ok, result.outcome, result.attempts) == (False, "gave_up", 3)
    assert result.reason and result.reason.startswith("network:")
