// static/js/hashing.js against tests/vectors/hashing.json, exact BigInt rounding, NIST SHA-256
// vectors and node:crypto, plus the vendored @noble/hashes drift check.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import {
  HashError, MAX_DEPTH, canonicalize, normalizeFloat, normalizeFloatExact, normalizeState, sha256,
  stateHash, stateHashAsync,
} from '../../static/js/hashing.js';
import { makeGameState } from '../../benchmarks/hash_bench.mjs';
import { mulberry32 } from './support/prng.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const VECTORS = JSON.parse(readFileSync(`${ROOT}tests/vectors/hashing.json`, 'utf8'));

class Thing {
  constructor() { this.a = 1; }
}

/** Vector JSON with markers (see the file's "markers") -> the JavaScript value. */
function decode(v) {
  if (Array.isArray(v)) return v.map(decode);
  if (v === null || typeof v !== 'object') return v;
  const keys = Object.keys(v);
  if (keys.length === 1) {
    const [key] = keys;
    const arg = v[key];
    switch (key) {
      case '$float': return { nan: NaN, inf: Infinity, '-inf': -Infinity, '-0.0': -0 }[arg];
      case '$int': return BigInt(arg);
      case '$tuple': return arg.map(decode);
      case '$deep_list': {
        let out = [];
        for (let i = 1; i < arg; i += 1) out = [out];
        return out;
      }
      case '$js': return {
        undefined,
        function: () => 1,
        symbol: Symbol('s'),
        map: new Map([['a', 1]]),
        set: new Set([1]),
        date: new Date(0),
        class: new Thing(),
        typed_array: new Float64Array([0.5]),
        hole: [1, , 3], // eslint-disable-line no-sparse-arrays
      }[arg];
      default: break;
    }
  }
  const out = {};
  for (const k of keys) Object.defineProperty(out, k, { value: decode(v[k]), enumerable: true, writable: true, configurable: true });
  return out;
}

const view = new DataView(new ArrayBuffer(8));
function fromBits(hex) {
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}
function bits(x) {
  view.setFloat64(0, x);
  return view.getBigUint64(0).toString(16).padStart(16, '0');
}
function toHex(bytes) {
  return Buffer.from(bytes).toString('hex');
}

/** Seeded 32-bit PRNG (mulberry32), so every randomized test is reproducible. */
function prng(seed) {
  const next = mulberry32(seed);
  return { next, float: () => next() / 4294967296, int: (n) => next() % n };
}

/** Doubles across all magnitudes, with ties and near-ties over-represented. */
function randomDouble(rng) {
  let x;
  switch (rng.int(7)) {
    case 0:
      view.setUint32(0, rng.next());
      view.setUint32(4, rng.next());
      x = view.getFloat64(0);
      break;
    case 1: x = (rng.float() * 2 - 1) * 10 ** (rng.int(32) - 15); break;
    case 2: x = rng.int(2 ** 19) + (2 * rng.int(1024) + 1) / 2048; break; // exact tie
    case 3: { // one ulp beside a tie
      const tie = rng.int(2 ** 19) + (2 * rng.int(1024) + 1) / 2048;
      view.setFloat64(0, tie);
      view.setBigUint64(0, view.getBigUint64(0) + (rng.int(2) ? 1n : -1n));
      x = view.getFloat64(0);
      break;
    }
    case 4: x = (rng.int(2 ** 31) * 2 ** 21 + rng.int(2 ** 21) + 0.5) / 1e10; break; // near a decimal tie
    case 5: x = Number((rng.float() * 2e4 - 1e4).toFixed(rng.int(13))); break;
    default: x = (rng.float() * 2 - 1) * 2 ** 53 / 2 ** rng.int(81);
  }
  return rng.int(2) ? -x : x;
}

// ------------------------------------------------------------------ vectors

test('every vector: canonical text, stateHash, stateHashAsync, normalizeState', async () => {
  assert.ok(VECTORS.vectors.length >= 50);
  for (const vec of VECTORS.vectors) {
    const state = decode(vec.state);
    assert.equal(canonicalize(state), vec.canonical, vec.name);
    assert.equal(stateHash(state), vec.hash, vec.name);
    assert.equal(await stateHashAsync(state), vec.hash, vec.name);
    assert.equal(canonicalize(normalizeState(state)), vec.canonical, `${vec.name} (normalized)`);
    assert.equal(createHash('sha256').update(vec.canonical, 'utf8').digest('hex').slice(0, 16), vec.hash);
  }
});

test('error vectors: HashError naming the path, from every entry point', async () => {
  const cases = VECTORS.errors.filter((e) => e.lang === 'both' || e.lang === 'js');
  assert.ok(cases.length >= 15);
  for (const c of cases) {
    const state = decode(c.state);
    for (const fn of [canonicalize, stateHash, normalizeState]) {
      assert.throws(() => fn(state), (err) => {
        assert.ok(err instanceof HashError, `${c.name}: ${err}`);
        assert.equal(err.path, c.error_path, c.name);
        assert.ok(err.message.endsWith(` at ${c.error_path}`), err.message);
        return true;
      });
    }
    await assert.rejects(stateHashAsync(state), HashError);
  }
});

test('BigInt inside +-2**53 hashes like the Number', () => {
  assert.equal(stateHash({ a: 2n ** 53n, b: -(2n ** 53n), c: 7n }), stateHash({ a: 2 ** 53, b: -(2 ** 53), c: 7 }));
  assert.deepEqual(normalizeState([5n]), [5]);
  assert.throws(() => canonicalize({ x: [2n ** 53n + 1n] }), { name: 'HashError', path: '$.x[0]' });
});

test('reference cycles and over-deep nesting are errors, not stack overflows', () => {
  const cycle = { a: [] };
  cycle.a.push(cycle);
  assert.throws(() => stateHash(cycle), (err) => err instanceof HashError && /nested deeper than 256/.test(err.message));
  assert.equal(MAX_DEPTH, 256);
});

test('plain objects with a null prototype and a __proto__ key are plain JSON', () => {
  const bare = Object.create(null);
  bare.b = 1;
  bare.a = [0.30000000000000004];
  assert.equal(canonicalize(bare), '{"a":[0.3],"b":1}');
  const proto = JSON.parse('{"__proto__": {"x": 1}, "a": 2}');
  const normalized = normalizeState(proto);
  assert.deepEqual(Object.keys(normalized), ['__proto__', 'a']);
  assert.equal(Object.getPrototypeOf(normalized), Object.prototype);
  assert.equal(canonicalize(normalized), '{"__proto__":{"x":1},"a":2}');
});

test('the input is not mutated', () => {
  const state = { b: [0.30000000000000004, NaN], a: { x: 2n } };
  canonicalize(state);
  normalizeState(state);
  stateHash(state);
  assert.equal(state.b[0], 0.30000000000000004);
  assert.ok(Number.isNaN(state.b[1]));
  assert.equal(state.a.x, 2n);
});

// ------------------------------------------------------------------ floats

test('float rounding table (bits in, bits out)', () => {
  const { cases } = VECTORS.float_rounding;
  assert.ok(cases.length > 1000);
  for (const [inBits, want] of cases) {
    const x = fromBits(inBits);
    assert.equal(bits(normalizeFloat(x)), want, `${x}`);
    assert.equal(bits(normalizeFloatExact(x)), want, `${x} (exact)`);
  }
});

test('fast path equals the exact BigInt path on 150k seeded doubles', () => {
  const rng = prng(20240611);
  let checked = 0;
  while (checked < 150_000) {
    const x = randomDouble(rng);
    if (!Number.isFinite(x) || Number.isInteger(x)) continue;
    const fast = normalizeFloat(x);
    const exact = normalizeFloatExact(x);
    if (!Object.is(fast, exact)) assert.fail(`x=${x}: fast ${fast} != exact ${exact}`);
    checked += 1;
  }
});

test('naive rounding really disagrees on the ties the vectors hold', () => {
  const tie = 2 ** -11; // 0.00048828125 exactly
  assert.equal(normalizeFloat(tie), 0.0004882813);
  assert.equal(normalizeFloat(-tie), -0.0004882813);
  assert.equal(Math.round(-tie * 1e10) / 1e10, -0.0004882812); // Math.round: half toward +Infinity
  assert.equal(normalizeFloat(0.00000000015), 1e-10); // exact value is below the tie
  assert.equal(Math.round(0.00000000015 * 1e10) / 1e10, 2e-10);
  assert.equal(normalizeFloat(-1.00000000005), -1.0000000001); // exact magnitude is above the tie
  assert.equal(Math.round(-1.00000000005 * 1e10) / 1e10, -1);
});

test('special numbers: tokens, integral values unchanged, -0 writes as 0', () => {
  assert.equal(normalizeFloat(NaN), 'NaN');
  assert.equal(normalizeFloat(Infinity), 'Infinity');
  assert.equal(normalizeFloat(-Infinity), '-Infinity');
  for (const x of [0, -0, 1, -7, 2 ** 60, 1e300, -Number.MAX_VALUE]) assert.ok(Object.is(normalizeFloat(x), x));
  assert.ok(Object.is(normalizeFloat(-1e-12), -0)); // as Python's Decimal path
  assert.equal(canonicalize(-0), '0');
  assert.equal(canonicalize([NaN, Infinity, -Infinity]), '["NaN","Infinity","-Infinity"]');
});

test('RFC 8785 Appendix B number formatting', () => {
  for (const [inBits, text] of VECTORS.number_formatting.cases) {
    const x = fromBits(inBits);
    assert.equal(String(x === 0 ? 0 : x), text); // the engine's Number::toString, which JCS uses
    const n = normalizeFloat(x);
    assert.equal(canonicalize(x), String(n));
    if (Object.is(n, x) || x === 0) assert.equal(canonicalize(x), text);
  }
});

// ------------------------------------------------------------------ SHA-256

test('sha256: NIST example vectors', () => {
  const enc = new TextEncoder();
  const nist = [
    ['', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
    ['abc', 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'],
    ['abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq', '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1'],
    ['abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu',
      'cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1'],
    ['a'.repeat(1_000_000), 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0'],
  ];
  for (const [msg, want] of nist) assert.equal(toHex(sha256(enc.encode(msg))), want);
  assert.throws(() => sha256('abc'), TypeError);
});

test('sha256 equals node:crypto on seeded random inputs (every length 0..300, then larger)', () => {
  const rng = prng(256);
  const lengths = [...Array.from({ length: 301 }, (_, i) => i), 1023, 1024, 1025, 65_536, 100_003];
  for (const len of lengths) {
    const bytes = new Uint8Array(len);
    for (let i = 0; i < len; i += 1) bytes[i] = rng.int(256);
    assert.equal(toHex(sha256(bytes)), createHash('sha256').update(bytes).digest('hex'), `length ${len}`);
  }
});

test('stateHashAsync without crypto.subtle (plain-http origin) equals stateHash', async () => {
  const state = makeGameState(2, 4);
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'crypto');
  assert.ok(saved && saved.configurable, 'globalThis.crypto must be replaceable for this test');
  Object.defineProperty(globalThis, 'crypto', { value: {}, configurable: true, writable: true });
  try {
    assert.equal(globalThis.crypto.subtle, undefined);
    assert.equal(await stateHashAsync(state), stateHash(state));
    Object.defineProperty(globalThis, 'crypto', { value: undefined, configurable: true, writable: true });
    assert.equal(await stateHashAsync(state), stateHash(state));
  } finally {
    Object.defineProperty(globalThis, 'crypto', saved);
  }
  assert.ok(globalThis.crypto.subtle, 'WebCrypto restored');
  assert.equal(await stateHashAsync(state), stateHash(state));
});

// ------------------------------------------------------------------ the vendored library and the module

test('vendored @noble/hashes equals node_modules and the pinned version', () => {
  const vendored = `${ROOT}static/vendor/noble-hashes/`;
  const installed = `${ROOT}node_modules/@noble/hashes/`;
  const files = readdirSync(vendored).filter((f) => f !== 'VERSION').sort();
  assert.deepEqual(files, ['LICENSE', '_md.js', '_u64.js', 'sha2.js', 'utils.js']);
  for (const f of files) {
    assert.ok(readFileSync(`${vendored}${f}`).equals(readFileSync(`${installed}${f}`)),
      `static/vendor/noble-hashes/${f} differs from node_modules: run scripts/vendor-js`);
  }
  const version = JSON.parse(readFileSync(`${installed}package.json`, 'utf8')).version;
  assert.equal(readFileSync(`${vendored}VERSION`, 'utf8').trim(), version);
  const pinned = JSON.parse(readFileSync(`${ROOT}package.json`, 'utf8')).devDependencies['@noble/hashes'];
  assert.equal(pinned, version, 'package.json pins the exact vendored version');
});

test('hashing.js and the vendored files import nothing node-only (they run in browsers)', () => {
  const sources = [`${ROOT}static/js/hashing.js`,
    ...['sha2.js', '_md.js', '_u64.js', 'utils.js'].map((f) => `${ROOT}static/vendor/noble-hashes/${f}`)];
  for (const file of sources) {
    const text = readFileSync(file, 'utf8');
    const specifiers = [...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]);
    for (const spec of specifiers) assert.match(spec, /^\.\.?\//, `${file} imports ${spec}`);
    assert.doesNotMatch(text, /\brequire\(|import\(['"]node:/, file);
  }
});

test('benchmark states are the ones the vectors pin (same generator as hash_bench.py)', () => {
  const small = VECTORS.vectors.find((v) => v.name.startsWith('benchmark state small'));
  assert.deepEqual(makeGameState(2, 4), small.state);
  for (const entry of VECTORS.bench_states) {
    const state = makeGameState(entry.players, entry.entities);
    assert.equal(stateHash(state), entry.hash, entry.name);
    assert.equal(new TextEncoder().encode(canonicalize(state)).length, entry.canonical_bytes);
  }
});
