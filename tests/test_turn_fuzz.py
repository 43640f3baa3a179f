"""Malformed STUN never crashes the TURN server.

Seeded random bytes, seeded mutations of real messages (captured from aiortc's TURN client
talking to our server, plus every message type our codec builds), and correctly *signed*
requests with garbage attribute values (to get past authentication into the handlers), over UDP
and over TCP. Afterwards the server must still answer a Binding, still allocate and relay, and
(in-process) must have logged no internal error. The same is run against the real child
process started by EmbeddedTurn.

Relaying is confined to one dedicated loopback address (127.77.0.1) so that fuzzed peer
addresses can never make the server send to another process or off this machine.
"""

from __future__ import annotations

import asyncio
import random
import struct
from collections.abc import Awaitable, Callable

from aiortc import RTCConfiguration, RTCIceServer, RTCIceTransportPolicy, RTCPeerConnection

from interactive_gym_p2p.turn import credentials, stun
from interactive_gym_p2p.turn.client import TurnClient, TurnError
from interactive_gym_p2p.turn.embedded import EmbeddedTurn
from interactive_gym_p2p.turn.policy import PeerPolicy
from interactive_gym_p2p.turn.server import TurnConfig, TurnServer
from interactive_gym_p2p.turn.stun import Attr, Class, Method

SECRET = "fuzz-secret"
REALM = "fuzz.realm"
SINK_IP = "127.77.0.1"
FUZZ_POLICY = PeerPolicy(allow_cidrs=(f"{SINK_IP}/32",), deny_cidrs=("0.0.0.0/0", "::/0"))
T = 5.0


def run(scenario: Callable[[], Awaitable[None]], limit: float = 120) -> None:
    asyncio.run(asyncio.wait_for(scenario(), limit))


class Sink(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait(data)


async def open_sink() -> tuple[asyncio.DatagramTransport, Sink, tuple[str, int]]:
    transport, sink = await asyncio.get_running_loop().create_datagram_endpoint(Sink, local_addr=(SINK_IP, 0))
    return transport, sink, transport.get_extra_info("sockname")[:2]  # type: ignore[return-value]


# --- corpus -----------------------------------------------------------------------------------------


async def capture_aiortc_messages(server_port: int, transport: str) -> list[bytes]:
    """Run two relay-only aiortc peers through a recording TURN server; return what they sent."""
    captured: list[bytes] = []

    class Recording(TurnServer):
        def _on_udp(self, data: bytes, addr: tuple[str, int]) -> None:
            if len(captured) < 400:
                captured.append(bytes(data))
            super()._on_udp(data, addr)

        def _on_frame(self, data: bytes, client: object) -> None:  # TCP
            if len(captured) < 400:
                captured.append(bytes(data))
            super()._on_frame(data, client)

    server = Recording(
        TurnConfig(realm=REALM, secret=SECRET, port=server_port, policy=PeerPolicy(allow_loopback=True))
    )
    await server.start()
    url = f"turn:127.0.0.1:{server.port}?transport={transport}"

    def config(pid: str) -> RTCConfiguration:
        entry = credentials.ice_servers([url], SECRET, pid)[0]
        server_entry = RTCIceServer(urls=entry["urls"], username=entry["username"], credential=entry["credential"])
        return RTCConfiguration(iceServers=[server_entry], iceTransportPolicy=RTCIceTransportPolicy.RELAY)

    a, b = RTCPeerConnection(config("a")), RTCPeerConnection(config("b"))
    try:
        channel = a.createDataChannel("fuzz")
        opened = asyncio.Event()
        channel.on("open", opened.set)
        await a.setLocalDescription(await a.createOffer())
        await b.setRemoteDescription(a.localDescription)
        await b.setLocalDescription(await b.createAnswer())
        await a.setRemoteDescription(b.localDescription)
        await asyncio.wait_for(opened.wait(), 30)
        channel.send("some data for the capture")
    finally:
        await a.close()
        await b.close()
        await server.close()
    assert any(stun.looks_like_stun(m) and stun.decode(m).method == Method.CHANNEL_BIND for m in captured)
    assert any(stun.is_channel_data(m) for m in captured)
    return captured


def codec_messages(rng: random.Random, sink: tuple[str, int]) -> list[bytes]:
    """One of every message type, built with our codec."""
    key = stun.long_term_key("1:x", REALM, "pw")
    out = []
    for method in Method:
        for cls in Class:
            tid = rng.randbytes(12)
            msg = stun.Message(method, cls, tid)
            msg.add(Attr.REQUESTED_TRANSPORT, stun.encode_requested_transport())
            msg.add(Attr.LIFETIME, stun.encode_u32(600))
            msg.add(Attr.XOR_PEER_ADDRESS, stun.encode_xor_address(sink[0], sink[1], tid))
            msg.add(Attr.CHANNEL_NUMBER, stun.encode_channel_number(0x4000))
            msg.add(Attr.DATA, rng.randbytes(rng.randrange(0, 40)))
            msg.add(Attr.ERROR_CODE, stun.encode_error_code(438))
            msg.add(Attr.USERNAME, "1:x").add(Attr.REALM, REALM).add(Attr.NONCE, "abc")
            out.append(stun.encode(msg, integrity_key=key, fingerprint=rng.random() < 0.5))
    out.append(stun.encode_channel_data(0x4000, rng.randbytes(33)))
    out.append(stun.encode_channel_data(0x7FFF, b"", pad=True))
    return out


def mutate(rng: random.Random, data: bytes, corpus: list[bytes]) -> bytes:
    b = bytearray(data)
    op = rng.randrange(10)
    if op == 0 and b:  # flip bits
        for _ in range(rng.randrange(1, 6)):
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif op == 1:  # truncate
        b = b[: rng.randrange(len(b) + 1)]
    elif op == 2:  # append junk
        b += rng.randbytes(rng.randrange(1, 64))
    elif op == 3 and len(b) >= 4:  # lie in the header length
        struct.pack_into("!H", b, 2, rng.choice([0, 4, len(b) & 0xFFFF, max(0, len(b) - 16), 0xFFFC, rng.randrange(65536)]))
    elif op == 4 and len(b) >= 24:  # lie in an attribute length
        struct.pack_into("!H", b, 22, rng.randrange(65536))
    elif op == 5 and len(b) >= 24:  # swap in a random attribute type
        struct.pack_into("!H", b, 20, rng.randrange(65536))
    elif op == 6:  # splice two messages
        other = rng.choice(corpus)
        cut = rng.randrange(len(b) + 1)
        b = b[:cut] + other[rng.randrange(len(other) + 1) :]
    elif op == 7 and b:  # make it look like ChannelData
        b[0] = rng.randrange(0x40, 0x80)
    elif op == 8 and len(b) >= 2:  # random method/class
        struct.pack_into("!H", b, 0, rng.randrange(0x4000))
    else:  # overwrite a random span
        if b:
            start = rng.randrange(len(b))
            end = min(len(b), start + rng.randrange(1, 16))
            b[start:end] = rng.randbytes(end - start)
    return bytes(b[:4000])


def random_packet(rng: random.Random) -> bytes:
    body = rng.randbytes(4 * rng.randrange(0, 40))
    kind = rng.randrange(3)
    if kind == 0:
        return rng.randbytes(rng.randrange(0, 200))
    if kind == 1:  # a valid header in front of a random TLV soup
        return struct.pack("!HHI", rng.randrange(0x4000), len(body), stun.MAGIC_COOKIE) + rng.randbytes(12) + body
    return struct.pack("!HH", rng.randrange(0x4000, 0x8000), len(body)) + body


GARBAGE_VALUES: dict[int, Callable[[random.Random, bytes, tuple[str, int]], bytes]] = {
    Attr.REQUESTED_TRANSPORT: lambda r, t, s: r.choice([stun.encode_requested_transport(), r.randbytes(r.randrange(7))]),
    Attr.LIFETIME: lambda r, t, s: r.choice([stun.encode_u32(r.randrange(2**32)), b"", r.randbytes(3), b"\0" * 4]),
    Attr.XOR_PEER_ADDRESS: lambda r, t, s: r.choice(
        [
            stun.encode_xor_address(s[0], s[1], t),
            stun.encode_xor_address("10.1.2.3", 99, t),
            stun.encode_xor_address("2001:db8::5", 99, t),
            r.randbytes(r.randrange(24)),
            b"\0\x02\0\0" + r.randbytes(16),
            b"\0\x01\0\0" + r.randbytes(16),
        ]
    ),
    Attr.CHANNEL_NUMBER: lambda r, t, s: r.choice([struct.pack("!HH", r.randrange(65536), 0), r.randbytes(r.randrange(6))]),
    Attr.DATA: lambda r, t, s: r.randbytes(r.randrange(0, 1500)),
    Attr.REQUESTED_ADDRESS_FAMILY: lambda r, t, s: r.randbytes(r.randrange(6)),
    Attr.DONT_FRAGMENT: lambda r, t, s: r.randbytes(r.randrange(3)),
    Attr.EVEN_PORT: lambda r, t, s: r.randbytes(1),
    0x7ABC: lambda r, t, s: r.randbytes(r.randrange(10)),
    0xC0DE: lambda r, t, s: r.randbytes(r.randrange(10)),
}


UNDERSTOOD = [a for a in GARBAGE_VALUES if a in (Attr.REQUESTED_TRANSPORT, Attr.LIFETIME, Attr.XOR_PEER_ADDRESS,
                                                  Attr.CHANNEL_NUMBER, Attr.DATA, Attr.REQUESTED_ADDRESS_FAMILY, 0xC0DE)]


def signed_garbage(rng: random.Random, client: TurnClient, sink: tuple[str, int]) -> bytes:
    """A correctly authenticated request (or indication) whose attribute values are junk."""
    assert client.key is not None and client.username is not None and client.realm and client.nonce
    method = rng.choice([*Method, 0x00A, 0x0FF])
    cls = rng.choice([Class.REQUEST, Class.REQUEST, Class.REQUEST, Class.INDICATION])
    tid = rng.randbytes(12)
    msg = stun.Message(method, cls, tid)
    for _ in range(rng.randrange(0, 5)):
        # Mostly attributes the server understands, so requests get past the 420 check.
        attr = rng.choice(UNDERSTOOD if rng.random() < 0.93 else list(GARBAGE_VALUES))
        msg.add(attr, GARBAGE_VALUES[attr](rng, tid, sink))
    if method == Method.REFRESH and rng.random() < 0.9:
        msg.attributes = [(t, v) for t, v in msg.attributes if t != Attr.LIFETIME]  # keep the allocation mostly
    msg.add(Attr.USERNAME, client.username).add(Attr.REALM, client.realm).add(Attr.NONCE, client.nonce)
    return stun.encode(msg, integrity_key=client.key, fingerprint=rng.random() < 0.5)


# --- the fuzz run -------------------------------------------------------------------------------------


async def fuzz(port: int, seed: int, corpus: list[bytes], rounds_udp: int, tcp_connections: int) -> None:
    sink_transport, sink, sink_addr = await open_sink()
    try:
        await fuzz_with_sink(port, seed, corpus, rounds_udp, tcp_connections, sink, sink_addr)
    finally:
        sink_transport.close()


async def fuzz_with_sink(
    port: int, seed: int, corpus: list[bytes], rounds_udp: int, tcp_connections: int, sink: Sink, sink_addr: tuple[str, int]
) -> None:
    rng = random.Random(seed)
    addr = ("127.0.0.1", port)
    corpus = corpus + codec_messages(rng, sink_addr)

    async def authed(transport: str, participant: str) -> TurnClient:
        cred = credentials.issue(SECRET, participant)
        client = await TurnClient.connect(addr, transport, cred.username, cred.password)
        await client.allocate()
        await client.channel_bind(0x4000, sink_addr)
        return client

    def one(client: TurnClient | None) -> bytes:
        choice = rng.random()
        if client is not None and choice < 0.3:
            return signed_garbage(rng, client, sink_addr)
        if choice < 0.55:
            return random_packet(rng)
        return mutate(rng, rng.choice(corpus), corpus)

    # UDP: one authenticated client (its 5-tuple owns an allocation) and one stranger.
    udp_auth = await authed("udp", "fuzzer-udp")
    stranger = await TurnClient.connect(addr, "udp")
    for i in range(rounds_udp):
        sender = udp_auth if i % 2 else stranger
        sender.send_raw(one(udp_auth))
        if i % 50 == 49:  # pace the flood and check liveness as we go
            await asyncio.wait_for(stranger.binding(), T)
            try:  # the fuzz may have deleted the allocation (Refresh 0): bring it back
                await udp_auth.allocate()
                await udp_auth.channel_bind(0x4000, sink_addr)
            except TurnError as exc:
                assert exc.code in (437, 400), exc  # 437: still there; 400: channel 0x4000 re-bound elsewhere
    udp_auth.close()
    stranger.close()

    # TCP: streams of fuzzed frames, cut into random chunks; the server may close the connection.
    for i in range(tcp_connections):
        authenticated = i % 3 == 0
        if authenticated:
            client = await authed("tcp", f"fuzzer-tcp-{i}")
        else:
            client = await TurnClient.connect(addr, "tcp")
        stream = b"".join(one(client if authenticated else None) for _ in range(rng.randrange(1, 12)))
        pos = 0
        while pos < len(stream) and not client.closed:
            step = rng.randrange(1, 300)
            client.send_raw(stream[pos : pos + step])
            pos += step
            await asyncio.sleep(0)  # let the bytes go out in separate segments sometimes
        if not client.closed:
            try:
                await asyncio.wait_for(client.binding(timeout=0.2), 1.0)
            except (ConnectionError, TurnError, asyncio.TimeoutError):
                # A desynchronised stream may legitimately swallow the Binding (e.g. a huge
                # announced length) or get closed; the server must still serve others.
                pass
        client.close()

    # Afterwards: still alive, still allocating and relaying, over both transports.
    for transport in ("udp", "tcp"):
        check = await TurnClient.connect(addr, transport)
        assert await asyncio.wait_for(check.binding(), T + 1) == check.local_address
        check.close()
        client = await authed(transport, f"after-{transport}")
        client.send_channel_data(0x4000, b"still relaying " + transport.encode())
        while True:
            got = await asyncio.wait_for(sink.queue.get(), T)
            if got == b"still relaying " + transport.encode():
                break
        await client.refresh(0)
        client.close()


def test_fuzz_in_process_server() -> None:
    async def scenario() -> None:
        corpus = await capture_aiortc_messages(0, "udp") + await capture_aiortc_messages(0, "tcp")
        server = TurnServer(TurnConfig(realm=REALM, secret=SECRET, port=0, policy=FUZZ_POLICY))
        await server.start()
        try:
            await fuzz(server.port, seed=20240611, corpus=corpus, rounds_udp=4000, tcp_connections=150)
            assert server.stats.internal_errors == 0
            assert server.stats.malformed > 500  # the fuzz really hit the decoders
            assert server.stats.errors_sent > 100  # ... and the request handlers
        finally:
            await server.close()

    run(scenario, limit=240)


def test_fuzz_child_process_server() -> None:
    turn = EmbeddedTurn(
        "127.0.0.1", 0, SECRET, REALM, allow_cidrs=(f"{SINK_IP}/32",), deny_cidrs=("0.0.0.0/0", "::/0"), log_level="ERROR"
    )
    turn.start()
    try:

        async def scenario() -> None:
            corpus = await capture_aiortc_messages(0, "udp")
            await fuzz(turn.port, seed=7, corpus=corpus, rounds_udp=1500, tcp_connections=40)

        run(scenario, limit=180)
        assert turn.running, "the TURN child process died during the fuzz run"
    finally:
        turn.stop()
