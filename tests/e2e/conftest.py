"""Fixtures for the real-Chromium tests: HTTP server for the pages, coturn, a network
namespace for direct connections, and the artifacts folder for failure screenshots.

Anything missing (chromium, coturn, root for the namespace) makes the test FAIL with the
reason; nothing here skips.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest

from harness.chromium import ChromiumError, check_chromium
from harness.coturn import CoturnError, start_coturn
from harness.game import DEMO, GameServerError, start_game_server
from harness.session import artifact_stem
from harness.netns import NetnsError, create_netns
from harness.processes import ProcessStartError, start_ready_process

REPO = Path(__file__).resolve().parents[2]
STATIC_DIR = REPO / "static"
PAGES_DIR = Path(__file__).resolve().parent / "pages"
STATIC_SERVER = Path(__file__).resolve().parent / "harness" / "static_server.py"
ARTIFACTS_DIR = REPO / "test-artifacts"


def _static_server_cmd() -> list[str]:
    return [sys.executable, str(STATIC_SERVER), "--host", "127.0.0.1", "--port", "0",
            "--mount", f"/static={STATIC_DIR}", "--mount", f"/node_modules={REPO / 'node_modules'}",
            "--mount", f"/py={REPO / 'interactive_gym_p2p'}",
            "--mount", f"/={PAGES_DIR}"]


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    return ARTIFACTS_DIR


@pytest.fixture(scope="session")
def chromium_available() -> None:
    try:
        check_chromium()
    except ChromiumError as err:
        pytest.fail(str(err), pytrace=False)


@pytest.fixture(scope="module")
def static_url():
    """Base URL of the page server in the host's namespace (127.0.0.1)."""
    try:
        server = start_ready_process(_static_server_cmd(), name="static server")
    except ProcessStartError as err:
        pytest.fail(str(err), pytrace=False)
    yield f"http://127.0.0.1:{server.ready_line.split()[1]}"
    server.stop()


@pytest.fixture(scope="module")
def coturn():
    with tempfile.TemporaryDirectory(prefix="p2p-coturn-") as tmp:
        try:
            server = start_coturn(Path(tmp))
        except CoturnError as err:
            pytest.fail(f"coturn could not start: {err}", pytrace=False)
        yield server
        server.stop()


@pytest.fixture(scope="module")
def netns():
    try:
        ns = create_netns()
    except NetnsError as err:
        pytest.fail(f"network namespace for the direct-path test: {err}", pytrace=False)
    yield ns
    ns.close()


@pytest.fixture(scope="module")
def netns_static_url(netns):
    """Base URL of a page server INSIDE the namespace (its own 127.0.0.1)."""
    try:
        server = start_ready_process(netns.command(_static_server_cmd()), name="static server (netns)")
    except ProcessStartError as err:
        pytest.fail(str(err), pytrace=False)
    yield f"http://127.0.0.1:{server.ready_line.split()[1]}"
    server.stop()


@pytest.fixture
def netns_chromium(netns, chromium_available, tmp_path) -> Path:
    """A Chromium executable wrapper that runs the browser inside the namespace."""
    return netns.wrapper(tmp_path, "/usr/bin/chromium")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # Keeps each phase's report on the test item so fixtures can tell a failed test at teardown.
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture
def game_server(tmp_path, request, artifacts_dir):
    """Start the demo experiment server (real services) as a child process: a factory.

    ``game_server(kwargs_for_build_stager, turn="embedded"|"none", netns=None, experiment=DEMO,
    researcher_token=None, extra_args=(), study=None, countdown_s=0)`` (``experiment``: ``module:factory`` returning the Stager; the demo's
    by default; ``researcher_token``: researcher routes and research console on; ``extra_args``:
    more options of harness/game_server.py, e.g. ``--wheelhouse DIR``; ``study``: keyword arguments of
    the demo's ``build_study``, e.g. ``{"codes": {...}}``; ``countdown_s``: the games' start countdown,
    none unless asked for: None or ``countdown_s`` in the kwargs keeps the experiment's). The server's
    log goes to ``test-artifacts/`` when the test fails; the process stops at teardown.
    """
    servers = []

    def start(kwargs: dict, turn: str = "embedded", netns=None, experiment: str = DEMO, researcher_token: str | None = None,
              extra_args: tuple[str, ...] = (), study: dict | None = None, countdown_s: float | None = 0):
        wrap = netns.command if netns is not None else (lambda argv: argv)
        try:
            server = start_game_server(tmp_path / f"server{len(servers)}", kwargs, turn=turn, wrap=wrap,
                                       experiment=experiment, researcher_token=researcher_token, extra_args=extra_args,
                                       study=study, countdown_s=countdown_s)
        except GameServerError as err:
            pytest.fail(f"experiment server (with {turn} TURN) could not start: {err}", pytrace=False)
        servers.append(server)
        return server

    yield start
    call = getattr(request.node, "rep_call", None)
    failed = call is None or call.failed
    for i, server in enumerate(servers):
        server.stop()
        if failed:
            artifacts_dir.mkdir(parents=True, exist_ok=True)
            (artifacts_dir / f"{artifact_stem(request.node.nodeid)}-server{i}.log").write_text(server.log(), encoding="utf-8")
