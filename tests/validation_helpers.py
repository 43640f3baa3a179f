"""Shared by the tests/test_validation_*.py files: a real validation server process, raw HTTP,
exports of a tiny deterministic environment with real state hashes."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from interactive_gym_p2p.hashing import state_hash
from interactive_gym_p2p.validation.replay import episode_seed

ROOT = Path(__file__).resolve().parent.parent
UPLOAD_SECRET = bytes(range(32))
RESEARCHER_TOKEN = "researcher-token-0123456789"


class ServerProcess:
    """``python -m interactive_gym_p2p.validation.standalone`` on 127.0.0.1, its output watched."""

    def __init__(
        self, data_dir: Path, researcher_token: str | None = RESEARCHER_TOKEN, max_upload_bytes: int | None = None, kind: str = "werkzeug"
    ) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("IGP2P_")}
        env["IGP2P_UPLOAD_SECRET"] = UPLOAD_SECRET.hex()
        if researcher_token:
            env["IGP2P_RESEARCHER_TOKEN"] = researcher_token
        env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
        args = [sys.executable, "-m", "interactive_gym_p2p.validation.standalone", "--data-dir", str(data_dir), "--port", "0", "--server", kind]
        if max_upload_bytes is not None:
            args += ["--max-upload-bytes", str(max_upload_bytes)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=str(data_dir.parent))
        self.lines: list[str] = []
        self._cond = threading.Condition()
        for stream in (self.proc.stdout, self.proc.stderr):
            threading.Thread(target=self._pump, args=(stream,), daemon=True).start()
        line = self.wait_for_line(r"listening on http://127\.0\.0\.1:(\d+)", timeout=30)
        self.port = int(re.search(r":(\d+)$", line.strip()).group(1))

    def _pump(self, stream: Any) -> None:
        for line in stream:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_for_line(self, pattern: str, timeout: float = 15, start: int = 0) -> str:
        """The first output line (from index ``start``) matching ``pattern``; fails at the deadline."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines[start:]:
                    if regex.search(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None and not self._cond.wait(0.2)):
                    raise AssertionError(f"server never printed {pattern!r}; output:\n{''.join(self.lines)}")
                self._cond.wait(remaining)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill(self) -> None:
        """SIGKILL: no cleanup, no flush, like a crash or an OOM kill."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            conn.close()


def post_export(server: ServerProcess, game_id: str, player: int, body: bytes, token: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    status, _, data = server.request("POST", f"/p2p/exports/{game_id}/{player}", body, headers)
    return status, json.loads(data)


def raw_exchange(port: int, head: bytes, body_part: bytes = b"", close_after_send: bool = False, timeout: float = 30) -> bytes:
    """Send raw bytes; return whatever the server answers before it closes (b"" if nothing)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head + body_part)
        if close_after_send:
            return b""
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            chunks.append(chunk)
            if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                break
        return b"".join(chunks)


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.search(rb"(?i)content-length:\s*(\d+)", head)
    return match is not None and len(body) >= int(match.group(1))


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


# --- a tiny deterministic two-player environment (floats on purpose: the hash normalizes them)


class DriftEnv:
    """Two dots drifting with their players' actions; the episode ends after ``length`` steps."""

    possible_agents = [0, 1]

    def __init__(self, length: int = 40, bug_at: int | None = None) -> None:
        self.length = length
        self.bug_at = bug_at

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        self.seed = int(seed or 0)
        self.t = 0
        self.pos = [[(self.seed % 97) / 7.0, 1.0], [(self.seed % 89) / 3.0, 2.5]]
        return {}, {}

    def step(self, actions: dict) -> tuple[dict, dict, dict, dict, dict]:
        for agent in (0, 1):
            a = int(actions[agent])
            self.pos[agent][0] += 0.1 * (a % 3 - 1)
            self.pos[agent][1] += 0.25 * (a // 3 - 1)
        self.t += 1
        if self.bug_at is not None and self.t == self.bug_at:
            self.pos[1][0] += 1e-3  # a desync a researcher should be able to find
        done = self.t >= self.length
        flags = {0: done, 1: done, "__all__": done}
        return {}, {0: 0.0, 1: 0.0}, {0: False, 1: False, "__all__": False}, flags, {}

    def get_state(self) -> dict[str, Any]:
        return {"t": self.t, "seed": self.seed, "pos": [list(p) for p in self.pos]}


def make_drift_env() -> DriftEnv:
    return DriftEnv()


def played_exports(
    game_id: str = "drift-1",
    shared_seed: int = 77,
    episodes: int = 2,
    length: int = 40,
    subject_ids: tuple[str, str] = ("ann", "ben"),
) -> list[dict[str, Any]]:
    """Both players' exports of a game actually played through DriftEnv (real hashes)."""
    rows_by_episode = []
    frame = 0
    for e in range(episodes):
        env = DriftEnv(length)
        seed = episode_seed(shared_seed, e)
        env.reset(seed=seed)
        rows = []
        start = frame
        done = False
        while not done:
            actions = [(frame * 5 + 1) % 9, (frame * 7 + 3) % 9]
            *_, truncs, _ = env.step({0: actions[0], 1: actions[1]})
            done = truncs["__all__"]
            rows.append([frame, actions, state_hash(env.get_state())])
            frame += 1
        rows_by_episode.append((e, seed, start, frame - 1, rows))
    docs = []
    for p in (0, 1):
        eps = [
            {"episode": e, "seed": seed, "start_frame": s, "end_frame": end, "last_confirmed_frame": end,
             "verified_frame": end, "input_delays": [2, 2], "frames": [list(r) for r in rows]}
            for e, seed, s, end, rows in rows_by_episode
        ]
        docs.append(
            {
                "schema": "interactive-gym-p2p/validation-export", "schema_version": 1, "partial": False,
                "ids": {"game_id": game_id, "scene_id": "drift", "subject_id": subject_ids[p], "player_index": p,
                        "peers": [{"player_index": 1 - p, "subject_id": subject_ids[1 - p]}], "recruitment": {}},
                "settings": {"p2p": {"fps": 30}, "validation": {"hash_interval": 1}, "impairment": None},
                "episodes": eps,
                "verified_frame": frame - 1,
                "desyncs": [],
                "connection_events": [],
                "stats": {
                    "rtt_ms": {"p50": None, "p95": None, "samples": 0},
                    "key_to_screen_ms": {"p50": None, "p95": None, "samples": 0}, "rollbacks": 0, "max_rollback_depth": 0,
                    "rollback_depth_histogram": {}, "mispredicted_frames": 0, "stalled_frames": 0,
                    "frames_simulated": frame, "bytes_sent": 0, "bytes_received": 0, "messages_sent": 0,
                    "messages_received": 0, "decode_errors": 0,
                    "path": {"kind": "simulated", "protocol": None, "local_candidate_type": None, "remote_candidate_type": None},
                },
                "timing": {"started_at": "2025-01-01T00:00:00Z", "ended_at": "2025-01-01T00:00:03Z",
                           "duration_s": 3.0, "fps_target": 30, "fps_achieved": 30.0},
            }
        )
    return docs


def dumps(doc: Any) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()
