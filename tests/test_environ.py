"""One prefix for every environment variable; the old names still work, with a warning."""

from __future__ import annotations

import subprocess
import sys

import pytest

from interactive_gym_p2p import environ


def test_new_name_is_read() -> None:
    assert environ.get(environ.RESEARCHER_TOKEN, {"IGP2P_RESEARCHER_TOKEN": "t" * 20}) == "t" * 20
    assert environ.get(environ.TURN_SECRET, {"IGP2P_TURN_SECRET": "s"}) == "s"
    assert environ.get(environ.SECRET, {}) is None
    assert environ.get(environ.SECRET, {"IGP2P_SECRET": ""}) is None


def test_old_name_works_with_a_warning_and_the_new_name_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(environ, "_warned", set())
    with pytest.warns(environ.EnvironmentVariableDeprecationWarning, match=r"\$IG_P2P_SECRET is deprecated: set \$IGP2P_SECRET"):
        assert environ.get(environ.SECRET, {"IG_P2P_SECRET": "old"}) == "old"
    assert environ.get(environ.SECRET, {"IG_P2P_SECRET": "old", "IGP2P_SECRET": "new"}) == "new"


def test_every_tool_reads_the_same_researcher_token_name() -> None:
    # The server CLI, the exports CLI, the standalone server and the demo all spell it alike.
    from interactive_gym_p2p import cli
    from interactive_gym_p2p.turn import credentials

    assert cli.RESEARCHER_TOKEN_ENV == "IGP2P_RESEARCHER_TOKEN"
    assert cli.SECRET_ENV == "IGP2P_SECRET"
    assert credentials.SECRET_ENV == "IGP2P_TURN_SECRET"


def test_server_cli_reads_the_old_researcher_token_name_and_warns(tmp_path) -> None:
    code = (
        "import warnings; warnings.simplefilter('always');"
        "from interactive_gym_p2p import cli;"
        "c = cli.config_from_args(cli.build_parser().parse_args(['x.py']));"
        "print(c.researcher_token)"
    )
    env = {"PATH": "/usr/bin:/bin", "IG_P2P_RESEARCHER_TOKEN": "r" * 24}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=tmp_path, check=True)
    assert out.stdout.strip() == "r" * 24
    assert "IG_P2P_RESEARCHER_TOKEN is deprecated: set $IGP2P_RESEARCHER_TOKEN" in out.stderr
