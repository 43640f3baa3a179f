"""Tests over the game's DataChannel (unordered, no retransmits) must not assume that every
message arrives: any one can be lost, and a burst sent right after the channel opened has
been lost whole. ``send_until_arrived`` sends fresh messages round after round until enough
have come out of the receiving queue; the caller then checks that what arrived is intact and
was sent."""

from __future__ import annotations

import asyncio
from typing import Any, Callable


async def send_until_arrived(send: Callable[[int], object], inbox: "asyncio.Queue[Any]", want: int, *,
                             round_s: float = 0.3, timeout_s: float = 30.0) -> tuple[int, list[Any]]:
    """Call ``send(k)`` (k = 0, 1, 2, ...) once per round until ``want`` items came out of
    ``inbox`` (a late arrival counts in a later round). Returns (messages sent, items)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    got: list[Any] = []
    sent = 0
    while len(got) < want:
        if loop.time() > deadline:
            raise AssertionError(f"{len(got)} of {want} wanted messages arrived ({sent} sent) within {timeout_s:.0f} s")
        send(sent)
        sent += 1
        round_end = loop.time() + round_s
        while len(got) < want:
            left = round_end - loop.time()
            if left <= 0:
                break
            try:
                got.append(await asyncio.wait_for(inbox.get(), left))
            except asyncio.TimeoutError:
                break
    return sent, got


def drain(queue: "asyncio.Queue[Any]") -> list[Any]:
    """Everything waiting in ``queue`` now."""
    out = []
    while not queue.empty():
        out.append(queue.get_nowait())
    return out
