"""Prolific parameters in, the configured completion code out, in real Chromium
(docs/participants.md). The real experiment server (demo Stager, embedded TURN, export store),
real screening (a relay-only DataChannel through the embedded TURN server), real WebRTC.

- completed: both participants arrive from a Prolific link, pass screening, play a short game
  to the end and see the `completed` code on the end page; the records and the exports carry
  the Prolific ids;
- screening failure: a browser without WebRTC is screened out on the start page with the
  `excluded:screening` code, before any waiting room;
- connection failure: relay-only ICE with no TURN server: both see the `connection_failed` code;
- inactivity during play: a participant who presses no key is warned, then excluded with the
  `excluded` code (reason inactive); the partner leaves with the `partner_left` code;
- lobby timeout: a participant alone in the waiting room sees the countdown, then the
  `lobby_timeout` code, and is sent to the configured redirect with the code and the Prolific id.
(partner left: tests/e2e/test_game_chromium.py::test_partner_closes_tab_mid_game; a lobby
timeout filled by a bot: tests/e2e/test_matchmaking_chromium.py.)
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from harness.game import (LOAD_TIMEOUT_S, KEYS, GameServer, open_participant, read_json, snapshot, start_pair,
                          wait_for_files)
from harness.session import BrowserSession
from test_game_chromium import run_in_browser
from test_matchmaking_chromium import WAITROOM_RECORDER

pytestmark = pytest.mark.e2e

CODES = {"completed": "C-DONE-1", "partner_left": "C-PL-1", "connection_failed": "C-CF-1",
         "excluded:screening": "C-SCR-1", "excluded": "C-EX-1", "error": "C-ERR-1"}
STUDY = {"codes": CODES, "redirect_url": None}
NO_WEBRTC = "delete window.RTCPeerConnection; delete window.webkitRTCPeerConnection;"


def prolific_ids(subject: str) -> dict[str, str]:
    return {"PROLIFIC_PID": subject, "STUDY_ID": "study-e2e", "SESSION_ID": f"session-{subject}"}


async def outcome_page(p: Any, subject: str, outcome: str, timeout_s: float = 60) -> dict[str, Any]:
    """Wait for the outcome page; check what the participant sees (code, copy button, no game)."""
    # Not p.wait: an error phase on the way (connection failed) is expected here.
    try:
        await p.page.wait_for_function("() => window.p2p && window.p2p.phase === 'ended' && window.p2p.outcome",
                                       timeout=timeout_s * 1000, polling=100)
    except Exception as err:
        raise AssertionError(f"{p.name}: no {outcome} page within {timeout_s:.0f} s: {await snapshot(p.page)}") from err
    snap = await snapshot(p.page)
    shown = snap["p2p"]["outcome"]
    assert shown["outcome"] == outcome, shown
    assert await p.page.inner_text("#outcomeCode") == shown["code"]
    assert await p.page.is_visible("#outcomeCopy")
    assert not await p.page.is_visible("#gameCanvas")
    assert snap["p2p"]["recruitment"] == prolific_ids(subject), snap["p2p"]
    return snap


def check_record(server: GameServer, subject: str, outcome: str, code: str) -> dict[str, Any]:
    record = server.participant(subject)
    assert record["recruitment"] == prolific_ids(subject), record
    assert (record["outcome"]["outcome"], record["outcome"]["code"]) == (outcome, code), record["outcome"]
    return record


def test_completed_with_prolific_ids(game_server, chromium_available, artifacts_dir, request):
    server = game_server({"num_episodes": 1, "max_steps": 60, "ice_transport_policy": "relay"}, study=STUDY)

    async def body(session: BrowserSession) -> None:
        pair = await start_pair(session, server, "done", prolific=True)
        await asyncio.gather(*(p.press_keys_while_playing(KEYS[i], timeout_s=60) for i, p in enumerate(pair)))
        for p in pair:
            await p.finish()
        snaps = [await outcome_page(p, s, "completed") for p, s in zip(pair, ("done-a", "done-b"))]
        # On the end page: the EndScene's own text stays, the code is added under it.
        assert await pair[0].page.inner_text("#sceneHeader") == "Thank you!"
        game_id = snaps[0]["p2p"]["gameId"]
        for subject, snap in zip(("done-a", "done-b"), snaps):
            record = check_record(server, subject, "completed", CODES["completed"])
            assert record["outcome"]["reported_by"] == "server"
            assert [g["game_id"] for g in record["games"]] == [game_id]
            # Screening ran for real: a DataChannel through the embedded TURN server's relay.
            assert record["screening"]["passed"] is True and record["screening"]["turn"]["ok"] is True, record["screening"]
            index = snap["p2p"]["playerIndex"]
            path = server.game_dir(game_id) / f"player-{index}.json"
            wait_for_files([path], 20, "export")
            assert read_json(path)["ids"]["recruitment"] == prolific_ids(subject)

    run_in_browser(request, artifacts_dir, body)


def test_screening_failure_before_waiting(game_server, chromium_available, artifacts_dir, request):
    server = game_server({"num_episodes": 1, "max_steps": 60}, study=STUDY)

    async def body(session: BrowserSession) -> None:
        p = await open_participant(session, server.url, 0, "noweb", prolific=True, init_script=NO_WEBRTC)
        snap = await outcome_page(p, "noweb", "excluded")
        assert snap["p2p"]["outcome"]["reason"] == "screening" and snap["p2p"]["outcome"]["code"] == CODES["excluded:screening"]
        assert "WebRTC" in await p.page.inner_text("#outcomeDetail")
        assert not any(e["phase"] == "waiting" for e in snap["phases"]), "screened out before any waiting room"
        record = check_record(server, "noweb", "excluded", CODES["excluded:screening"])
        assert record["outcome"]["reason"] == "screening" and record["screening"]["webrtc"]["ok"] is False
        assert record["games"] == []

    run_in_browser(request, artifacts_dir, body)


def test_connection_failure(game_server, chromium_available, artifacts_dir, request):
    # Relay only, but no TURN server at all: no candidate, the browsers give up after 3 s.
    server = game_server({"num_episodes": 1, "max_steps": 60, "ice_transport_policy": "relay", "connection_timeout_s": 3,
                          "matchmaking": {"requeue_on_connection_failure": False}},
                         turn="none", study=STUDY)

    async def body(session: BrowserSession) -> None:
        pair = await start_pair_connecting(session, server)
        for p, subject in zip(pair, ("cf-a", "cf-b")):
            snap = await outcome_page(p, subject, "connection_failed")
            assert snap["p2p"]["outcome"]["code"] == CODES["connection_failed"]
            record = check_record(server, subject, "connection_failed", CODES["connection_failed"])
            assert record["outcome"]["reason"] == "peer" and record["outcome"]["game_id"] == snap["p2p"]["gameId"]

    run_in_browser(request, artifacts_dir, body)


async def start_pair_connecting(session: BrowserSession, server: GameServer) -> list[Any]:
    first = await open_participant(session, server.url, 0, "cf-a", prolific=True)
    await first.advance_to_game(LOAD_TIMEOUT_S)
    second = await open_participant(session, server.url, 1, "cf-b", prolific=True)
    await second.advance_to_game(LOAD_TIMEOUT_S)
    return [first, second]


def test_lobby_timeout_alone_in_the_waiting_room(game_server, chromium_available, artifacts_dir, request):
    # A redirect of our own server's (the health route), so the test sees where the page goes.
    lobby = {"code": "C-LT-1", "redirect_url": "/p2p/health?cc={code}&pid={PROLIFIC_PID}", "redirect_delay_s": 5}
    # The environment (Pyodide) must be loaded before the wait times out, or the page never
    # shows the waiting room: 8 s leaves room for a loaded machine (a load takes 3-5 s here).
    server = game_server({"num_episodes": 1, "max_steps": 60, "wait_timeout_s": 8},
                         study={"codes": {**CODES, "lobby_timeout": lobby}, "redirect_url": None})

    async def body(session: BrowserSession) -> None:
        p = await open_participant(session, server.url, 0, "alone", prolific=True)
        await p.page.evaluate(WAITROOM_RECORDER)
        await p.advance_to_game(LOAD_TIMEOUT_S)
        snap = await outcome_page(p, "alone", "lobby_timeout", timeout_s=LOAD_TIMEOUT_S)
        shown = snap["p2p"]["outcome"]
        assert (shown["reason"], shown["code"]) == ("no_match", "C-LT-1"), shown
        assert shown["redirect_url"] == "/p2p/health?cc=C-LT-1&pid=alone", shown
        # The waiting room counted down before the timeout.
        texts = await p.page.evaluate("() => window.__waitroomTexts")
        assert any("Time left: 0:0" in t for t in texts), texts
        assert "waiting" in [e["phase"] for e in snap["phases"]], snap["phases"]
        record = check_record(server, "alone", "lobby_timeout", "C-LT-1")
        assert record["outcome"]["reason"] == "no_match" and record["outcome"]["reported_by"] == "server", record["outcome"]
        assert record["outcome"]["redirect_url"] == shown["redirect_url"] and record["games"] == []
        # Then the page goes to the redirect, code and Prolific id filled in.
        await p.page.wait_for_url("**/p2p/health?cc=C-LT-1&pid=alone", timeout=30_000)

    run_in_browser(request, artifacts_dir, body)


def test_inactive_participant_is_excluded_and_the_partner_told(game_server, chromium_available, artifacts_dir, request):
    server = game_server({"num_episodes": 1, "max_steps": 900, "ice_transport_policy": "relay",
                          "exclusion": {"inactive_s": 5, "inactive_warn_s": 2}}, study=STUDY)

    async def body(session: BrowserSession) -> None:
        active, idle = await start_pair(session, server, "idle", prolific=True)
        # Only the first one plays; the second presses nothing.
        keys = asyncio.create_task(active.press_keys_while_playing(KEYS[0], timeout_s=90))
        await idle.page.wait_for_function(
            "() => (document.getElementById('statusText').textContent || '').includes('Are you still there?')",
            timeout=30_000, polling=100)
        snaps = {"idle": await outcome_page(idle, "idle-b", "excluded"),
                 "active": await outcome_page(active, "idle-a", "partner_left")}
        await keys
        assert (snaps["idle"]["p2p"]["outcome"]["reason"], snaps["idle"]["p2p"]["outcome"]["code"]) == ("inactive", CODES["excluded"])
        assert (snaps["active"]["p2p"]["outcome"]["reason"], snaps["active"]["p2p"]["outcome"]["code"]) == (
            "excluded", CODES["partner_left"])
        game_id = snaps["idle"]["p2p"]["gameId"]
        excluded = check_record(server, "idle-b", "excluded", CODES["excluded"])
        told = check_record(server, "idle-a", "partner_left", CODES["partner_left"])
        assert (excluded["outcome"]["reason"], excluded["outcome"]["game_id"]) == ("inactive", game_id), excluded["outcome"]
        assert (told["outcome"]["reason"], told["outcome"]["game_id"]) == ("excluded", game_id), told["outcome"]
        # The excluded participant's data is kept: its export is uploaded before its outcome page.
        index = snaps["idle"]["p2p"]["playerIndex"]
        path = server.game_dir(game_id) / f"player-{index}.json"
        wait_for_files([path], 20, "the excluded participant's export")
        assert read_json(path)["ids"]["recruitment"] == prolific_ids("idle-b")

    run_in_browser(request, artifacts_dir, body)
