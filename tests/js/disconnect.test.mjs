import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DisconnectAgreement } from '../../static/js/disconnect.js';

test('decides D = K + 1 only when every remaining peer announced exactly our K', () => {
  const a = new DisconnectAgreement(3);
  assert.equal(a.tryDecide([1, 2], 10), null);
  a.announce(1, 10);
  assert.equal(a.tryDecide([1, 2], 10), null);
  a.announce(2, 12);
  assert.equal(a.tryDecide([1, 2], 10), null, 'peer 2 knows more: we must merge its relay first');
  assert.equal(a.tryDecide([1, 2], 12), null, 'peer 1 has not announced 12 yet');
  a.announce(1, 12);
  a.announce(1, 11); // a late, smaller announcement never moves it back
  assert.equal(a.tryDecide([1, 2], 12), 13);
  assert.equal(a.tryDecide([1, 2], 99), 13, 'decided once');
});

test('alone: decide at once', () => {
  assert.equal(new DisconnectAgreement(1).tryDecide([], 5), 6);
});

test('relay resend rule: on change, every resendMs, until the peer hashed a frame >= D', () => {
  const a = new DisconnectAgreement(2);
  assert.ok(a.relayDue(1, 0, 5, 100, -1));
  a.noteRelay(1, 0, 5);
  assert.ok(!a.relayDue(1, 50, 5, 100, -1));
  assert.ok(a.relayDue(1, 50, 6, 100, -1), 'knowledge grew');
  assert.ok(a.relayDue(1, 100, 5, 100, -1));
  a.tryDecide([], 5);
  assert.ok(a.relayDue(1, 200, 5, 100, 5));
  assert.ok(!a.relayDue(1, 200, 5, 100, 6), 'the peer confirmed a frame >= D: it has decided');
});
