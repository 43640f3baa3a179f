"""Sync validation bookkeeping (``static/js/desync.js``): our hashes of confirmed frames, the
peers' hashes (buffered when early), comparison, the verified frame per peer, and the resend
rule for hashes lost on the unreliable channel (a late second copy of a hash we hold is a
request: answer it, rate-limited and capped per frame so two peers never bounce forever)."""

from __future__ import annotations

import logging
import math
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

MAX_ANSWERS_PER_FRAME = 20


@dataclass
class LocalHash:
    frame: int
    hash: str
    episode: int
    time: float
    last_request: dict[int, float] = field(default_factory=dict)


@dataclass
class RemoteHash:
    hash: str
    first_recv: float
    answers: int = 0
    last_answer: float = -math.inf
    result: bool | None = None  # None: not compared yet


@dataclass
class DesyncStats:
    compared: int = 0
    mismatches: int = 0
    hashes_dropped: int = 0
    requests_sent: int = 0
    answers_sent: int = 0
    duplicates: int = 0
    stale: int = 0


class DesyncDetector:
    def __init__(self, peers: list[int], hash_interval: int, pending_hash_limit: int, hash_resend_ms: float) -> None:
        self.peers = list(peers)
        self.hash_interval = hash_interval
        self.pending_hash_limit = pending_hash_limit
        self.hash_resend_ms = hash_resend_ms
        # Our hashes in increasing frame order (a list for bisect, from local_head on) + a lookup.
        self.local_list: list[LocalHash] = []
        self._local_frames: list[int] = []
        self.local_head = 0
        self.local: dict[int, LocalHash] = {}
        self.local_through = -1
        self.remote: dict[int, dict[int, RemoteHash]] = {p: {} for p in peers}
        self.pending: dict[int, int] = {p: 0 for p in peers}
        self.verified_through: dict[int, int] = {p: -1 for p in peers}
        self.compared_through: dict[int, int] = {p: -1 for p in peers}
        self.mismatch_seen: dict[int, bool] = {p: False for p in peers}
        self.highest: dict[int, int] = {p: -1 for p in peers}
        self.active: dict[int, None] = dict.fromkeys(peers)  # an ordered set
        self.first_mismatch_frame: int | None = None
        self.stats = DesyncStats()

    def deactivate(self, peer: int) -> None:
        self.active.pop(peer, None)

    def add_local(self, frame: int, hash_: str, episode: int, now: float) -> list[dict[str, Any]]:
        """Our hash of a confirmed frame (increasing frames); returns the mismatches found."""
        entry = LocalHash(frame, hash_, episode, now)
        self.local[frame] = entry
        self.local_list.append(entry)
        self._local_frames.append(frame)
        self.local_through = frame
        out: list[dict[str, Any]] = []
        # Only peers still in the game: a peer declared gone may have played on elsewhere.
        for p in self.active:
            e = self.remote[p].get(frame)
            if e is not None and e.result is None:
                self.pending[p] -= 1
                self._compare(p, frame, e, out)
        return out

    def add_remote(self, peer: int, frame: int, hash_: str, now: float) -> tuple[list[dict[str, Any]], bool]:
        """A peer's STATE_HASH: (mismatches, answer = send our hash of ``frame`` back)."""
        m = self.remote.get(peer)
        if m is None:
            return [], False
        if frame > self.highest[peer]:
            self.highest[peer] = frame
        known = m.get(frame)
        if known is not None:
            self.stats.duplicates += 1
            guard = self.hash_resend_ms / 2
            if (frame in self.local and known.hash == hash_ and now - known.first_recv >= guard
                    and now - known.last_answer >= guard and known.answers < MAX_ANSWERS_PER_FRAME):
                known.answers += 1
                known.last_answer = now
                self.stats.answers_sent += 1
                return [], True
            return [], False
        e = RemoteHash(hash_, now)
        if frame in self.local:
            m[frame] = e
            out: list[dict[str, Any]] = []
            self._compare(peer, frame, e, out)
            return out, False
        if frame <= self.local_through:
            self.stats.stale += 1  # older than what we keep, or not a hashed frame
            return [], False
        if self.pending[peer] >= self.pending_hash_limit:
            self.stats.hashes_dropped += 1  # bounded buffer; requested again after we hash it
            return [], False
        m[frame] = e
        self.pending[peer] += 1
        return [], False

    def _compare(self, peer: int, frame: int, e: RemoteHash, out: list[dict[str, Any]]) -> None:
        mine = self.local[frame]
        self.stats.compared += 1
        e.result = mine.hash == e.hash
        if not e.result:
            self.stats.mismatches += 1
            self.mismatch_seen[peer] = True
            if self.first_mismatch_frame is None or frame < self.first_mismatch_frame:
                self.first_mismatch_frame = frame
            out.append({"frame": frame, "episode": mine.episode, "local_hash": mine.hash,
                        "peer_hash": e.hash, "peer_index": peer})
        self._advance_verified(peer)

    def _advance_verified(self, peer: int) -> None:
        m = self.remote[peer]
        v = self.verified_through[peer]
        while True:
            nxt = 0 if v < 0 else v + self.hash_interval
            e = m.get(nxt)
            if e is None or e.result is not True:
                break
            v = nxt
        self.verified_through[peer] = v
        c = max(self.compared_through[peer], v)
        while True:
            nxt = 0 if c < 0 else c + self.hash_interval
            e = m.get(nxt)
            if e is None or e.result is None:
                break
            c = nxt
        self.compared_through[peer] = c

    def verified_frame(self) -> int:
        """Highest frame verified with every active peer, or -1; never at or past a mismatch."""
        v = self.local_through
        for p in self.active:
            pv = self.verified_through[p]
            if pv < v:
                v = pv
        if self.first_mismatch_frame is not None and v >= self.first_mismatch_frame:
            v = self.first_mismatch_frame - 1
        return -1 if v < 0 else v

    def _local_index_after(self, f: int) -> int:
        return max(self.local_head, bisect_right(self._local_frames, f, self.local_head))

    def requests_due(self, now: float, rtt_ms: float | None, limit: int = 4,
                     interval_ms: float | None = None) -> list[tuple[int, int, str]]:
        """(peer, frame, hash) of our hashes whose peer hash is still missing well after we
        hashed them, at most ``limit`` per peer."""
        out: list[tuple[int, int, str]] = []
        interval = interval_ms if interval_ms is not None else max(self.hash_resend_ms, 2 * (rtt_ms or 0))
        for p in self.active:
            m = self.remote[p]
            n = 0
            for i in range(self._local_index_after(self.compared_through[p]), len(self.local_list)):
                mine = self.local_list[i]
                if now - mine.time < interval:
                    break  # later frames are younger still
                if mine.frame in m:
                    continue
                last = mine.last_request.get(p)
                if last is not None and now - last < interval:
                    continue
                mine.last_request[p] = now
                out.append((p, mine.frame, mine.hash))
                self.stats.requests_sent += 1
                n += 1
                if n >= limit:
                    break
        return out

    def prune(self, keep: int) -> None:
        """Keep the last ``keep`` local hashes (to answer requests) and what verification needs."""
        cut = self.local_through - keep * self.hash_interval
        floor = cut
        for p in self.active:
            need = self.compared_through[p] if self.mismatch_seen[p] else self.verified_through[p]
            if need < floor:
                floor = need
        while self.local_head < len(self.local_list) and self.local_list[self.local_head].frame <= floor:
            del self.local[self.local_list[self.local_head].frame]
            self.local_head += 1
        if self.local_head > 1024 and self.local_head * 2 > len(self.local_list):
            self.local_list = self.local_list[self.local_head:]
            self._local_frames = self._local_frames[self.local_head:]
            self.local_head = 0
        for p in self.peers:
            m = self.remote[p]
            pv = cut
            if p in self.active:
                pv = min(self.compared_through[p] if self.mismatch_seen[p] else self.verified_through[p], cut)
            for f in [f for f, e in m.items() if f <= pv and e.result is not None]:
                del m[f]
