// Keyboard -> action through an Interactive Gym action mapping (the demo game's).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { createKeyboardInput } from '../../static/js/input.js';

// gem_rush.ACTION_MAPPING after GymScene.gameplay() joined the composite tuples.
const MAPPING = {
  ArrowUp: 1, ArrowDown: 2, ArrowLeft: 3, ArrowRight: 4,
  'ArrowLeft,ArrowUp': 5, 'ArrowRight,ArrowUp': 6, 'ArrowDown,ArrowLeft': 7, 'ArrowDown,ArrowRight': 8,
  w: 1, s: 2, a: 3, d: 4,
};

test('pressed_keys: held keys map to actions, combinations to composite actions', () => {
  const input = createKeyboardInput({ actionMapping: MAPPING, defaultAction: 0 });
  assert.equal(input.sample(), 0);
  input.keyDown('ArrowUp');
  assert.equal(input.sample(), 1);
  assert.equal(input.sample(), 1, 'held keys repeat every frame');
  input.keyDown('ArrowLeft');
  assert.equal(input.sample(), 5);
  input.keyUp('ArrowUp');
  assert.equal(input.sample(), 3);
  input.keyUp('ArrowLeft');
  assert.equal(input.sample(), 0);
});

test('pressed_keys: an unmapped combination falls back to the newest mapped key', () => {
  const input = createKeyboardInput({ actionMapping: MAPPING, defaultAction: 0 });
  input.keyDown('ArrowUp');
  input.keyDown('ArrowDown');
  assert.equal(input.sample(), 2);
  input.keyDown('q');
  assert.equal(input.sample(), 2, 'unmapped key ignored');
  input.keyUp('ArrowDown');
  assert.equal(input.sample(), 1);
});

test('letter keys match regardless of shift; blur releases everything', () => {
  const input = createKeyboardInput({ actionMapping: MAPPING, defaultAction: 0 });
  input.keyDown('W');
  assert.equal(input.sample(), 1);
  input.keyUp('w');
  assert.equal(input.sample(), 0);
  input.keyDown('d');
  input.releaseAll();
  assert.equal(input.sample(), 0);
});

test('single_keystroke: one action per press, then the default', () => {
  const input = createKeyboardInput({ actionMapping: MAPPING, defaultAction: -1, inputMode: 'single_keystroke' });
  input.keyDown('ArrowRight');
  input.keyUp('ArrowRight');
  input.keyDown('ArrowDown');
  assert.deepEqual([input.sample(), input.sample(), input.sample()], [4, 2, -1]);
});

test('attach listens to keydown/keyup/blur on a target and stops scrolling keys', () => {
  const target = new EventTarget();
  const input = createKeyboardInput({ actionMapping: MAPPING });
  input.attach(target);
  const down = (key, repeat = false) => {
    const ev = new Event('keydown', { cancelable: true });
    Object.assign(ev, { key, repeat });
    target.dispatchEvent(ev);
    return ev.defaultPrevented;
  };
  assert.equal(down('ArrowRight'), true);
  assert.equal(down('ArrowRight', true), true);
  assert.equal(down('F5'), false, 'unmapped keys keep their browser meaning');
  assert.equal(input.sample(), 4);
  const up = new Event('keyup');
  up.key = 'ArrowRight';
  target.dispatchEvent(up);
  assert.equal(input.sample(), 0);
  down('a');
  target.dispatchEvent(new Event('blur'));
  assert.equal(input.sample(), 0);
  input.detach();
  down('a');
  assert.equal(input.sample(), 0, 'detached: events ignored');
});

test('bad configuration is a clear error', () => {
  assert.throws(() => createKeyboardInput({}), TypeError);
  assert.throws(() => createKeyboardInput({ actionMapping: { a: 1.5 } }), /signed 32-bit integer/);
  assert.throws(() => createKeyboardInput({ actionMapping: MAPPING, inputMode: 'mouse' }), RangeError);
});
