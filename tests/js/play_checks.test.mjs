// play_checks.js: inactivity and slow-connection verdicts on a hand-moved clock.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { createPlayChecks } from '../../static/js/play_checks.js';

test('inactivity: warn, an input clears the warning, then exclusion after the limit', () => {
  const c = createPlayChecks({ inactiveS: 30, inactiveWarnS: 20, maxRttMs: null, startMs: 0 });
  assert.equal(c.enabled, true);
  assert.equal(c.pinging, false);
  assert.equal(c.check(19_999), null);
  assert.deepEqual(c.check(20_000), { warn: { leftS: 10 } });
  c.input(21_000);
  assert.deepEqual(c.check(22_000), { unwarn: true });
  assert.equal(c.check(40_000), null);
  assert.deepEqual(c.check(51_000), { exclude: { reason: 'inactive', detail: 'no input for 30 s' } });
});

test('ping: only an unbroken run of slow round trips for the whole window excludes', () => {
  const c = createPlayChecks({ inactiveS: null, maxRttMs: 300, maxRttForS: 5, startMs: 0 });
  const ping = (at, rtt) => { c.pingSent(at); c.pingAnswered(at + rtt); };
  ping(0, 500);
  ping(1000, 500);
  ping(2000, 100); // a good one breaks the run
  ping(3000, 400);
  assert.equal(c.check(6000), null);
  ping(4000, 400);
  ping(5000, 400);
  ping(6000, 400);
  ping(7000, 400);
  assert.deepEqual(c.check(8000), { exclude: { reason: 'ping', detail: 'round trip to the server above 300 ms for 5 s' } });
});

test('ping: an answer that never comes counts from when it was sent', () => {
  const c = createPlayChecks({ inactiveS: null, maxRttMs: 300, maxRttForS: 5, startMs: 0 });
  c.pingSent(1000);
  assert.equal(c.pingOut, true);
  assert.equal(c.check(1200), null);
  assert.equal(c.check(5999), null);
  assert.equal(c.check(6000).exclude.reason, 'ping');
  assert.equal(createPlayChecks({ startMs: 0 }).enabled, false);
});
