// Randomized seeded network runs: 2, 3 and 4 players over links with RTT 0-300 ms, jitter up to
// 50 ms, loss up to 30 %, duplication and reordering, thousands of frames each. Every peer must
// end with the identical confirmed action and hash sequence, no false desync, and no rollback
// deeper than the prediction window. Seeds are fixed and printed in failures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGame } from './support/sim.mjs';
import { createCounterEnv } from './support/envs.mjs';
import { assertAgreement } from './support/checks.mjs';
import { Prng } from '../../static/js/prng.js';

function randomLinks(seed, numPlayers) {
  const p = new Prng(seed);
  const rtt = p.int(301); // 0..300 ms round trip, split unevenly between directions
  const table = new Map();
  for (let a = 0; a < numPlayers; a++) {
    for (let b = a + 1; b < numPlayers; b++) {
      const share = 0.25 + 0.5 * p.float();
      const common = { jitterMs: p.int(51), loss: 0.3 * p.float(), duplicate: 0.1 * p.float(), reorder: 0.1 * p.float() };
      table.set(`${a}>${b}`, { ...common, delayMs: rtt * share });
      table.set(`${b}>${a}`, { ...common, delayMs: rtt * (1 - share) });
    }
  }
  return { rtt, link: (from, to) => table.get(`${from}>${to}`), table };
}

const CASES = [
  // [players, seed, fps, episodes]
  [2, 101, 30, 15], [2, 102, 60, 15], [2, 103, 30, 15], [2, 104, 60, 15],
  [3, 201, 30, 15], [3, 202, 60, 15], [3, 203, 30, 15],
  [4, 301, 30, 15], [4, 302, 60, 15],
];

for (const [numPlayers, seed, fps, episodes] of CASES) {
  test(`${numPlayers} players, seed ${seed}, ${fps} fps: identical confirmed frames and hashes`, () => {
    const { rtt, link, table } = randomLinks(seed, numPlayers);
    const g = createGame({
      numPlayers,
      seed,
      makeEnv: () => createCounterEnv({ numPlayers, minSteps: 150, maxSteps: 400 }),
      settings: { fps, maxEpisodes: episodes },
      link,
    });
    g.runToEnd(30 * 60 * 1000);
    const label = `[seed ${seed}, rtt ${rtt}, links ${JSON.stringify([...table.values()][0])}]`;
    g.sessions.forEach((s, i) => assert.equal(s.state, 'closed', `${label} peer ${i} is ${s.state}`));
    const records = assertAgreement(g, { label });
    const frames = records[0].episodes.reduce((a, e) => a + e.frames.length, 0);
    assert.ok(frames >= 2000, `${label} only ${frames} frames`);
    assert.equal(records[0].episodes.length, episodes);
  });
}

test('the same seed replays the same game exactly (the simulator is deterministic)', () => {
  const run = () => {
    const { link } = randomLinks(7, 3);
    const g = createGame({ numPlayers: 3, seed: 7, makeEnv: () => createCounterEnv({ numPlayers: 3 }), settings: { maxEpisodes: 3 }, link });
    g.runToEnd(600000);
    return g.sessions.map((s) => { const r = s.record(); return JSON.stringify([r.episodes, r.stats]); });
  };
  assert.deepEqual(run(), run());
});

test('with real mispredictions: rollbacks happen, stay within the window, and still agree', () => {
  // 200 ms one way at 60 fps: remote inputs arrive ~10 frames late, beyond inputDelay + window,
  // so the window is exercised and the session stalls instead of predicting further.
  const g = createGame({
    numPlayers: 2, seed: 55, makeEnv: () => createCounterEnv({ numPlayers: 2 }),
    settings: { fps: 60, maxEpisodes: 10, maxPredictionWindow: 6, inputDelay: 2 }, link: { delayMs: 150, jitterMs: 30, loss: 0.1 },
    input: (p, tick, prng) => { if (prng.float() < 0.4) prng.lastAction = prng.int(7) - 3; return prng.lastAction ?? 0; },
  });
  g.runToEnd(600000);
  const records = assertAgreement(g, { window: 6 });
  for (const r of records) {
    assert.ok(r.stats.rollbacks > 50, `rollbacks ${r.stats.rollbacks}`);
    assert.equal(r.stats.max_rollback_depth, 6);
    assert.ok(r.stats.stalled_frames > 0);
    assert.ok(r.stats.mispredicted_frames > 0);
    const h = r.stats.rollback_depth_histogram;
    assert.equal(Object.values(h).reduce((a, b) => a + b, 0), r.stats.rollbacks);
    assert.ok(Object.keys(h).every((k) => Number(k) >= 1 && Number(k) <= 6));
  }
});
