// Per-frame cost of the Pyodide environment adapter on the demo game (Gem Rush), in node
// with the npm Pyodide: step, save (snapshot), stateHash (hashing.py inside Pyodide), and a
// rollback-shaped frame (load + re-simulate). Both snapshot modes: 'proxy' (the state stays a
// Python object, JS holds a PyProxy) and 'json' (a JSON string crosses into JS).
//
//   node benchmarks/pyodide_env_frame.mjs [frames=3000]
//
// Prints a table (milliseconds per frame: mean and p95 over the measured frames).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadPyodide } from 'pyodide';

import { createPyodideEnv } from '../static/js/env_pyodide.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FRAMES = Number(process.argv[2] ?? 3000);
const code = `${readFileSync(`${ROOT}interactive_gym_p2p/examples/gem_rush.py`, 'utf8')}\n\nenv = GemRushEnv(max_steps=1000000)\n`;
const hashingSource = readFileSync(`${ROOT}interactive_gym_p2p/hashing.py`, 'utf8');

function stats(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
  return { mean, p95: sorted[Math.floor(sorted.length * 0.95)] };
}

const pyodide = await loadPyodide();
const rows = [];
for (const mode of ['proxy', 'json']) {
  const env = createPyodideEnv(pyodide, { environmentCode: code, hashingSource, snapshot: mode });
  env.reset(1);
  const act = (f) => [(f >> 3) % 9, (f * 7 + 3) % 9];
  for (let f = 0; f < 300; f++) { env.step(act(f)); env.dispose(env.save()); env.stateHash(); } // warm-up
  const t = { step: [], save: [], hash: [], frame: [] };
  const ring = [];
  for (let f = 0; f < FRAMES; f++) {
    const t0 = performance.now();
    env.step(act(f));
    const t1 = performance.now();
    const snap = env.save();
    const t2 = performance.now();
    env.stateHash();
    const t3 = performance.now();
    t.step.push(t1 - t0); t.save.push(t2 - t1); t.hash.push(t3 - t2); t.frame.push(t3 - t0);
    ring.push(snap);
    if (ring.length > 8) env.dispose(ring.shift()); // the engine's saved-state ring
  }
  // Rollback of 8 frames: load the oldest snapshot and re-simulate 8 frames with save each.
  const rb = [];
  for (let i = 0; i < 200; i++) {
    const t0 = performance.now();
    env.load(ring[0]);
    for (let k = 0; k < 8; k++) { env.step(act(k)); env.dispose(env.save()); }
    rb.push(performance.now() - t0);
  }
  for (const s of ring) env.dispose(s);
  env.destroy();
  const row = { mode };
  for (const [k, v] of Object.entries(t)) row[k] = stats(v);
  row.rollback8 = stats(rb);
  rows.push(row);
}

const fmt = (x) => x.toFixed(3).padStart(7);
console.log(`Pyodide ${pyodide.version}, node ${process.version}, ${FRAMES} frames, Gem Rush demo env`);
console.log('ms per frame (mean / p95)');
console.log('snapshot |   step (mean/p95)  |   save (mean/p95)  |   hash (mean/p95)  | step+save+hash     | rollback 8 frames');
for (const r of rows) {
  const cell = (s) => `${fmt(s.mean)} /${fmt(s.p95)}`;
  console.log(`${r.mode.padEnd(8)} | ${cell(r.step)} | ${cell(r.save)} | ${cell(r.hash)} | ${cell(r.frame)} | ${cell(r.rollback8)}`);
}
