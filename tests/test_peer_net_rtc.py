"""peer/rtc.py over real aiortc and the embedded TURN server (relay-only, 127.0.0.1): the
browser's trickle ICE is accepted (offer/answer without candidates, then candidate signals
in Chromium's format, then null), the channel is the pre-negotiated unordered 'game'
channel, the path is read, the impairment shim follows its seeded schedule, and no public
STUN server is ever configured."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription

from interactive_gym_p2p.peer.impairment import Impairment, link_seed
from interactive_gym_p2p.peer.rtc import RtcError, RtcMesh, rtc_configuration, to_ice_servers
from interactive_gym_p2p.turn.embedded import EmbeddedTurn
from lossy_channel import drain, send_until_arrived

OPEN_S = 30.0


@pytest.fixture(scope="module")
def turn() -> Iterator[EmbeddedTurn]:
    server = EmbeddedTurn("127.0.0.1", 0, "rtc-test-secret", "rtc.realm", allow_loopback=True, log_level="WARNING")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_configuration_never_adds_a_public_server() -> None:
    assert rtc_configuration([]).iceServers == []
    assert rtc_configuration(None).iceServers == []
    config = rtc_configuration([{"urls": "turn:127.0.0.1:3478?transport=udp", "username": "u", "credential": "c"}], "relay")
    assert [s.urls for s in config.iceServers] == [["turn:127.0.0.1:3478?transport=udp"]]
    assert config.iceTransportPolicy.value == "relay"
    with pytest.raises(RtcError):
        rtc_configuration([], "none")
    with pytest.raises(RtcError):
        to_ice_servers([{"urls": 3}])


def split_candidates(sdp: str) -> tuple[str, list[str]]:
    """An SDP without its a=candidate lines (a trickling browser's offer) and those candidates."""
    lines = sdp.split("\r\n")
    cands = [l[len("a="):] for l in lines if l.startswith("a=candidate:")]
    rest = [l for l in lines if not l.startswith("a=candidate:") and l != "a=end-of-candidates"]
    return "\r\n".join(rest), cands


def test_mesh_accepts_browser_style_trickle(turn: EmbeddedTurn) -> None:
    async def scenario() -> None:
        received: asyncio.Queue[bytes] = asyncio.Queue()
        to_browser: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        async def send_signal(to: int, kind: str, data: Any) -> None:
            assert to == 1
            to_browser.put_nowait((kind, data))

        # we are player 0 (we offer); the "browser" is player 1 and answers + trickles
        mesh = RtcMesh(0, [1], send_signal, ice_servers=turn.ice_servers("py"), ice_transport_policy="relay",
                       on_message=lambda peer, data: received.put_nowait(data))
        browser = RTCPeerConnection(rtc_configuration(turn.ice_servers("browser"), "relay"))
        channel = browser.createDataChannel("game", ordered=False, maxRetransmits=0, negotiated=True, id=0)
        at_browser: asyncio.Queue[Any] = asyncio.Queue()
        channel.on("message", at_browser.put_nowait)
        opened = asyncio.Event()
        channel.on("open", opened.set)
        try:
            await mesh.start()
            kind, offer = await asyncio.wait_for(to_browser.get(), OPEN_S)
            assert kind == "offer" and offer["type"] == "offer" and "a=candidate:" in offer["sdp"]  # complete SDP
            assert "webrtc-datachannel" in offer["sdp"]
            await browser.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
            await browser.setLocalDescription(await browser.createAnswer())
            bare, candidates = split_candidates(browser.localDescription.sdp)
            assert candidates, "the browser side must have a relay candidate"
            await mesh.handle_signal(1, "answer", {"type": "answer", "sdp": bare})
            for c in candidates:  # Chromium's format: 'candidate:...' plus its extensions
                await mesh.handle_signal(1, "candidate", {"candidate": c + " generation 0 network-id 1", "sdpMid": "0",
                                                          "sdpMLineIndex": 0, "usernameFragment": None})
            await mesh.handle_signal(1, "candidate", {"candidate": "candidate:1 1 udp 1 abc.local 9 typ host",
                                                      "sdpMid": "0", "sdpMLineIndex": 0})
            await mesh.handle_signal(1, "candidate", None)
            await mesh.wait_open(OPEN_S)
            await asyncio.wait_for(opened.wait(), OPEN_S)
            # Unordered, no retransmits: a message may be lost, so each side sends until one arrives.
            to_browser_sent, got = await send_until_arrived(lambda k: mesh.send(1, b"\x04"), at_browser, 1)
            assert got == [b"\x04"]
            from_browser = [b"\x01\x02", "text"]  # bytes and a text message (delivered as its UTF-8 bytes)
            from_browser_sent, got = await send_until_arrived(lambda k: channel.send(from_browser[k % 2]), received, 2)
            got += drain(received)
            assert set(got) <= {b"\x01\x02", b"text"} and len(got) <= from_browser_sent, got
            path = mesh.path(1)
            assert path is not None and path["kind"] == "relay" and path["protocol"] == "udp"
            assert path["remote_candidate_type"] == "relay"  # learnt from a trickled candidate, not prflx
            stats = mesh.stats()
            assert stats["messages_sent"] == to_browser_sent and stats["messages_received"] == len(got)
            assert stats["per_peer"][1]["skipped_candidates"] == 1  # the mDNS one
            # candidates after the end and garbage are ignored, not fatal
            await mesh.handle_signal(1, "candidate", {"candidate": "candidate:nonsense", "sdpMid": "0"})
            await mesh.handle_signal(1, "restart", None)
            assert mesh.stats()["per_peer"][1]["restart_requests"] == 1
            drain(at_browser)
            _, got = await send_until_arrived(lambda k: mesh.send(1, b"\x04"), at_browser, 1)
            assert got == [b"\x04"]
        finally:
            await mesh.close()
            await browser.close()

    asyncio.run(asyncio.wait_for(scenario(), 90))


def test_impairment_follows_the_seeded_schedule(turn: EmbeddedTurn) -> None:
    settings = {"delay_ms": 30, "jitter_ms": 20, "loss": 0.2, "duplicate": 0.1, "seed": 1234}

    async def scenario() -> None:
        meshes: dict[int, RtcMesh] = {}
        got: asyncio.Queue[bytes] = asyncio.Queue()

        def sender(frm: int) -> Any:
            async def send(to: int, kind: str, data: Any) -> None:
                asyncio.get_running_loop().create_task(meshes[to].handle_signal(frm, kind, data))
            return send

        meshes[0] = RtcMesh(0, [1], sender(0), ice_servers=turn.ice_servers("a"), ice_transport_policy="relay",
                            impairment=settings)
        meshes[1] = RtcMesh(1, [0], sender(1), ice_servers=turn.ice_servers("b"), ice_transport_policy="relay",
                            on_message=lambda p, d: got.put_nowait(d))
        try:
            await asyncio.gather(meshes[0].start(), meshes[1].start())
            await asyncio.gather(meshes[0].wait_open(OPEN_S), meshes[1].wait_open(OPEN_S))
            # Warm-up through the shim until one message arrives (fresh bytes [5, k]): the path
            # carries messages before the measured burst, whose losses are then the shim's.
            warm, _ = await send_until_arrived(lambda k: meshes[0].send(1, bytes([5, k])), got, 1)
            for k in range(100):
                meshes[0].send(1, bytes([4, k]))
            full_log = meshes[0].impairment_log(1)
            assert full_log is not None and len(full_log) == warm + 100
            log = full_log[warm:]
            # the same seed and times give the same schedule (the browser shim's streams)
            twin = Impairment.from_settings(settings, seed=link_seed(1234, 0, 1))
            assert [twin.schedule(e["t"], e["size"]) for e in full_log] == [e["deliveries"] for e in full_log]
            expected = [bytes([4, k]) for k, e in enumerate(log) for _ in e["deliveries"]]
            assert 0 < sum(1 for e in log if not e["deliveries"]) < 100  # some dropped
            # The channel itself may lose a scheduled delivery: wait for all, but judge what came.
            arrived: list[bytes] = []
            try:
                while len(arrived) < len(expected):
                    m = await asyncio.wait_for(got.get(), 10)
                    if m[0] == 4:
                        arrived.append(m)
            except asyncio.TimeoutError:
                pass
            missing = list(expected)
            for m in arrived:
                assert m in missing, f"{m!r} arrived more often than scheduled"
                missing.remove(m)
            assert len(arrived) >= len(expected) // 2, f"only {len(arrived)} of {len(expected)} scheduled deliveries arrived"
            assert meshes[0].stats()["messages_dropped"] == sum(1 for e in full_log if not e["deliveries"])
        finally:
            await asyncio.gather(meshes[0].close(), meshes[1].close())

    asyncio.run(asyncio.wait_for(scenario(), 90))
