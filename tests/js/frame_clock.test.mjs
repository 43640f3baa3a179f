// frame_clock.js with a stand-in Worker (the real one runs in Chromium: tests/e2e/test_hidden_chromium.py):
// it starts the worker with the period, ticks on every message, stops and terminates it, and
// falls back to main-thread timers (saying why) when no worker can run.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { createFrameClock } from '../../static/js/frame_clock.js';
import { manualTimers } from './support/client_fakes.mjs';

class FakeWorker {
  static made = [];
  constructor(url) {
    this.url = String(url);
    this.posted = [];
    this.terminated = false;
    FakeWorker.made.push(this);
  }
  postMessage(m) { this.posted.push(m); }
  terminate() { this.terminated = true; }
  fire() { this.onmessage?.({ data: 0 }); }
}

test('a worker drives the ticks; stop terminates it', () => {
  FakeWorker.made = [];
  let ticks = 0;
  const timers = manualTimers();
  const clock = createFrameClock({ periodMs: 1000 / 30, onTick: () => { ticks += 1; }, Worker: FakeWorker, timers });
  assert.equal(clock.start(), clock);
  assert.equal(clock.kind, 'worker');
  const w = FakeWorker.made[0];
  assert.match(w.url, /\/static\/js\/frame_clock_worker\.js$/);
  assert.deepEqual(w.posted, [{ cmd: 'start', periodMs: 1000 / 30 }]);
  for (let i = 0; i < 5; i++) w.fire();
  assert.equal(ticks, 5);
  timers.advance(10000);
  assert.equal(ticks, 5, 'no main-thread timer ticks the game');
  assert.equal(timers.pending, 0);
  clock.stop();
  assert.deepEqual(w.posted.at(-1), { cmd: 'stop' });
  assert.ok(w.terminated);
  w.fire();
  assert.equal(ticks, 5, 'nothing after stop');
});

test('no Worker, a Worker that throws, or one that fails to load: main-thread timers, with the reason', () => {
  const cases = [
    [null, /no Worker/],
    [class { constructor() { throw new Error('blocked by CSP'); } }, /could not start: blocked by CSP/],
  ];
  for (const [Worker, reason] of cases) {
    const timers = manualTimers();
    const reasons = [];
    let ticks = 0;
    const clock = createFrameClock({ periodMs: 50, onTick: () => { ticks += 1; }, Worker, timers, onFallback: (r) => reasons.push(r) });
    clock.start();
    assert.equal(clock.kind, 'timer');
    assert.match(clock.fallbackReason, reason);
    assert.equal(reasons.length, 1);
    timers.advance(1000);
    assert.equal(ticks, 21); // at once, then every 50 ms
    clock.stop();
    timers.advance(1000);
    assert.equal(ticks, 21);
  }
  FakeWorker.made = [];
  const timers = manualTimers();
  let ticks = 0;
  const clock = createFrameClock({ periodMs: 100, onTick: () => { ticks += 1; }, Worker: FakeWorker, timers });
  clock.start();
  const w = FakeWorker.made[0];
  w.onerror({ message: 'NetworkError: 404', preventDefault() {} });
  assert.equal(clock.kind, 'timer');
  assert.match(clock.fallbackReason, /404/);
  assert.ok(w.terminated);
  timers.advance(300);
  assert.equal(ticks, 4);
  clock.stop();
  assert.throws(() => createFrameClock({ periodMs: 0, onTick() {} }), RangeError);
});

test('wake: one extra tick at once (the worker answers; without one a 0 timer), never more than one pending', () => {
  FakeWorker.made = [];
  let ticks = 0;
  const timers = manualTimers();
  const clock = createFrameClock({ periodMs: 1000 / 30, onTick: () => { ticks += 1; }, Worker: FakeWorker, timers });
  clock.wake();
  assert.equal(FakeWorker.made.length, 0, 'not running: nothing');
  clock.start();
  const w = FakeWorker.made[0];
  clock.wake();
  clock.wake();
  assert.deepEqual(w.posted.filter((m) => m.cmd === 'wake'), [{ cmd: 'wake' }], 'one wake pending at most');
  w.fire(); // a periodic tick does not answer the wake
  clock.wake();
  assert.equal(w.posted.filter((m) => m.cmd === 'wake').length, 1);
  w.onmessage({ data: { wake: true } });
  assert.equal(ticks, 2);
  clock.wake();
  assert.equal(w.posted.filter((m) => m.cmd === 'wake').length, 2, 'answered: the next wake goes out');
  assert.equal(timers.pending, 0, 'no main-thread timer with a worker');
  clock.stop();

  const t2 = manualTimers();
  let n = 0;
  const fallback = createFrameClock({ periodMs: 100, onTick: () => { n += 1; }, Worker: null, timers: t2 });
  fallback.start(); // ticks at once, next at 100
  fallback.wake();
  fallback.wake();
  t2.advance(0);
  assert.equal(n, 2, 'one extra tick at 0 ms');
  t2.advance(99);
  assert.equal(n, 2);
  fallback.wake();
  fallback.stop();
  t2.advance(1000);
  assert.equal(n, 2, 'stop drops a pending wake');
});
