"""In-play exclusion settings of a P2P scene: inactivity and a slow connection to the server.

``P2PGymScene().exclusion(inactive_s=60, inactive_warn_s=45, max_rtt_ms=500, max_rtt_for_s=10,
policy="end")``. The page watches them during play (``static/js/play_checks.js``); a participant
past a limit is excluded (``session.exclude``): their study ends with ``excluded`` and reason
``inactive`` or ``ping`` (docs/participants.md), and the others' game ends (policy ``end``:
their outcome is ``partner_left:excluded``) or goes on with that seat's default action
(``default_action``). The values travel in ``settings.p2p`` (so exports record them).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .scene_settings import SceneConfigError, check_choice, check_number

POLICIES = ("end", "default_action")


@dataclass(frozen=True)
class ExclusionSettings:
    """What ``P2PGymScene.exclusion(...)`` configures (defaults: everything off)."""

    inactive_s: int | float | None = None
    """No key of the game's action mapping pressed for this long while playing: excluded (5..3600)."""
    inactive_warn_s: int | float | None = None
    """After this long without input the page asks "Are you still there?" (< inactive_s)."""
    max_rtt_ms: int | float | None = None
    """Round trip to the server above this ... (1..60000 ms)"""
    max_rtt_for_s: int | float = 10
    """... for this long without a break: excluded (1..600 s)."""
    policy: str = "end"
    """'end': the game ends for everyone; 'default_action': the others play on with that seat's default action."""

    def __post_init__(self) -> None:
        if self.inactive_warn_s is not None and (self.inactive_s is None or self.inactive_warn_s >= self.inactive_s):
            raise SceneConfigError("exclusion(inactive_warn_s)", f"must be less than inactive_s ({self.inactive_s}), got {self.inactive_warn_s}")

    def to_p2p(self) -> dict[str, Any]:
        """The keys added to ``settings.p2p``."""
        d = asdict(self)
        return {
            "inactive_s": d["inactive_s"], "inactive_warn_s": d["inactive_warn_s"], "max_rtt_ms": d["max_rtt_ms"],
            "max_rtt_for_s": d["max_rtt_for_s"], "exclusion_policy": d["policy"],
        }


EXCLUSION_CHECKS: dict[str, Any] = {
    "inactive_s": lambda s, v: None if v is None else check_number(s, v, 5, 3600),
    "inactive_warn_s": lambda s, v: None if v is None else check_number(s, v, 1, 3600),
    "max_rtt_ms": lambda s, v: None if v is None else check_number(s, v, 1, 60_000),
    "max_rtt_for_s": lambda s, v: check_number(s, v, 1, 600),
    "policy": lambda s, v: check_choice(s, v, POLICIES),
}
