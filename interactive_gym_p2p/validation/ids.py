"""Plain identifiers: the only game, scene and subject ids that may reach a file path.

Every id that names a folder or a file in the export store passes through here first, so a
value such as ``../../etc`` or ``a/b`` is refused with a clear message before any path is
built from it.
"""

from __future__ import annotations

import re

IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
"""The pinned rule (also in ``export.schema.json``); ``..`` is refused on top of it."""

# fullmatch: ``$`` alone would accept a trailing newline.
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")

MAX_PLAYERS = 255
"""Player indexes are a u8 on the wire (HELLO); anything above is not a real slot."""


class InvalidIdentifier(ValueError):
    """An id that is not a plain identifier; the message says which id and why."""

    def __init__(self, what: str, value: object, reason: str) -> None:
        super().__init__(f"{what} {value!r} is not a plain identifier: {reason}")
        self.what = what
        self.value = value
        self.reason = reason


def identifier_problem(value: object) -> str | None:
    """Why ``value`` is not a plain identifier, or None when it is one."""
    if not isinstance(value, str):
        return f"expected a string, got {type(value).__name__}"
    if not value:
        return "it is empty"
    if len(value) > 64:
        return f"it is {len(value)} characters long (at most 64)"
    if not _IDENTIFIER.fullmatch(value):
        return "only letters, digits, '_', '.' and '-' are allowed, starting with a letter or digit"
    if ".." in value:
        return "it contains '..'"
    return None


def is_identifier(value: object) -> bool:
    """True when ``value`` may be used as a game, scene or subject id."""
    return identifier_problem(value) is None


def check_identifier(value: object, what: str = "identifier") -> str:
    """Return ``value`` when it is a plain identifier, else raise :class:`InvalidIdentifier`."""
    problem = identifier_problem(value)
    if problem is not None:
        raise InvalidIdentifier(what, value, problem)
    assert isinstance(value, str)
    return value


def check_player_index(value: object, what: str = "player index") -> int:
    """Return ``value`` when it is a player index (0..255, not a bool), else raise ValueError."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_PLAYERS:
        raise ValueError(f"{what} {value!r} is not an integer from 0 to {MAX_PLAYERS}")
    return value
