"""Hosted (ONNX) seats in the scene and the server (docs/ai.md): a policy_mapping value naming
an .onnx file is a seat the lowest participant seat hosts; the server serves the file like a
texture and onnxruntime-web from its own origin, and refuses to start without either."""

from __future__ import annotations

from pathlib import Path

import pytest

from interactive_gym_p2p.examples import tug
from interactive_gym_p2p.server import ServerConfig, onnxruntime
from interactive_gym_p2p.server.experiment import ExperimentError, load_experiment
from interactive_gym_p2p.validation.storage import GameRecord


def stager(onnx_seats: dict[int, str], num_players: int = 3):
    return tug.build_stager(num_players=num_players, max_steps=60, onnx_seats=onnx_seats)


def test_an_onnx_file_in_policy_mapping_is_a_seat_hosted_by_the_lowest_participant_seat(tmp_path: Path) -> None:
    (tmp_path / "bot.onnx").write_bytes(b"not read before a game")
    experiment = load_experiment(stager({0: "bot.onnx"}), base_dir=tmp_path)
    scene = experiment.stager.scenes[1]
    seat = {"player_index": 0, "agent_id": 0, "policy": "bot.onnx", "kind": "onnx", "host": 1}
    assert scene.ai_seats == [seat]
    assert scene.p2p_settings.players == 2 and scene.num_seats == 3
    assert scene.game_settings()["p2p"]["ai_seats"] == [seat]
    assert scene.signaling_rules().human_seats == (1, 2)
    models = dict(experiment.scene_assets["tug"].models)
    assert list(models) == ["bot.onnx"] and models["bot.onnx"].startswith("/p2p/assets/")
    assert models["bot.onnx"].removeprefix("/p2p/assets/") in experiment.asset_files
    scene.bind_assets(experiment.scene_assets["tug"])
    payload = scene.p2p_payload()["env"]
    assert payload["onnx_models"] == models and payload["ai_policies"] == {}
    record = GameRecord(game_id="g1", scene_id="tug", seed=1, subject_ids=(None, "a", "b"),
                        settings=scene.game_settings(), ai_players=(0,))
    assert record.hosted_players == {0: 1} and record.uploaders == (1, 2)


def test_a_missing_model_file_stops_the_server_at_start(tmp_path: Path) -> None:
    with pytest.raises(ExperimentError, match="bot.onnx"):
        load_experiment(stager({1: "bot.onnx"}), base_dir=tmp_path)


def test_onnxruntime_web_is_found_in_node_modules_or_the_server_refuses(tmp_path: Path, monkeypatch) -> None:
    # (The cache, the lookup order and fetching: tests/test_onnxruntime_web.py.)
    monkeypatch.setenv("IGP2P_ONNXRUNTIME_DIR", str(tmp_path / "no-cache"))
    (tmp_path / "bot.onnx").write_bytes(b"x")
    experiment = load_experiment(stager({1: "bot.onnx"}, num_players=2), base_dir=tmp_path)
    source = onnxruntime.onnxruntime_for(ServerConfig(), experiment)
    assert source is not None and source.folder is not None
    assert all((source.folder / f).is_file() for f in onnxruntime.ONNXRUNTIME_FILES)
    monkeypatch.setattr(onnxruntime, "_search_paths", lambda: ())
    with pytest.raises(onnxruntime.OnnxRuntimeUnavailable, match="interactive_gym_p2p.onnxruntime_web fetch"):
        onnxruntime.onnxruntime_for(ServerConfig(), experiment)
    plain = load_experiment(tug.build_stager(num_players=2, max_steps=60), base_dir=tmp_path)
    assert onnxruntime.onnxruntime_for(ServerConfig(), plain) is None, "no hosted seats: nothing to serve, nothing refused"
