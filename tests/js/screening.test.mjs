// screening.js: the browser checks before waiting, with an in-memory WebRTC (the real thing,
// relay-only through a TURN server, runs in Chromium: tests/e2e/test_outcomes_chromium.py).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { checkWebrtc, checkTurn, deviceHints, runScreening } from '../../static/js/screening.js';
import { FakeNetwork } from './support/fake_webrtc.mjs';

const realTimers = { setTimeout: globalThis.setTimeout.bind(globalThis), clearTimeout: globalThis.clearTimeout.bind(globalThis) };
const now = () => performance.now();

class OfferingPc {
  constructor() { this.closed = false; }
  createDataChannel() { return {}; }
  async createOffer() { return { type: 'offer', sdp: 'v=0\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n' }; }
  close() { this.closed = true; }
}

test('webrtc: missing API, a throwing constructor, an offer without data, and a good browser', async () => {
  assert.deepEqual(await checkWebrtc(undefined), { ok: false, detail: 'RTCPeerConnection is not available' });
  assert.equal((await checkWebrtc(class { constructor() { throw new Error('blocked by policy'); } })).detail, 'blocked by policy');
  assert.match((await checkWebrtc(class extends OfferingPc { async createOffer() { return { sdp: 'v=0' }; } })).detail, /no data channel/);
  assert.deepEqual(await checkWebrtc(OfferingPc), { ok: true, detail: null });
});

test('turn: a relay path that opens echoes; a blocked network times out with a reason', async () => {
  const net = new FakeNetwork({ localType: 'relay', remoteType: 'relay' });
  const ok = await checkTurn(net.RTCPeerConnection, [{ urls: 'turn:127.0.0.1:3478', username: 'u', credential: 'c' }],
    { timeoutMs: 2000, timers: realTimers, now });
  assert.equal(ok.ok, true, JSON.stringify(ok));
  for (const pc of net.pcs.values()) assert.equal(pc.config.iceTransportPolicy, 'relay');
  const blocked = new FakeNetwork();
  blocked.blocked = true;
  const bad = await checkTurn(blocked.RTCPeerConnection, [], { timeoutMs: 50, timers: realTimers, now });
  assert.equal(bad.ok, false);
  assert.match(bad.detail, /no relay candidate/);
});

test('runScreening: only what the server asked, rtt samples from the ping, device hints', async () => {
  let pings = 0;
  const win = { navigator: { userAgent: 'UA', userAgentData: { mobile: false }, maxTouchPoints: 0 }, screen: { width: 1920, height: 1080 } };
  const report = await runScreening({ webrtc: true, turn: false, rtt_samples: 3 }, {
    RTCPeerConnection: OfferingPc, ping: async () => { pings += 1; }, timers: realTimers, now, win,
  });
  assert.equal(pings, 3);
  assert.equal(report.rtt_ms.length, 3);
  assert.deepEqual(report.webrtc, { ok: true, detail: null });
  assert.equal(report.turn, null);
  assert.deepEqual(deviceHints(win), { user_agent: 'UA', ua_mobile: false, touch_points: 0, screen: { width: 1920, height: 1080 } });
  const none = await runScreening({}, { ping: async () => {}, timers: realTimers, now, win: {} });
  assert.deepEqual(none, { webrtc: null, turn: null, rtt_ms: null, user_agent: null, ua_mobile: null, touch_points: null, screen: null });
});
