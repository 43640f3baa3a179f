"""Upload tokens: which browser may upload which validation export.

A token is an HMAC over (game id, player index, subject id) with the server's secret, so
it needs no table, survives a server restart (given the same secret) and names exactly one
export slot: a participant can never upload into another player's slot or another game.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

_CONTEXT = b"interactive-gym-p2p upload token v1"


def _message(game_id: str, player_index: int, subject_id: str) -> bytes:
    # Length-prefixed fields: no choice of ids can make two slots produce the same message.
    parts = [game_id.encode(), str(int(player_index)).encode(), subject_id.encode()]
    return _CONTEXT + b"".join(len(p).to_bytes(4, "big") + p for p in parts)


@dataclass(frozen=True)
class UploadTokens:
    """Issues and checks upload tokens with one server secret."""

    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    """Server secret; give the same one after a restart to keep issued tokens valid."""

    def issue(self, game_id: str, player_index: int, subject_id: str) -> str:
        """The token for one export slot (64 hex characters)."""
        return hmac.new(self.secret, _message(game_id, player_index, subject_id), hashlib.sha256).hexdigest()

    def verify(self, token: str, game_id: str, player_index: int, subject_id: str) -> bool:
        """True when ``token`` was issued for exactly this slot (constant-time comparison)."""
        if not isinstance(token, str):
            return False
        expected = self.issue(game_id, player_index, subject_id)
        return hmac.compare_digest(expected.encode(), token.encode())
