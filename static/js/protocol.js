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
});

// Known BYE reasons; other u8 values still decode (room for new reasons). The two EXCLUDED
// reasons say what the others do without the excluded player: end the game, or play on with
// its default action (whatever their disconnect policy).
export const ByeReason = Object.freeze({
  LEFT: 0, GAME_OVER: 1, ERROR: 2, TIMEOUT: 3, EXCLUDED_END: 4, EXCLUDED_DEFAULT_ACTION: 5,
});

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
};
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
    case 'episode_end': {
      const frame = u32(msg.frame, 'episode_end.frame');
      const episode = u32(msg.episode, 'episode_end.episode');
      return fixed(MessageType.EPISODE_END, (v) => {
        v.setUint32(1, frame);
        v.setUint32(5, episode);
      });
    }
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
    case 'hello': {
      const version = u8(msg.version, 'hello.version');
      const player = u8(msg.player, 'hello.player');
      const numPlayers = u8(msg.numPlayers, 'hello.numPlayers');
      return fixed(MessageType.HELLO, (v) => {
        v.setUint8(1, version);
        v.setUint8(2, player);
        v.setUint8(3, numPlayers);
      });
    }
    case 'bye': {
      const reason = u8(msg.reason, 'bye.reason');
      return fixed(MessageType.BYE, (v) => v.setUint8(1, reason));
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
    default:
      throw new TypeError(`message.type is not a protocol message type: ${JSON.stringify(String(msg.type))}`);
  }
}

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
  if (b.length > size) return fail(ErrorCode.OVERSIZED, `${name} is ${size} bytes, got ${b.length}`);
  switch (type) {
    case MessageType.PING:
      return ok({ type: 'ping', advantage: view.getInt16(1), time: view.getFloat64(3) });
    case MessageType.PONG:
      return ok({ type: 'pong', time: view.getFloat64(1) });
    case MessageType.KEEPALIVE:
      return ok({ type: 'keepalive' });
    case MessageType.EPISODE_END:
      return ok({ type: 'episode_end', frame: view.getUint32(1), episode: view.getUint32(5) });
    case MessageType.EPISODE_READY:
      return ok({ type: 'episode_ready', episode: view.getUint32(1), inputDelay: b[5] });
    case MessageType.STATE_HASH: {
      let hash = '';
      for (let i = 5; i < 13; i++) hash += b[i].toString(16).padStart(2, '0');
      return ok({ type: 'state_hash', frame: view.getUint32(1), hash });
    }
    case MessageType.HELLO:
      return ok({ type: 'hello', version: b[1], player: b[2], numPlayers: b[3] });
    case MessageType.COUNTDOWN: {
      const advantage = view.getInt16(3);
      return ok({ type: 'countdown', left: view.getUint16(1), advantage: advantage === NO_ADVANTAGE ? null : advantage });
    }
    default: // BYE
      return ok({ type: 'bye', reason: b[1] });
  }
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
  return type === MessageType.INPUT ? decodeInput(b, view) : decodeFixed(type, b, view);
}
