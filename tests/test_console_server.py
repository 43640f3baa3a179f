"""The research console in a real server on 127.0.0.1 (threading mode, python-socketio
clients): telemetry from players in a game, the authenticated feed and HTTP API, ending a
game, closing recruitment, and everything off without a researcher token."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import socketio

from server_harness import WAIT_S, ParticipantClient, Recorder, SignalingClient, make_scene, make_stager, running_server

TOKEN = "researcher-token-0123456789"
VECTORS = json.loads((Path(__file__).parent / "vectors" / "telemetry.json").read_text())


def api(url: str, path: str, method: str = "GET", body: Any = None, token: str | None = TOKEN) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + "/p2p/research/api/live" + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=WAIT_S) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


class ConsoleClient:
    """A python-socketio client of the /p2p-console namespace."""

    def __init__(self, url: str, auth: Any) -> None:
        self.sio = socketio.Client(reconnection=False)
        self.log = Recorder()
        self.errors: list[Any] = []
        self.sio.on("*", self.log.record, namespace="/p2p-console")
        self.sio.on("connect_error", self.errors.append, namespace="/p2p-console")
        self.sio.connect(url, namespaces=["/p2p-console"], auth=auth, transports=["websocket"], wait_timeout=WAIT_S)

    def close(self) -> None:
        if self.sio.connected:
            self.sio.disconnect()


def telemetry(game_id: str, seq: int, **change: Any) -> dict[str, Any]:
    r = dict(VECTORS["valid"][1]) | {"game_id": game_id, "seq": seq, "rtt_ms": {"0": 30.0}} | change
    return r


def start_game(server: Any, subjects: tuple[str, str] = ("pa", "pb")) -> tuple[dict[str, SignalingClient], dict[str, dict]]:
    clients = {s: SignalingClient(server.url, server.context.tickets.issue(s, "game", 1)) for s in subjects}
    for c in clients.values():
        c.join()
    return clients, {s: c.log.wait("game_ready") for s, c in clients.items()}


def test_telemetry_feed_and_end_game(tmp_path: Path) -> None:
    ends: list[Any] = []
    with running_server(make_stager(make_scene()), tmp_path, researcher_token=TOKEN, console_interval_s=0.2,
                        on_game_ended=ends.append) as server:
        clients, ready = start_game(server)
        game_id = ready["pa"]["game_id"]
        by_index = {r["player_index"]: s for s, r in ready.items()}
        watcher = ConsoleClient(server.url, {"token": TOKEN})
        try:
            first = watcher.log.wait("console_state")
            assert [g["game_id"] for g in first["games"]] == [game_id]
            assert all(p["frame"] is None for p in first["games"][0]["players"])
            # Matchmaking's word on the game (docs/matchmaking.md) comes through.
            assert first["games"][0]["match"]["matcher"] == "fifo" and first["conditions"] == {}

            # Each player reports; the feed shows their frames within a push.
            for seq in range(3):
                for index, subject in by_index.items():
                    ack = clients[subject].call("telemetry", telemetry(game_id, seq, frame=100 * seq + index,
                                                                        rollbacks=seq, hidden=index == 1 and seq == 2))
                    assert ack == {"ok": True}, ack
            state = watcher.log.wait("console_state", lambda s: s["games"] and s["games"][0]["frame"] == 201)
            g = state["games"][0]
            assert [(p["player_index"], p["subject_id"], p["frame"]) for p in g["players"]] == [
                (0, by_index[0], 200), (1, by_index[1], 201)]
            assert g["hidden_players"] == [1] and g["desync"] is True

            # Malformed reports are refused; another game's id is not this socket's to report on.
            assert clients["pa"].call("telemetry", {"game_id": game_id})["error"]["code"] == "malformed"
            assert clients["pa"].call("telemetry", telemetry("0000000000000000", 9))["error"]["code"] == "not_in_game"

            status, tl = api(server.url, f"/games/{game_id}/timeline")
            assert status == 200 and [len(p["t"]) for p in tl["players"]] == [3, 3]
            assert tl["players"][1]["frame"] == [1, 101, 201]

            # The researcher ends the game: both players are told, their seats are over.
            status, ack = api(server.url, f"/games/{game_id}/end", "POST", {"message": "Study over, thank you."})
            assert status == 200 and sorted(ack["players"]) == [0, 1], ack
            for c in clients.values():
                ev = c.log.wait("game_ended")
                assert ev == {"game_id": game_id, "reason": "researcher", "message": "Study over, thank you."}
            assert clients["pa"].call("telemetry", telemetry(game_id, 5))["error"]["code"] == "not_in_game"
            assert clients["pa"].join()["error"]["code"] == "game_over"
            assert api(server.url, f"/games/{game_id}/end", "POST", {})[0] == 404
            (end,) = ends
            assert (end.game_id, end.outcome, end.ended_by, set(end.seats.values())) == (game_id, "incomplete", "researcher", {"stopped"})
            state = watcher.log.wait("console_state", lambda s: not s["games"] and s["finished"])
            fin = state["finished"][0]
            assert (fin["game_id"], fin["ended_by"], fin["outcome"]) == (game_id, "researcher", "incomplete")
            assert [p["frame"] for p in fin["players"]] == [200, 201]
            status, tl = api(server.url, f"/games/{game_id}/timeline")
            assert status == 200 and tl["live"] is False
        finally:
            watcher.close()
            for c in clients.values():
                c.close()


def test_researcher_credential_is_needed_everywhere(tmp_path: Path) -> None:
    with running_server(make_stager(make_scene()), tmp_path, researcher_token=TOKEN) as server:
        for token, status in ((None, 401), ("wrong-token-0123456789", 403), (TOKEN[:-1], 403), (TOKEN + "x", 403)):
            assert api(server.url, "", token=token)[0] == status
            assert api(server.url, "/games/g1/timeline", token=token)[0] == status
            assert api(server.url, "/games/g1/end", "POST", {}, token=token)[0] == status
            assert api(server.url, "/recruitment", "POST", {"open": False}, token=token)[0] == status
        assert api(server.url, "")[1]["recruitment"]["open"] is True  # nothing above changed it
        for auth, code in ((None, "missing_token"), ({}, "missing_token"), ({"token": "wrong-token-0123456789"}, "wrong_token"),
                           ({"token": 12345}, "wrong_token")):
            with pytest.raises(socketio.exceptions.ConnectionError):
                ConsoleClient(server.url, auth)
        # The refusal carries its code (checked on one client that keeps its errors).
        sio = socketio.Client(reconnection=False)
        errors: list[Any] = []
        sio.on("connect_error", errors.append, namespace="/p2p-console")
        with pytest.raises(socketio.exceptions.ConnectionError):
            sio.connect(server.url, namespaces=["/p2p-console"], auth={"token": "nope-nope-nope-nope"}, transports=["websocket"],
                        wait_timeout=WAIT_S)
        assert errors and errors[0]["data"]["code"] == "wrong_token", errors
        assert api(server.url, "/games/..x/timeline")[0] == 400
        assert api(server.url, "/games/nope/timeline")[0] == 404
        assert api(server.url, "/recruitment", "POST", {"open": "no"})[0] == 400


def test_no_researcher_token_no_console(tmp_path: Path) -> None:
    with running_server(make_stager(make_scene()), tmp_path) as server:
        assert server.context.extra["console"] is None
        assert api(server.url, "")[0] == 404
        assert api(server.url, "/recruitment", "POST", {"open": False})[0] == 404
        with pytest.raises(socketio.exceptions.ConnectionError):
            ConsoleClient(server.url, {"token": TOKEN})
        # Players still report (they cannot know); the reports are accepted and dropped.
        clients, ready = start_game(server)
        try:
            assert clients["pa"].call("telemetry", telemetry(ready["pa"]["game_id"], 0)) == {"ok": True}
        finally:
            for c in clients.values():
                c.close()


def test_closed_recruitment_refuses_new_arrivals_only(tmp_path: Path) -> None:
    with running_server(make_stager(make_scene()), tmp_path, researcher_token=TOKEN) as server:
        inside = ParticipantClient(server.url, "early-bird")
        inside.log.wait("activate_scene")
        inside.close()
        status, body = api(server.url, "/recruitment", "POST", {"open": False})
        assert status == 200 and body["recruitment"]["open"] is False
        # A new arrival gets the study_full outcome page (docs/participants.md), not the study.
        late = ParticipantClient(server.url, "latecomer")
        page = late.log.wait("study_end")
        assert (page["outcome"], page["reason"]) == ("study_full", "closed"), page
        assert late.log.count("activate_scene") == 0
        late.close()
        again = ParticipantClient(server.url, "early-bird")  # already in the study: goes on
        again.log.wait("activate_scene")
        again.close()
        assert api(server.url, "", token=TOKEN)[1]["recruitment"]["open"] is False
    # The flag survives a restart on the same data directory.
    with running_server(make_stager(make_scene()), tmp_path, researcher_token=TOKEN) as server:
        assert api(server.url, "")[1]["recruitment"]["open"] is False
        assert api(server.url, "/recruitment", "POST", {"open": True})[1]["recruitment"]["open"] is True
        newcomer = ParticipantClient(server.url, "newcomer")  # "latecomer" keeps its study_full outcome
        newcomer.log.wait("activate_scene")
        newcomer.close()


def test_the_feed_costs_nothing_while_nobody_watches(tmp_path: Path) -> None:
    with running_server(make_stager(make_scene()), tmp_path, researcher_token=TOKEN, console_interval_s=0.05) as server:
        ns = server.context.extra["console_namespace"]
        watcher = ConsoleClient(server.url, {"token": TOKEN})
        watcher.log.wait("console_state", lambda s: True)
        done = threading.Event()
        watcher.sio.on("console_state", lambda *_: done.set(), namespace="/p2p-console")
        assert done.wait(WAIT_S)
        watcher.close()
        # After the last console left: the loop only checks, it builds no snapshot.
        settled = ns.pushes
        deadline = threading.Event()
        for _ in range(10):  # ten more intervals
            deadline.wait(0.05)
        assert ns.pushes - settled <= 1 and ns.open_consoles == 0
