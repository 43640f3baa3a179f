"""The research console in real Chromium, watching a real game.

The demo experiment server (child process, embedded TURN, export store) runs with a researcher
token. Two participants in their own browser contexts play Gem Rush over a relayed WebRTC
DataChannel; a third context opens the researcher page, gives the token, and watches: the
live game shows in the games table with both players' frames and path (reported by their
clients every 2 s), its timeline draws (uPlot canvases with data), and ending the game from
the page ends it for both players (the researcher's message, a partial export each, the
server's record says ended by the researcher). Closing recruitment from the page turns the
next new participant away with study_full. A second test opens the page on a validation-only
server holding a diverged game and finds its state diff. Screenshots of the console are saved
in test-artifacts/ whether the tests pass or not.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import pytest

from interactive_gym_p2p.validation.sample import make_game_exports
from interactive_gym_p2p.validation.storage import ExportStore

from harness.game import (LOAD_TIMEOUT_S, REPO, open_participant, read_json, snapshot, start_pair, wait_for_files,
                          wait_until)
from harness.processes import start_ready_process
from harness.session import BrowserSession, artifact_stem

pytestmark = pytest.mark.e2e

TOKEN = "researcher-token-for-the-console-e2e"
MESSAGE = "The researcher ended this game: thank you!"
# Long enough that only the researcher ends it.
KWARGS = {"num_episodes": 1, "max_steps": 5000, "ice_transport_policy": "relay"}


async def console_value(page: Any, expr: str) -> Any:
    return await page.evaluate(f"() => JSON.parse(JSON.stringify({expr}))")


async def wait_console(page: Any, condition: str, timeout_s: float, what: str) -> None:
    js = f"() => {{ const c = window.p2pConsole; return Boolean(c && ({condition})); }}"
    try:
        await page.wait_for_function(js, timeout=timeout_s * 1000, polling=200)
    except Exception as err:
        state = await console_value(page, "window.p2pConsole && {error: window.p2pConsole.error, live: window.p2pConsole.live, "
                                          "charts: window.p2pConsole.charts, lastAction: window.p2pConsole.lastAction, "
                                          "games: window.p2pConsole.state && window.p2pConsole.state.games}")
        raise AssertionError(f"console: {what} not within {timeout_s:.0f} s ({type(err).__name__}); {json.dumps(state)[:2000]}") from None


async def painted_pixels(page: Any) -> list[int]:
    """Non-blank pixels of each chart's canvas (a drawn line or band colours some)."""
    return await page.evaluate("""() => Array.from(document.querySelectorAll('#charts canvas')).map((c) => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) n++;
        return n;
    })""")


def test_console_watches_a_live_game_and_ends_it(game_server, chromium_available, artifacts_dir, request):
    server = game_server(KWARGS, researcher_token=TOKEN, study={"codes": {"study_full": "C-FULL-1"}})
    shots = artifacts_dir / artifact_stem(request.node.nodeid)

    async def body(session: BrowserSession) -> None:
        pair = await start_pair(session, server, "console")
        game_id = (await snapshot(pair[0].page))["p2p"]["gameId"]
        subjects = {(await snapshot(p.page))["p2p"]["playerIndex"]: f"console-{'ab'[i]}" for i, p in enumerate(pair)}

        page = await session.new_page(2, f"{server.url}/p2p/research/", ready=None, relay=False)
        await page.fill("#token", TOKEN)
        await page.click("#login button[type=submit]")
        # Both clients' reports have arrived (every 2 s) and the game is well under way.
        await wait_console(page, f"c.state && c.state.games.length === 1 && c.state.games[0].game_id === {json.dumps(game_id)} && "
                                 "c.state.games[0].players.every((p) => p.reports >= 2 && p.frame >= 60)",
                           LOAD_TIMEOUT_S, "the live game with both players' reports")

        # DOM: the games table shows the game, both players, their path; nobody waits; recruitment open.
        row = page.locator(f'#games tbody tr[data-game-id="{game_id}"]')
        assert await row.count() == 1
        text = await row.inner_text()
        for index, subject in subjects.items():
            assert f"{index}: {subject}" in text, text
        assert "relay" in text and "yes, frame" not in text, text
        assert await page.locator(f'#finished tbody tr[data-game-id="{game_id}"]').count() == 0, "live, not finished"
        assert await page.locator("#waitingEmpty").is_visible()
        assert (await page.inner_text("#recruitmentState")).startswith("Recruitment is open")
        game = (await console_value(page, "window.p2pConsole.state.games[0]"))
        assert game["paths"] == ["relay"] and game["desync"] is False
        assert all(p["rtt_ms"] is not None and p["rtt_ms"] > 0 and p["seat"] == "connected" for p in game["players"]), game

        # The timeline draws: three charts with samples of both players, pixels painted.
        await row.get_by_role("button", name="timeline").click()
        await wait_console(page, "c.charts.length === 3 && c.charts.every((ch) => ch.points >= 2)", 30, "timeline charts")
        assert await page.locator("#charts .uplot").count() == 3
        painted = await painted_pixels(page)
        assert len(painted) >= 3 and all(n > 100 for n in painted[:3]), painted
        await page.check('input[name="axis"][value="frame"]')
        await wait_console(page, "c.axis === 'frame' && c.charts.length === 3", 10, "timeline over frames")
        assert "frame" in await page.inner_text("#charts")
        shots.parent.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=f"{shots}-console-live.png", full_page=True)

        # End the game from the console: both players are told and leave with their data.
        await row.get_by_role("button", name="end game").click()
        await page.fill("#endMessage", MESSAGE)
        await page.click("#endConfirm")
        await wait_console(page, "c.lastAction && c.lastAction.action === 'end' && c.lastAction.ok", 15, "end acknowledged")
        # Each leaves with its data, then its study ends with error:researcher (docs/participants.md).
        ends = await asyncio.gather(*(p.wait("p.phase === 'ended' && p.endedBy === 'researcher' && p.outcome && "
                                             "['uploaded', 'failed'].includes(p.upload.status)", 60, "ended by the researcher")
                                      for p in pair))
        for snap in ends:
            p2p = snap["p2p"]
            assert p2p["upload"]["status"] == "uploaded", p2p["upload"]
            assert MESSAGE in p2p["messages"], p2p["messages"][-5:]
            assert (p2p["outcome"]["outcome"], p2p["outcome"]["reason"]) == ("error", "researcher"), p2p["outcome"]
        assert "stopped this game" in await pair[0].page.inner_text("#outcomeMessage")
        assert not await pair[0].page.locator("#advanceButton").is_visible()
        await wait_console(page, f"c.state.games.length === 0 && c.state.finished.some((f) => f.game_id === {json.dumps(game_id)})",
                           15, "the game listed as finished")
        finished_row = page.locator(f'#finished tbody tr[data-game-id="{game_id}"]')
        assert "ended by the researcher" in await finished_row.inner_text()
        # Each participant's outcome (the participant ledger's record) is on the row too.
        await wait_console(page, f"c.state.finished.some((f) => f.game_id === {json.dumps(game_id)} && "
                                 "f.participants.every((p) => p.outcome && p.outcome.outcome === 'error'))",
                           15, "the participants' outcomes of the finished game")
        outcomes = await finished_row.locator("td.participant-outcomes").inner_text()
        assert outcomes.count("error:researcher") == 2, outcomes
        await page.screenshot(path=f"{shots}-console-ended.png", full_page=True)

        # Close recruitment from the page: the next new participant is turned away.
        await page.click("#recruitmentToggle")
        await page.click("#recruitmentCloseNow")
        await wait_console(page, "c.lastAction && c.lastAction.action === 'recruitment' && c.lastAction.open === false", 15,
                           "recruitment closed")
        assert "CLOSED" in await page.inner_text("#recruitmentState")
        late = await open_participant(session, server.url, 3, "console-latecomer")
        snap = await late.wait("p.phase === 'ended' && p.outcome && p.outcome.outcome === 'study_full'", 30, "study_full")
        assert "not taking new participants" in await late.page.inner_text("#outcomeMessage")
        # The study's study_full code, shown and recorded (the participant ledger's flag turned them away).
        assert snap["p2p"]["outcome"]["code"] == "C-FULL-1" and await late.page.inner_text("#outcomeCode") == "C-FULL-1"
        assert (server.participant("console-latecomer")["outcome"] or {}).get("code") == "C-FULL-1"

    async def scenario() -> None:
        async with BrowserSession(request.node.nodeid, artifacts_dir) as session:
            await body(session)

    asyncio.run(scenario())

    # The server's record: ended by the researcher; both partial exports stored and compared.
    ends = wait_until(lambda: server.game_ends(), 20, "game-ended record")
    assert [(e["outcome"], e["ended_by"], sorted(e["seats"].values())) for e in ends] == [("incomplete", "researcher", ["stopped", "stopped"])]
    folder = server.game_dir(ends[0]["game_id"])
    wait_for_files([folder / "player-0.json", folder / "player-1.json", folder / "comparison.json"], 20, "partial exports")
    exports = [read_json(folder / f"player-{i}.json") for i in range(2)]
    # A player whose partner's BYE (the partner stopped first) arrived before its own stop
    # recorded a game that ended there: complete, with the partner's 'left' event.
    assert any(ex["partial"] is True for ex in exports)
    for i, ex in enumerate(exports):
        assert ex["partial"] is True or any(e["event"] == "left" and e["peer_index"] == 1 - i for e in ex["connection_events"]), ex
    report = read_json(folder / "comparison.json")
    assert report["status"] == "agree" and report["first_divergent_frame"] is None, report.get("divergence")



def test_console_shows_the_state_diff_of_a_diverged_game(chromium_available, artifacts_dir, request, tmp_path):
    """A validation-only server (no live feed) over a data directory holding a game that
    diverged at frame 33: the page says there is no live console, lists the game as diverged,
    and its panel shows the state diff at the first divergent frame."""
    data = tmp_path / "data"
    store = ExportStore(data)
    for doc in make_game_exports("div-1", diverge_at=33):
        store.store_export(json.dumps(doc).encode(), doc)
    env = {k: v for k, v in os.environ.items() if not k.startswith("IGP2P_")}
    env["IGP2P_RESEARCHER_TOKEN"] = TOKEN
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)
    server = start_ready_process([sys.executable, "-m", "interactive_gym_p2p.validation.standalone", "--data-dir", str(data)],
                                 name="validation server", ready_prefix="listening on", env=env)
    url = server.ready_line.split()[-1]
    try:
        async def scenario() -> None:
            async with BrowserSession(request.node.nodeid, artifacts_dir) as session:
                page = await session.new_page(0, f"{url}/p2p/research/", ready=None, relay=False)
                await page.fill("#token", TOKEN)
                await page.click("#login button[type=submit]")
                await wait_console(page, "c.live === false && c.exports && c.exports.length === 1", 30, "export list, no feed")
                assert "no live console" in await page.inner_text("#liveNote")
                row = page.locator('#finished tbody tr[data-game-id="div-1"]')
                assert "diverged at frame 33" in await row.inner_text()
                await row.get_by_role("button", name="timeline").click()
                await wait_console(page, "c.diff && c.diff.frame === 33", 15, "state diff")
                table = await page.inner_text("#diffTable")
                assert "$.players[0][1]" in table and "player 0" in table and "player 1" in table, table
                assert "no timeline of this game" in await page.inner_text("#timelineNote")
                shots = artifacts_dir / artifact_stem(request.node.nodeid)
                shots.parent.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=f"{shots}-console-diff.png", full_page=True)

        asyncio.run(scenario())
    finally:
        server.stop()
