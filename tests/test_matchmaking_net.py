"""Matchmaking through a real server: a bot the server starts in its own process fills a
timed-out seat, a smaller game starts at a timeout, completed games per condition survive a
restart. Real Socket.IO, real aiortc peers through the embedded TURN server, real files."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from interactive_gym_p2p.examples import tug
from interactive_gym_p2p.participants import FileParticipantStore, ParticipantLedger, Study
from interactive_gym_p2p.participants.routes import participants_csv
from interactive_gym_p2p.peer.actions import RandomActions
from interactive_gym_p2p.peer.runner import PeerResult, run_peer
from interactive_gym_p2p.scene import P2PGymScene
from interactive_gym_p2p.server import BackgroundServer, ServerConfig
from interactive_gym_p2p.signaling.tickets import SignalingTickets
from interactive_gym_p2p.server.config import derive_secret

from peer_net_support import SECRET, demo_stager, gem_rush_scene, served
from server_harness import SignalingClient, make_scene, make_stager
from waiting import wait_for_files, wait_until

STEPS = 60


def decisions(data_dir: Path) -> list[dict]:
    path = data_dir / "matchmaking" / "decisions.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def test_a_bot_started_by_the_server_fills_the_seat_at_the_lobby_timeout(tmp_path: Path) -> None:
    scene = gem_rush_scene("gems", episodes=1, steps=STEPS, wait_timeout_s=2).waiting_room(
        on_timeout="bot", bot_actions="random")
    with served(demo_stager(scene), tmp_path) as s:
        result = asyncio.run(run_peer(s.url, subject_id="human-1", actions=RandomActions(seed=3, n_actions=5, hold=3),
                                      timeout_s=120))
        game = result.games[0]
        assert game.error is None and game.game_over_reason == "completed", game.error
        folder = s.games_dir / game.game_id  # type: ignore[operator]
        wait_for_files([folder / "player-0.json", folder / "player-1.json", folder / "comparison.json"], 60,
                       "both exports (the bot's too) and the comparison report")
        report = json.loads((folder / "comparison.json").read_text())
        manifest = json.loads((folder / "game.json").read_text())
        bot_export = json.loads((folder / f"player-{1 - game.player_index}.json").read_text())
        log = decisions(tmp_path / "data")
        bot_logs = list((tmp_path / "data" / "bots").glob("bot-*.log"))
    # The participant's study ends completed; the bot has a record marked as a bot (no outcome),
    # left out of the payment table.
    assert result.outcome is not None and result.outcome["outcome"] == "completed", result.outcome
    people = tmp_path / "data" / "participants"
    bot_id = json.loads((folder / f"player-{1 - game.player_index}.json").read_text())["ids"]["subject_id"]
    bot_record = json.loads((people / bot_id / "participant.json").read_text())
    assert bot_record["bot"] is True and not (people / bot_id / "outcome.json").exists()
    assert json.loads((people / "human-1" / "participant.json").read_text())["bot"] is False
    records = ParticipantLedger(FileParticipantStore(people), Study()).records()
    assert [line.split(",")[0] for line in participants_csv(records, []).splitlines()] == ["subject_id", "human-1"]
    assert report["status"] == "agree" and report["complete"] and report["common_frames"] == STEPS, report
    [peer] = game.export["ids"]["peers"]
    assert peer["bot"] is True and peer["subject_id"].startswith("bot-")
    assert "bot" not in game.export["ids"]
    assert bot_export["ids"]["bot"] is True and bot_export["ids"]["subject_id"] == peer["subject_id"]
    assert manifest["bot_players"] == [1 - game.player_index]
    [fill] = [e for e in log if e["event"] == "bot_fill"]
    [match] = [e for e in log if e["event"] == "bot_match"]
    assert fill["bots"] == [peer["subject_id"]] and fill["players"][0]["subject_id"] == "human-1"
    assert match["game_id"] == game.game_id
    assert len(bot_logs) == 1 and "completed" in bot_logs[0].read_text()


def test_a_smaller_game_starts_when_the_minimum_is_waiting(tmp_path: Path) -> None:
    scene = (
        P2PGymScene().scene(scene_id="tug4")
        .pyodide(environment_initialization_code=tug.environment_initialization_code(4, STEPS))
        .gameplay(default_action=tug.NOOP, action_mapping=tug.ACTION_MAPPING, num_episodes=1, max_steps=STEPS)
        .p2p(players=4, fps=30, ice_transport_policy="relay", wait_timeout_s=3, disconnect_timeout_ms=15000)
        .waiting_room(on_timeout="start_with_fewer", min_players=3)
    )
    with served(demo_stager(scene), tmp_path) as s:
        async def three() -> list[PeerResult]:
            return list(await asyncio.gather(*(
                run_peer(s.url, subject_id=f"t{i}", actions=RandomActions(seed=i, choices=[0, 1, 2], n_actions=3, hold=4),
                         timeout_s=120) for i in range(3))))

        results = asyncio.run(three())
        game_id = results[0].games[0].game_id
        folder = s.games_dir / game_id  # type: ignore[operator]
        wait_for_files([folder / f"player-{i}.json" for i in range(3)] + [folder / "comparison.json"], 30, "three exports")
        report = json.loads((folder / "comparison.json").read_text())
        log = decisions(tmp_path / "data")
    for r in results:
        g = r.games[0]
        assert g.error is None and g.game_over_reason == "completed" and g.num_players == 3, (g.error, g.num_players)
        assert g.game_id == game_id
    assert report["status"] == "agree" and report["complete"], report
    [smaller] = [e for e in log if e["event"] == "start_with_fewer"]
    assert smaller["game_id"] == game_id and "3 of 4 players" in smaller["reason"]


def _play_one(url: str, tickets: SignalingTickets, scene: str, a: str, b: str) -> dict:
    ca = SignalingClient(url, tickets.issue(a, scene, 1))
    cb = SignalingClient(url, tickets.issue(b, scene, 1))
    try:
        ca.join()
        cb.join()
        ready = ca.log.wait("game_ready")
        cb.log.wait("game_ready")
        for c in (ca, cb):
            assert c.call("finished", {"game_id": ready["game_id"]})["ok"]
        return ready
    finally:
        ca.close()
        cb.close()


def test_completed_games_per_condition_survive_a_restart(tmp_path: Path) -> None:
    scene = make_scene("game").conditions({"A": {"p2p": {"input_delay": 1}}, "B": {"p2p": {"input_delay": 4}}})
    config = ServerConfig(host="127.0.0.1", port=0, async_mode="threading", data_dir=tmp_path / "data", secret=SECRET)
    tickets = SignalingTickets(derive_secret(SECRET, "signaling-ticket"))
    with BackgroundServer(make_stager(scene), config) as server:
        first = _play_one(server.url, tickets, "game", "a1", "b1")
        signaling = server.context.signaling
        wait_for_files([tmp_path / "data" / "matchmaking" / "conditions.jsonl"], 10, "the ledger line")
        assert signaling.snapshot()["conditions"]["game"][first["condition"]]["completed"] == 1
    with BackgroundServer(make_stager(scene), config) as server:
        counts = server.context.signaling.snapshot()["conditions"]["game"]
        assert {k: v["completed"] for k, v in counts.items()} == {first["condition"]: 1, ({"A", "B"} - {first["condition"]}).pop(): 0}
        second = _play_one(server.url, tickets, "game", "a2", "b2")
    assert second["condition"] != first["condition"], "the other condition is behind after the restart"
    assert second["settings"]["p2p"]["input_delay"] == {"A": 1, "B": 4}[second["condition"]]
    lines = (tmp_path / "data" / "matchmaking" / "conditions.jsonl").read_text().splitlines()
    assert [json.loads(x)["condition"] for x in lines] == [first["condition"], second["condition"]]


def test_rtt_pings_measure_each_waiter_on_its_socket(tmp_path: Path) -> None:
    config = ServerConfig(host="127.0.0.1", port=0, async_mode="threading", data_dir=tmp_path / "data", secret=SECRET,
                          rtt_interval_s=0.2)
    tickets = SignalingTickets(derive_secret(SECRET, "signaling-ticket"))
    with BackgroundServer(make_stager(make_scene("game", players=3)), config) as server:
        client = SignalingClient(server.url, tickets.issue("solo", "game", 1))
        try:
            client.join()
            signaling = server.context.signaling

            def measured() -> bool:
                rooms = signaling.snapshot()["waiting"]
                return bool(rooms) and rooms[0]["waiters"][0]["rtt_ms"] is not None

            wait_until(measured, 15, "a server RTT for the waiter")
            waiter = signaling.snapshot()["waiting"][0]["waiters"][0]
            assert 0 < waiter["rtt_ms"] < 1000 and waiter["state"] == "waiting"
            assert client.log.count("rtt_ping") >= 1
        finally:
            client.close()


def test_a_bot_process_exits_when_the_server_that_started_it_is_gone(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    pid_file = tmp_path / "bot.pid"
    bot = tmp_path / "bot.py"
    bot.write_text(
        "import asyncio, os, pathlib, sys\n"
        "from interactive_gym_p2p.peer.__main__ import exit_with_parent\n"
        "pathlib.Path(sys.argv[1]).write_text(str(os.getpid()))\n"
        "asyncio.run(exit_with_parent(int(sys.argv[2]), 0.1))\n"
    )
    # A stand-in server process starts the "bot" (the peer's parent watch, given the server's pid as
    # the bot launcher gives it) and exits, possibly before the bot starts watching: still noticed.
    parent = tmp_path / "server.py"
    parent.write_text(
        "import os, pathlib, subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, sys.argv[1], sys.argv[2], str(os.getpid())], start_new_session=True)\n"
        "while not pathlib.Path(sys.argv[2]).exists():\n"
        "    time.sleep(0.05)\n"
    )
    subprocess.run([sys.executable, str(parent), str(bot), str(pid_file)], check=True, timeout=30)
    pid = int(pid_file.read_text())

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # a zombie (exited, not yet reaped by init) counts as gone
        stat = Path(f"/proc/{pid}/stat")
        return stat.exists() and stat.read_text().split()[2] == "Z"

    wait_until(gone, 10, "the orphaned bot process exiting")


def test_the_bot_launcher_names_the_server_as_the_parent_to_watch() -> None:
    import os

    from interactive_gym_p2p.matchmaking.bots import BotRequest, ProcessBotLauncher

    argv = ProcessBotLauncher(server_url="http://127.0.0.1:5000").command(
        BotRequest(fill_id="f1", scene_id="game", subject_ids=("bot-f1-0",), actions="random", seed=1))
    # Its own pid, not the bot's os.getppid() at start (the server may die while the bot imports).
    i = argv.index("--exit-with-parent")
    assert argv[i + 1] == str(os.getpid())
