"""Launch Debian's Chromium through Playwright for Python (never a downloaded browser).

Headless, with the flags the project's machines need: --no-sandbox (tests run as root),
--disable-gpu, no background networking or component updates, no first-run UI, and a host
resolver that maps every name except 127.0.0.1 to NOTFOUND so a page can never reach the
internet by name. Playwright gives each launch a fresh temporary user data dir. No
``--disable-features`` of our own: Chromium honours only the last one, which would silently
drop Playwright's.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

logger = logging.getLogger(__name__)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
RESOLVER_RULES = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"
# Inside the test's own network namespace, Chromium's ICE host candidates are mDNS names
# (<uuid>.local) and the peer resolves them through the same host resolver: the rule above
# would map them to NOTFOUND and no host pair could ever form. There (and only there: the
# namespace has no link but its own veth pair, so the multicast never leaves it) .local
# names are excluded from the rule.
RESOLVER_RULES_NETNS = RESOLVER_RULES + ", EXCLUDE *.local"


class ChromiumError(RuntimeError):
    """Chromium is missing or would not start."""


def check_chromium() -> None:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        raise ChromiumError(f"{CHROMIUM} not found: install Debian's 'chromium' package")


async def launch_chromium(playwright, executable: str | Path = CHROMIUM, *, in_netns: bool = False,
                          timeout_ms: float = 60000):
    """A headless Browser; ``executable`` may be a wrapper (e.g. one entering a netns)."""
    check_chromium()
    args = [*CHROMIUM_ARGS, RESOLVER_RULES_NETNS if in_netns else RESOLVER_RULES]
    try:
        return await playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=args, timeout=timeout_ms)
    except Exception as err:  # Playwright raises its own Error type with the browser's log
        raise ChromiumError(f"Chromium ({executable}) failed to start: {err}") from err
