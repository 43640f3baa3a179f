// Binary DataChannel protocol v2: encode and decode peer messages.
//
// Mirror of interactive_gym_p2p/protocol.py; both read tests/vectors/protocol.json and must
// agree byte for byte. Layouts: docs/protocol.md.
//
// The channel is unordered with no retransmits, so every message is self-contained. decode() is
// total: malformed input gives {ok:false, error:{code, detail}} for the caller to count and drop;
// it never throws. Encoding is canonical: encode(decode(b).msg) equals b byte for byte, which is
// why non-minimal varints and trailing bytes are rejected.

export const PROTOCOL_VERSION = 2;
export const MAX_MESSAGE_BYTES = 1024;
export const MAX_INPUT_COUNT = 128;
export const NO_ACK = 0xffffffff; // wire value of ack = -1 (none yet)
export const MAX_INPUT_DELAY = 16; // largest EPISODE_READY input_delay (frames)

export const MessageType = Object.freeze({
  INPUT: 0x01,
  PING: 0x02,
  PONG: 0x03,
  KEEPALIVE: 0x04,
  EPISODE_END: 0x05,
  EPISODE_READY: 0x06,
  STATE_HASH: 0x07,
  HELLO: 0x08,
  BYE: 0x09,
  COUNTDOWN: 0x0a,
  CATCHUP_REQUEST: 0x0b,
  CATCHUP_OFFER: 0x0c,
  CATCHUP_ACK: 0x0d,
  CATCHUP_CHUNK: 0x0e,
});

// Known BYE reasons; other u8 values still decode (room for new reasons). The two EXCLUDED
// reasons say what the others do without the excluded player: end the game, or play on with
// its default action (whatever their disconnect policy). AWAY: the sender's page is going away
// (a reload) and its seat is held: it may come back and catch up (CATCHUP_*).
export const ByeReason = Object.freeze({
  LEFT: 0, GAME_OVER: 1, ERROR: 2, TIMEOUT: 3, EXCLUDED_END: 4, EXCLUDED_DEFAULT_ACTION: 5, AWAY: 6,
});

/** Bytes of the catch-up document in every CATCHUP_CHUNK but the last (which may be shorter). */
export const CATCHUP_CHUNK_BYTES = 1000;
/** Chunks a CATCHUP_ACK can report beyond its cumulative `next` (bits of its mask). */
export const CATCHUP_ACK_WINDOW = 32;
/** Wire value of a frame field that holds none (-1 in JS). */
export const NO_FRAME_WIRE = 0xffffffff;

/** COUNTDOWN advantage on the wire when the sender has no sample yet. */
export const NO_ADVANTAGE = -0x8000;
export const MAX_COUNTDOWN = 0xffff;

export const ErrorCode = Object.freeze({
  EMPTY: 'empty',
  UNKNOWN_TYPE: 'unknown_type',
  TRUNCATED: 'truncated',
  OVERSIZED: 'oversized',
  INVALID: 'invalid',
});

const U32_MAX = 0xffffffff;
const I32_MIN = -0x80000000;
const I32_MAX = 0x7fffffff;
const I16_MIN = -0x8000;
const I16_MAX = 0x7fff;
const HASH_RE = /^[0-9a-f]{16}$/;
const INPUT_HEAD = 11; // type, player u8, ack u32, start u32, count u8
const SIZES = {
  [MessageType.PING]: 11,
  [MessageType.PONG]: 9,
  [MessageType.KEEPALIVE]: 1,
  [MessageType.EPISODE_END]: 9,
  [MessageType.EPISODE_READY]: 6,
  [MessageType.STATE_HASH]: 13,
  [MessageType.HELLO]: 4,
  [MessageType.BYE]: 2,
  [MessageType.COUNTDOWN]: 5,
  [MessageType.CATCHUP_REQUEST]: 5,
  [MessageType.CATCHUP_OFFER]: 17,
  [MessageType.CATCHUP_ACK]: 13,
};
const CHUNK_HEAD = 9; // type, nonce u32, index u32
const NAMES = {
  [MessageType.INPUT]: 'INPUT',
  [MessageType.PING]: 'PING',
  [MessageType.PONG]: 'PONG',
  [MessageType.KEEPALIVE]: 'KEEPALIVE',
  [MessageType.EPISODE_END]: 'EPISODE_END',
  [MessageType.EPISODE_READY]: 'EPISODE_READY',
  [MessageType.STATE_HASH]: 'STATE_HASH',
  [MessageType.HELLO]: 'HELLO',
  [MessageType.BYE]: 'BYE',
  [MessageType.COUNTDOWN]: 'COUNTDOWN',
  [MessageType.CATCHUP_REQUEST]: 'CATCHUP_REQUEST',
  [MessageType.CATCHUP_OFFER]: 'CATCHUP_OFFER',
  [MessageType.CATCHUP_ACK]: 'CATCHUP_ACK',
  [MessageType.CATCHUP_CHUNK]: 'CATCHUP_CHUNK',
};

// ---------------------------------------------------------------- encoding

function int(value, field) {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`${field} must be an integer, got ${describe(value)}`);
  }
  return value;
}

function ranged(value, field, lo, hi) {
  const n = int(value, field);
  if (n < lo || n > hi) throw new RangeError(`${field} must be in [${lo}, ${hi}], got ${n}`);
  return n;
}

const u8 = (value, field) => ranged(value, field, 0, 0xff);
const u32 = (value, field) => ranged(value, field, 0, U32_MAX);

function time(value, field) {
  if (typeof value !== 'number') throw new TypeError(`${field} must be a number, got ${describe(value)}`);
  if (!Number.isFinite(value)) throw new RangeError(`${field} must be finite, got ${value}`);
  return value;
}

function describe(value) {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return String(value);
  return typeof value;
}

// Zigzag then unsigned LEB128 (7 bits per byte, low bits first, high bit = more). Returns the
// new write position.
function writeVarint(out, pos, action) {
  let z = ((action << 1) ^ (action >> 31)) >>> 0;
  while (z >= 0x80) {
    out[pos++] = (z & 0x7f) | 0x80;
    z >>>= 7;
  }
  out[pos++] = z;
  return pos;
}

function encodeInput(msg) {
  const player = u8(msg.player, 'input.player');
  // -1 (none yet) travels as NO_ACK; NO_ACK itself is refused so decoding gives back what was sent.
  const ack = int(msg.ack, 'input.ack') === -1 ? NO_ACK : ranged(msg.ack, 'input.ack (-1 = none)', 0, NO_ACK - 1);
  const start = u32(msg.start, 'input.start');
  const actions = msg.actions;
  if (!Array.isArray(actions)) throw new TypeError(`input.actions must be an array, got ${describe(actions)}`);
  if (actions.length < 1 || actions.length > MAX_INPUT_COUNT) {
    throw new RangeError(`input.actions must hold 1..${MAX_INPUT_COUNT} actions, got ${actions.length}`);
  }
  const out = new Uint8Array(INPUT_HEAD + 5 * actions.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, MessageType.INPUT);
  view.setUint8(1, player);
  view.setUint32(2, ack);
  view.setUint32(6, start);
  view.setUint8(10, actions.length);
  let pos = INPUT_HEAD;
  for (let i = 0; i < actions.length; i++) {
    pos = writeVarint(out, pos, ranged(actions[i], `input.actions[${i}]`, I32_MIN, I32_MAX));
  }
  return out.slice(0, pos);
}

function fixed(type, fill) {
  const out = new Uint8Array(SIZES[type]);
  const view = new DataView(out.buffer);
  view.setUint8(0, type);
  fill(view, out);
  return out;
}

// Fixed messages made of integer fields only: one layout per message, [field, kind] in byte
// order, serves encode (check, then write) and decode (read). A kind's `check` names the field
// in its error and gives the wire value; `get` turns the wire value back.
const U8 = { size: 1, check: u8, put: (v, at, x) => v.setUint8(at, x), get: (v, at) => v.getUint8(at) };
const U32 = { size: 4, check: u32, put: (v, at, x) => v.setUint32(at, x), get: (v, at) => v.getUint32(at) };
const SIZE = { ...U32, check: (value, field) => ranged(value, field, 1, U32_MAX) }; // a document has >= 1 byte
const FRAME = { ...U32, check: (value, field) => frameOrNone(value, field), get: (v, at) => frameFromWire(v.getUint32(at)) };
const LAYOUTS = {
  episode_end: [MessageType.EPISODE_END, [['frame', U32], ['episode', U32]]],
  hello: [MessageType.HELLO, [['version', U8], ['player', U8], ['numPlayers', U8]]],
  bye: [MessageType.BYE, [['reason', U8]]],
  catchup_request: [MessageType.CATCHUP_REQUEST, [['nonce', U32]]],
  catchup_offer: [MessageType.CATCHUP_OFFER, [['nonce', U32], ['size', SIZE], ['known', FRAME], ['confirmed', FRAME]]],
  catchup_ack: [MessageType.CATCHUP_ACK, [['nonce', U32], ['next', U32], ['mask', U32]]],
};
const LAYOUT_OF_TYPE = new Map(Object.entries(LAYOUTS).map(([name, [type, fields]]) => [type, [name, fields]]));

function encodeLayout(name, msg) {
  const [type, fields] = LAYOUTS[name];
  const wire = fields.map(([field, kind]) => kind.check(msg[field], `${name}.${field}`));
  return fixed(type, (v) => {
    let at = 1;
    fields.forEach(([, kind], i) => {
      kind.put(v, at, wire[i]);
      at += kind.size;
    });
  });
}

function decodeLayout(type, view) {
  const [name, fields] = LAYOUT_OF_TYPE.get(type);
  const msg = { type: name };
  let at = 1;
  for (const [field, kind] of fields) {
    msg[field] = kind.get(view, at);
    at += kind.size;
  }
  return msg;
}

/** Encode one message object to bytes; throws TypeError/RangeError (naming the field) if it is bad. */
export function encode(msg) {
  if (msg === null || typeof msg !== 'object') throw new TypeError(`message must be an object, got ${describe(msg)}`);
  switch (msg.type) {
    case 'input':
      return encodeInput(msg);
    case 'ping': {
      // Clamp: a huge advantage still means "far ahead"; it must not make sending fail.
      const advantage = Math.min(Math.max(int(msg.advantage, 'ping.advantage'), I16_MIN), I16_MAX);
      const t = time(msg.time, 'ping.time');
      return fixed(MessageType.PING, (v) => {
        v.setInt16(1, advantage);
        v.setFloat64(3, t);
      });
    }
    case 'pong': {
      const t = time(msg.time, 'pong.time');
      return fixed(MessageType.PONG, (v) => v.setFloat64(1, t));
    }
    case 'keepalive':
      return fixed(MessageType.KEEPALIVE, () => {});
    case 'episode_ready': {
      const episode = u32(msg.episode, 'episode_ready.episode');
      const delay = ranged(msg.inputDelay, 'episode_ready.inputDelay', 0, MAX_INPUT_DELAY);
      return fixed(MessageType.EPISODE_READY, (v) => {
        v.setUint32(1, episode);
        v.setUint8(5, delay);
      });
    }
    case 'state_hash': {
      const frame = u32(msg.frame, 'state_hash.frame');
      if (typeof msg.hash !== 'string') throw new TypeError(`state_hash.hash must be a string, got ${describe(msg.hash)}`);
      if (!HASH_RE.test(msg.hash)) throw new RangeError(`state_hash.hash must be 16 lowercase hex chars, got ${JSON.stringify(msg.hash)}`);
      return fixed(MessageType.STATE_HASH, (v, out) => {
        v.setUint32(1, frame);
        for (let i = 0; i < 8; i++) out[5 + i] = parseInt(msg.hash.slice(2 * i, 2 * i + 2), 16);
      });
    }
    case 'countdown': {
      const left = ranged(msg.left, 'countdown.left', 0, MAX_COUNTDOWN);
      // null = no sample yet; numbers clamp like PING's, short of the null marker.
      const advantage = msg.advantage === null ? NO_ADVANTAGE
        : Math.min(Math.max(int(msg.advantage, 'countdown.advantage'), I16_MIN + 1), I16_MAX);
      return fixed(MessageType.COUNTDOWN, (v) => {
        v.setUint16(1, left);
        v.setInt16(3, advantage);
      });
    }
    case 'episode_end':
    case 'hello':
    case 'bye':
    case 'catchup_request':
    case 'catchup_offer':
    case 'catchup_ack':
      return encodeLayout(msg.type, msg);
    case 'catchup_chunk': {
      const nonce = u32(msg.nonce, 'catchup_chunk.nonce');
      const index = u32(msg.index, 'catchup_chunk.index');
      const data = msg.data;
      if (!(data instanceof Uint8Array)) throw new TypeError(`catchup_chunk.data must be a Uint8Array, got ${describe(data)}`);
      if (data.length < 1 || data.length > CATCHUP_CHUNK_BYTES) {
        throw new RangeError(`catchup_chunk.data must hold 1..${CATCHUP_CHUNK_BYTES} bytes, got ${data.length}`);
      }
      const out = new Uint8Array(CHUNK_HEAD + data.length);
      const v = new DataView(out.buffer);
      v.setUint8(0, MessageType.CATCHUP_CHUNK);
      v.setUint32(1, nonce);
      v.setUint32(5, index);
      out.set(data, CHUNK_HEAD);
      return out;
    }
    default:
      throw new TypeError(`message.type is not a protocol message type: ${JSON.stringify(String(msg.type))}`);
  }
}

/** A frame field that may hold none: -1 travels as NO_FRAME_WIRE (itself refused, as for INPUT's ack). */
function frameOrNone(value, field) {
  return int(value, field) === -1 ? NO_FRAME_WIRE : ranged(value, `${field} (-1 = none)`, 0, NO_FRAME_WIRE - 1);
}

const frameFromWire = (w) => (w === NO_FRAME_WIRE ? -1 : w);

// ---------------------------------------------------------------- decoding
// Checks run in a fixed order so both languages report the same code: empty, longer than
// MAX_MESSAGE_BYTES, unknown type, then the fields in byte order (a field running past the
// end is truncated, a bad value invalid), then bytes left over (oversized).

const fail = (code, detail) => ({ ok: false, error: { code, detail } });
const ok = (msg) => ({ ok: true, msg });

// Returns a Uint8Array over the input, or null when it is not bytes (or is unreadable, e.g. a
// detached buffer, whose accessors throw).
function asBytes(input) {
  try {
    if (input instanceof Uint8Array) return input;
    if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    if (input instanceof ArrayBuffer) return new Uint8Array(input);
    if (typeof SharedArrayBuffer !== 'undefined' && input instanceof SharedArrayBuffer) return new Uint8Array(input);
  } catch {
    // fall through: not readable as bytes
  }
  return null;
}

function decodeInput(b, view) {
  if (b.length < INPUT_HEAD) return fail(ErrorCode.TRUNCATED, `INPUT header needs ${INPUT_HEAD} bytes, got ${b.length}`);
  const player = b[1];
  const ack = view.getUint32(2);
  const start = view.getUint32(6);
  const count = b[10];
  if (count < 1 || count > MAX_INPUT_COUNT) {
    return fail(ErrorCode.INVALID, `INPUT count must be 1..${MAX_INPUT_COUNT}, got ${count}`);
  }
  const actions = new Array(count);
  let pos = INPUT_HEAD;
  for (let i = 0; i < count; i++) {
    let z = 0;
    for (let n = 0; ; n++) {
      if (pos >= b.length) return fail(ErrorCode.TRUNCATED, `INPUT ends inside action ${i} of ${count}`);
      const byte = b[pos++];
      // Byte 5 carries bits 28..34; a continuation bit or bits past 31 leave u32.
      if (n === 4 && byte > 0x0f) return fail(ErrorCode.INVALID, `INPUT action ${i}: varint exceeds 32 bits`);
      z += (byte & 0x7f) * 2 ** (7 * n); // arithmetic, not <<, so bit 31 stays positive
      if (byte < 0x80) {
        if (byte === 0 && n > 0) return fail(ErrorCode.INVALID, `INPUT action ${i}: non-minimal varint`);
        break;
      }
    }
    actions[i] = (z >>> 1) ^ -(z & 1);
  }
  if (b.length > pos) return fail(ErrorCode.OVERSIZED, `INPUT is ${pos} bytes, got ${b.length}`);
  return ok({ type: 'input', player, ack: ack === NO_ACK ? -1 : ack, start, actions });
}

function decodeFixed(type, b, view) {
  const name = NAMES[type];
  const size = SIZES[type];
  if (b.length < size) return fail(ErrorCode.TRUNCATED, `${name} needs ${size} bytes, got ${b.length}`);
  // PING/PONG: time is the last field, so it is checked before the leftover bytes.
  if (type === MessageType.PING || type === MessageType.PONG) {
    const t = view.getFloat64(size - 8);
    if (!Number.isFinite(t)) return fail(ErrorCode.INVALID, `${name} time must be finite, got ${t}`);
  }
  // EPISODE_READY: input_delay is its last field, checked the same way.
  if (type === MessageType.EPISODE_READY && b[5] > MAX_INPUT_DELAY) {
    return fail(ErrorCode.INVALID, `EPISODE_READY input_delay must be 0..${MAX_INPUT_DELAY}, got ${b[5]}`);
  }
  // CATCHUP_OFFER: a catch-up document has at least one byte (size is checked in byte order).
  if (type === MessageType.CATCHUP_OFFER && view.getUint32(5) === 0) {
    return fail(ErrorCode.INVALID, 'CATCHUP_OFFER size must be at least 1');
  }
  if (b.length > size) return fail(ErrorCode.OVERSIZED, `${name} is ${size} bytes, got ${b.length}`);
  switch (type) {
    case MessageType.PING:
      return ok({ type: 'ping', advantage: view.getInt16(1), time: view.getFloat64(3) });
    case MessageType.PONG:
      return ok({ type: 'pong', time: view.getFloat64(1) });
    case MessageType.KEEPALIVE:
      return ok({ type: 'keepalive' });
    case MessageType.EPISODE_READY:
      return ok({ type: 'episode_ready', episode: view.getUint32(1), inputDelay: b[5] });
    case MessageType.STATE_HASH: {
      let hash = '';
      for (let i = 5; i < 13; i++) hash += b[i].toString(16).padStart(2, '0');
      return ok({ type: 'state_hash', frame: view.getUint32(1), hash });
    }
    case MessageType.COUNTDOWN: {
      const advantage = view.getInt16(3);
      return ok({ type: 'countdown', left: view.getUint16(1), advantage: advantage === NO_ADVANTAGE ? null : advantage });
    }
    default: // EPISODE_END, HELLO, BYE, CATCHUP_REQUEST/OFFER/ACK
      return ok(decodeLayout(type, view));
  }
}

function decodeChunk(b, view) {
  // At least one data byte: a chunk that ends after its index is truncated.
  if (b.length < CHUNK_HEAD + 1) return fail(ErrorCode.TRUNCATED, `CATCHUP_CHUNK needs ${CHUNK_HEAD + 1}+ bytes, got ${b.length}`);
  if (b.length > CHUNK_HEAD + CATCHUP_CHUNK_BYTES) {
    return fail(ErrorCode.OVERSIZED, `CATCHUP_CHUNK holds at most ${CATCHUP_CHUNK_BYTES} data bytes, got ${b.length - CHUNK_HEAD}`);
  }
  return ok({ type: 'catchup_chunk', nonce: view.getUint32(1), index: view.getUint32(5), data: b.slice(CHUNK_HEAD) });
}

/**
 * Decode one message. Never throws: returns {ok:true, msg} or {ok:false, error:{code, detail}}
 * with code one of ErrorCode's values.
 */
export function decode(input) {
  const b = asBytes(input);
  if (b === null) return fail(ErrorCode.INVALID, `expected bytes, got ${describe(input)}`);
  if (b.length === 0) return fail(ErrorCode.EMPTY, 'empty message');
  if (b.length > MAX_MESSAGE_BYTES) return fail(ErrorCode.OVERSIZED, `${b.length} bytes > ${MAX_MESSAGE_BYTES}`);
  const type = b[0];
  if (!Object.hasOwn(NAMES, type)) return fail(ErrorCode.UNKNOWN_TYPE, `unknown message type 0x${type.toString(16).padStart(2, '0')}`);
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (type === MessageType.INPUT) return decodeInput(b, view);
  if (type === MessageType.CATCHUP_CHUNK) return decodeChunk(b, view);
  return decodeFixed(type, b, view);
}

// ---------------------------------------------------------------- catch-up document
// The game so far, as a peer sends it (in CATCHUP_CHUNKs) to a player whose page was reloaded:
// episodes, every player's known inputs (run-length coded), the hashes of the confirmed frames.
// Layout and rules: docs/protocol.md, "Catch-up document". Decoding is total, like decode().

export const CATCHUP_DOC_VERSION = 1;
/** Most input frames a catch-up document may describe per player (38 h at 30 fps). */
export const MAX_CATCHUP_FRAMES = 2 ** 22;
export const CATCHUP_STATES = Object.freeze(['pregame', 'running', 'transition', 'finished']);
const NO_DELAY = 0xff;
const MAX_HASH_INTERVAL = 100000;

class ByteWriter {
  constructor(size = 256) {
    this.buf = new Uint8Array(size);
    this.pos = 0;
  }

  room(n) {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const b = new Uint8Array(size);
    b.set(this.buf.subarray(0, this.pos));
    this.buf = b;
  }

  u8(n) {
    this.room(1);
    this.buf[this.pos++] = n;
  }

  u32(n) {
    this.room(4);
    new DataView(this.buf.buffer).setUint32(this.pos, n);
    this.pos += 4;
  }

  /** Unsigned LEB128 of a u32. */
  uvarint(n) {
    this.room(5);
    let z = n >>> 0;
    while (z >= 0x80) {
      this.buf[this.pos++] = (z & 0x7f) | 0x80;
      z >>>= 7;
    }
    this.buf[this.pos++] = z;
  }

  action(a) {
    this.room(5);
    this.pos = writeVarint(this.buf, this.pos, a);
  }

  bytes() {
    return this.buf.slice(0, this.pos);
  }
}

function delayByte(d, field) {
  return d === null || d === undefined ? NO_DELAY : ranged(d, field, 0, MAX_INPUT_DELAY);
}

function frameList(list, n, field) {
  if (!Array.isArray(list) || list.length !== n) throw new TypeError(`${field} must be an array of ${n} entries`);
  return list;
}

/** Encode a catch-up document (see docs/protocol.md); throws TypeError/RangeError naming the field. */
export function encodeCatchupDoc(doc) {
  if (doc === null || typeof doc !== 'object') throw new TypeError(`catch-up document must be an object, got ${describe(doc)}`);
  const n = ranged(doc.numPlayers, 'doc.numPlayers', 2, 255);
  const hashInterval = ranged(doc.hashInterval, 'doc.hashInterval', 1, MAX_HASH_INTERVAL);
  const state = CATCHUP_STATES.indexOf(doc.state);
  if (state < 0) throw new RangeError(`doc.state must be one of ${CATCHUP_STATES.join(', ')}, got ${JSON.stringify(doc.state)}`);
  const confirmed = frameOrNone(doc.confirmed, 'doc.confirmed');
  const w = new ByteWriter(1024);
  w.u8(CATCHUP_DOC_VERSION);
  w.u8(n);
  w.u32(hashInterval);
  w.u8(state);
  w.u32(confirmed);
  w.u32(frameOrNone(doc.verified, 'doc.verified'));
  frameList(doc.verifiedThrough, n, 'doc.verifiedThrough').forEach((f, p) => w.u32(frameOrNone(f, `doc.verifiedThrough[${p}]`)));
  if (!Array.isArray(doc.episodes)) throw new TypeError('doc.episodes must be an array');
  w.u32(doc.episodes.length);
  doc.episodes.forEach((ep, e) => {
    w.u32(u32(ep.start, `doc.episodes[${e}].start`));
    w.u32(frameOrNone(ep.end, `doc.episodes[${e}].end`));
    frameList(ep.delays, n, `doc.episodes[${e}].delays`).forEach((d, p) => w.u8(delayByte(d, `doc.episodes[${e}].delays[${p}]`)));
  });
  if (doc.nextDelays === null || doc.nextDelays === undefined) w.u8(0);
  else {
    w.u8(1);
    frameList(doc.nextDelays, n, 'doc.nextDelays').forEach((d, p) => w.u8(delayByte(d, `doc.nextDelays[${p}]`)));
  }
  frameList(doc.players, n, 'doc.players').forEach((pl, p) => {
    const field = `doc.players[${p}]`;
    const known = frameOrNone(pl.known, `${field}.known`);
    w.u32(known);
    w.u32(frameOrNone(pl.defaultFrom, `${field}.defaultFrom`));
    const count = known === NO_FRAME_WIRE ? 0 : known + 1;
    if (count > MAX_CATCHUP_FRAMES) throw new RangeError(`${field}.known must be below ${MAX_CATCHUP_FRAMES}, got ${known}`);
    const a = pl.actions;
    if (!a || typeof a.length !== 'number' || a.length !== count) {
      throw new RangeError(`${field}.actions must hold known + 1 = ${count} actions, got ${a?.length}`);
    }
    // Run-length: (action, run) pairs; players hold keys, so runs are long.
    let runs = 0;
    for (let i = 0; i < count; i++) if (i === 0 || a[i] !== a[i - 1]) runs += 1;
    w.u32(runs);
    let i = 0;
    while (i < count) {
      const v = ranged(a[i], `${field}.actions[${i}]`, I32_MIN, I32_MAX);
      let j = i + 1;
      while (j < count && a[j] === v) j += 1;
      w.action(v);
      w.uvarint(j - i);
      i = j;
    }
  });
  const hashes = doc.hashes;
  const expected = confirmed === NO_FRAME_WIRE ? 0 : Math.floor(confirmed / hashInterval) + 1;
  if (!Array.isArray(hashes) || hashes.length !== expected) {
    throw new RangeError(`doc.hashes must hold one hash per hashed frame 0..confirmed (${expected}), got ${hashes?.length}`);
  }
  w.room(8 * hashes.length);
  hashes.forEach((h, k) => {
    if (typeof h !== 'string' || !HASH_RE.test(h)) throw new RangeError(`doc.hashes[${k}] must be 16 lowercase hex chars, got ${JSON.stringify(h)}`);
    for (let i = 0; i < 8; i++) w.buf[w.pos++] = parseInt(h.slice(2 * i, 2 * i + 2), 16);
  });
  return w.bytes();
}

class ByteReader {
  constructor(b) {
    this.b = b;
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    this.pos = 0;
    this.error = null;
  }

  left() {
    return this.b.length - this.pos;
  }

  need(n, what) {
    if (this.error) return false;
    if (this.pos + n > this.b.length) {
      this.error = { code: ErrorCode.TRUNCATED, detail: `catch-up document ends inside ${what}` };
      return false;
    }
    return true;
  }

  bad(detail) {
    if (!this.error) this.error = { code: ErrorCode.INVALID, detail };
    return null;
  }

  u8(what) {
    if (!this.need(1, what)) return null;
    return this.b[this.pos++];
  }

  u32(what) {
    if (!this.need(4, what)) return null;
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  /** A minimal LEB128 of at most 32 bits; null (with the error set) otherwise. */
  uvarint(what) {
    let z = 0;
    for (let n = 0; ; n++) {
      if (!this.need(1, what)) return null;
      const byte = this.b[this.pos++];
      if (n === 4 && byte > 0x0f) return this.bad(`${what}: varint exceeds 32 bits`);
      z += (byte & 0x7f) * 2 ** (7 * n);
      if (byte < 0x80) {
        if (byte === 0 && n > 0) return this.bad(`${what}: non-minimal varint`);
        return z;
      }
    }
  }
}

function readDelays(r, n, what) {
  const out = new Array(n);
  for (let p = 0; p < n; p++) {
    const d = r.u8(`${what}[${p}]`);
    if (d === null) return null;
    if (d !== NO_DELAY && d > MAX_INPUT_DELAY) return r.bad(`${what}[${p}] must be 0..${MAX_INPUT_DELAY} or 0xff, got ${d}`);
    out[p] = d === NO_DELAY ? null : d;
  }
  return out;
}

/**
 * Decode a catch-up document: {ok:true, doc} or {ok:false, error:{code, detail}}; never throws.
 * `players[p].actions` is an Int32Array.
 */
export function decodeCatchupDoc(input) {
  const b = asBytes(input);
  if (b === null) return fail(ErrorCode.INVALID, `expected bytes, got ${describe(input)}`);
  if (b.length === 0) return fail(ErrorCode.EMPTY, 'empty catch-up document');
  const r = new ByteReader(b);
  const doc = readDoc(r);
  if (r.error) return { ok: false, error: r.error };
  if (r.left() > 0) return fail(ErrorCode.OVERSIZED, `${r.left()} bytes after the catch-up document`);
  return { ok: true, doc };
}

function readDoc(r) {
  const version = r.u8('version');
  if (version === null) return null;
  if (version !== CATCHUP_DOC_VERSION) return r.bad(`catch-up document version ${version} is not ${CATCHUP_DOC_VERSION}`);
  const n = r.u8('num_players');
  if (n === null) return null;
  if (n < 2) return r.bad(`num_players must be 2..255, got ${n}`);
  const hashInterval = r.u32('hash_interval');
  if (hashInterval === null) return null;
  if (hashInterval < 1 || hashInterval > MAX_HASH_INTERVAL) return r.bad(`hash_interval must be 1..${MAX_HASH_INTERVAL}, got ${hashInterval}`);
  const state = r.u8('state');
  if (state === null) return null;
  if (state >= CATCHUP_STATES.length) return r.bad(`state must be 0..${CATCHUP_STATES.length - 1}, got ${state}`);
  const confirmed = r.u32('confirmed');
  const verified = r.u32('verified');
  if (verified === null) return null;
  const verifiedThrough = [];
  for (let p = 0; p < n; p++) {
    const f = r.u32(`verified_through[${p}]`);
    if (f === null) return null;
    verifiedThrough.push(frameFromWire(f));
  }
  const count = r.u32('episode count');
  if (count === null) return null;
  if (count * (8 + n) > r.left()) return r.need(count * (8 + n), 'the episodes') && null;
  const episodes = [];
  for (let e = 0; e < count; e++) {
    const start = r.u32(`episodes[${e}].start`);
    const end = r.u32(`episodes[${e}].end`);
    const delays = readDelays(r, n, `episodes[${e}].delays`);
    if (delays === null) return null;
    episodes.push({ start, end: frameFromWire(end), delays });
  }
  const hasNext = r.u8('next flag');
  if (hasNext === null) return null;
  if (hasNext > 1) return r.bad(`next flag must be 0 or 1, got ${hasNext}`);
  let nextDelays = null;
  if (hasNext === 1) {
    nextDelays = readDelays(r, n, 'next_delays');
    if (nextDelays === null) return null;
  }
  const players = [];
  for (let p = 0; p < n; p++) {
    const known = r.u32(`players[${p}].known`);
    const defaultFrom = r.u32(`players[${p}].default_from`);
    const runs = r.u32(`players[${p}].runs`);
    if (runs === null) return null;
    const total = known === NO_FRAME_WIRE ? 0 : known + 1;
    if (total > MAX_CATCHUP_FRAMES) return r.bad(`players[${p}].known must be below ${MAX_CATCHUP_FRAMES}, got ${known}`);
    if (runs > total) return r.bad(`players[${p}]: ${runs} runs for ${total} frames`);
    if (runs * 2 > r.left()) return r.need(runs * 2, `players[${p}].runs`) && null;
    const actions = new Int32Array(total);
    let at = 0;
    for (let k = 0; k < runs; k++) {
      const z = r.uvarint(`players[${p}] run ${k} action`);
      if (z === null) return null;
      const len = r.uvarint(`players[${p}] run ${k} length`);
      if (len === null) return null;
      if (len < 1 || at + len > total) return r.bad(`players[${p}] run ${k}: length ${len} leaves the ${total} known frames`);
      const a = (z >>> 1) ^ -(z & 1);
      // Canonical: two runs of the same action would have been one.
      if (k > 0 && actions[at - 1] === a) return r.bad(`players[${p}] run ${k} repeats the action of run ${k - 1}`);
      actions.fill(a, at, at + len);
      at += len;
    }
    if (at !== total) return r.bad(`players[${p}]: runs cover ${at} of ${total} frames`);
    players.push({ known: frameFromWire(known), defaultFrom: frameFromWire(defaultFrom), actions });
  }
  const hashCount = confirmed === NO_FRAME_WIRE ? 0 : Math.floor(confirmed / hashInterval) + 1;
  if (!r.need(8 * hashCount, 'the hashes')) return null;
  const hashes = new Array(hashCount);
  for (let k = 0; k < hashCount; k++) {
    let h = '';
    for (let i = 0; i < 8; i++) h += r.b[r.pos++].toString(16).padStart(2, '0');
    hashes[k] = h;
  }
  return {
    version, numPlayers: n, hashInterval, state: CATCHUP_STATES[state], confirmed: frameFromWire(confirmed),
    verified: frameFromWire(verified), verifiedThrough, episodes, nextDelays, players, hashes,
  };
}
