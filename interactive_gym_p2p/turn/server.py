"""The embedded STUN/TURN server on asyncio: UDP and TCP listeners on one port, UDP relays.

Implements what browsers and aiortc use (RFC 8489 STUN, RFC 8656 TURN): Binding; Allocate,
Refresh, CreatePermission, ChannelBind with long-term REST-style credentials; Send/Data
indications; ChannelData. Every packet handler is wrapped so that malformed input, or a bug,
drops one packet and never the server. Run it in its own process (see :mod:`.embedded`).
"""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import logging
import random
import socket
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, cast

from . import stun
from .allocations import Allocation, AllocationTable, BindError, Limits
from .auth import Authenticator, AuthResult, NonceIssuer
from .policy import PeerPolicy
from .stun import Attr, Class, Method

logger = logging.getLogger(__name__)

Address = tuple[str, int]

# Comprehension-required attributes (< 0x8000) this server understands in requests. Anything
# else (DONT-FRAGMENT, EVEN-PORT, RESERVATION-TOKEN, USERHASH, ...) gets 420 as RFC 8656
# §7.2 asks of a server that does not implement it.
KNOWN_REQUIRED_ATTRIBUTES = frozenset(
    {
        Attr.MAPPED_ADDRESS,
        Attr.USERNAME,
        Attr.MESSAGE_INTEGRITY,
        Attr.ERROR_CODE,
        Attr.UNKNOWN_ATTRIBUTES,
        Attr.CHANNEL_NUMBER,
        Attr.LIFETIME,
        Attr.XOR_PEER_ADDRESS,
        Attr.DATA,
        Attr.REALM,
        Attr.NONCE,
        Attr.XOR_RELAYED_ADDRESS,
        Attr.REQUESTED_ADDRESS_FAMILY,
        Attr.REQUESTED_TRANSPORT,
        Attr.XOR_MAPPED_ADDRESS,
        Attr.PRIORITY,
        Attr.USE_CANDIDATE,
    }
)
TURN_METHODS = frozenset({Method.ALLOCATE, Method.REFRESH, Method.CREATE_PERMISSION, Method.CHANNEL_BIND})
RESPONSE_CACHE_SECONDS = 40.0  # a little over a STUN transaction's 39.5 s retransmission span
RESPONSE_CACHE_MAX = 20000
TCP_WRITE_BUFFER_LIMIT = 1 << 20  # drop relayed data rather than queue without bound
RECV_SIZE = 65536  # larger than any UDP payload
RECV_BATCH = 64  # datagrams drained per wake-up: fewer trips through the event loop under load


@dataclass
class TurnConfig:
    """Everything the server needs to know. ``secret`` is the TURN REST API shared secret."""

    realm: str
    secret: str = field(repr=False)
    host: str = "127.0.0.1"
    """Listening address for both UDP and TCP."""
    port: int = 3478
    """Listening port (0 picks a free port usable for both UDP and TCP)."""
    relay_ip: str | None = None
    """Local address relay sockets bind to (default: ``host``)."""
    external_ip: str | None = None
    """Address advertised in XOR-RELAYED-ADDRESS (default: ``relay_ip``), e.g. behind 1:1 NAT."""
    udp: bool = True
    tcp: bool = True
    policy: PeerPolicy = field(default_factory=PeerPolicy)
    limits: Limits = field(default_factory=Limits)
    min_port: int = 0
    """Relay port range; 0/0 lets the OS pick ephemeral ports."""
    max_port: int = 0
    nonce_lifetime: float = 600.0
    max_tcp_connections: int = 1000
    tcp_idle_timeout: float = 60.0
    """Close a TCP connection that has no allocation after this long."""
    sweep_interval: float = 1.0
    """How often expired allocations/permissions/channels are collected."""
    software: str | None = None
    """SOFTWARE attribute on responses (None: do not reveal the implementation)."""

    def __post_init__(self) -> None:
        if not self.realm:
            raise ValueError("realm must not be empty")
        if not self.secret:
            raise ValueError("secret must not be empty")
        if not 0 <= self.port <= 65535:
            raise ValueError("port out of range")
        if not self.udp and not self.tcp:
            raise ValueError("enable at least one of udp/tcp")
        if (self.min_port or self.max_port) and not (1 <= self.min_port <= self.max_port <= 65535):
            raise ValueError("min_port/max_port must be a valid range")
        relay = ipaddress.ip_address(self.relay_ip or self.host)
        if relay.is_unspecified and not self.external_ip:
            raise ValueError(
                "relay address is unspecified (0.0.0.0/::): give relay_ip or external_ip so "
                "XOR-RELAYED-ADDRESS can name a reachable address"
            )
        if self.external_ip:
            ipaddress.ip_address(self.external_ip)

    @property
    def relay_bind_ip(self) -> str:
        return self.relay_ip or self.host

    @property
    def advertised_relay_ip(self) -> str:
        return self.external_ip or self.relay_bind_ip


@dataclass
class ServerStats:
    """Counters (cumulative unless named ``*_active``)."""

    requests: int = 0
    errors_sent: int = 0
    malformed: int = 0
    internal_errors: int = 0
    allocations_created: int = 0
    allocations_active: int = 0
    denied_peer: int = 0
    packets_to_peer: int = 0
    packets_to_client: int = 0
    bytes_to_peer: int = 0
    bytes_to_client: int = 0
    dropped: int = 0
    tcp_connections_active: int = 0


# --- client connections ---------------------------------------------------------------------


class _UdpClient:
    __slots__ = ("server", "addr", "key")
    stream = False

    def __init__(self, server: TurnServer, addr: Address) -> None:
        self.server = server
        self.addr = addr
        self.key: Hashable = ("udp", addr)

    @property
    def closed(self) -> bool:
        return self.server._udp is None

    def send(self, data: bytes) -> None:
        udp = self.server._udp
        if udp is not None:
            udp.sendto(data, self.addr)


class _TcpConnection(asyncio.Protocol):
    """One TURN-over-TCP client: frames STUN and ChannelData out of the byte stream."""

    stream = True
    _ids = itertools.count(1)

    def __init__(self, server: TurnServer) -> None:
        self.server = server
        self.key: Hashable = ("tcp", next(self._ids))
        self.addr: Address = ("0.0.0.0", 0)
        self.transport: asyncio.Transport | None = None
        self.framer = stun.StreamFramer()
        self.idle_since = 0.0
        """When it last had no allocation (the idle timeout counts from here)."""
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self.addr = (peer[0], peer[1]) if peer else ("0.0.0.0", 0)
        self.idle_since = self.server._clock()
        if not self.server._tcp_opened(self):
            transport.close()

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.framer.feed(data)
        except stun.StunDecodeError as exc:
            self.server.stats.malformed += 1
            logger.debug("closing TCP %s: %s", self.addr, exc)
            self.close()
            return
        for frame in frames:
            if self.closed:
                return
            self.server._on_frame(frame, self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server._tcp_closed(self)

    def send(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or self.closed or transport.is_closing():
            return
        if transport.get_write_buffer_size() > TCP_WRITE_BUFFER_LIMIT:
            self.server.stats.dropped += 1
            return
        transport.write(data)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.close()
        self.closed = True


class _UdpSocket:
    """A non-blocking UDP socket read straight from the event loop's selector.

    The data plane bypasses asyncio's datagram transports: they receive into a 256 KiB buffer
    per datagram (an order of magnitude slower than 64 KiB) and drop empty datagrams. Up to
    RECV_BATCH datagrams are drained per wake-up; ``sendto`` has no queue behind it, so a full
    send buffer drops the datagram, as UDP may.
    """

    __slots__ = ("sock", "on_datagram", "loop", "fd", "stats")

    def __init__(
        self,
        sock: socket.socket,
        on_datagram: Callable[[bytes, Address], None],
        loop: asyncio.AbstractEventLoop,
        stats: ServerStats,
    ) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.on_datagram = on_datagram
        self.loop = loop
        self.stats = stats
        self.fd = sock.fileno()
        loop.add_reader(self.fd, self._readable)

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def _readable(self) -> None:
        recvfrom = self.sock.recvfrom
        for _ in range(RECV_BATCH):
            try:
                data, addr = recvfrom(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. an ICMP error surfaced by the kernel
                logger.debug("UDP receive error: %s", exc)
                return
            self.on_datagram(data, (addr[0], addr[1]))

    def sendto(self, data: bytes, addr: Address) -> None:
        try:
            self.sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            self.stats.dropped += 1
        except OSError as exc:  # unreachable, too big, ...: one datagram lost
            self.stats.dropped += 1
            logger.debug("UDP send to %s failed: %s", addr, exc)

    def close(self) -> None:
        if self.fd >= 0:
            self.loop.remove_reader(self.fd)
            self.fd = -1
            self.sock.close()


# --- the server -----------------------------------------------------------------------------


class TurnServer:
    """STUN/TURN server. ``await start()``, then ``await close()``."""

    def __init__(
        self,
        config: TurnConfig,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.stats = ServerStats()
        self._clock = clock
        self.nonces = NonceIssuer(config.nonce_lifetime, clock=lambda: self._clock())
        self._auth = Authenticator(config.secret, config.realm, self.nonces, wall_clock=wall_clock)
        self.allocations = AllocationTable(config.limits)
        self._responses: OrderedDict[tuple[Hashable, bytes], tuple[float, bytes]] = OrderedDict()
        self._tcp_connections: set[_TcpConnection] = set()
        self._udp: _UdpSocket | None = None
        self._tcp_server: asyncio.base_events.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rng = random.Random()
        self._policy = config.policy
        self._family = socket.AF_INET6 if ipaddress.ip_address(config.relay_bind_ip).version == 6 else socket.AF_INET
        self.port = 0
        self._own_ips: set[str] = set()

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind the listeners (same port number for UDP and TCP) and start the sweeper."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        cfg = self.config
        attempts = 20 if cfg.port == 0 else 1
        for attempt in range(attempts):
            try:
                await self._bind(loop, cfg.port)
                break
            except OSError:
                await self._close_listeners()
                if attempt == attempts - 1:
                    raise
        self._own_ips = {cfg.host, cfg.relay_bind_ip, cfg.advertised_relay_ip}
        self._sweeper = loop.create_task(self._sweep_forever())
        logger.info(
            "TURN server on %s port %d (udp=%s tcp=%s) realm %r",
            cfg.host,
            self.port,
            cfg.udp,
            cfg.tcp,
            cfg.realm,
        )

    async def _bind(self, loop: asyncio.AbstractEventLoop, port: int) -> None:
        cfg = self.config
        family = socket.AF_INET6 if ipaddress.ip_address(cfg.host).version == 6 else socket.AF_INET
        if cfg.udp:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.bind((cfg.host, port))
            except OSError:
                sock.close()
                raise
            for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, opt, 1 << 21)
                except OSError:
                    pass  # best effort: bigger buffers only absorb bursts
            self._udp = _UdpSocket(sock, self._on_udp, loop, self.stats)
            port = self._udp.port
        if cfg.tcp:
            self._tcp_server = await loop.create_server(
                lambda: _TcpConnection(self), host=cfg.host, port=port, reuse_address=True
            )
            port = self._tcp_server.sockets[0].getsockname()[1]
        self.port = port

    async def _close_listeners(self) -> None:
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._tcp_server is not None:
            self._tcp_server.close()
            await self._tcp_server.wait_closed()
            self._tcp_server = None

    async def close(self) -> None:
        """Stop listening, drop every allocation and connection."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for allocation in list(self.allocations):
            self._drop_allocation(allocation)
        for conn in list(self._tcp_connections):
            conn.close()
        await self._close_listeners()

    @property
    def udp_address(self) -> Address | None:
        return (self.config.host, self.port) if self._udp is not None else None

    @property
    def tcp_address(self) -> Address | None:
        return (self.config.host, self.port) if self._tcp_server is not None else None

    # -- periodic expiry ---------------------------------------------------------------------

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.sweep_interval)
            try:
                self.sweep()
            except Exception:  # never let housekeeping die
                self.stats.internal_errors += 1
                logger.exception("TURN sweep failed")

    def sweep(self) -> None:
        """Expire allocations (closing their relays), permissions, channels, cached responses
        and idle TCP connections."""
        now = self._clock()
        for allocation in self.allocations.expire(now):
            logger.info("allocation %s for %s expired", allocation.relay_address, allocation.username)
            self._close_relay(allocation)
        while self._responses:
            key, (expires, _) = next(iter(self._responses.items()))
            if expires > now:
                break
            del self._responses[key]
        for conn in list(self._tcp_connections):
            if now - conn.idle_since > self.config.tcp_idle_timeout and self.allocations.get(conn.key) is None:
                conn.close()
        self.stats.allocations_active = len(self.allocations)

    # -- TCP bookkeeping -------------------------------------------------------------------------

    def _tcp_opened(self, conn: _TcpConnection) -> bool:
        if len(self._tcp_connections) >= self.config.max_tcp_connections:
            logger.warning("refusing TCP connection from %s: connection limit", conn.addr)
            return False
        self._tcp_connections.add(conn)
        self.stats.tcp_connections_active = len(self._tcp_connections)
        return True

    def _tcp_closed(self, conn: _TcpConnection) -> None:
        self._tcp_connections.discard(conn)
        self.stats.tcp_connections_active = len(self._tcp_connections)
        allocation = self.allocations.get(conn.key)
        if allocation is not None:
            self._drop_allocation(allocation)

    # -- packet entry points (each one catches everything) -------------------------------------

    def _on_udp(self, data: bytes, addr: Address) -> None:
        try:
            if data and 0x40 <= data[0] <= 0x7F:  # ChannelData: the hot path, no client object
                self._on_client_channel_data(data, ("udp", addr))
            else:
                self._on_stun(data, _UdpClient(self, addr))
        except Exception:
            self.stats.internal_errors += 1
            logger.exception("TURN server failed on a packet from %s", addr)

    def _on_frame(self, data: bytes, client: Any) -> None:
        """One framed message from a TCP connection."""
        try:
            if data and 0x40 <= data[0] <= 0x7F:
                self._on_client_channel_data(data, client.key)
            else:
                self._on_stun(data, client)
        except Exception:
            self.stats.internal_errors += 1
            logger.exception("TURN server failed on a packet from %s", client.addr)

    def _on_peer_data(self, allocation: Allocation, data: bytes, peer: Address) -> None:
        try:
            self._relay_to_client(allocation, data, peer)
        except Exception:
            self.stats.internal_errors += 1
            logger.exception("TURN server failed relaying from %s", peer)

    # -- data plane ------------------------------------------------------------------------------

    def _on_client_channel_data(self, data: bytes, key: Hashable) -> None:
        allocation = self.allocations.get(key)
        if allocation is None:
            self.stats.dropped += 1
            return
        try:
            number, payload = stun.decode_channel_data(data)
        except stun.StunDecodeError:
            self.stats.malformed += 1
            return
        binding = allocation.live_channel(number, self._clock())
        if binding is None or allocation.relay is None:
            self.stats.dropped += 1
            return
        self._send_to_peer(allocation, payload, binding.peer)

    def _send_to_peer(self, allocation: Allocation, payload: bytes, peer: Address) -> None:
        allocation.relay.sendto(payload, peer)
        self.stats.packets_to_peer += 1
        self.stats.bytes_to_peer += len(payload)

    def _relay_to_client(self, allocation: Allocation, data: bytes, peer: Address) -> None:
        client = allocation.client
        if client is None or client.closed:
            return
        now = self._clock()
        binding = allocation.live_peer_channel(peer, now)
        if binding is not None:
            frame = stun.encode_channel_data(binding.number, data, pad=client.stream)
        elif allocation.permits(peer[0], now):
            if len(data) > 0xFFFF - 40:
                self.stats.dropped += 1
                return
            tid = self._rng.getrandbits(96).to_bytes(12, "big")  # indications need no secrecy
            peer_attr = stun.encode_xor_address(peer[0], peer[1], tid)
            indication = stun.Message(Method.DATA, Class.INDICATION, tid, [(Attr.XOR_PEER_ADDRESS, peer_attr), (Attr.DATA, data)])
            frame = stun.encode(indication)
        else:
            self.stats.dropped += 1
            return
        client.send(frame)
        self.stats.packets_to_client += 1
        self.stats.bytes_to_client += len(data)

    def _on_send_indication(self, msg: stun.Message, client: Any) -> None:
        allocation = self.allocations.get(client.key)
        raw_peer = msg.get(Attr.XOR_PEER_ADDRESS)
        payload = msg.get(Attr.DATA)
        if allocation is None or allocation.relay is None or raw_peer is None or payload is None:
            self.stats.dropped += 1
            return
        try:
            peer = self._normalize(stun.decode_xor_address(raw_peer, msg.transaction_id))
        except (stun.StunDecodeError, ValueError):
            self.stats.malformed += 1
            return
        if not allocation.permits(peer[0], self._clock()):
            self.stats.dropped += 1
            return
        self._send_to_peer(allocation, payload, peer)

    # -- control plane ---------------------------------------------------------------------------

    def _on_stun(self, data: bytes, client: Any) -> None:
        try:
            msg = stun.decode(data)
        except stun.StunDecodeError:
            self.stats.malformed += 1
            return
        if stun.verify_fingerprint(msg) is False:
            self.stats.malformed += 1
            return
        if msg.cls == Class.REQUEST:
            self.stats.requests += 1
            self._on_request(msg, client)
        elif msg.cls == Class.INDICATION and msg.method == Method.SEND:
            self._on_send_indication(msg, client)
        # Binding indications are keepalives; responses to us are unexpected: both ignored.

    def _on_request(self, msg: stun.Message, client: Any) -> None:
        cache_key = (client.key, msg.transaction_id)
        cached = self._responses.get(cache_key)
        if cached is not None:
            client.send(cached[1])  # a retransmission: same answer, no second side effect
            return
        if msg.method == Method.BINDING:
            self._reply(
                msg,
                client,
                [(Attr.XOR_MAPPED_ADDRESS, stun.encode_xor_address(client.addr[0], client.addr[1], msg.transaction_id))],
            )
            return
        if msg.method not in TURN_METHODS:
            self._error(msg, client, 400)
            return
        auth = self._auth.check(msg)
        if auth.error is not None:
            logger.debug("%s from %s refused (%d): %s", Method(msg.method).name, client.addr, auth.error, auth.reason)
            self._error(msg, client, auth.error, challenge=auth.error in (401, 438))
            return
        unknown = [t for t, _ in msg.attributes if t < 0x8000 and t not in KNOWN_REQUIRED_ATTRIBUTES]
        if unknown:
            self._error(
                msg, client, 420, auth=auth, extra=[(Attr.UNKNOWN_ATTRIBUTES, stun.encode_unknown_attributes(unknown))]
            )
            return
        if msg.method == Method.ALLOCATE:
            self._allocate(msg, client, auth)
        elif msg.method == Method.REFRESH:
            self._refresh(msg, client, auth)
        elif msg.method == Method.CREATE_PERMISSION:
            self._create_permission(msg, client, auth)
        else:
            self._channel_bind(msg, client, auth)

    def _allocate(self, msg: stun.Message, client: Any, auth: AuthResult) -> None:
        key = client.key
        if self.allocations.get(key) is not None:
            self._error(msg, client, 437, auth=auth)
            return
        transport = msg.get(Attr.REQUESTED_TRANSPORT)
        if transport is None or len(transport) != 4:
            self._error(msg, client, 400, auth=auth, reason="REQUESTED-TRANSPORT missing")
            return
        if transport[0] != stun.UDP_PROTOCOL:
            self._error(msg, client, 442, auth=auth)
            return
        family = msg.get(Attr.REQUESTED_ADDRESS_FAMILY)
        if family is not None:
            wanted = socket.AF_INET if family[:1] == b"\x01" else socket.AF_INET6 if family[:1] == b"\x02" else None
            if wanted != self._family:
                self._error(msg, client, 440, auth=auth)
                return
        try:
            lifetime = self.config.limits.allocate_lifetime(self._lifetime(msg))
        except stun.StunDecodeError:
            self._error(msg, client, 400, auth=auth, reason="bad LIFETIME")
            return
        quota = self.allocations.quota_error(auth.username)
        if quota is not None:
            logger.info("allocation for %s refused: %d", auth.username, quota)
            self._error(msg, client, quota, auth=auth)
            return
        try:
            relay = self._open_relay(key)
        except OSError as exc:
            logger.warning("cannot open a relay socket: %s", exc)
            self._error(msg, client, 508, auth=auth)
            return
        port = relay.port
        allocation = Allocation(
            key=key,
            username=auth.username,
            relay_address=(self.config.advertised_relay_ip, port),
            expires=self._clock() + lifetime,
            relay=relay,
            client=client,
        )
        self.allocations.reserve(key, auth.username)
        self.allocations.add(allocation)
        self.stats.allocations_created += 1
        self.stats.allocations_active = len(self.allocations)
        logger.info("allocated %s:%d for %s (%s)", allocation.relay_address[0], port, auth.username, key[0])
        tid = msg.transaction_id
        self._reply(
            msg,
            client,
            [
                (Attr.XOR_RELAYED_ADDRESS, stun.encode_xor_address(allocation.relay_address[0], port, tid)),
                (Attr.LIFETIME, stun.encode_u32(lifetime)),
                (Attr.XOR_MAPPED_ADDRESS, stun.encode_xor_address(client.addr[0], client.addr[1], tid)),
            ],
            auth=auth,
        )

    def _open_relay(self, key: Hashable) -> _UdpSocket:
        """Bind a relay socket (in the configured port range, if any)."""
        assert self._loop is not None
        cfg = self.config
        ports = [0]
        if cfg.min_port:
            span = cfg.max_port - cfg.min_port + 1
            ports = [cfg.min_port + self._rng.randrange(span) for _ in range(min(span, 50))]
        last: OSError | None = None
        for port in ports:
            sock = socket.socket(self._family, socket.SOCK_DGRAM)
            try:
                sock.bind((cfg.relay_bind_ip, port))
            except OSError as exc:
                sock.close()
                last = exc
                continue

            def on_datagram(data: bytes, peer: Address) -> None:
                allocation = self.allocations.get(key)
                if allocation is not None:
                    self._on_peer_data(allocation, data, peer)

            return _UdpSocket(sock, on_datagram, self._loop, self.stats)
        raise last or OSError("no relay port available")

    def _lifetime(self, msg: stun.Message) -> int | None:
        raw = msg.get(Attr.LIFETIME)
        return None if raw is None else stun.decode_u32(raw)

    def _owned_allocation(self, msg: stun.Message, client: Any, auth: AuthResult) -> Allocation | None:
        allocation = self.allocations.get(client.key)
        if allocation is None:
            self._error(msg, client, 437, auth=auth)
            return None
        if allocation.username != auth.username:
            self._error(msg, client, 441, auth=auth)
            return None
        return allocation

    def _refresh(self, msg: stun.Message, client: Any, auth: AuthResult) -> None:
        allocation = self._owned_allocation(msg, client, auth)
        if allocation is None:
            return
        try:
            requested = self._lifetime(msg)
        except stun.StunDecodeError:
            self._error(msg, client, 400, auth=auth, reason="bad LIFETIME")
            return
        family = msg.get(Attr.REQUESTED_ADDRESS_FAMILY)
        if family is not None and family[:1] != (b"\x01" if self._family == socket.AF_INET else b"\x02"):
            self._error(msg, client, 443, auth=auth)
            return
        if requested == 0:
            self._drop_allocation(allocation)
            lifetime = 0
        else:
            lifetime = self.config.limits.refresh_lifetime(requested)
            allocation.expires = self._clock() + lifetime
        self._reply(msg, client, [(Attr.LIFETIME, stun.encode_u32(lifetime))], auth=auth)

    def _peer_from(self, msg: stun.Message, value: bytes, client: Any, auth: AuthResult) -> Address | None:
        """Decode and vet one XOR-PEER-ADDRESS; on failure send the error and return None."""
        try:
            peer = self._normalize(stun.decode_xor_address(value, msg.transaction_id))
        except (stun.StunDecodeError, ValueError):
            self._error(msg, client, 400, auth=auth, reason="bad XOR-PEER-ADDRESS")
            return None
        if ipaddress.ip_address(peer[0]).version != (4 if self._family == socket.AF_INET else 6):
            self._error(msg, client, 443, auth=auth)
            return None
        if not self.peer_allowed(peer):
            self.stats.denied_peer += 1
            logger.info("refused peer %s for %s (policy)", peer[0], auth.username)
            self._error(msg, client, 403, auth=auth)
            return None
        return peer

    def peer_allowed(self, peer: Address) -> bool:
        """Policy check, plus never relay into this server's own listening port."""
        if not self._policy.allows(peer[0]):
            return False
        if peer[1] == self.port and (peer[0] in self._own_ips or ipaddress.ip_address(self.config.host).is_unspecified):
            return False
        return True

    def _create_permission(self, msg: stun.Message, client: Any, auth: AuthResult) -> None:
        allocation = self._owned_allocation(msg, client, auth)
        if allocation is None:
            return
        values = msg.get_all(Attr.XOR_PEER_ADDRESS)
        if not values:
            self._error(msg, client, 400, auth=auth, reason="XOR-PEER-ADDRESS missing")
            return
        peers = []
        for value in values:
            peer = self._peer_from(msg, value, client, auth)
            if peer is None:
                return
            peers.append(peer)
        now = self._clock()
        limits = self.config.limits
        new_ips = {p[0] for p in peers} - set(allocation.permissions)
        allocation.prune(now)
        if len(allocation.permissions) + len(new_ips) > limits.max_permissions_per_allocation:
            self._error(msg, client, 508, auth=auth, reason="too many permissions")
            return
        for peer in peers:
            allocation.install_permission(peer[0], now, limits.permission_lifetime, limits.max_permissions_per_allocation)
        self._reply(msg, client, [], auth=auth)

    def _channel_bind(self, msg: stun.Message, client: Any, auth: AuthResult) -> None:
        allocation = self._owned_allocation(msg, client, auth)
        if allocation is None:
            return
        raw_number = msg.get(Attr.CHANNEL_NUMBER)
        raw_peer = msg.get(Attr.XOR_PEER_ADDRESS)
        if raw_number is None or raw_peer is None:
            self._error(msg, client, 400, auth=auth, reason="CHANNEL-NUMBER or XOR-PEER-ADDRESS missing")
            return
        try:
            number = stun.decode_channel_number(raw_number)
        except stun.StunDecodeError:
            self._error(msg, client, 400, auth=auth, reason="bad CHANNEL-NUMBER")
            return
        peer = self._peer_from(msg, raw_peer, client, auth)
        if peer is None:
            return
        now = self._clock()
        limits = self.config.limits
        try:
            allocation.bind_channel(number, peer, now, limits.channel_lifetime, limits.max_channels_per_allocation)
        except BindError as exc:
            self._error(msg, client, exc.code, auth=auth, reason=exc.reason)
            return
        if not allocation.install_permission(
            peer[0], now, limits.permission_lifetime, limits.max_permissions_per_allocation
        ):
            logger.debug("channel %#x bound without a separate permission (permission table full)", number)
        self._reply(msg, client, [], auth=auth)

    # -- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _normalize(peer: Address) -> Address:
        ip = ipaddress.ip_address(peer[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return str(ip), peer[1]

    def _drop_allocation(self, allocation: Allocation) -> None:
        self.allocations.remove(allocation.key)
        self._close_relay(allocation)
        self.stats.allocations_active = len(self.allocations)

    def _close_relay(self, allocation: Allocation) -> None:
        if isinstance(allocation.client, _TcpConnection):
            allocation.client.idle_since = self._clock()
        relay = allocation.relay
        allocation.relay = None
        if relay is not None:
            relay.close()

    def _reply(
        self,
        msg: stun.Message,
        client: Any,
        attributes: list[tuple[int, bytes]],
        auth: AuthResult | None = None,
        cls: int = Class.SUCCESS,
    ) -> None:
        response = stun.Message(msg.method, cls, msg.transaction_id, list(attributes))
        if self.config.software:
            response.add(Attr.SOFTWARE, self.config.software)
        data = stun.encode(response, integrity_key=auth.key if auth is not None else None, fingerprint=True)
        if auth is not None:
            # Authenticated requests change state: remember the answer for retransmissions.
            self._responses[(client.key, msg.transaction_id)] = (self._clock() + RESPONSE_CACHE_SECONDS, data)
            while len(self._responses) > RESPONSE_CACHE_MAX:
                self._responses.popitem(last=False)
        client.send(data)

    def _error(
        self,
        msg: stun.Message,
        client: Any,
        code: int,
        auth: AuthResult | None = None,
        challenge: bool = False,
        reason: str | None = None,
        extra: list[tuple[int, bytes]] | None = None,
    ) -> None:
        self.stats.errors_sent += 1
        attributes = [(Attr.ERROR_CODE, stun.encode_error_code(code, reason))]
        if challenge:
            attributes.append((Attr.REALM, self.config.realm.encode("utf-8")))
            attributes.append((Attr.NONCE, self.nonces.issue().encode("ascii")))
        attributes.extend(extra or [])
        self._reply(msg, client, attributes, auth=auth, cls=Class.ERROR)

