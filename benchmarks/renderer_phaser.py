"""The canvas renderer (static/js/renderer.js) against Phaser 3 (what Interactive Gym draws with),
in headless Chromium: frame time at the demo's object counts and at hundreds of sprites, bytes
shipped, and how many pixels the two draw differently for the same object contexts.

    python benchmarks/renderer_phaser.py [--frames 300] [--phaser 3.80.1] [--phaser-dir DIR]

Phaser is not a dependency of this project: the script installs ``phaser@VERSION`` with npm
into ``~/.cache/interactive-gym-p2p/bench-phaser`` the first time (or reads ``--phaser-dir``,
a folder holding ``phaser.min.js``). The Phaser side is a small object-context renderer written
here with Phaser's API the way Interactive Gym uses it (sprites with ``setOrigin(0)``,
``setDisplaySize``, angle and depth; Graphics for polygons and circles; Text), driven one
``game.step()`` per frame with its own loop asleep. Every frame ends with a 1-pixel read-back so
the GPU/raster work is inside the measured time, for both renderers.

Scenes (seeded, same object lists for every renderer): ``gem_rush`` is the demo's own render()
output (Gem Rush in CPython, 15 objects); ``kitchen`` an Overcooked-sized grid (42 permanent
counter sprites, 2 tweened chefs, 6 items, text); ``sprites-300`` and ``sprites-1000`` moving,
rotating atlas sprites at several depths plus a text and a polygon.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from harness.processes import start_ready_process  # noqa: E402
from png_files import write_atlas  # noqa: E402

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "interactive-gym-p2p" / "bench-phaser"
STATIC_SERVER = REPO / "tests" / "e2e" / "harness" / "static_server.py"
OUR_FILES = ["renderer.js", "textures.js", "assets.js"]
W, H = 640, 480

PAGE = """<!doctype html><html><body style="margin:0;background:#333">
<div id="slot"></div>
<script src="/phaser/phaser.min.js"></script>
<script type="module" src="/bench/bench.js"></script>
</body></html>"""

BENCH_JS = r"""
import { createRenderer } from '/static/js/renderer.js';
import { loadSceneAssets } from '/static/js/assets.js';

const W = %(W)d, H = %(H)d;
const ATLAS = { name: 'atlas', kind: 'atlas', image: '/bench/atlas.png', atlas: '/bench/atlas.json', images: null };
const FRAMES = ['a.png', 'b.png', 'c.png', 'd.png'];

function prng(seed) {
  let s = seed >>> 0;
  return () => { s = (Math.imul(s ^ (s >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0; return s / 4294967296; };
}

// Object contexts per frame, as an env's render() gives them (relative coordinates).
function scene(kind, frames, gemRush) {
  if (kind === 'gem_rush') return gemRush.slice(0, frames);
  const rnd = prng(kind.length * 7919);
  const out = [];
  const n = kind === 'kitchen' ? 8 : Number(kind.split('-')[1]);
  const base = [];
  for (let i = 0; i < n; i++) base.push({ x: rnd(), y: rnd(), vx: (rnd() - 0.5) / 100, vy: (rnd() - 0.5) / 100, f: FRAMES[i %% 4], d: i %% 4 });
  for (let t = 0; t < frames; t++) {
    const objs = [];
    if (kind === 'kitchen') {
      for (let i = 0; i < 42; i++) objs.push({ uuid: `counter${i}`, object_type: 'sprite', image_name: 'atlas', frame: 'a.png', x: (i %% 7) / 7, y: Math.floor(i / 7) / 6, width: 64, height: 64, depth: -2, permanent: true });
    }
    base.forEach((b, i) => {
      const x = ((b.x + b.vx * t) %% 1 + 1) %% 1;
      const y = ((b.y + b.vy * t) %% 1 + 1) %% 1;
      objs.push({ uuid: `s${i}`, object_type: 'sprite', image_name: 'atlas', frame: b.f, x, y, width: 32, height: 32,
                  angle: kind === 'kitchen' ? 0 : (t * 3 + i) %% 360, depth: b.d, tween: kind === 'kitchen' && i < 2, tween_duration: 50 });
    });
    objs.push({ uuid: 'poly', object_type: 'polygon', color: '#3355ff', alpha: 0.6, points: [[0.1, 0.1], [0.3, 0.1], [0.2, 0.3]], depth: 5 });
    objs.push({ uuid: 'dot', object_type: 'circle', color: '#ffcc00', alpha: 1, x: 0.8, y: 0.2, radius: 12, depth: 5 });
    objs.push({ uuid: 'score', object_type: 'text', text: `score ${t}`, x: 0.02, y: 0.92, size: 18, color: '#ffffff', font: 'Arial', depth: 6 });
    out.push(objs);
  }
  return out;
}

function hex(c) { return parseInt(String(c).replace('#', ''), 16); }

// Interactive Gym's way of drawing object contexts with Phaser (written for this benchmark).
function phaserRenderer(type) {
  return new Promise((resolve) => {
    const slot = document.getElementById('slot');
    const live = new Map();
    let sceneRef = null;
    const game = new Phaser.Game({
      type, width: W, height: H, parent: slot, pixelArt: true, banner: false, audio: { noAudio: true },
      backgroundColor: '#000000', preserveDrawingBuffer: true,
      scene: {
        preload() { this.load.atlas('atlas', ATLAS.image, ATLAS.atlas); },
        create() { sceneRef = this; game.loop.sleep(); resolve(api); },
      },
    });
    let t = 0;
    function apply(list) {
      const seen = new Set();
      for (const o of list) {
        seen.add(o.uuid);
        let g = live.get(o.uuid);
        const x = o.x * W, y = o.y * H;
        if (o.object_type === 'sprite') {
          if (!g) { g = sceneRef.add.sprite(Math.floor(x), Math.floor(y), 'atlas', o.frame).setOrigin(0).setDepth(o.depth ?? 0); live.set(o.uuid, g); }
          g.setFrame(o.frame); g.setDisplaySize(o.width, o.height); g.angle = o.angle ?? 0;
          g.x = Math.floor(x); g.y = Math.floor(y);
        } else if (o.object_type === 'text') {
          if (!g) { g = sceneRef.add.text(x, y, o.text, { fontFamily: o.font, fontSize: o.size, color: o.color }).setDepth(o.depth); live.set(o.uuid, g); }
          g.setText(o.text);
        } else {
          if (!g) { g = sceneRef.add.graphics().setDepth(o.depth ?? 0); live.set(o.uuid, g); }
          g.clear();
          g.fillStyle(hex(o.color), o.alpha ?? 1);
          if (o.object_type === 'circle') g.fillCircle(x, y, o.radius);
          else if (o.object_type === 'polygon') g.fillPoints(o.points.map((p) => new Phaser.Math.Vector2(p[0] * W, p[1] * H)), true);
        }
      }
      for (const [uuid, g] of live) if (!seen.has(uuid) && !uuid.startsWith('counter')) { g.destroy(); live.delete(uuid); }
    }
    const api = {
      name: type === Phaser.WEBGL ? 'phaser-webgl' : 'phaser-canvas',
      get webgl() { return game.renderer.type === Phaser.WEBGL; },
      draw(list) { apply(list); t += 16.7; game.step(t, 16.7); },
      flush() {
        if (game.renderer.type === Phaser.WEBGL) { const gl = game.renderer.gl; gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4)); }
        else game.canvas.getContext('2d').getImageData(0, 0, 1, 1);
      },
      pixels() {
        const c = document.createElement('canvas'); c.width = W; c.height = H;
        const ctx = c.getContext('2d'); ctx.drawImage(game.canvas, 0, 0);
        return ctx.getImageData(0, 0, W, H).data;
      },
      destroy() { game.destroy(true); slot.replaceChildren(); },
    };
  });
}

async function canvasRenderer() {
  const textures = await loadSceneAssets([ATLAS]);
  const c = document.createElement('canvas'); c.width = W; c.height = H;
  document.getElementById('slot').replaceChildren(c);
  const ctx = c.getContext('2d');
  const r = createRenderer(ctx, { width: W, height: H, background: '#000000', textures });
  return {
    name: 'canvas', webgl: false,
    draw(list) { r.draw(list); },
    flush() { ctx.getImageData(0, 0, 1, 1); },
    pixels() { return ctx.getImageData(0, 0, W, H).data; },
    destroy() { c.remove(); },
  };
}

async function make(name) {
  if (name === 'canvas') return canvasRenderer();
  return phaserRenderer(name === 'phaser-webgl' ? Phaser.WEBGL : Phaser.CANVAS);
}

function stats(ms) {
  const s = [...ms].sort((a, b) => a - b);
  return { mean: ms.reduce((a, b) => a + b, 0) / ms.length, p95: s[Math.floor(0.95 * (s.length - 1))] };
}

window.bench = async function bench({ kinds, renderers, frames, gemRush }) {
  const rows = [];
  for (const kind of kinds) {
    const lists = scene(kind, frames + 30, gemRush);
    for (const name of renderers) {
      const r = await make(name);
      const ms = [];
      lists.forEach((list, i) => {
        const t0 = performance.now();
        r.draw(list);
        r.flush();
        if (i >= 30) ms.push(performance.now() - t0);
      });
      rows.push({ kind, renderer: r.name, webgl: r.webgl, objects: lists[0].length, ...stats(ms) });
      r.destroy();
    }
  }
  return rows;
};

// Parity: the same frame drawn by each renderer; pixels compared with the canvas renderer's.
window.parity = async function parity({ kinds, renderers, gemRush }) {
  const rows = [];
  for (const kind of kinds) {
    const list = scene(kind, 1, gemRush)[0].map((o) => ({ ...o, tween: false }));
    const ref = await make('canvas');
    ref.draw(list);
    const a = ref.pixels();
    ref.destroy();
    for (const name of renderers) {
      const r = await make(name);
      r.draw(list);
      const b = r.pixels();
      let any = 0, big = 0;
      for (let i = 0; i < a.length; i += 4) {
        const d = Math.max(Math.abs(a[i] - b[i]), Math.abs(a[i + 1] - b[i + 1]), Math.abs(a[i + 2] - b[i + 2]));
        if (d > 8) any++;
        if (d > 64) big++;
      }
      rows.push({ kind, renderer: r.name, webgl: r.webgl, differ8: any / (a.length / 4), differ64: big / (a.length / 4) });
      r.destroy();
    }
  }
  return rows;
};
window.benchReady = true;
"""


def phaser_dir(version: str, given: Path | None) -> Path:
    if given is not None:
        if not (given / "phaser.min.js").is_file():
            sys.exit(f"--phaser-dir {given}: no phaser.min.js there")
        return given
    dist = CACHE / version / "node_modules" / "phaser" / "dist"
    if not (dist / "phaser.min.js").is_file():
        print(f"installing phaser@{version} into {CACHE / version} (npm, once)", file=sys.stderr)
        (CACHE / version).mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund", "--loglevel=error",
                        "--prefix", str(CACHE / version), f"phaser@{version}"], check=True)
    return dist


def gem_rush_frames(n: int) -> list[list[dict[str, Any]]]:
    """The demo's own render() lists over n frames (scripted actions), as the browser gets them."""
    from interactive_gym_p2p.examples.gem_rush import GemRushEnv

    env = GemRushEnv(max_steps=10_000)
    env.reset(seed=7)
    out = []
    for f in range(n):
        env.step({0: (f >> 3) % 9, 1: (f * 7 + 3) % 9})
        out.append(json.loads(json.dumps(env.render())))
    return out


def sizes(files: list[Path]) -> tuple[int, int]:
    raw = b"".join(f.read_bytes() for f in files)
    return len(raw), len(gzip.compress(raw, 9))


async def run(args: argparse.Namespace, bench_dir: Path, phaser: Path) -> tuple[list[dict], list[dict]]:
    from playwright.async_api import async_playwright

    server = start_ready_process([sys.executable, str(STATIC_SERVER), "--host", "127.0.0.1", "--port", "0",
                                  "--mount", f"/static={REPO / 'static'}", "--mount", f"/phaser={phaser}",
                                  "--mount", f"/bench={bench_dir}", "--mount", f"/={bench_dir}"], name="static server")
    url = f"http://127.0.0.1:{server.ready_line.split()[1]}/index.html"
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True,
                args=["--no-sandbox", "--enable-unsafe-swiftshader", "--use-angle=swiftshader",
                      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"])
            page = await browser.new_page(viewport={"width": W + 20, "height": H + 20})
            page.on("pageerror", lambda e: print(f"[page] {e}", file=sys.stderr))
            await page.goto(url)
            await page.wait_for_function("window.benchReady === true")
            data = {"kinds": args.scenes.split(","), "renderers": ["canvas", "phaser-canvas", "phaser-webgl"],
                    "frames": args.frames, "gemRush": gem_rush_frames(args.frames + 30)}
            timing = await page.evaluate("(d) => window.bench(d)", data)
            parity = await page.evaluate("(d) => window.parity({...d, renderers: ['phaser-canvas', 'phaser-webgl']})", data)
            await browser.close()
    finally:
        server.stop()
    return timing, parity


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=300, help="measured frames per scene and renderer")
    parser.add_argument("--scenes", default="gem_rush,kitchen,sprites-300,sprites-1000")
    parser.add_argument("--phaser", default="3.80.1", help="Phaser version (Interactive Gym loads 3.80.1)")
    parser.add_argument("--phaser-dir", type=Path, default=None, help="a folder holding phaser.min.js")
    args = parser.parse_args()
    phaser = phaser_dir(args.phaser, args.phaser_dir)
    with tempfile.TemporaryDirectory(prefix="p2p-render-bench-") as tmp:
        bench_dir = Path(tmp)
        write_atlas(bench_dir, "atlas", {"a.png": (200, 60, 60, 255), "b.png": (60, 200, 60, 255),
                                         "c.png": (60, 60, 200, 255), "d.png": (220, 220, 60, 255)}, size=32)
        (bench_dir / "index.html").write_text(PAGE)
        (bench_dir / "bench.js").write_text(BENCH_JS % {"W": W, "H": H})
        timing, parity = asyncio.run(run(args, bench_dir, phaser))

    print(f"frame time, ms per frame incl. a 1-pixel read-back ({args.frames} frames, {W}x{H}, headless Chromium, "
          f"software GL):")
    print(f"{'scene':<13} {'objects':>7} {'renderer':<14} {'mean':>7} {'p95':>7}")
    for r in timing:
        name = r["renderer"] + ("" if r["renderer"] != "phaser-webgl" or r["webgl"] else " (no GL)")
        print(f"{r['kind']:<13} {r['objects']:>7} {name:<14} {r['mean']:>7.2f} {r['p95']:>7.2f}")
    print("\nparity with the canvas renderer, share of pixels differing (max channel difference):")
    print(f"{'scene':<13} {'renderer':<14} {'> 8':>8} {'> 64':>8}")
    for r in parity:
        print(f"{r['kind']:<13} {r['renderer']:<14} {100 * r['differ8']:>7.2f}% {100 * r['differ64']:>7.2f}%")
    ours = sizes([REPO / "static" / "js" / f for f in OUR_FILES])
    theirs = sizes([phaser / "phaser.min.js"])
    print("\nbytes shipped to each participant (raw / gzip -9):")
    print(f"{'canvas renderer (' + ', '.join(OUR_FILES) + ')':<52} {ours[0]:>9} {ours[1]:>9}")
    print(f"{f'phaser.min.js {args.phaser}':<52} {theirs[0]:>9} {theirs[1]:>9}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
