"""Shared pieces of the Python-peer network tests: the demo-style experiment (Start ->
Gem Rush P2P scene -> End) served by a real BackgroundServer with ExperimentServices'
embedded TURN server and export store."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from interactive_gym.scenes.stager import Stager
from interactive_gym.scenes.static_scene import EndScene, StartScene, StaticScene

from interactive_gym_p2p.examples import gem_rush
from interactive_gym_p2p.scene import P2PGymScene
from interactive_gym_p2p.server import BackgroundServer, ServerConfig
from interactive_gym_p2p.server.services import ExperimentServices, TurnSettings

SECRET = b"peer-net-test-secret-0123456789abcdef"
IMPAIRMENT = {"delay_ms": 30, "jitter_ms": 10, "loss": 0.05, "seed": 11}


def gem_rush_scene(scene_id: str = "gems", *, episodes: int = 2, steps: int = 120, policy: str = "relay",
                   impairment: dict[str, Any] | None = None, **p2p: Any) -> P2PGymScene:
    return (
        P2PGymScene()
        .scene(scene_id=scene_id)
        .pyodide(environment_initialization_code=gem_rush.environment_initialization_code(steps))
        .gameplay(default_action=0, action_mapping=gem_rush.ACTION_MAPPING, num_episodes=episodes, max_steps=steps)
        # A generous disconnect timeout: a loaded shared test machine must not end a game.
        .p2p(players=2, fps=30, ice_transport_policy=policy, impairment=impairment,
             **{"disconnect_timeout_ms": 15000, **p2p})
    )


def demo_stager(*middle: Any) -> Stager:
    start = StartScene().scene(scene_id="start").display(scene_header="Welcome")
    end = EndScene().scene(scene_id="end").display(scene_header="Thanks")
    return Stager(scenes=[start, *middle, end])


def static_scene(scene_id: str) -> StaticScene:
    return StaticScene().scene(scene_id=scene_id).display(scene_header=scene_id, scene_body=f"<p>{scene_id}</p>")


@dataclasses.dataclass
class Served:
    server: BackgroundServer
    services: ExperimentServices

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def games_dir(self) -> Path:
        return self.services.exports_dir / "games"


@contextmanager
def served(stager: Stager, tmp_path: Path, turn: str = "embedded", **config: Any) -> Iterator[Served]:
    """The experiment on 127.0.0.1 with the embedded TURN server (a child process) and the export store."""
    base = ServerConfig(host="127.0.0.1", port=0, async_mode="threading", data_dir=tmp_path / "data", secret=SECRET,
                        **config)
    services = ExperimentServices(base, TurnSettings(mode=turn, port=0))  # type: ignore[arg-type]
    config = services.start()
    try:
        server = BackgroundServer(stager, config)
        server.start()
        try:
            yield Served(server, services)
        finally:
            server.stop()
    finally:
        services.stop()
