"""The catch-up transfer (``static/js/catchup.js``): one catch-up document sent in chunks over
the lossy, unordered game channel, with selective-repeat acknowledgements (docs/protocol.md,
"Catch-up"). :class:`CatchupSender` is the source's side of one transfer,
:class:`CatchupReceiver` the rejoiner's. Neither sends anything: the session asks them what
is due and sends it."""

from __future__ import annotations

import logging
import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from ..protocol import CATCHUP_ACK_WINDOW, CATCHUP_CHUNK_BYTES, CatchupChunk, CatchupOffer

logger = logging.getLogger(__name__)

MAX_CATCHUP_DOC_BYTES = 64 * 1024 * 1024
"""Largest catch-up document a rejoiner accepts."""


def chunk_count(size: int) -> int:
    return -(-size // CATCHUP_CHUNK_BYTES)


def random_nonce() -> int:
    """A fresh random u32 for a rejoin."""
    return secrets.randbits(32)


class CatchupSender:
    """The source's side of one transfer."""

    def __init__(self, nonce: int, data: bytes, created_at: float, known: int, confirmed: int) -> None:
        self.nonce = nonce
        self.data = data
        self.created_at = created_at
        self.known = known  # what the offer says (frames, -1 = none)
        self.confirmed = confirmed
        self.total = chunk_count(len(data))
        self.acked = bytearray(self.total)
        self.acked_count = 0
        self.next = 0  # chunks 0..next-1 are acknowledged
        self.last_sent = [-math.inf] * self.total
        self.started = False  # the rejoiner chose us (an ACK of this nonce arrived)
        self.chunks_sent = 0

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def done(self) -> bool:
        return self.acked_count == self.total

    def on_ack(self, next_: int, mask: int) -> None:
        self.started = True
        for i in range(self.next, min(next_, self.total)):
            self._mark(i)
        for b in range(CATCHUP_ACK_WINDOW):
            if (mask >> b) & 1:
                i = next_ + 1 + b
                if i < self.total:
                    self._mark(i)
        while self.next < self.total and self.acked[self.next]:
            self.next += 1

    def _mark(self, i: int) -> None:
        if not self.acked[i]:
            self.acked[i] = 1
            self.acked_count += 1

    def due(self, now: float, rto_ms: float, limit: int) -> list[int]:
        """Unacknowledged chunks never sent or sent ``rto_ms`` ago, inside the window the
        rejoiner can acknowledge, lowest first."""
        out: list[int] = []
        if not self.started:
            return out
        end = min(self.total, self.next + 1 + CATCHUP_ACK_WINDOW)
        for i in range(self.next, end):
            if len(out) >= limit:
                break
            if not self.acked[i] and now - self.last_sent[i] >= rto_ms:
                out.append(i)
        return out

    def chunk(self, i: int) -> bytes:
        return self.data[i * CATCHUP_CHUNK_BYTES : (i + 1) * CATCHUP_CHUNK_BYTES]

    def mark_sent(self, i: int, now: float) -> None:
        self.last_sent[i] = now
        self.chunks_sent += 1


@dataclass
class _Offer:
    size: int
    known: int
    confirmed: int


class CatchupReceiver:
    """The rejoiner's side: the offers, the choice of a source, the chunks."""

    def __init__(self, nonce: int) -> None:
        self.nonce = nonce
        self.offers: dict[int, _Offer] = {}
        self.source: int | None = None
        self.size = 0
        self.total = 0
        self.chunks: list[bytes | None] | None = None
        self.have = 0
        self.have_bytes = 0
        self.next = 0
        self.bytes_received = 0
        self.chunks_received = 0

    def on_offer(self, peer: int, msg: CatchupOffer) -> bool:
        if msg.nonce != self.nonce or not 1 <= msg.size <= MAX_CATCHUP_DOC_BYTES:
            return False
        if peer not in self.offers:
            known = -1 if msg.known is None else msg.known
            confirmed = -1 if msg.confirmed is None else msg.confirmed
            self.offers[peer] = _Offer(msg.size, known, confirmed)
        return True

    def choose(self, active: Iterable[int]) -> int | None:
        """The source once every active peer offered: greatest known, then confirmed, then lowest index."""
        if self.source is not None:
            return self.source
        best: int | None = None
        for p in active:
            o = self.offers.get(p)
            if o is None:
                return None
            if best is None:
                best = p
                continue
            b = self.offers[best]
            if (o.known, o.confirmed, -p) > (b.known, b.confirmed, -best):
                best = p
        if best is None:
            return None
        self.source = best
        self.size = self.offers[best].size
        self.total = chunk_count(self.size)
        self.chunks = [None] * self.total
        return best

    def drop_source(self) -> None:
        if self.source is not None:
            self.offers.pop(self.source, None)
        self.source = None
        self.chunks = None
        self.have = self.have_bytes = self.next = self.total = self.size = 0

    def on_chunk(self, peer: int, msg: CatchupChunk) -> str:
        """``"new"``, ``"duplicate"`` or ``"ignored"``."""
        if peer != self.source or msg.nonce != self.nonce or self.chunks is None or msg.index >= self.total:
            return "ignored"
        expected = self.size - CATCHUP_CHUNK_BYTES * (self.total - 1) if msg.index == self.total - 1 else CATCHUP_CHUNK_BYTES
        if len(msg.data) != expected:
            return "ignored"
        self.chunks_received += 1
        self.bytes_received += len(msg.data)
        if self.chunks[msg.index] is not None:
            return "duplicate"
        self.chunks[msg.index] = msg.data
        self.have += 1
        self.have_bytes += len(msg.data)
        while self.next < self.total and self.chunks[self.next] is not None:
            self.next += 1
        return "new"

    @property
    def complete(self) -> bool:
        return self.chunks is not None and self.have == self.total

    def ack(self) -> tuple[int, int, int]:
        """(nonce, next, mask) for a CatchupAck."""
        mask = 0
        assert self.chunks is not None
        for b in range(CATCHUP_ACK_WINDOW):
            i = self.next + 1 + b
            if i < self.total and self.chunks[i] is not None:
                mask |= 1 << b
        return self.nonce, self.next, mask

    def assemble(self) -> bytes:
        assert self.chunks is not None
        return b"".join(c for c in self.chunks if c is not None)

    def progress(self) -> tuple[int, int]:
        """(document bytes in hand, document size)."""
        return self.have_bytes, self.size
