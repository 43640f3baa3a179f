"""An experiment written the Interactive Gym way (harness/porting_experiment.py: atlas and
image specs, object contexts from interactive_gym, tweened atlas sprites, text, polygons,
permanent counters, on_game_step_code, reset_freeze_s) played by two Chromium participants
over an impaired link (relay through the embedded TURN server).

- Rendering parity: during the reset freeze after episode 0 both canvases show the same
  confirmed frame; their pixels are compared byte for byte (same Chromium, same drawing
  commands: no tolerance is needed), and they contain the atlas frames' own colours.
- Nothing is skipped: every object of every frame was drawn (renderer stats) on both pages.
- on_game_step_code under impairment with rollbacks: the exports agree, and replaying the
  confirmed actions in CPython WITH the step code reproduces every browser hash (without it,
  the hashes differ: the browsers ran it inside the simulated step).
"""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest

from harness import porting_experiment as pe
from harness.game import KEYS, Participant, read_json, snapshot, start_pair, wait_for_files
from harness.session import BrowserSession

from interactive_gym_p2p.peer.env import InteractiveGymEnvAdapter

pytestmark = pytest.mark.e2e

STEPS = 120
IMPAIRMENT = {"delay_ms": 60, "jitter_ms": 10, "loss": 0.05, "seed": 1919}

CAPTURE = """() => {
  const c = document.getElementById('gameCanvas');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let s = '';
  for (let i = 0; i < d.length; i += 0x8000) s += String.fromCharCode.apply(null, d.subarray(i, i + 0x8000));
  const p = window.p2p;
  return { w: c.width, h: c.height, rgba: btoa(s), phase: p.phase, episode: p.episode,
           confirmed: p.confirmedFrame, render: p.render };
}"""


async def capture_frozen_end(p: Participant) -> dict[str, Any]:
    """The canvas while the last frame of episode 0 is held (tweens settled)."""
    await p.wait("p.phase === 'episode_transition' && p.episode === 0 && p.render && !p.render.animating",
                 30, "the reset freeze after episode 0, tweens settled")
    shot = await p.page.evaluate(CAPTURE)
    assert shot["phase"] == "episode_transition" and shot["episode"] == 0, \
        f"{p.name}: the freeze ended before the capture: {shot['phase']} episode {shot['episode']}"
    return shot


async def play_first_episode(p: Participant, keys: list[str]) -> None:
    """Hold each key for 10 frames in turn until episode 0 ends (the page leaves 'playing')."""
    pressed = 0
    while (await snapshot(p.page))["p2p"]["phase"] == "playing":
        target = ((await snapshot(p.page))["p2p"].get("frame") or 0) + 10
        key = keys[pressed % len(keys)]
        await p.page.keyboard.down(key)
        try:
            await p.wait(f"p.frame >= {target} || p.phase !== 'playing'", 30, f"frame {target} with {key} held")
        finally:
            await p.page.keyboard.up(key)
        pressed += 1


def colours(shot: dict[str, Any]) -> set[tuple[int, ...]]:
    data = base64.b64decode(shot["rgba"])
    return {tuple(data[i:i + 4]) for i in range(0, len(data), 4)}


def test_interactive_gym_scene_renders_alike_and_step_code_agrees(game_server, chromium_available, artifacts_dir,
                                                                  request, tmp_path: Path) -> None:
    assets = pe.write_assets(tmp_path / "assets")
    server = game_server({"assets": assets, "steps": STEPS, "impairment": IMPAIRMENT},
                         experiment="harness.porting_experiment:build_stager")

    async def body(session: BrowserSession) -> None:
        pair = await start_pair(session, server, "porting")
        await asyncio.gather(*(play_first_episode(p, KEYS[i]) for i, p in enumerate(pair)))
        shots = await asyncio.gather(*(capture_frozen_end(p) for p in pair))
        await asyncio.gather(*(p.press_keys_while_playing(KEYS[i], frames_per_key=10, timeout_s=60)
                               for i, p in enumerate(pair)))
        snaps = list(await asyncio.gather(*(p.finish() for p in pair)))
        try:
            check_parity(shots)
            check_exports(server, snaps)
        except AssertionError:
            for i, p in enumerate(pair):  # the two canvases, for a person to compare
                artifacts_dir.mkdir(parents=True, exist_ok=True)
                await p.page.locator("#gameCanvas").screenshot(path=str(artifacts_dir / f"porting-canvas{i}.png"))
            raise

    async def scenario() -> None:
        async with BrowserSession(request.node.nodeid, artifacts_dir) as session:
            await body(session)

    asyncio.run(scenario())


def check_parity(shots: list[dict[str, Any]]) -> None:
    a, b = shots
    assert (a["w"], a["h"]) == (b["w"], b["h"]) == (pe.COLS * pe.TILE, pe.ROWS * pe.TILE)
    assert a["confirmed"] == b["confirmed"], "both canvases show the episode's last confirmed frame"
    pixels = [base64.b64decode(s["rgba"]) for s in shots]
    differing = sum(1 for i in range(0, len(pixels[0]), 4) if pixels[0][i:i + 4] != pixels[1][i:i + 4])
    assert differing == 0, f"{differing} of {len(pixels[0]) // 4} pixels differ between the two canvases"
    seen = colours(a)
    # Drawn from the atlas and the images: the floor image, counters (permanent, listed only at
    # t == 0), and the chefs' frames (whichever way each faces).
    assert pe.FLOOR in seen and pe.GEM in seen and pe.TERRAIN_FRAMES["counter.png"] in seen, "textures missing"
    assert len(seen & set(pe.CHEF_FRAMES.values())) >= 1, "no chef frame colour on the canvas"
    for s in shots:
        r = s["render"]
        assert r["skipped"] == 0, f"objects skipped: {r}"


def check_exports(server: Any, snaps: list[dict[str, Any]]) -> None:
    game_id = snaps[0]["p2p"]["gameId"]
    for s in snaps:
        render = s["p2p"]["render"]
        assert render["skipped"] == 0 and render["frames"] > 2 * STEPS // 4, f"renderer: {render}"
    folder = server.game_dir(game_id)
    wait_for_files([folder / "player-0.json", folder / "player-1.json", folder / "comparison.json"], 20, "exports")
    exports = [read_json(folder / f"player-{i}.json") for i in range(2)]
    report = read_json(folder / "comparison.json")
    assert report["status"] == "agree" and report["complete"] is True, report.get("divergence")
    for ex in exports:
        assert ex["desyncs"] == [] and ex["stats"]["rollbacks"] > 0, ex["stats"]
        assert ex["settings"]["p2p"]["reset_freeze_frames"] == 90
        assert [e["start_frame"] for e in ex["episodes"]] == [0, STEPS]
    # Replay in CPython: the confirmed actions with the step code give every hash the browsers got.
    code = pe.ENV_CODE.replace("{STEPS}", str(STEPS))

    def replay(step_code: str | None) -> list[str]:
        env = InteractiveGymEnvAdapter.from_code(code, 2, on_game_step_code=step_code)
        out = []
        for ep in exports[0]["episodes"]:
            env.reset(ep["seed"])
            for _, actions, _ in ep["frames"]:
                env.step(actions)
                out.append(env.state_hash())
        return out

    browser = [row[2] for ep in exports[0]["episodes"] for row in ep["frames"]]
    assert replay(pe.STEP_CODE) == browser
    assert replay(None) != browser, "the step code changed nothing the hash covers"
