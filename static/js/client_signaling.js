// The transport's signaling object over the server's `/p2p` Socket.IO namespace.
//
// transport.js speaks {kind:'offer'|'answer', sdp}, {kind:'candidate', candidate | null} and
// {kind:'restart'}; the server relays `signal` events {game_id, to|from, kind, data} whose
// data is {type, sdp} for offer/answer, an RTCIceCandidateInit (or null) for a candidate and
// null for a restart (docs/server.md, "/p2p — signaling"). This module only translates.

const CANDIDATE_FIELDS = ['candidate', 'sdpMid', 'sdpMLineIndex', 'usernameFragment'];

/** transport message -> `signal` payload for the server (without game_id/to). */
export function toServerSignal(msg) {
  switch (msg?.kind) {
    case 'offer':
    case 'answer':
      return { kind: msg.kind, data: { type: msg.kind, sdp: msg.sdp } };
    case 'candidate': {
      const c = msg.candidate;
      if (c === null || c === undefined) return { kind: 'candidate', data: null };
      // The server rebuilds relayed messages from these fields only: send just those.
      const data = {};
      for (const f of CANDIDATE_FIELDS) if (c[f] !== undefined) data[f] = c[f];
      return { kind: 'candidate', data };
    }
    case 'restart':
      return { kind: 'restart', data: null };
    default:
      throw new TypeError(`client_signaling: unknown transport message kind ${String(msg?.kind)}`);
  }
}

/** `signal` payload from the server -> transport message, or null when it is malformed. */
export function fromServerSignal(payload) {
  if (!payload || typeof payload !== 'object') return null;
  const { kind, data } = payload;
  if (kind === 'offer' || kind === 'answer') {
    if (!data || typeof data.sdp !== 'string') return null;
    return { kind, sdp: data.sdp };
  }
  if (kind === 'candidate') {
    if (data === null || data === undefined) return { kind, candidate: null };
    if (typeof data !== 'object' || typeof data.candidate !== 'string') return null;
    const candidate = {};
    for (const f of CANDIDATE_FIELDS) if (data[f] !== undefined) candidate[f] = data[f];
    return { kind, candidate };
  }
  if (kind === 'restart') return { kind };
  return null;
}

/**
 * `signal`s and `relay`s for a game this page does not know yet, kept for it.
 *
 * With several server processes a partner can reach its seat (and send its first signals)
 * before this page's own `game_ready` arrives: it was lost with a dead process and comes
 * again when that process is struck off (docs/cluster.md). Without this, those signals
 * would be dropped and the connection attempt would fail after the connection timeout.
 * Kept: at most `limit` messages, each for `keepMs`, and never for a game id this page has
 * already taken or seen end (`game_ended`, `requeued`).
 * @param {object} socket  Socket.IO client socket (on/off)
 * @param {{limit?: number, keepMs?: number, now?: () => number}} [o]
 */
export function createEarlySignals(socket, { limit = 48, keepMs = 20000, now = () => Date.now() } = {}) {
  const kept = []; // {event, payload, at}, oldest first
  const done = new Set(); // game ids taken by a game's signaling or ended: nothing kept for them
  const prune = () => {
    const cut = now() - keepMs;
    while (kept.length > 0 && kept[0].at < cut) kept.shift();
  };
  const drop = (gameId) => {
    for (let i = kept.length - 1; i >= 0; i -= 1) if (kept[i].payload.game_id === gameId) kept.splice(i, 1);
  };
  const keeper = (event) => (payload) => {
    const id = payload?.game_id;
    if (id === undefined || id === null || done.has(id)) return;
    prune();
    if (kept.length >= limit) kept.shift();
    kept.push({ event, payload, at: now() });
  };
  const ended = (ev) => {
    if (ev?.game_id === undefined || ev.game_id === null) return;
    done.add(ev.game_id);
    drop(ev.game_id);
  };
  const handlers = [['signal', keeper('signal')], ['relay', keeper('relay')], ['game_ended', ended], ['requeued', ended]];
  for (const [event, fn] of handlers) socket.on(event, fn);
  return {
    /** This game's kept messages, oldest first, as [event, payload]; none are kept for it from now on. */
    take(gameId) {
      done.add(gameId);
      prune();
      const mine = kept.filter((k) => k.payload.game_id === gameId).map((k) => [k.event, k.payload]);
      drop(gameId);
      return mine;
    },
    /** How many messages are kept (diagnostics and tests). */
    get size() {
      prune();
      return kept.length;
    },
    close() {
      for (const [event, fn] of handlers) socket.off?.(event, fn);
      kept.length = 0;
    },
  };
}

/**
 * A transport signaling object bound to one game on a `/p2p` socket.
 * Messages that come before their handler is set (`onmessage` by the transport, `onrelay`
 * by the game) wait for it, at most `limit` of each kind, and so do the ones `early` kept
 * for this game before it was known.
 * @param {object} socket   Socket.IO client socket (on/off/emit)
 * @param {string} gameId
 * @param {(err: {code: string, message: string}) => void} [onError]  relay refused / malformed
 * @param {ReturnType<typeof createEarlySignals>|null} [early]  messages that beat this game's game_ready
 * @param {number} [limit=48]
 */
export function createSocketSignaling(socket, gameId, onError = () => {}, early = null, limit = 48) {
  const handler = { signal: null, relay: null };
  const waiting = { signal: [], relay: [] }; // [from, message] received before the handler was set
  const deliver = (kind, from, message) => {
    if (handler[kind]) {
      handler[kind](from, message);
      return;
    }
    const queue = waiting[kind];
    if (queue.length >= limit) queue.shift();
    queue.push([from, message]);
  };
  const setHandler = (kind, fn) => {
    handler[kind] = fn;
    const queue = waiting[kind];
    while (handler[kind] === fn && fn && queue.length > 0) fn(...queue.shift());
  };
  const signaling = {
    send(toPlayer, msg) {
      const { kind, data } = toServerSignal(msg);
      socket.emit('signal', { game_id: gameId, to: toPlayer, kind, data }, (ack) => {
        if (ack && ack.ok === false) onError(ack.error ?? { code: 'signal', message: 'signal refused' });
      });
    },
    /** Set by the transport: (fromPlayer, message) for every signal of this game. */
    get onmessage() {
      return handler.signal;
    },
    set onmessage(fn) {
      setHandler('signal', fn);
    },
    /** Game bytes through the server (the connection fallback): `relay` {game_id, to, data}. */
    relay(toPlayer, bytes) {
      socket.emit('relay', { game_id: gameId, to: toPlayer, data: bytes });
    },
    /** Set by the game: (fromPlayer, Uint8Array) for every relayed message of this game. */
    get onrelay() {
      return handler.relay;
    },
    set onrelay(fn) {
      setHandler('relay', fn);
    },
    close() {
      socket.off?.('signal', onSignal);
      socket.off?.('relay', onRelay);
      waiting.signal.length = 0;
      waiting.relay.length = 0;
    },
  };
  function onRelay(payload) {
    if (!payload || payload.game_id !== gameId || !Number.isInteger(payload.from)) return;
    const d = payload.data;
    // Socket.IO hands binary over as an ArrayBuffer (browser) or a Buffer/Uint8Array (node).
    const bytes = d instanceof Uint8Array ? d : d instanceof ArrayBuffer ? new Uint8Array(d) : null;
    if (bytes === null) {
      onError({ code: 'malformed_relay', message: `relayed data from player ${payload.from} is not binary` });
      return;
    }
    deliver('relay', payload.from, bytes);
  }
  function onSignal(payload) {
    if (!payload || payload.game_id !== gameId) return;
    const msg = fromServerSignal(payload);
    if (msg === null) {
      onError({ code: 'malformed_signal', message: `malformed ${String(payload.kind)} signal from player ${payload.from}` });
      return;
    }
    deliver('signal', payload.from, msg);
  }
  // What came before this game was known first, in arrival order, then the socket's.
  for (const [event, payload] of early?.take(gameId) ?? []) (event === 'signal' ? onSignal : onRelay)(payload);
  socket.on('relay', onRelay);
  socket.on('signal', onSignal);
  return signaling;
}
