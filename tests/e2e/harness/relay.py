"""Signaling relay between test pages: the test plays the signaling server.

Each page gets ``window.p2pSignalOut(from, to, msg)`` (a Playwright binding); messages are
queued per destination page and delivered in order by calling ``window.p2pSignalIn(from,
msg)`` there. Every message is logged for assertions (e.g. who sent the offers).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)


@dataclass
class RelayedMessage:
    sender: int
    to: int
    msg: dict[str, Any]


@dataclass
class PageSignalingRelay:
    pages: dict[int, Any] = field(default_factory=dict)
    log: list[RelayedMessage] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _queues: dict[int, asyncio.Queue] = field(default_factory=dict)
    _pumps: list[asyncio.Task] = field(default_factory=list)

    async def attach(self, page: Any, player: int) -> None:
        """Call before the page's script runs (bindings are installed for new documents)."""
        self.pages[player] = page
        self._queues[player] = asyncio.Queue()
        self._pumps.append(asyncio.create_task(self._pump(player)))
        await page.expose_function("p2pSignalOut", self._on_out)

    def _on_out(self, sender: int, to: int, msg: dict[str, Any]) -> None:
        self.log.append(RelayedMessage(sender, to, msg))
        queue = self._queues.get(to)
        if queue is None:
            self.errors.append(f"signaling from {sender} to unknown player {to}")
            return
        queue.put_nowait((sender, msg))

    async def _pump(self, player: int) -> None:
        queue = self._queues[player]
        while True:
            sender, msg = await queue.get()
            try:
                await self.pages[player].evaluate("([f, m]) => window.p2pSignalIn(f, m)", [sender, msg])
            except Exception as err:  # the page may be closing; keep the record
                self.errors.append(f"deliver to {player}: {err}")

    def kinds(self, kind: str) -> list[RelayedMessage]:
        return [m for m in self.log if m.msg.get("kind") == kind]

    async def close(self) -> None:
        for task in self._pumps:
            task.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
