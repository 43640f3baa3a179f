"""ExperimentServices: the embedded TURN process, TURN credentials and the export store, wired."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

import pytest

from interactive_gym_p2p.server.config import ServerConfig
from interactive_gym_p2p.server.services import ExperimentServices, TurnSettings
from interactive_gym_p2p.signaling.records import GameInfo, PlayerInfo


def _info(game_id: str) -> GameInfo:
    players = tuple(PlayerInfo(player_index=i, subject_id=f"s{i}", agent_id=i) for i in range(2))
    return GameInfo(game_id=game_id, scene_id="game", seed=7, players=players, settings={}, created_at="2026-01-01T00:00:00Z")


def test_embedded_turn_credentials_and_store(tmp_path: Path) -> None:
    services = ExperimentServices(ServerConfig(data_dir=tmp_path), TurnSettings(port=0, secret="s" * 32))
    with services as config:
        pid = services.turn.pid
        assert pid is not None and Path(f"/proc/{pid}").exists()
        (server,) = config.ice_servers_provider("alice")
        assert any(u.startswith("turn:127.0.0.1:") for u in server["urls"])
        expiry, participant = server["username"].split(":")
        assert participant == "alice" and int(expiry) > 0
        expected = base64.b64encode(hmac.new(b"s" * 32, server["username"].encode(), hashlib.sha1).digest()).decode()
        assert server["credential"] == expected
        config.on_game_created(_info("g1"))
        assert services.store.game("g1") is not None
        assert len(config.blueprints) == 1
    assert services.turn is None
    with pytest.raises(OSError):
        os.kill(pid, 0)  # the TURN child is gone once the services stop


def test_no_turn_gives_no_ice_servers(tmp_path: Path) -> None:
    with ExperimentServices(ServerConfig(data_dir=tmp_path), TurnSettings(mode="none")) as config:
        assert config.ice_servers_provider("bob") == []


def test_external_turn_needs_urls_and_secret() -> None:
    with pytest.raises(ValueError, match="external mode needs urls"):
        ExperimentServices(ServerConfig(), TurnSettings(mode="external"))
