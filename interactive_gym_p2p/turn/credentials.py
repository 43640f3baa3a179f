"""Time-limited TURN credentials in the "TURN REST API" style that coturn's use-auth-secret reads.

username = ``"<expiry unix time>:<participant id>"``, password = base64(HMAC-SHA1(secret, username)).
The secret stays on the server; clients only ever see a username/password pair that stops
working at ``expiry``. The embedded server and coturn check the same pair the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

from .. import environ

logger = logging.getLogger(__name__)

SECRET_ENV = environ.name(environ.TURN_SECRET)
"""Environment variable holding the shared secret (app, embedded server and coturn config)."""
DEFAULT_TTL_S = 3600
MAX_PARTICIPANT_BYTES = 256  # the whole USERNAME attribute must stay under 513 bytes


@dataclass(frozen=True)
class TurnCredential:
    """One issued credential."""

    username: str
    """``"<expiry>:<participant id>"``."""
    password: str
    """base64(HMAC-SHA1(secret, username))."""
    expiry: int
    """Unix time after which servers refuse it."""


def _check_participant(participant_id: str) -> None:
    if not isinstance(participant_id, str) or not participant_id:
        raise ValueError("participant id must be a non-empty string")
    if len(participant_id.encode("utf-8")) > MAX_PARTICIPANT_BYTES:
        raise ValueError(f"participant id longer than {MAX_PARTICIPANT_BYTES} bytes")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in participant_id):
        raise ValueError("participant id contains control characters")


def password_for(secret: str, username: str) -> str:
    """The password a REST-API TURN server expects for ``username``."""
    if not secret:
        raise ValueError("TURN secret must not be empty")
    mac = hmac.new(secret.encode("utf-8"), username.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(mac).decode("ascii")


def issue(secret: str, participant_id: str, ttl_s: int = DEFAULT_TTL_S, now: float | None = None) -> TurnCredential:
    """Issue a credential for ``participant_id`` valid for ``ttl_s`` seconds from ``now``."""
    _check_participant(participant_id)
    if ttl_s <= 0:
        raise ValueError("ttl_s must be positive")
    expiry = int(time.time() if now is None else now) + int(ttl_s)
    username = f"{expiry}:{participant_id}"
    return TurnCredential(username=username, password=password_for(secret, username), expiry=expiry)


def ice_servers(
    urls: list[str], secret: str, participant_id: str, ttl_s: int = DEFAULT_TTL_S, now: float | None = None
) -> list[dict]:
    """RTCIceServer dicts for a participant: ``[{"urls": [...], "username", "credential"}]``.

    Browsers ignore the credential on ``stun:`` URLs, so one entry carries them all.
    """
    if not urls:
        return []
    cred = issue(secret, participant_id, ttl_s=ttl_s, now=now)
    return [{"urls": list(urls), "username": cred.username, "credential": cred.password}]


def username_expiry(username: str) -> int | None:
    """The expiry encoded in a REST-style username, or None when it is not one."""
    head, sep, rest = username.partition(":")
    if not sep or not rest or not head.isdigit() or not head.isascii() or len(head) > 12:
        return None
    return int(head)


def check(secret: str, username: str, password: str, now: float | None = None) -> bool:
    """True when ``password`` is right for ``username`` and the username has not expired."""
    expiry = username_expiry(username)
    if expiry is None or expiry < (time.time() if now is None else now):
        return False
    return hmac.compare_digest(password_for(secret, username), password)


def resolve_secret(configured: str | None = None, environ: Mapping[str, str] | None = None) -> str:
    """The shared secret: configuration first, then ``$IGP2P_TURN_SECRET``, else a fresh random one.

    A random secret is fine for the embedded server because the app that issues the
    credentials also starts the server and hands the same secret to it.
    """
    if configured:
        return configured
    env = os.environ if environ is None else environ
    from_env = env.get(SECRET_ENV, "")
    if from_env:
        return from_env
    logger.info("no TURN secret configured; generated a random one for this run")
    return secrets.token_urlsafe(32)
