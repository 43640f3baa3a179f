"""The demo experiment played end to end in real Chromium.

Everything is the real thing: the experiment server (a child process running the demo's
Stager with ``ExperimentServices``: embedded TURN server, export store, validation routes),
Socket.IO signaling, WebRTC DataChannels, the rollback engine, Pyodide running the Gem Rush
environment, keyboard input from Playwright, and the export files the server writes and
compares. Two participants, each in its own browser context, go start scene -> waitroom ->
game -> end scene.

- relay only through the embedded TURN server (the scene's ice_transport_policy 'relay'),
  with input_delay 'auto': delay 0 on this loopback path, key presses timed to the screen;
- direct: server and browsers inside the test's network namespace (host candidates);
- impaired link (the scene's seeded impairment: 80 ms delay, 5 % loss): rollbacks happen and
  the exports still agree;
- a partner closes the tab mid-game: its seat is held for the reconnect grace (a reload would
  come back to it), then the other sees it gone, its export is stored and the server's report
  says the game is incomplete (the page's partial export is in it).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from harness.game import (GAME_TIMEOUT_S, KEYS, GameServer, play_to_end, read_json, snapshot, start_pair,
                          wait_for_files, wait_until)
from harness.session import BrowserSession

pytestmark = pytest.mark.e2e

NUM_EPISODES = 2
MAX_STEPS = 150
TURN_STATS = re.compile(r"TURN server stopping: ServerStats\((.*?)\)")
IMPAIRMENT = {"delay_ms": 80, "loss": 0.05, "seed": 20261124}


def demo_kwargs(**extra: Any) -> dict[str, Any]:
    return {"num_episodes": NUM_EPISODES, "max_steps": MAX_STEPS, **extra}


def check_flow(snap: dict[str, Any], name: str, countdown: bool) -> None:
    """The phase log passes start scene -> game -> game over -> end scene, in that order;
    ``countdown``: the scene had a start countdown (the harness's games have none unless asked)."""
    phases = snap["phases"]
    order = [e["phase"] for e in phases]
    assert "playing" in order and "done" in order, f"{name}: phases {phases}"
    playing = order.index("playing")
    done = order.index("done", playing)
    start = next((i for i, e in enumerate(phases) if e["sceneType"] == "StartScene"), None)
    end = next((i for i, e in enumerate(phases) if e["sceneType"] == "EndScene"), None)
    assert start is not None and end is not None, f"{name}: start or end scene missing: {phases}"
    assert start < playing < done < end, f"{name}: flow out of order: {phases}"
    # The game's environment was loaded while the start page was shown, and used by the game.
    assert (snap["p2p"].get("preload") or {}).get("status") == "used", f"{name}: preload {snap['p2p'].get('preload')}"
    times = snap["p2p"]["times"]
    if countdown:
        assert times["partner_found"] <= times["countdown"] <= times["first_frame"], f"{name}: start-up times {times}"
    else:
        assert times["countdown"] is None and times["partner_found"] <= times["first_frame"], f"{name}: start-up times {times}"


def rows(export: dict[str, Any]) -> list[list[Any]]:
    return [row for ep in export["episodes"] for row in ep["frames"]]


def check_agreeing_game(server: GameServer, snaps: list[dict[str, Any]], path_kind: str) -> tuple[list[dict], dict]:
    """Both exports and the comparison report on disk; they agree on every confirmed frame."""
    games = {s["p2p"]["gameId"] for s in snaps}
    assert len(games) == 1 and None not in games, f"one game for both: {games}"
    game_id = games.pop()
    for s in snaps:
        assert s["p2p"]["upload"]["status"] == "uploaded", f"export upload: {s['p2p']['upload']}"
    folder = server.game_dir(game_id)
    wait_for_files([folder / "player-0.json", folder / "player-1.json", folder / "comparison.json"], 20,
                   "exports and comparison report")
    exports = [read_json(folder / f"player-{i}.json") for i in range(2)]
    report = read_json(folder / "comparison.json")

    last_frames = set()
    for i, ex in enumerate(exports):
        assert ex["partial"] is False, f"player {i} export is partial"
        assert ex["ids"]["player_index"] == i and ex["ids"]["game_id"] == game_id
        assert ex["desyncs"] == [], f"player {i} desyncs: {ex['desyncs'][:2]}"
        assert len(ex["episodes"]) == NUM_EPISODES, [(e["episode"], e["end_frame"]) for e in ex["episodes"]]
        for ep in ex["episodes"]:
            assert ep["end_frame"] is not None and ep["end_frame"] - ep["start_frame"] + 1 == MAX_STEPS, \
                f"player {i} episode {ep['episode']}: frames {ep['start_frame']}..{ep['end_frame']}"
            assert len(ep["frames"]) == MAX_STEPS, f"player {i} episode {ep['episode']}: {len(ep['frames'])} confirmed rows"
        frames = [r[0] for r in rows(ex)]
        assert frames == list(range(frames[0], frames[0] + len(frames))), f"player {i}: confirmed frames not contiguous"
        assert all(r[2] is not None for r in rows(ex)), f"player {i}: a confirmed frame without a hash"
        last_frames.add(ex["episodes"][-1]["end_frame"])
        assert ex["verified_frame"] == ex["episodes"][-1]["end_frame"], \
            f"player {i}: verified {ex['verified_frame']} != last frame {ex['episodes'][-1]['end_frame']}"
        path = ex["stats"]["path"]
        assert path["kind"] == path_kind, f"player {i} path: {path}"
    assert len(last_frames) == 1, f"players ended on different frames: {last_frames}"
    last = last_frames.pop()

    # Keyboard input reached the game: both players moved, in more than one direction.
    for p in range(2):
        actions = [r[1][p] for r in rows(exports[0])]
        assert len({a for a in actions if a != 0}) >= 2, f"player {p} actions: {sorted(set(actions))}"
    assert [r[:2] for r in rows(exports[0])] == [r[:2] for r in rows(exports[1])], "confirmed actions differ"

    assert report["status"] == "agree" and report["agree"] is True, f"report: {report.get('divergence')}"
    assert report["complete"] is True, f"report incomplete: {report.get('unreached_frames')} {report.get('warnings')}"
    assert report["first_divergent_frame"] is None
    assert report["common_frames"] == len(rows(exports[0])) == NUM_EPISODES * MAX_STEPS
    assert report["hashed_frames_compared"] == report["common_frames"]
    assert report["verified_frame"] == last, f"report verified {report['verified_frame']} != last frame {last}"
    ends = wait_until(lambda: [e for e in server.game_ends() if e["game_id"] == game_id], 20, "server's game-ended record")
    assert [e["outcome"] for e in ends] == ["completed"], ends
    return exports, report


async def play_game(session: BrowserSession, server: GameServer, tag: str, countdown: bool = False) -> list[dict[str, Any]]:
    pair = await start_pair(session, server, tag)
    await play_to_end(pair)
    snaps = [await snapshot(p.page) for p in pair]
    for p, s in zip(pair, snaps):
        check_flow(s, p.name, countdown)
    return snaps


def run_in_browser(request, artifacts_dir, body, **session_args: Any) -> None:
    """Run ``body(session)`` with one Chromium; every check happens inside, so a failure
    anywhere (including the file checks) saves screenshots, console logs and window.p2p."""
    async def scenario() -> None:
        async with BrowserSession(request.node.nodeid, artifacts_dir, **session_args) as session:
            await body(session)

    asyncio.run(scenario())


def test_relay_only_through_embedded_turn(game_server, chromium_available, artifacts_dir, request):
    # The one game here with the scene's default 3-2-1 countdown (the others start at once).
    server = game_server(demo_kwargs(ice_transport_policy="relay"), countdown_s=None)

    async def body(session: BrowserSession) -> None:
        snaps = await play_game(session, server, "relay", countdown=True)
        exports, _ = check_agreeing_game(server, snaps, "relay")
        for i, ex in enumerate(exports):
            path = ex["stats"]["path"]
            assert path["local_candidate_type"] == "relay", f"player {i} path: {path}"
            assert ex["settings"]["p2p"]["ice_transport_policy"] == "relay"
            # input_delay 'auto' (the scene default) on the loopback path: delay 0 for both
            # players in every episode, and the key presses were timed to the screen.
            assert ex["settings"]["p2p"]["input_delay"] == "auto"
            assert [ep["input_delays"] for ep in ex["episodes"]] == [[0, 0]] * NUM_EPISODES, \
                f"player {i}: {[ep['input_delays'] for ep in ex['episodes']]}"
            k2s = ex["stats"]["key_to_screen_ms"]
            assert k2s["samples"] >= 5 and 0 < k2s["p50"] <= k2s["p95"] < 1000, f"player {i}: {k2s}"
        assert all(s["p2p"]["path"]["kind"] == "relay" for s in snaps), [s["p2p"]["path"] for s in snaps]
        # The game's packets went through the EMBEDDED TURN server: its final stats (logged
        # when it stops) show both allocations and the relayed traffic.
        server.stop()
        stats = wait_until(lambda: TURN_STATS.search(server.log()), 20, "embedded TURN server's final stats in its log")
        counts = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", stats.group(1))}
        assert counts["allocations_created"] >= 2, stats.group(0)
        # 2 x 300 frames of INPUT plus hashes and pings each way: thousands of relayed packets.
        assert counts["packets_to_peer"] > 1000 and counts["packets_to_client"] > 1000, stats.group(0)

    run_in_browser(request, artifacts_dir, body)


def test_direct_path_in_netns(game_server, netns, netns_chromium, artifacts_dir, request):
    # No TURN server at all (the scene's default policy 'all'): only host candidates can connect.
    server = game_server(demo_kwargs(), turn="none", netns=netns)

    async def body(session: BrowserSession) -> None:
        snaps = await play_game(session, server, "direct")
        exports, _ = check_agreeing_game(server, snaps, "direct")
        for ex in exports:
            assert ex["stats"]["path"]["local_candidate_type"] == "host", ex["stats"]["path"]

    run_in_browser(request, artifacts_dir, body, executable=netns_chromium, in_netns=True)


def test_impaired_link_rolls_back_and_agrees(game_server, chromium_available, artifacts_dir, request):
    server = game_server(demo_kwargs(ice_transport_policy="relay", impairment=IMPAIRMENT))

    async def body(session: BrowserSession) -> None:
        snaps = await play_game(session, server, "impaired")
        exports, _ = check_agreeing_game(server, snaps, "relay")
        for i, ex in enumerate(exports):
            imp = ex["settings"]["impairment"]
            assert imp is not None and {k: imp[k] for k in IMPAIRMENT} == IMPAIRMENT, f"player {i}: {imp}"
            assert ex["stats"]["rollbacks"] > 0, f"player {i}: no rollback on an 80 ms / 5 % loss link: {ex['stats']}"
            assert ex["stats"]["mispredicted_frames"] > 0, ex["stats"]

    run_in_browser(request, artifacts_dir, body)


def test_partner_closes_tab_mid_game(game_server, chromium_available, artifacts_dir, request):
    # Prolific parameters in, the partner_left code out (docs/participants.md). The page cannot
    # tell a close from a reload: its seat is held for the reconnect grace (short here), during
    # which the partner waits; then the seat is dropped and the game ends.
    server = game_server(demo_kwargs(ice_transport_policy="relay", reconnect_grace_s=2),
                         study={"codes": {"partner_left": "PL-E2E", "completed": "C-E2E", "connection_failed": "CF-E2E"}})

    async def body(session: BrowserSession) -> None:
        stay, leave = await start_pair(session, server, "leave", prolific=True)
        keys = asyncio.gather(stay.press_keys_while_playing(KEYS[0], timeout_s=GAME_TIMEOUT_S),
                              leave.press_keys_while_playing(KEYS[1], timeout_s=GAME_TIMEOUT_S),
                              return_exceptions=True)
        # Mid-game: well into the first episode, confirmed on both sides.
        await stay.wait(f"p.confirmedFrame >= {MAX_STEPS // 2}", GAME_TIMEOUT_S, "half of episode 0 confirmed")
        leaver = (await snapshot(leave.page))["p2p"]["playerIndex"]
        await leave.page.close()
        snap = await stay.wait("p.phase === 'ended' && p.outcome", 60, "partner left, export handled, outcome page")
        results = await keys
        assert not isinstance(results[0], BaseException), f"remaining participant's input: {results[0]!r}"
        check_partner_left(server, snap["p2p"], leaver)
        p = snap["p2p"]
        assert (p["outcome"]["outcome"], p["outcome"]["code"]) == ("partner_left", "PL-E2E"), p["outcome"]
        assert "partner_left" in [e["phase"] for e in snap["phases"]], snap["phases"]
        # What the participant sees: the code (with its copy button), no game canvas.
        assert await stay.page.inner_text("#outcomeCode") == "PL-E2E"
        assert await stay.page.is_visible("#outcomeCopy") and not await stay.page.is_visible("#gameCanvas")
        record = server.participant("leave-a")  # start_pair's first page stays
        assert record["recruitment"] == {"PROLIFIC_PID": record["subject_id"], "STUDY_ID": "study-e2e",
                                         "SESSION_ID": f"session-{record['subject_id']}"}
        assert (record["outcome"]["outcome"], record["outcome"]["code"], record["outcome"]["game_id"]) == (
            "partner_left", "PL-E2E", p["gameId"])
        export = read_json(server.game_dir(p["gameId"]) / f"player-{p['playerIndex']}.json")
        assert export["ids"]["recruitment"] == record["recruitment"]
        # The page that never came back: its seat was dropped after the grace, which the server
        # records as connection_failed:server (docs/participants.md).
        gone = server.participant("leave-b")["outcome"]
        assert (gone["outcome"], gone["reason"], gone["game_id"]) == ("connection_failed", "server", p["gameId"]), gone

    run_in_browser(request, artifacts_dir, body)


def check_partner_left(server: GameServer, p: dict[str, Any], leaver: int) -> None:
    stayer = p["playerIndex"]
    assert stayer == 1 - leaver
    assert p["phase"] == "partner_left" or any("left" in m.lower() or "partner" in m.lower() for m in p["messages"]), \
        f"no partner-left message: phase {p['phase']}, messages {p['messages']}"
    assert p["upload"]["status"] == "uploaded", p["upload"]
    folder = server.game_dir(p["gameId"])
    wait_for_files([folder / f"player-{stayer}.json"], 20, "remaining participant's export")
    export = read_json(folder / f"player-{stayer}.json")
    # Policy 'end' (the demo's): the game is over for the remaining participant, so its export
    # is final (not partial) up to where the game stopped, and records why.
    assert export["partial"] is False
    events = [e["event"] for e in export["connection_events"] if e["peer_index"] == leaver]
    assert events[0] == "away" and events[-1] == "disconnected", export["connection_events"]
    last = export["episodes"][-1]
    assert last["episode"] == 0 and last["last_confirmed_frame"] >= MAX_STEPS // 2, last["last_confirmed_frame"]
    assert export["desyncs"] == []
    ends = wait_until(lambda: [e for e in server.game_ends() if e["game_id"] == p["gameId"]], 30,
                      "server's game-ended record")
    assert [e["outcome"] for e in ends] == ["incomplete"], ends
    assert ends[0]["seats"] == {str(leaver): "dropped", str(stayer): "ended"}, ends

    # The closing page sent what it had confirmed (fetch keepalive on pagehide): with both
    # exports in, the server's report compares them and marks the game incomplete.
    wait_for_files([folder / f"player-{leaver}.json", folder / "comparison.json"], 20,
                   "the closed page's partial export and the comparison report")
    partial = read_json(folder / f"player-{leaver}.json")
    assert partial["partial"] is True and partial["episodes"][-1]["end_frame"] is None
    report = read_json(folder / "comparison.json")
    assert report["status"] == "agree" and report["first_divergent_frame"] is None, report.get("divergence")
    assert report["complete"] is False, "a game a player left is never complete"
    assert {pl["player_index"]: pl["partial"] for pl in report["players"]} == {leaver: True, stayer: False}
    assert report["verified_frame"] is not None and report["verified_frame"] >= MAX_STEPS // 2


def test_server_relay_fallback_when_no_webrtc_path_opens(game_server, chromium_available, artifacts_dir, request):
    # Relay-only ICE with no TURN server: no candidate at all, so WebRTC cannot connect. The
    # scene's connection_fallback 'server' then plays the game through the server's relay.
    server = game_server(demo_kwargs(ice_transport_policy="relay", connection_timeout_s=3, connection_fallback="server"),
                         turn="none")

    async def body(session: BrowserSession) -> None:
        snaps = await play_game(session, server, "fallback")
        exports, _ = check_agreeing_game(server, snaps, "fallback")
        for i, (snap, ex) in enumerate(zip(snaps, exports)):
            assert ex["stats"]["path"]["protocol"] == "tcp", ex["stats"]["path"]
            assert ex["settings"]["p2p"]["connection_fallback"] == "server"
            assert any("through the server" in m for m in snap["p2p"]["messages"]), snap["p2p"]["messages"]

    run_in_browser(request, artifacts_dir, body)
