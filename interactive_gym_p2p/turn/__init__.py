"""TURN backend: time-limited credentials, the embedded STUN/TURN server, coturn configuration.

- :func:`credentials.ice_servers` issues per-participant RTCIceServer entries (TURN REST API).
- :class:`embedded.EmbeddedTurn` runs this package's own server as a child process.
- :mod:`coturn` writes a ``turnserver.conf`` for production with the same secret and realm.
"""

from __future__ import annotations

from .credentials import SECRET_ENV, ice_servers, resolve_secret
from .embedded import EmbeddedTurn

__all__ = ["SECRET_ENV", "EmbeddedTurn", "ice_servers", "resolve_secret"]
