"""WebRTC for the headless peer: one aiortc RTCPeerConnection per remote player (full mesh),
the game DataChannel exactly as ``static/js/transport.js`` opens it, the path read from the
selected candidate pair, byte/message counters and the seeded impairment shim.

Interop with the browser's transport:
- Channel: label ``game``, ``ordered=False``, ``maxRetransmits=0``, pre-negotiated
  (``negotiated=True, id=0``) on both sides, binary messages (a text message is taken as
  its UTF-8 bytes, like ``toBytes`` in transport.js).
- Roles: for each pair the LOWER player index offers; the other answers.
- ICE: aiortc gathers every candidate inside ``setLocalDescription``, so our offers and
  answers carry all candidates (no trickle from this side). The browser trickles: each
  ``candidate`` signal is added with ``addIceCandidate`` (queued until the remote
  description is set); ``null`` is end-of-candidates.
- ICE servers: only those given (the server's ``game_ready.ice_servers``). The
  ``RTCConfiguration`` always carries an explicit list, so aiortc never falls back to its
  built-in public STUN server. aiortc uses the first STUN and the first TURN URL of the list.
- No ICE restart: aiortc cannot do one. A ``restart`` request is logged and counted.
- mDNS host candidates (``*.local``) from browsers are skipped unless ``resolve_mdns``:
  resolving them means multicast on the network.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Mapping, Sequence

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

from .impairment import Impairment, link_seed

logger = logging.getLogger(__name__)

GAME_CHANNEL_LABEL = "game"
GAME_CHANNEL_ID = 0

SendSignal = Callable[[int, str, Any], Awaitable[None]]
"""``send_signal(to_player, kind, data)`` with the server's signal ``data`` shapes."""


class RtcError(RuntimeError):
    """A WebRTC link could not be set up (timeout, failed ICE, bad configuration)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


def to_ice_servers(servers: Sequence[Mapping[str, Any]] | None) -> list[RTCIceServer]:
    """RTCIceServer dicts (``{urls, username?, credential?}``) as aiortc objects. Never adds one."""
    out: list[RTCIceServer] = []
    for i, server in enumerate(servers or ()):
        urls = server.get("urls")
        if isinstance(urls, str):
            urls = [urls]
        if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
            raise RtcError("bad_ice_servers", f"ice_servers[{i}].urls must be a URL or a list of URLs, got {urls!r}")
        out.append(RTCIceServer(urls=list(urls), username=server.get("username"), credential=server.get("credential")))
    return out


def rtc_configuration(ice_servers: Sequence[Mapping[str, Any]] | None, policy: str = "all") -> RTCConfiguration:
    if policy not in ("all", "relay"):
        raise RtcError("bad_policy", f"ice_transport_policy must be 'all' or 'relay', got {policy!r}")
    return RTCConfiguration(
        iceServers=to_ice_servers(ice_servers),  # explicit, even when empty: no public STUN fallback
        iceTransportPolicy=RTCIceTransportPolicy.RELAY if policy == "relay" else RTCIceTransportPolicy.ALL,
    )


def path_of(pc: RTCPeerConnection) -> dict[str, Any] | None:
    """The selected candidate pair as ``{kind, protocol, local_candidate_type,
    remote_candidate_type, local_address, remote_address}``, or None before ICE nominated one.

    aiortc's getStats() has no candidate-pair entries, so this reads aioice's nominated pair.
    For a local relay candidate ``protocol`` is the protocol to the TURN server (what a
    firewall sees), as transport.js reports ``relayProtocol``.
    """
    try:
        connection = pc.sctp.transport.transport._connection  # aioice.Connection
        pair = connection._nominated.get(1)
    except AttributeError:
        return None
    if pair is None:
        return None
    local, remote = pair.local_candidate, pair.remote_candidate
    if local.type == "relay":
        protocol = str(getattr(connection, "turn_transport", "udp") or "udp").lower()
    else:
        protocol = str(local.transport).lower()
    return {
        "kind": "relay" if "relay" in (local.type, remote.type) else "direct",
        "protocol": protocol if protocol in ("udp", "tcp") else None,
        "local_candidate_type": local.type,
        "remote_candidate_type": remote.type,
        "local_address": f"{local.host}:{local.port}",
        "remote_address": f"{remote.host}:{remote.port}",
    }


@dataclass
class Counters:
    bytes_sent: int = 0
    bytes_received: int = 0
    messages_sent: int = 0
    messages_received: int = 0
    messages_dropped: int = 0
    """Dropped by the impairment shim or because the channel was not open."""


@dataclass
class Link:
    """One remote player."""

    peer: int
    offerer: bool
    pc: RTCPeerConnection | None = None
    dc: Any = None
    state: str = "new"
    """new | connecting | open | interrupted | failed | closed (transport.js's link states)."""
    pending_candidates: list[Any] = field(default_factory=list)
    impairment: Impairment | None = None
    pending_sends: set[asyncio.TimerHandle] = field(default_factory=set)
    counters: Counters = field(default_factory=Counters)
    path: dict[str, Any] | None = None
    opened: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    restart_requests: int = 0
    skipped_candidates: int = 0


class RtcMesh:
    """DataChannels to every other player. ``send(peer, bytes)`` is the session's transport."""

    def __init__(
        self,
        self_index: int,
        peers: Sequence[int],
        send_signal: SendSignal,
        *,
        ice_servers: Sequence[Mapping[str, Any]] | None = None,
        ice_transport_policy: str = "all",
        impairment: Mapping[str, Any] | None = None,
        on_message: Callable[[int, bytes], None] | None = None,
        on_state: Callable[[int, str], None] | None = None,
        now: Callable[[], float] | None = None,
        resolve_mdns: bool = False,
    ) -> None:
        if self_index in peers or not peers:
            raise RtcError("bad_peers", f"peers {list(peers)!r} must be non-empty and exclude self {self_index}")
        self.self_index = self_index
        self.send_signal = send_signal
        self.ice_servers = list(ice_servers or [])
        self.policy = ice_transport_policy
        rtc_configuration(self.ice_servers, self.policy)  # fail now on a bad list, not per peer
        self.impairment = dict(impairment) if impairment else None
        self.on_message = on_message
        self.on_state = on_state
        self.now = now or (lambda: time.monotonic() * 1000.0)
        self.resolve_mdns = resolve_mdns
        self.links: dict[int, Link] = {p: self._new_link(p) for p in peers}
        self.closed = False
        self._tasks: set[asyncio.Task[Any]] = set()

    def _new_link(self, peer: int) -> Link:
        imp = None
        if self.impairment:
            imp = Impairment.from_settings(self.impairment, seed=link_seed(int(self.impairment.get("seed", 0)), self.self_index, peer))
        return Link(peer=peer, offerer=self.self_index < peer, impairment=imp)

    # ---- setup ---------------------------------------------------------------------------------

    async def start(self) -> None:
        """Create every connection; the lower index of each pair sends its (complete) offer."""
        for link in self.links.values():
            self._open(link)
        await asyncio.gather(*(self._offer(link) for link in self.links.values() if link.offerer))

    async def reconnect(self, peer: int) -> None:
        """A new connection to ``peer`` (after ``peer_rejoined``: the browser reloaded)."""
        old = self.links.get(peer)
        if old is None:
            raise RtcError("bad_peer", f"no such peer {peer}")
        await self._close_link(old)
        link = self._new_link(peer)
        link.counters = old.counters  # totals of the game, not of one connection
        self.links[peer] = link
        self._open(link)
        if link.offerer:
            await self._offer(link)

    def _open(self, link: Link) -> None:
        pc = RTCPeerConnection(rtc_configuration(self.ice_servers, self.policy))
        link.pc = pc
        dc = pc.createDataChannel(GAME_CHANNEL_LABEL, ordered=False, maxRetransmits=0, negotiated=True, id=GAME_CHANNEL_ID)
        link.dc = dc

        @dc.on("open")
        def on_open() -> None:
            if link.dc is not dc:
                return
            self._set_state(link, "open")
            link.path = path_of(pc)
            link.opened.set()

        @dc.on("close")
        def on_close() -> None:
            if link.dc is dc and not self.closed:
                self._set_state(link, "closed")

        @dc.on("message")
        def on_message(message: bytes | str) -> None:
            data = message.encode("utf-8") if isinstance(message, str) else bytes(message)
            link.counters.bytes_received += len(data)
            link.counters.messages_received += 1
            if self.on_message is not None:
                try:
                    self.on_message(link.peer, data)
                except Exception:  # the session must never throw into the network layer
                    logger.exception("on_message from player %s failed", link.peer)

        @pc.on("connectionstatechange")
        def on_connection_state() -> None:
            if link.pc is not pc or self.closed:
                return
            state = pc.connectionState
            if state == "failed":
                self._set_state(link, "failed")
            elif state == "connected":
                link.path = path_of(pc) or link.path
                if link.state == "interrupted":
                    self._set_state(link, "open")

        self._set_state(link, "connecting")

    async def _offer(self, link: Link) -> None:
        async with link.lock:
            pc = link.pc
            assert pc is not None
            await pc.setLocalDescription(await pc.createOffer())  # gathers every candidate
            sdp = pc.localDescription.sdp
        # Sent outside the lock: an in-process signaling path may answer re-entrantly.
        await self.send_signal(link.peer, "offer", {"type": "offer", "sdp": sdp})

    async def handle_signal(self, sender: int, kind: str, data: Any) -> None:
        """A ``signal`` from the server (``from``, ``kind``, ``data``); bad ones are logged and ignored."""
        link = self.links.get(sender)
        if link is None or link.pc is None or self.closed:
            logger.warning("signal %r from unknown or closed player %s ignored", kind, sender)
            return
        reply = None
        async with link.lock:  # one peer's steps strictly in order
            try:
                reply = await self._handle(link, kind, data)
            except Exception as exc:
                logger.warning("signal %r from player %s failed: %s", kind, sender, exc)
        if reply is not None:
            await self.send_signal(link.peer, *reply)

    async def _handle(self, link: Link, kind: str, data: Any) -> tuple[str, Any] | None:
        pc = link.pc
        assert pc is not None
        if kind == "offer":
            if link.offerer:
                raise RtcError("signaling", f"player {link.peer} sent an offer but this side offers")
            await pc.setRemoteDescription(RTCSessionDescription(sdp=data["sdp"], type="offer"))
            await self._flush_candidates(link)
            await pc.setLocalDescription(await pc.createAnswer())
            return "answer", {"type": "answer", "sdp": pc.localDescription.sdp}
        elif kind == "answer":
            if not link.offerer:
                raise RtcError("signaling", f"player {link.peer} sent an answer but this side answers")
            if pc.signalingState != "have-local-offer":
                raise RtcError("signaling", f"answer in signaling state {pc.signalingState}")
            await pc.setRemoteDescription(RTCSessionDescription(sdp=data["sdp"], type="answer"))
            await self._flush_candidates(link)
        elif kind == "candidate":
            if pc.remoteDescription is None:
                link.pending_candidates.append(data)
            else:
                await self._add_candidate(link, data)
        elif kind == "restart":
            link.restart_requests += 1
            logger.warning("player %s asked for an ICE restart; aiortc cannot restart ICE", link.peer)
        else:
            raise RtcError("signaling", f"unknown signaling kind {kind!r}")
        return None

    async def _flush_candidates(self, link: Link) -> None:
        queued, link.pending_candidates = link.pending_candidates, []
        for c in queued:
            await self._add_candidate(link, c)

    async def _add_candidate(self, link: Link, data: Any) -> None:
        pc = link.pc
        assert pc is not None
        text = data.get("candidate", "") if isinstance(data, dict) else ""
        if data is None or not text:
            await pc.addIceCandidate(None)  # end of candidates
            return
        if text.startswith("candidate:"):
            text = text[len("candidate:"):]
        try:
            candidate = candidate_from_sdp(text)
        except (AssertionError, ValueError, IndexError) as exc:
            logger.warning("unparsable candidate from player %s ignored: %r (%s)", link.peer, data, exc)
            return
        if candidate.ip.endswith(".local") and not self.resolve_mdns:
            link.skipped_candidates += 1
            return
        candidate.sdpMid = data.get("sdpMid")
        candidate.sdpMLineIndex = data.get("sdpMLineIndex")
        if candidate.sdpMid is None and candidate.sdpMLineIndex is None:
            candidate.sdpMLineIndex = 0
        try:
            await pc.addIceCandidate(candidate)
        except Exception as exc:  # e.g. another address family: not fatal, as in the browser
            logger.info("addIceCandidate from player %s: %s", link.peer, exc)

    async def wait_open(self, timeout_s: float) -> None:
        """Until every DataChannel is open; RtcError naming the peers and ICE states otherwise."""
        gathered = asyncio.gather(*(link.opened.wait() for link in self.links.values()))
        # When the wait itself is cancelled (the game was given up), the gather ends with a
        # CancelledError nobody reads: mark it read so asyncio does not log it as lost.
        gathered.add_done_callback(lambda f: f.cancelled() or f.exception())
        try:
            await asyncio.wait_for(gathered, timeout_s)
        except asyncio.TimeoutError:
            waiting = [
                f"player {l.peer} (ICE {l.pc.iceConnectionState if l.pc else 'none'})"
                for l in self.links.values() if not l.opened.is_set()
            ]
            raise RtcError(
                "connect_timeout",
                f"no WebRTC connection to {', '.join(waiting)} within {timeout_s:g} s "
                f"(policy {self.policy}, {len(self.ice_servers)} ICE server(s))",
            ) from None

    # ---- data ----------------------------------------------------------------------------------

    def send(self, peer: int, data: bytes) -> None:
        """The session's transport: bytes to one peer through the impairment shim (if any)."""
        link = self.links.get(peer)
        if link is None:
            raise RtcError("bad_peer", f"send: unknown peer {peer}")
        if link.impairment is None:
            self._raw_send(link, data)
            return
        t = self.now()
        deliveries = link.impairment.schedule(t, len(data))
        if not deliveries:
            link.counters.messages_dropped += 1
            return
        payload = bytes(data)  # the caller may reuse its buffer
        loop = asyncio.get_running_loop()
        for at in deliveries:
            delay = at - t
            if delay <= 0:
                self._raw_send(link, payload)
            else:
                self._send_later(loop, link, delay, payload)

    def _send_later(self, loop: asyncio.AbstractEventLoop, link: Link, delay_ms: float, payload: bytes) -> None:
        holder: list[asyncio.TimerHandle] = []

        def deliver() -> None:
            link.pending_sends.discard(holder[0])
            if not self.closed:
                self._raw_send(link, payload)

        holder.append(loop.call_later(delay_ms / 1000.0, deliver))
        link.pending_sends.add(holder[0])

    def _raw_send(self, link: Link, data: bytes) -> bool:
        dc = link.dc
        # After ICE is lost aiortc still accepts dc.send() and fails later in a background
        # task; a lost connection drops the message here instead, like a closed channel.
        if dc is None or dc.readyState != "open" or link.pc is None or link.pc.connectionState in ("failed", "closed"):
            link.counters.messages_dropped += 1
            return False
        try:
            dc.send(data)
        except Exception:  # closing under our feet: lost, as on any lossy link
            link.counters.messages_dropped += 1
            return False
        link.counters.bytes_sent += len(data)
        link.counters.messages_sent += 1
        return True

    # ---- state ---------------------------------------------------------------------------------

    def _set_state(self, link: Link, state: str) -> None:
        if link.state == state:
            return
        link.state = state
        if self.on_state is not None:
            try:
                self.on_state(link.peer, state)
            except Exception:
                logger.exception("on_state listener failed")

    def path(self, peer: int | None = None) -> dict[str, Any] | None:
        """The path to ``peer`` (re-read now), or the 'worst' over all peers: relay beats direct."""
        paths = []
        for link in self.links.values():
            if peer is not None and link.peer != peer:
                continue
            if link.pc is not None:
                link.path = path_of(link.pc) or link.path
            if link.path is not None:
                paths.append(link.path)
        if not paths:
            return None
        return sorted(paths, key=lambda p: (p["kind"] != "relay", p["protocol"] != "tcp"))[0]

    def impairment_log(self, peer: int) -> list[dict[str, Any]] | None:
        link = self.links.get(peer)
        return None if link is None or link.impairment is None else link.impairment.log

    def stats(self) -> dict[str, Any]:
        per_peer = {}
        totals = Counters()
        for peer, link in self.links.items():
            c = link.counters
            per_peer[peer] = {**c.__dict__, "state": link.state, "path": link.path,
                              "restart_requests": link.restart_requests, "skipped_candidates": link.skipped_candidates}
            for k in totals.__dict__:
                setattr(totals, k, getattr(totals, k) + getattr(c, k))
        return {**totals.__dict__, "per_peer": per_peer}

    async def _close_link(self, link: Link) -> None:
        for handle in link.pending_sends:
            handle.cancel()
        link.pending_sends.clear()
        pc, link.pc, link.dc = link.pc, None, None
        link.state = "closed"
        if pc is not None:
            await pc.close()

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        await asyncio.gather(*(self._close_link(link) for link in self.links.values()), return_exceptions=True)
