"""Two headless Python peers play a whole experiment through a real server: participant flow
(Start -> static -> Gem Rush P2P scene, 2 episodes x 120 steps -> static -> End), signaling,
aiortc DataChannels relayed ONLY through the embedded TURN server (a child process on
127.0.0.1), seeded delay and loss in both peers' send paths, the real rollback session, and
the exports uploaded, stored and compared by the server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from interactive_gym_p2p.peer.actions import RandomActions
from interactive_gym_p2p.peer.runner import PeerResult, run_peer

from test_peer_net_export import run_node

from peer_net_support import IMPAIRMENT, demo_stager, gem_rush_scene, served, static_scene

EPISODES, STEPS = 2, 120


def test_two_python_peers_relay_only_with_impairment(tmp_path: Path) -> None:
    stager = demo_stager(static_scene("instructions"), gem_rush_scene("gems", episodes=EPISODES, steps=STEPS,
                                                                     impairment=IMPAIRMENT), static_scene("survey"))
    with served(stager, tmp_path) as s:
        async def both() -> list[PeerResult]:
            return list(await asyncio.gather(*(
                run_peer(s.url, subject_id=f"py-{i}", actions=RandomActions(seed=100 + i, n_actions=9, hold=4), timeout_s=240)
                for i in range(2))))

        results = asyncio.run(both())
        games_dir = s.games_dir

    for r in results:
        assert r.scenes == ["start", "instructions", "gems", "survey", "end"] and r.reached_end, r.scenes
        game = r.games[0]
        assert game.error is None and game.game_over_reason == "completed", (game.error, game.game_over_reason)
        assert game.frames == EPISODES * STEPS
        assert game.path is not None and game.path["kind"] == "relay" and game.path["protocol"] == "udp"
        assert (game.path["local_candidate_type"], game.path["remote_candidate_type"]) == ("relay", "relay")
        assert game.upload is not None and game.upload.ok and game.upload.outcome == "stored", game.upload
        # the impairment really acted on our sends: some messages were dropped by the shim
        assert game.transport is not None and game.transport["messages_dropped"] > 0
        assert game.export is not None
        applied = game.export["settings"]["impairment"]  # the scene's block, defaults filled in
        assert applied == {"duplicate": 0, "reorder": 0, **IMPAIRMENT}
        assert game.export["stats"]["path"]["kind"] == "relay"
    assert results[0].game_id == results[1].game_id
    assert sorted(r.player_index for r in results) == [0, 1]

    folder = games_dir / results[0].game_id
    stored = {i: json.loads((folder / f"player-{i}.json").read_text()) for i in (0, 1)}
    for r in results:
        assert stored[r.player_index] == json.loads(json.dumps(r.export))
    report = json.loads((folder / "comparison.json").read_text())
    assert report["status"] == "agree" and report["agree"] and report["complete"], report
    assert report["first_divergent_frame"] is None
    assert report["common_frames"] == EPISODES * STEPS == report["hashed_frames_compared"]
    assert report["verified_frame"] == EPISODES * STEPS - 1

    a, b = stored[0], stored[1]
    assert not a["partial"] and not b["partial"] and a["desyncs"] == b["desyncs"] == []
    assert len(a["episodes"]) == len(b["episodes"]) == EPISODES
    for ea, eb in zip(a["episodes"], b["episodes"]):
        assert (ea["seed"], ea["start_frame"], ea["end_frame"]) == (eb["seed"], eb["start_frame"], eb["end_frame"])
        assert len(ea["frames"]) == STEPS
        assert ea["frames"] == eb["frames"]  # actions and hashes, frame for frame
        assert all(row[2] is not None for row in ea["frames"])
    # the Python export of a real session record is what validation.js builds from it
    js = run_node([{"record": results[0].record, "ids": stored[results[0].player_index]["ids"],
                    "settings": stored[results[0].player_index]["settings"], "now": 0}])
    assert js[0]["ok"] and js[0]["doc"] == stored[results[0].player_index]
    # both players' inputs made it into the game (random actions, not all defaults)
    actions = [row[1] for ep in a["episodes"] for row in ep["frames"]]
    assert any(act[0] != 0 for act in actions) and any(act[1] != 0 for act in actions)


THREE_PLAYER_ENV = '''
class Tag3:
    """Three players' counters; an episode lasts 60 steps."""

    def __init__(self):
        self.possible_agents = [0, 1, 2]
        self.counts = [0, 0, 0]
        self.t = 0
        self.seed = 0

    def reset(self, seed=None, options=None):
        self.counts, self.t, self.seed = [0, 0, 0], 0, int(seed or 0)
        return {a: 0 for a in self.possible_agents}, {}

    def step(self, actions):
        for agent in self.possible_agents:
            self.counts[agent] = (self.counts[agent] * 31 + actions[agent] + self.seed) % 1000003
        self.t += 1
        done = self.t >= 60
        obs = {a: self.counts[a] for a in self.possible_agents}
        return obs, {a: 0 for a in obs}, {a: done for a in obs}, {a: False for a in obs}, {}

    def get_state(self):
        return {"counts": list(self.counts), "t": self.t, "seed": self.seed}

    def set_state(self, state):
        self.counts, self.t, self.seed = list(state["counts"]), state["t"], state["seed"]


env = Tag3()
'''


def test_three_python_peers_full_mesh(tmp_path: Path) -> None:
    from interactive_gym_p2p.scene import P2PGymScene

    scene = (
        P2PGymScene().scene(scene_id="trio")
        .pyodide(environment_initialization_code=THREE_PLAYER_ENV)
        .gameplay(default_action=0, action_mapping={"ArrowUp": 1, "ArrowDown": 2}, num_episodes=1, max_steps=60)
        .p2p(players=3, fps=30, ice_transport_policy="relay", impairment={"delay_ms": 20, "loss": 0.03, "seed": 5},
             disconnect_timeout_ms=15000)
    )
    with served(demo_stager(scene), tmp_path) as s:
        async def trio() -> list[PeerResult]:
            return list(await asyncio.gather(*(
                run_peer(s.url, subject_id=f"trio-{i}", actions=RandomActions(seed=i, n_actions=3), timeout_s=240)
                for i in range(3))))

        results = asyncio.run(trio())
        games_dir = s.games_dir
    assert len({r.game_id for r in results}) == 1 and sorted(r.player_index for r in results) == [0, 1, 2]
    for r in results:
        game = r.games[0]
        assert game.error is None and game.game_over_reason == "completed" and game.frames == 60
        assert game.upload is not None and game.upload.ok
        links = game.transport["per_peer"]  # type: ignore[index]
        assert sorted(links) == sorted({0, 1, 2} - {r.player_index})
        assert all(l["path"]["kind"] == "relay" and l["messages_received"] > 0 for l in links.values())
    report = json.loads((games_dir / results[0].game_id / "comparison.json").read_text())
    assert report["agree"] and report["complete"] and report["common_frames"] == 60, report


def test_python_peers_report_to_the_console_and_a_researcher_ends_their_game(tmp_path: Path) -> None:
    """Headless peers show up in the research console like browsers (telemetry every 2 s)
    and stop, upload a partial export and go on to the end when the researcher ends the game."""
    import time
    import urllib.request

    token = "researcher-token-0123456789"

    def api(url: str, path: str, body: dict | None = None) -> dict:
        request = urllib.request.Request(
            url + "/p2p/research/api/live" + path, data=None if body is None else json.dumps(body).encode(),
            method="GET" if body is None else "POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=15) as response:
            return json.loads(response.read())

    # A long game (100 s): it only ends because the researcher ends it.
    stager = demo_stager(gem_rush_scene("gems", episodes=1, steps=3000))
    with served(stager, tmp_path, researcher_token=token) as s:
        seen: dict = {}

        async def watch_and_end() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                live = await asyncio.to_thread(api, s.url, "")
                game = live["games"][0] if live["games"] else None
                if game and all((p["frame"] or 0) >= 60 and p["reports"] >= 2 for p in game["players"]):
                    seen.update(game)
                    ack = await asyncio.to_thread(api, s.url, f"/games/{game['game_id']}/end", {"message": "Enough data."})
                    assert sorted(ack["players"]) == [0, 1]
                    return
                await asyncio.sleep(0.5)  # polling the console's view with a deadline
            raise AssertionError("the console never showed both peers playing")

        async def run() -> list[PeerResult]:
            peers = [run_peer(s.url, subject_id=f"bot-{i}", actions=RandomActions(seed=i, n_actions=9, hold=4), timeout_s=200)
                     for i in range(2)]
            *results, _ = await asyncio.gather(*peers, watch_and_end())
            return results

        results = asyncio.run(run())
        finished = api(s.url, "")["finished"]
        timeline = api(s.url, f"/games/{seen['game_id']}/timeline")

    assert {p["path_kind"] for p in seen["players"]} == {"relay"} and seen["paths"] == ["relay"]
    assert all(p["rtt_ms"] is not None and p["hidden"] is False for p in seen["players"])
    assert any(r.games[0].export is not None and r.games[0].export["partial"] is True for r in results)
    for r in results:
        game = r.games[0]
        assert r.reached_end, r.scenes
        assert game.error is None and game.game_over_reason == "researcher" and game.ended_message == "Enough data."
        # Partial, or complete up to the partner's BYE when the partner stopped first.
        assert game.export is not None and (game.export["partial"] is True or any(
            e["event"] == "left" and e["peer_index"] == 1 - game.player_index for e in game.export["connection_events"])), game.export
        assert game.upload is not None and game.upload.ok, game.upload
        assert 60 <= game.frames < 3000
    (fin,) = finished
    assert (fin["game_id"], fin["ended_by"], sorted(fin["seats"].values())) == (seen["game_id"], "researcher", ["stopped", "stopped"])
    assert all(len(p["t"]) >= 2 and p["frame"][-1] >= 60 for p in timeline["players"])
