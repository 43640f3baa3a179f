"""Matchmaking in real Chromium: a bot fills a timed-out seat, and a probe runs between the
page and a Python peer before their game forms.

Real Chromium, the demo experiment in its own server process (embedded TURN, relay-only
games, export store).

- ``wait_timeout_s=3`` and the waiting-room policy ``bot``: the page counts down, the server
  starts ``python -m interactive_gym_p2p.peer`` in ITS OWN process for the empty seat, the page
  says a computer partner is coming, the game is played to the end (keys on the page, seeded
  random actions for the bot), both exports are stored, marked (the bot's seat in both), and
  agree frame for frame; the participant came from a Prolific link and leaves with the
  `completed` code, its record and export carry the Prolific ids, and the bot's record is
  marked as a bot, with no outcome.
- ``max_p2p_rtt_ms``: the page (client_probe.js) and the Python peer (peer/probe.py) open a
  probe connection over the game's path and time PING/PONG; within the limit, the game forms.
"""

from __future__ import annotations

import asyncio

import pytest

from harness.game import LOAD_TIMEOUT_S, open_participant, read_json, wait_for_files
from harness.session import BrowserSession

pytestmark = pytest.mark.e2e

MAX_STEPS = 150
WAIT_S = 3
WAITROOM_RECORDER = """() => {
  window.__waitroomTexts = [];
  const el = document.getElementById('waitroomText');
  new MutationObserver(() => {
    const t = el.textContent;
    if (t && window.__waitroomTexts.at(-1) !== t) window.__waitroomTexts.push(t);
  }).observe(el, { childList: true, characterData: true, subtree: true });
}"""


def test_lobby_timeout_filled_by_a_bot_game_played_and_exports_agree(game_server, chromium_available, artifacts_dir,
                                                                      request):
    server = game_server({"num_episodes": 1, "max_steps": MAX_STEPS, "ice_transport_policy": "relay",
                          "wait_timeout_s": WAIT_S, "waiting_room": {"on_timeout": "bot", "bot_actions": "random"}},
                         study={"codes": {"completed": "C-BOT-1", "lobby_timeout": "C-LT-1"}})

    async def scenario() -> dict:
        async with BrowserSession(request.node.nodeid, artifacts_dir) as session:
            page = await open_participant(session, server.url, 0, "alone-1", prolific=True)
            # Every text the waiting room shows, in order (it starts on the start page's Continue).
            await page.page.evaluate(WAITROOM_RECORDER)
            await page.advance_to_game(LOAD_TIMEOUT_S)
            await page.wait("p.phase === 'playing'", LOAD_TIMEOUT_S, "game started with the bot")
            texts = await page.page.evaluate("() => window.__waitroomTexts")
            await page.press_keys_while_playing(["ArrowUp", "ArrowRight", "ArrowDown", "ArrowLeft"], timeout_s=120)
            await page.finish()
            snap = await page.wait("p.phase === 'ended' && p.outcome", 30, "the completed outcome")
            code = await page.page.inner_text("#outcomeCode")
            return {"texts": texts, "snap": snap, "code": code}

    out = asyncio.run(scenario())
    texts = out["texts"]
    # a visible countdown, then the announcement of the computer partner
    counting = [i for i, t in enumerate(texts) if "Time left: 0:0" in t]
    announced = [i for i, t in enumerate(texts) if "computer partner" in t]
    assert counting and announced and counting[0] < announced[0], texts
    p = out["snap"]["p2p"]
    assert p["upload"]["status"] == "uploaded", p["upload"]
    folder = server.game_dir(p["gameId"])
    wait_for_files([folder / "player-0.json", folder / "player-1.json", folder / "comparison.json"], 60,
                   "the page's and the bot's exports and the comparison report")
    mine = read_json(folder / f"player-{p['playerIndex']}.json")
    bot = read_json(folder / f"player-{1 - p['playerIndex']}.json")
    report = read_json(folder / "comparison.json")
    manifest = read_json(folder / "game.json")
    assert mine["ids"]["subject_id"] == "alone-1" and "bot" not in mine["ids"]
    assert mine["ids"]["peers"][0]["bot"] is True and mine["ids"]["peers"][0]["subject_id"].startswith("bot-")
    assert bot["ids"]["bot"] is True and bot["ids"]["subject_id"] == mine["ids"]["peers"][0]["subject_id"]
    assert manifest["bot_players"] == [1 - p["playerIndex"]]
    # Prolific ids in, the completed code out (not lobby_timeout: the bot filled the seat).
    ids = {"PROLIFIC_PID": "alone-1", "STUDY_ID": "study-e2e", "SESSION_ID": "session-alone-1"}
    assert (p["outcome"]["outcome"], p["outcome"]["code"], out["code"]) == ("completed", "C-BOT-1", "C-BOT-1"), p["outcome"]
    record = server.participant("alone-1")
    assert (record["outcome"]["outcome"], record["outcome"]["code"], record["recruitment"]) == ("completed", "C-BOT-1", ids)
    assert mine["ids"]["recruitment"] == ids and record["bot"] is False
    bot_record = server.participant(bot["ids"]["subject_id"])
    assert bot_record["bot"] is True and bot_record["outcome"] is None, bot_record
    assert not mine["partial"] and not bot["partial"]
    frames = [row for ep in mine["episodes"] for row in ep["frames"]]
    assert len(frames) == MAX_STEPS and frames == [row for ep in bot["episodes"] for row in ep["frames"]]
    assert report["status"] == "agree" and report["complete"] and report["hashed_frames_compared"] == MAX_STEPS, report
    # Both players acted: the page from the keyboard, the bot at random.
    assert len({r[1][0] for r in frames}) >= 2 and len({r[1][1] for r in frames}) >= 2
    logs = list((server.data_dir / "bots").glob("bot-*.log"))
    assert len(logs) == 1 and "completed" in logs[0].read_text(), [x.read_text()[-2000:] for x in logs]


def test_probe_between_chromium_and_the_python_peer_before_their_game(game_server, chromium_available, artifacts_dir,
                                                                       request, tmp_path):
    """With max_p2p_rtt_ms the two candidates first open a probe connection (client_probe.js in
    the page, peer/probe.py in the Python peer) over the game's relay path; the measured RTT is
    within the limit, so the game forms and is played; the decision log holds the probe."""
    import json
    import os
    import sys

    from harness.game import REPO

    server = game_server({"num_episodes": 1, "max_steps": 90, "ice_transport_policy": "relay",
                          "matchmaking": {"matcher": "latency_fifo", "max_p2p_rtt_ms": 400}})
    out, log = tmp_path / "peer.json", tmp_path / "peer.log"
    peer_script = REPO / "tests" / "e2e" / "harness" / "python_peer.py"

    async def scenario() -> dict:
        async with BrowserSession(request.node.nodeid, artifacts_dir) as session:
            page = await open_participant(session, server.url, 0, "prober-1")
            await page.advance_to_game(LOAD_TIMEOUT_S)
            await page.wait("(window.__phaseLog || []).some(e => e.phase === 'waiting')", LOAD_TIMEOUT_S, "waitroom")
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
            with log.open("wb") as sink:
                peer = await asyncio.create_subprocess_exec(
                    sys.executable, str(peer_script), "--url", server.url, "--subject", "prober-py", "--out", str(out),
                    "--timeout", "120", stdin=asyncio.subprocess.DEVNULL, stdout=sink, stderr=asyncio.subprocess.STDOUT,
                    env=env)
            try:
                await page.wait("p.phase === 'playing'", LOAD_TIMEOUT_S, "game started after the probe")
                await page.press_keys_while_playing(["ArrowUp", "ArrowRight"], timeout_s=120)
                snap = await page.finish()
                await asyncio.wait_for(peer.wait(), 120)
            except BaseException:
                if peer.returncode is None:
                    peer.kill()
                    await peer.wait()
                raise
            assert peer.returncode == 0, log.read_text(errors="replace")[-4000:]
            return snap

    snap = asyncio.run(scenario())
    p = snap["p2p"]
    decisions = [json.loads(x) for x in (server.data_dir / "matchmaking" / "decisions.jsonl").read_text().splitlines()]
    starts = [d for d in decisions if d["event"] == "probe_start"]
    [match] = [d for d in decisions if d["event"] == "match"]
    assert starts and {pl["subject_id"] for pl in starts[-1]["players"]} == {"prober-1", "prober-py"}
    assert match["game_id"] == p["gameId"] and match["probe"]["timed_out"] is False, match
    [pair] = match["pairs"]
    assert pair["samples"] >= 2 and 0 < pair["probed_ms"] <= 400, pair
    assert match["probe"]["path"]["kind"] == "relay", match["probe"]
    folder = server.game_dir(p["gameId"])
    wait_for_files([folder / "comparison.json"], 30, "the comparison report")
    assert read_json(folder / "comparison.json")["status"] == "agree"
