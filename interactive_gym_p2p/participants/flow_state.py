"""Where a participant is in the study, for server processes that share it (``--redis``).

One server process holds a participant's Stager (their scenes, built for them); with several
processes, the participant's next connection may reach another one, which builds its own
Stager and must put it where the participant is, not at the start. :class:`FlowState` is
what it needs, in plain values; every change of the flow writes it (Redis), and a process
reads it when a participant connects, sends an event or asks for a seat.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol


@dataclass
class FlowState:
    scene_index: int = 0
    """The Stager's current scene."""
    started: bool = False
    """The first scene was shown (its hooks ran)."""
    ended: bool = False
    """The outcome is recorded: no more scenes, no more games."""
    sid: str | None = None
    """The participant's current ``/`` socket (any process can emit to it through Redis)."""
    scene_data: dict[str, Any] = field(default_factory=dict)
    """Static scenes' answers by scene id."""
    screening: dict[str, Any] | None = None
    """``ScreeningResult.to_json()`` once screened."""
    screening_checks: dict[str, Any] | None = None
    screening_report: dict[str, Any] | None = None
    bot: bool = False
    user_agent: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "FlowState":
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


class FlowStates(Protocol):
    def get_flow(self, subject_id: str) -> FlowState | None:
        """The participant's flow state, or None if no process has written one."""

    def put_flow(self, subject_id: str, state: FlowState) -> None:
        """Replace the participant's flow state."""
