"""Long-term credential check for TURN requests (RFC 8489 §9.2) with REST-style usernames.

The server holds no user table: the password for ``"<expiry>:<participant>"`` is derived from
the shared secret (see :mod:`.credentials`), so any credential the app issued works until its
expiry and nothing else does. Nonces are stateless: a timestamp plus an HMAC under a key that
lives only in this process, so they go stale after ``nonce_lifetime`` seconds (438) and die
with the process.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import credentials, stun

logger = logging.getLogger(__name__)


class NonceIssuer:
    """Issue and check stateless nonces (``<hex time>-<hex hmac>``)."""

    def __init__(self, lifetime_s: float, clock: Callable[[], float] = time.monotonic, key: bytes | None = None) -> None:
        self.lifetime_s = lifetime_s
        self._clock = clock
        self._key = key if key is not None else secrets.token_bytes(32)

    def _mac(self, stamp: str) -> str:
        return hmac.new(self._key, stamp.encode("ascii"), hashlib.sha256).hexdigest()[:24]

    def issue(self) -> str:
        stamp = f"{int(self._clock()):x}"
        return f"{stamp}-{self._mac(stamp)}"

    def valid(self, nonce: str) -> bool:
        stamp, sep, mac = nonce.partition("-")
        if not sep or not stamp or len(stamp) > 16 or any(c not in "0123456789abcdef" for c in stamp):
            return False
        if not hmac.compare_digest(self._mac(stamp), mac):
            return False
        age = self._clock() - int(stamp, 16)
        return -1 <= age <= self.lifetime_s


@dataclass(frozen=True)
class AuthResult:
    """Outcome of checking one request."""

    error: int | None
    """None when authenticated, else the STUN error code to answer with (400/401/438)."""
    username: str = ""
    key: bytes = b""
    """The long-term key; responses to an authenticated request are signed with it."""
    reason: str = ""
    """Why it failed (logged, never sent: it would help an attacker)."""


class Authenticator:
    """Check MESSAGE-INTEGRITY of a request against REST-style credentials."""

    def __init__(
        self,
        secret: str,
        realm: str,
        nonces: NonceIssuer,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ValueError("TURN secret must not be empty")
        self._secret = secret
        self.realm = realm
        self.nonces = nonces
        self._wall_clock = wall_clock

    def check(self, message: stun.Message) -> AuthResult:
        if not message.has(stun.Attr.MESSAGE_INTEGRITY):
            return AuthResult(401, reason="no credentials")
        raw_user = message.get(stun.Attr.USERNAME)
        raw_realm = message.get(stun.Attr.REALM)
        raw_nonce = message.get(stun.Attr.NONCE)
        if raw_user is None or raw_realm is None or raw_nonce is None:
            return AuthResult(400, reason="MESSAGE-INTEGRITY without USERNAME/REALM/NONCE")
        try:
            username = raw_user.decode("utf-8")
            realm = raw_realm.decode("utf-8")
            nonce = raw_nonce.decode("ascii")
        except UnicodeDecodeError:
            return AuthResult(401, reason="undecodable credentials")
        if not self.nonces.valid(nonce):
            return AuthResult(438, reason="stale or foreign nonce")
        if realm != self.realm:
            return AuthResult(401, reason=f"wrong realm {realm!r}")
        expiry = credentials.username_expiry(username)
        if expiry is None:
            return AuthResult(401, reason="username is not <expiry>:<id>")
        if expiry < self._wall_clock():
            return AuthResult(401, reason="credential expired")
        key = stun.long_term_key(raw_user, raw_realm, credentials.password_for(self._secret, username))
        if not stun.verify_integrity(message, key):
            return AuthResult(401, reason="bad MESSAGE-INTEGRITY (wrong secret or password)")
        return AuthResult(None, username=username, key=key)
