// client_probe.js: two pages probe each other over the in-memory WebRTC fake, through a
// fake server that relays `probe_signal` like the real one; the impairment shim adds a known
// delay, so the measured RTT has a floor. Real WebRTC probes run in the Python peer tests.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { runProbe } from '../../static/js/client_probe.js';
import { FakeNetwork, until } from './support/fake_webrtc.mjs';
import { FakeSocket } from './support/client_fakes.mjs';

function server(n) {
  const sockets = Array.from({ length: n }, () => new FakeSocket('/p2p', {}));
  const results = [];
  sockets.forEach((sock, from) => {
    const emit = sock.emit.bind(sock);
    sock.emit = (ev, payload, ack) => {
      emit(ev, payload, ack);
      if (ev === 'probe_signal') {
        setImmediate(() => sockets[payload.to].serve('probe_signal', { probe_id: payload.probe_id, from, kind: payload.kind, data: payload.data }));
      } else if (ev === 'probe_result') {
        results.push({ from, ...payload });
      }
    };
  });
  return { sockets, results };
}

function probeFor(i, n, extra = {}) {
  return {
    probe_id: 'p1', scene_id: 'game', player_index: i, num_players: n,
    connections: [], ice_servers: [], ice_transport_policy: 'all', impairment: { delay_ms: 15, seed: 3 },
    pings: 3, timeout_s: 5, ...extra,
  };
}

test('two pages measure their RTT over the probe connection and report it', async () => {
  const net = new FakeNetwork();
  const { sockets, results } = server(2);
  const probes = [0, 1].map((i) => runProbe({ probe: probeFor(i, 2), socket: sockets[i], RTCPeerConnection: net.RTCPeerConnection }));
  await until(() => results.length === 2, 'both results', 5000);
  for (const r of results) {
    const other = String(1 - r.from);
    assert.equal(r.probe_id, 'p1');
    assert.equal(r.error, null);
    assert.equal(r.rtt_ms[other].length, 3);
    // 15 ms each way through the impairment shim (a timer may fire a little early: seen 28.9)
    for (const ms of r.rtt_ms[other]) assert.ok(ms >= 25, `rtt ${ms}`);
    assert.equal(r.path.kind, 'direct');
  }
  // still answering the other's PINGs until probe_end
  assert.ok(!probes[0].closed);
  sockets.forEach((s) => s.serve('probe_end', { probe_id: 'p1', outcome: 'matched' }));
  assert.ok(probes.every((p) => p.closed));
  const { from, ...sent } = results.find((r) => r.from === 0);
  assert.equal(from, 0);
  assert.deepEqual(probes[0].result, sent, 'result is what was sent');
});

test('no connection: the page reports the failure before the server deadline', async () => {
  const net = new FakeNetwork();
  net.blocked = true;
  const { sockets, results } = server(2);
  const probes = [0, 1].map((i) => runProbe({
    probe: probeFor(i, 2, { timeout_s: 2 }), socket: sockets[i], RTCPeerConnection: net.RTCPeerConnection,
  }));
  await until(() => results.length === 2, 'both results', 5000);
  for (const r of results) {
    assert.ok(r.error === 'connect_timeout' || r.error === 'incomplete', r.error);
    assert.deepEqual(r.rtt_ms[String(1 - r.from)], []);
  }
  probes.forEach((p) => p.close());
});
