"""The demo experiment builds, passes the server's checks and carries Gem Rush as configured."""

from __future__ import annotations

import pytest

from interactive_gym_p2p.examples import demo, gem_rush
from interactive_gym_p2p.scene import P2PGymScene
from interactive_gym_p2p.scene_settings import SceneConfigError
from interactive_gym_p2p.server.experiment import load_experiment


def test_demo_stager_validates_as_an_experiment():
    stager = demo.build_stager()
    load_experiment(stager)  # raises ExperimentError on anything the server would refuse
    types = [type(s).__name__ for s in stager.scenes]
    assert types == ["StartScene", "P2PGymScene", "EndScene"]
    game = stager.scenes[1]
    assert isinstance(game, P2PGymScene)
    game.check()
    payload = game.p2p_payload()
    assert payload["settings"]["p2p"]["players"] == 2
    assert payload["settings"]["p2p"]["num_episodes"] == 2
    assert payload["gameplay"]["max_steps"] == 1350
    assert payload["gameplay"]["default_action"] == gem_rush.NOOP
    assert payload["gameplay"]["action_mapping"]["ArrowLeft,ArrowUp"] == gem_rush.UP_LEFT
    assert payload["env"]["code"] == gem_rush.environment_initialization_code(1350)
    assert payload["env"]["verified"] is True
    assert payload["rendering"]["game_width"] == gem_rush.WIDTH
    assert payload["settings"]["impairment"] is None


def test_short_game_with_impairment_and_relay_for_tests():
    imp = {"delay_ms": 40, "jitter_ms": 5, "loss": 0.02, "duplicate": 0, "reorder": 0, "seed": 7}
    stager = demo.build_stager(num_episodes=1, max_steps=90, impairment=imp, ice_transport_policy="relay",
                               connection_timeout_s=15)
    load_experiment(stager)
    p2p = stager.scenes[1].p2p_payload()
    assert p2p["settings"]["p2p"]["ice_transport_policy"] == "relay"
    assert p2p["settings"]["p2p"]["connection_timeout_s"] == 15
    assert p2p["settings"]["impairment"] == imp
    assert p2p["gameplay"]["max_steps"] == 90
    assert "GemRushEnv(max_steps=90)" in p2p["env"]["code"]


def test_bad_settings_are_refused_with_the_setting_named():
    with pytest.raises(SceneConfigError, match="ice_transport_policy"):
        demo.build_stager(ice_transport_policy="tcp")


def test_cli_parser_defaults():
    args = demo.build_parser().parse_args([])
    assert (args.host, args.port, args.turn, args.pyodide_index_url) == ("127.0.0.1", 5702, "embedded", None)
    assert demo.build_parser().parse_args(["--turn", "none", "--port", "0"]).turn == "none"


def test_the_demo_serves_kitchen_and_its_ai_partner() -> None:
    parser = demo.build_parser()
    stager = demo.game_stager(parser.parse_args(["--game", "kitchen", "--episodes", "1"]), {})
    game = stager.scenes[1]
    game.check()
    assert game.scene_id == "kitchen" and game.p2p_settings.players == 2 and game.ai_seats == []
    solo_stager = demo.game_stager(parser.parse_args(["--game", "kitchen", "--ai-partner"]), {})
    load_experiment(solo_stager)  # what the server checks at start
    solo = solo_stager.scenes[1]
    assert solo.p2p_settings.players == 1 and [s["policy"] for s in solo.ai_seats] == ["chef"]
    bot = demo.game_stager(parser.parse_args(["--game", "kitchen", "--bot-after", "5"]),
                           {"wait_timeout_s": 5, "waiting_room": {"on_timeout": "bot", "bot_actions": "random"}}).scenes[1]
    assert bot.waiting_room_settings.on_timeout == "bot"
    with pytest.raises(SceneConfigError, match="needs --game kitchen"):
        demo.game_stager(parser.parse_args(["--ai-partner"]), {})
    with pytest.raises(SceneConfigError, match="--bot-after has no seat"):
        demo.game_stager(parser.parse_args(["--game", "kitchen", "--ai-partner", "--bot-after", "5"]), {})
    assert demo.game_stager(parser.parse_args([]), {}).scenes[1].scene_id == demo.GAME_SCENE_ID
