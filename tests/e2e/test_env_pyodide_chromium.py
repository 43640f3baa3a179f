"""The Pyodide environment adapter and the canvas renderer in real Chromium: Pyodide loaded
from the local npm package, the demo game and hashing.py fetched from the page server, the
hashes compared frame by frame with CPython's, and the rendered canvas checked by pixel."""

from __future__ import annotations

import asyncio

import pytest

from harness.session import BrowserSession
from interactive_gym_p2p.examples.gem_rush import GemRushEnv
from interactive_gym_p2p.hashing import state_hash

pytestmark = pytest.mark.e2e

FRAMES = 90
SEED = 31337


def cpython_hashes() -> list[str]:
    env = GemRushEnv(max_steps=FRAMES)
    env.reset(seed=SEED)
    out = []
    for f in range(FRAMES):
        env.step({0: (f >> 3) % 9, 1: (f * 7 + 3) % 9})
        out.append(state_hash(env.get_state()))
    return out


def hex_rgb(color: str) -> list[int]:
    return [int(color[i:i + 2], 16) for i in (1, 3, 5)]


def test_demo_env_in_chromium_pyodide_matches_cpython(static_url, chromium_available, artifacts_dir, request):
    async def scenario() -> dict:
        async with BrowserSession(request.node.nodeid, artifacts_dir) as session:
            page = await session.new_page(0, f"{static_url}/env.html")
            return await page.evaluate("(c) => window.runDemo(c)", {"frames": FRAMES, "seed": SEED, "maxSteps": FRAMES})

    result = asyncio.run(scenario())
    assert result["hashes"] == cpython_hashes()
    assert result["done"] is True
    assert result["drawn"]["skipped"] == 0 and result["drawn"]["drawn"] > 10
    assert result["p0Pixel"][:3] == hex_rgb(result["p0Color"]), "player 0 drawn at its position in its colour"
    assert result["bgPixel"][:3] == hex_rgb("#0f172a"), "scene background"
