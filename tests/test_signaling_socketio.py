"""Signaling over real sockets: a real server on 127.0.0.1 and real python-socketio clients."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import socketio

from interactive_gym_p2p.signaling import GameInfo, Rate, SignalingLimits

from server_harness import SignalingClient, make_scene, make_stager, running_server, ticket_for


def offer(game_id: str, to: int, sdp: str = "v=0") -> dict[str, Any]:
    return {"game_id": game_id, "to": to, "kind": "offer", "data": {"type": "offer", "sdp": sdp}}


def join_all(url: str, server: Any, subjects: list[str]) -> dict[str, SignalingClient]:
    clients = {s: SignalingClient(url, ticket_for(server, s)) for s in subjects}
    for client in clients.values():
        assert client.join()["ok"]
    return clients


def close_all(clients: Any) -> None:
    for client in clients:
        client.close()


def test_two_players_matched_and_signals_relayed_in_order(tmp_path: Path) -> None:
    created: list[GameInfo] = []
    with running_server(make_stager(make_scene()), tmp_path, on_game_created=created.append) as server:
        clients = join_all(server.url, server, ["alice", "bob"])
        try:
            ready = {s: c.log.wait("game_ready") for s, c in clients.items()}
            a, b = ready["alice"], ready["bob"]
            assert a["game_id"] == b["game_id"] and a["seed"] == b["seed"]
            assert {a["player_index"], b["player_index"]} == {0, 1}
            assert a["settings"]["p2p"]["players"] == 2 and a["ice_servers"] == []
            offerer, answerer = ("alice", "bob") if a["player_index"] == 0 else ("bob", "alice")
            o, r = clients[offerer], clients[answerer]
            game_id = a["game_id"]
            assert o.call("signal", offer(game_id, 1, "offer-sdp")) == {"ok": True}
            for n in range(5):
                cand = {"candidate": f"candidate:{n} 1 udp 1 10.0.0.1 {9000 + n} typ host", "sdpMid": "0", "sdpMLineIndex": 0}
                o.emit("signal", {"game_id": game_id, "to": 1, "kind": "candidate", "data": cand})
            o.emit("signal", {"game_id": game_id, "to": 1, "kind": "candidate", "data": None})
            r.log.wait("signal", lambda d: d["data"] is None)
            got = r.log.of("signal")
            assert [g["kind"] for g in got] == ["offer"] + ["candidate"] * 6
            assert got[0]["data"] == {"type": "offer", "sdp": "offer-sdp"} and got[0]["from"] == 0
            assert [g["data"]["candidate"].split()[0] for g in got[1:6]] == [f"candidate:{n}" for n in range(5)]
            assert r.call("signal", {"game_id": game_id, "to": 0, "kind": "answer", "data": {"type": "answer", "sdp": "ans"}}) == {"ok": True}
            assert o.log.wait("signal")["data"] == {"type": "answer", "sdp": "ans"}
            assert r.call("relay", {"game_id": game_id, "to": 0, "data": b"\x04"}) == {"ok": True}
            assert o.log.wait("relay") == {"game_id": game_id, "from": 1, "data": b"\x04"}
        finally:
            close_all(clients.values())
    assert len(created) == 1 and created[0].game_id == a["game_id"] and created[0].seed == a["seed"]


def test_three_players_full_mesh(tmp_path: Path) -> None:
    with running_server(make_stager(make_scene(players=3)), tmp_path) as server:
        clients = join_all(server.url, server, ["p1", "p2", "p3"])
        try:
            ready = {s: c.log.wait("game_ready") for s, c in clients.items()}
            assert sorted(r["player_index"] for r in ready.values()) == [0, 1, 2]
            by_index = {r["player_index"]: clients[s] for s, r in ready.items()}
            game_id = ready["p1"]["game_id"]
            for i in range(3):
                for j in range(i + 1, 3):  # the lower index offers
                    assert by_index[i].call("signal", offer(game_id, j, f"{i}->{j}")) == {"ok": True}
            for j in range(3):
                for i in range(j):
                    by_index[j].log.wait("signal", lambda d, i=i: d["data"]["sdp"] == f"{i}->{j}" and d["from"] == i)
                assert by_index[j].call("join")["status"] == "rejoined"  # barrier: nothing else arrives
                assert len(by_index[j].log.of("signal")) == j
        finally:
            close_all(clients.values())


def test_wait_timeout_with_a_clear_message(tmp_path: Path) -> None:
    with running_server(make_stager(make_scene(wait_timeout_s=1)), tmp_path) as server:
        client = SignalingClient(server.url, ticket_for(server, "lonely"))
        try:
            assert client.join() == {"ok": True, "status": "waiting"}
            waiting = client.log.wait("waiting")
            assert waiting["players_needed"] == 2 and waiting["players_waiting"] == 1
            timeout = client.log.wait("wait_timeout")
            assert timeout["reason"] == "no_match" and timeout["scene_id"] == "game"
            assert "no other participant" in timeout["message"]
        finally:
            client.close()


def test_hundred_concurrent_games_are_isolated(tmp_path: Path) -> None:
    subjects = [f"s{n:03d}" for n in range(200)]
    with running_server(make_stager(make_scene()), tmp_path) as server:
        clients = {s: SignalingClient(server.url, ticket_for(server, s)) for s in subjects}
        try:
            with ThreadPoolExecutor(max_workers=16) as pool:
                assert all(ack["ok"] for ack in pool.map(lambda c: c.join(), clients.values()))
            ready = {s: c.log.wait("game_ready") for s, c in clients.items()}
            games: dict[str, list[str]] = {}
            for subject, r in ready.items():
                games.setdefault(r["game_id"], []).append(subject)
            assert len(games) == 100 and all(len(members) == 2 for members in games.values())
            assert len({ready[m[0]]["seed"] for m in games.values()}) > 90  # u32 seeds, independent per game

            def send(subject: str) -> dict[str, Any]:
                r = ready[subject]
                return clients[subject].call("signal", offer(r["game_id"], 1 - r["player_index"], f"from-{subject}"))

            with ThreadPoolExecutor(max_workers=16) as pool:
                assert all(ack == {"ok": True} for ack in pool.map(send, subjects))
            # Barrier: an ack is sent after everything emitted to that socket before it.
            for client in clients.values():
                assert client.join()["status"] == "rejoined"
            for game_id, (x, y) in games.items():
                assert [s["data"]["sdp"] for s in clients[x].log.of("signal")] == [f"from-{y}"]
                assert [s["data"]["sdp"] for s in clients[y].log.of("signal")] == [f"from-{x}"]
        finally:
            close_all(clients.values())


def test_malformed_oversized_and_flooding(tmp_path: Path) -> None:
    limits = SignalingLimits(signal_rate=Rate(per_second=1, burst=5), max_violations=40)
    with running_server(make_stager(make_scene()), tmp_path, limits=limits, max_socket_message_bytes=64 * 1024) as server:
        clients = join_all(server.url, server, ["a", "b"])
        try:
            ra, rb = clients["a"].log.wait("game_ready"), clients["b"].log.wait("game_ready")
            a, b = clients["a"], clients["b"]
            game_id = ra["game_id"]
            cases = [
                ("not a dict", "malformed"),
                ({"game_id": game_id}, "malformed"),
                ({"game_id": game_id, "to": "one", "kind": "offer", "data": {}}, "malformed"),
                (offer(game_id, rb["player_index"], "x" * 20_000), "oversized"),
            ]
            for payload, code in cases:
                ack = a.call("signal", payload)
                assert ack["ok"] is False and ack["error"]["code"] == code, (payload, ack)
            assert a.call("signal", "one", "two")["error"]["code"] == "malformed"
            assert a.call("join", [1, 2])["error"]["code"] == "malformed"
            assert a.call("finished", {"game_id": "../x"})["error"]["code"] == "malformed"
            error = a.log.wait("signal_error")
            assert error["event"] == "signal" and error["code"] == "malformed"
            assert not b.log.of("signal")
            # Rate limit: 5 at once, then 1/s.
            acks = [a.call("signal", offer(game_id, rb["player_index"], f"n{n}")) for n in range(12)]
            refused = [x for x in acks if not x["ok"]]
            assert refused and all(x["error"]["code"] == "rate_limited" for x in refused)
            assert len(acks) - len(refused) < 12
            # Flooding on: the server gives up on the socket; the peer is unaffected.
            for _ in range(40):
                a.emit("signal", "junk")
            assert a.disconnected.wait(15), "a flooding socket was not disconnected"
            assert b.log.wait("peer_interrupted")["player_index"] == ra["player_index"]
            # A packet above the transport limit closes that connection only.
            c = SignalingClient(server.url, ticket_for(server, "c"))
            c.emit("signal", {"blob": "y" * 100_000})
            assert c.disconnected.wait(15), "an oversized packet did not close the connection"
            assert b.sio.connected and b.call("join")["status"] == "rejoined"
        finally:
            close_all(clients.values())


def test_client_not_in_the_game_is_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with running_server(make_stager(make_scene()), tmp_path) as server:
        clients = join_all(server.url, server, ["a", "b", "c", "d"])
        outsider = SignalingClient(server.url, ticket_for(server, "e"))  # ticket, but never joined
        try:
            ready = {s: c.log.wait("game_ready") for s, c in clients.items()}
            victim_game = ready["a"]["game_id"]
            intruder = next(s for s in ("c", "d") if ready[s]["game_id"] != victim_game)
            with caplog.at_level("WARNING", logger="interactive_gym_p2p.signaling.core"):
                ack = clients[intruder].call("signal", offer(victim_game, 0, "intrusion"))
                assert ack["error"]["code"] == "not_in_game"
                assert outsider.call("signal", offer(victim_game, 1, "intrusion"))["error"]["code"] == "not_in_game"
                assert outsider.call("relay", {"game_id": victim_game, "to": 0, "data": b"\x04"})["error"]["code"] == "not_in_game"
            assert any("not a live member" in r.getMessage() and victim_game in r.getMessage() for r in caplog.records)
            for s in ("a", "b"):
                assert clients[s].call("join")["status"] == "rejoined"  # barrier
                assert not clients[s].log.of("signal") and not clients[s].log.of("relay")
        finally:
            close_all([*clients.values(), outsider])


def test_connect_without_a_valid_ticket_is_refused(tmp_path: Path) -> None:
    with running_server(make_stager(make_scene()), tmp_path) as server:
        forged = ticket_for(server, "a")[:-4] + "0000"
        for ticket in (None, forged, "garbage"):
            client = SignalingClient(server.url, ticket, connect=False)
            with pytest.raises(socketio.exceptions.ConnectionError):
                client.connect()
            assert client.connect_errors and "invalid ticket" in client.connect_errors[0]["message"]
            assert client.connect_errors[0]["data"] == {"code": "invalid_ticket"}
        unknown_scene = server.context.tickets.issue("a", "no_such_scene", 1)
        client = SignalingClient(server.url, unknown_scene, connect=False)
        with pytest.raises(socketio.exceptions.ConnectionError):
            client.connect()
        assert client.connect_errors[0]["data"] == {"code": "unknown_scene"}


def test_reconnect_within_the_grace_period(tmp_path: Path) -> None:
    with running_server(make_stager(make_scene(reconnect_grace_s=30)), tmp_path) as server:
        clients = join_all(server.url, server, ["a", "b"])
        again = None
        try:
            ra = clients["a"].log.wait("game_ready")
            # a's page plays the game (it signalled): a new page of it later is a reload.
            to_b = clients["b"].log.wait("game_ready")["player_index"]
            assert clients["a"].call("signal", offer(ra["game_id"], to_b, "first")) == {"ok": True}
            clients["a"].close()
            interrupted = clients["b"].log.wait("peer_interrupted")
            assert interrupted == {"game_id": ra["game_id"], "player_index": ra["player_index"], "grace_s": 30}
            again = SignalingClient(server.url, ticket_for(server, "a"))
            assert again.join() == {"ok": True, "status": "rejoined", "game_id": ra["game_id"], "resumed": False}
            back = again.log.wait("game_ready")
            assert back["rejoin"] is True and back["resumed"] is False
            assert (back["player_index"], back["seed"], back["upload"]) == (ra["player_index"], ra["seed"], ra["upload"])
            assert clients["b"].log.wait("peer_rejoined") == {"game_id": ra["game_id"], "player_index": ra["player_index"],
                                                              "resumed": False}
            assert clients["b"].call("signal", offer(ra["game_id"], ra["player_index"], "renegotiate")) == {"ok": True}
            assert again.log.wait("signal")["data"]["sdp"] == "renegotiate"
            assert not clients["b"].log.of("peer_left")
            # The same page's socket drops and comes back while its game goes on over WebRTC
            # (e.g. its server process died): it names its game, nothing is renegotiated.
            again.close()
            clients["b"].log.wait("peer_interrupted", lambda d: clients["b"].log.count("peer_interrupted") == 2)
            resumed = SignalingClient(server.url, ticket_for(server, "a"))
            assert resumed.join_playing(ra["game_id"]) == {"ok": True, "status": "rejoined", "game_id": ra["game_id"],
                                                            "resumed": True}
            assert resumed.log.wait("game_ready")["resumed"] is True
            assert clients["b"].log.wait("peer_rejoined", lambda d: d["resumed"]) == {
                "game_id": ra["game_id"], "player_index": ra["player_index"], "resumed": True}
            # A socket that takes over a seat whose old socket is not noticed gone yet: the
            # others were never told it was away, so they hear nothing at all.
            takeover = SignalingClient(server.url, ticket_for(server, "a"))
            assert takeover.join_playing(ra["game_id"])["resumed"] is True
            resumed.log.wait("superseded")
            assert clients["b"].log.count("peer_rejoined") == 2
            again = takeover
            resumed.close()
        finally:
            close_all([*clients.values(), *([again] if again else [])])


def test_reconnect_after_the_grace_period(tmp_path: Path) -> None:
    with running_server(make_stager(make_scene(reconnect_grace_s=1, disconnect_policy="end")), tmp_path) as server:
        # What the ledger held for a when the server sent b peer_left (the real transport sends it).
        outcome_at_peer_left: list[Any] = []
        signaling = server.context.signaling
        transport = signaling.transport

        class Watching:
            def emit(self, event: str, payload: Any, sid: str) -> None:
                if event == "peer_left":
                    outcome_at_peer_left.append(server.context.ledger.outcome_of("a"))
                transport.emit(event, payload, sid)

        signaling.transport = Watching()
        clients = join_all(server.url, server, ["a", "b"])
        late = None
        try:
            ra = clients["a"].log.wait("game_ready")
            clients["a"].close()
            left = clients["b"].log.wait("peer_left")
            assert left == {"game_id": ra["game_id"], "player_index": ra["player_index"], "reason": "disconnected", "policy": "end", "game_over": True}
            # The dropped seat ended a's study (connection_failed:server), recorded before anyone
            # heard of it: a join at once (no wait for the flow's hook) finds no seat any more.
            [outcome] = outcome_at_peer_left
            assert outcome is not None and (outcome.outcome, outcome.reason, outcome.game_id) == (
                "connection_failed", "server", ra["game_id"])
            late = SignalingClient(server.url, ticket_for(server, "a"))
            assert late.join()["error"]["code"] == "study_over"
        finally:
            close_all([*clients.values(), *([late] if late else [])])


def test_a_second_socket_supersedes_the_first(tmp_path: Path) -> None:
    with running_server(make_stager(make_scene()), tmp_path) as server:
        clients = join_all(server.url, server, ["a", "b"])
        second = SignalingClient(server.url, ticket_for(server, "a"))
        try:
            ra = clients["a"].log.wait("game_ready")
            to_b = clients["b"].log.wait("game_ready")["player_index"]
            assert clients["a"].call("signal", offer(ra["game_id"], to_b, "first")) == {"ok": True}
            assert second.join()["status"] == "rejoined"
            assert clients["a"].log.wait("superseded")
            assert clients["a"].disconnected.wait(15)
            assert clients["b"].log.wait("peer_rejoined")["player_index"] == ra["player_index"]
        finally:
            close_all([*clients.values(), second])


def test_failing_hook_does_not_stop_matchmaking(tmp_path: Path) -> None:
    calls = threading.Event()

    def hook(info: GameInfo) -> None:
        calls.set()
        raise RuntimeError("store unavailable")

    with running_server(make_stager(make_scene()), tmp_path, on_game_created=hook) as server:
        clients = join_all(server.url, server, ["a", "b"])
        try:
            assert clients["a"].log.wait("game_ready") and clients["b"].log.wait("game_ready")
            assert calls.is_set()
        finally:
            close_all(clients.values())
