"""Real WebRTC through our TURN servers: aiortc to aiortc, relay-only.

aiortc 1.16 has ``RTCConfiguration(iceTransportPolicy=RTCIceTransportPolicy.RELAY)``: only relay
candidates are gathered and used. Each server listens on ONE transport (UDP-only or TCP-only),
so a working DataChannel proves that transport carried the relay. Signaling is in-process.
The same tests run against the embedded server (child process) and the real coturn.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from aiortc import RTCConfiguration, RTCIceServer, RTCIceTransportPolicy, RTCPeerConnection

from interactive_gym_p2p.turn import credentials
from interactive_gym_p2p.turn.coturn import CoturnError, CoturnProcess
from interactive_gym_p2p.turn.embedded import EmbeddedTurn
from interactive_gym_p2p.turn.policy import PeerPolicy
from lossy_channel import drain, send_until_arrived

SECRET = "aiortc-relay-secret"
REALM = "aiortc.realm"
OPEN_TIMEOUT = 30.0
T = 5.0


@dataclass
class Server:
    kind: str
    transport: str
    port: int

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport={self.transport}"


@pytest.fixture(scope="module", params=["embedded-udp", "embedded-tcp", "coturn-udp", "coturn-tcp"])
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    kind, transport = request.param.split("-")
    if kind == "embedded":
        turn = EmbeddedTurn(
            "127.0.0.1",
            0,
            SECRET,
            REALM,
            allow_loopback=True,  # both peers' relayed addresses are on 127.0.0.1
            udp=transport == "udp",
            tcp=transport == "tcp",
            log_level="WARNING",
        )
        turn.start()
        try:
            yield Server(kind, transport, turn.port)
        finally:
            turn.stop()
    else:
        coturn = CoturnProcess(
            SECRET,
            REALM,
            policy=PeerPolicy(allow_loopback=True),
            udp=transport == "udp",
            tcp=transport == "tcp",
        )
        try:
            coturn.start()
        except CoturnError as exc:
            pytest.fail(f"the real coturn must run for this test: {exc}")
        try:
            yield Server(kind, transport, coturn.port)
        finally:
            coturn.stop()


def rtc_config(url: str, secret: str, participant: str, now: float | None = None) -> RTCConfiguration:
    entry = credentials.ice_servers([url], secret, participant, now=now)[0]
    ice = RTCIceServer(urls=entry["urls"], username=entry["username"], credential=entry["credential"])
    return RTCConfiguration(iceServers=[ice], iceTransportPolicy=RTCIceTransportPolicy.RELAY)


async def negotiate(a: RTCPeerConnection, b: RTCPeerConnection) -> None:
    """Direct in-process signaling: full offer/answer after gathering (no trickle)."""
    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(a.localDescription)
    await b.setLocalDescription(await b.createAnswer())
    await a.setRemoteDescription(b.localDescription)


def candidate_types(sdp: str) -> list[str]:
    return [line.split(" typ ")[1].split()[0] for line in sdp.splitlines() if line.startswith("a=candidate:")]


def test_datachannel_over_relay_both_ways(server: Server) -> None:
    async def scenario() -> None:
        a = RTCPeerConnection(rtc_config(server.url, SECRET, "player-a"))
        b = RTCPeerConnection(rtc_config(server.url, SECRET, "player-b"))
        try:
            channel = a.createDataChannel("game", ordered=False, maxRetransmits=0)
            opened = asyncio.Event()
            channel.on("open", opened.set)
            at_a: asyncio.Queue[object] = asyncio.Queue()
            at_b: asyncio.Queue[object] = asyncio.Queue()
            channel.on("message", at_a.put_nowait)

            @b.on("datachannel")
            def on_datachannel(remote) -> None:  # type: ignore[no-untyped-def]
                remote.on("message", lambda m: (at_b.put_nowait(m), remote.send(b"echo:" + bytes(m))))

            await negotiate(a, b)
            assert candidate_types(a.localDescription.sdp) == ["relay"]
            assert candidate_types(b.localDescription.sdp) == ["relay"]
            await asyncio.wait_for(opened.wait(), OPEN_TIMEOUT)

            # Unordered, no retransmits: send until 20 echoes came back (either leg may lose one).
            sent, echoes = await send_until_arrived(lambda k: channel.send(f"input {k}".encode()), at_a, 20)
            payloads = {f"input {k}".encode() for k in range(sent)}
            at_b_all = drain(at_b)
            assert set(at_b_all) <= payloads and len(set(at_b_all)) == len(at_b_all)
            assert len(set(echoes)) == len(echoes) == 20
            assert all(e.startswith(b"echo:") and e[len(b"echo:"):] in at_b_all for e in echoes), echoes

            # The selected pair really is relayed on both ends (aiortc exposes it through aioice).
            for pc in (a, b):
                connection = pc.sctp.transport.transport._connection  # aioice.Connection
                pair = connection._nominated[1]
                assert pair.local_candidate.type == "relay", pair
                assert pair.remote_candidate.type == "relay", pair
                assert pair.local_candidate.host == "127.0.0.1"
                assert pair.local_candidate.port != server.port
            assert a.connectionState == "connected" and b.connectionState == "connected"
        finally:
            await a.close()
            await b.close()

    asyncio.run(asyncio.wait_for(scenario(), 90))


@pytest.mark.parametrize("problem", ["wrong-secret", "expired"])
def test_bad_credentials_cannot_connect(server: Server, problem: str) -> None:
    async def scenario() -> None:
        a = RTCPeerConnection(rtc_config(server.url, SECRET, "good-player"))
        if problem == "wrong-secret":
            bad = rtc_config(server.url, "not-" + SECRET, "bad-player")
        else:
            bad = rtc_config(server.url, SECRET, "bad-player", now=1_000_000)  # expired in 1970
        b = RTCPeerConnection(bad)
        try:
            failed = asyncio.Event()
            a.on("connectionstatechange", lambda: a.connectionState == "failed" and failed.set())
            channel = a.createDataChannel("game")
            await negotiate(a, b)
            assert candidate_types(a.localDescription.sdp) == ["relay"]
            # The refused peer has no relay candidate and, being relay-only, nothing else:
            assert candidate_types(b.localDescription.sdp) == []
            # so the good peer's ICE gives up (an event, not a timeout).
            await asyncio.wait_for(failed.wait(), OPEN_TIMEOUT)
            assert channel.readyState != "open"
        finally:
            await a.close()
            await b.close()

    asyncio.run(asyncio.wait_for(scenario(), 90))
