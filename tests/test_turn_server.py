"""The embedded STUN/TURN server over real sockets on 127.0.0.1, driven by our own client codec.

The server runs in the test's event loop (so its counters and a fake clock are reachable);
``test_turn_embedded.py`` covers the same server as a child process. Every wait is bounded;
"nothing was relayed" is checked through the server's counters after a Binding round trip on
the same connection has proven that the earlier packet was processed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from interactive_gym_p2p.turn import credentials, stun
from interactive_gym_p2p.turn.allocations import Limits
from interactive_gym_p2p.turn.client import TurnClient, TurnError
from interactive_gym_p2p.turn.policy import PeerPolicy
from interactive_gym_p2p.turn.server import TurnConfig, TurnServer
from interactive_gym_p2p.turn.stun import Attr, Class, Method

SECRET = "unit-test-secret"
REALM = "test.realm"
TRANSPORTS = ["udp", "tcp"]
T = 5.0  # bound on every single wait


class Clock:
    def __init__(self) -> None:
        self.t = 10_000.0

    def __call__(self) -> float:
        return self.t


class Peer(asyncio.DatagramProtocol):
    """A plain UDP socket standing in for the remote peer."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None
        self.addr: tuple[str, int] = ("", 0)
        self.sock: socket.socket

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.queue.put_nowait((data, (addr[0], addr[1])))

    async def recv(self) -> tuple[bytes, tuple[str, int]]:
        return await asyncio.wait_for(self.queue.get(), T)

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        # Straight to the socket: asyncio's transport silently drops empty datagrams.
        self.sock.sendto(data, addr)


OPEN_PEERS: list[Peer] = []


async def open_peer(host: str = "127.0.0.1") -> Peer:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    sock.setblocking(False)
    transport, peer = await asyncio.get_running_loop().create_datagram_endpoint(Peer, sock=sock)
    peer.transport = transport  # type: ignore[assignment]
    peer.sock = sock
    peer.addr = sock.getsockname()[:2]
    OPEN_PEERS.append(peer)  # closed when the scenario's server stops
    return peer


@contextlib.asynccontextmanager
async def serve(**overrides) -> AsyncIterator[tuple[TurnServer, Clock]]:
    clock = Clock()
    settings = dict(realm=REALM, secret=SECRET, port=0, policy=PeerPolicy(allow_loopback=True), sweep_interval=3600.0)
    settings.update(overrides)
    server = TurnServer(TurnConfig(**settings), clock=clock)
    await server.start()
    try:
        yield server, clock
    finally:
        await server.close()
        while OPEN_PEERS:
            peer = OPEN_PEERS.pop()
            if peer.transport is not None:
                peer.transport.close()
    assert server.stats.internal_errors == 0


async def connect(
    server: TurnServer, transport: str, participant: str = "alice", secret: str = SECRET, now: float | None = None
) -> TurnClient:
    cred = credentials.issue(secret, participant, now=now)
    return await TurnClient.connect(("127.0.0.1", server.port), transport, cred.username, cred.password)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 60))


async def expect_error(coro: Awaitable[object], code: int) -> TurnError:
    with pytest.raises(TurnError) as exc:
        await coro
    assert exc.value.code == code, exc.value
    return exc.value


# --- the happy paths -------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_binding(transport: str) -> None:
    async def scenario() -> None:
        async with serve() as (server, _):
            client = await connect(server, transport)
            assert await client.binding() == client.local_address
            client.close()

    run(scenario)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_allocate_challenge_then_relay_with_indications(transport: str) -> None:
    async def scenario() -> None:
        async with serve() as (server, _):
            client = await connect(server, transport)
            # First attempt without credentials: 401 carrying REALM and NONCE, unsigned.
            bare = stun.Message(Method.ALLOCATE, Class.REQUEST, os.urandom(12))
            bare.add(Attr.REQUESTED_TRANSPORT, stun.encode_requested_transport())
            challenge = await client._transaction(bare, authenticate=False, timeout=T)
            assert challenge.cls == Class.ERROR
            assert stun.decode_error_code(challenge.get(Attr.ERROR_CODE) or b"")[0] == 401
            assert challenge.get(Attr.REALM) == REALM.encode() and challenge.get(Attr.NONCE)
            assert not challenge.has(Attr.MESSAGE_INTEGRITY)
            assert stun.verify_fingerprint(challenge) is True

            relayed = await client.allocate()  # does the 401 dance and checks MESSAGE-INTEGRITY
            assert relayed[0] == "127.0.0.1" and relayed[1] != server.port
            assert client.lifetime == 600
            assert client.mapped_address == client.local_address

            peer = await open_peer()
            await client.create_permission(peer.addr)
            client.send_indication(peer.addr, b"to the peer")
            assert await peer.recv() == (b"to the peer", relayed)
            peer.send(b"to the client", relayed)
            got = await asyncio.wait_for(client.received.get(), T)
            assert (got.peer, got.channel, got.data) == (peer.addr, None, b"to the client")
            client.close()

    run(scenario)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_channel_data_both_ways(transport: str) -> None:
    async def scenario() -> None:
        async with serve() as (server, _):
            client = await connect(server, transport)
            client.raw_log = []
            relayed = await client.allocate()
            peer = await open_peer()
            await client.channel_bind(0x4001, peer.addr)  # also installs the permission
            for size in (0, 1, 5, 1200):
                payload = bytes(range(256)) * 5
                client.send_channel_data(0x4001, payload[:size])
                assert await peer.recv() == (payload[:size], relayed)
                peer.send(payload[:size], relayed)
                got = await asyncio.wait_for(client.received.get(), T)
                assert (got.peer, got.channel, got.data) == (None, 0x4001, payload[:size])
                frame = client.raw_log[-1]
                # Over TCP a ChannelData frame is padded to 4 bytes; over UDP it is not.
                assert frame == stun.encode_channel_data(0x4001, payload[:size], pad=transport == "tcp")
            assert server.stats.packets_to_peer == 4 and server.stats.packets_to_client == 4
            client.close()

    run(scenario)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_refresh_lifetimes_and_delete(transport: str) -> None:
    async def scenario() -> None:
        async with serve() as (server, _):
            client = await connect(server, transport)
            assert client.relayed_address is None
            await client.allocate(lifetime=60)
            assert client.lifetime == 600  # below the default: the default
            assert await client.refresh(1200) == 1200
            assert await client.refresh(99999) == 3600  # capped at the maximum
            assert len(server.allocations) == 1
            assert await client.refresh(0) == 0
            assert len(server.allocations) == 0
            await expect_error(client.refresh(600), 437)
            client.close()

    run(scenario)


def test_retransmitted_request_gets_the_same_answer() -> None:
    async def scenario() -> None:
        async with serve() as (server, _):
            client = await connect(server, "udp")
            await client.binding()
            await expect_error(client.request(stun.Message(Method.REFRESH, Class.REQUEST, os.urandom(12))), 437)
            # Now the client holds realm, nonce and key: sign one Allocate and send it twice.
            msg = stun.Message(Method.ALLOCATE, Class.REQUEST, os.urandom(12))
            msg.add(Attr.REQUESTED_TRANSPORT, stun.encode_requested_transport())
            msg.add(Attr.USERNAME, client.username or "").add(Attr.REALM, REALM).add(Attr.NONCE, client.nonce or b"")
            data = stun.encode(msg, integrity_key=client.key, fingerprint=True)
            client.raw_log = []
            first = await client._transaction(msg, authenticate=True, timeout=T)
            client.send_raw(data)
            await client.binding()  # proves the retransmission was processed
            answers = [f for f in client.raw_log if f[8:20] == msg.transaction_id]
            assert first.cls == Class.SUCCESS and len(answers) == 2 and answers[0] == answers[1]
            assert server.stats.allocations_created == 1
            await expect_error(client.allocate(), 437)  # a new Allocate on the same 5-tuple
            client.close()

    run(scenario)


# --- refusals --------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("case", ["wrong-secret", "expired", "no-credential", "wrong-password"])
def test_bad_credentials_get_401(transport: str, case: str) -> None:
    async def scenario() -> None:
        async with serve() as (server, _):
            addr = ("127.0.0.1", server.port)
            if case == "wrong-secret":
                client = await connect(server, transport, secret="not-the-secret")
            elif case == "expired":
                client = await connect(server, transport, now=1_000_000)  # expired in 1970
            elif case == "no-credential":
                client = await TurnClient.connect(addr, transport)
            else:
                cred = credentials.issue(SECRET, "alice")
                client = await TurnClient.connect(addr, transport, cred.username, cred.password + "x")
            error = await expect_error(client.allocate(), 401)
            assert error.response.get(Attr.REALM) == REALM.encode()
            assert error.response.get(Attr.NONCE)
            assert len(server.allocations) == 0 and server.stats.allocations_created == 0
            assert await client.binding() == client.local_address  # still serving
            client.close()

    run(scenario)


def test_stale_nonce_gets_438_then_recovers() -> None:
    async def scenario() -> None:
        async with serve(nonce_lifetime=600) as (server, clock):
            client = await connect(server, "udp")
            await client.allocate()
            clock.t += 601
            refresh = stun.Message(Method.REFRESH, Class.REQUEST, os.urandom(12))
            error = await expect_error(client.request(refresh, retry_auth=False), 438)
            assert error.response.get(Attr.NONCE) and error.response.get(Attr.REALM)
            assert await client.refresh(600) == 600  # retries with the fresh nonce
            client.close()

    run(scenario)


def test_allocation_quotas() -> None:
    async def scenario() -> None:
        limits = Limits(max_allocations_per_user=2, max_allocations_total=3)
        async with serve(limits=limits) as (server, _):
            alice = [await connect(server, "udp", "alice") for _ in range(3)]
            await alice[0].allocate()
            await alice[1].allocate()
            await expect_error(alice[2].allocate(), 486)  # per-user quota
            bob = await connect(server, "udp", "bob")
            await bob.allocate()
            carol = await connect(server, "tcp", "carol")
            await expect_error(carol.allocate(), 508)  # total capacity
            await alice[0].refresh(0)
            await carol.allocate()  # a slot came back
            for c in [*alice, bob, carol]:
                c.close()

    run(scenario)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_denied_peer_addresses_get_403(transport: str) -> None:
    async def scenario() -> None:
        async with serve(policy=PeerPolicy(allow_cidrs=("10.20.0.0/16",))) as (server, _):
            client = await connect(server, transport)
            await client.allocate()
            for ip in ["127.0.0.1", "10.0.0.1", "192.168.1.10", "169.254.169.254", "172.16.5.5", "::1"]:
                await expect_error(client.create_permission((ip, 9999)), 403 if ":" not in ip else 443)
                await expect_error(client.channel_bind(0x4000, (ip, 9999)), 403 if ":" not in ip else 443)
            # One denied address in a list refuses the whole request.
            await expect_error(client.create_permission(("8.8.8.8", 1), ("10.0.0.1", 1)), 403)
            assert "8.8.8.8" not in server.allocations.get(client_key(server)).permissions
            await client.create_permission(("10.20.3.4", 1))  # explicitly allowed range
            await client.create_permission(("8.8.8.8", 1))  # public: fine (never sent to)
            assert server.stats.denied_peer == 11  # 5 addresses x 2 requests + the mixed list
            # A Send indication to a denied address without permission goes nowhere.
            sent_before = server.stats.packets_to_peer
            client.send_indication(("127.0.0.1", server.port), b"loop")
            await client.binding()
            assert server.stats.packets_to_peer == sent_before
            client.close()

    run(scenario)


def client_key(server: TurnServer) -> object:
    (only,) = list(server.allocations)
    return only.key


def test_own_listening_port_is_never_a_peer() -> None:
    async def scenario() -> None:
        async with serve() as (server, _):  # loopback allowed, yet not our own port
            client = await connect(server, "udp")
            await client.allocate()
            await expect_error(client.create_permission(("127.0.0.1", server.port)), 403)
            await client.create_permission(("127.0.0.1", server.port + 1 if server.port < 65535 else 1))
            client.close()

    run(scenario)


def test_request_errors() -> None:
    async def scenario() -> None:
        async with serve() as (server, _):
            client = await connect(server, "udp")
            await client.binding()
            # No allocation yet: 437 for everything but Allocate (the first one also learns the nonce).
            await expect_error(client.request(stun.Message(Method.REFRESH, Class.REQUEST, os.urandom(12))), 437)
            await expect_error(client.create_permission(("127.0.0.1", 1)), 437)
            await expect_error(client.channel_bind(0x4000, ("127.0.0.1", 1)), 437)
            # Allocate variants.
            await expect_error(client.allocate(transport_protocol=6), 442)
            no_transport = stun.Message(Method.ALLOCATE, Class.REQUEST, os.urandom(12))
            await expect_error(client.request(no_transport), 400)
            ipv6 = stun.Message(Method.ALLOCATE, Class.REQUEST, os.urandom(12))
            ipv6.add(Attr.REQUESTED_TRANSPORT, stun.encode_requested_transport()).add(
                Attr.REQUESTED_ADDRESS_FAMILY, b"\x02\0\0\0"
            )
            await expect_error(client.request(ipv6), 440)
            dont_fragment = stun.Message(Method.ALLOCATE, Class.REQUEST, os.urandom(12))
            dont_fragment.add(Attr.REQUESTED_TRANSPORT, stun.encode_requested_transport()).add(Attr.DONT_FRAGMENT, b"")
            error = await expect_error(client.request(dont_fragment), 420)
            assert error.response.get(Attr.UNKNOWN_ATTRIBUTES) == b"\x00\x1a"
            unknown_method = stun.Message(0x00B, Class.REQUEST, os.urandom(12))
            await expect_error(client.request(unknown_method, authenticate=False), 400)
            assert len(server.allocations) == 0
            # With an allocation: channel rules.
            await client.allocate()
            await expect_error(client.channel_bind(0x3FFF, ("127.0.0.1", 5)), 400)
            await client.channel_bind(0x4000, ("127.0.0.1", 5))
            await expect_error(client.channel_bind(0x4000, ("127.0.0.1", 6)), 400)
            await expect_error(client.channel_bind(0x4001, ("127.0.0.1", 5)), 400)
            await client.channel_bind(0x4000, ("127.0.0.1", 5))  # refreshing is fine
            client.close()

    run(scenario)


def test_wrong_user_on_an_existing_allocation_gets_441() -> None:
    async def scenario() -> None:
        async with serve() as (server, _):
            client = await connect(server, "udp", "alice")
            await client.allocate()
            bob = credentials.issue(SECRET, "bob")
            client.username, client.password = bob.username, bob.password
            assert client.realm is not None
            client.key = stun.long_term_key(bob.username, client.realm, bob.password)
            await expect_error(client.refresh(600), 441)
            client.close()

    run(scenario)


# --- expiry ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_permissions_channels_and_allocations_expire(transport: str) -> None:
    async def scenario() -> None:
        async with serve() as (server, clock):
            client = await connect(server, transport)
            relayed = await client.allocate()
            # Distinct loopback addresses, because permissions are per IP.
            peer, marker, channel_peer = await open_peer("127.0.0.2"), await open_peer("127.0.0.3"), await open_peer()
            await client.create_permission(peer.addr)
            clock.t += 299
            client.send_indication(peer.addr, b"still allowed")
            assert await peer.recv() == (b"still allowed", relayed)

            clock.t += 2  # 301 s: the permission is gone
            dropped, sent = server.stats.dropped, server.stats.packets_to_peer
            client.send_indication(peer.addr, b"too late")
            await client.binding()  # the server has handled the indication
            peer.send(b"too late as well", relayed)
            await client.create_permission(marker.addr)
            marker.send(b"marker", relayed)
            got = await asyncio.wait_for(client.received.get(), T)  # relay sockets are FIFO
            assert got.data == b"marker" and client.received.empty()
            assert server.stats.packets_to_peer == sent
            assert server.stats.dropped == dropped + 2

            await client.channel_bind(0x4005, channel_peer.addr)
            await client.refresh(3600)
            clock.t += 599
            client.send_channel_data(0x4005, b"bound")
            assert await channel_peer.recv() == (b"bound", relayed)
            clock.t += 2  # 601 s: the channel is gone
            sent = server.stats.packets_to_peer
            client.send_channel_data(0x4005, b"unbound")
            await client.binding()
            assert server.stats.packets_to_peer == sent

            clock.t += 3600
            server.sweep()
            assert len(server.allocations) == 0
            await expect_error(client.refresh(600), 437)
            client.close()

    run(scenario)


def test_tcp_close_deletes_the_allocation() -> None:
    async def scenario() -> None:
        async with serve() as (server, _):
            client = await connect(server, "tcp")
            await client.allocate()
            assert len(server.allocations) == 1
            client.close()
            deadline = asyncio.get_running_loop().time() + T
            while len(server.allocations) and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)  # polling a condition with a deadline
            assert len(server.allocations) == 0

    run(scenario)


def test_idle_tcp_connections_are_closed_by_the_sweeper() -> None:
    async def scenario() -> None:
        async with serve(tcp_idle_timeout=30) as (server, clock):
            idle = await connect(server, "tcp", "idle")
            busy = await connect(server, "tcp", "busy")
            await idle.binding()
            await busy.allocate()
            clock.t += 31
            server.sweep()
            await asyncio.wait_for(idle._closed.wait(), T)
            assert not busy.closed
            await busy.refresh(600)
            busy.close()

    run(scenario)


def test_unspecified_relay_address_needs_an_external_ip() -> None:
    with pytest.raises(ValueError, match="external_ip"):
        TurnConfig(realm="r", secret="s", host="0.0.0.0")
    assert TurnConfig(realm="r", secret="s", host="0.0.0.0", external_ip="203.0.113.1").advertised_relay_ip == (
        "203.0.113.1"
    )
    with pytest.raises(ValueError):
        TurnConfig(realm="r", secret="")
