import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EpisodeLog } from '../../static/js/record.js';
import { percentile, histogramObject, isoTime } from '../../static/js/stats.js';

test('rows come back exactly as appended', () => {
  const log = new EpisodeLog({ episode: 1, seed: 9, startFrame: 100, numPlayers: 3 });
  const rows = [];
  for (let i = 0; i < 1000; i++) {
    const f = 100 + i;
    const actions = [i % 5, 0 - i || 0, 2 ** 31 - 1 - i];
    const hash = i % 3 === 0 ? null : (i * 7919).toString(16).padStart(16, 'a');
    log.append(f, actions, hash);
    rows.push([f, actions, hash]);
  }
  assert.deepEqual(log.rows(), rows);
  assert.equal(log.lastFrame, 1099);
  assert.throws(() => log.append(2000, [0, 0, 0], null), RangeError);
  log.seal();
  assert.deepEqual(log.rows(), rows);
  assert.ok(log.byteSize() <= 1000 * (12 + 9));
  assert.equal(new EpisodeLog({ episode: 0, seed: 0, startFrame: 0, numPlayers: 2 }).lastFrame, null);
});

test('hash words keep leading zeros and high bits', () => {
  const log = new EpisodeLog({ episode: 0, seed: 0, startFrame: 0, numPlayers: 1 });
  log.append(0, [0], '0000000000000000');
  log.append(1, [0], 'ffffffffffffffff');
  log.append(2, [0], '00000001f0000000');
  assert.deepEqual(log.rows().map((r) => r[2]), ['0000000000000000', 'ffffffffffffffff', '00000001f0000000']);
});

test('stats helpers', () => {
  assert.equal(percentile([], 0.5), null);
  assert.equal(percentile([5, 1, 3], 0.5), 3);
  assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.95), 10);
  assert.deepEqual(histogramObject(new Map([[10, 1], [2, 5]])), { 2: 5, 10: 1 });
  assert.deepEqual(Object.keys(histogramObject(new Map([[10, 1], [2, 5]]))), ['2', '10']);
  assert.equal(isoTime(0), '1970-01-01T00:00:00.000Z');
});
