"""peer/signaling.py against the real server (BackgroundServer on 127.0.0.1): the participant
flow through static scenes, /p2p join and game_ready, signals relayed both ways in order,
finished, the EndScene; refusals and wait_timeout/superseded surface as SignalingError."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from interactive_gym_p2p.peer.signaling import P2P_SCENE_TYPE, PeerSignaling, SignalingError

from server_harness import make_scene, make_stager, running_server, static_scene


def is_p2p(scene: dict[str, Any]) -> bool:
    return scene.get("scene_type") == P2P_SCENE_TYPE


def test_flow_join_relay_finish_end(tmp_path: Path) -> None:
    stager = make_stager(static_scene("instructions"), make_scene("game"), static_scene("survey"))
    with running_server(stager, tmp_path) as server:
        async def scenario() -> None:
            peers = [PeerSignaling(server.url, s, timeout_s=15) for s in ("ann", "ben")]
            try:
                inbox: dict[str, asyncio.Queue[tuple[int, str, Any]]] = {p.subject_id: asyncio.Queue() for p in peers}
                for p in peers:
                    first = await p.connect()
                    assert first["scene_id"] == "start"
                    scene = await p.advance_until(is_p2p)
                    assert scene["scene_id"] == "game" and scene["p2p"]["signaling"]["subject_id"] == p.subject_id
                    p.set_signal_handler(lambda frm, kind, data, q=inbox[p.subject_id]: q.put_nowait((frm, kind, data)))
                    ack = await p.join(scene["p2p"]["signaling"]["ticket"])
                    assert ack["status"] in ("waiting", "matched")
                ready = [await p.wait_game_ready(15) for p in peers]
                assert ready[0]["game_id"] == ready[1]["game_id"]
                game_id = ready[0]["game_id"]
                index = {p.subject_id: r["player_index"] for p, r in zip(peers, ready)}
                assert sorted(index.values()) == [0, 1]
                # signals both ways, in order, with the server's data shapes
                a, b = peers
                offer = {"type": "offer", "sdp": "v=0\r\n"}
                await a.signal(game_id, index["ben"], "offer", offer)
                for k in range(5):
                    cand = {"candidate": f"candidate:{k} 1 udp 1 127.0.0.1 {4000 + k} typ relay", "sdpMid": "0",
                            "sdpMLineIndex": 0, "usernameFragment": None}
                    await a.signal(game_id, index["ben"], "candidate", cand)
                await a.signal(game_id, index["ben"], "candidate", None)
                await b.signal(game_id, index["ann"], "answer", {"type": "answer", "sdp": "v=0\r\n"})
                got_b = [await asyncio.wait_for(inbox["ben"].get(), 15) for _ in range(7)]
                assert got_b[0] == (index["ann"], "offer", offer)
                assert [g[2]["candidate"].split()[0] for g in got_b[1:6]] == [f"candidate:{k}" for k in range(5)]
                assert got_b[6] == (index["ann"], "candidate", None)
                assert await asyncio.wait_for(inbox["ann"].get(), 15) == (index["ben"], "answer", {"type": "answer", "sdp": "v=0\r\n"})
                for p in peers:
                    assert (await p.finished(game_id))["ok"]
                    await p.leave_namespace()
                    assert (await p.advance())["scene_id"] == "survey"
                    end = await p.advance_until(is_p2p)
                    assert end["scene_type"] == "EndScene"
                    with pytest.raises(SignalingError) as refused:
                        await p.advance()
                    assert refused.value.code == "at_end"
                    assert not p.p2p_events("peer_left")
            finally:
                for p in peers:
                    await p.close()

        asyncio.run(asyncio.wait_for(scenario(), 90))


def test_refusals_surface_as_errors(tmp_path: Path) -> None:
    stager = make_stager(make_scene("game", wait_timeout_s=1))
    with running_server(stager, tmp_path) as server:
        async def scenario() -> None:
            bad = PeerSignaling(server.url, "../etc", timeout_s=10)
            with pytest.raises(SignalingError) as refused:
                await bad.connect()
            assert refused.value.code == "connect_refused"
            await bad.close()

            # alone in a 2-player scene with a 1 s waiting room: wait_timeout
            lonely = PeerSignaling(server.url, "lonely", timeout_s=10)
            try:
                scene = await lonely.advance_until(is_p2p) if await lonely.connect() else None
                assert scene is not None and is_p2p(scene)
                await lonely.join(scene["p2p"]["signaling"]["ticket"])
                with pytest.raises(SignalingError) as timed_out:
                    await lonely.wait_game_ready(15)
                assert timed_out.value.code == "wait_timeout"

                # the timeout ended the study (lobby_timeout, recorded before wait_timeout was
                # sent): a new connection of the same subject at once takes over and gets the
                # outcome page instead of a scene.
                again = PeerSignaling(server.url, "lonely", timeout_s=10)
                try:
                    with pytest.raises(SignalingError) as over:
                        await again.connect()
                    assert over.value.code == "study_end"
                    assert again.outcome["outcome"] == "lobby_timeout"
                    await lonely.flow.wait("superseded", timeout=10)
                finally:
                    await again.close()
            finally:
                await lonely.close()

        asyncio.run(asyncio.wait_for(scenario(), 60))


def test_run_peer_stops_when_the_partner_leaves_before_the_start(tmp_path: Path) -> None:
    from interactive_gym_p2p.peer.runner import PeerError, run_peer

    with running_server(make_stager(make_scene("game", connection_timeout_s=600)), tmp_path) as server:
        async def scenario() -> None:
            quitter = PeerSignaling(server.url, "quitter", timeout_s=15)
            try:
                scene = await quitter.connect()
                scene = await quitter.advance_until(is_p2p)
                await quitter.join(scene["p2p"]["signaling"]["ticket"])
                peer = asyncio.create_task(run_peer(server.url, subject_id="stayer", timeout_s=600))
                ready = await quitter.wait_game_ready(15)
                # Player indices are random: when the stayer offers, its offer reaches us first
                # (it is mid-connection); when we are the offering side, it waits for our offer.
                # Either way we then give up the seat.
                (conn,) = ready["connections"]
                if conn["role"] == "answer":
                    await quitter.p2p.wait("signal", lambda d: d["kind"] == "offer", timeout=15)
                assert (await quitter.leave(ready["game_id"]))["ok"]
                with pytest.raises(PeerError, match="left before the game started"):
                    await peer
            finally:
                await quitter.close()

        asyncio.run(asyncio.wait_for(scenario(), 120))
