import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Endpoint, PeerState } from '../../static/js/endpoint.js';
import { makeSettings } from '../../static/js/settings.js';
import { InputQueue } from '../../static/js/input_queue.js';

const settings = makeSettings({});

test('silence: interrupted after the notify time, disconnected after the timeout, resumed on a message', () => {
  const ep = new Endpoint({ peer: 1, settings, startTime: 0 });
  assert.equal(ep.checkSilence(4000), null, 'never heard from: no interrupted');
  assert.equal(ep.checkSilence(5000), 'disconnected', 'never heard from: timeout from start');
  const ep2 = new Endpoint({ peer: 1, settings, startTime: 0 });
  ep2.onMessage(100, false);
  assert.equal(ep2.state, PeerState.RUNNING);
  assert.equal(ep2.checkSilence(849), null);
  assert.equal(ep2.checkSilence(850), 'interrupted');
  assert.equal(ep2.checkSilence(900), null, 'reported once');
  assert.equal(ep2.onMessage(1000, false), 'resumed');
  assert.equal(ep2.checkSilence(5999), 'interrupted');
  assert.equal(ep2.checkSilence(6000), 'disconnected');
});

test('handshakeTimeoutMs: a peer never heard from gets that long; once heard from, the disconnect timeout again', () => {
  const long = makeSettings({ handshakeTimeoutMs: 20000 });
  const ep = new Endpoint({ peer: 1, settings: long, startTime: 0 });
  assert.equal(ep.checkSilence(5000), null, 'not yet: the first-contact wait is longer');
  assert.equal(ep.checkSilence(19999), null);
  assert.equal(ep.checkSilence(20000), 'disconnected');
  const ep2 = new Endpoint({ peer: 1, settings: long, startTime: 0 });
  ep2.onMessage(100, false);
  assert.equal(ep2.checkSilence(5099), 'interrupted');
  assert.equal(ep2.checkSilence(5100), 'disconnected', 'heard from: the usual silence timeout');
});

test('HELLO proof: only a non-HELLO message proves the peer has our HELLO', () => {
  const ep = new Endpoint({ peer: 1, settings, startTime: 0 });
  assert.ok(ep.helloDue(0));
  ep.lastHelloSent = 0;
  assert.ok(!ep.helloDue(100));
  assert.ok(ep.helloDue(200));
  ep.onMessage(10, true);
  assert.ok(ep.helloDue(400));
  ep.onMessage(20, false);
  assert.ok(!ep.helloDue(400));
});

test('INPUT carries every unacked input, at least the last K, at most 128 from ack+1', () => {
  const ep = new Endpoint({ peer: 1, settings, startTime: 0 });
  const q = new InputQueue({ player: 0 });
  for (let f = 0; f < 10; f++) q.add(f, f);
  let m = ep.buildInput(0, q, -1, 5);
  assert.deepEqual([m.start, m.actions.length, m.ack, m.player], [0, 10, -1, 0]);
  ep.onAck(7);
  ep.onAck(3); // a late smaller ack never moves it back
  m = ep.buildInput(0, q, 4, 5);
  assert.deepEqual([m.start, m.actions], [5, [5, 6, 7, 8, 9]], 'last K even though acked up to 7');
  for (let f = 10; f < 300; f++) q.add(f, f % 100);
  m = ep.buildInput(0, q, 4, 5);
  assert.equal(m.start, 8);
  assert.equal(m.actions.length, 128);
  ep.noteInputSent(0, m);
  assert.equal(ep.lastSentThrough, 135);
});

test('inputDue: new input, unacked input or a changed ack', () => {
  const ep = new Endpoint({ peer: 1, settings, startTime: 0 });
  assert.ok(!ep.inputDue(-1, -1));
  assert.ok(ep.inputDue(3, -1));
  ep.noteInputSent(0, { ack: -1, start: 0, actions: [0, 0, 0, 0] });
  assert.ok(ep.inputDue(3, -1), 'not acked yet');
  ep.onAck(3);
  assert.ok(!ep.inputDue(3, -1));
  assert.ok(ep.inputDue(3, 0), 'our ack changed');
});

test('RTT samples from PONG; absurd echoes ignored', () => {
  const ep = new Endpoint({ peer: 1, settings, startTime: 0 });
  assert.equal(ep.onPong(150, 100), 50);
  assert.equal(ep.onPong(150, 200), null);
  assert.deepEqual(ep.rttSamples(), [50]);
  assert.equal(ep.localAdvantage(10), null);
  ep.onRemoteInputs(7);
  assert.equal(ep.localAdvantage(10), 3);
});
