"""The pieces of a full-game test: the experiment server process, its export files, and a
participant driven through the real page (start scene -> waitroom -> game -> end scene).

Waits are conditions with deadlines (``page.wait_for_function`` on ``window.p2p``, files
appearing), never sleeps. A page whose client reports phase ``error`` fails the wait at once
with the client's errors. Contract A (docs/client.md) is what the pages are read through.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from waiting import wait_for_files, wait_until  # noqa: F401  (the tests import them from here too)

from .processes import ProcessStartError, ReadyProcess, start_ready_process

logger = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[3]
GAME_SERVER = Path(__file__).resolve().parent / "game_server.py"
DEMO = "interactive_gym_p2p.examples.demo:build_stager"

# Phases in which the game is still running (Contract A).
LIVE_PHASES = ("peer_connecting", "playing", "episode_transition")
AFTER_GAME = ("uploading", "done", "partner_left", "ended")

# Records every (phase, scene) the page goes through, so a test can check the whole flow even
# through phases that last one frame. Runs before the client's own scripts.
PHASE_RECORDER = """
(() => {
  const seen = [];
  window.__phaseLog = seen;
  const note = () => {
    const p = window.p2p;
    const phase = (document.body && document.body.dataset.phase) || (p && p.phase) || null;
    const entry = { phase, sceneId: (p && p.sceneId) || null, sceneType: (p && p.sceneType) || null };
    const last = seen[seen.length - 1];
    if (!last || last.phase !== entry.phase || last.sceneId !== entry.sceneId) seen.push(entry);
  };
  new MutationObserver(note).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-phase'] });
  setInterval(note, 50);
})();
"""


class GameServerError(RuntimeError):
    """The experiment server (or its TURN server) did not start."""


@dataclass
class GameServer:
    process: ReadyProcess
    port: int
    data_dir: Path
    turn_urls: list[str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def game_dir(self, game_id: str) -> Path:
        return self.data_dir / "exports" / "games" / game_id

    def log(self) -> str:
        return "\n".join(self.process.output)

    def participant(self, subject_id: str) -> dict[str, Any]:
        """The server's record of one participant, with its outcome (null when none yet)."""
        folder = self.data_dir / "participants" / subject_id
        record = json.loads((folder / "participant.json").read_text(encoding="utf-8"))
        outcome = folder / "outcome.json"
        record["outcome"] = json.loads(outcome.read_text(encoding="utf-8")) if outcome.exists() else None
        return record

    def game_ends(self) -> list[dict[str, Any]]:
        path = self.data_dir / "game_ends.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def stop(self) -> None:
        self.process.stop()


def start_game_server(data_dir: Path, kwargs: dict[str, Any], *, turn: str = "embedded",
                      wrap: Callable[[list[str]], list[str]] = lambda argv: argv,
                      experiment: str = DEMO, researcher_token: str | None = None,
                      extra_args: tuple[str, ...] = (), study: dict[str, Any] | None = None,
                      preload: bool = True, countdown_s: float | None = 0) -> GameServer:
    """The demo experiment served by a child process (``wrap`` may put it in a namespace);
    ``researcher_token`` turns on the researcher routes and the research console; ``study``:
    keyword arguments of the demo's ``build_study`` (codes, redirect_url); ``preload=False``:
    the server's ``preload_environment`` off; ``countdown_s``: every P2P scene's start countdown
    (0 by default: a test about the countdown asks for one; None or ``countdown_s`` in
    ``kwargs``: the experiment's own)."""
    # The repository and tests/e2e (experiments the tests define live in harness/).
    paths = (str(REPO), str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH", ""))
    pythonpath = os.pathsep.join(p for p in paths if p)
    argv = ["env", f"PYTHONPATH={pythonpath}", sys.executable, str(GAME_SERVER),
            "--experiment", experiment, "--kwargs", json.dumps(kwargs), "--data-dir", str(data_dir),
            "--turn", turn, "--pyodide-dir", str(REPO / "node_modules" / "pyodide"), *extra_args] + ([] if preload else ["--no-preload"])
    if countdown_s is not None and "countdown_s" not in kwargs:
        argv += ["--countdown-s", str(countdown_s)]
    if researcher_token is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        token_file = data_dir / "researcher-token"
        token_file.write_text(researcher_token, encoding="utf-8")
        token_file.chmod(0o600)
        argv += ["--researcher-token-file", str(token_file)]
    if study is not None:
        argv += ["--study", json.dumps(study)]
    try:
        proc = start_ready_process(wrap(argv), name="experiment server", timeout=60)
    except ProcessStartError as err:
        raise GameServerError(str(err)) from err
    parts = proc.ready_line.split()
    urls = [] if parts[2] == "-" else parts[2].split(",")
    return GameServer(process=proc, port=int(parts[1]), data_dir=data_dir, turn_urls=urls)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


async def snapshot(page: Any) -> dict[str, Any]:
    """window.p2p (a copy) and the recorded phase log."""
    return await page.evaluate(
        "() => JSON.parse(JSON.stringify({p2p: window.p2p || null, phases: window.__phaseLog || []}))")


def _short(snap: dict[str, Any]) -> str:
    p = snap.get("p2p") or {}
    keep = {k: p.get(k) for k in ("phase", "sceneId", "sceneType", "gameId", "playerIndex", "frame",
                                   "confirmedFrame", "verifiedFrame", "episode", "upload", "gameOver",
                                   "messages", "errors", "path")}
    return json.dumps({"p2p": keep, "phases": snap.get("phases", [])[-20:]})


@dataclass
class Participant:
    """One participant's page, driven like a person would: click on, press keys."""

    name: str
    page: Any
    timeline: list[str] = field(default_factory=list)

    async def wait(self, condition: str, timeout_s: float, what: str, allow_error: bool = False) -> dict[str, Any]:
        """Wait for a JS condition on ``p`` (= window.p2p); phase 'error' ends the wait early."""
        js = f"() => {{ const p = window.p2p; if (!p) return false; return p.phase === 'error' || ({condition}); }}"
        try:
            await self.page.wait_for_function(js, timeout=timeout_s * 1000, polling=100)
        except Exception as err:
            snap = await self._safe_snapshot()
            raise AssertionError(f"{self.name}: {what} not within {timeout_s:.0f} s ({type(err).__name__}); "
                                 f"state: {_short(snap)}") from None
        snap = await snapshot(self.page)
        if not allow_error and snap["p2p"]["phase"] == "error":
            raise AssertionError(f"{self.name}: client error while waiting for {what}: {_short(snap)}")
        self.timeline.append(f"{what}: phase={snap['p2p']['phase']} scene={snap['p2p'].get('sceneId')}")
        return snap

    async def _safe_snapshot(self) -> dict[str, Any]:
        try:
            return await snapshot(self.page)
        except Exception as err:  # the page may be gone
            return {"p2p": {"phase": f"<page unavailable: {err}>"}, "phases": []}

    async def advance_to_game(self, timeout_s: float = 60) -> dict[str, Any]:
        """Click through the start (and any static) scenes until the P2P scene takes over."""
        while True:
            snap = await self.wait("p.phase !== 'connecting'", timeout_s, "first scene shown")
            p = snap["p2p"]
            if p["phase"] != "scene":
                return snap
            if p.get("sceneType") == "EndScene":
                raise AssertionError(f"{self.name}: reached the end scene without a game: {_short(snap)}")
            scene = p.get("sceneId")
            # Like a participant reading the page while the browser checks run: the first
            # game's environment starts loading early once they are over (docs/client.md).
            await self.wait("p.phase !== 'scene' || !p.screening || p.screening.status !== 'running'", timeout_s,
                            "browser checks")
            await self.page.click("#advanceButton", timeout=timeout_s * 1000)
            await self.wait(f"p.phase !== 'scene' || p.sceneId !== {json.dumps(scene)}", timeout_s,
                            f"scene after {scene}")

    async def press_keys_while_playing(self, keys: list[str], frames_per_key: int = 12,
                                       timeout_s: float = 120) -> int:
        """Hold each key for ``frames_per_key`` game frames, in turn, until the game is over.

        Paced by the game's own frame counter, not by wall time. Returns the keys pressed.
        """
        pressed = 0
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            snap = await self.wait(f"!{json.dumps(list(LIVE_PHASES))}.includes(p.phase) || p.phase === 'playing'",
                                   timeout_s, "game running or over")
            p = snap["p2p"]
            if p["phase"] != "playing":
                return pressed
            key = keys[pressed % len(keys)]
            target = (p.get("frame") or 0) + frames_per_key
            await self.page.keyboard.down(key)
            try:
                await self.wait(f"p.frame >= {target} || !{json.dumps(list(LIVE_PHASES))}.includes(p.phase)",
                                timeout_s, f"frame {target} with {key} held")
            finally:
                try:
                    await self.page.keyboard.up(key)
                except Exception:  # the page went away (partner test): nothing left to release
                    pass
            pressed += 1
        raise AssertionError(f"{self.name}: game still running after {timeout_s:.0f} s")

    async def finish(self, timeout_s: float = 60) -> dict[str, Any]:
        """After the game: export handled, continue clicked, end scene shown."""
        snap = await self.wait("p.phase === 'done' && ['uploaded', 'failed', 'disabled'].includes(p.upload && p.upload.status)",
                               timeout_s, "game over and export handled")
        await self.page.click("#advanceButton", timeout=timeout_s * 1000)
        # The end scene, then at once the server's outcome (completed) on it: phase 'ended'.
        await self.wait("['scene', 'ended'].includes(p.phase) && p.sceneType === 'EndScene'", timeout_s, "end scene")
        # The end page shows no game: neither the container nor the canvas takes any space.
        shown = await self.page.evaluate("""() => ['#gameContainer', '#gameCanvas'].map((sel) => {
            const el = document.querySelector(sel);
            if (!el) return null;
            const r = el.getBoundingClientRect();
            return getComputedStyle(el).display !== 'none' && r.width > 0 && r.height > 0 ? sel : null;
        }).filter(Boolean)""")
        assert shown == [], f"{self.name}: the end scene still shows {shown}"
        return snap


# One key cycle per player, so both players' actions vary and differ.
KEYS = (["ArrowRight", "ArrowDown", "ArrowLeft", "ArrowUp"], ["ArrowLeft", "ArrowUp", "ArrowRight", "ArrowDown"])
LOAD_TIMEOUT_S = 90  # Pyodide + environment on a loaded 2-core machine
GAME_TIMEOUT_S = 120


async def open_participant(session: Any, server_url: str, index: int, subject: str, *, prolific: bool = False,
                           init_script: str = "") -> Participant:
    """A participant's page on the real server (its own browser context, phases recorded).
    ``prolific``: arrive as from a Prolific study link (``/?PROLIFIC_PID=<subject>&STUDY_ID=...``)."""
    url = f"{server_url}/{subject}"
    if prolific:
        url = f"{server_url}/?PROLIFIC_PID={subject}&STUDY_ID=study-e2e&SESSION_ID=session-{subject}"
    page = await session.new_page(index, url, ready=None, relay=False, init_script=PHASE_RECORDER + init_script)
    return Participant(f"participant {index} ({subject})", page)


async def start_pair(session: Any, server: GameServer, tag: str, *, prolific: bool = False,
                     opener: Callable[[int, str], Any] | None = None) -> list[Participant]:
    """Both participants into the game; the first one provably waits in the waitroom.
    ``opener(index, subject)`` opens a participant's page (default: ``open_participant``)."""
    opener = opener or (lambda i, subject: open_participant(session, server.url, i, subject, prolific=prolific))
    first = await opener(0, f"{tag}-a")
    await first.advance_to_game(LOAD_TIMEOUT_S)
    await first.wait("(window.__phaseLog || []).some(e => e.phase === 'waiting')", LOAD_TIMEOUT_S, "waitroom")
    second = await opener(1, f"{tag}-b")
    await second.advance_to_game(LOAD_TIMEOUT_S)
    pair = [first, second]
    await asyncio.gather(*(p.wait("p.phase === 'playing'", LOAD_TIMEOUT_S, "game started") for p in pair))
    return pair


async def play_to_end(pair: list[Participant], timeout_s: float = GAME_TIMEOUT_S, keys: Sequence[list[str]] = KEYS,
                      frames_per_key: int = 12) -> list[dict[str, Any]]:
    """Keys pressed on every page (``keys[i]`` on the i-th) until the game ends; then each goes
    on to the end scene. Their snapshots there."""
    await asyncio.gather(*(p.press_keys_while_playing(keys[i], frames_per_key, timeout_s) for i, p in enumerate(pair)))
    return list(await asyncio.gather(*(p.finish() for p in pair)))


async def play_alone(session: Any, server_url: str, keys: list[str], frames_per_key: int = 12) -> dict[str, Any]:
    """One participant whose game starts without a partner (its other seats are AI or hosted
    seats) plays it to the end; its snapshot at the end scene."""
    p = await open_participant(session, server_url, 0, "solo")
    await p.advance_to_game(LOAD_TIMEOUT_S)
    await p.wait("p.phase === 'playing'", LOAD_TIMEOUT_S, "game started without a partner")
    (snap,) = await play_to_end([p], keys=[keys], frames_per_key=frames_per_key)
    return snap
