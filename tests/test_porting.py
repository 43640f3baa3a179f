"""The porting audit: every Interactive Gym setting is honoured or refused, never ignored."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest
from interactive_gym.configurations.experiment_config import ExperimentConfig
from interactive_gym.scenes.gym_scene import GymScene
from interactive_gym.scenes.scene import Scene

from interactive_gym_p2p import porting
from interactive_gym_p2p.scene_settings import SceneConfigError
from interactive_gym_p2p.server.experiment import ExperimentError, load_experiment

from server_harness import make_scene, make_stager

ROOT = Path(__file__).resolve().parent.parent
SETTERS = {
    "Scene.scene": Scene.scene,
    "GymScene.environment": GymScene.environment,
    "GymScene.rendering": GymScene.rendering,
    "GymScene.policies": GymScene.policies,
    "GymScene.gameplay": GymScene.gameplay,
    "GymScene.user_experience": GymScene.user_experience,
    "GymScene.pyodide": GymScene.pyodide,
    "GymScene.player_grouping": GymScene.player_grouping,
    "GymScene.player_pairing": GymScene.player_pairing,
    "ExperimentConfig.experiment": ExperimentConfig.experiment,
    "ExperimentConfig.hosting": ExperimentConfig.hosting,
}


def _params(fn: Any) -> list[str]:
    return [p for p in inspect.signature(fn).parameters if p not in ("self", "kwargs")]


def test_every_setter_parameter_has_a_row() -> None:
    # Fails when Interactive Gym grows a setting: give it a row (honoured or refused).
    public = {name for name, fn in inspect.getmembers(GymScene, inspect.isfunction) if not name.startswith("_")}
    known = {call.split(".")[1] for call in SETTERS if call.startswith("GymScene")}
    not_setters = {"build", "copy", "unpack", "activate", "deactivate", "on_connect", "export_metadata",
                   "on_client_callback", "get_complete_scene_metadata", "scene"}
    assert public - not_setters == known, "a new GymScene method: is it a setter? add it to SETTERS and porting.py"
    for call, fn in SETTERS.items():
        for name in _params(fn):
            porting._row(call, name)  # raises KeyError when missing


def test_every_attribute_has_a_row() -> None:
    attributes = {r.attr for r in porting.SETTINGS if not r.call.startswith("ExperimentConfig")}
    missing = sorted(set(vars(GymScene())) - attributes)
    assert not missing, f"GymScene attributes without a porting row: {missing}"
    config_attributes = {r.attr for r in porting.SETTINGS if r.call.startswith("ExperimentConfig")}
    missing = sorted(set(vars(ExperimentConfig())) - config_attributes)
    assert not missing, f"ExperimentConfig attributes without a porting row: {missing}"


def test_refused_defaults_are_interactive_gyms() -> None:
    fresh = GymScene()
    config = ExperimentConfig()
    for row in porting.SETTINGS:
        if row.verdict != porting.REFUSED:
            continue
        owner = config if row.call.startswith("ExperimentConfig") else fresh
        assert row.default == getattr(owner, row.attr), row
        assert row.accepts(row.default), row
        assert row.why, f"{row.call}({row.name}) is refused without saying why"


# A value other than Interactive Gym's do-nothing default, for each refused setting.
CHANGED = {
    None: lambda *a: None,
    4: 2,
    5: 3,
    30: 10,
    42: 7,
    3000: 1000,
    100000: 80,
    False: True,
    "default_action": "previous_submitted_action",
}


def _changed(row: porting.SettingRow) -> Any:
    if row.default == []:
        return [{"key": "walk", "sprite_sheet_key": "chefs", "frames": [0, 1]}]
    if row.default == {}:
        return {"ppo": {}}
    return CHANGED[row.default]


SCENE_REFUSED = [r for r in porting.SETTINGS if r.verdict == porting.REFUSED and not r.call.startswith("ExperimentConfig")]


@pytest.mark.parametrize("row", SCENE_REFUSED, ids=lambda r: f"{r.call}.{r.name}")
def test_refused_setting_says_why(row: porting.SettingRow) -> None:
    value = _changed(row)
    if "." in row.call:
        call = row.call.split(".")[1]
        with pytest.raises(SceneConfigError) as info:
            getattr(make_scene(), call)(**{row.name: value})
        assert str(info.value).startswith(f"{call}({row.name}): {row.why}"), str(info.value)
    # However the value got there (assigned directly), check() refuses it at server start.
    scene = make_scene()
    setattr(scene, row.attr, value)
    with pytest.raises(SceneConfigError) as info:
        scene.check()
    assert row.why in str(info.value)


@pytest.mark.parametrize(
    "call, kwargs, fragment",
    [
        ("pyodide", {"run_through_pyodide": False}, "must stay True: every participant's browser runs the environment"),
        ("policies", {"policy_mapping": {0: "human", 1: "onnx/ppo.onnx"}}, "played by a participant; an AI or scripted"),
        ("policies", {"policy_mapping": {0: "human", 1: "random"}}, "python -m interactive_gym_p2p.peer"),
        ("gameplay", {"input_mode": "mouse"}, "'pressed_keys' or 'single_keystroke'"),
        ("gameplay", {"reset_freeze_s": -1}, "from 0 to 3600"),
        ("environment", {"seed": -5}, "from 0 to 4294967295"),
        ("rendering", {"location_representation": "grid"}, "'relative' or 'pixels'"),
        ("rendering", {"assets_to_preload": [{"object_type": "sound", "name": "x"}]}, "object_type must be one of"),
        ("rendering", {"assets_to_preload": [{"object_type": "img_spec", "name": "x", "img_path": "https://cdn/x.png"}]},
         "serves every asset itself"),
        ("pyodide", {"on_game_step_code": "import js\nenv.w = js.window.x"}, "reads the participant's page"),
        ("pyodide", {"on_game_step_code": "from pyodide.ffi import to_js"}, "reads the participant's page"),
        ("pyodide", {"on_game_step_code": "env.t +="}, "line 1"),
    ],
)
def test_limited_honoured_settings_refuse_what_cannot_work(call: str, kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(SceneConfigError) as info:
        getattr(make_scene(), call)(**kwargs)
    assert fragment in str(info.value)


def test_refused_experiment_config_settings() -> None:
    for row in porting.rows():
        if not row.call.startswith("ExperimentConfig") or row.verdict != porting.REFUSED:
            continue
        config = ExperimentConfig().experiment(experiment_id="e", stager=make_stager(make_scene()))
        setattr(config, row.attr, _changed(row))
        with pytest.raises(ExperimentError) as info:
            load_experiment(config)
        assert row.why in str(info.value), str(info.value)
    # The defaults pass.
    load_experiment(ExperimentConfig().experiment(experiment_id="e", stager=make_stager(make_scene())).hosting(max_ping=100000))


def test_docs_table_is_the_audit() -> None:
    text = (ROOT / "docs" / "porting.md").read_text(encoding="utf-8")
    assert porting.markdown_table() in text, "docs/porting.md's table differs from porting.markdown_table()"


def test_policy_mapping_keys_are_the_players_agents() -> None:
    scene = make_scene().policies(policy_mapping={"chef_b": "human", "chef_a": "human"})
    assert scene.game_settings()["p2p"]["agent_ids"] == ["chef_b", "chef_a"]
    assert scene.signaling_rules().agent_ids == ("chef_b", "chef_a")
    assert scene.p2p_payload()["settings"]["p2p"]["agent_ids"] == ["chef_b", "chef_a"]
    # p2p(agent_ids) wins when both are given.
    assert make_scene().policies(policy_mapping={0: "human", 1: "human"}).p2p(agent_ids=[1, 0]).agent_ids == (1, 0)
    with pytest.raises(SceneConfigError, match=r"policies\(policy_mapping\).*one agent id per player \(3\)"):
        make_scene(players=3).policies(policy_mapping={0: "human", 1: "human"}).check()


def test_experiment_config_in_metadata() -> None:
    scene = make_scene().scene(experiment_config={"condition": "blue"})
    assert scene.scene_metadata["experiment_config"] == {"condition": "blue"}
    json.dumps(scene.scene_metadata)


def test_env_config_reaches_env_creator() -> None:
    class Env:
        def __init__(self, size: int = 1) -> None:
            self.size = size

        def reset(self, seed: int | None = None) -> None: ...
        def step(self, actions: Any) -> None: ...
        def get_state(self) -> dict: return {}
        def set_state(self, state: dict) -> None: ...

    assert make_scene().environment(env_creator=Env, env_config={"size": 7}).create_env().size == 7
