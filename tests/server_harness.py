"""Shared pieces of the server and signaling tests: a small experiment, a real server on
127.0.0.1 in a thread, and python-socketio clients that record what they receive.

Tests wait on received events (a condition variable with a deadline), never on sleeps.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator

import socketio
from interactive_gym.scenes.stager import Stager
from interactive_gym.scenes.static_scene import EndScene, StartScene, StaticScene

from interactive_gym_p2p.participants import Study
from interactive_gym_p2p.scene import P2PGymScene
from interactive_gym_p2p.server import BackgroundServer, ServerConfig
from interactive_gym_p2p.signaling.tickets import SignalingTickets

WAIT_S = 15.0
"""Deadline of one wait: generous on a loaded 2-core machine; a pass never takes it."""

ENV_CODE = '''
class CounterEnv:
    """Each player's action is added to their counter."""

    def __init__(self, players=2):
        self.possible_agents = list(range(players))
        self.counts = [0] * players
        self.t = 0

    def reset(self, seed=None, options=None):
        self.counts = [0] * len(self.possible_agents)
        self.t = 0
        return {a: 0 for a in self.possible_agents}, {}

    def step(self, actions):
        for agent, action in actions.items():
            self.counts[agent] += action
        self.t += 1
        done = self.t >= 100
        obs = {a: self.counts[a] for a in self.possible_agents}
        return obs, {a: 0 for a in obs}, {a: done for a in obs}, {a: False for a in obs}, {}

    def get_state(self):
        return {"counts": list(self.counts), "t": self.t}

    def set_state(self, state):
        self.counts = list(state["counts"])
        self.t = state["t"]


env = CounterEnv()
'''


def make_scene(scene_id: str = "game", players: int = 2, **p2p: Any) -> P2PGymScene:
    return (
        P2PGymScene()
        .scene(scene_id=scene_id)
        .pyodide(environment_initialization_code=ENV_CODE)
        .gameplay(default_action=0, action_mapping={"ArrowUp": 1, "ArrowDown": -1})
        .p2p(players=players, **p2p)
    )


def make_stager(*middle: Any) -> Stager:
    start = StartScene().scene(scene_id="start").display(scene_header="Welcome", scene_body="<p>Hello</p>")
    end = EndScene().scene(scene_id="end").display(scene_header="Thanks")
    return Stager(scenes=[start, *middle, end])


def static_scene(scene_id: str) -> StaticScene:
    return StaticScene().scene(scene_id=scene_id).display(scene_header=scene_id, scene_body=f"<p>{scene_id}</p>")


SECRET = b"test-secret-for-signaling-0123456789"


def no_screening() -> Study:
    """These clients are not browsers: they run no screening (tests/test_participants.py does)."""
    return Study().screening(webrtc=False, turn=False)


def http_get(url: str, follow_redirects: bool = True, timeout: float = 15) -> tuple[int, dict[str, str], bytes]:
    """GET ``url``: (status, headers, body), an HTTP error status included (not raised)."""
    opener = urllib.request.build_opener(*(() if follow_redirects else (_NoRedirect,)))
    try:
        with opener.open(url, timeout=timeout) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


@contextmanager
def running_server(stager: Stager, tmp_path: Path, **config: Any) -> Iterator[BackgroundServer]:
    base = ServerConfig(host="127.0.0.1", port=0, async_mode="threading", data_dir=tmp_path / "data", secret=SECRET,
                        study=no_screening())
    server = BackgroundServer(stager, replace(base, **config))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def ticket_for(server: BackgroundServer, subject_id: str, scene_id: str = "game", visit: int = 1) -> str:
    """A ticket as the participant flow would issue it (scene at ``visit`` in the Stager)."""
    tickets: SignalingTickets = server.context.tickets
    return tickets.issue(subject_id, scene_id, visit)


@dataclass
class Recorder:
    """Every event a client received, in order, with waits on them."""

    events: list[tuple[str, Any]] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def record(self, event: str, data: Any) -> None:
        with self.cond:
            self.events.append((event, data))
            self.cond.notify_all()

    def wait(self, event: str, predicate: Callable[[Any], bool] = lambda d: True, timeout: float = WAIT_S) -> Any:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for name, data in self.events:
                    if name == event and predicate(data):
                        return data
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {event!r} event within {timeout} s; received {[n for n, _ in self.events]}")
                self.cond.wait(remaining)

    def count(self, event: str) -> int:
        with self.cond:
            return sum(1 for name, _ in self.events if name == event)

    def of(self, event: str) -> list[Any]:
        with self.cond:
            return [data for name, data in self.events if name == event]


class SignalingClient:
    """A python-socketio client of the /p2p namespace."""

    def __init__(self, url: str, ticket: str | None, connect: bool = True) -> None:
        self.url = url
        self.ticket = ticket
        self.sio = socketio.Client(reconnection=False)
        self.log = Recorder()
        self.connect_errors: list[Any] = []
        self.disconnected = threading.Event()
        self.sio.on("*", self.log.record, namespace="/p2p")
        self.sio.on("connect_error", self.connect_errors.append, namespace="/p2p")
        self.sio.on("disconnect", lambda *a: self.disconnected.set(), namespace="/p2p")
        if connect:
            self.connect()

    def connect(self) -> None:
        auth = None if self.ticket is None else {"ticket": self.ticket}
        self.sio.connect(self.url, namespaces=["/p2p"], auth=auth, transports=["websocket"], wait_timeout=WAIT_S)

    def call(self, event: str, *args: Any) -> Any:
        # python-socketio sends a tuple as several arguments, None as none.
        data = args[0] if len(args) == 1 else (tuple(args) if args else None)
        return self.sio.call(event, data, namespace="/p2p", timeout=WAIT_S)

    def emit(self, event: str, data: Any) -> None:
        self.sio.emit(event, data, namespace="/p2p")

    def join(self) -> dict[str, Any]:
        return self.call("join", {})

    def join_playing(self, game_id: str) -> dict[str, Any]:
        """``join`` of a page whose game goes on (its socket reconnected)."""
        return self.call("join", {"game_id": game_id})

    def close(self) -> None:
        if self.sio.connected:
            self.sio.disconnect()


class ParticipantClient:
    """A python-socketio client of the participant flow (default namespace)."""

    def __init__(self, url: str, subject_id: str, recruitment: dict[str, str] | None = None, client: str | None = None) -> None:
        self.sio = socketio.Client(reconnection=False)
        self.log = Recorder()
        self.sio.on("*", self.log.record)
        auth: dict[str, Any] = {"subject_id": subject_id}
        if recruitment:
            auth["recruitment"] = recruitment
        if client:
            auth["client"] = client
        self.sio.connect(url, auth=auth, transports=["websocket"], wait_timeout=WAIT_S)

    def call(self, event: str, *args: Any) -> Any:
        data = args[0] if len(args) == 1 else (tuple(args) if args else None)
        return self.sio.call(event, data, timeout=WAIT_S)

    def close(self) -> None:
        if self.sio.connected:
            self.sio.disconnect()
