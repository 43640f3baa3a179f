"""The researcher credential: one bearer token for every researcher route and the live console.

HTTP routes send it as ``Authorization: Bearer <token>``; the console's Socket.IO namespace
sends it in the connect packet's ``auth`` (``{token}``), never in a URL, so it stays out of
server logs and browser history. Checks are constant time (both sides hashed first, so
neither the content nor the length of the token leaks).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

logger = logging.getLogger(__name__)

MIN_TOKEN_LENGTH = 16
REALM = 'Bearer realm="interactive-gym-p2p research"'


def researcher_token_matches(given: str | None, expected: str) -> bool:
    """Constant-time check; hashing first keeps the token's length from leaking too."""
    if given is None:
        return False
    a = hashlib.sha256(given.encode("utf-8", "surrogatepass")).digest()
    b = hashlib.sha256(expected.encode("utf-8", "surrogatepass")).digest()
    return hmac.compare_digest(a, b)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    scheme, _, value = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def check_researcher(given: Any, expected: str) -> tuple[str, str] | None:
    """None when ``given`` is the researcher token; else ``(code, message)``:
    ``missing_token`` (nothing given) or ``wrong_token``."""
    if given is None or given == "":
        return "missing_token", "send the researcher token"
    if not isinstance(given, str) or not researcher_token_matches(given, expected):
        return "wrong_token", "the researcher token is not valid"
    return None


def http_guard(expected: str) -> Any:
    """A Flask guard: ``deny = http_guard(token); if (r := deny()) is not None: return r``.

    401 with ``WWW-Authenticate`` when no token is sent, 403 for a wrong one; JSON bodies
    ``{error, message}`` as every researcher route answers.
    """
    from flask import jsonify, request

    def deny() -> Any:
        given = bearer_token(request.headers.get("Authorization"))
        problem = check_researcher(given, expected)
        if problem is None:
            return None
        code, message = problem
        if code == "missing_token":
            message = "send the researcher token as 'Authorization: Bearer <token>'"
        else:
            logger.warning("researcher request to %s with a wrong token", request.path)
        response = jsonify({"error": code, "message": message})
        response.status_code = 401 if code == "missing_token" else 403
        response.headers["Cache-Control"] = "no-store"
        if code == "missing_token":
            response.headers["WWW-Authenticate"] = REALM
        return response

    return deny
