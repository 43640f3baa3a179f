// Validation export, browser side: build the JSON document of one player's game from the
// session's record (docs/validation-export.md), then upload it with the player's token.
//
// buildExport never invents data: rows past an episode's last confirmed frame (predictions)
// are dropped, non-finite numbers become null (stats) or the hashing contract's tokens (state
// dumps), and a record that lacks a required field fails with ExportBuildError naming it.
// uploadExport retries with exponential backoff while the server is away or answers 5xx,
// never on 4xx (the same bytes would be refused again), and reports every step to onStatus
// so the end page can show it.

export const SCHEMA_NAME = 'interactive-gym-p2p/validation-export';
export const SCHEMA_VERSION = 1;
export const IDENTIFIER = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

const U32_MAX = 0xffffffff;
const MAX_INPUT_DELAY = 16; // protocol.js MAX_INPUT_DELAY (this module stays dependency-free)
const I32_MIN = -2147483648;
const I32_MAX = 2147483647;
const HASH = /^[0-9a-f]{16}$/;
const CONNECTION_EVENTS = new Set(['interrupted', 'resumed', 'disconnected', 'left', 'excluded', 'away', 'rejoined']);
const PATH_KINDS = new Set(['direct', 'relay', 'fallback', 'simulated', 'local']);
const CANDIDATE_TYPES = new Set(['host', 'srflx', 'prflx', 'relay']);
const END_REASONS = new Set(['terminated', 'truncated', 'max_steps', 'desync']);
const COUNTERS = [
  'rollbacks', 'max_rollback_depth', 'mispredicted_frames', 'stalled_frames', 'frames_simulated',
  'bytes_sent', 'bytes_received', 'messages_sent', 'messages_received', 'decode_errors',
];

/** The record cannot become a valid export; `path` names the field (`$.stats.rollbacks`). */
export class ExportBuildError extends TypeError {
  constructor(path, message) {
    super(`${path}: ${message}`);
    this.name = 'ExportBuildError';
    this.path = path;
  }
}

function fail(path, message) { throw new ExportBuildError(path, message); }

function isObject(v) { return v !== null && typeof v === 'object' && !Array.isArray(v); }

function need(obj, key, path) {
  if (!isObject(obj)) fail(path, `expected an object, got ${JSON.stringify(obj)}`);
  if (!Object.hasOwn(obj, key) || obj[key] === undefined) fail(`${path}.${key}`, 'is missing');
  return obj[key];
}

function identifier(v, path) {
  if (typeof v !== 'string' || !IDENTIFIER.test(v) || v.includes('..')) {
    fail(path, `${JSON.stringify(v)} is not a plain identifier (letters, digits, '_', '.', '-'; at most 64; no '..')`);
  }
  return v;
}

function int(v, path, min, max) {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail(path, `${JSON.stringify(v)} is not an integer in [${min}, ${max}]`);
  }
  return v;
}

const frameOf = (v, path) => int(v, path, 0, U32_MAX);
const frameOrNull = (v, path) => (v === null ? null : frameOf(v, path));
const count = (v, path) => int(v, path, 0, Number.MAX_SAFE_INTEGER);

function hashOrNull(v, path) {
  if (v === null) return null;
  if (typeof v !== 'string' || !HASH.test(v)) fail(path, `${JSON.stringify(v)} is not a 16-hex-digit hash`);
  return v;
}

/** A finite non-negative number, or null for anything else (NaN p50 of no samples, 0/0 fps). */
function finiteOrNull(v) {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : null;
}

/** ISO 8601 UTC text from a Date, epoch milliseconds or an ISO string. */
export function isoTime(v, path = '$') {
  if (typeof v === 'string') {
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/.test(v)) fail(path, `${JSON.stringify(v)} is not an ISO 8601 time`);
    return v;
  }
  const date = v instanceof Date ? v : (typeof v === 'number' ? new Date(v) : null);
  if (date === null || Number.isNaN(date.getTime())) fail(path, `${JSON.stringify(v)} is not a time`);
  return date.toISOString();
}

/**
 * Deep JSON copy of arbitrary data (settings, state dumps). NaN and the infinities become the
 * hashing contract's tokens rather than JSON.stringify's silent null; functions, undefined and
 * cycles are refused with the path.
 */
export function jsonCopy(v, path = '$', seen = new Set()) {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') {
    if (Number.isNaN(v)) return 'NaN';
    if (v === Infinity) return 'Infinity';
    if (v === -Infinity) return '-Infinity';
    return Object.is(v, -0) ? 0 : v;
  }
  if (typeof v === 'bigint') {
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) fail(path, 'integer too large for JSON');
    return Number(v);
  }
  if (typeof v !== 'object') fail(path, `a ${typeof v} is not JSON`);
  if (seen.has(v)) fail(path, 'reference cycle');
  seen.add(v);
  let out;
  if (Array.isArray(v) || ArrayBuffer.isView(v)) {
    out = Array.from(v, (x, i) => jsonCopy(x, `${path}[${i}]`, seen));
  } else if (v instanceof Map) {
    out = {};
    for (const [k, x] of v) out[String(k)] = jsonCopy(x, `${path}.${k}`, seen);
  } else {
    out = {};
    for (const [k, x] of Object.entries(v)) {
      if (x !== undefined) out[k] = jsonCopy(x, `${path}.${k}`, seen);
    }
  }
  seen.delete(v);
  return out;
}

/** `bot` of an ids object: true, or false/null/absent; anything else is an error. */
function botFlag(obj, path) {
  const v = obj.bot;
  if (v === undefined || v === null || v === false) return false;
  if (v === true) return true;
  return fail(`${path}.bot`, 'must be true, false or absent');
}

/** One AI seat of ids.ai_seats: {player_index, agent_id, policy, kind: 'python'|'onnx'} (+ host for onnx: a hosted seat). */
function buildAiSeat(a, path) {
  const agent = need(a, 'agent_id', path);
  if (agent !== null && typeof agent !== 'string' && !Number.isInteger(agent)) fail(`${path}.agent_id`, 'must be a string, an integer or null');
  const policy = need(a, 'policy', path);
  if (typeof policy !== 'string' || policy.length < 1 || policy.length > 256) fail(`${path}.policy`, "must be the policy's name or .onnx file (1..256 characters)");
  const kind = need(a, 'kind', path);
  if (kind !== 'python' && kind !== 'onnx') fail(`${path}.kind`, "must be 'python' or 'onnx'");
  const out = { player_index: int(need(a, 'player_index', path), `${path}.player_index`, 0, 255), agent_id: agent, policy, kind };
  if (kind === 'onnx') out.host = int(need(a, 'host', path), `${path}.host`, 0, 255);
  else if (a.host !== undefined) fail(`${path}.host`, "must be absent unless kind is 'onnx'");
  return out;
}

const RECRUITMENT_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const RECRUITMENT_VALUE = /^[^\u0000-\u001f\u007f]{1,256}$/u;

/** Recruitment ids (PROLIFIC_PID, ...): name -> non-empty text, keys in sorted order. */
function buildRecruitment(r, path) {
  if (r === null || typeof r !== 'object' || Array.isArray(r)) fail(path, 'must be an object of recruitment parameter -> value');
  const out = {};
  for (const name of Object.keys(r).sort()) {
    if (!RECRUITMENT_NAME.test(name)) fail(`${path}.${name}`, 'is not a plain parameter name');
    const v = r[name];
    if (typeof v !== 'string' || !RECRUITMENT_VALUE.test(v)) fail(`${path}.${name}`, 'must be 1 to 256 characters without control characters');
    out[name] = v;
  }
  return out;
}

function buildIds(ids) {
  const path = '$.ids';
  const playerIndex = int(need(ids, 'player_index', path), `${path}.player_index`, 0, 255);
  const peers = need(ids, 'peers', path);
  if (!Array.isArray(peers)) fail(`${path}.peers`, 'must be a list of the other players');
  const aiSeats = ids.ai_seats ?? null;
  if (aiSeats !== null && (!Array.isArray(aiSeats) || aiSeats.length === 0)) fail(`${path}.ai_seats`, 'must be absent or a non-empty list');
  if (peers.length === 0 && !aiSeats) fail(`${path}.peers`, "must list at least one peer (or the game's AI seats)");
  const out = {
    game_id: identifier(need(ids, 'game_id', path), `${path}.game_id`),
    scene_id: identifier(need(ids, 'scene_id', path), `${path}.scene_id`),
    subject_id: identifier(need(ids, 'subject_id', path), `${path}.subject_id`),
    player_index: playerIndex,
    peers: peers.map((p, i) => {
      const peer = {
        player_index: int(need(p, 'player_index', `${path}.peers[${i}]`), `${path}.peers[${i}].player_index`, 0, 255),
        subject_id: identifier(need(p, 'subject_id', `${path}.peers[${i}]`), `${path}.peers[${i}].subject_id`),
      };
      if (botFlag(p, `${path}.peers[${i}]`)) peer.bot = true;
      return peer;
    }),
  };
  out.recruitment = buildRecruitment(ids.recruitment ?? {}, `${path}.recruitment`);
  // Optional: present only when they apply (a scene with conditions; a bot's seat).
  if (ids.condition !== undefined && ids.condition !== null) out.condition = identifier(ids.condition, `${path}.condition`);
  if (botFlag(ids, path)) out.bot = true;
  if (aiSeats) out.ai_seats = aiSeats.map((a, i) => buildAiSeat(a, `${path}.ai_seats[${i}]`)).sort((a, b) => a.player_index - b.player_index);
  const indexes = [playerIndex, ...out.peers.map((p) => p.player_index), ...(out.ai_seats ?? []).map((a) => a.player_index)]
    .sort((a, b) => a - b);
  if (!indexes.every((v, i) => v === i)) fail(path, `player indexes ${JSON.stringify(indexes)} must be 0..${indexes.length - 1}, each once`);
  out.peers.sort((a, b) => a.player_index - b.player_index);
  return out;
}

function buildSettings(settings) {
  const path = '$.settings';
  const p2p = need(settings, 'p2p', path);
  const validation = need(settings, 'validation', path);
  const impairment = Object.hasOwn(settings, 'impairment') ? settings.impairment : null;
  if (!isObject(p2p)) fail(`${path}.p2p`, 'must be an object');
  if (!isObject(validation)) fail(`${path}.validation`, 'must be an object');
  if (impairment !== null && impairment !== undefined && !isObject(impairment)) fail(`${path}.impairment`, 'must be an object or null');
  return {
    p2p: jsonCopy(p2p, `${path}.p2p`),
    validation: jsonCopy(validation, `${path}.validation`),
    impairment: impairment == null ? null : jsonCopy(impairment, `${path}.impairment`),
  };
}

function buildDelays(v, path, numPlayers) {
  if (!Array.isArray(v) || v.length !== numPlayers) fail(path, `must hold ${numPlayers} input delays (null = unknown)`);
  return v.map((d, i) => (d === null ? null : int(d, `${path}[${i}]`, 0, MAX_INPUT_DELAY)));
}

/** Key-to-screen latency {p50, p95, samples}; absent = not measured (no screen: a Python peer). */
function buildKeyToScreen(v, path) {
  if (v === undefined || v === null) return { p50: null, p95: null, samples: 0 };
  return {
    p50: finiteOrNull(need(v, 'p50', path)),
    p95: finiteOrNull(need(v, 'p95', path)),
    samples: count(need(v, 'samples', path), `${path}.samples`),
  };
}

function buildEpisode(ep, e, numPlayers) {
  const path = `$.episodes[${e}]`;
  const start = frameOf(need(ep, 'start_frame', path), `${path}.start_frame`);
  const last = frameOrNull(need(ep, 'last_confirmed_frame', path), `${path}.last_confirmed_frame`);
  const rows = need(ep, 'frames', path);
  if (!Array.isArray(rows)) fail(`${path}.frames`, 'must be an array of [frame, actions, hash] rows');
  const frames = [];
  let previous = -1;
  for (let r = 0; r < rows.length; r += 1) {
    const row = rows[r];
    const rp = `${path}.frames[${r}]`;
    if (!Array.isArray(row) || row.length !== 3) fail(rp, 'must be [frame, actions, hash]');
    const frame = frameOf(row[0], `${rp}[0]`);
    // Past the last confirmed frame a row can only be a prediction: never exported.
    if (last === null || frame > last) continue;
    if (frame < start) fail(`${rp}[0]`, `frame ${frame} is before the episode's start_frame ${start}`);
    if (frame <= previous) fail(`${rp}[0]`, `frame ${frame} does not follow frame ${previous}`);
    previous = frame;
    const actions = row[1];
    if (!Array.isArray(actions) || actions.length !== numPlayers) fail(`${rp}[1]`, `must hold ${numPlayers} actions`);
    frames.push([frame, actions.map((a, i) => int(a, `${rp}[1][${i}]`, I32_MIN, I32_MAX)), hashOrNull(row[2], `${rp}[2]`)]);
  }
  const verified = frameOrNull(need(ep, 'verified_frame', path), `${path}.verified_frame`);
  const out = {
    episode: count(need(ep, 'episode', path), `${path}.episode`),
    seed: int(need(ep, 'seed', path), `${path}.seed`, 0, U32_MAX),
    start_frame: start,
    end_frame: frameOrNull(need(ep, 'end_frame', path), `${path}.end_frame`),
    last_confirmed_frame: last,
    verified_frame: verified,
  };
  // Every player's input delay (absent only in records of older engines), before the rows.
  if (ep.input_delays !== undefined) out.input_delays = buildDelays(ep.input_delays, `${path}.input_delays`, numPlayers);
  out.frames = frames;
  // Per-frame step data (optional keys: absent in records of older engines).
  if (ep.rewards !== undefined) {
    out.rewards = ep.rewards === null ? null : stepRows(ep.rewards, `${path}.rewards`, start, last, numPlayers, (v, p) => {
      if (v === null || (typeof v === 'number' && Number.isFinite(v))) return Object.is(v, -0) ? 0 : v;
      return fail(p, `${JSON.stringify(v)} is not a finite number or null`);
    });
  }
  const flag = (v, p) => (typeof v === 'boolean' ? v : fail(p, `${JSON.stringify(v)} is not a boolean`));
  if (ep.terminated !== undefined) out.terminated = stepRows(ep.terminated, `${path}.terminated`, start, last, numPlayers, flag);
  if (ep.truncated !== undefined) out.truncated = stepRows(ep.truncated, `${path}.truncated`, start, last, numPlayers, flag);
  if (ep.infos !== undefined) {
    out.infos = stepRows(ep.infos, `${path}.infos`, start, last, numPlayers, null);
  }
  if (ep.end_reason !== undefined) {
    if (ep.end_reason !== null && !END_REASONS.has(ep.end_reason)) fail(`${path}.end_reason`, `${JSON.stringify(ep.end_reason)} is not one of ${[...END_REASONS].join(', ')}`);
    out.end_reason = ep.end_reason;
  }
  return out;
}

/**
 * Sparse per-frame rows [frame, values] of an episode: frames increasing inside [start, last]
 * (rows after the last confirmed frame are dropped like predicted frames). `value` checks one
 * player's value; null means info rows ({key: [value per player]}, any JSON).
 */
function stepRows(rows, path, start, last, numPlayers, value) {
  if (!Array.isArray(rows)) fail(path, 'must be an array of [frame, values] rows');
  const out = [];
  let previous = -1;
  for (let r = 0; r < rows.length; r += 1) {
    const row = rows[r];
    const rp = `${path}[${r}]`;
    if (!Array.isArray(row) || row.length !== 2) fail(rp, 'must be [frame, values]');
    const frame = frameOf(row[0], `${rp}[0]`);
    if (last === null || frame > last) continue;
    if (frame < start) fail(`${rp}[0]`, `frame ${frame} is before the episode's start_frame ${start}`);
    if (frame <= previous) fail(`${rp}[0]`, `frame ${frame} does not follow frame ${previous}`);
    previous = frame;
    const perPlayer = (vals, vp, check) => {
      if (!Array.isArray(vals) || vals.length !== numPlayers) fail(vp, `must hold ${numPlayers} values, one per player`);
      return vals.map((v, i) => check(v, `${vp}[${i}]`));
    };
    if (value !== null) {
      out.push([frame, perPlayer(row[1], `${rp}[1]`, value)]);
    } else {
      if (!isObject(row[1])) fail(`${rp}[1]`, 'must be an object of key -> [value per player]');
      const info = {};
      for (const [k, vals] of Object.entries(row[1])) info[k] = perPlayer(vals, `${rp}[1].${k}`, (v, p) => jsonCopy(v, p));
      out.push([frame, info]);
    }
  }
  return out;
}

function buildDesync(d, i) {
  const path = `$.desyncs[${i}]`;
  const state = Object.hasOwn(d, 'state') && d.state !== undefined ? d.state : null;
  const hash = (v, p) => { if (v === null) fail(p, 'is missing'); return hashOrNull(v, p); };
  return {
    frame: frameOf(need(d, 'frame', path), `${path}.frame`),
    episode: count(need(d, 'episode', path), `${path}.episode`),
    local_hash: hash(need(d, 'local_hash', path), `${path}.local_hash`),
    peer_hash: hash(need(d, 'peer_hash', path), `${path}.peer_hash`),
    peer_index: int(need(d, 'peer_index', path), `${path}.peer_index`, 0, 255),
    time: isoTime(need(d, 'time', path), `${path}.time`),
    state: state === null ? null : jsonCopy(state, `${path}.state`),
  };
}

function buildConnectionEvent(ev, i) {
  const path = `$.connection_events[${i}]`;
  const event = need(ev, 'event', path);
  if (!CONNECTION_EVENTS.has(event)) fail(`${path}.event`, `${JSON.stringify(event)} is not one of ${[...CONNECTION_EVENTS].join(', ')}`);
  return {
    peer_index: int(need(ev, 'peer_index', path), `${path}.peer_index`, 0, 255),
    event,
    frame: Object.hasOwn(ev, 'frame') ? frameOrNull(ev.frame ?? null, `${path}.frame`) : null,
    time: isoTime(need(ev, 'time', path), `${path}.time`),
  };
}

function buildRejoin(rj, i) {
  const path = `$.rejoins[${i}]`;
  const source = need(rj, 'source', path);
  const caught = need(rj, 'caught_up_at', path);
  const reloaded = rj.reloaded_at ?? null;
  const out = {};
  // reloaded_at: when the old page went away (only the page knows it; absent: unknown).
  if (Object.hasOwn(rj, 'reloaded_at')) out.reloaded_at = reloaded === null ? null : isoTime(reloaded, `${path}.reloaded_at`);
  Object.assign(out, {
    requested_at: isoTime(need(rj, 'requested_at', path), `${path}.requested_at`),
    caught_up_at: caught === null ? null : isoTime(caught, `${path}.caught_up_at`),
    source: source === null ? null : int(source, `${path}.source`, 0, 255),
    frame: frameOrNull(need(rj, 'frame', path), `${path}.frame`),
    frames: count(need(rj, 'frames', path), `${path}.frames`),
    bytes: count(need(rj, 'bytes', path), `${path}.bytes`),
    transfer_s: finiteOrNull(rj.transfer_s ?? null),
    replay_s: finiteOrNull(rj.replay_s ?? null),
  });
  return out;
}

function buildHiddenInterval(iv, i) {
  const path = `$.hidden_intervals[${i}]`;
  const first = frameOrNull(need(iv, 'first_frame', path), `${path}.first_frame`);
  const last = frameOrNull(need(iv, 'last_frame', path), `${path}.last_frame`);
  if ((first === null) !== (last === null)) fail(path, 'first_frame and last_frame are both frames or both null');
  if (first !== null && last < first) fail(`${path}.last_frame`, `${last} is before first_frame ${first}`);
  const ended = need(iv, 'ended_at', path);
  const duration = need(iv, 'duration_s', path);
  if (typeof duration !== 'number' || !Number.isFinite(duration) || duration < 0) fail(`${path}.duration_s`, `${JSON.stringify(duration)} is not a non-negative number`);
  const excluded = need(iv, 'excluded', path);
  if (typeof excluded !== 'boolean') fail(`${path}.excluded`, 'must be a boolean');
  return {
    first_frame: first,
    last_frame: last,
    started_at: isoTime(need(iv, 'started_at', path), `${path}.started_at`),
    ended_at: ended === null ? null : isoTime(ended, `${path}.ended_at`),
    duration_s: duration,
    excluded,
  };
}

/** The input log's rows: [key, down, epoch_ms, t_ms, frame, screen_frame, predicted, corrected, shown_ms]. */
function buildInputs(rows) {
  if (!Array.isArray(rows)) fail('$.inputs', 'must be an array of key event rows');
  const number = (v, p) => (typeof v === 'number' && Number.isFinite(v) ? v : fail(p, `${JSON.stringify(v)} is not a finite number`));
  const flagOrNull = (v, p) => (v === null || typeof v === 'boolean' ? v : fail(p, `${JSON.stringify(v)} is not a boolean or null`));
  return rows.map((row, i) => {
    const p = `$.inputs[${i}]`;
    if (!Array.isArray(row) || row.length !== 9) fail(p, 'must be [key, down, epoch_ms, t_ms, frame, screen_frame, predicted, corrected, shown_ms]');
    if (typeof row[0] !== 'string' || row[0].length === 0 || row[0].length > 64) fail(`${p}[0]`, `${JSON.stringify(row[0])} is not a key name`);
    if (typeof row[1] !== 'boolean') fail(`${p}[1]`, 'must be a boolean');
    return [
      row[0], row[1], int(row[2], `${p}[2]`, 0, Number.MAX_SAFE_INTEGER), number(row[3], `${p}[3]`),
      frameOrNull(row[4], `${p}[4]`), frameOrNull(row[5], `${p}[5]`), flagOrNull(row[6], `${p}[6]`),
      flagOrNull(row[7], `${p}[7]`), row[8] === null ? null : number(row[8], `${p}[8]`),
    ];
  });
}

function buildStats(stats) {
  const path = '$.stats';
  const rtt = need(stats, 'rtt_ms', path);
  const histogram = need(stats, 'rollback_depth_histogram', path);
  const pathInfo = need(stats, 'path', path);
  const kind = need(pathInfo, 'kind', `${path}.path`);
  if (!PATH_KINDS.has(kind)) fail(`${path}.path.kind`, `${JSON.stringify(kind)} is not one of ${[...PATH_KINDS].join(', ')}`);
  const protocol = pathInfo.protocol ?? null;
  if (protocol !== null && protocol !== 'udp' && protocol !== 'tcp') fail(`${path}.path.protocol`, `${JSON.stringify(protocol)} is not udp, tcp or null`);
  const candidate = (key) => {
    const v = pathInfo[key] ?? null;
    if (v !== null && !CANDIDATE_TYPES.has(v)) fail(`${path}.path.${key}`, `${JSON.stringify(v)} is not a candidate type`);
    return v;
  };
  const out = {
    rtt_ms: {
      p50: finiteOrNull(need(rtt, 'p50', `${path}.rtt_ms`)),
      p95: finiteOrNull(need(rtt, 'p95', `${path}.rtt_ms`)),
      samples: count(need(rtt, 'samples', `${path}.rtt_ms`), `${path}.rtt_ms.samples`),
    },
    key_to_screen_ms: buildKeyToScreen(stats.key_to_screen_ms, `${path}.key_to_screen_ms`),
  };
  for (const key of COUNTERS.slice(0, 2)) out[key] = count(need(stats, key, path), `${path}.${key}`);
  if (!isObject(histogram) && !(histogram instanceof Map)) fail(`${path}.rollback_depth_histogram`, 'must be an object of depth -> count');
  const entries = histogram instanceof Map ? [...histogram] : Object.entries(histogram);
  out.rollback_depth_histogram = {};
  for (const [depth, n] of entries.sort((a, b) => Number(a[0]) - Number(b[0]))) {
    if (!/^[1-9][0-9]{0,9}$/.test(String(depth))) fail(`${path}.rollback_depth_histogram`, `depth ${JSON.stringify(depth)} is not a positive integer`);
    out.rollback_depth_histogram[String(depth)] = count(n, `${path}.rollback_depth_histogram.${depth}`);
  }
  for (const key of COUNTERS.slice(2)) out[key] = count(need(stats, key, path), `${path}.${key}`);
  out.path = { kind, protocol, local_candidate_type: candidate('local_candidate_type'), remote_candidate_type: candidate('remote_candidate_type') };
  return out;
}

function buildTiming(timing, fallbackEnd) {
  const path = '$.timing';
  const started = isoTime(need(timing, 'started_at', path), `${path}.started_at`);
  const endedRaw = timing.ended_at ?? fallbackEnd;
  const ended = isoTime(endedRaw, `${path}.ended_at`);
  let duration = timing.duration_s;
  if (typeof duration !== 'number' || !Number.isFinite(duration) || duration < 0) {
    duration = Math.max(0, (Date.parse(ended) - Date.parse(started)) / 1000);
  }
  const fpsTarget = need(timing, 'fps_target', path);
  if (typeof fpsTarget !== 'number' || !Number.isFinite(fpsTarget) || fpsTarget <= 0) fail(`${path}.fps_target`, 'must be a positive number');
  return {
    started_at: started,
    ended_at: ended,
    duration_s: duration,
    fps_target: fpsTarget,
    fps_achieved: finiteOrNull(timing.fps_achieved ?? null),
  };
}

/**
 * The export document of one player (the pinned shape, keys in the documented order).
 * @param {object} args
 * @param {object} args.record    the session's record: {episodes, verified_frame, desyncs,
 *                                connection_events, stats, timing[, partial, hidden_intervals, rejoins]}
 * @param {object} args.ids       {game_id, scene_id, subject_id, player_index, peers: [{player_index, subject_id}], recruitment?: {name: value}}
 * @param {object} args.settings  {p2p, validation, impairment | null}
 * @param {boolean} [args.partial]  written before the game ended (default: record.partial ?? false)
 * @param {Date|number|string} [args.now]  end time when the record has no timing.ended_at
 */
export function buildExport({ record, ids, settings, partial, now } = {}) {
  if (!isObject(record)) fail('$', 'record must be an object');
  const outIds = buildIds(ids);
  const numPlayers = 1 + outIds.peers.length + (outIds.ai_seats?.length ?? 0);
  const episodes = need(record, 'episodes', '$');
  if (!Array.isArray(episodes)) fail('$.episodes', 'must be an array');
  const desyncs = record.desyncs ?? [];
  const events = record.connection_events ?? [];
  if (!Array.isArray(desyncs)) fail('$.desyncs', 'must be an array');
  if (!Array.isArray(events)) fail('$.connection_events', 'must be an array');
  const isPartial = partial ?? record.partial ?? false;
  if (typeof isPartial !== 'boolean') fail('$.partial', 'must be a boolean');
  const hidden = record.hidden_intervals;
  if (hidden !== undefined && !Array.isArray(hidden)) fail('$.hidden_intervals', 'must be an array');
  const rejoins = record.rejoins;
  if (rejoins !== undefined && !Array.isArray(rejoins)) fail('$.rejoins', 'must be an array');
  const doc = {
    schema: SCHEMA_NAME,
    schema_version: SCHEMA_VERSION,
    partial: isPartial,
    ids: outIds,
    settings: buildSettings(settings),
    episodes: episodes.map((ep, e) => buildEpisode(ep, e, numPlayers)),
    verified_frame: frameOrNull(need(record, 'verified_frame', '$'), '$.verified_frame'),
    desyncs: desyncs.map(buildDesync),
    connection_events: events.map(buildConnectionEvent),
  };
  // Optional (absent from older records): this player's hidden-page intervals.
  if (hidden !== undefined) doc.hidden_intervals = hidden.map(buildHiddenInterval);
  // Optional: this player's key events (input_log.js).
  if (record.inputs !== undefined) doc.inputs = buildInputs(record.inputs);
  // Optional (absent from older records): this player's rejoins after a page reload.
  if (rejoins !== undefined) doc.rejoins = rejoins.map(buildRejoin);
  doc.stats = buildStats(need(record, 'stats', '$'));
  doc.timing = buildTiming(need(record, 'timing', '$'), now ?? new Date());
  return doc;
}

/** The upload URL of one export slot (base = server origin, '' for the page's own origin). */
export function exportUploadUrl(base, gameId, playerIndex) {
  identifier(gameId, 'gameId');
  int(playerIndex, 'playerIndex', 0, 255);
  return `${String(base ?? '').replace(/\/+$/, '')}/p2p/exports/${encodeURIComponent(gameId)}/${playerIndex}`;
}

const defaultSleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/** Backoff before attempt n+1 (n >= 1): base * 2^(n-1), capped, times a jitter factor in [0.5, 1]. */
export function backoffDelay(attempt, { baseDelayMs = 500, maxDelayMs = 15000, random = Math.random } = {}) {
  const raw = Math.min(maxDelayMs, baseDelayMs * 2 ** (attempt - 1));
  // Jitter: after a server restart every waiting client must not come back in the same ms.
  return Math.round(raw * (0.5 + 0.5 * random()));
}

/**
 * Upload one export. Resolves (never rejects) with
 * {ok, outcome: 'stored'|'duplicate'|'rejected'|'gave_up', httpStatus, response, attempts}.
 * onStatus receives {phase: 'uploading'|'retrying'|'stored'|'duplicate'|'rejected'|'failed', ...}.
 * @param {object} opts
 * @param {string} opts.url         exportUploadUrl(...)
 * @param {string} opts.token       the player's upload token
 * @param {object|string} opts.doc  the export document (or its JSON text)
 */
export async function uploadExport({
  url, token, doc, fetch: fetchImpl = globalThis.fetch, onStatus = () => {},
  maxAttempts = 8, baseDelayMs = 500, maxDelayMs = 15000, timeoutMs = 30000,
  sleep = defaultSleep, random = Math.random,
} = {}) {
  if (typeof url !== 'string' || !url) throw new TypeError('uploadExport: url is required');
  if (typeof token !== 'string' || !token) throw new TypeError('uploadExport: token is required');
  if (typeof fetchImpl !== 'function') throw new TypeError('uploadExport: no fetch available');
  const body = typeof doc === 'string' ? doc : JSON.stringify(doc);
  const report = (status) => { try { onStatus(status); } catch { /* the page's problem, not the upload's */ } };
  let last = { reason: 'not attempted', httpStatus: null };
  for (let attempt = 1; attempt <= maxAttempts; attempt += 1) {
    report({ phase: 'uploading', attempt, maxAttempts, bytes: body.length });
    const controller = typeof AbortController === 'function' ? new AbortController() : null;
    const timer = controller ? setTimeout(() => controller.abort(), timeoutMs) : null;
    let response = null;
    let payload = null;
    try {
      response = await fetchImpl(url, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body,
        signal: controller?.signal,
      });
      const text = await response.text();
      try { payload = text ? JSON.parse(text) : null; } catch { payload = { message: text.slice(0, 200) }; }
    } catch (err) {
      last = { reason: `network: ${err?.name === 'AbortError' ? `no answer in ${timeoutMs} ms` : (err?.message ?? String(err))}`, httpStatus: null };
      response = null;
    } finally {
      if (timer !== null) clearTimeout(timer);
    }
    if (response !== null) {
      if (response.status === 200 || response.status === 201) {
        const outcome = response.status === 201 ? 'stored' : 'duplicate';
        report({ phase: outcome, attempt, httpStatus: response.status, revision: payload?.revision ?? null, response: payload });
        return { ok: true, outcome, httpStatus: response.status, response: payload, attempts: attempt };
      }
      if (response.status < 500) {
        // 4xx: the server understood and refused; sending the same bytes again cannot help.
        const message = payload?.message ?? `HTTP ${response.status}`;
        report({ phase: 'rejected', attempt, httpStatus: response.status, message, response: payload });
        return { ok: false, outcome: 'rejected', httpStatus: response.status, response: payload, attempts: attempt };
      }
      last = { reason: `server error: HTTP ${response.status}${payload?.message ? ` (${payload.message})` : ''}`, httpStatus: response.status };
    }
    if (attempt < maxAttempts) {
      const delayMs = backoffDelay(attempt, { baseDelayMs, maxDelayMs, random });
      report({ phase: 'retrying', attempt, maxAttempts, delayMs, reason: last.reason, httpStatus: last.httpStatus });
      await sleep(delayMs);
    }
  }
  report({ phase: 'failed', attempts: maxAttempts, reason: last.reason, httpStatus: last.httpStatus });
  return { ok: false, outcome: 'gave_up', httpStatus: last.httpStatus, response: null, attempts: maxAttempts, reason: last.reason };
}
