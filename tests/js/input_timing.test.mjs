// input_timing.js: key-to-screen latency from keydown to the animation frame after the first
// draw that includes the press, on a fake clock and a fake requestAnimationFrame.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createInputTiming } from '../../static/js/input_timing.js';

function fakeFrames() {
  const queue = [];
  return { requestFrame: (cb) => queue.push(cb), run: () => { const q = queue.splice(0); for (const cb of q) cb(); return q.length; } };
}

test('a press is measured from keydown to the animation frame after the draw of its frame', () => {
  let t = 0;
  const frames = fakeFrames();
  const timing = createInputTiming({ now: () => t, requestFrame: frames.requestFrame });
  timing.keyDown('ArrowUp', 5);
  t = 10;
  timing.sampled(-1); // not taken (e.g. the session's frame already had our input): still pending
  t = 33;
  timing.sampled(12); // taken for frame 12 (frame 10 + delay 2)
  timing.drawn(10, 34); // frames 10 and 11 do not include it yet
  timing.drawn(11, 67);
  assert.equal(frames.run(), 0, 'no animation frame requested before the press is drawn');
  timing.drawn(12, 100);
  t = 108;
  timing.drawn(12, 101); // drawn again: nothing new
  assert.equal(frames.run(), 1, 'one animation frame for all presses drawn');
  assert.deepEqual(timing.summary(), { p50: 103, p95: 103, samples: 1 });
  assert.deepEqual(timing.events(), [{ key: 'ArrowUp', down: 5, frame: 12, drawn: 100, shown: 108 }]);
});

test('a frame past the press\'s frame shows it too (the draw skipped frames); percentiles are nearest-rank', () => {
  let t = 0;
  const frames = fakeFrames();
  const timing = createInputTiming({ now: () => t, requestFrame: frames.requestFrame });
  for (let i = 0; i < 20; i++) {
    timing.keyDown('a', i * 100);
    timing.sampled(i * 3);
    t = i * 100 + 10 + i; // latency 10..29 ms
    timing.drawn(i * 3 + 2, t - 1);
    frames.run();
  }
  const s = timing.summary();
  assert.equal(s.samples, 20);
  assert.equal(s.p50, 19);
  assert.equal(s.p95, 28);
});

test('pressed_keys: a tap released before any sample is missed, not measured; held keys wait for a taken sample', () => {
  const timing = createInputTiming({ now: () => 0, requestFrame: null });
  timing.keyDown('a', 1);
  timing.keyUp('a');
  timing.keyDown('b', 2);
  timing.sampled(-1);
  timing.sampled(4);
  timing.drawn(4, 50);
  assert.equal(timing.missed, 1);
  assert.deepEqual(timing.summary(), { p50: 48, p95: 48, samples: 1 }, 'without requestAnimationFrame, shown = drawn');
});

test('single_keystroke: each sample consumes the oldest press; a sample the session refused loses it', () => {
  const timing = createInputTiming({ inputMode: 'single_keystroke', now: () => 0, requestFrame: null });
  timing.keyDown('a', 0);
  timing.keyDown('b', 1);
  timing.keyUp('a'); // released keys stay queued in this mode
  timing.sampled(7, true);
  timing.sampled(-1, true); // 'b' was taken from the queue but the session did not take the sample
  timing.sampled(9, false);
  timing.drawn(20, 30);
  assert.deepEqual(timing.summary(), { p50: 30, p95: 30, samples: 1 });
  assert.equal(timing.missed, 1);
});

test('dropPending forgets presses that no frame showed yet (transition, end)', () => {
  const timing = createInputTiming({ now: () => 0, requestFrame: null });
  timing.keyDown('a', 0);
  timing.sampled(3);
  timing.keyDown('b', 1);
  timing.dropPending();
  timing.drawn(10, 40);
  assert.deepEqual(timing.summary(), { p50: null, p95: null, samples: 0 });
  assert.equal(timing.missed, 2);
});
