"""Environment variables of the package: one prefix, ``IGP2P_``, for every one of them.

Each tool reads its variables through :func:`get` with the name after the prefix
(``get("RESEARCHER_TOKEN")`` reads ``$IGP2P_RESEARCHER_TOKEN``). Names used by earlier
versions (``IG_P2P_SECRET``, ``IG_P2P_RESEARCHER_TOKEN``) still work when the new name is not
set, with a warning that names the replacement; the new name wins when both are set.

| variable | read by | meaning |
|---|---|---|
| ``IGP2P_SECRET`` | server | signs tickets and upload tokens (random per start when unset) |
| ``IGP2P_RESEARCHER_TOKEN`` | server, standalone, exports CLI, demo | researcher routes' bearer token |
| ``IGP2P_TURN_SECRET`` | server, TURN server, coturn config | TURN shared secret |
| ``IGP2P_UPLOAD_SECRET`` | validation standalone server | upload-token secret (hex) |
| ``IGP2P_PYODIDE_DIR`` | server, demo, ``python -m interactive_gym_p2p.pyodide`` | root of the Pyodide cache (docs/deployment.md) |
| ``IGP2P_ONNXRUNTIME_DIR`` | server, ``python -m interactive_gym_p2p.onnxruntime_web`` | root of the onnxruntime-web cache (hosted seats; docs/deployment.md) |
| ``IGP2P_REDIS_URL`` | server | the Redis several server processes share (``--redis``; a URL with a password belongs here, not on the command line) |
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping

logger = logging.getLogger(__name__)

PREFIX = "IGP2P_"

SECRET = "SECRET"
RESEARCHER_TOKEN = "RESEARCHER_TOKEN"
TURN_SECRET = "TURN_SECRET"
UPLOAD_SECRET = "UPLOAD_SECRET"
PYODIDE_DIR = "PYODIDE_DIR"
ONNXRUNTIME_DIR = "ONNXRUNTIME_DIR"
REDIS_URL = "REDIS_URL"

DEPRECATED_NAMES: dict[str, tuple[str, ...]] = {
    SECRET: ("IG_P2P_SECRET",),
    RESEARCHER_TOKEN: ("IG_P2P_RESEARCHER_TOKEN",),
}
"""Old spellings still read (after the new name), each with a deprecation warning."""


class EnvironmentVariableDeprecationWarning(FutureWarning):
    """An old environment variable name was used (shown by default: it concerns the user
    running a tool, not only developers)."""


_warned: set[str] = set()


def name(key: str) -> str:
    """The full variable name of ``key``: ``name("SECRET") == "IGP2P_SECRET"``."""
    return PREFIX + key


def get(key: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The value of ``$IGP2P_<key>`` (or of a deprecated name for it), ``None`` when unset
    or empty."""
    env = os.environ if environ is None else environ
    value = env.get(name(key), "")
    if value:
        return value
    for old in DEPRECATED_NAMES.get(key, ()):
        value = env.get(old, "")
        if value:
            if old not in _warned:
                _warned.add(old)
                message = f"${old} is deprecated: set ${name(key)} instead (the old name will stop working)"
                logger.warning(message)
                warnings.warn(message, EnvironmentVariableDeprecationWarning, stacklevel=2)
            return value
    return None
