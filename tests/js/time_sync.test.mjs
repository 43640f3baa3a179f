import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TimeSync } from '../../static/js/time_sync.js';

test('no recommendation without enough samples from both sides', () => {
  const t = new TimeSync(30);
  for (let i = 0; i < 30; i++) t.addLocal(6);
  assert.equal(t.frameAdvantage(), null);
  assert.equal(t.recommendWait(10), 0);
  t.addRemote(-6);
  t.addRemote(-6);
  assert.equal(t.recommendWait(10), 0);
  t.addRemote(-6);
  assert.equal(t.frameAdvantage(), 6);
  assert.equal(t.recommendWait(10), 6);
  assert.equal(t.recommendWait(4), 4, 'capped');
});

test('meet in the middle: the one-way delay seen by both sides cancels out', () => {
  // Both sides see the other 3 frames behind because of delay; we are also 4 frames ahead.
  const t = new TimeSync(30);
  for (let i = 0; i < 30; i++) t.addLocal(3 + 4);
  for (let i = 0; i < 5; i++) t.addRemote(3 - 4);
  assert.equal(t.frameAdvantage(), 4);
  // The peer that is behind never waits.
  const u = new TimeSync(30);
  for (let i = 0; i < 30; i++) u.addLocal(3 - 4);
  for (let i = 0; i < 5; i++) u.addRemote(3 + 4);
  assert.equal(u.recommendWait(10), 0);
});

test('the window slides and clear() starts over', () => {
  const t = new TimeSync(4, 1);
  for (let i = 0; i < 4; i++) t.addLocal(10);
  for (let i = 0; i < 4; i++) t.addLocal(2);
  t.addRemote(0);
  assert.equal(t.frameAdvantage(), 1);
  t.clear();
  assert.equal(t.frameAdvantage(), null);
});
