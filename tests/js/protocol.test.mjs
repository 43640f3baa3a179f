// Binary protocol v2 (static/js/protocol.js) against tests/vectors/protocol.json, plus seeded
// fuzzing: decode never throws, and whatever decodes re-encodes to the same bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import {
  encode, decode, PROTOCOL_VERSION, MAX_MESSAGE_BYTES, MAX_INPUT_COUNT, MAX_INPUT_DELAY, MessageType, ByeReason, ErrorCode, NO_ACK,
  NO_ADVANTAGE, MAX_COUNTDOWN, CATCHUP_CHUNK_BYTES, CATCHUP_ACK_WINDOW, encodeCatchupDoc, decodeCatchupDoc, CATCHUP_DOC_VERSION,
  MAX_CATCHUP_FRAMES,
} from '../../static/js/protocol.js';
import { mulberry32 } from './support/prng.mjs';

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
  if (m.type === 'catchup_offer') {
    if (m.known === null) out.known = -1;
    if (m.confirmed === null) out.confirmed = -1;
  }
  if (m.type === 'catchup_chunk' && typeof m.data === 'string') out.data = fromHex(m.data);
  return out;
}

// JSON form of a catch-up document (snake_case, null = none) -> the JS form.
const frameOf = (f) => (f === null ? -1 : f);
function docToNative(d) {
  return {
    version: CATCHUP_DOC_VERSION,
    numPlayers: d.num_players,
    hashInterval: d.hash_interval,
    state: d.state,
    confirmed: frameOf(d.confirmed),
    verified: frameOf(d.verified),
    verifiedThrough: d.verified_through.map(frameOf),
    episodes: d.episodes.map((e) => ({ start: e.start, end: frameOf(e.end), delays: e.delays.slice() })),
    nextDelays: d.next_delays === null ? null : d.next_delays.slice(),
    players: d.players.map((p) => ({ known: frameOf(p.known), defaultFrom: frameOf(p.default_from), actions: Int32Array.from(p.actions) })),
    hashes: d.hashes.slice(),
  };
}

function fromHex(hex) {
  return Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
}
const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

// A small seeded PRNG (mulberry32) so every run sees the same cases.
function rng(seed) {
  const u32 = mulberry32(seed);
  const next = () => u32() / 4294967296;
  const int = (n) => Math.floor(next() * n);
  const bytes = (n) => Uint8Array.from({ length: n }, () => int(256));
  return { next, int, bytes };
}

test('vectors file covers every type and error code', () => {
  assert.equal(VECTORS.version, PROTOCOL_VERSION);
  const types = new Set(VECTORS.valid.map((v) => v.message.type));
  assert.deepEqual([...types].sort(), ['bye', 'catchup_ack', 'catchup_chunk', 'catchup_offer', 'catchup_request', 'countdown',
    'episode_end', 'episode_ready', 'hello', 'input', 'keepalive', 'ping', 'pong', 'state_hash']);
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
  assert.equal(encode({ type: 'catchup_request', nonce: 1 }).length, 5);
  assert.equal(encode({ type: 'catchup_offer', nonce: 1, size: 1, known: -1, confirmed: -1 }).length, 17);
  assert.equal(encode({ type: 'catchup_ack', nonce: 1, next: 0, mask: 0 }).length, 13);
  assert.equal(encode({ type: 'catchup_chunk', nonce: 1, index: 0, data: new Uint8Array(CATCHUP_CHUNK_BYTES) }).length, 1009);
});

test('constants', () => {
  assert.equal(PROTOCOL_VERSION, 2);
  assert.equal(MAX_INPUT_DELAY, 16);
  assert.equal(MAX_MESSAGE_BYTES, 1024);
  assert.equal(MAX_INPUT_COUNT, 128);
  assert.equal(NO_ACK, 0xffffffff);
  assert.deepEqual(Object.values(MessageType), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
  assert.deepEqual(Object.values(ByeReason), [0, 1, 2, 3, 4, 5, 6]);
  assert.equal(CATCHUP_CHUNK_BYTES, 1000);
  assert.equal(CATCHUP_ACK_WINDOW, 32);
  assert.equal(CATCHUP_DOC_VERSION, 1);
  assert.equal(MAX_CATCHUP_FRAMES, 2 ** 22);
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
    if (bytes.length && i % 5 === 0) bytes[0] = 1 + r.int(14);
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
    bytes[0] = 1 + r.int(14);
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
    // A CATCHUP_CHUNK's data is variable length: a shorter or longer chunk is still a chunk.
    const variable = v.message.type === 'catchup_chunk';
    for (let cut = 0; cut < bytes.length; cut++) {
      const ok = checkTotal(bytes.slice(0, cut), `${note} truncated to ${cut}`);
      if (!variable || cut < 10) assert.equal(ok, false, `${note} truncated to ${cut} decoded`);
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
      const ok = checkTotal(longer, `${note} ${extra} bytes appended`);
      if (!variable || longer.length > 1009) assert.equal(ok, false, `${note}: appended bytes decoded`);
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
      { type: 'catchup_request', nonce: u32() },
      { type: 'catchup_offer', nonce: u32(), size: 1 + r.int(2 ** 32 - 1), known: r.int(2) ? -1 : r.int(2 ** 32 - 1),
        confirmed: r.int(2) ? -1 : r.int(2 ** 32 - 1) },
      { type: 'catchup_ack', nonce: u32(), next: u32(), mask: u32() },
      { type: 'catchup_chunk', nonce: u32(), index: u32(), data: r.bytes(1 + r.int(CATCHUP_CHUNK_BYTES)) },
    ];
    for (const msg of msgs) {
      if (msg.type === 'ping' && !Number.isFinite(msg.time)) continue;
      const bytes = encode(msg);
      assert.ok(bytes.length <= MAX_MESSAGE_BYTES);
      assert.deepStrictEqual(decode(bytes), { ok: true, msg }, `seed=${seed} case=${i} ${JSON.stringify(msg)}`);
    }
  }
});

// ---------------------------------------------------------------- catch-up documents

test('catch-up document vectors: encode == hex, decode == document', () => {
  assert.ok(VECTORS.catchup_docs.length >= 4);
  for (const v of VECTORS.catchup_docs) {
    const doc = docToNative(v.doc);
    assert.equal(toHex(encodeCatchupDoc(doc)), v.hex, v.name);
    const got = decodeCatchupDoc(fromHex(v.hex));
    assert.equal(got.ok, true, `${v.name}: ${JSON.stringify(got.error)}`);
    assert.deepStrictEqual(got.doc, doc, v.name);
    // Plain arrays encode like Int32Arrays.
    const plain = { ...doc, players: doc.players.map((p) => ({ ...p, actions: Array.from(p.actions) })) };
    assert.equal(toHex(encodeCatchupDoc(plain)), v.hex, `${v.name} (plain arrays)`);
  }
});

test('catch-up document invalid vectors: decode gives the error code', () => {
  const codes = new Set();
  for (const v of VECTORS.catchup_docs_invalid) {
    const got = decodeCatchupDoc(fromHex(v.hex));
    assert.equal(got.ok, false, v.name);
    assert.equal(got.error.code, v.error, `${v.name}: ${got.error.detail}`);
    codes.add(v.error);
  }
  assert.deepEqual([...codes].sort(), ['empty', 'invalid', 'oversized', 'truncated']);
});

test('catch-up document: encode refuses a bad document, naming the field', () => {
  const good = docToNative(VECTORS.catchup_docs[0].doc);
  const cases = [
    [{ ...good, state: 'paused' }, /doc\.state/],
    [{ ...good, numPlayers: 1 }, /doc\.numPlayers/],
    [{ ...good, hashes: good.hashes.slice(1) }, /doc\.hashes/],
    [{ ...good, players: [{ ...good.players[0], actions: [1] }, good.players[1]] }, /doc\.players\[0\]\.actions/],
    [{ ...good, episodes: [{ start: 0, end: -1, delays: [17, 0] }] }, /doc\.episodes\[0\]\.delays\[0\]/],
    [{ ...good, verifiedThrough: [0] }, /doc\.verifiedThrough/],
  ];
  for (const [doc, re] of cases) assert.throws(() => encodeCatchupDoc(doc), re);
});

test('catch-up document fuzz: decode never throws; what decodes re-encodes to the same bytes', () => {
  const seed = FUZZ_SEED + 4;
  const r = rng(seed);
  let decoded = 0;
  for (const v of VECTORS.catchup_docs) {
    const bytes = fromHex(v.hex);
    for (let cut = 0; cut < bytes.length; cut++) assert.equal(decodeCatchupDoc(bytes.slice(0, cut)).ok, false, `${v.name} cut ${cut}`);
    for (let bit = 0; bit < 8 * bytes.length; bit++) {
      const flipped = bytes.slice();
      flipped[bit >> 3] ^= 1 << (bit & 7);
      const got = decodeCatchupDoc(flipped);
      if (got.ok) {
        decoded++;
        assert.equal(toHex(encodeCatchupDoc(got.doc)), toHex(flipped), `${v.name} bit ${bit} (seed ${seed})`);
      } else assert.ok(CODES.has(got.error.code));
    }
  }
  for (let i = 0; i < 5000; i++) {
    const got = decodeCatchupDoc(r.bytes(r.int(200)));
    if (got.ok) assert.equal(toHex(encodeCatchupDoc(got.doc)).length > 0, true);
  }
  assert.ok(decoded > 0, 'some bit flips (actions, hashes) still decode');
});

test('catch-up document: inputs are run-length coded (a held key costs a few bytes)', () => {
  const actions = new Int32Array(9000);
  for (let f = 0; f < 9000; f++) actions[f] = Math.floor(f / 30) % 5; // a key change every second
  const doc = {
    numPlayers: 2, hashInterval: 1, state: 'running', confirmed: -1, verified: -1, verifiedThrough: [-1, -1],
    episodes: [], nextDelays: null, players: [{ known: 8999, defaultFrom: -1, actions }, { known: 8999, defaultFrom: -1, actions }], hashes: [],
  };
  const bytes = encodeCatchupDoc(doc);
  assert.ok(bytes.length < 2 * (12 + 300 * 2) + 40, `${bytes.length} bytes`);
  assert.deepStrictEqual(decodeCatchupDoc(bytes).doc.players[1].actions, actions);
});
