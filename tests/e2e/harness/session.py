"""One Chromium, its pages, and what to keep when a test fails.

``BrowserSession`` is an async context manager: it launches Chromium (optionally through a
wrapper such as the netns one), opens pages on demand (each with console capture and the
signaling relay attached), and on an exception inside the ``async with`` block saves a
screenshot and the console log of every page into ``test-artifacts/`` before closing.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

from .chromium import CHROMIUM, launch_chromium
from .relay import PageSignalingRelay

logger = logging.getLogger(__name__)


def artifact_stem(nodeid: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid).strip("_")[-120:]


@dataclass
class BrowserSession:
    name: str
    artifacts_dir: Path
    executable: str | Path = CHROMIUM
    in_netns: bool = False  # the executable enters the test's network namespace
    relay: PageSignalingRelay = field(default_factory=PageSignalingRelay)
    pages: list[Any] = field(default_factory=list)
    console: dict[int, list[str]] = field(default_factory=dict)
    _pw: Any = None
    _browser: Any = None

    async def __aenter__(self) -> "BrowserSession":
        self._pw = await async_playwright().start()
        try:
            self._browser = await launch_chromium(self._pw, self.executable, in_netns=self.in_netns)
        except BaseException:
            await self._pw.stop()
            raise
        return self

    async def new_page(self, player: int, url: str, *, ready: str | None = "() => window.p2p && window.p2p.ready === true",
                       relay: bool = True, init_script: str | None = None) -> Any:
        """A page in its own browser context (like a separate participant), loaded and ready.

        ``ready``: a JS predicate awaited after loading (None: just load); ``relay``: attach
        the test's signaling relay (pages that use the real server's signaling do not);
        ``init_script``: runs in every document before the page's own scripts.
        """
        context = await self._browser.new_context()
        page = await context.new_page()
        log = self.console.setdefault(player, [])
        page.on("console", lambda m: log.append(f"[{m.type}] {m.text}"))
        page.on("pageerror", lambda e: log.append(f"[pageerror] {e}"))
        if relay:
            await self.relay.attach(page, player)
        if init_script is not None:
            await page.add_init_script(init_script)
        self.pages.append(page)
        await page.goto(url)
        if ready is not None:
            await page.wait_for_function(ready)
        return page

    async def __aexit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is not None:
                await self._save_artifacts()
        finally:
            await self.relay.close()
            try:
                await self._browser.close()
            finally:
                await self._pw.stop()

    async def _save_artifacts(self) -> None:
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        stem = artifact_stem(self.name)
        for i, page in enumerate(self.pages):
            try:
                await page.screenshot(path=str(self.artifacts_dir / f"{stem}-page{i}.png"), full_page=True)
            except Exception as err:  # keep going: the other pages' evidence still matters
                logger.warning("screenshot of page %d failed: %s", i, err)
            try:
                # The client's diagnostic object (game pages), as JSON, when the page has one.
                state = await page.evaluate("() => window.p2p ? JSON.stringify(window.p2p, null, 1) : null")
                if state is not None:
                    (self.artifacts_dir / f"{stem}-page{i}-p2p.json").write_text(state, encoding="utf-8")
            except Exception as err:
                logger.warning("window.p2p of page %d unavailable: %s", i, err)
        for player, lines in self.console.items():
            (self.artifacts_dir / f"{stem}-player{player}-console.log").write_text("\n".join(lines), encoding="utf-8")
        logger.warning("saved screenshots and console logs to %s", self.artifacts_dir)
