"""P2PGymScene: every setting checked when set, the environment inspected, the hooks' payloads."""

from __future__ import annotations

import json
from typing import Any

import pytest

from interactive_gym_p2p import P2PGymScene
from interactive_gym_p2p.env_check import EnvCheckError, inspect_env_code
from interactive_gym_p2p.scene import SignalingBinding
from interactive_gym_p2p.scene_settings import SceneConfigError

from server_harness import ENV_CODE, make_scene


def test_defaults_and_chaining() -> None:
    scene = P2PGymScene()
    assert scene.p2p(players=3, fps=60) is scene
    assert scene.validation(hash_interval=2) is scene
    assert scene.p2p_settings.players == 3
    assert scene.fps == 60
    assert scene.validation_settings.hash_interval == 2
    assert scene.run_through_pyodide is True
    assert scene.packages_to_install == []


@pytest.mark.parametrize(
    "setting, value, fragment",
    [
        ("players", 0, "from 1 to 8"),
        ("players", 9, "from 1 to 8"),
        ("players", True, "integer"),
        ("players", 2.0, "integer"),
        ("fps", 0, "from 1 to 120"),
        ("input_delay", -1, "'auto' or an integer from 0 to 16"),
        ("input_delay", 17, "'auto' or an integer from 0 to 16"),
        ("input_delay", "AUTO", "'auto' or an integer from 0 to 16"),
        ("prediction_window", 33, "from 0 to 32"),
        ("input_redundancy", 0, "from 1 to 128"),
        ("input_redundancy", 129, "from 1 to 128"),
        ("disconnect_policy", "pause", "'end', 'default_action'"),
        ("disconnect_notify_ms", 10, "from 50 to 60000"),
        ("disconnect_timeout_ms", 50, "from 100 to 600000"),
        ("connection_timeout_s", float("nan"), "from 1 to 600"),
        ("reconnect_grace_s", -1, "from 0 to 3600"),
        ("wait_timeout_s", 0, "from 1 to 86400"),
        ("ice_transport_policy", "host", "'all', 'relay'"),
        ("turn", "yes", "RTCIceServer"),
        ("impairment", [1], "dict"),
        ("countdown_s", 61, "from 0 to 60"),
        ("hidden_action", 2**31, "from -2147483648 to 2147483647"),
        ("warn_hidden_s", 0, "from 0.5 to 86400"),
        ("max_hidden_s", 0.5, "from 1 to 86400"),
        ("hidden_policy", "kick", "'end', 'default_action'"),
    ],
)
def test_p2p_rejects_out_of_range(setting: str, value: Any, fragment: str) -> None:
    scene = P2PGymScene()
    with pytest.raises(SceneConfigError) as info:
        scene.p2p(**{setting: value})
    message = str(info.value)
    assert message.startswith(f"p2p({setting})"), message
    assert fragment in message, message
    assert info.value.setting.startswith(f"p2p({setting})")


def test_refused_value_leaves_previous_settings() -> None:
    scene = P2PGymScene().p2p(players=3, input_delay=4)
    with pytest.raises(SceneConfigError):
        scene.p2p(input_delay=3, players=0)
    assert scene.p2p_settings.players == 3 and scene.p2p_settings.input_delay == 4
    assert P2PGymScene().p2p_settings.input_delay == "auto", "the default: chosen from the network"
    assert P2PGymScene().p2p(input_delay="auto").p2p_settings.input_delay == "auto"


def test_cross_setting_checks() -> None:
    with pytest.raises(SceneConfigError, match=r"disconnect_timeout_ms.*greater than disconnect_notify_ms"):
        P2PGymScene().p2p(disconnect_notify_ms=6000)
    with pytest.raises(SceneConfigError, match=r"ice_transport_policy.*turn=False"):
        P2PGymScene().p2p(ice_transport_policy="relay", turn=False)
    with pytest.raises(SceneConfigError, match=r"agent_ids.*one agent id per player \(3\)"):
        P2PGymScene().p2p(players=3, agent_ids=["a", "b"])
    with pytest.raises(SceneConfigError, match="distinct"):
        P2PGymScene().p2p(agent_ids=["a", "a"])
    with pytest.raises(SceneConfigError, match="strings or integers"):
        P2PGymScene().p2p(agent_ids=[1.5, 2])
    scene = P2PGymScene().p2p(players=3, agent_ids=["x", "y", "z"])
    assert scene.p2p_settings.agent_ids == ("x", "y", "z")
    assert P2PGymScene().p2p(input_delay=0, hidden_policy="default_action").p2p_settings.hidden_policy == "default_action"
    with pytest.raises(SceneConfigError, match=r"warn_hidden_s.*less than max_hidden_s \(10\)"):
        P2PGymScene().p2p(max_hidden_s=10, warn_hidden_s=10)


def test_hidden_page_and_countdown_settings_reach_the_browser() -> None:
    p2p = P2PGymScene().p2p(hidden_action=4, warn_hidden_s=5, max_hidden_s=30, hidden_policy="default_action",
                            countdown_s=2.5).game_settings()["p2p"]
    assert {k: p2p[k] for k in ("countdown_s", "hidden_action", "warn_hidden_s", "max_hidden_s", "hidden_policy")} == {
        "countdown_s": 2.5, "hidden_action": 4, "warn_hidden_s": 5, "max_hidden_s": 30, "hidden_policy": "default_action"}
    defaults = P2PGymScene().game_settings()["p2p"]
    assert (defaults["countdown_s"], defaults["max_hidden_s"], defaults["hidden_policy"]) == (3, None, "end")


def test_impairment_checked_and_completed() -> None:
    scene = P2PGymScene().p2p(impairment={"delay_ms": 40, "loss": 0.05, "seed": 7})
    assert scene.p2p_settings.impairment == {
        "delay_ms": 40, "jitter_ms": 0, "loss": 0.05, "duplicate": 0, "reorder": 0, "seed": 7,
    }
    with pytest.raises(SceneConfigError, match=r"p2p\(impairment\)\['loss'\].*from 0 to 1"):
        P2PGymScene().p2p(impairment={"loss": 1.5})
    with pytest.raises(SceneConfigError, match=r"unknown keys \['latency'\]"):
        P2PGymScene().p2p(impairment={"latency": 10})
    with pytest.raises(SceneConfigError, match=r"seed'\].*from 0 to 4294967295"):
        P2PGymScene().p2p(impairment={"seed": 2**32})


def test_static_turn_list_checked_and_not_in_settings() -> None:
    servers = [{"urls": ["turn:127.0.0.1:3478?transport=udp"], "username": "u", "credential": "secret-cred"}]
    scene = make_scene().p2p(turn=servers, ice_transport_policy="relay")
    assert scene.p2p_settings.turn == ({"urls": ["turn:127.0.0.1:3478?transport=udp"], "username": "u", "credential": "secret-cred"},)
    settings = scene.game_settings()
    assert settings["p2p"]["turn"] == "static"
    assert "secret-cred" not in json.dumps(scene.activation_payload())
    with pytest.raises(SceneConfigError, match=r"p2p\(turn\)\[0\]\['urls'\].*stun:"):
        P2PGymScene().p2p(turn=[{"urls": "http://x"}])
    with pytest.raises(SceneConfigError, match=r"unknown keys \['password'\]"):
        P2PGymScene().p2p(turn=[{"urls": "turn:127.0.0.1", "password": "x"}])


@pytest.mark.parametrize(
    "setting, value, fragment",
    [
        ("hash_interval", 0, "from 1 to 3600"),
        ("hash_interval", 1.0, "integer"),
        ("state_dump_on_desync", 1, "True or False"),
        ("export", "yes", "True or False"),
        ("record_info", "score", "list of info keys"),
        ("record_info", ["score", 3], "non-empty strings"),
        ("record_info", ["score", "score"], "listed twice"),
    ],
)
def test_validation_rejects(setting: str, value: Any, fragment: str) -> None:
    with pytest.raises(SceneConfigError) as info:
        P2PGymScene().validation(**{setting: value})
    assert str(info.value).startswith(f"validation({setting})") and fragment in str(info.value)


def test_record_info_reaches_the_game_settings() -> None:
    scene = P2PGymScene().validation(record_info=["score", "gems"])
    assert scene.game_settings()["validation"]["record_info"] == ["score", "gems"]


def test_gameplay_actions_are_i32() -> None:
    with pytest.raises(SceneConfigError, match=r"gameplay\(default_action\).*-2147483648 to 2147483647"):
        P2PGymScene().gameplay(default_action=2**31)
    with pytest.raises(SceneConfigError, match=r"gameplay\(action_mapping\['w'\]\)"):
        P2PGymScene().gameplay(action_mapping={"w": "up"})
    with pytest.raises(SceneConfigError, match=r"gameplay\(num_episodes\)"):
        P2PGymScene().gameplay(num_episodes=0)
    scene = P2PGymScene().gameplay(default_action=-1, action_mapping={("ArrowUp", "ArrowLeft"): 5})
    assert scene.action_mapping == {"ArrowLeft,ArrowUp": 5} and scene.game_has_composite_actions


def test_rendering_fps_is_the_simulation_rate() -> None:
    scene = P2PGymScene().rendering(fps=45, game_width=300)
    assert scene.fps == 45 and scene.p2p_settings.fps == 45 and scene.game_width == 300
    with pytest.raises(SceneConfigError, match=r"rendering\(fps\)"):
        P2PGymScene().rendering(fps=0)


def test_pyodide_settings() -> None:
    with pytest.raises(SceneConfigError, match=r"pyodide\(multiplayer\).*replaces it"):
        P2PGymScene().pyodide(multiplayer=True)
    with pytest.raises(SceneConfigError, match=r"pyodide\(server_authoritative\)"):
        P2PGymScene().pyodide(server_authoritative=True)
    with pytest.raises(SceneConfigError, match=r"pyodide\(run_through_pyodide\)"):
        P2PGymScene().pyodide(run_through_pyodide=False)
    scene = P2PGymScene().pyodide(packages_to_install=["numpy"])
    assert scene.packages_to_install == ["numpy"]  # Interactive Gym's own package is not appended


def test_env_code_inspected_when_set() -> None:
    scene = P2PGymScene().pyodide(environment_initialization_code=ENV_CODE)
    assert scene.env_code_report is not None and scene.env_code_report.verified
    assert scene.env_code_report.env_class == "CounterEnv"

    broken = ENV_CODE.replace("def set_state(self, state):", "def restore(self, state):")
    with pytest.raises(SceneConfigError, match=r"class CounterEnv .* has no set_state\(\)"):
        scene.pyodide(environment_initialization_code=broken)
    assert scene.environment_initialization_code == ENV_CODE  # the refused code was not kept

    with pytest.raises(SceneConfigError, match=r"line 2: "):
        P2PGymScene().pyodide(environment_initialization_code="x = 1\ndef (:\n")
    with pytest.raises(SceneConfigError, match="no module-level variable named 'env'"):
        P2PGymScene().pyodide(environment_initialization_code=ENV_CODE.replace("env = CounterEnv()", "game = CounterEnv()"))


def test_env_code_file(tmp_path) -> None:
    path = tmp_path / "env.py"
    path.write_text(ENV_CODE, encoding="utf-8")
    scene = P2PGymScene().pyodide(environment_initialization_code_filepath=str(path))
    assert scene.environment_initialization_code == ENV_CODE and scene.env_code_report.verified


def test_env_code_that_cannot_be_verified_is_allowed_and_said() -> None:
    report = inspect_env_code("from some_package import SomeEnv\nenv = SomeEnv()\n")
    assert not report.verified and "not verified" in report.note
    base_outside = "from pkg import Base\nclass E(Base):\n    def reset(self): pass\nenv = E()\n"
    report = inspect_env_code(base_outside)
    assert not report.verified and "base class" in report.note
    inherited = (
        "class Base:\n    def get_state(self): return {}\n    def set_state(self, s): pass\n"
        "class E(Base):\n    def reset(self, seed=None): pass\n    def step(self, a): pass\n"
        "if True:\n    env = E()\n"
    )
    assert inspect_env_code(inherited).verified
    with pytest.raises(EnvCheckError, match="is empty"):
        inspect_env_code("   ")


class _GoodEnv:
    def reset(self, seed=None): ...
    def step(self, actions): ...
    def get_state(self): return {}
    def set_state(self, state): ...


class _NoStateEnv:
    def reset(self, seed=None): ...
    def step(self, actions): ...


def test_env_creator_checked() -> None:
    with pytest.raises(SceneConfigError, match=r"environment\(env_creator\): _NoStateEnv has no get_state\(\), set_state\(\)"):
        P2PGymScene().environment(env_creator=_NoStateEnv)
    with pytest.raises(SceneConfigError, match="must be callable"):
        P2PGymScene().environment(env_creator=42)
    assert isinstance(P2PGymScene().environment(env_creator=_GoodEnv).create_env(), _GoodEnv)
    factory_scene = P2PGymScene().environment(env_creator=lambda: _NoStateEnv())
    with pytest.raises(SceneConfigError, match="has no get_state"):
        factory_scene.create_env()
    with pytest.raises(SceneConfigError, match="is not set"):
        P2PGymScene().create_env()


def test_check_needs_the_whole_scene() -> None:
    with pytest.raises(SceneConfigError, match=r"scene\(scene_id\).*not a plain identifier"):
        make_scene(scene_id="../up").check()
    with pytest.raises(SceneConfigError, match=r"gameplay\(default_action\): must be set"):
        P2PGymScene().scene(scene_id="g").pyodide(environment_initialization_code=ENV_CODE).check()
    with pytest.raises(SceneConfigError, match="environment_initialization_code"):
        P2PGymScene().scene(scene_id="g").gameplay(default_action=0).check()
    bots = make_scene()
    bots.policy_mapping = {0: "human", 1: "ppo"}  # assigned directly: check() still sees it
    with pytest.raises(SceneConfigError, match=r"p2p\(players\): is 2, but policy_mapping has 1 'human'"):
        bots.check()
    bots.p2p(players=1)
    with pytest.raises(SceneConfigError, match=r"policies\(policy_mapping\): names the policies \['ppo'\].*ai_policy"):
        bots.check()
    with pytest.raises(SceneConfigError, match=r"p2p\(players\): a game needs two seats"):
        make_scene().p2p(players=1).check()
    assert make_scene().check() is not None


def test_game_settings_and_wait_timeout() -> None:
    scene = make_scene(players=3, input_delay=1).user_experience(waitroom_timeout=30_000)
    settings = scene.game_settings()
    assert settings["p2p"]["players"] == 3 and settings["p2p"]["input_delay"] == 1
    assert settings["p2p"]["wait_timeout_s"] == 30  # from Interactive Gym's waitroom_timeout (ms)
    assert settings["p2p"]["default_action"] == 0
    assert settings["validation"] == {"hash_interval": 1, "state_dump_on_desync": True, "export": True, "record_info": []}
    assert settings["impairment"] is None
    assert scene.p2p(wait_timeout_s=5).signaling_rules().wait_timeout_s == 5


class _RecordingSio:
    """Stands in for Flask-SocketIO's emit in these unit tests of the hooks."""

    def __init__(self) -> None:
        self.emitted: list[tuple[str, Any, Any]] = []

    def emit(self, event: str, data: Any, room: Any = None) -> None:
        self.emitted.append((event, json.loads(json.dumps(data)), room))


def test_activation_carries_everything_the_browser_needs() -> None:
    scene = make_scene(impairment={"delay_ms": 20, "seed": 3}).validation(hash_interval=4).rendering(game_width=321)
    released: list[bool] = []
    scene.bind_signaling(SignalingBinding("alice", "t1.x.y", "/p2p", release=lambda: released.append(True)))
    sio = _RecordingSio()
    scene.activate(sio, room="sid-1")
    event, payload, room = sio.emitted[0]
    assert (event, room) == ("activate_scene", "sid-1")
    p2p = payload["p2p"]
    assert payload["scene_id"] == "game" and payload["scene_type"] == "P2PGymScene"
    assert p2p["settings"]["p2p"]["players"] == 2
    assert p2p["settings"]["validation"]["hash_interval"] == 4
    assert p2p["settings"]["impairment"]["delay_ms"] == 20
    assert p2p["env"]["code"] == ENV_CODE and p2p["env"]["packages"] == [] and p2p["env"]["verified"] is True
    assert p2p["gameplay"]["action_mapping"] == {"ArrowUp": 1, "ArrowDown": -1}
    assert p2p["gameplay"]["default_action"] == 0 and p2p["gameplay"]["max_steps"] == 10000
    assert p2p["rendering"]["fps"] == 30 and p2p["rendering"]["game_width"] == 321
    assert p2p["signaling"] == {"namespace": "/p2p", "subject_id": "alice", "ticket": "t1.x.y"}
    # The ticket is for the participant's page only, never for exported metadata.
    assert scene.scene_metadata["p2p"]["signaling"] is None
    assert "t1.x.y" not in json.dumps(scene.scene_metadata)

    scene.deactivate()
    assert sio.emitted[-1][0] == "terminate_scene" and released == [True]


def test_client_status_callback_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    scene = make_scene()
    scene.bind_signaling(SignalingBinding("alice", "t", "/p2p", release=lambda: None))
    with caplog.at_level("INFO", logger="interactive_gym_p2p.scene"):
        scene.on_client_callback({"type": "p2p_status", "game_id": "g1", "event": "connected", "path": "relay"}, None, "sid")
        scene.on_client_callback({"type": "other"}, None, "sid")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "alice" in messages[0] and "relay" in messages[0]
