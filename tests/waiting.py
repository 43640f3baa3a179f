"""Waits on conditions with deadlines (files appear, a record is written), shared by the
socket tests and the Chromium harness: poll, and fail naming what did not happen."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable


def wait_until(check: Callable[[], Any], timeout_s: float, what: str, poll_s: float = 0.05) -> Any:
    """Poll ``check()`` until it returns something truthy (deadline), else fail with ``what``."""
    end = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(poll_s)  # polling a condition with a deadline


def wait_for_files(paths: list[Path], timeout_s: float, what: str) -> None:
    """Poll until every path exists (deadline), else fail naming the missing ones."""
    try:
        wait_until(lambda: all(p.exists() for p in paths), timeout_s, what)
    except AssertionError:
        missing = [p for p in paths if not p.exists()]
        if not missing:
            return
        raise AssertionError(f"{what}: {', '.join(str(p) for p in missing)} not written within {timeout_s:.0f} s") from None
