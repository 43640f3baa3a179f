"""A JS P2PSession (static/js/session.js, run by node through tests/js/support/py_bridge.mjs)
with the Python session's face, so the Python simulator can seat it next to Python sessions on
one virtual clock. Python owns the clock and the network: each call carries the virtual time,
and what the JS session sent during the call is handed to the simulated transport in order."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Mapping

from interactive_gym_p2p.peer.session import TickResult
from interactive_gym_p2p.peer.settings import make_settings

ROOT = Path(__file__).resolve().parents[1]
BRIDGE = ROOT / "tests/js/support/py_bridge.mjs"


def node_path() -> str:
    node = shutil.which("node")
    assert node, "node 20 is required: the JS session runs in it"
    return node


class JsSession:
    def __init__(self, *, transport: Any, local_player: int, num_players: int, shared_seed: int,
                 settings: Mapping[str, Any], now: Callable[[], float], env_options: Mapping[str, Any],
                 path: Any = None, epoch_ms: float = 0, **_: Any) -> None:
        self.transport = transport
        self.now = now
        self.events: list[tuple[str, Any]] = []
        self.proc = subprocess.Popen([node_path(), str(BRIDGE)], cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)
        self._state = "created"
        camel = make_settings(settings).to_camel()
        self._call({"op": "create", "player": local_player, "numPlayers": num_players, "sharedSeed": shared_seed,
                    "settings": camel, "env": dict(env_options), "path": path, "epochMs": epoch_ms})

    def _call(self, cmd: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the node bridge exited (code {self.proc.poll()})"
        reply = json.loads(line)
        assert "error" not in reply or cmd["op"] == "build_export", reply
        if "state" in reply:
            self._state = reply["state"]
        self.events.extend((name, payload) for name, payload in reply.get("events", []))
        for peer, hexdata in reply.get("sent", []):
            self.transport.send(peer, bytes.fromhex(hexdata))
        return reply

    @property
    def state(self) -> str:
        return self._state

    def start(self) -> None:
        self._call({"op": "start", "t": self.now()})

    def tick(self, action: int) -> TickResult:
        r = self._call({"op": "tick", "t": self.now(), "action": action})["result"]
        return TickResult(r["advanced"], r["frame"], r["episode"], r["status"])

    def receive(self, peer: int, data: bytes) -> None:
        self._call({"op": "receive", "t": self.now(), "peer": peer, "hex": bytes(data).hex()})

    def close(self) -> None:
        self._call({"op": "close", "t": self.now()})

    def note_key(self, key: str, down: bool) -> None:
        self._call({"op": "note_key", "t": self.now(), "key": key, "down": down})

    def note_displayed(self, frame: int) -> None:
        self._call({"op": "note_displayed", "t": self.now(), "frame": frame})

    def record(self) -> dict[str, Any]:
        return self._call({"op": "record"})["record"]

    def build_export(self, record: Mapping[str, Any], ids: Mapping[str, Any], settings: Mapping[str, Any],
                     now_ms: float) -> dict[str, Any]:
        """validation.js buildExport of any record (the browser's export builder)."""
        reply = self._call({"op": "build_export", "record": record, "ids": ids, "settings": settings, "nowMs": now_ms})
        assert "doc" in reply, reply
        return reply["doc"]

    def exit(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps({"op": "exit"}) + "\n")
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
