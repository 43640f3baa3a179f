// Canonical state hash, the JavaScript twin of interactive_gym_p2p/hashing.py
// (contract: docs/hashing.md; vectors: tests/vectors/hashing.json).
//
//   stateHash(state) = hex(sha256(utf8(JCS(normalize(state))))[0..8])
//
// SHA-256 is the vendored @noble/hashes (static/vendor/noble-hashes, refreshed by
// scripts/vendor-js), so stateHash stays synchronous and works on plain-http LAN origins,
// where crypto.subtle does not exist.

import { sha256 as nobleSha256 } from '../vendor/noble-hashes/sha2.js';

/** Largest integer magnitude accepted (the same bound as hashing.py). */
export const MAX_SAFE_INTEGER = 2 ** 53;
/** Deepest container nesting accepted; also turns a reference cycle into a clear error. */
export const MAX_DEPTH = 256;
export const NAN_TOKEN = 'NaN';
export const POS_INF_TOKEN = 'Infinity';
export const NEG_INF_TOKEN = '-Infinity';

// Any non-integral double with |x| >= 2**19 has ulp(x)/2 >= 2**-34 > 0.5e-10, so rounding it
// to 10 places moves it by less than half an ulp and the nearest double is x itself.
const FAST_LIMIT = 2 ** 19;
const SCALE = 10_000_000_000n; // 10**10
const MAX_SAFE_BIGINT = 2n ** 53n;
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const utf8 = new TextEncoder();
const floatView = new DataView(new ArrayBuffer(8));

/** The state cannot be hashed; `path` names the offending value (`$.players[1].score`). */
export class HashError extends Error {
  constructor(reason, path = '$') {
    super(`${reason} at ${path}`);
    this.name = 'HashError';
    this.reason = reason;
    this.path = path;
  }
}

// Internal: collects path segments while the recursion unwinds (no cost on the happy path).
class Fail extends Error {
  constructor(reason) {
    super(reason);
    this.reason = reason;
    this.segments = [];
  }
}

function formatPath(segments) {
  let path = '$';
  for (let i = segments.length - 1; i >= 0; i -= 1) {
    const seg = segments[i];
    if (typeof seg === 'number') path += `[${seg}]`;
    else if (IDENTIFIER.test(seg)) path += `.${seg}`;
    else path += `[${JSON.stringify(seg)}]`;
  }
  return path;
}

function located(err) {
  if (err instanceof Fail) return new HashError(err.reason, formatPath(err.segments));
  if (err instanceof RangeError) return new HashError(`cannot walk the state (${err.message})`, '$');
  return err;
}

// ------------------------------------------------------------------ floats

/**
 * The spec path: the double nearest to finite `x` rounded to 10 decimal places, half away from
 * zero on the EXACT binary value (x = mantissa * 2**exponent, scaled by 10**10 in BigInt).
 * Math.round(x * 1e10) loses ties such as 2**-11 = 0.00048828125 before rounding.
 */
export function normalizeFloatExact(x) {
  floatView.setFloat64(0, x);
  const hi = floatView.getUint32(0);
  const lo = floatView.getUint32(4);
  const biased = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exponent = -1074; // subnormal
  if (biased !== 0) {
    mantissa |= 1n << 52n;
    exponent = biased - 1075;
  }
  if (exponent >= 0) return x; // integral
  const shift = BigInt(-exponent);
  const q = (mantissa * SCALE + (1n << (shift - 1n))) >> shift;
  // q has <= 16 digits below 2**19, well within the 20 that ES parses with correct rounding.
  return Number(`${hi >>> 31 ? '-' : ''}${q}e-10`);
}

// Veltkamp's split constant 2**27 + 1: hi keeps the top 26 significant bits of a double.
const SPLIT = 134217729;

// Non-integral finite x: the same result as normalizeFloatExact (tested on >100k doubles),
// in plain double arithmetic, about 20x faster than BigInt.
function fastNormalize(x) {
  const a = Math.abs(x);
  if (!(a < FAST_LIMIT)) return x;
  if (a < 1e-11) return x < 0 ? -0 : 0; // |x| * 1e10 < 0.1 rounds to zero (and avoids subnormals)
  // a * 1e10 exactly, as H + L: 1e10 has 24 significant bits, hi and lo at most 26 each,
  // so both products fit in 53 bits.
  const c = SPLIT * a;
  const hi = c - (c - a);
  const lo = a - hi;
  const H = hi * 1e10;
  const L = lo * 1e10;
  // TwoSum: H + L == s + e exactly, |e| <= ulp(s) / 2, and s < 2**53 so ulp(s) <= 1.
  const s = H + L;
  const bb = s - H;
  const e = (H - (s - bb)) + (L - bb);
  // Half up: q = floor(s) + 1 iff frac(s) + e >= 0.5. (s - f) - 0.5 is exact whenever it is
  // small enough to matter, and a floating sum is zero or has the sign of the exact sum.
  const f = Math.floor(s);
  const q = (s - f) - 0.5 + e >= 0 ? f + 1 : f;
  // q < 2**53: q and 1e10 are exact doubles, so the division is the correctly rounded q / 10**10.
  const r = q / 1e10;
  return x < 0 ? -r : r;
}

/** One number as the hash sees it: rounded, unchanged if integral, or a NaN/Infinity token. */
export function normalizeFloat(x) {
  if (Number.isInteger(x)) return x;
  if (Number.isNaN(x)) return NAN_TOKEN;
  if (x === Infinity) return POS_INF_TOKEN;
  if (x === -Infinity) return NEG_INF_TOKEN;
  return fastNormalize(x);
}

// ------------------------------------------------------------------ walking the state

const isWellFormed = typeof String.prototype.isWellFormed === 'function'
  ? (s) => s.isWellFormed()
  : (s) => !LONE_SURROGATE.test(s);

function checkString(s) {
  if (!isWellFormed(s)) {
    throw new Fail('string contains a lone surrogate, which UTF-8 cannot encode');
  }
}

function checkBigInt(v) {
  if (v > MAX_SAFE_BIGINT || v < -MAX_SAFE_BIGINT) {
    throw new Fail(`integer ${v} is outside +-2**53 (not exact in JavaScript)`);
  }
  return Number(v);
}

function checkObject(v) {
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) {
    const name = v.constructor && typeof v.constructor.name === 'string' ? v.constructor.name : 'object';
    throw new Fail(`value of type ${name} is not JSON-able (plain objects and arrays only)`);
  }
}

function unsupported(v) {
  return new Fail(`value of type ${typeof v} is not JSON-able`);
}

function numberText(x) {
  const n = normalizeFloat(x);
  return typeof n === 'string' ? `"${n}"` : String(n); // String(-0) === '0', as JCS wants
}

function write(v, depth) {
  switch (typeof v) {
    case 'string':
      checkString(v);
      return JSON.stringify(v); // RFC 8785 string escaping is ES JSON.stringify's
    case 'number':
      return numberText(v);
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      return String(checkBigInt(v));
    case 'object':
      if (v === null) return 'null';
      if (depth >= MAX_DEPTH) throw new Fail(`containers nested deeper than ${MAX_DEPTH} (a reference cycle?)`);
      return Array.isArray(v) ? writeArray(v, depth + 1) : writeObject(v, depth + 1);
    default:
      throw unsupported(v);
  }
}

function writeArray(v, depth) {
  let out = '[';
  let i = 0;
  try {
    for (; i < v.length; i += 1) {
      if (i) out += ',';
      out += write(v[i], depth);
    }
  } catch (err) {
    if (err instanceof Fail) err.segments.push(i);
    throw err;
  }
  return `${out}]`;
}

function writeObject(v, depth) {
  checkObject(v);
  // Default sort compares UTF-16 code units, exactly the order RFC 8785 asks for.
  const keys = Object.keys(v).sort();
  for (let i = 0; i < keys.length; i += 1) checkString(keys[i]); // reported at the object's path, as in hashing.py
  let out = '{';
  let i = 0;
  try {
    for (; i < keys.length; i += 1) {
      if (i) out += ',';
      out += `${JSON.stringify(keys[i])}:${write(v[keys[i]], depth)}`;
    }
  } catch (err) {
    if (err instanceof Fail) err.segments.push(keys[i]);
    throw err;
  }
  return `${out}}`;
}

function normalize(v, depth) {
  switch (typeof v) {
    case 'string':
      checkString(v);
      return v;
    case 'number':
      return normalizeFloat(v);
    case 'boolean':
      return v;
    case 'bigint':
      return checkBigInt(v);
    case 'object':
      break;
    default:
      throw unsupported(v);
  }
  if (v === null) return null;
  if (depth >= MAX_DEPTH) throw new Fail(`containers nested deeper than ${MAX_DEPTH} (a reference cycle?)`);
  const inner = depth + 1;
  if (Array.isArray(v)) {
    const out = new Array(v.length);
    for (let i = 0; i < v.length; i += 1) {
      try {
        out[i] = normalize(v[i], inner);
      } catch (err) {
        if (err instanceof Fail) err.segments.push(i);
        throw err;
      }
    }
    return out;
  }
  checkObject(v);
  const out = {};
  for (const k of Object.keys(v)) {
    checkString(k);
    try {
      const value = normalize(v[k], inner);
      // A plain assignment to "__proto__" would set the prototype instead of a key.
      if (k === '__proto__') Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true });
      else out[k] = value;
    } catch (err) {
      if (err instanceof Fail) err.segments.push(k);
      throw err;
    }
  }
  return out;
}

// ------------------------------------------------------------------ public API

/**
 * A new JSON value equal to `state` as the hash sees it: numbers rounded, NaN/Infinity as
 * string tokens, BigInt (within +-2**53) as Number. Throws HashError (with .path) otherwise.
 */
export function normalizeState(state) {
  try {
    return normalize(state, 0);
  } catch (err) {
    throw located(err);
  }
}

/** The canonical text that is hashed: RFC 8785 JCS of normalizeState(state). */
export function canonicalize(state) {
  try {
    return write(state, 0);
  } catch (err) {
    throw located(err);
  }
}

/** Synchronous SHA-256 of bytes (no WebCrypto needed). */
export function sha256(bytes) {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('sha256 expects a Uint8Array');
  return nobleSha256(bytes);
}

function hex16(digest) {
  let s = '';
  for (let i = 0; i < 8; i += 1) s += HEX[digest[i]];
  return s;
}

/** First 8 bytes of SHA-256 over the UTF-8 canonical text, as 16 lowercase hex chars. */
export function stateHash(state) {
  return hex16(sha256(utf8.encode(canonicalize(state))));
}

/** Same value as stateHash; uses WebCrypto when this origin has it (https, localhost). */
export async function stateHashAsync(state) {
  const bytes = utf8.encode(canonicalize(state));
  const subtle = globalThis.crypto?.subtle;
  if (subtle && typeof subtle.digest === 'function') {
    return hex16(new Uint8Array(await subtle.digest('SHA-256', bytes)));
  }
  return hex16(sha256(bytes));
}
