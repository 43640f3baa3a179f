// The messages between the participant page (client_game.js, game_worker_client.js) and the game
// worker (game_worker.js -> game_core.js), which runs the rollback session and the environment
// off the page's main thread. docs/client.md "The game worker" describes the flow; this module
// is the one list of message types and fields both sides check against. No DOM here.
//
// Every message is a plain object {type, ...fields} (structured-cloned). Game bytes ride as
// Uint8Array views whose buffers are transferred, never copied. Times cross as absolute
// milliseconds (performance.timeOrigin + performance.now()): the page's and the worker's
// performance.now() count from different origins.

/** Page -> worker. */
export const ToWorker = Object.freeze({
  CONFIG: 'config', // once, first: the page's config (absolute URLs)
  LOAD: 'load', // load an environment (the early load and every scene's)
  DESTROY_ENV: 'destroy_env',
  BEGIN: 'begin', // a game on a loaded environment: the session is created
  START: 'start', // the connections are open (or there are none): the session starts ticking
  NET: 'net', // bytes from a peer (DataChannel or the server relay)
  PATH: 'path', // the export's stats.path changed
  KEY: 'key', // a key of the mapping went down or up
  BLUR: 'blur', // the window lost focus: every key is released
  HIDDEN: 'hidden', // the page went to the background or came back
  DISPLAYED: 'displayed', // a frame is on the canvas now
  EXCLUDE: 'exclude', // the page's play checks exclude the local player
  PEER: 'peer', // the server says a peer's page went away with its seat held ('away': peerAway) or its seat is gone ('gone': peerGone)
  ABANDON: 'abandon', // leave the game: BYE to the peers, the record back
});

/** Worker -> page. */
export const ToPage = Object.freeze({
  LOADED: 'loaded',
  LOAD_FAILED: 'load_failed',
  SEND: 'send', // bytes for a peer (the page sends them on its DataChannel or the relay)
  TICK: 'tick', // one wake of the loop: what the local input went to, the newest frame
  RENDER: 'render', // a frame's render state (or a reset's: draw it on a cleared canvas)
  EVENT: 'event', // a session event for the page's hooks
  STATUS: 'status', // the session's numbers for telemetry and the HUD (every 500 ms)
  RECORD: 'record', // the record so far as JSON (every second): what a closing page sends
  ABANDONED: 'abandoned', // the answer to ABANDON: the record (null when nothing was played)
  ENDED: 'ended', // the game is over and the session closed: the final record
  FAILED: 'failed', // the worker could not do what the page asked (begin threw, ...)
});

// Field kinds: int, num, str, bool, obj (a plain object), arr, bytes (Uint8Array), any;
// a trailing '?' allows null/undefined.
const SHAPES = {
  [ToWorker.CONFIG]: { config: 'obj' },
  [ToWorker.LOAD]: { id: 'int', p2p: 'obj' },
  [ToWorker.DESTROY_ENV]: { id: 'int' },
  [ToWorker.BEGIN]: {
    envId: 'int', p2p: 'obj', gameReady: 'obj', keyboard: 'obj?', hidden: 'bool', rejoin: 'bool',
    onnxruntimeUrl: 'str?', baseUrl: 'str?', // hosted seats: onnxruntime-web's folder, what model URLs are relative to
  },
  [ToWorker.START]: { path: 'obj?' },
  [ToWorker.NET]: { peer: 'int', data: 'bytes' },
  [ToWorker.PATH]: { path: 'obj?' },
  [ToWorker.KEY]: { key: 'str', down: 'bool', t: 'num', wall: 'num', seq: 'int' },
  [ToWorker.BLUR]: {},
  [ToWorker.HIDDEN]: { hidden: 'bool' },
  [ToWorker.DISPLAYED]: { frame: 'int', t: 'num' },
  [ToWorker.EXCLUDE]: { reason: 'str', policy: 'str' },
  [ToWorker.PEER]: { peer: 'int', what: 'str' },
  [ToWorker.ABANDON]: { id: 'int', reason: 'int?' },
  [ToPage.LOADED]: { id: 'int', numPlayers: 'int?', resources: 'arr' },
  [ToPage.LOAD_FAILED]: { id: 'int', error: 'obj' },
  [ToPage.SEND]: { peer: 'int', data: 'bytes' },
  // hosted: what changed in the hosted seats this page hosts {seat: {runs, failed, decisions: new pairs}}, or null
  [ToPage.TICK]: { frame: 'int', samples: 'arr', keySeq: 'int', status: 'str?', hosted: 'obj?' },
  [ToPage.RENDER]: { frame: 'int?', state: 'any', reset: 'bool' },
  [ToPage.EVENT]: { name: 'str', payload: 'any' },
  [ToPage.STATUS]: { view: 'obj' },
  [ToPage.RECORD]: { json: 'str' },
  [ToPage.ABANDONED]: { id: 'int', record: 'obj?', hosted: 'obj?' }, // hosted: as TICK's, the last news
  [ToPage.ENDED]: { record: 'obj', hosted: 'obj?' },
  [ToPage.FAILED]: { code: 'str', message: 'str' },
};

const TO_WORKER = new Set(Object.values(ToWorker));
const TO_PAGE = new Set(Object.values(ToPage));

function fits(kind, v) {
  if (kind.endsWith('?')) return v === null || v === undefined || fits(kind.slice(0, -1), v);
  switch (kind) {
    case 'int': return Number.isInteger(v);
    case 'num': return typeof v === 'number' && Number.isFinite(v);
    case 'str': return typeof v === 'string';
    case 'bool': return typeof v === 'boolean';
    case 'obj': return v !== null && typeof v === 'object' && !Array.isArray(v);
    case 'arr': return Array.isArray(v);
    case 'bytes': return v instanceof Uint8Array;
    default: return true;
  }
}

/**
 * Why `msg` is not a valid message in that direction, or null when it is.
 * @param {'worker'|'page'} to  who receives it
 */
export function checkMessage(to, msg) {
  if (msg === null || typeof msg !== 'object') return 'not an object';
  const known = to === 'worker' ? TO_WORKER : TO_PAGE;
  if (!known.has(msg.type)) return `unknown message type ${JSON.stringify(msg.type)} for the ${to}`;
  for (const [field, kind] of Object.entries(SHAPES[msg.type])) {
    if (!fits(kind, msg[field])) return `${msg.type}.${field} must be ${kind}`;
  }
  return null;
}

/** The transfer list for a message carrying bytes: the buffer moves, nothing is copied. A
 * view over part of a larger buffer is copied first (moving the buffer would take the rest). */
export function bytesMessage(type, peer, bytes) {
  let data = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) data = data.slice();
  return [{ type, peer, data }, [data.buffer]];
}

/** performance.now() of this thread -> absolute ms, and back (see the header). */
export function toAbsolute(t, origin = globalThis.performance?.timeOrigin ?? 0) {
  return origin + t;
}
export function fromAbsolute(abs, origin = globalThis.performance?.timeOrigin ?? 0) {
  return abs - origin;
}

/** An error as plain fields (it crosses structured clone with its `package` and `code`). */
export function plainError(err) {
  return {
    name: String(err?.name ?? 'Error'),
    message: String(err?.message ?? err),
    package: typeof err?.package === 'string' ? err.package : null,
    code: typeof err?.code === 'string' ? err.code : null,
  };
}

/** The error a LOAD_FAILED carries, as an Error again (the flow reads message and package). */
export function errorFrom(e) {
  const err = new Error(e?.message ?? 'error');
  err.name = e?.name ?? 'Error';
  if (e?.package) err.package = e.package;
  if (e?.code) err.code = e.code;
  return err;
}

/** What the page needs of a session between STATUS messages (telemetry.js buildReport and the
 * HUD read these), taken in the worker. */
export function statusView(session, hud) {
  const ss = session.sync.stats;
  return {
    peers: session.peerInfo(),
    currentFrame: session.currentFrame,
    confirmedFrame: session.confirmedFrame,
    verifiedFrame: session.verifiedFrame,
    episode: session.episode,
    state: session.state,
    path: session.path ?? null,
    rollbacks: ss.rollbacks,
    maxRollbackDepth: ss.maxRollbackDepth,
    mispredictedFrames: ss.mispredictedFrames,
    stalled: session.counters.stalled,
    mismatches: session.desync.stats.mismatches,
    firstDesyncFrame: session.desyncEvents.length > 0 ? session.desyncEvents[0].frame : null,
    hidden: session.hidden,
    hiddenS: session.hiddenLog.totalS(session.now()),
    hud,
  };
}

/** A read-only stand-in for the session built from a STATUS view: what telemetry.js and the
 * flow read (`exclude` goes to the worker through `onExclude`). */
export function sessionFromView(view, onExclude) {
  return {
    peerInfo: () => view.peers,
    sync: { stats: { rollbacks: view.rollbacks, maxRollbackDepth: view.maxRollbackDepth, mispredictedFrames: view.mispredictedFrames } },
    desyncEvents: view.firstDesyncFrame === null ? [] : [{ frame: view.firstDesyncFrame }],
    path: view.path,
    currentFrame: view.currentFrame,
    confirmedFrame: view.confirmedFrame,
    verifiedFrame: view.verifiedFrame,
    episode: view.episode,
    state: view.state,
    counters: { stalled: view.stalled },
    desync: { stats: { mismatches: view.mismatches } },
    hidden: view.hidden,
    hiddenLog: { totalS: () => view.hiddenS },
    now: () => 0,
    exclude: onExclude,
  };
}
