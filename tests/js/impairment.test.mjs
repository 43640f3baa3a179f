import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createImpairment } from '../../static/js/impairment.js';

function scheduleMany(opts, n = 2000, step = 10) {
  const imp = createImpairment(opts);
  const out = [];
  for (let i = 0; i < n; i++) out.push(imp.schedule(i * step, 20));
  return { imp, out };
}

test('no impairment: every message delivered once, immediately', () => {
  const { out } = scheduleMany({ seed: 1 }, 100);
  out.forEach((d, i) => assert.deepEqual(d, [i * 10]));
});

test('same seed -> same schedule; different seed -> different schedule', () => {
  const o = { delayMs: 40, jitterMs: 20, loss: 0.2, duplicate: 0.1, reorder: 0.1 };
  const a = scheduleMany({ seed: 5, ...o }).out;
  const b = scheduleMany({ seed: 5, ...o }).out;
  const c = scheduleMany({ seed: 6, ...o }).out;
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('delay and jitter bound the delivery time; without reorder the order is kept', () => {
  const { out } = scheduleMany({ seed: 3, delayMs: 50, jitterMs: 30 });
  let last = -Infinity;
  out.forEach((d, i) => {
    assert.equal(d.length, 1);
    assert.ok(d[0] >= i * 10 + 50, 'at least the base delay');
    assert.ok(d[0] <= i * 10 + 80 + 30, 'at most delay + jitter (+ FIFO wait)');
    assert.ok(d[0] >= last, 'FIFO');
    last = d[0];
  });
});

test('loss, duplication and reordering happen at about their rates', () => {
  const { out, imp } = scheduleMany({ seed: 11, delayMs: 20, jitterMs: 10, loss: 0.3, duplicate: 0.2, reorder: 0.25 }, 20000);
  const dropped = out.filter((d) => d.length === 0).length / out.length;
  const dup = out.filter((d) => d.length === 2).length / out.filter((d) => d.length > 0).length;
  assert.ok(Math.abs(dropped - 0.3) < 0.02, `loss ${dropped}`);
  assert.ok(Math.abs(dup - 0.2) < 0.02, `dup ${dup}`);
  assert.equal(imp.counts.messages, 20000);
  // some message is delivered before an earlier-sent one
  let overtaken = 0;
  let maxSoFar = -Infinity;
  for (const d of out) {
    if (d.length === 0) continue;
    if (d[0] < maxSoFar) overtaken += 1;
    maxSoFar = Math.max(maxSoFar, d[0]);
  }
  assert.ok(overtaken > 100, `reordered ${overtaken}`);
});

test('the log records each decision and stays bounded', () => {
  const imp = createImpairment({ seed: 2, loss: 0.5, logLimit: 50 });
  for (let i = 0; i < 200; i++) imp.schedule(i, i);
  assert.equal(imp.log.length, 50);
  assert.equal(imp.log[49].t, 199);
  assert.equal(imp.log[49].size, 199);
  assert.ok(Array.isArray(imp.log[0].deliveries));
});

test('bad settings are refused with the setting named', () => {
  assert.throws(() => createImpairment({ seed: 1, loss: 1.5 }), /impairment\.loss/);
  assert.throws(() => createImpairment({ seed: -1 }), /impairment\.seed/);
  assert.throws(() => createImpairment({ seed: 1, delayMs: NaN }), /impairment\.delayMs/);
});
