import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InputQueue, NO_FRAME } from '../../static/js/input_queue.js';

test('confirmed inputs come in frame order; duplicates ignored, gaps refused', () => {
  const q = new InputQueue({ player: 1, defaultAction: 0 });
  assert.equal(q.add(0, 5), 'added');
  assert.equal(q.add(0, 6), 'duplicate');
  assert.equal(q.add(2, 7), 'gap');
  assert.equal(q.add(1, 7), 'added');
  assert.equal(q.lastConfirmedFrame, 1);
  assert.equal(q.confirmed(0), 5);
  assert.equal(q.confirmed(1), 7);
  assert.ok(q.isConfirmed(1));
  assert.ok(!q.isConfirmed(2));
});

test('prediction repeats the last confirmed input (default action before any)', () => {
  const q = new InputQueue({ player: 0, defaultAction: 3 });
  assert.equal(q.inputFor(0), 3);
  q.add(0, 3);
  q.add(1, 4);
  assert.equal(q.inputFor(5), 4);
});

test('a wrong prediction marks the first incorrect frame; a right one does not', () => {
  const q = new InputQueue({ player: 0 });
  q.add(0, 1);
  for (let f = 1; f <= 6; f++) q.inputFor(f); // predicted 1
  assert.equal(q.add(1, 1), 'added');
  assert.equal(q.add(2, 1), 'added');
  assert.equal(q.firstIncorrectFrame, NO_FRAME);
  assert.equal(q.add(3, 2), 'mispredicted');
  assert.equal(q.add(4, 2), 'mispredicted');
  assert.equal(q.firstIncorrectFrame, 3);
  q.resetIncorrect();
  assert.equal(q.firstIncorrectFrame, NO_FRAME);
  assert.equal(q.mispredictions, 2);
});

test('discarded predictions are not compared later', () => {
  const q = new InputQueue({ player: 0 });
  q.add(0, 1);
  for (let f = 1; f <= 4; f++) q.inputFor(f);
  q.discardPredictionsFrom(3, 4);
  q.add(1, 1);
  q.add(2, 1);
  assert.equal(q.add(3, 9), 'added');
  assert.equal(q.firstIncorrectFrame, NO_FRAME);
});

test('default from a frame: confirmed forever after, wrong predictions reported', () => {
  const q = new InputQueue({ player: 2, defaultAction: 0 });
  q.add(0, 4);
  q.add(1, 4);
  for (let f = 2; f <= 5; f++) q.inputFor(f); // predicted 4
  assert.throws(() => q.setDefaultFrom(4, 5), RangeError);
  const wrong = q.setDefaultFrom(2, 5);
  assert.deepEqual(wrong, [2, 3, 4, 5]);
  assert.equal(q.firstIncorrectFrame, 2);
  assert.equal(q.confirmedUpTo(), Infinity);
  assert.ok(q.isConfirmed(1000));
  assert.equal(q.confirmed(1000), 0);
  assert.equal(q.add(2, 7), 'ignored');
});

test('the ring holds a long game without growing', () => {
  const q = new InputQueue({ player: 0, capacity: 64 });
  for (let f = 0; f < 10000; f++) {
    q.add(f, f % 7);
    assert.equal(q.confirmed(f), f % 7);
  }
  assert.throws(() => q.confirmed(10), RangeError);
  assert.throws(() => new InputQueue({ player: 0, capacity: 100 }), RangeError);
});
