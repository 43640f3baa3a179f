"""Agreement on the frame from which a disconnected player's action becomes the default
action (``static/js/disconnect.js``; docs/rollback.md, "Disconnects"). Once every remaining
peer announced exactly our own knowledge K of the player, nobody can know more: D = K + 1."""

from __future__ import annotations

import logging
from typing import Iterable

logger = logging.getLogger(__name__)


class DisconnectAgreement:
    def __init__(self, player: int) -> None:
        self.player = player
        self.announcements: dict[int, int] = {}  # peer -> highest K it announced
        self.default_from: int | None = None
        self.last_relay: dict[int, float] = {}
        self.last_relayed_k: dict[int, int] = {}

    def announce(self, peer: int, k: int) -> None:
        prev = self.announcements.get(peer)
        if prev is None or k > prev:
            self.announcements[peer] = k

    def try_decide(self, remaining: Iterable[int], known: int) -> int | None:
        """The agreed first default frame once every remaining peer announced ``known``."""
        if self.default_from is not None:
            return self.default_from
        for p in remaining:
            if self.announcements.get(p) != known:
                return None
        self.default_from = known + 1
        return self.default_from

    def relay_due(self, peer: int, now: float, known: int, resend_ms: float, peer_hash_frame: int) -> bool:
        """A hash at or after D from the peer proves it decided: stop relaying to it."""
        if self.default_from is not None and peer_hash_frame >= self.default_from:
            return False
        last = self.last_relay.get(peer)
        if last is None or self.last_relayed_k.get(peer) != known:
            return True
        return now - last >= resend_ms

    def note_relay(self, peer: int, now: float, known: int) -> None:
        self.last_relay[peer] = now
        self.last_relayed_k[peer] = known
