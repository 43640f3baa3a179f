// transport.js against an in-memory RTCPeerConnection fake (support/fake_webrtc.mjs):
// signaling roles, trickle ICE ordering, timeouts, ICE restart, path reading, counters and
// the seeded impairment shim. Real WebRTC is covered by tests/e2e/test_transport_chromium.py.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { createTransport, linkSeed, pathFromStats, TransportErrors } from '../../static/js/transport.js';
import { createImpairment } from '../../static/js/impairment.js';
import { FakeNetwork, SignalingRelay, VirtualTimers, until } from './support/fake_webrtc.mjs';

function mesh(n, { net = new FakeNetwork(), relay = new SignalingRelay(), ...opts } = {}) {
  const ts = [];
  const events = [];
  for (let i = 0; i < n; i++) {
    const t = createTransport({
      selfIndex: i, numPlayers: n, signaling: relay.endpoint(i), RTCPeerConnection: net.RTCPeerConnection, ...opts,
    });
    for (const type of ['open', 'close', 'message', 'state', 'path', 'restart', 'error', 'warning']) {
      t.on(type, (d) => events.push({ at: i, type, ...d }));
    }
    ts.push(t);
  }
  return { ts, events, net, relay };
}

const opened = (events, n) => events.filter((e) => e.type === 'open').length === n * (n - 1);

test('two players connect over one unordered, no-retransmit binary channel and exchange bytes', async () => {
  const { ts, events, net } = mesh(2);
  ts.forEach((t) => t.start());
  await until(() => opened(events, 2), 'both channels open');
  const dc = [...net.pcs.values()][0].channels[0];
  assert.deepEqual([dc.label, dc.ordered, dc.maxRetransmits, dc.negotiated, dc.binaryType], ['game', false, 0, true, 'arraybuffer']);
  assert.equal(net.pcs.size, 2, 'one RTCPeerConnection per peer');

  assert.equal(ts[0].send(1, new Uint8Array([1, 2, 3])), true);
  ts[1].send(0, new Uint8Array([9]));
  await until(() => events.filter((e) => e.type === 'message').length === 2, 'messages');
  const msgs = events.filter((e) => e.type === 'message');
  const at1 = msgs.find((m) => m.at === 1);
  assert.equal(at1.peer, 0);
  assert.ok(at1.data instanceof Uint8Array);
  assert.deepEqual([...at1.data], [1, 2, 3]);
  assert.deepEqual([...msgs.find((m) => m.at === 0).data], [9]);

  const s0 = ts[0].stats();
  assert.deepEqual([s0.bytesSent, s0.messagesSent, s0.bytesReceived, s0.messagesReceived], [3, 1, 1, 1]);
  assert.equal(s0.perPeer[1].state, 'open');
  ts.forEach((t) => t.close());
});

test('the path is read from getStats: host/host is direct, a relay candidate makes it relay', async () => {
  const direct = mesh(2);
  direct.ts.forEach((t) => t.start());
  await until(() => direct.events.filter((e) => e.type === 'path').length === 2, 'path events');
  assert.deepEqual(
    (({ kind, protocol, localCandidateType, remoteCandidateType }) => ({ kind, protocol, localCandidateType, remoteCandidateType }))(direct.ts[0].path(1)),
    { kind: 'direct', protocol: 'udp', localCandidateType: 'host', remoteCandidateType: 'host' },
  );
  assert.equal(direct.ts[0].path(1).rttMs, 4);
  direct.ts.forEach((t) => t.close());

  const relayed = mesh(2, { net: new FakeNetwork({ localType: 'relay', remoteType: 'srflx', protocol: 'udp', relayProtocol: 'tcp' }), iceTransportPolicy: 'relay' });
  relayed.ts.forEach((t) => t.start());
  await until(() => relayed.events.filter((e) => e.type === 'path').length === 2, 'path events');
  const p = relayed.ts[1].path(0);
  assert.equal(p.kind, 'relay');
  assert.equal(p.protocol, 'tcp', 'client-to-TURN protocol for a local relay candidate');
  assert.equal(relayed.net.pcs.get(1).config.iceTransportPolicy, 'relay');
  relayed.ts.forEach((t) => t.close());
});

test('pathFromStats falls back to the nominated pair and returns null before selection', () => {
  const report = new Map([
    ['p', { id: 'p', type: 'candidate-pair', nominated: true, state: 'succeeded', localCandidateId: 'l', remoteCandidateId: 'r' }],
    ['l', { id: 'l', type: 'local-candidate', candidateType: 'srflx', protocol: 'udp' }],
    ['r', { id: 'r', type: 'remote-candidate', candidateType: 'prflx', protocol: 'udp' }],
  ]);
  assert.deepEqual(
    (({ kind, protocol, localCandidateType, remoteCandidateType }) => ({ kind, protocol, localCandidateType, remoteCandidateType }))(pathFromStats(report)),
    { kind: 'direct', protocol: 'udp', localCandidateType: 'srflx', remoteCandidateType: 'prflx' },
  );
  assert.equal(pathFromStats(new Map()), null);
});

test('full mesh of 4: one connection per pair, offers only from the lower index', async () => {
  const { ts, events, relay } = mesh(4);
  ts.forEach((t) => t.start());
  await until(() => opened(events, 4), 'all 12 channel ends open');
  const offers = relay.log.filter((l) => l.msg.kind === 'offer');
  assert.equal(offers.length, 6);
  for (const o of offers) assert.ok(o.from < o.to, `offer ${o.from}->${o.to}`);
  assert.equal(relay.log.filter((l) => l.msg.kind === 'answer').length, 6);
  ts[2].broadcast(new Uint8Array([42]));
  await until(() => events.filter((e) => e.type === 'message').length === 3, 'broadcast');
  assert.deepEqual(events.filter((e) => e.type === 'message').map((e) => [e.at, e.peer]).sort(), [[0, 2], [1, 2], [3, 2]]);
  ts.forEach((t) => t.close());
});

test('candidates that arrive before the offer are queued, not lost', async () => {
  const relay = new SignalingRelay();
  relay.hold = true;
  const { ts, events } = mesh(2, { relay });
  ts.forEach((t) => t.start());
  await until(() => relay.held.some((h) => h.msg.kind === 'offer') && relay.held.some((h) => h.msg.kind === 'candidate'), 'offer and candidates');
  // Deliver every candidate first, then the offer.
  relay.release((held) => [...held.filter((h) => h.msg.kind !== 'offer'), ...held.filter((h) => h.msg.kind === 'offer')]);
  await until(() => opened(events, 2), 'channels open');
  assert.deepEqual(events.filter((e) => e.type === 'error'), []);
  ts.forEach((t) => t.close());
});

test('no path within the timeout: a clear connect_timeout error and state failed', async () => {
  const net = new FakeNetwork();
  net.blocked = true;
  const { ts, events } = mesh(2, { net, connectTimeoutMs: 30 });
  ts.forEach((t) => t.start());
  await until(() => events.filter((e) => e.type === 'error').length === 2, 'timeouts');
  for (const e of events.filter((x) => x.type === 'error')) {
    assert.equal(e.code, TransportErrors.CONNECT_TIMEOUT);
    assert.match(e.message, /no WebRTC connection to player \d within 0 s \(ICE state new, policy all, 0 ICE server\(s\)\)/);
  }
  assert.equal(ts[0].state(1), 'failed');
  assert.equal(ts[0].send(1, new Uint8Array([1])), false, 'sending on a dead link drops, does not throw');
  assert.equal(ts[0].stats().messagesDropped, 1);
  ts.forEach((t) => t.close());
});

test('ICE failure on the offering side: restart offer with new credentials, link recovers', async () => {
  const { ts, events, net, relay } = mesh(2);
  ts.forEach((t) => t.start());
  await until(() => opened(events, 2), 'open');
  const offersBefore = relay.log.filter((l) => l.msg.kind === 'offer').length;
  net.pcs.get(1).failIce(); // player 0's connection
  await until(() => events.some((e) => e.type === 'restart' && e.at === 0), 'restart');
  await until(() => ts[0].state(1) === 'open' && net.pcs.get(1).iceConnectionState === 'connected', 'reconnected');
  const offers = relay.log.filter((l) => l.msg.kind === 'offer');
  assert.equal(offers.length, offersBefore + 1);
  assert.match(offers.at(-1).msg.sdp, /ufrag=2/);
  assert.deepEqual(events.filter((e) => e.at === 0 && e.type === 'state').map((e) => e.state), ['connecting', 'open', 'interrupted', 'open']);
  ts[1].send(0, new Uint8Array([7]));
  await until(() => events.some((e) => e.type === 'message' && e.at === 0), 'message after restart');
  ts.forEach((t) => t.close());
});

test('ICE failure seen only by the answering side: it asks the offerer to restart', async () => {
  const { ts, events, net, relay } = mesh(2);
  ts.forEach((t) => t.start());
  await until(() => opened(events, 2), 'open');
  net.pcs.get(2).failIce(); // player 1's connection
  await until(() => relay.log.some((l) => l.msg.kind === 'restart' && l.from === 1 && l.to === 0), 'restart request');
  await until(() => relay.log.filter((l) => l.msg.kind === 'offer').length === 2, 'restart offer from player 0');
  await until(() => net.pcs.get(2).iceConnectionState === 'connected' && ts[1].state(0) === 'open', 'recovered');
  assert.equal(relay.log.filter((l) => l.msg.kind === 'offer' && l.from === 1).length, 0, 'the answerer never offers');
  ts.forEach((t) => t.close());
});

test('restarts are bounded: after maxIceRestarts the link fails with ice_failed', async () => {
  const { ts, events, net } = mesh(2, { maxIceRestarts: 1, connectTimeoutMs: 60000 });
  ts.forEach((t) => t.start());
  await until(() => opened(events, 2), 'open');
  net.blocked = true; // nothing reconnects
  net.pcs.get(1).failIce();
  await until(() => events.some((e) => e.type === 'restart' && e.at === 0), 'first restart');
  await until(() => net.pcs.get(1).iceConnectionState === 'checking', 'restart under way');
  net.pcs.get(1).failIce();
  await until(() => events.some((e) => e.type === 'error' && e.at === 0), 'ice_failed');
  const err = events.find((e) => e.type === 'error' && e.at === 0);
  assert.equal(err.code, TransportErrors.ICE_FAILED);
  assert.equal(ts[0].state(1), 'failed');
  ts.forEach((t) => t.close());
});

test('bad signaling is reported and ignored; the connection still comes up', async () => {
  const { ts, events, relay } = mesh(2);
  ts.forEach((t) => t.start());
  const ep1 = relay.endpoints.get(1);
  const handler = ep1.onmessage;
  handler(0, { kind: 'teleport' });
  handler(0, { kind: 'candidate', candidate: 12 });
  handler(0, null);
  handler(5, { kind: 'offer', sdp: 'x' });
  handler(0, { kind: 'answer', sdp: 'x' }); // player 1 answers, never receives answers
  await until(() => opened(events, 2), 'open despite noise');
  const errs = events.filter((e) => e.type === 'error' && e.at === 1);
  assert.equal(errs.length, 5);
  assert.ok(errs.every((e) => e.code === TransportErrors.SIGNALING), JSON.stringify(errs));
  assert.match(errs.map((e) => e.message).join('\n'), /unknown signaling kind teleport/);
  ts.forEach((t) => t.close());
});

test('invalid options are clear errors', () => {
  const relay = new SignalingRelay();
  const net = new FakeNetwork();
  const base = { selfIndex: 0, numPlayers: 2, signaling: relay.endpoint(0), RTCPeerConnection: net.RTCPeerConnection };
  assert.throws(() => createTransport({ ...base, selfIndex: -1 }), RangeError);
  assert.throws(() => createTransport({ ...base, signaling: {} }), /signaling must have send/);
  assert.throws(() => createTransport({ ...base, RTCPeerConnection: undefined, }), /no RTCPeerConnection/);
  assert.throws(() => createTransport({ ...base, iceTransportPolicy: 'direct' }), RangeError);
  assert.throws(() => createTransport({ ...base, numPlayers: 1 }), /no peers/);
  const t = createTransport(base);
  assert.throws(() => t.send(3, new Uint8Array(1)), /unknown peer 3/);
  assert.throws(() => t.send(1, [1, 2]), TypeError);
});

test('impairment shim: outgoing messages follow the seeded schedule, which is recorded', async () => {
  const vt = new VirtualTimers();
  const imp = { seed: 1234, delayMs: 40, jitterMs: 10, loss: 0.2, duplicate: 0.1, reorder: 0.1 };
  const { ts, events } = mesh(2, { impairment: imp, now: vt.now, timers: vt.timers });
  ts.forEach((t) => t.start());
  await until(() => opened(events, 2), 'open');

  const N = 200;
  for (let i = 0; i < N; i++) {
    vt.advance(5);
    ts[0].send(1, new Uint8Array([i & 0xff, i >> 8]));
  }
  vt.advance(1000);
  const log = ts[0].impairmentLog(1);
  assert.equal(log.length, N);
  const expectedDeliveries = log.reduce((n, e) => n + e.deliveries.length, 0);
  await until(() => events.filter((e) => e.type === 'message' && e.at === 1).length === expectedDeliveries, 'deliveries');

  // The schedule is exactly createImpairment's with the per-link seed: reproducible.
  const twin = createImpairment({ ...imp, seed: linkSeed(1234, 0, 1) });
  for (const e of log) assert.deepEqual(twin.schedule(e.t, e.size), e.deliveries);

  // Received order = delivery-time order of the schedule (ties in send order).
  const expectedOrder = log.flatMap((e, i) => e.deliveries.map((at) => ({ at, i })))
    .sort((a, b) => a.at - b.at).map((d) => d.i);
  const got = events.filter((e) => e.type === 'message' && e.at === 1).map((e) => e.data[0] | (e.data[1] << 8));
  assert.deepEqual(got, expectedOrder);
  const dropped = log.filter((e) => e.deliveries.length === 0).length;
  const duplicated = log.filter((e) => e.deliveries.length === 2).length;
  assert.ok(dropped > 10 && dropped < 80, `dropped ${dropped}`);
  assert.ok(duplicated > 0, 'some duplicates');
  assert.ok(got.some((v, k) => k > 0 && v < got[k - 1]), 'some reordering');
  assert.ok(log.every((e) => e.deliveries.every((at) => at >= e.t + 40)), 'at least the base delay');
  assert.equal(ts[0].stats().messagesDropped, dropped);
  // The other direction has its own stream, and nothing was sent there.
  assert.equal(ts[1].impairmentLog(0).length, 0);
  assert.notEqual(linkSeed(1234, 0, 1), linkSeed(1234, 1, 0));
  ts.forEach((t) => t.close());
});

test('close cancels delayed sends and stops signaling', async () => {
  const vt = new VirtualTimers();
  const { ts, events } = mesh(2, { impairment: { seed: 1, delayMs: 100 }, now: vt.now, timers: vt.timers });
  ts.forEach((t) => t.start());
  await until(() => opened(events, 2), 'open');
  ts[0].send(1, new Uint8Array([1]));
  ts[0].close();
  vt.advance(500);
  await new Promise((r) => setImmediate(r));
  assert.equal(events.filter((e) => e.type === 'message').length, 0);
  assert.equal(ts[0].state(1), 'closed');
  ts[1].close();
});

test('signaling that arrives before start() is kept and handled once started', async () => {
  const { ts, events, relay } = mesh(2);
  ts[0].start(); // player 0 offers while player 1 has not started yet
  await until(() => relay.log.some((l) => l.msg.kind === 'candidate'), 'offer and a candidate sent');
  await new Promise((r) => setImmediate(r)); // the relay delivers on the next macrotask
  assert.equal(ts[1].state(0), 'new');
  ts[1].start();
  await until(() => opened(events, 2), 'open');
  assert.deepEqual(events.filter((e) => e.type === 'error'), []);
  ts.forEach((t) => t.close());
});

for (const reloaded of [0, 1]) {
  test(`a reloaded page (player ${reloaded}) gets a new connection: reconnect() on the other side, the old one closed`, async () => {
    const relay = new SignalingRelay();
    const net = new FakeNetwork();
    const { ts, events } = mesh(2, { net, relay });
    ts.forEach((t) => t.start());
    await until(() => opened(events, 2), 'both channels open');
    const other = 1 - reloaded;
    const oldPcs = [...net.pcs.values()];
    // The page reloads: its transport is gone with it; the new page makes a new one.
    ts[reloaded].close();
    const fresh = createTransport({ selfIndex: reloaded, numPlayers: 2, signaling: relay.endpoint(reloaded), RTCPeerConnection: net.RTCPeerConnection });
    const freshEvents = [];
    for (const type of ['open', 'message', 'error']) fresh.on(type, (d) => freshEvents.push({ type, ...d }));
    const reconnects = [];
    ts[other].on('reconnect', (d) => reconnects.push(d));
    // The server's peer_rejoined reaches the other page before the new page's offer.
    ts[other].reconnect(reloaded);
    assert.deepEqual(reconnects, [{ peer: reloaded }]);
    assert.equal(ts[other].state(reloaded), 'connecting');
    fresh.start();
    await until(() => freshEvents.some((e) => e.type === 'open') && ts[other].state(reloaded) === 'open', 'the new connection opens');
    assert.ok(oldPcs.every((pc) => pc.closed || pc.connectionState === 'closed' || pc.signalingState === 'closed'), 'old connections closed');
    ts[other].send(reloaded, new Uint8Array([7]));
    fresh.send(other, new Uint8Array([8]));
    await until(() => freshEvents.some((e) => e.type === 'message') && events.some((e) => e.type === 'message' && e.at === other), 'bytes both ways');
    assert.deepEqual([...freshEvents.find((e) => e.type === 'message').data], [7]);
    assert.equal(freshEvents.filter((e) => e.type === 'error').length, 0);
    fresh.close();
    ts[other].close();
  });
}
