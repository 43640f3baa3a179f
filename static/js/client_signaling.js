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
 * A transport signaling object bound to one game on a `/p2p` socket.
 * @param {object} socket   Socket.IO client socket (on/off/emit)
 * @param {string} gameId
 * @param {(err: {code: string, message: string}) => void} [onError]  relay refused / malformed
 */
export function createSocketSignaling(socket, gameId, onError = () => {}) {
  const signaling = {
    onmessage: null,
    send(toPlayer, msg) {
      const { kind, data } = toServerSignal(msg);
      socket.emit('signal', { game_id: gameId, to: toPlayer, kind, data }, (ack) => {
        if (ack && ack.ok === false) onError(ack.error ?? { code: 'signal', message: 'signal refused' });
      });
    },
    /** Game bytes through the server (the connection fallback): `relay` {game_id, to, data}. */
    relay(toPlayer, bytes) {
      socket.emit('relay', { game_id: gameId, to: toPlayer, data: bytes });
    },
    /** Set by the game: (fromPlayer, Uint8Array) for every relayed message of this game. */
    onrelay: null,
    close() {
      socket.off?.('signal', onSignal);
      socket.off?.('relay', onRelay);
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
    signaling.onrelay?.(payload.from, bytes);
  }
  socket.on('relay', onRelay);
  function onSignal(payload) {
    if (!payload || payload.game_id !== gameId) return;
    const msg = fromServerSignal(payload);
    if (msg === null) {
      onError({ code: 'malformed_signal', message: `malformed ${String(payload.kind)} signal from player ${payload.from}` });
      return;
    }
    // The transport sets onmessage when it is created; until then nothing can be handled.
    signaling.onmessage?.(payload.from, msg);
  }
  socket.on('signal', onSignal);
  return signaling;
}
