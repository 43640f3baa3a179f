// Cost of one state hash in JavaScript (static/js/hashing.js), small and large game state.
//
//   node benchmarks/hash_bench.mjs [--rounds N] [--pyodide]
//
// makeGameState mirrors make_game_state in benchmarks/hash_bench.py call for call, so both
// scripts hash the SAME states and print the same hashes (tests/vectors/hashing.json pins
// them). Prints median and p95 microseconds per hash for stateHash (bundled SHA-256, what a
// plain-http origin uses) and stateHashAsync (WebCrypto). --pyodide also times
// interactive_gym_p2p/hashing.py inside Pyodide (what a Pyodide env pays per confirmed frame).

import { fileURLToPath } from 'node:url';
import { canonicalize, stateHash, stateHashAsync } from '../static/js/hashing.js';

const KINDS = ['gem', 'rock', 'door', 'slime'];
// [name, players, entities]: about 1 KB and about 100 KB of canonical JSON.
export const SIZES = [['small', 2, 4], ['large', 4, 790]];
export const SEED = 20240611;

/** Tiny seeded PRNG whose integer steps are identical in Python (hash_bench.py). */
export class XorShift32 {
  constructor(seed) {
    this.x = (seed >>> 0) || 1;
  }

  next() {
    let x = this.x;
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    this.x = x;
    return x;
  }

  float() {
    return this.next() / 4294967296;
  }

  int(n) {
    return this.next() % n;
  }
}

/** A representative env state: nested objects/arrays, long and short floats, ints, strings. */
export function makeGameState(players, entities, seed = SEED) {
  const rng = new XorShift32(seed);
  // Each value is drawn in source order; hash_bench.py draws in exactly the same order.
  const state = {
    frame: 3600 + rng.int(1000),
    episode: 3,
    done: false,
    level: { name: 'arena-2', width: 640, height: 480, gravity: 9.81, friction: 0.125 },
    players: [],
    entities: [],
    events: [],
  };
  for (let i = 0; i < players; i += 1) {
    const player = { id: i, name: `player-${i}` };
    player.x = rng.float() * 640;
    player.y = rng.float() * 480;
    player.vx = (rng.float() - 0.5) * 4;
    player.vy = (rng.float() - 0.5) * 4;
    player.score = rng.int(500);
    player.alive = true;
    player.action = rng.int(5);
    player.inventory = { gems: rng.int(10), keys: rng.int(3) };
    state.players.push(player);
  }
  for (let i = 0; i < entities; i += 1) {
    const entity = { id: i, kind: KINDS[rng.int(4)] };
    entity.x = rng.float() * 640;
    entity.y = rng.float() * 480;
    entity.hp = rng.int(400) / 4;
    entity.angle = rng.float() * 6.283185307179586;
    entity.active = rng.int(2) === 1;
    const tags = [];
    for (let t = rng.int(3); t > 0; t -= 1) tags.push(`t${rng.int(9)}`);
    entity.tags = tags;
    state.entities.push(entity);
  }
  for (let e = Math.max(1, Math.floor(entities / 10)); e > 0; e -= 1) {
    state.events.push({ frame: rng.int(3600), type: 'pickup', who: rng.int(Math.max(1, players)) });
  }
  return state;
}

function summarize(samples) {
  samples.sort((a, b) => a - b);
  const mid = samples.length >> 1;
  const median = samples.length % 2 ? samples[mid] : (samples[mid - 1] + samples[mid]) / 2;
  const p95 = samples[Math.min(samples.length - 1, Math.round(0.95 * (samples.length - 1)))];
  return { median, p95 };
}

async function measure(fn, state, rounds) {
  for (let i = 0; i < Math.min(rounds, 50); i += 1) await fn(state); // warm-up (JIT)
  const samples = [];
  for (let i = 0; i < rounds; i += 1) {
    const t0 = process.hrtime.bigint();
    await fn(state);
    samples.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  return summarize(samples);
}

async function measurePyodide(rounds) {
  const { loadPyodide } = await import('pyodide');
  const { readFileSync } = await import('node:fs');
  const source = readFileSync(fileURLToPath(new URL('../interactive_gym_p2p/hashing.py', import.meta.url)), 'utf8');
  const pyodide = await loadPyodide();
  pyodide.globals.set('SOURCE', source);
  pyodide.runPython(`
import json, sys, time, types
_m = types.ModuleType("interactive_gym_p2p_hashing")
sys.modules[_m.__name__] = _m
exec(compile(SOURCE, "hashing.py", "exec"), _m.__dict__)

def bench(state_json, rounds):
    state = json.loads(state_json)  # a Python-side state, as a Pyodide env holds it
    for _ in range(min(rounds, 50)):
        _m.state_hash(state)
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        _m.state_hash(state)
        samples.append((time.perf_counter_ns() - t0) / 1000)
    return json.dumps([samples, _m.state_hash(state)])
`);
  const bench = pyodide.globals.get('bench');
  const version = pyodide.runPython('import sys; sys.version.split()[0]');
  const rows = [];
  for (const [name, players, entities] of SIZES) {
    const state = makeGameState(players, entities);
    const size = new TextEncoder().encode(canonicalize(state)).length;
    const n = rounds || (size < 10_000 ? 1000 : 100);
    const [samples, hash] = JSON.parse(bench(JSON.stringify(state), n));
    rows.push({ name, size, hash, ...summarize(samples) });
  }
  bench.destroy();
  return { version, rows };
}

async function main(argv) {
  const at = argv.indexOf('--rounds');
  const roundsArg = at >= 0 ? Number(argv[at + 1]) : 0;
  console.log(`node ${process.version}  static/js/hashing.js`);
  console.log(`${'state'.padEnd(7)} ${'function'.padEnd(15)} ${'canonical bytes'.padStart(15)} ${'median us'.padStart(10)} ${'p95 us'.padStart(10)}  hash`);
  for (const [name, players, entities] of SIZES) {
    const state = makeGameState(players, entities);
    const size = new TextEncoder().encode(canonicalize(state)).length;
    const rounds = roundsArg || (size < 10_000 ? 2000 : 200);
    for (const [label, fn] of [['stateHash', stateHash], ['stateHashAsync', stateHashAsync]]) {
      const { median, p95 } = await measure(fn, state, rounds);
      const hash = await fn(state);
      console.log(`${name.padEnd(7)} ${label.padEnd(15)} ${String(size).padStart(15)} ${median.toFixed(1).padStart(10)} ${p95.toFixed(1).padStart(10)}  ${hash}`);
    }
  }
  if (argv.includes('--pyodide')) {
    const { version, rows } = await measurePyodide(roundsArg);
    for (const { name, size, median, p95, hash } of rows) {
      const label = `pyodide ${version}`;
      console.log(`${name.padEnd(7)} ${label.padEnd(15)} ${String(size).padStart(15)} ${median.toFixed(1).padStart(10)} ${p95.toFixed(1).padStart(10)}  ${hash}`);
    }
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main(process.argv.slice(2));
}
