"""Fixtures shared by the Python tests (the e2e folder has its own conftest besides)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from redis_support import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the session (no persistence); flushed by ``redis_url``."""
    server = RedisServer(Path(tmp_path_factory.mktemp("redis"))).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The URL of an empty Redis (everything flushed before the test)."""
    redis_server.flush()
    return redis_server.url


# ------------------------------------------------------------------ parallel runs (pytest-xdist)
#
# ./scripts/test runs ``pytest -n 3 --dist loadgroup``. Chromium tests would only slow each
# other down on the two cores, so the files under tests/e2e/ run in E2E_LANES serial lanes (one
# worker each, whole files so module fixtures start once), balanced by how long each file takes,
# while every other test goes to whichever worker is free. Files that build this repository's
# wheel (in the tree's build/ folder) share one lane; the twelve-peer RTT test has a lane place. The lanes come from our own scheduler:
# xdist's loadgroup marks do not reach pytest >= 9.2's node ids.

E2E_LANES = 2
E2E_DIR = "tests/e2e/"
# Seconds one file's tests took (a loaded 2-core machine), to balance the lanes; a file not
# listed counts DEFAULT_TEST_S per test.
E2E_FILE_SECONDS = {
    "test_game_chromium.py": 139, "test_outcomes_chromium.py": 73, "test_hidden_chromium.py": 59,
    "test_kitchen_chromium.py": 57, "test_pyodide_wheel_chromium.py": 54, "test_matchmaking_chromium.py": 43,
    "test_mesh_chromium.py": 35, "test_ai_seats_chromium.py": 32, "test_porting_chromium.py": 29,
    "test_data_chromium.py": 28, "test_console_chromium.py": 27, "test_cluster_chromium.py": 25,
    "test_transport_chromium.py": 21, "test_peer_interop_chromium.py": 20, "test_wheelhouse_chromium.py": 19,
    "test_packaging.py": 8, "test_env_pyodide_chromium.py": 5, "test_matchmaking_twelve.py": 30,
}
DEFAULT_TEST_S = 20
# Files outside tests/e2e/ that run in a lane too: with another file (both run ``pip wheel`` on
# the repository), or alone (twelve peers whose matching depends on measured RTTs: beside two
# Chromium games on a loaded machine it failed once).
SAME_LANE_AS = {"tests/test_packaging.py": "tests/e2e/test_pyodide_wheel_chromium.py",
                "tests/test_matchmaking_twelve.py": "tests/test_matchmaking_twelve.py"}


def e2e_lanes(nodeids: list[str], lanes: int = E2E_LANES) -> dict[str, str]:
    """Test file -> lane name, for the files that run in lanes (the rest are absent).

    Longest unit first, each to the lane with the least work so far: deterministic."""
    counts: dict[str, int] = {}
    for nodeid in nodeids:
        path = nodeid.split("::", 1)[0]
        if path.startswith(E2E_DIR) or path in SAME_LANE_AS:
            counts[path] = counts.get(path, 0) + 1
    units: dict[str, list[str]] = {}
    for path in counts:
        units.setdefault(SAME_LANE_AS.get(path, path), []).append(path)

    def seconds(path: str) -> float:
        return E2E_FILE_SECONDS.get(path.rsplit("/", 1)[-1], DEFAULT_TEST_S * counts[path])

    weight = {unit: sum(seconds(p) for p in paths) for unit, paths in units.items()}
    load = [0.0] * lanes
    lane_of: dict[str, str] = {}
    for unit in sorted(units, key=lambda u: (-weight[u], u)):
        lane = min(range(lanes), key=lambda k: (load[k], k))
        load[lane] += weight[unit]
        for path in units[unit]:
            lane_of[path] = f"e2e-lane-{lane}"
    return lane_of


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist, absent without it
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class LaneScheduling(LoadScopeScheduling):
        """LoadScopeScheduling whose scopes are the e2e lanes, and single tests elsewhere.
        (Bigger scopes are handed out first, so each lane starts at once on its own worker.)"""

        lane_of: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.lane_of is None:
                self.lane_of = e2e_lanes(list(self.collection or []))
            return self.lane_of.get(nodeid.split("::", 1)[0], nodeid)

    return LaneScheduling(config, log)
