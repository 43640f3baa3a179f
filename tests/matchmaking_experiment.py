"""The experiment of the twelve-peer matchmaking test, built by ``tests/e2e/harness/game_server.py``
in its own process: Start -> Gem Rush (one short episode, latency-aware matching with probes,
two conditions) -> End."""

from __future__ import annotations

from typing import Any

from interactive_gym.scenes.stager import Stager
from interactive_gym.scenes.static_scene import EndScene, StartScene

from interactive_gym_p2p.examples import gem_rush
from interactive_gym_p2p.scene import P2PGymScene


def build_stager(steps: int = 60, max_p2p_rtt_ms: int = 100, connection_timeout_s: float = 4,
                 wait_timeout_s: float = 180, **matchmaking: Any) -> Stager:
    game = (
        P2PGymScene()
        .scene(scene_id="gems")
        .pyodide(environment_initialization_code=gem_rush.environment_initialization_code(steps))
        .gameplay(default_action=0, action_mapping=gem_rush.ACTION_MAPPING, num_episodes=1, max_steps=steps)
        .p2p(players=2, fps=30, ice_transport_policy="relay", connection_timeout_s=connection_timeout_s,
             wait_timeout_s=wait_timeout_s, disconnect_timeout_ms=15000)
        .matchmaking(matcher="latency_fifo", max_p2p_rtt_ms=max_p2p_rtt_ms, **matchmaking)
        .conditions({"delay1": {"p2p": {"input_delay": 1}}, "delay3": {"p2p": {"input_delay": 3}}})
    )
    start = StartScene().scene(scene_id="start").display(scene_header="Welcome")
    end = EndScene().scene(scene_id="end").display(scene_header="Thanks")
    return Stager(scenes=[start, game, end])
