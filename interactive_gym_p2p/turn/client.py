"""A small asyncio TURN client on this package's codec: tests, the benchmark, health checks.

It speaks exactly what a browser speaks (long-term credentials with the 401/438 dance,
Allocate/Refresh/CreatePermission/ChannelBind, Send indications, ChannelData over UDP or TCP)
and checks MESSAGE-INTEGRITY on every authenticated answer, so a server that signs wrongly
fails loudly here. Not used by the app at run time.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import stun
from .stun import Attr, Class, Method

logger = logging.getLogger(__name__)

Address = tuple[str, int]
DataHandler = Callable[[Address | None, int | None, bytes], None]
"""Called with (peer or None, channel or None, payload) for every relayed packet received."""


def _method_name(method: int) -> str:
    try:
        return Method(method).name
    except ValueError:
        return f"method {method:#x}"


class TurnError(Exception):
    """The server answered with an error response."""

    def __init__(self, code: int, reason: str, response: stun.Message) -> None:
        super().__init__(f"TURN error {code} {reason}")
        self.code = code
        self.reason = reason
        self.response = response


class TurnProtocolError(Exception):
    """The server's answer breaks the protocol (e.g. an unsigned answer to a signed request)."""


@dataclass
class Received:
    """One relayed packet."""

    peer: Address | None
    channel: int | None
    data: bytes


class _Proto(asyncio.Protocol, asyncio.DatagramProtocol):
    def __init__(self, client: TurnClient) -> None:
        self.client = client
        self.framer = stun.StreamFramer()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.client._on_packet(data)

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.framer.feed(data)
        except stun.StunDecodeError:
            self.client.close()
            return
        for frame in frames:
            self.client._on_packet(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        self.client._lost()

    def error_received(self, exc: Exception) -> None:
        pass


class TurnClient:
    """One TURN client connection (one allocation at most)."""

    def __init__(self, server: Address, transport: str, username: str | None, password: str | None) -> None:
        self.server = server
        self.transport_name = transport
        self.username = username
        self.password = password
        self.realm: str | None = None
        self.nonce: bytes | None = None
        self.key: bytes | None = None
        self.relayed_address: Address | None = None
        self.mapped_address: Address | None = None
        self.lifetime: int | None = None
        self.received: asyncio.Queue[Received] = asyncio.Queue()
        self.on_data: DataHandler | None = None
        self.raw_log: list[bytes] | None = None
        """Set to a list to record every frame received, exactly as framed (tests)."""
        self._transport: Any = None
        self._pending: dict[bytes, asyncio.Future[stun.Message]] = {}
        self._closed = asyncio.Event()

    @classmethod
    async def connect(
        cls,
        server: Address,
        transport: str = "udp",
        username: str | None = None,
        password: str | None = None,
    ) -> TurnClient:
        if transport not in ("udp", "tcp"):
            raise ValueError("transport must be 'udp' or 'tcp'")
        client = cls(server, transport, username, password)
        loop = asyncio.get_running_loop()
        if transport == "udp":
            client._transport, _ = await loop.create_datagram_endpoint(lambda: _Proto(client), remote_addr=server)
        else:
            client._transport, _ = await loop.create_connection(lambda: _Proto(client), server[0], server[1])
        return client

    @property
    def local_address(self) -> Address:
        name = self._transport.get_extra_info("sockname")
        return name[0], name[1]

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self._lost()

    def _lost(self) -> None:
        self._closed.set()
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError("TURN connection closed"))

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # -- sending ---------------------------------------------------------------------------------

    def send_raw(self, data: bytes) -> None:
        """Send bytes as they are (fuzzing)."""
        if self.transport_name == "udp":
            self._transport.sendto(data)
        else:
            self._transport.write(data)

    async def request(
        self, msg: stun.Message, authenticate: bool = True, timeout: float = 5.0, retry_auth: bool = True
    ) -> stun.Message:
        """Run one transaction; on 401/438 with credentials, retry once with the new nonce.

        Returns the success response or raises :class:`TurnError`.
        """
        response = await self._transaction(msg, authenticate, timeout)
        if response.cls == Class.ERROR:
            code, reason = stun.decode_error_code(response.get(Attr.ERROR_CODE) or b"\0\0\0\0")
            nonce = response.get(Attr.NONCE)
            realm = response.get(Attr.REALM)
            can_retry = retry_auth and authenticate and self.username is not None and nonce is not None
            if can_retry and (code == 401 and realm is not None or code == 438 and self.realm is not None):
                self.nonce = nonce
                if realm is not None:
                    self.realm = realm.decode("utf-8")
                assert self.realm is not None and self.password is not None and self.username is not None
                self.key = stun.long_term_key(self.username, self.realm, self.password)
                retry = stun.Message(msg.method, msg.cls, os.urandom(12), list(msg.attributes))
                return await self.request(retry, authenticate, timeout, retry_auth=False)
            raise TurnError(code, reason, response)
        return response

    async def _transaction(self, msg: stun.Message, authenticate: bool, timeout: float) -> stun.Message:
        key = None
        if authenticate and self.key is not None and self.username is not None:
            assert self.realm is not None and self.nonce is not None
            msg = stun.Message(msg.method, msg.cls, msg.transaction_id, list(msg.attributes))
            msg.add(Attr.USERNAME, self.username).add(Attr.REALM, self.realm).add(Attr.NONCE, self.nonce)
            key = self.key
        data = stun.encode(msg, integrity_key=key, fingerprint=True)
        fut: asyncio.Future[stun.Message] = asyncio.get_running_loop().create_future()
        self._pending[msg.transaction_id] = fut
        loop = asyncio.get_running_loop()
        try:
            deadline = loop.time() + timeout
            rto = 0.25 if self.transport_name == "udp" else timeout  # TCP is reliable: send once
            while True:
                self.send_raw(data)
                wait = min(rto, deadline - loop.time())
                try:
                    response = await asyncio.wait_for(asyncio.shield(fut), max(wait, 0.0))
                    break
                except asyncio.TimeoutError:
                    if loop.time() >= deadline:
                        raise asyncio.TimeoutError(
                            f"no answer to {_method_name(msg.method)} from {self.server} within {timeout} s"
                        ) from None
                    rto = min(rto * 2, 2.0)
        finally:
            self._pending.pop(msg.transaction_id, None)
        code = None
        if response.cls == Class.ERROR:
            code = stun.decode_error_code(response.get(Attr.ERROR_CODE) or b"\0\0\0\0")[0]
        if key is not None and code not in (401, 438) and not stun.verify_integrity(response, key):
            raise TurnProtocolError(f"answer to {_method_name(msg.method)} is not signed with our key")
        return response

    def _on_packet(self, data: bytes) -> None:
        if self.raw_log is not None:
            self.raw_log.append(data)
        try:
            if stun.is_channel_data(data):
                channel, payload = stun.decode_channel_data(data)
                self._deliver(None, channel, payload)
                return
            msg = stun.decode(data)
        except stun.StunDecodeError:
            logger.debug("client dropped a malformed packet")
            return
        if msg.cls in (Class.SUCCESS, Class.ERROR):
            fut = self._pending.get(msg.transaction_id)
            if fut is not None and not fut.done():
                fut.set_result(msg)
        elif msg.cls == Class.INDICATION and msg.method == Method.DATA:
            peer_raw, payload = msg.get(Attr.XOR_PEER_ADDRESS), msg.get(Attr.DATA)
            if peer_raw is None or payload is None:
                return
            try:
                peer = stun.decode_xor_address(peer_raw, msg.transaction_id)
            except stun.StunDecodeError:
                return
            self._deliver(peer, None, payload)

    def _deliver(self, peer: Address | None, channel: int | None, payload: bytes) -> None:
        if self.on_data is not None:
            self.on_data(peer, channel, payload)
        else:
            self.received.put_nowait(Received(peer, channel, payload))

    # -- TURN operations ---------------------------------------------------------------------------

    @staticmethod
    def _new(method: int) -> stun.Message:
        return stun.Message(method, Class.REQUEST, os.urandom(12))

    async def binding(self, timeout: float = 5.0) -> Address:
        response = await self.request(self._new(Method.BINDING), authenticate=False, timeout=timeout)
        raw = response.get(Attr.XOR_MAPPED_ADDRESS)
        if raw is None:
            raise TurnProtocolError("Binding response without XOR-MAPPED-ADDRESS")
        return stun.decode_xor_address(raw, response.transaction_id)

    async def allocate(
        self, lifetime: int | None = None, transport_protocol: int = stun.UDP_PROTOCOL, timeout: float = 5.0
    ) -> Address:
        msg = self._new(Method.ALLOCATE).add(Attr.REQUESTED_TRANSPORT, stun.encode_requested_transport(transport_protocol))
        if lifetime is not None:
            msg.add(Attr.LIFETIME, stun.encode_u32(lifetime))
        response = await self.request(msg, timeout=timeout)
        tid = response.transaction_id
        relayed, mapped, life = (response.get(a) for a in (Attr.XOR_RELAYED_ADDRESS, Attr.XOR_MAPPED_ADDRESS, Attr.LIFETIME))
        if relayed is None or mapped is None or life is None:
            raise TurnProtocolError("Allocate success without XOR-RELAYED-ADDRESS/XOR-MAPPED-ADDRESS/LIFETIME")
        self.relayed_address = stun.decode_xor_address(relayed, tid)
        self.mapped_address = stun.decode_xor_address(mapped, tid)
        self.lifetime = stun.decode_u32(life)
        return self.relayed_address

    async def refresh(self, lifetime: int | None = None, timeout: float = 5.0) -> int:
        msg = self._new(Method.REFRESH)
        if lifetime is not None:
            msg.add(Attr.LIFETIME, stun.encode_u32(lifetime))
        response = await self.request(msg, timeout=timeout)
        raw = response.get(Attr.LIFETIME)
        if raw is None:
            raise TurnProtocolError("Refresh success without LIFETIME")
        self.lifetime = stun.decode_u32(raw)
        return self.lifetime

    async def create_permission(self, *peers: Address, timeout: float = 5.0) -> None:
        msg = self._new(Method.CREATE_PERMISSION)
        for ip, port in peers:
            msg.add(Attr.XOR_PEER_ADDRESS, stun.encode_xor_address(ip, port, msg.transaction_id))
        await self.request(msg, timeout=timeout)

    async def channel_bind(self, channel: int, peer: Address, timeout: float = 5.0) -> None:
        msg = self._new(Method.CHANNEL_BIND)
        msg.add(Attr.CHANNEL_NUMBER, stun.encode_channel_number(channel))
        msg.add(Attr.XOR_PEER_ADDRESS, stun.encode_xor_address(peer[0], peer[1], msg.transaction_id))
        await self.request(msg, timeout=timeout)

    def send_indication(self, peer: Address, data: bytes) -> None:
        msg = stun.Message(Method.SEND, Class.INDICATION, os.urandom(12))
        msg.add(Attr.XOR_PEER_ADDRESS, stun.encode_xor_address(peer[0], peer[1], msg.transaction_id))
        msg.add(Attr.DATA, data)
        self.send_raw(stun.encode(msg, fingerprint=True))

    def send_channel_data(self, channel: int, data: bytes) -> None:
        self.send_raw(stun.encode_channel_data(channel, data, pad=self.transport_name == "tcp"))
