"""A participant's tab hidden mid-game, in real Chromium on the real demo experiment.

Chromium under Playwright never reports a page as hidden (see ``harness/hidden_tab.js``), so
every page runs an init script that reproduces what Chrome does to a background tab:
visibilityState/hidden and ``visibilitychange``, main-thread timers released at most once a
second, requestAnimationFrame paused, Worker timers and network events untouched. The game
must not care: it runs and is ticked in a Dedicated Worker (the game worker, ``game_core.js``).

- hidden for 8 s: the partner's frame rate over those 8 s is at least 95 % of the target, the
  hidden page keeps simulating at full rate too (this is the check that fails when the game
  loop runs on main-thread timers: they wake once a second while hidden), nothing is drawn
  while hidden and drawing resumes when it is shown, the participant sees the "you were away"
  banner, the game completes, the exports agree, and the hidden interval with its frames is
  in the hidden player's export (and the comparison report) and nowhere else;
- hidden past ``max_hidden_s`` with ``hidden_policy='end'``: the hidden participant is
  excluded and the game ends for both, each side told why; the excluded participant ends with
  the outcome ``excluded:hidden`` and its code, the partner with ``partner_left:excluded``
  (docs/participants.md), both on the server's records.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from harness.game import (GAME_TIMEOUT_S, KEYS, PHASE_RECORDER, Participant, read_json, snapshot, start_pair,
                          wait_for_files, wait_until)
from harness.session import BrowserSession

pytestmark = pytest.mark.e2e

FPS = 30
HIDDEN_S = 8
HIDDEN_TAB = (Path(__file__).resolve().parent / "harness" / "hidden_tab.js").read_text(encoding="utf-8")


async def open_hideable(session: BrowserSession, server_url: str, index: int, subject: str) -> Participant:
    page = await session.new_page(index, f"{server_url}/{subject}", ready=None, relay=False,
                                  init_script=HIDDEN_TAB + "\n" + PHASE_RECORDER)
    return Participant(f"participant {index} ({subject})", page)


async def frame_and_time(page: Any) -> dict[str, float]:
    return await page.evaluate("() => ({frame: window.p2p.frame, t: performance.now()})")


async def keys_until_over(p: Participant, keys: list[str]) -> None:
    await p.press_keys_while_playing(keys, timeout_s=GAME_TIMEOUT_S)


def test_tab_hidden_8_s_mid_game(game_server, chromium_available, artifacts_dir, request):
    server = game_server({"num_episodes": 1, "max_steps": 450, "ice_transport_policy": "relay", "warn_hidden_s": 5})

    async def body(session: BrowserSession) -> None:
        pair = await start_pair(session, server, "hide", opener=lambda i, subject: open_hideable(session, server.url, i, subject))
        stay, away = pair
        for p in pair:
            clock = (await snapshot(p.page))["p2p"]["clock"]
            assert clock == "worker", f"{p.name}: the game loop runs on {clock!r}, not the worker clock"
        keys = asyncio.gather(*(keys_until_over(p, KEYS[i]) for i, p in enumerate(pair)))
        try:
            await hide_8_s(stay, away)
            await keys
        finally:
            keys.cancel()
        await check_game(server, pair)

    run(request, artifacts_dir, body)


async def hide_8_s(stay: Participant, away: Participant) -> None:
    """Mid-game, the second page hidden for 8 s: both keep their pace, nothing is drawn."""
    await stay.wait("p.frame >= 90", GAME_TIMEOUT_S, "frame 90")

    # Hide for 8 s (measured on the partner's clock), then show again.
    await away.page.evaluate("() => window.__hiddenTab.set(true)")
    s0, a0 = await frame_and_time(stay.page), await frame_and_time(away.page)
    await stay.page.wait_for_function(f"() => performance.now() - {s0['t']} >= {HIDDEN_S * 1000}",
                                      timeout=(HIDDEN_S + 20) * 1000, polling=50)
    s1, a1 = await frame_and_time(stay.page), await frame_and_time(away.page)
    emulation = await away.page.evaluate("() => ({...window.__hiddenTab})")
    await away.page.evaluate("() => window.__hiddenTab.set(false)")

    target = FPS * (s1["t"] - s0["t"]) / 1000
    partner_rate = (s1["frame"] - s0["frame"]) / target
    hidden_rate = (a1["frame"] - a0["frame"]) / (FPS * (a1["t"] - a0["t"]) / 1000)
    # Printed for the record (pytest -s): the numbers the issue asks about.
    print(f"hidden {HIDDEN_S} s: partner {partner_rate * FPS:.1f} fps ({partner_rate:.1%} of {FPS}), "
          f"hidden page {hidden_rate * FPS:.1f} fps, timer wakes {emulation['timerWakes']}")
    assert partner_rate >= 0.95, f"partner ran {s1['frame'] - s0['frame']} frames in {HIDDEN_S} s: {partner_rate:.1%} of {FPS} fps"
    assert hidden_rate >= 0.95, f"the hidden page ran {a1['frame'] - a0['frame']} frames: {hidden_rate:.1%} of {FPS} fps"
    # The emulation was in force: timers woke about once a second, nothing was drawn.
    assert 4 <= emulation["timerWakes"] <= HIDDEN_S + 2, emulation
    assert emulation["drawsWhileHidden"] == 0, emulation
    # Neither side fell behind while hidden, so coming back has nothing to catch up on.
    assert abs(a1["frame"] - s1["frame"]) <= 12, (a1, s1)
    await away.wait("window.__hiddenTab.drawsSinceShown > 0", 10, "drawing resumed after the page was shown")
    snap = await away.wait("p.hidden === false", 10, "game told the page is visible again")
    assert any("You were away from the game for 8 s" in m for m in snap["p2p"]["messages"]), snap["p2p"]["messages"][-5:]


async def check_game(server: Any, pair: list[Participant]) -> None:
    """Completed, agreeing exports; the hidden interval (with its frames) in the hidden
    player's export and the report, nowhere else."""
    snaps = [await p.finish() for p in pair]
    game_id = snaps[0]["p2p"]["gameId"]
    away_index = snaps[1]["p2p"]["playerIndex"]
    folder = server.game_dir(game_id)
    wait_for_files([folder / "player-0.json", folder / "player-1.json", folder / "comparison.json"], 30,
                   "exports and comparison report")
    exports = [read_json(folder / f"player-{i}.json") for i in range(2)]
    report = read_json(folder / "comparison.json")
    assert report["agree"] is True and report["complete"] is True, report.get("divergence")
    assert report["common_frames"] == 450
    for i, ex in enumerate(exports):
        assert ex["partial"] is False and ex["desyncs"] == []
        assert ex["episodes"][0]["end_frame"] == 449
    assert exports[1 - away_index]["hidden_intervals"] == []
    intervals = exports[away_index]["hidden_intervals"]
    assert len(intervals) == 1, intervals
    iv = intervals[0]
    assert iv["excluded"] is False and iv["ended_at"] is not None
    assert abs(iv["duration_s"] - HIDDEN_S) < 1, iv
    frames = iv["last_frame"] - iv["first_frame"] + 1
    assert abs(frames - FPS * HIDDEN_S) <= 20, iv
    # The hidden player's confirmed actions on those frames are the default action (NOOP).
    rows = {r[0]: r[1] for r in exports[0]["episodes"][0]["frames"]}
    assert {rows[f][away_index] for f in range(iv["first_frame"], iv["last_frame"] + 1)} == {0}
    by_player = {p["player_index"]: p for p in report["players"]}
    assert by_player[away_index]["hidden_intervals"] == intervals
    assert by_player[1 - away_index]["hidden_intervals"] == []
    ends = wait_until(lambda: [e for e in server.game_ends() if e["game_id"] == game_id], 20, "game-ended record")
    assert [e["outcome"] for e in ends] == ["completed"], ends


def test_hidden_too_long_excludes_and_ends_the_game(game_server, chromium_available, artifacts_dir, request):
    codes = {"excluded": "C-EX-1", "excluded:hidden": "C-EXH-1", "partner_left": "C-PL-1"}
    server = game_server({"num_episodes": 1, "max_steps": 900, "ice_transport_policy": "relay",
                          "max_hidden_s": 3, "hidden_policy": "end"}, study={"codes": codes, "redirect_url": None})

    async def body(session: BrowserSession) -> None:
        pair = await start_pair(session, server, "gone", opener=lambda i, subject: open_hideable(session, server.url, i, subject))
        stay, away = pair
        await stay.wait("p.frame >= 60", GAME_TIMEOUT_S, "frame 60")
        await away.page.evaluate("() => window.__hiddenTab.set(true)")
        # The excluded participant ends on the outcome page (excluded:hidden, its own code).
        out = await away.wait("p.phase === 'ended' && p.outcome", 40, "excluded participant's outcome page")
        p = out["p2p"]
        assert p["excluded"]["reason"] == "hidden" and p["excluded"]["policy"] == "end", p["excluded"]
        assert (p["outcome"]["outcome"], p["outcome"]["reason"], p["outcome"]["code"]) == ("excluded", "hidden", "C-EXH-1"), p["outcome"]
        assert any("You were away from the game for more than 3 s" in m for m in p["messages"]), p["messages"][-5:]
        assert p["upload"]["status"] == "uploaded", p["upload"]
        assert await away.page.inner_text("#outcomeCode") == "C-EXH-1"
        assert not await away.page.is_visible("#advanceButton"), "no Continue"
        assert not await away.page.is_visible("#gameCanvas")
        other = await stay.wait("p.phase === 'ended' && p.outcome", 40, "partner's outcome page")
        o = other["p2p"]
        assert (o["outcome"]["outcome"], o["outcome"]["reason"], o["outcome"]["code"]) == ("partner_left", "excluded", "C-PL-1"), o["outcome"]
        assert o["upload"]["status"] == "uploaded", o["upload"]
        assert any("away from the game for too long" in m for m in o["messages"]), o["messages"][-5:]
        # The server's outcome records (what the researcher approves payments from).
        stay_subject, away_subject = "gone-a", "gone-b"  # start_pair's subject ids
        record = wait_until(lambda: server.participant(away_subject)["outcome"], 20, "excluded participant's outcome record")
        assert (record["outcome"], record["reason"], record["code"], record["game_id"]) == ("excluded", "hidden", "C-EXH-1", p["gameId"]), record
        record = wait_until(lambda: server.participant(stay_subject)["outcome"], 20, "partner's outcome record")
        assert (record["outcome"], record["reason"]) == ("partner_left", "excluded"), record
        folder = server.game_dir(p["gameId"])
        wait_for_files([folder / "player-0.json", folder / "player-1.json"], 30, "both exports")
        away_export = read_json(folder / f"player-{p['playerIndex']}.json")
        stay_export = read_json(folder / f"player-{1 - p['playerIndex']}.json")
        (iv,) = away_export["hidden_intervals"]
        assert iv["excluded"] is True and iv["ended_at"] is None and iv["duration_s"] >= 3, iv
        assert away_export["partial"] is False and stay_export["partial"] is False
        assert [e["event"] for e in stay_export["connection_events"]] == ["excluded"], stay_export["connection_events"]
        report = read_json(folder / "comparison.json")
        assert report["agree"] is True, report.get("divergence")

    run(request, artifacts_dir, body)


def run(request, artifacts_dir, body) -> None:
    async def scenario() -> None:
        async with BrowserSession(request.node.nodeid, artifacts_dir) as session:
            await body(session)

    asyncio.run(scenario())
