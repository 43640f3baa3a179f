// Binary protocol v2 (static/js/protocol.js) against tests/vectors/protocol.json, plus seeded
// fuzzing: decode never throws, and whatever decodes re-encodes to the same bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import {
  encode, decode, PROTOCOL_VERSION, MAX_MESSAGE_BYTES, MAX_INPUT_COUNT, MAX_INPUT_DELAY, MessageType, ByeReason, ErrorCode, NO_ACK,
  NO_ADVANTAGE, MAX_COUNTDOWN,
} from '../../static/js/protocol.js';

const VECTORS = JSON.parse(readFileSync(new URL('../vectors/protocol.json', import.meta.url), 'utf8'));
const FUZZ_SEED = 20240601;
const CODES = new Set(Object.values(ErrorCode));

// JSON form of a message (see the vectors file's doc) -> JS message object.
function toNative(m) {
  const out = { ...m };
  if (m.type === 'input' && m.ack === null) out.ack = -1;
  if (m.type === 'hello') {
    delete out.num_players;
    out.numPlayers = m.num_players;
  }
  if (m.type === 'episode_ready') {
    delete out.input_delay;
    out.inputDelay = m.input_delay;
  }
  return out;
}

const fromHex = (hex) => Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

// A small seeded PRNG (mulberry32) so every run sees the same cases.
function rng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n) => Math.floor(next() * n);
  const bytes = (n) => Uint8Array.from({ length: n }, () => int(256));
  return { next, int, bytes };
}

test('vectors file covers every type and error code', () => {
  assert.equal(VECTORS.version, PROTOCOL_VERSION);
  const types = new Set(VECTORS.valid.map((v) => v.message.type));
  assert.deepEqual([...types].sort(), ['bye', 'countdown', 'episode_end', 'episode_ready', 'hello', 'input', 'keepalive', 'ping', 'pong', 'state_hash']);
  assert.deepEqual(new Set(VECTORS.invalid.map((v) => v.error)), CODES);
});

test('valid vectors: encode(message) == hex', () => {
  for (const v of VECTORS.valid) {
    const bytes = encode(toNative(v.message));
    assert.ok(bytes instanceof Uint8Array, v.name);
    assert.equal(toHex(bytes), v.hex, v.name);
  }
});

test('valid vectors: decode(hex) == message, from Uint8Array, ArrayBuffer, DataView and offset views', () => {
  for (const v of VECTORS.valid) {
    const expected = toNative(v.message);
    const bytes = fromHex(v.hex);
    // Same bytes in the middle of a bigger buffer: the decoder must honour byteOffset/byteLength.
    const padded = new Uint8Array(bytes.length + 6).fill(0xee);
    padded.set(bytes, 3);
    const forms = [bytes, bytes.buffer, new DataView(bytes.buffer), padded.subarray(3, 3 + bytes.length),
      new DataView(padded.buffer, 3, bytes.length)];
    for (const form of forms) {
      const got = decode(form);
      assert.equal(got.ok, true, `${v.name}: ${JSON.stringify(got.error)}`);
      // deepStrictEqual uses Object.is, so -0 must stay -0.
      assert.deepStrictEqual(got.msg, expected, v.name);
    }
  }
});

test('encode-only vectors: advantage is clamped to i16', () => {
  for (const v of VECTORS.encode_only) assert.equal(toHex(encode(toNative(v.message))), v.hex, v.name);
});

test('invalid vectors: decode gives the error code', () => {
  for (const v of VECTORS.invalid) {
    const got = decode(fromHex(v.hex));
    assert.equal(got.ok, false, v.name);
    assert.equal(got.error.code, v.error, `${v.name}: ${got.error.detail}`);
    assert.equal(typeof got.error.detail, 'string');
    assert.ok(got.error.detail.length > 0);
  }
});

test('encode-error vectors: TypeError/RangeError naming the field', () => {
  for (const v of VECTORS.encode_errors) {
    const field = { num_players: 'numPlayers', input_delay: 'inputDelay' }[v.field] ?? v.field;
    assert.throws(() => encode(toNative(v.message)), (err) => {
      assert.ok(err instanceof TypeError || err instanceof RangeError, `${v.name}: ${err}`);
      assert.ok(err.message.includes(field), `${v.name}: "${err.message}" should name ${field}`);
      return true;
    }, v.name);
  }
});

test('sizes match the table', () => {
  assert.equal(encode({ type: 'input', player: 1, ack: 41, start: 40, actions: [0, 1, 2, 3, 4, 0, 1] }).length, 18);
  assert.equal(encode({ type: 'input', player: 0, ack: -1, start: 0, actions: new Array(128).fill(-(2 ** 31)) }).length, 651);
  assert.equal(encode({ type: 'ping', advantage: 0, time: 0 }).length, 11);
  assert.equal(encode({ type: 'pong', time: 0 }).length, 9);
  assert.equal(encode({ type: 'keepalive' }).length, 1);
  assert.equal(encode({ type: 'episode_end', frame: 0, episode: 0 }).length, 9);
  assert.equal(encode({ type: 'episode_ready', episode: 0, inputDelay: 0 }).length, 6);
  assert.equal(encode({ type: 'state_hash', frame: 0, hash: '0'.repeat(16) }).length, 13);
  assert.equal(encode({ type: 'hello', version: PROTOCOL_VERSION, player: 0, numPlayers: 2 }).length, 4);
  assert.equal(encode({ type: 'bye', reason: ByeReason.LEFT }).length, 2);
});

test('constants', () => {
  assert.equal(PROTOCOL_VERSION, 2);
  assert.equal(MAX_INPUT_DELAY, 16);
  assert.equal(MAX_MESSAGE_BYTES, 1024);
  assert.equal(MAX_INPUT_COUNT, 128);
  assert.equal(NO_ACK, 0xffffffff);
  assert.deepEqual(Object.values(MessageType), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.deepEqual(Object.values(ByeReason), [0, 1, 2, 3, 4, 5]);
  assert.equal(NO_ADVANTAGE, -32768);
  assert.equal(MAX_COUNTDOWN, 65535);
  assert.ok(Object.isFrozen(MessageType));
});

test('zigzag order over i32: 0, -1, 1, -2, 2 ... ; one byte holds -64..63', () => {
  [0, -1, 1, -2, 2, -3].forEach((action, z) => {
    assert.deepEqual([...encode({ type: 'input', player: 0, ack: -1, start: 0, actions: [action] }).subarray(11)], [z]);
  });
  for (let a = -64; a < 64; a++) assert.equal(encode({ type: 'input', player: 0, ack: -1, start: 0, actions: [a] }).length, 12);
  for (const a of [-65, 64]) assert.equal(encode({ type: 'input', player: 0, ack: -1, start: 0, actions: [a] }).length, 13);
});

test('encode rejects non-messages and bad JS values', () => {
  for (const bad of [null, undefined, 4, 'keepalive', { type: 'nope' }, {}]) assert.throws(() => encode(bad), TypeError);
  assert.throws(() => encode({ type: 'ping', advantage: 0, time: NaN }), RangeError);
  assert.throws(() => encode({ type: 'pong', time: Infinity }), /pong\.time/);
  assert.throws(() => encode({ type: 'input', player: 0, ack: null, start: 0, actions: [0] }), /input\.ack/);
  assert.throws(() => encode({ type: 'input', player: 0, ack: -2, start: 0, actions: [0] }), /input\.ack/);
  assert.throws(() => encode({ type: 'input', player: 0, ack: -1, start: 0, actions: 'ab' }), /input\.actions/);
  assert.throws(() => encode({ type: 'hello', version: 1, player: 0, num_players: 2 }), /hello\.numPlayers/);
  assert.throws(() => encode({ type: 'episode_ready', episode: 2n, inputDelay: 0 }), TypeError);
});

test('decode never throws on non-bytes or unreadable buffers', () => {
  for (const bad of [null, undefined, 0, 'abc', [4], {}, { length: 1, 0: 4 }, Symbol('x')]) {
    const got = decode(bad);
    assert.equal(got.ok, false);
    assert.equal(got.error.code, 'invalid');
  }
  // A detached buffer (e.g. transferred to a worker) is unreadable; a view over one is empty.
  const view = new Uint8Array(new ArrayBuffer(4));
  const buf = view.buffer;
  structuredClone(buf, { transfer: [buf] });
  assert.equal(decode(buf).error.code, 'invalid');
  assert.equal(decode(view).error.code, 'empty');
  assert.equal(decode(new Uint8Array(MAX_MESSAGE_BYTES + 1).fill(4)).error.code, 'oversized');
  // Other typed arrays are read as their raw bytes.
  assert.equal(decode(new Uint16Array([0x0404])).error.code, 'oversized');
  assert.deepStrictEqual(decode(new Int8Array([4])), { ok: true, msg: { type: 'keepalive' } });
});

// ---------------------------------------------------------------- fuzz / property

function checkTotal(bytes, note) {
  let got;
  try {
    got = decode(bytes);
  } catch (err) {
    assert.fail(`decode threw ${err} on ${toHex(bytes)} (${note})`);
  }
  if (!got.ok) {
    assert.ok(CODES.has(got.error.code), `${JSON.stringify(got.error)} on ${toHex(bytes)} (${note})`);
    return false;
  }
  const again = encode(got.msg);
  assert.equal(toHex(again), toHex(bytes), `${toHex(bytes)} decoded to ${JSON.stringify(got.msg)} (${note})`);
  return true;
}

test('fuzz: random byte strings of length 0..1100', () => {
  const r = rng(FUZZ_SEED);
  let decoded = 0;
  for (let i = 0; i < 40000; i++) {
    const bytes = r.bytes(r.int(1101));
    // Bias a fifth of the cases toward known types so the fuzz reaches the field parsers.
    if (bytes.length && i % 5 === 0) bytes[0] = 1 + r.int(9);
    if (checkTotal(bytes, `seed=${FUZZ_SEED} case=${i}`)) decoded++;
  }
  assert.ok(decoded > 0, `seed=${FUZZ_SEED}: no random input decoded`);
});

test('fuzz: short random bodies for every known type', () => {
  const seed = FUZZ_SEED + 1;
  const r = rng(seed);
  let decoded = 0;
  for (let i = 0; i < 40000; i++) {
    const bytes = r.bytes(1 + r.int(41));
    bytes[0] = 1 + r.int(9);
    if (checkTotal(bytes, `seed=${seed} case=${i}`)) decoded++;
  }
  assert.ok(decoded > 400, `seed=${seed}: only ${decoded} inputs decoded`);
});

test('fuzz: mutations of every valid vector (truncate, bit flips, appended bytes, type byte)', () => {
  const seed = FUZZ_SEED + 2;
  const r = rng(seed);
  for (const v of VECTORS.valid) {
    const bytes = fromHex(v.hex);
    const note = `vector "${v.name}", seed=${seed}`;
    for (let cut = 0; cut < bytes.length; cut++) {
      assert.equal(checkTotal(bytes.slice(0, cut), `${note} truncated to ${cut}`), false, `${note} truncated to ${cut} decoded`);
    }
    for (let bit = 0; bit < 8 * bytes.length; bit++) {
      const flipped = bytes.slice();
      flipped[bit >> 3] ^= 1 << (bit & 7);
      checkTotal(flipped, `${note} bit ${bit} flipped`);
    }
    for (let extra = 1; extra <= 5; extra++) {
      const longer = new Uint8Array(bytes.length + extra);
      longer.set(bytes);
      longer.set(r.bytes(extra), bytes.length);
      assert.equal(checkTotal(longer, `${note} ${extra} bytes appended`), false, `${note}: appended bytes decoded`);
    }
    for (let type = 0; type < 256; type++) {
      const swapped = bytes.slice();
      swapped[0] = type;
      checkTotal(swapped, `${note} type byte 0x${type.toString(16)}`);
    }
  }
});

test('fuzz: random valid messages round-trip', () => {
  const seed = FUZZ_SEED + 3;
  const r = rng(seed);
  const u32 = () => r.int(2 ** 32);
  const action = () => {
    const bits = [6, 13, 20, 27, 31][r.int(5)];
    return r.int(2 ** (bits + 1)) - 2 ** bits;
  };
  for (let i = 0; i < 3000; i++) {
    const timeBytes = new DataView(r.bytes(8).buffer);
    const msgs = [
      { type: 'input', player: r.int(256), ack: r.int(2) ? -1 : r.int(2 ** 32 - 1), start: u32(),
        actions: Array.from({ length: 1 + r.int(128) }, action) },
      { type: 'ping', advantage: r.int(65536) - 32768, time: timeBytes.getFloat64(0) },
      { type: 'pong', time: (r.next() - 0.5) * 2e13 },
      { type: 'episode_end', frame: u32(), episode: u32() },
      { type: 'episode_ready', episode: u32(), inputDelay: r.int(17) },
      { type: 'state_hash', frame: u32(), hash: toHex(r.bytes(8)) },
      { type: 'hello', version: r.int(256), player: r.int(256), numPlayers: r.int(256) },
      { type: 'bye', reason: r.int(256) },
      { type: 'countdown', left: r.int(65536), advantage: r.int(2) ? null : r.int(65535) - 32767 },
    ];
    for (const msg of msgs) {
      if (msg.type === 'ping' && !Number.isFinite(msg.time)) continue;
      const bytes = encode(msg);
      assert.ok(bytes.length <= MAX_MESSAGE_BYTES);
      assert.deepStrictEqual(decode(bytes), { ok: true, msg }, `seed=${seed} case=${i} ${JSON.stringify(msg)}`);
    }
  }
});
