// A matchmaking probe in the participant's page: before the server forms a game, it asks the
// candidates to open a short WebRTC connection to each other over the path the game would
// use (the same transport, ICE servers, policy and impairment shim) and to time PING/PONG
// round trips on it. The server judges the RTTs against the scene's max_p2p_rtt_ms.
//
//   server -> `probe` {probe_id, player_index, num_players, ice_servers, ice_transport_policy,
//                      impairment, pings, timeout_s}
//   both   <-> `probe_signal` {probe_id, to|from, kind, data}    (SDP and ICE, like `signal`)
//   page   -> `probe_result` {probe_id, rtt_ms: {peer: [ms...]}, path, error}
//   server -> `probe_end` {probe_id, outcome}                   (close; a game_ready may follow)
//
// The page keeps answering its peers' PINGs until `probe_end` or the deadline, so a slower
// peer still gets its samples. Nothing here touches the DOM.

import { createTransport } from './transport.js';
import { encode, decode } from './protocol.js';
import { toServerSignal, fromServerSignal } from './client_signaling.js';
import { transportImpairment, exportPath } from './client_game.js';

const PING_INTERVAL_MS = 100;
const PONG_GRACE_MS = 1000; // after the last PING, how long a PONG may still come

/**
 * @param {object} o
 * @param {object} o.probe       the `probe` event payload
 * @param {object} o.socket      the `/p2p` Socket.IO socket (on/off/emit)
 * @param {Function} [o.onDone]  (result) after the result was sent
 * @param {Function} [o.RTCPeerConnection], [o.now], [o.timers]   injectable for tests
 * @returns {{close: Function, result: object|null}}
 */
export function runProbe(o) {
  const { probe, socket } = o;
  const now = o.now ?? (() => globalThis.performance.now());
  const timers = o.timers ?? { setTimeout: globalThis.setTimeout.bind(globalThis), clearTimeout: globalThis.clearTimeout.bind(globalThis) };
  const id = probe.probe_id;
  const me = probe.player_index;
  const pings = Math.max(1, probe.pings ?? 5);
  const timeoutMs = Math.max(1000, (probe.timeout_s ?? 10) * 1000);
  const peers = Array.from({ length: probe.num_players ?? 2 }, (_, i) => i).filter((i) => i !== me);
  const samples = Object.fromEntries(peers.map((p) => [p, []]));
  const sent = Object.fromEntries(peers.map((p) => [p, 0]));
  const handles = new Set();
  let reported = false;
  let closed = false;
  let firstError = null;

  const signaling = {
    onmessage: null,
    send(toPlayer, msg) {
      const { kind, data } = toServerSignal(msg);
      socket.emit('probe_signal', { probe_id: id, to: toPlayer, kind, data });
    },
  };
  function onSignal(payload) {
    if (!payload || payload.probe_id !== id) return;
    const msg = fromServerSignal(payload);
    if (msg !== null) signaling.onmessage?.(payload.from, msg);
  }
  function onEnd(payload) {
    if (payload?.probe_id === id) close();
  }
  socket.on('probe_signal', onSignal);
  socket.on('probe_end', onEnd);

  const transport = createTransport({
    selfIndex: me,
    peers,
    signaling,
    iceServers: probe.ice_servers ?? [],
    iceTransportPolicy: probe.ice_transport_policy ?? 'all',
    // Leave time to report before the server's deadline.
    connectTimeoutMs: Math.max(500, timeoutMs - 1500),
    maxIceRestarts: 0,
    impairment: transportImpairment(probe.impairment ?? null),
    RTCPeerConnection: o.RTCPeerConnection,
    now: o.now,
    timers: o.timers,
  });

  function later(fn, ms) {
    const h = timers.setTimeout(() => { handles.delete(h); fn(); }, ms);
    handles.add(h);
  }

  transport.on('message', ({ peer, data }) => {
    const d = decode(data);
    if (!d.ok) return;
    if (d.msg.type === 'ping') {
      transport.send(peer, encode({ type: 'pong', time: d.msg.time }));
    } else if (d.msg.type === 'pong' && samples[peer] && samples[peer].length < pings) {
      samples[peer].push(Math.max(0, now() - d.msg.time));
      if (peers.every((p) => samples[p].length >= pings)) report(null);
    }
  });
  transport.on('open', ({ peer }) => {
    const tick = () => {
      if (closed || reported || sent[peer] >= pings * 2) return;
      sent[peer] += 1;
      transport.send(peer, encode({ type: 'ping', advantage: 0, time: now() }));
      later(tick, PING_INTERVAL_MS);
    };
    tick();
  });
  transport.on('error', (err) => {
    if (err.code === 'connect_timeout' || err.code === 'ice_failed') {
      firstError ??= err.code;
      if (peers.every((p) => transport.state(p) === 'failed' || samples[p].length >= pings)) report(firstError);
    }
  });

  function report(error) {
    if (reported || closed) return;
    reported = true;
    const paths = peers.map((p) => transport.path(p)).filter(Boolean);
    const result = {
      probe_id: id,
      rtt_ms: Object.fromEntries(peers.map((p) => [String(p), samples[p].map((v) => Math.round(v * 100) / 100)])),
      path: paths.length ? exportPath(paths[0]) : null,
      error,
    };
    api.result = result;
    socket.emit('probe_result', result);
    o.onDone?.(result);
  }

  // Whatever was measured goes to the server before its deadline; then wait for probe_end.
  later(() => report(firstError ?? (peers.some((p) => samples[p].length === 0) ? 'incomplete' : null)),
    Math.max(0, timeoutMs - 1000));
  later(close, timeoutMs + PONG_GRACE_MS);

  function close() {
    if (closed) return;
    closed = true;
    for (const h of handles) timers.clearTimeout(h);
    handles.clear();
    socket.off?.('probe_signal', onSignal);
    socket.off?.('probe_end', onEnd);
    transport.close();
  }

  transport.start();
  const api = { close, result: null, get closed() { return closed; } };
  return api;
}
