"""Two server processes' worth of servers sharing one real redis-server (``redis_url``): the
study is one, whichever server a participant reaches.

The servers run in this test process (threading mode, each with its own Redis connections,
message queue and place on the roll of processes), so the tests can stop one and watch the
other take over; ``tests/test_cluster_processes.py`` does the same with real processes.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis

from interactive_gym_p2p.server import BackgroundServer, ServerConfig
from interactive_gym_p2p.cluster.processes import ProcessRoll
from interactive_gym_p2p.cluster.client import study_prefix

from redis_support import RedisServer
from server_harness import SignalingClient, make_scene, make_stager, no_screening, running_server, ticket_for


def offer(game_id: str, to: int, sdp: str) -> dict:
    return {"game_id": game_id, "to": to, "kind": "offer", "data": {"type": "offer", "sdp": sdp}}


def test_participants_on_two_servers_are_matched_and_signal_each_other(redis_url: str, tmp_path: Path) -> None:
    stager = make_stager(make_scene())
    with ExitStack() as stack:
        one = stack.enter_context(running_server(stager, tmp_path, redis_url=redis_url))
        two = stack.enter_context(running_server(stager, tmp_path, redis_url=redis_url))
        a = SignalingClient(one.url, ticket_for(one, "a"))
        b = SignalingClient(two.url, ticket_for(one, "b"))  # a ticket from one server is good on the other
        stack.callback(a.close)
        stack.callback(b.close)
        assert a.join()["status"] == "waiting"
        assert b.join()["status"] == "matched"
        ready_a, ready_b = a.log.wait("game_ready"), b.log.wait("game_ready")
        assert ready_a["game_id"] == ready_b["game_id"] and {ready_a["player_index"], ready_b["player_index"]} == {0, 1}
        assert ready_a["seed"] == ready_b["seed"]
        # A signal sent through one server reaches the player the other server holds.
        game_id = ready_a["game_id"]
        assert a.call("signal", offer(game_id, ready_b["player_index"], "from-a")) == {"ok": True}
        assert b.log.wait("signal")["data"]["sdp"] == "from-a"
        assert b.call("signal", offer(game_id, ready_a["player_index"], "from-b")) == {"ok": True}
        assert a.log.wait("signal")["data"]["sdp"] == "from-b"
        # An event id is delivered once, whichever server emits it and however often (a dead
        # process's outbox re-delivered by another: tests/test_cluster_processes.py).
        sid_a = a.sio.get_sid(namespace="/p2p")
        for server, n in ((two, 1), (one, 2), (two, 3)):
            server.socketio.server.manager.emit_once("outbox_test", {"n": n}, "/p2p", sid_a, "step-x.0")
        two.socketio.server.manager.emit_once("outbox_test", {"n": 4}, "/p2p", sid_a, "step-y.0")
        a.log.wait("outbox_test", lambda d: d["n"] == 4)
        assert [d["n"] for d in a.log.of("outbox_test")] in ([1, 4], [2, 4])
        # Both servers see the same study.
        stats = [s.app.test_client().get("/p2p/health").get_json() for s in (one, two)]
        assert stats[0]["process"] != stats[1]["process"]
        assert stats[0]["games"] == stats[1]["games"] == 1


def test_a_server_that_stops_hands_its_seats_to_the_grace_period_and_they_resume_elsewhere(redis_url: str,
                                                                                              tmp_path: Path) -> None:
    stager = make_stager(make_scene(reconnect_grace_s=30))
    with ExitStack() as stack:
        one = stack.enter_context(running_server(stager, tmp_path, redis_url=redis_url, sweep_interval_s=0.05))
        with running_server(stager, tmp_path, redis_url=redis_url, sweep_interval_s=0.05) as two:
            a = SignalingClient(one.url, ticket_for(one, "a"))
            b = SignalingClient(two.url, ticket_for(one, "b"))
            stack.callback(a.close)
            stack.callback(b.close)
            a.join()
            b.join()
            ready_b = b.log.wait("game_ready")
            game_id = ready_b["game_id"]
        # Server two is gone (it left the roll): server one's sweep closes its sockets' seats.
        interrupted = a.log.wait("peer_interrupted")
        assert interrupted == {"game_id": game_id, "player_index": ready_b["player_index"], "grace_s": 30}
        # b's page still plays over WebRTC; its socket comes back through server one.
        back = SignalingClient(one.url, ticket_for(one, "b"))
        stack.callback(back.close)
        assert back.join_playing(game_id) == {"ok": True, "status": "rejoined", "game_id": game_id, "resumed": True}
        assert back.log.wait("game_ready")["resumed"] is True
        assert a.log.wait("peer_rejoined") == {"game_id": game_id, "player_index": ready_b["player_index"], "resumed": True}
        assert not a.log.of("peer_left")


def test_the_roll_of_processes(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    prefix = study_prefix("roll-test")
    first = ProcessRoll(client, prefix, "first", dead_after_s=2.0, beat_s=1.0)
    second = ProcessRoll(client, prefix, "second", dead_after_s=2.0, beat_s=1.0)
    now = time.time()
    assert first.tick(now).sweeper is True  # one sweeper at a time: the first to ask holds the lease
    assert second.tick(now).sweeper is False
    assert set(first.members()) == {"first", "second"}
    # "second" stops beating; once it is older than dead_after_s the sweeper claims it, once.
    client.hset(prefix + "processes", "second", repr(now - 10))
    assert first.tick(now).dead == ["second"]
    assert first.tick(now).dead == []
    # A process struck off while it stalled finds out at its next beat.
    second._last_beat = float("-inf")
    assert second.tick(now).evicted is True
    # A clean exit gives up the lease at once and marks the process gone.
    first.leave()
    assert first.members()["first"] == 0.0
    # A tick already under way when the process left (past the left check) neither beats nor takes
    # the lease (seen: a SIGTERMed process back on the roll with a fresh beat).
    first._left, first._last_beat = False, float("-inf")
    assert first.tick(now).sweeper is False and first.members()["first"] == 0.0
    tick = second.tick(now)
    assert tick.sweeper is True and tick.dead == ["first"]


def test_the_participant_flow_continues_on_another_server(redis_url: str, tmp_path: Path) -> None:
    from interactive_gym_p2p.participants.study import Study
    from server_harness import ParticipantClient, static_scene

    study = Study().screening(webrtc=False, turn=False).outcomes(partner_left="PL1", error="ER1")
    stager = make_stager(static_scene("survey"), make_scene())
    with ExitStack() as stack:
        one = stack.enter_context(running_server(stager, tmp_path, redis_url=redis_url, study=study))
        two = stack.enter_context(running_server(stager, tmp_path, redis_url=redis_url, study=study))
        page = ParticipantClient(one.url, "pat")
        stack.callback(page.close)
        assert page.log.wait("activate_scene")["scene_id"] == "start"
        assert page.call("advance_scene", {"scene_id": "start"}) == {"ok": True, "scene_id": "survey"}
        assert page.call("static_scene_data_emission", {"scene_id": "survey", "data": {"age": "30"}})["ok"]
        page.close()
        # The page comes back through the other server: the scene it was in, not the start.
        again = ParticipantClient(two.url, "pat")
        stack.callback(again.close)
        assert again.log.wait("activate_scene")["scene_id"] == "survey"
        assert two.context.extra["participants"].find("pat").scene_data == {"survey": {"age": "30"}}
        assert again.call("advance_scene", {"scene_id": "survey"}) == {"ok": True, "scene_id": "game"}
        # A second tab through the first server takes over from the page on the second.
        tab = ParticipantClient(one.url, "pat")
        stack.callback(tab.close)
        assert tab.log.wait("activate_scene")["scene_id"] == "game"
        again.log.wait("superseded")
        # One outcome, whichever server records it; every later report is told the one that stands.
        first = tab.call("study_outcome", {"outcome": "error", "reason": "internal"})
        assert first["recorded"] is True and first["page"]["code"] == "ER1"
        late = ParticipantClient(two.url, "pat")
        stack.callback(late.close)
        assert late.log.wait("study_end")["outcome"] == "error"  # the study is over on every server
        assert late.call("advance_scene", {"scene_id": "game"})["error"]["code"] == "study_over"
        outcome = json.loads((tmp_path / "data" / "participants" / "pat" / "outcome.json").read_text())
        assert (outcome["outcome"], outcome["code"]) == ("error", "ER1")


def test_an_outcome_decided_by_one_server_reaches_the_page_on_another(redis_url: str, tmp_path: Path) -> None:
    from interactive_gym_p2p.participants.study import Study
    from server_harness import ParticipantClient

    study = Study().screening(webrtc=False, turn=False).outcomes(lobby_timeout="LT1")
    stager = make_stager(make_scene(wait_timeout_s=1))
    with ExitStack() as stack:
        one = stack.enter_context(running_server(stager, tmp_path, redis_url=redis_url, study=study, sweep_interval_s=0.05))
        two = stack.enter_context(running_server(stager, tmp_path, redis_url=redis_url, study=study, sweep_interval_s=0.05))
        page = ParticipantClient(two.url, "lou")  # the page's flow socket is on server two
        stack.callback(page.close)
        page.log.wait("activate_scene")
        ticket = page.call("advance_scene", {"scene_id": "start"})
        assert ticket["scene_id"] == "game"
        ticket = page.log.wait("activate_scene", lambda d: d["scene_id"] == "game")["p2p"]["signaling"]["ticket"]
        waiting = SignalingClient(one.url, ticket)  # its signaling socket on server one
        stack.callback(waiting.close)
        assert waiting.join()["status"] == "waiting"
        # Nobody comes: the waiting-room clock ends the study (whichever server sweeps), and the
        # page hears it on its own server.
        end = page.log.wait("study_end")
        assert (end["outcome"], end["code"]) == ("lobby_timeout", "LT1")
        assert page.call("advance_scene", {"scene_id": "game"})["error"]["code"] == "study_over"


def test_a_server_that_stops_stops_listening_on_the_message_queue(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The Socket.IO message queue's listener (python-socketio retries for ever) ends with the
    server: once Redis goes too, nothing is left trying to receive from it."""
    caplog.set_level(logging.ERROR)
    own = RedisServer(tmp_path / "redis").start()
    try:
        server = BackgroundServer(make_stager(make_scene()), ServerConfig(
            host="127.0.0.1", port=0, data_dir=tmp_path / "data", redis_url=own.url, study=no_screening()))
        server.start()
        client = SignalingClient(server.url, ticket_for(server, "a"))
        assert client.join()["status"] == "waiting"  # the listener runs (a socket connected)
        manager = server.socketio.server.manager
        listener = manager.thread
        assert listener.is_alive()
        client.close()
        server.stop()
        listener.join(5)
        assert not listener.is_alive()
    finally:
        own.stop()
    assert not [r for r in caplog.records if "receive from redis" in r.getMessage().lower()]
    assert not [r for r in caplog.records if "exited unexpectedly" in r.getMessage()]
