"""Two server processes' worth of servers sharing one real redis-server (``redis_url``): the
study is one, whichever server a participant reaches.

The servers run in this test process (threading mode, each with its own Redis connections,
message queue and place on the roll of processes), so the tests can stop one and watch the
other take over; ``tests/test_cluster_processes.py`` does the same with real processes.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from pathlib import Path

import redis

from interactive_gym_p2p.cluster.processes import ProcessRoll
from interactive_gym_p2p.cluster.client import study_prefix

from server_harness import SignalingClient, make_scene, make_stager, running_server, ticket_for


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
    tick = second.tick(now)
    assert tick.sweeper is True and tick.dead == ["first"]
