"""One signaling step's events and outcomes, delivered together after its decisions."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .records import Outbound, Result, error_ack


class Step:
    """Events and outcomes of one step, delivered together."""

    def __init__(self) -> None:
        self.out: list[Outbound] = []
        self.result = Result()

    def send(self, event: str, payload: Any, to: str | None) -> None:
        if to is not None:
            self.out.append(Outbound(event, payload, to))

    def refuse(self, code: str, message: str) -> Result:
        self.result.ack = error_ack(code, message)
        return self.result

    def decide(self, entry: dict[str, Any]) -> None:
        """Add a matchmaking decision-log entry (time-stamped here)."""
        stamped = {"t": utc_now(), **entry}
        self.result.decisions.append(stamped)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
