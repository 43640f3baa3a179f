"""A page reloaded mid-game comes back to its game (docs/rollback.md "Rejoining after a reload").

The demo experiment on the real server (embedded TURN, relay only) under the scene's seeded
impairment (80 ms delay, 5 % loss on every DataChannel message, catch-up chunks included).
Player 0's page reloads at about frame 200 (Playwright's reload: pagehide, the browser's HTTP
cache for Pyodide); it shows "Rejoining your game..." and comes back without an error, its new
session rebuilds the game from its partner's catch-up document and both play to the normal end.
Both exports (player 0's latest revision: one document for the whole game) hold the same
confirmed rows, the server's comparison agrees and is complete, and player 0's export shows the
reconnection. The reloaded page comes back as a background tab (harness/hidden_tab.js: main-thread
timers once a second, no animation frames): its catch-up runs in the game worker all the
same. The same with the Python (aiortc) peer as the partner. A reload after the
reconnect grace ends as it did before resuming existed.

Kept short for CI: no start countdown (countdown_s=0), 2 x 125 frames, one server shared by the
two reload tests (the grace test needs its own scene).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from harness.game import (GAME_TIMEOUT_S, KEYS, LOAD_TIMEOUT_S, GameServer, GameServerError, Participant,
                          open_participant, read_json, snapshot, start_game_server, start_pair, wait_for_files,
                          wait_until)
from harness.session import BrowserSession
from test_game_chromium import check_flow, run_in_browser
from test_peer_interop_chromium import python_partner

pytestmark = pytest.mark.e2e

HIDDEN_TAB = (Path(__file__).resolve().parent / "harness" / "hidden_tab.js").read_text(encoding="utf-8")

NUM_EPISODES = 2
MAX_STEPS = 125
RELOAD_AT = 200
IMPAIRMENT = {"delay_ms": 80, "loss": 0.05, "seed": 20261201}
EXPORT = re.compile(r"player-(\d+)(?:\.r(\d+))?\.json")


def demo_kwargs(**extra: Any) -> dict[str, Any]:
    return {"num_episodes": NUM_EPISODES, "max_steps": MAX_STEPS, "ice_transport_policy": "relay",
            "impairment": IMPAIRMENT, "countdown_s": 0, **extra}


@pytest.fixture(scope="module")
def impaired_server(tmp_path_factory, artifacts_dir, request):
    """The demo under impairment, shared by the two reload tests (each plays its own game)."""
    try:
        server = start_game_server(tmp_path_factory.mktemp("rejoin-server"), demo_kwargs())
    except GameServerError as err:
        pytest.fail(f"experiment server could not start: {err}", pytrace=False)
    failed_before = request.session.testsfailed
    yield server
    server.stop()
    if request.session.testsfailed > failed_before:
        artifacts_dir.mkdir(parents=True, exist_ok=True)
        (artifacts_dir / "test_rejoin_chromium-impaired-server.log").write_text(server.log(), encoding="utf-8")


def rows(export: dict[str, Any]) -> list[list[Any]]:
    return [row for ep in export["episodes"] for row in ep["frames"]]


def latest_exports(folder: Path) -> dict[int, list[dict[str, Any]]]:
    """Every stored revision of each player's export, oldest first."""
    out: dict[int, list[tuple[int, Path]]] = {}
    for path in folder.iterdir():
        m = EXPORT.fullmatch(path.name)
        if m:
            out.setdefault(int(m.group(1)), []).append((int(m.group(2) or 1), path))
    return {p: [read_json(path) for _, path in sorted(revs)] for p, revs in out.items()}


async def press_until_over(p: Participant, keys: list[str]) -> None:
    """Keys until the game is over on this page; a reload of this page ends the loop quietly."""
    try:
        await p.press_keys_while_playing(keys, timeout_s=GAME_TIMEOUT_S)
    except Exception:  # the page reloaded under it (the reloading participant's first page)
        pass


async def reload_and_rejoin(p: Participant) -> dict[str, float]:
    """Reload the page; wait for "Rejoining your game..." and for the game to be back. Returns
    the seconds from the reload to the rejoin screen and to playing again."""
    t0 = time.monotonic()
    await p.page.reload(wait_until="commit")
    snap = await p.wait("p.phase === 'rejoining' || (p.rejoin && p.rejoin.phase === 'live')", LOAD_TIMEOUT_S,
                        "rejoining screen")
    t_rejoining = time.monotonic() - t0
    snap = await p.wait("p.phase === 'playing' && p.rejoin && p.rejoin.phase === 'live'", LOAD_TIMEOUT_S,
                        "back in the game")
    t_playing = time.monotonic() - t0
    messages = snap["p2p"]["messages"]
    assert any(m.startswith("Rejoining your game") for m in messages), messages
    assert not snap["p2p"]["errors"], snap["p2p"]["errors"]
    assert "error" not in [e["phase"] for e in snap["phases"]], snap["phases"]
    return {"rejoining_s": t_rejoining, "playing_s": t_playing}


def check_rejoined_game(server: GameServer, game_id: str, reloaded: int) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Both players' latest exports agree frame for frame on the whole game; the reloaded
    player's is one document with its rejoin; the comparison agrees and is complete."""
    folder = server.game_dir(game_id)
    wait_for_files([folder / "player-0.json", folder / "player-1.json", folder / "comparison.json"], 30,
                   "exports and comparison report")
    other = 1 - reloaded
    revs = wait_until(lambda: (r := latest_exports(folder)) and len(r.get(reloaded, [])) >= 2 and r, 30,
                      "the reloaded player's final export (a second revision after its partial one)")
    partial, final = revs[reloaded][0], revs[reloaded][-1]
    assert partial["partial"] is True, "the page sent its partial export when it went away"
    exports = {reloaded: final, other: revs[other][-1]}
    for p, ex in exports.items():
        assert ex["partial"] is False, f"player {p}"
        assert ex["desyncs"] == [], f"player {p} desyncs: {ex['desyncs'][:2]}"
        assert [(e["start_frame"], e["end_frame"]) for e in ex["episodes"]] == \
            [(i * MAX_STEPS, (i + 1) * MAX_STEPS - 1) for i in range(NUM_EPISODES)], f"player {p}"
        assert ex["verified_frame"] == NUM_EPISODES * MAX_STEPS - 1, f"player {p}: verified {ex['verified_frame']}"
    assert rows(exports[0]) == rows(exports[1]), "confirmed rows differ"
    assert len(rows(final)) == NUM_EPISODES * MAX_STEPS and rows(final)[0][0] == 0, "one document for the whole game"
    assert all(r[2] is not None for r in rows(final))
    # What the page knew before the reload is in it. Its partial export's rows are the final
    # ones up to the last input of its own its partner had: inputs the old page took but never
    # delivered died with it (their frames took the new page's inputs). The closing page sends
    # the record its game worker last posted (renewed as frames are confirmed, but at most 1/20
    # of the worker's time goes to it): it may miss the last few confirmed frames.
    rj = final["rejoins"][0]
    upto = min(rj["frame"], len(rows(partial)))
    assert rows(partial)[:upto] == rows(final)[:upto] and len(rows(partial)) >= RELOAD_AT - 30, len(rows(partial))
    assert final["timing"]["started_at"] == partial["timing"]["started_at"]
    # The reconnection: its rejoin, and the events on both sides.
    assert len(final["rejoins"]) == 1, final["rejoins"]
    rj = final["rejoins"][0]
    assert rj["source"] == other and rj["caught_up_at"] is not None and rj["frame"] >= RELOAD_AT - 20, rj
    assert rj["frames"] >= RELOAD_AT - 20 and rj["bytes"] > 8 * RELOAD_AT, rj
    assert rj.get("reloaded_at") is not None, "the old page's note reached the new page"
    assert any(e["event"] == "rejoined" and e["peer_index"] == other for e in final["connection_events"]), final["connection_events"]
    events = [e["event"] for e in exports[other]["connection_events"] if e["peer_index"] == reloaded]
    assert "away" in events and "rejoined" in events and "disconnected" not in events and "left" not in events, events
    report = read_json(folder / "comparison.json")
    assert report["status"] == "agree" and report["agree"] is True, report.get("divergence")
    assert report["complete"] is True, (report.get("unreached_frames"), report.get("warnings"))
    assert report["common_frames"] == report["hashed_frames_compared"] == NUM_EPISODES * MAX_STEPS
    assert report["verified_frame"] == NUM_EPISODES * MAX_STEPS - 1
    by_player = {pl["player_index"]: pl for pl in report["players"]}
    assert by_player[reloaded]["rejoins"] and not by_player[other]["rejoins"]
    ends = wait_until(lambda: [e for e in server.game_ends() if e["game_id"] == game_id], 30, "server's game-ended record")
    assert [e["outcome"] for e in ends] == ["completed"], ends
    return [exports[0], exports[1]], report


def test_a_reload_at_frame_200_rejoins_and_the_game_ends_normally(impaired_server, chromium_available, artifacts_dir, request):
    server = impaired_server

    async def body(session: BrowserSession) -> None:
        pair = await start_pair(session, server, "rejoin", opener=lambda i, subject: open_participant(
            session, server.url, i, subject, init_script=HIDDEN_TAB))
        snaps = [await snapshot(p.page) for p in pair]
        reloaded = next(i for i, s in enumerate(snaps) if s["p2p"]["playerIndex"] == 0)
        stay, back = pair[1 - reloaded], pair[reloaded]
        keys = asyncio.gather(press_until_over(stay, KEYS[1 - reloaded]), press_until_over(back, KEYS[reloaded]))
        await back.wait(f"p.confirmedFrame >= {RELOAD_AT}", GAME_TIMEOUT_S, f"frame {RELOAD_AT} confirmed")
        # The tab reloads in the background: the new page is hidden until it is back in the game.
        await back.page.evaluate("() => sessionStorage.setItem('__hiddenTabOnLoad', '1')")
        times = await reload_and_rejoin(back)
        hidden = await back.page.evaluate("() => ({...window.__hiddenTab, clock: window.p2p.clock})")
        assert hidden["hidden"] is True and hidden["clock"] == "worker", hidden
        # Nothing of the game drawn while hidden: the one fill is the canvas's state_init picture
        # set up with the game (client_game begin), before any frame.
        assert hidden["drawsWhileHidden"] <= 1, hidden
        await back.page.evaluate("() => window.__hiddenTab.set(false)")
        # The partner saw it go and come back, and never a "partner left".
        s = await snapshot(stay.page)
        assert not any("left the game" in m for m in s["p2p"]["messages"]), s["p2p"]["messages"]
        assert any("reloading" in m for m in s["p2p"]["messages"]), s["p2p"]["messages"]
        await asyncio.gather(keys, press_until_over(back, KEYS[reloaded]))
        await asyncio.gather(*(p.finish() for p in pair))
        finals = [await snapshot(p.page) for p in pair]
        check_flow(finals[1 - reloaded], stay.name, countdown=False)
        # The reloaded page's own phases (its log starts at the reload): rejoining, then the game.
        order = [e["phase"] for e in finals[reloaded]["phases"]]
        assert "rejoining" in order and "error" not in order, order
        assert order.index("rejoining") < order.index("playing") < order.index("done"), order
        assert finals[reloaded]["phases"][-1]["sceneType"] == "EndScene", finals[reloaded]["phases"]
        game_id = finals[0]["p2p"]["gameId"]
        exports, _ = check_rejoined_game(server, game_id, 0)
        # Rejoined while hidden: the re-simulation ran on the worker clock, not on throttled timers.
        rj = exports[0]["rejoins"][0]
        assert rj["replay_s"] < 2.0, rj
        assert exports[0]["hidden_intervals"], "the page was hidden from its load until shown"
        # Player 0 pressed keys before and after the reload: both show in the confirmed rows.
        actions = [r[1][0] for r in rows(exports[0])]
        assert len(set(actions[:RELOAD_AT])) >= 2 and len(set(actions[-50:])) >= 1, (set(actions[:RELOAD_AT]), set(actions[-50:]))
        print(f"reload -> rejoining screen {times['rejoining_s']:.2f} s, -> playing {times['playing_s']:.2f} s "
              f"(hidden tab; re-simulated {rj['frames']} frames in {rj['replay_s']} s)")

    run_in_browser(request, artifacts_dir, body)


def test_a_reload_rejoins_from_the_python_peer(impaired_server, chromium_available, artifacts_dir, request, tmp_path):
    server = impaired_server
    out = tmp_path / "peer-result.json"
    peer_log = tmp_path / "peer.log"

    async def body(session: BrowserSession) -> None:
        browser = await open_participant(session, server.url, 0, "rejoin-browser")
        await browser.advance_to_game(LOAD_TIMEOUT_S)
        async with python_partner(browser, server.url, "rejoin-python", out, peer_log, artifacts_dir, GAME_TIMEOUT_S):
            me = (await snapshot(browser.page))["p2p"]["playerIndex"]
            keys = asyncio.ensure_future(press_until_over(browser, KEYS[0]))
            await browser.wait(f"p.confirmedFrame >= {RELOAD_AT}", GAME_TIMEOUT_S, f"frame {RELOAD_AT} confirmed")
            await reload_and_rejoin(browser)
            await keys
            await press_until_over(browser, KEYS[0])
            snap = await browser.finish()
        result = read_json(out)
        assert result["game_over_reason"] == "completed", result["game_over_reason"]
        check_rejoined_game(server, snap["p2p"]["gameId"], me)

    run_in_browser(request, artifacts_dir, body)


def test_a_reload_after_the_grace_period_ends_the_game_as_before(game_server, chromium_available, artifacts_dir, request):
    # A short grace; the reloaded page comes back only after it (its seat was dropped).
    server = game_server(demo_kwargs(impairment=None, reconnect_grace_s=1))

    async def body(session: BrowserSession) -> None:
        pair = await start_pair(session, server, "late")
        snaps = [await snapshot(p.page) for p in pair]
        leaver_i = 0
        stay, late = pair[1 - leaver_i], pair[leaver_i]
        leaver = snaps[leaver_i]["p2p"]["playerIndex"]
        await late.wait("p.confirmedFrame >= 30", GAME_TIMEOUT_S, "frame 30 confirmed")
        # The page goes away and comes back after the grace: a fresh page on about:blank first.
        url = late.page.url
        await late.page.goto("about:blank")
        snap = await stay.wait("p.phase === 'ended' && p.outcome", 60,
                               "partner left after the grace, export handled, outcome page")
        assert snap["p2p"]["gameOver"]["reason"] in ("disconnected", "peer_ended"), snap["p2p"]["gameOver"]
        assert (snap["p2p"]["outcome"]["outcome"], snap["p2p"]["outcome"]["reason"]) == ("partner_left", "disconnected")
        await late.page.goto(url)
        back = await late.wait("p.phase === 'ended' && p.outcome", LOAD_TIMEOUT_S, "the late page is told", allow_error=True)
        p = back["p2p"]
        # The seat is gone: the participant is told plainly with the outcome the server recorded
        # when it dropped the seat (docs/participants.md), never "Rejoining your game...".
        assert (p["outcome"]["outcome"], p["outcome"]["reason"]) == ("connection_failed", "server"), p["outcome"]
        assert not any(m.startswith("Rejoining") for m in p["messages"]), p["messages"]
        ends = wait_until(lambda: [e for e in server.game_ends() if e["game_id"] == snap["p2p"]["gameId"]],
                          30, "server's game-ended record")
        assert [e["outcome"] for e in ends] == ["incomplete"], ends
        assert ends[0]["seats"] == {str(leaver): "dropped", str(1 - leaver): "ended"}, ends
        folder = server.game_dir(snap["p2p"]["gameId"])
        wait_for_files([folder / f"player-{leaver}.json", folder / f"player-{1 - leaver}.json"], 20,
                       "the partial export of the page that went away and the partner's")
        revs = latest_exports(folder)
        assert len(revs[leaver]) == 1 and revs[leaver][0]["partial"] is True, "only the partial export: no second document"
        stayer_export = revs[1 - leaver][-1]
        events = [e["event"] for e in stayer_export["connection_events"] if e["peer_index"] == leaver]
        assert events[0] == "away" and "disconnected" in events, events

    run_in_browser(request, artifacts_dir, body)
