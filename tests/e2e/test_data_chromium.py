"""Research data from the demo played in real Chromium (two participants, relay through the
embedded TURN server, the scene's seeded impairment so rollbacks happen): the server builds
the game's tables when both exports are in; each player's final score in the tables (reward
sum over the confirmed frames) is the score the page showed at the end; the rewards equal a
CPython replay's; every key event's frame is consistent with the input delay; some keys were
pressed while a predicted frame was on screen; and the participants (arrived from a Prolific
link, given a completion code) have their outcome, code and recruitment ids in the tables."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from harness.game import (LOAD_TIMEOUT_S, Participant, open_participant, play_to_end, read_json,
                          wait_for_files)
from harness.session import BrowserSession

from interactive_gym_p2p.data import load
from interactive_gym_p2p.data.derive import derive_step_data
from interactive_gym_p2p.examples import gem_rush

pytestmark = pytest.mark.e2e

MAX_STEPS = 150
IMPAIRMENT = {"delay_ms": 80, "loss": 0.05, "seed": 20261125}

# Every score line the page draws on its canvas (Gem Rush's HUD text "P1 <n>   P2 <n>").
HUD_RECORDER = r"""
(() => {
  const drawn = [];
  window.__hudTexts = drawn;
  const fillText = CanvasRenderingContext2D.prototype.fillText;
  CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) {
    const s = String(text);
    if (/^P1 \d+\s+P2 \d+$/.test(s) && drawn[drawn.length - 1] !== s) drawn.push(s);
    return fillText.call(this, text, ...rest);
  };
})();
"""


SUBJECTS = ("data-a", "data-b")
CODES = {"completed": "C-DATA-1", "partner_left": "C-DATA-PL"}


async def start_recorded_pair(session: BrowserSession, server: Any) -> list[Participant]:
    pair = []
    for i, subject in enumerate(SUBJECTS):
        # From a Prolific study link: the recruitment ids reach the records, exports and tables.
        p = await open_participant(session, server.url, i, subject, prolific=True, init_script=HUD_RECORDER)
        await p.advance_to_game(LOAD_TIMEOUT_S)
        if i == 0:
            await p.wait("(window.__phaseLog || []).some(e => e.phase === 'waiting')", LOAD_TIMEOUT_S, "waitroom")
        pair.append(p)
    await asyncio.gather(*(p.wait("p.phase === 'playing'", LOAD_TIMEOUT_S, "game started") for p in pair))
    return pair


def test_the_demos_tables_reproduce_the_scores_the_pages_showed(game_server, chromium_available, artifacts_dir, request):
    server = game_server({"num_episodes": 2, "max_steps": MAX_STEPS, "ice_transport_policy": "relay",
                          "impairment": IMPAIRMENT}, study={"codes": CODES})

    async def body(session: BrowserSession) -> None:
        pair = await start_recorded_pair(session, server)
        snaps = await play_to_end(pair)
        shown = [await p.page.evaluate("window.__hudTexts") for p in pair]
        game_id = snaps[0]["p2p"]["gameId"]
        folder = server.game_dir(game_id)
        wait_for_files([folder / "comparison.json", folder / "tables" / "source.json"]
                       + [server.data_dir / "participants" / s / "outcome.json" for s in SUBJECTS], 30,
                       "both exports, the game's tables built by the server, both outcomes")
        check_tables(server, folder, game_id, shown)

    async def scenario() -> None:
        async with BrowserSession(request.node.nodeid, artifacts_dir) as session:
            await body(session)

    asyncio.run(scenario())


def check_tables(server: Any, folder: Any, game_id: str, shown: list[list[str]]) -> None:
    tables = load(server.data_dir)
    frames, episodes, inputs, players = tables["frames"], tables["episodes"], tables["inputs"], tables["players"]
    assert set(frames["game_id"]) == {game_id}
    assert (frames["reward_source"] == "recorded").all() and frames["verified"].all()

    # The score each page showed last (the final confirmed frame, drawn at the episode's end).
    last_episode = int(episodes["episode"].max())
    final = frames[frames["episode"] == last_episode].groupby("player_index")["reward"].sum()
    for p, texts in enumerate(shown):
        assert texts, f"page {p} drew no score"
        page_scores = [int(x) for x in re.findall(r"\d+", texts[-1])[1::2]]
        assert page_scores == [int(final[0]), int(final[1])], f"page {p} showed {texts[-1]!r}, tables {final.tolist()}"
    # ... and equals the score the environment reported on the episode's last frame.
    last_rows = frames.sort_values("frame").groupby(["episode", "player_index"]).tail(1)
    for _, r in last_rows.iterrows():
        total = frames[(frames["episode"] == r["episode"]) & (frames["player_index"] == r["player_index"])]["reward"].sum()
        assert total == r["info.score"], (r["episode"], r["player_index"], total, r["info.score"])

    # The rewards equal a CPython replay of the confirmed actions.
    exports = [read_json(folder / f"player-{i}.json") for i in range(2)]
    derived = derive_step_data(exports[0], lambda: gem_rush.GemRushEnv(max_steps=MAX_STEPS))
    for ep in exports[0]["episodes"]:
        assert derived[ep["episode"]]["rewards"] == ep["rewards"], f"episode {ep['episode']}"
        assert derived[ep["episode"]]["infos"] == ep["infos"]

    # Key events: frames consistent with the input delay (the input goes to the frame after the
    # one on screen, plus the delay; later only when the game could not advance at that tick).
    # The delay each player used in each episode (fixed, or chosen per episode by input_delay='auto').
    assert len(inputs) > 20 and set(inputs["key"]) <= {"ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown"}
    delays = episodes.set_index(["episode", "player_index"])["input_delay"]
    assert delays.notna().all(), delays
    known = inputs.dropna(subset=["frame", "screen_frame"]).copy()
    known["delay"] = [int(delays[(e, p)]) for e, p in zip(known["episode"], known["player_index"])]
    ahead = known["frame"] - known["screen_frame"] - known["delay"]
    assert (ahead >= 1).all(), known[ahead < 1]
    assert (ahead == 1).mean() > 0.5, ahead.value_counts()
    # Display lag: positive; missing only for keys whose frame was never drawn (the game ended).
    lag = known["display_lag_ms"]
    assert (lag.dropna() > 0).all() and lag.notna().mean() > 0.9, lag.describe()
    # Under the impaired link some keys were pressed while a predicted frame was on screen.
    assert inputs["screen_predicted"].fillna(False).any(), inputs[["screen_frame", "screen_predicted"]]
    assert players["display_lag_mean_ms"].notna().all() and (players["key_events"] > 0).all()
    # The browser's own key-to-screen measurement (export stats) per player, a few ms above the
    # display lag (it waits for the animation frame after the draw).
    k2s = players.set_index("player_index")
    for p in range(2):
        row, export = k2s.loc[p], exports[p]["stats"]["key_to_screen_ms"]
        assert row["key_to_screen_samples"] == export["samples"] > 0, (row, export)
        assert row["key_to_screen_p50_ms"] == export["p50"] and row["key_to_screen_p95_ms"] == export["p95"]
        assert 0 < row["key_to_screen_p50_ms"] <= row["key_to_screen_p95_ms"] < 1000
    # The participants' records (the server's ledger): outcome, code and Prolific ids per person,
    # and the exports' recruitment ids in every frame row.
    people = tables["participants"].set_index("subject_id")
    assert sorted(people.index) == sorted(SUBJECTS), people
    for s in SUBJECTS:
        row = people.loc[s]
        assert (row["outcome"], row["completion_code"], row["games"]) == ("completed", CODES["completed"], game_id), row
        assert (row["recruitment.PROLIFIC_PID"], row["recruitment.STUDY_ID"], row["recruitment.SESSION_ID"]) == \
            (s, "study-e2e", f"session-{s}"), row
    assert set(zip(frames["subject_id"], frames["recruitment.PROLIFIC_PID"])) == {(s, s) for s in SUBJECTS}
    outcomes = tables["events"][tables["events"]["kind"] == "outcome"]
    assert sorted(zip(outcomes["subject_id"], outcomes["event"])) == [(s, "completed") for s in sorted(SUBJECTS)]
    # Each player's action on a key's frame is that key's action (the key was still held then).
    acts = frames.set_index(["frame", "player_index"])["action"]
    downs = known[known["event"] == "down"]
    mapping = gem_rush.ACTION_MAPPING
    hits = sum(1 for _, r in downs.iterrows() if acts.get((r["frame"], r["player_index"])) == mapping[r["key"]])
    assert hits >= len(downs) * 0.5, (hits, len(downs))
