"""``python -m interactive_gym_p2p.peer`` as a real process against a real server (relay-only
through the embedded TURN server), and its argument parsing."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from interactive_gym_p2p.peer.__main__ import parse_impairment

from peer_net_support import demo_stager, gem_rush_scene, served

ROOT = Path(__file__).resolve().parent.parent


def test_parse_impairment() -> None:
    assert parse_impairment("delay=80,loss=0.05,seed=1") == {"delay_ms": 80, "loss": 0.05, "seed": 1}
    assert parse_impairment("jitter=5.5") == {"jitter_ms": 5.5, "seed": 0}
    for bad in ("latency=3", "delay", "loss=lots"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_impairment(bad)


def test_cli_runs_peers_to_the_end(tmp_path: Path) -> None:
    with served(demo_stager(gem_rush_scene("gems", episodes=1, steps=60)), tmp_path) as s:
        done = subprocess.run(
            [sys.executable, "-m", "interactive_gym_p2p.peer", "--server", s.url, "--peers", "2", "--seed", "4",
             "--impair", "delay=20,jitter=5,loss=0.03,seed=9", "--subject-prefix", "cli-", "--timeout", "120", "--json"],
            capture_output=True, text=True, timeout=180, cwd=ROOT,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        rows = json.loads(done.stdout.strip().splitlines()[-1])
        assert sorted(r["subject"] for r in rows) == ["cli-0", "cli-1"]
        assert len({r["game_id"] for r in rows}) == 1 and sorted(r["player"] for r in rows) == [0, 1]
        assert all(r["frames"] == 60 and r["uploaded"] == "stored" and r["path"] == "relay/udp" and r["result"] == "completed"
                   for r in rows), rows
        assert "subject" in done.stdout.splitlines()[0]  # the table header
        game = s.games_dir / rows[0]["game_id"]
        report = json.loads((game / "comparison.json").read_text())
        assert report["agree"] and report["complete"]
        export = json.loads((game / "player-0.json").read_text())
        assert export["settings"]["impairment"] == {"delay_ms": 20, "jitter_ms": 5, "loss": 0.03, "seed": 9}
