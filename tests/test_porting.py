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
        ("policies", {"policy_mapping": {0: "human", 1: ""}}, "the name of an AI policy (a non-empty string)"),
        ("policies", {"policy_mapping": {0: "human", 1: None}}, "a scripted participant joins as a Python peer"),
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


def test_player_pairing_aliases_reach_signaling() -> None:
    rules = make_scene().player_pairing(wait_for_known_partner=True, partner_wait_timeout=7_000).signaling_rules()
    assert rules.wait_for_known_group is True and rules.group_wait_timeout_s == 7


def test_waitroom_redirect_url_reaches_the_wait_timeout_event() -> None:
    import random

    from interactive_gym_p2p.signaling import InMemoryStore, Signaling, Slot

    rules = make_scene(wait_timeout_s=5).user_experience(waitroom_timeout_redirect_url="https://example.org/back").signaling_rules()
    sent: list[tuple[str, Any, str]] = []
    now = [0.0]
    signaling = Signaling({"game": rules}, store=InMemoryStore(), transport=type("T", (), {"emit": lambda self, e, p, s: sent.append((e, p, s))})(),
                          clock=lambda: now[0], rng=random.Random(1))
    signaling.connect("s1", Slot("a", "game", 1))
    signaling.join("s1")
    now[0] += 6
    signaling.sweep()
    [event] = [p for e, p, s in sent if e == "wait_timeout"]
    assert event["redirect_url"] == "https://example.org/back"


def test_experiment_config_host_and_port_are_what_run_binds() -> None:
    from interactive_gym_p2p.server.run import default_config

    config = ExperimentConfig().experiment(experiment_id="e", stager=make_stager(make_scene())).hosting(host="0.0.0.0", port=8123)
    chosen = default_config(config)
    assert (chosen.host, chosen.port) == ("0.0.0.0", 8123)
    assert (default_config(make_stager(make_scene())).host, default_config(make_stager(make_scene())).port) == ("127.0.0.1", 5702)


def test_assets_dir_is_not_where_asset_files_are_found(tmp_path: Path) -> None:
    # As in Interactive Gym 0.1.1, assets_dir is not read: a spec's path is used as written.
    from interactive_gym.configurations.object_contexts import ImgSpec

    (tmp_path / "art").mkdir()
    (tmp_path / "art" / "gem.png").write_bytes(b"\x89PNG")
    scene = make_scene().rendering(assets_dir=str(tmp_path / "art") + "/", assets_to_preload=[ImgSpec("gem", "gem.png")])
    with pytest.raises(ExperimentError, match="is not a file.*assets_dir\\) is not used"):
        load_experiment(make_stager(scene), base_dir=tmp_path)
    scene = make_scene().rendering(assets_dir="ignored/", assets_to_preload=[ImgSpec("gem", "art/gem.png")])
    assert load_experiment(make_stager(scene), base_dir=tmp_path).scene_assets["game"].payload()[0]["name"] == "gem"


def test_page_texts_from_files_reach_the_browser(tmp_path: Path) -> None:
    (tmp_path / "body.html").write_text("<p>read the rules</p>", encoding="utf-8")
    (tmp_path / "in_game.html").write_text("<p>arrow keys</p>", encoding="utf-8")
    scene = make_scene().user_experience(scene_header="Kitchen", scene_body_filepath=str(tmp_path / "body.html"),
                                         in_game_scene_body_filepath=str(tmp_path / "in_game.html"))
    ui = scene.p2p_payload()["ui"]
    assert (ui["scene_header"], ui["scene_body"], ui["in_game_scene_body"]) == ("Kitchen", "<p>read the rules</p>", "<p>arrow keys</p>")
    assert scene.scene_metadata["scene_body"] == "<p>read the rules</p>"


# Each honoured setting and the tests that fail if a P2P scene ignored it ("file::name", where
# name is a Python test function or a node test's title, found in that file).
HONOURED_TESTS: dict[str, list[str]] = {
    "Scene.scene.scene_id": ["tests/test_scene.py::test_check_needs_the_whole_scene", "tests/test_scene.py::test_activation_carries_everything_the_browser_needs"],
    "Scene.scene.experiment_config": ["tests/test_porting.py::test_experiment_config_in_metadata"],
    "Scene.scene.should_export_metadata": ["tests/test_server_flow.py::test_start_static_p2p_static_end"],
    "GymScene.environment.env_creator": ["tests/test_scene.py::test_env_creator_checked"],
    "GymScene.environment.env_config": ["tests/test_porting.py::test_env_config_reaches_env_creator"],
    "GymScene.environment.seed": ["tests/test_signaling.py::test_a_scene_seed_is_every_games_shared_seed"],
    "GymScene.policies.policy_mapping": ["tests/test_porting.py::test_policy_mapping_keys_are_the_players_agents"],
    "GymScene.gameplay.action_mapping": ["tests/test_scene.py::test_gameplay_actions_are_i32", "tests/js/input.test.mjs::pressed_keys",
                                         "tests/e2e/test_game_chromium.py::test_relay_only_through_embedded_turn"],
    "GymScene.gameplay.num_episodes": ["tests/js/client_game.test.mjs::session settings come from the scene config",
                                       "tests/e2e/test_game_chromium.py::check_agreeing_game"],
    "GymScene.gameplay.max_steps": ["tests/js/client_game.test.mjs::session settings come from the scene config"],
    "GymScene.gameplay.default_action": ["tests/test_scene.py::test_check_needs_the_whole_scene",
                                         "tests/js/client_game.test.mjs::session settings come from the scene config"],
    "GymScene.gameplay.input_mode": ["tests/js/input.test.mjs::single_keystroke"],
    "GymScene.gameplay.reset_freeze_s": ["tests/js/session_episodes.test.mjs::resetFreezeFrames",
                                         "tests/test_peer_sim.py::test_reset_freeze_frames_same_pause_and_start_frame_on_every_peer",
                                         "tests/e2e/test_porting_chromium.py::capture_frozen_end"],
    "GymScene.rendering.fps": ["tests/test_scene.py::test_rendering_fps_is_the_simulation_rate"],
    "GymScene.rendering.preload_specs": ["tests/test_scene_assets.py::test_specs_resolve_to_content_addressed_urls"],
    "GymScene.rendering.location_representation": ["tests/js/renderer.test.mjs::'pixels' location representation"],
    "GymScene.rendering.game_width": ["tests/e2e/test_porting_chromium.py::check_parity"],
    "GymScene.rendering.game_height": ["tests/e2e/test_porting_chromium.py::check_parity"],
    "GymScene.rendering.background": ["tests/js/renderer.test.mjs::an image background is drawn centred",
                                      "tests/js/renderer.test.mjs::background colour fills the scene"],
    "GymScene.rendering.state_init": ["tests/js/client_game.test.mjs::drawing: state_init first"],
    "GymScene.rendering.assets_dir": ["tests/test_porting.py::test_assets_dir_is_not_where_asset_files_are_found"],
    "GymScene.rendering.assets_to_preload": ["tests/test_scene_assets.py::test_served_files_and_scene_payload",
                                             "tests/js/client_env_loader.test.mjs::textures ride along",
                                             "tests/e2e/test_porting_chromium.py::check_parity"],
    "GymScene.user_experience.scene_header": ["tests/js/client_flow.test.mjs::in_game_scene_body replaces the scene body"],
    "GymScene.user_experience.scene_body": ["tests/js/client_flow.test.mjs::in_game_scene_body replaces the scene body"],
    "GymScene.user_experience.scene_body_filepath": ["tests/test_porting.py::test_page_texts_from_files_reach_the_browser"],
    "GymScene.user_experience.in_game_scene_body": ["tests/js/client_flow.test.mjs::in_game_scene_body replaces the scene body"],
    "GymScene.user_experience.in_game_scene_body_filepath": ["tests/test_porting.py::test_page_texts_from_files_reach_the_browser"],
    "GymScene.user_experience.waitroom_timeout": ["tests/test_scene.py::test_game_settings_and_wait_timeout"],
    "GymScene.user_experience.waitroom_timeout_redirect_url": ["tests/test_porting.py::test_waitroom_redirect_url_reaches_the_wait_timeout_event",
                                                               "tests/test_participants.py::test_lobby_timeout_is_recorded_by_the_server_with_igs_redirect"],
    "GymScene.pyodide.run_through_pyodide": ["tests/test_porting.py::test_limited_honoured_settings_refuse_what_cannot_work"],
    "GymScene.pyodide.environment_initialization_code": ["tests/test_scene.py::test_env_code_inspected_when_set"],
    "GymScene.pyodide.environment_initialization_code_filepath": ["tests/test_scene.py::test_env_code_file"],
    "GymScene.pyodide.on_game_step_code": ["tests/test_step_code.py::test_ignoring_the_step_code_would_change_every_hash",
                                           "tests/js/env_pyodide.test.mjs::on_game_step_code runs before every step",
                                           "tests/e2e/test_porting_chromium.py::check_exports"],
    "GymScene.pyodide.packages_to_install": ["tests/test_scene.py::test_pyodide_settings"],
    "GymScene.pyodide.restart_pyodide": ["tests/js/client_env_loader.test.mjs::restart_pyodide gives the scene a fresh one"],
    "GymScene.player_grouping.wait_for_known_group": ["tests/test_signaling.py::test_finish_forms_a_known_group_for_the_next_scene"],
    "GymScene.player_grouping.group_wait_timeout": ["tests/test_signaling.py::test_known_group_wait_timeout"],
    "GymScene.player_pairing.wait_for_known_partner": ["tests/test_porting.py::test_player_pairing_aliases_reach_signaling"],
    "GymScene.player_pairing.partner_wait_timeout": ["tests/test_porting.py::test_player_pairing_aliases_reach_signaling"],
    "ExperimentConfig.experiment.experiment_id": ["tests/test_server_flow.py::test_interactive_gym_experiment_config"],
    "ExperimentConfig.experiment.stager": ["tests/test_server_flow.py::test_interactive_gym_experiment_config"],
    "ExperimentConfig.experiment.save_experiment_data": ["tests/test_server_flow.py::test_interactive_gym_experiment_config"],
    "ExperimentConfig.hosting.host": ["tests/test_porting.py::test_experiment_config_host_and_port_are_what_run_binds"],
    "ExperimentConfig.hosting.port": ["tests/test_porting.py::test_experiment_config_host_and_port_are_what_run_binds"],
}


def test_every_honoured_setting_has_a_test_that_fails_if_it_is_ignored() -> None:
    honoured = {f"{r.call}.{r.name}" for r in porting.SETTINGS if r.verdict == porting.HONOURED}
    assert honoured == set(HONOURED_TESTS), sorted(honoured ^ set(HONOURED_TESTS))
    for setting, refs in HONOURED_TESTS.items():
        for ref in refs:
            path, _, name = ref.partition("::")
            text = (ROOT / path).read_text(encoding="utf-8")
            assert name in text, f"{setting}: {ref} not found"
