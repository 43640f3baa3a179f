// WebRTC transport: one RTCPeerConnection per remote player (a full mesh for 3-4 players),
// one unordered, no-retransmit binary DataChannel per connection for game traffic, trickle
// ICE through an injected signaling object, ICE restart on failure, a connection timeout,
// the path actually used read from getStats(), byte/message counters, and the seeded
// network-impairment shim on outgoing messages.
//
// Signaling (injected, so the same code runs over the Socket.IO namespace and a test relay):
//   signaling.send(toPlayer, msg)            msg.kind: 'offer' | 'answer' | 'candidate' | 'restart'
//   signaling.onmessage = (fromPlayer, msg)  set by this module
// Messages: {kind:'offer', sdp}, {kind:'answer', sdp},
//           {kind:'candidate', candidate: RTCIceCandidateInit | null}  (null: end of candidates)
//           {kind:'restart'}  (the answering side asks the offering side for an ICE restart)
//
// Glare is avoided by role: for each pair the LOWER player index creates every offer
// (first connection and ICE restarts); the higher index only answers or asks for a restart.
// The DataChannel is pre-negotiated (negotiated: true, id 0) on both sides, so neither side
// waits for an ondatachannel event and a restart never creates a second channel.

import { createImpairment } from './impairment.js';

export const GAME_CHANNEL_LABEL = 'game';
const GAME_CHANNEL_ID = 0;

/** Error codes of the 'error' event. */
export const TransportErrors = Object.freeze({
  CONNECT_TIMEOUT: 'connect_timeout', // no open DataChannel within connectTimeoutMs
  ICE_FAILED: 'ice_failed', // ICE failed and the restarts allowed are used up
  SIGNALING: 'signaling', // a bad or unexpected signaling message (ignored)
  NEGOTIATION: 'negotiation', // createOffer/setRemoteDescription/... rejected
});

/**
 * Per-link seed for the impairment shim: each direction of each pair gets its own PRNG
 * stream, derived only from the configured seed and the two player indices.
 */
export function linkSeed(seed, fromPlayer, toPlayer) {
  return ((seed >>> 0) ^ Math.imul(fromPlayer * 16 + toPlayer + 1, 0x85EBCA6B)) >>> 0;
}

/**
 * Read the selected candidate pair from an RTCStatsReport (a Map-like of stats objects).
 * Returns {kind:'direct'|'relay', protocol, localCandidateType, remoteCandidateType,
 * relayProtocol, localAddress, remoteAddress, rttMs} or null when no pair is selected yet.
 */
export function pathFromStats(report) {
  const byId = new Map();
  report.forEach((s) => byId.set(s.id, s));
  let pair = null;
  for (const s of byId.values()) {
    if (s.type === 'transport' && s.selectedCandidatePairId) {
      pair = byId.get(s.selectedCandidatePairId) ?? null;
      if (pair) break;
    }
  }
  if (!pair) {
    // Browsers without transport.selectedCandidatePairId: the nominated, succeeded pair
    // (Firefox marks it `selected`).
    for (const s of byId.values()) {
      if (s.type === 'candidate-pair' && (s.selected === true || (s.nominated && s.state === 'succeeded'))) {
        pair = s;
        break;
      }
    }
  }
  if (!pair) return null;
  const local = byId.get(pair.localCandidateId);
  const remote = byId.get(pair.remoteCandidateId);
  if (!local || !remote) return null;
  const relayed = local.candidateType === 'relay' || remote.candidateType === 'relay';
  // For a local relay candidate the protocol that matters (what a firewall sees) is the one
  // between this browser and the TURN server: relayProtocol.
  const protocol = (local.candidateType === 'relay' ? local.relayProtocol ?? local.protocol : local.protocol) ?? null;
  return {
    kind: relayed ? 'relay' : 'direct',
    protocol,
    localCandidateType: local.candidateType ?? null,
    remoteCandidateType: remote.candidateType ?? null,
    relayProtocol: local.relayProtocol ?? null,
    localAddress: local.address ?? local.ip ?? null,
    remoteAddress: remote.address ?? remote.ip ?? null,
    rttMs: Number.isFinite(pair.currentRoundTripTime) ? pair.currentRoundTripTime * 1000 : null,
  };
}

/**
 * @param {object} opts
 * @param {number} opts.selfIndex         this player's index
 * @param {number[]} [opts.peers]         remote player indices (default: every other index < numPlayers)
 * @param {number} [opts.numPlayers]
 * @param {{send: Function, onmessage: Function|null}} opts.signaling
 * @param {RTCIceServer[]} [opts.iceServers=[]]   never add a public server here by default
 * @param {'all'|'relay'} [opts.iceTransportPolicy='all']
 * @param {number} [opts.connectTimeoutMs=15000]
 * @param {number} [opts.maxIceRestarts=3]        per peer, per connection attempt
 * @param {object|null} [opts.impairment]         createImpairment options ({seed, delayMs, ...}) or null
 * @param {Function} [opts.RTCPeerConnection]     injectable for tests
 * @param {Function} [opts.now]                   clock in ms (performance.now by default)
 * @param {{setTimeout: Function, clearTimeout: Function}} [opts.timers]
 */
export function createTransport(opts) {
  const {
    selfIndex, signaling, iceServers = [], iceTransportPolicy = 'all',
    connectTimeoutMs = 15000, maxIceRestarts = 3, impairment = null,
  } = opts ?? {};
  const PC = opts?.RTCPeerConnection ?? globalThis.RTCPeerConnection;
  const now = opts?.now ?? (() => globalThis.performance.now());
  const timers = opts?.timers ?? { setTimeout: globalThis.setTimeout.bind(globalThis), clearTimeout: globalThis.clearTimeout.bind(globalThis) };
  if (!Number.isInteger(selfIndex) || selfIndex < 0 || selfIndex > 255) {
    throw new RangeError('createTransport: selfIndex must be an integer 0..255');
  }
  if (!signaling || typeof signaling.send !== 'function') {
    throw new TypeError('createTransport: signaling must have send(toPlayer, msg)');
  }
  if (typeof PC !== 'function') {
    throw new TypeError('createTransport: this environment has no RTCPeerConnection');
  }
  if (iceTransportPolicy !== 'all' && iceTransportPolicy !== 'relay') {
    throw new RangeError(`createTransport: iceTransportPolicy must be 'all' or 'relay'`);
  }
  const peers = opts.peers ?? Array.from({ length: opts.numPlayers ?? 0 }, (_, i) => i).filter((i) => i !== selfIndex);
  if (peers.length === 0) throw new RangeError('createTransport: no peers (give peers or numPlayers)');
  if (peers.includes(selfIndex)) throw new RangeError('createTransport: peers must not include selfIndex');

  const listeners = new Map();
  function emit(type, detail) {
    for (const fn of listeners.get(type) ?? []) {
      try {
        fn(detail);
      } catch (err) {
        // A listener's bug must not break the transport's own state machine.
        globalThis.console?.error?.(`transport: '${type}' listener threw`, err);
      }
    }
  }

  const totals = { bytesSent: 0, bytesReceived: 0, messagesSent: 0, messagesReceived: 0, messagesDropped: 0 };
  const links = new Map();
  let closed = false;
  let started = false;
  const early = []; // signaling received before start()

  function makeLink(peer) {
    const link = {
      peer,
      offerer: selfIndex < peer,
      pc: null,
      dc: null,
      state: 'new', // new | connecting | open | interrupted | failed | closed
      pendingCandidates: [],
      signalChain: Promise.resolve(),
      restarts: 0,
      iceFailed: false,
      restartPending: false, // offerer: an ICE-restart offer is out, not yet connected
      connectTimer: null,
      path: null,
      impairment: impairment ? createImpairment({ ...impairment, seed: linkSeed(impairment.seed ?? 0, selfIndex, peer) }) : null,
      pendingDeliveries: new Set(),
      counters: { bytesSent: 0, bytesReceived: 0, messagesSent: 0, messagesReceived: 0, messagesDropped: 0 },
    };
    links.set(peer, link);
    return link;
  }

  function setState(link, state) {
    if (link.state === state) return;
    link.state = state;
    emit('state', { peer: link.peer, state });
  }

  function armConnectTimer(link) {
    timers.clearTimeout(link.connectTimer);
    link.connectTimer = timers.setTimeout(() => {
      link.connectTimer = null;
      if (link.state === 'open' || closed) return;
      setState(link, 'failed');
      const ice = link.pc?.iceConnectionState ?? 'none';
      emit('error', {
        peer: link.peer,
        code: TransportErrors.CONNECT_TIMEOUT,
        message: `no WebRTC connection to player ${link.peer} within ${Math.round(connectTimeoutMs / 1000)} s `
          + `(ICE state ${ice}, policy ${iceTransportPolicy}, ${iceServers.length} ICE server(s))`,
      });
    }, connectTimeoutMs);
  }

  function openPeerConnection(link) {
    const pc = new PC({ iceServers, iceTransportPolicy });
    link.pc = pc;
    const dc = pc.createDataChannel(GAME_CHANNEL_LABEL, {
      negotiated: true, id: GAME_CHANNEL_ID, ordered: false, maxRetransmits: 0,
    });
    dc.binaryType = 'arraybuffer';
    link.dc = dc;

    pc.onicecandidate = (ev) => {
      const c = ev.candidate;
      signaling.send(link.peer, { kind: 'candidate', candidate: c ? (typeof c.toJSON === 'function' ? c.toJSON() : c) : null });
    };
    pc.oniceconnectionstatechange = () => onIceState(link, pc);
    pc.onconnectionstatechange = () => onIceState(link, pc);

    dc.onopen = () => {
      if (link.dc !== dc) return;
      timers.clearTimeout(link.connectTimer);
      link.connectTimer = null;
      link.restarts = 0;
      setState(link, 'open');
      emit('open', { peer: link.peer });
      refreshPath(link);
    };
    dc.onclose = () => {
      if (link.dc !== dc || closed) return;
      setState(link, 'closed');
      emit('close', { peer: link.peer });
    };
    dc.onmessage = (ev) => {
      const bytes = toBytes(ev.data);
      link.counters.bytesReceived += bytes.byteLength;
      link.counters.messagesReceived += 1;
      totals.bytesReceived += bytes.byteLength;
      totals.messagesReceived += 1;
      emit('message', { peer: link.peer, data: bytes });
    };
  }

  function onIceState(link, pc) {
    if (link.pc !== pc || closed) return;
    const ice = pc.iceConnectionState;
    const conn = pc.connectionState;
    const failed = ice === 'failed' || conn === 'failed';
    // Both state-change events fire for one failure: act on the transition only.
    const wasFailed = link.iceFailed;
    link.iceFailed = failed;
    if (failed) {
      if (wasFailed) return;
      link.restartPending = false;
      requestRestart(link);
    } else if (ice === 'disconnected' || conn === 'disconnected') {
      if (link.state === 'open') setState(link, 'interrupted');
    } else if (ice === 'connected' || ice === 'completed' || conn === 'connected') {
      link.restartPending = false;
      if (link.state === 'interrupted' || (link.state === 'connecting' && link.dc?.readyState === 'open')) {
        setState(link, 'open');
      }
      refreshPath(link);
    }
  }

  function requestRestart(link) {
    if (link.restarts >= maxIceRestarts) {
      if (link.state !== 'failed') {
        setState(link, 'failed');
        emit('error', {
          peer: link.peer,
          code: TransportErrors.ICE_FAILED,
          message: `ICE to player ${link.peer} failed after ${link.restarts} restart(s)`,
        });
      }
      return;
    }
    link.restarts += 1;
    if (link.state === 'open') setState(link, 'interrupted');
    emit('restart', { peer: link.peer, attempt: link.restarts });
    armConnectTimerIfNotOpen(link);
    if (link.offerer) {
      link.restartPending = true;
      enqueue(link, () => sendOffer(link, true));
    } else {
      signaling.send(link.peer, { kind: 'restart' });
    }
  }

  function armConnectTimerIfNotOpen(link) {
    if (link.state !== 'open') armConnectTimer(link);
  }

  async function sendOffer(link, iceRestart) {
    const offer = await link.pc.createOffer(iceRestart ? { iceRestart: true } : undefined);
    await link.pc.setLocalDescription(offer);
    signaling.send(link.peer, { kind: 'offer', sdp: link.pc.localDescription.sdp });
  }

  async function flushCandidates(link) {
    const queued = link.pendingCandidates;
    link.pendingCandidates = [];
    for (const c of queued) await addCandidate(link, c);
  }

  async function addCandidate(link, c) {
    try {
      await link.pc.addIceCandidate(c);
    } catch (err) {
      // A candidate the browser cannot use (e.g. another address family) is not fatal.
      emit('warning', { peer: link.peer, message: `addIceCandidate: ${err?.message ?? err}` });
    }
  }

  async function handleSignal(link, msg) {
    const pc = link.pc;
    switch (msg.kind) {
      case 'offer': {
        if (link.offerer) throw signalError(`player ${link.peer} sent an offer but this side offers`);
        if (typeof msg.sdp !== 'string') throw signalError('offer without sdp');
        await pc.setRemoteDescription({ type: 'offer', sdp: msg.sdp });
        await flushCandidates(link);
        const answer = await pc.createAnswer();
        await pc.setLocalDescription(answer);
        signaling.send(link.peer, { kind: 'answer', sdp: pc.localDescription.sdp });
        return;
      }
      case 'answer': {
        if (!link.offerer) throw signalError(`player ${link.peer} sent an answer but this side answers`);
        if (typeof msg.sdp !== 'string') throw signalError('answer without sdp');
        if (pc.signalingState !== 'have-local-offer') throw signalError(`answer in signaling state ${pc.signalingState}`);
        await pc.setRemoteDescription({ type: 'answer', sdp: msg.sdp });
        await flushCandidates(link);
        return;
      }
      case 'candidate': {
        const c = msg.candidate;
        if (c !== null && (typeof c !== 'object' || typeof c.candidate !== 'string')) throw signalError('malformed candidate');
        // End of candidates (null) needs no action: ICE works without the hint.
        if (c === null) return;
        if (!pc.remoteDescription) link.pendingCandidates.push(c);
        else await addCandidate(link, c);
        return;
      }
      case 'restart': {
        if (!link.offerer) throw signalError(`player ${link.peer} asked this side to restart but it answers`);
        // Both sides usually see 'failed' together: if this side already restarted, the
        // peer's request is answered by the restart offer on its way.
        if (!link.restartPending) requestRestart(link);
        return;
      }
      default:
        throw signalError(`unknown signaling kind ${String(msg.kind)}`);
    }
  }

  function enqueue(link, task) {
    // Signaling steps of one peer run strictly in order (each awaits the browser).
    const run = link.signalChain.then(task);
    link.signalChain = run.catch((err) => {
      if (closed) return;
      const code = err?.isSignalError ? TransportErrors.SIGNALING : TransportErrors.NEGOTIATION;
      emit('error', { peer: link.peer, code, message: String(err?.message ?? err) });
    });
    return link.signalChain;
  }

  function onSignal(fromPlayer, msg) {
    if (closed) return;
    if (!started) {
      // The peer may start (and offer) first: keep its messages until start().
      early.push([fromPlayer, msg]);
      return;
    }
    const link = links.get(fromPlayer);
    if (!link || !link.pc) {
      emit('error', { peer: fromPlayer, code: TransportErrors.SIGNALING, message: `signaling from unknown player ${fromPlayer}` });
      return;
    }
    if (!msg || typeof msg !== 'object') {
      emit('error', { peer: fromPlayer, code: TransportErrors.SIGNALING, message: 'signaling message is not an object' });
      return;
    }
    enqueue(link, () => handleSignal(link, msg));
  }

  async function refreshPath(link) {
    const pc = link.pc;
    if (!pc || typeof pc.getStats !== 'function') return null;
    let path = null;
    try {
      path = pathFromStats(await pc.getStats());
    } catch {
      return link.path;
    }
    if (path && link.pc === pc) {
      const changed = !link.path || link.path.kind !== path.kind || link.path.protocol !== path.protocol
        || link.path.localCandidateType !== path.localCandidateType || link.path.remoteCandidateType !== path.remoteCandidateType;
      link.path = path;
      if (changed) emit('path', { peer: link.peer, path });
    }
    return link.path;
  }

  function rawSend(link, bytes) {
    const dc = link.dc;
    if (!dc || dc.readyState !== 'open') {
      link.counters.messagesDropped += 1;
      totals.messagesDropped += 1;
      return false;
    }
    try {
      dc.send(bytes);
    } catch {
      // Closing under our feet: the message is lost, as on any lossy link.
      link.counters.messagesDropped += 1;
      totals.messagesDropped += 1;
      return false;
    }
    link.counters.bytesSent += bytes.byteLength;
    link.counters.messagesSent += 1;
    totals.bytesSent += bytes.byteLength;
    totals.messagesSent += 1;
    return true;
  }

  for (const peer of peers) makeLink(peer);
  signaling.onmessage = onSignal;

  const api = {
    selfIndex,
    peers: [...peers],
    /** Subscribe: 'open' 'close' 'message' 'state' 'path' 'restart' 'reconnect' 'error' 'warning'. Returns an unsubscribe function. */
    on(type, fn) {
      if (!listeners.has(type)) listeners.set(type, new Set());
      listeners.get(type).add(fn);
      return () => listeners.get(type)?.delete(fn);
    },
    /** Create the connections; the lower index of each pair sends the offer. */
    start() {
      if (closed) throw new Error('transport is closed');
      if (started) return;
      started = true;
      for (const peer of peers) {
        const link = links.get(peer);
        openPeerConnection(link);
        setState(link, 'connecting');
        armConnectTimer(link);
        if (link.offerer) enqueue(link, () => sendOffer(link, false));
      }
      for (const [from, msg] of early.splice(0)) onSignal(from, msg);
    },
    /**
     * Send bytes to one peer. With an impairment configured the message goes through the
     * seeded schedule (delayed, dropped, duplicated); otherwise straight to the channel.
     * Returns false when the message was not handed to the channel now (dropped/queued).
     */
    send(peer, bytes) {
      const link = links.get(peer);
      if (!link) throw new RangeError(`send: unknown peer ${peer}`);
      if (!(bytes instanceof Uint8Array)) throw new TypeError('send: bytes must be a Uint8Array');
      if (!link.impairment) return rawSend(link, bytes);
      const t = now();
      const deliveries = link.impairment.schedule(t, bytes.byteLength);
      if (deliveries.length === 0) {
        link.counters.messagesDropped += 1;
        totals.messagesDropped += 1;
        return false;
      }
      // The caller may reuse its buffer; delayed sends need their own copy.
      const copy = bytes.slice();
      let sentNow = false;
      for (const at of deliveries) {
        const delay = at - t;
        if (delay <= 0) {
          sentNow = rawSend(link, copy) || sentNow;
        } else {
          const handle = timers.setTimeout(() => {
            link.pendingDeliveries.delete(handle);
            if (!closed) rawSend(link, copy);
          }, delay);
          link.pendingDeliveries.add(handle);
        }
      }
      return sentNow;
    },
    broadcast(bytes) {
      for (const peer of peers) api.send(peer, bytes);
    },
    /** The last path read for a peer (see pathFromStats), or null. */
    path(peer) {
      return links.get(peer)?.path ?? null;
    },
    /** Read the path now from getStats(). */
    refreshPath(peer) {
      const link = links.get(peer);
      return link ? refreshPath(link) : Promise.resolve(null);
    },
    state(peer) {
      return links.get(peer)?.state ?? null;
    },
    /**
     * A new connection to a peer whose page was reloaded (the server's `peer_rejoined`): the old
     * RTCPeerConnection is closed and a fresh one negotiated (the lower index offers, as at the
     * start); counters carry on. Before start() there is nothing to replace.
     */
    reconnect(peer) {
      const link = links.get(peer);
      if (!link || closed) return;
      timers.clearTimeout(link.connectTimer);
      link.connectTimer = null;
      for (const h of link.pendingDeliveries) timers.clearTimeout(h);
      link.pendingDeliveries.clear();
      const { pc, dc } = link;
      // Cleared first: the old objects' events now fail their `link.pc === pc` checks.
      link.pc = null;
      link.dc = null;
      try { dc?.close(); } catch { /* already closed */ }
      try { pc?.close(); } catch { /* already closed */ }
      link.pendingCandidates = [];
      link.signalChain = Promise.resolve();
      link.restarts = 0;
      link.iceFailed = false;
      link.restartPending = false;
      link.path = null;
      link.state = 'new';
      if (!started) return;
      openPeerConnection(link);
      setState(link, 'connecting');
      armConnectTimer(link);
      emit('reconnect', { peer });
      if (link.offerer) enqueue(link, () => sendOffer(link, false));
    },
    /** Ask for an ICE restart towards a peer (e.g. after the page regained network). */
    restartIce(peer) {
      const link = links.get(peer);
      if (link && !closed) {
        link.restarts = Math.max(0, link.restarts - 1); // a manual restart does not use up the budget
        requestRestart(link);
      }
    },
    /** Counters: totals and per peer. */
    stats() {
      const perPeer = {};
      for (const [peer, link] of links) perPeer[peer] = { ...link.counters, state: link.state, path: link.path };
      return { ...totals, perPeer };
    },
    /** The impairment schedule actually applied per peer ({t, size, deliveries} entries). */
    impairmentLog(peer) {
      return links.get(peer)?.impairment?.log ?? null;
    },
    /** Close every connection and cancel delayed sends. */
    close() {
      if (closed) return;
      closed = true;
      if (signaling.onmessage === onSignal) signaling.onmessage = null;
      for (const link of links.values()) {
        timers.clearTimeout(link.connectTimer);
        for (const h of link.pendingDeliveries) timers.clearTimeout(h);
        link.pendingDeliveries.clear();
        try { link.dc?.close(); } catch { /* already closed */ }
        try { link.pc?.close(); } catch { /* already closed */ }
        link.state = 'closed';
      }
    },
  };
  return api;
}

function signalError(message) {
  const err = new Error(message);
  err.isSignalError = true;
  return err;
}

function toBytes(data) {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (typeof data === 'string') return new TextEncoder().encode(data);
  return new Uint8Array(0);
}
