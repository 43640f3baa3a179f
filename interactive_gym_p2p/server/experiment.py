"""What the server is asked to run: a Stager (or Interactive Gym ExperimentConfig), checked.

The checks happen before anything is served, so a wrong experiment fails at start with a
message naming the scene, not when the first participant reaches it.
"""

from __future__ import annotations

import dataclasses

import copy
import importlib
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from interactive_gym.configurations.experiment_config import ExperimentConfig
from interactive_gym.scenes.scene import Scene
from interactive_gym.scenes.stager import Stager
from interactive_gym.scenes.static_scene import EndScene, StartScene, StaticScene

from .. import porting
from ..scene import P2PGymScene
from ..scene_assets import AssetFiles, SceneAssets, resolve_scene_assets
from ..scene_settings import SignalingRules
from ..validation.ids import identifier_problem


class ExperimentError(ValueError):
    """The experiment cannot be served; the message names the scene and the problem."""


@dataclass(frozen=True)
class Experiment:
    stager: Stager
    experiment_id: str | None
    rules: dict[str, SignalingRules]
    """Signaling rules of every P2P scene, by scene id."""
    scene_ids: frozenset[str]
    host: str | None = None
    port: int | None = None
    save_data: bool = True
    """Interactive Gym's ``save_experiment_data`` (False: no scene data or metadata files)."""
    scene_assets: dict[str, SceneAssets] = field(default_factory=dict)
    """Textures of every P2P scene with assets, by scene id (URLs under ``/p2p/assets/``)."""
    asset_files: dict[str, Path] = field(default_factory=dict)
    """URL path below ``/p2p/assets/`` -> the file it serves."""


def _flatten(stager: Stager) -> list[Scene]:
    # unpack() of a RandomizeOrder shuffles in place: work on a copy of the generic Stager.
    scenes: list[Scene] = []
    for item in copy.deepcopy(stager.scenes):
        scenes.extend(item.unpack())
    return scenes


def load_experiment(source: Stager | ExperimentConfig, base_dir: Path | None = None) -> Experiment:
    """Check a Stager (or the Stager of an ExperimentConfig) and collect its P2P scenes.

    ``base_dir`` is where relative asset paths are found (default: the working directory)."""
    experiment_id = host = port = None
    save_data = True
    if isinstance(source, ExperimentConfig):
        experiment_id, host, port = source.experiment_id, source.host, source.port
        save_data = bool(source.save_experiment_data)
        stager = source.stager
        try:
            porting.check_experiment_config(source)
        except ValueError as exc:
            raise ExperimentError(f"ExperimentConfig: {exc}") from None
    else:
        stager = source
    if not isinstance(stager, Stager):
        raise ExperimentError(f"expected an Interactive Gym Stager or ExperimentConfig, got {type(source).__name__}")
    scenes = _flatten(stager)
    if not scenes or not isinstance(scenes[0], StartScene) or not isinstance(scenes[-1], EndScene):
        raise ExperimentError("the Stager must begin with a StartScene and end with an EndScene")
    rules: dict[str, SignalingRules] = {}
    scene_assets: dict[str, SceneAssets] = {}
    files = AssetFiles(Path.cwd() if base_dir is None else Path(base_dir))
    for position, scene in enumerate(scenes):
        name = f"scene {position} ({type(scene).__name__} {scene.scene_id!r})"
        problem = identifier_problem(scene.scene_id)
        if problem is not None:
            raise ExperimentError(f"{name}: scene_id is not a plain identifier: {problem}")
        if isinstance(scene, P2PGymScene):
            try:
                scene.check()
            except ValueError as exc:
                raise ExperimentError(f"{name}: {exc}") from None
            scene_rules = scene.signaling_rules()
            if scene.scene_id in rules and rules[scene.scene_id] != scene_rules:
                raise ExperimentError(f"{name}: another P2P scene with this id has different settings")
            rules[scene.scene_id] = scene_rules
            specs = scene.asset_specs()
            models = scene.onnx_models
            if specs or models:
                try:
                    assets = resolve_scene_assets(scene.scene_id, specs, files) if specs else SceneAssets()
                    # Hosted seats' ONNX files are served like textures (content-addressed URLs).
                    served = tuple((m, files.url(files.resolve("policies(policy_mapping)", m))) for m in models)
                    scene_assets[scene.scene_id] = dataclasses.replace(assets, models=served)
                except ValueError as exc:
                    raise ExperimentError(f"{name}: {exc}") from None
        elif not isinstance(scene, StaticScene):
            raise ExperimentError(
                f"{name}: this server runs static scenes and P2PGymScene; "
                f"a {type(scene).__name__} needs Interactive Gym's own server"
            )
    return Experiment(
        stager, experiment_id, rules, frozenset(s.scene_id for s in scenes), host, port, save_data,
        scene_assets, dict(files.files),
    )


def _module(target: str) -> Any:
    """The experiment's module (imported once; a second call returns the same module)."""
    if target.endswith(".py") or "/" in target:
        path = Path(target).resolve()
        if not path.is_file():
            raise ExperimentError(f"experiment file {path} does not exist")
        module_name = f"_interactive_gym_p2p_experiment_{path.stem}"
        if module_name in sys.modules and getattr(sys.modules[module_name], "__file__", None) == str(path):
            return sys.modules[module_name]
        module_spec = importlib.util.spec_from_file_location(module_name, path)
        if module_spec is None or module_spec.loader is None:
            raise ExperimentError(f"cannot import {path}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_name] = module
        module_spec.loader.exec_module(module)
        return module
    return importlib.import_module(target)


def resolve_study(spec: str) -> Any:
    """The ``study`` (an ``interactive_gym_p2p.participants.Study``, or a callable returning
    one) defined beside the Stager in the experiment's module, or None."""
    from ..participants.study import Study

    module = _module(spec.partition(":")[0])
    value = getattr(module, "study", None)
    if value is None:
        return None
    if callable(value) and not isinstance(value, Study):
        value = value()
    if not isinstance(value, Study):
        raise ExperimentError(f"{spec}: study is a {type(value).__name__}, not an interactive_gym_p2p.participants.Study")
    return value


def preload_payload(experiment: Experiment) -> dict[str, Any] | None:
    """``{scene_id, p2p}`` of the first P2P scene, for the participant page to start loading
    its environment at once (while the participant reads the pages before it). The ``p2p``
    block is what ``activate_scene`` will carry, without the participant's signaling ticket;
    the page uses what it loaded only if the scene's environment turns out the same."""
    for scene in _flatten(experiment.stager):
        if isinstance(scene, P2PGymScene):
            scene.bind_assets(experiment.scene_assets.get(scene.scene_id))
            return {"scene_id": scene.scene_id, "p2p": scene.scene_metadata["p2p"]}
    return None


def resolve_experiment(spec: str) -> Stager | ExperimentConfig:
    """``path/to/file.py[:name]`` or ``package.module[:name]`` -> the Stager/ExperimentConfig.

    ``name`` may be a Stager, an ExperimentConfig, or a callable returning one; without it,
    ``stager``, ``experiment_config`` and ``experiment`` are tried in that order.
    """
    target, _, attr = spec.partition(":")
    module = _module(target)
    names = [attr] if attr else ["stager", "experiment_config", "experiment"]
    for name in names:
        if hasattr(module, name):
            value: Any = getattr(module, name)
            if callable(value) and not isinstance(value, (Stager, ExperimentConfig)):
                value = value()
            if isinstance(value, (Stager, ExperimentConfig)):
                return value
            raise ExperimentError(f"{spec}: {name} is a {type(value).__name__}, not a Stager or ExperimentConfig")
    raise ExperimentError(f"{spec}: none of {names} is defined")
