// Per-player input delays (docs/rollback.md, "Input delay"): players of one game with different
// fixed delays agree frame for frame under impairment, every record holds every player's delay
// per episode, and input_delay 'auto' picks the documented delay from the RTT it measures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGame } from './support/sim.mjs';
import { createCounterEnv, createTrivialEnv } from './support/envs.mjs';
import { assertAgreement } from './support/checks.mjs';
import {
  autoInputDelay, expectedRollbackDepth, rollbackBound, medianRtt, RTT_PROBE_SAMPLES,
} from '../../static/js/input_delay.js';

// 100 ms RTT (50 ms each way), 5 % loss, inputs that change often enough to mispredict.
const LINK = { delayMs: 50, loss: 0.05 };
const busy = (p, tick, prng) => { if (prng.float() < 0.3) prng.lastAction = prng.int(5); return prng.lastAction ?? 0; };

for (const delays of [[0, 0], [0, 3], [2, 1]]) {
  test(`delays (${delays}) at 100 ms RTT and 5 % loss: identical confirmed frames and hashes`, () => {
    const g = createGame({
      numPlayers: 2, seed: 40 + delays[1], makeEnv: () => createCounterEnv({ numPlayers: 2, minSteps: 150, maxSteps: 300 }),
      settings: { maxEpisodes: 3 }, playerSettings: delays.map((d) => ({ inputDelay: d })), link: LINK, input: busy,
    });
    g.runToEnd(600000);
    const records = assertAgreement(g, { label: `(${delays})` });
    for (const r of records) {
      assert.equal(r.episodes.length, 3);
      for (const ep of r.episodes) assert.deepEqual(ep.input_delays, delays);
    }
    assert.ok(records[0].stats.rollbacks + records[1].stats.rollbacks > 10, 'rollbacks happen');
    // A player's first delay frames hold the default action; its sampled inputs follow.
    const rows = records[0].episodes[0].frames;
    for (let p = 0; p < 2; p++) for (let f = 0; f < Math.max(1, delays[p]); f++) assert.equal(rows[f][1][p], 0);
    // A player's delay shortens the OTHER peer's rollbacks (its inputs arrive earlier relative
    // to that peer's frame): the peer whose partner has the larger delay re-simulates less.
    if (delays[0] !== delays[1]) {
      const resimulated = (r) => Object.entries(r.stats.rollback_depth_histogram).reduce((a, [k, v]) => a + Number(k) * v, 0);
      const calm = delays[1] > delays[0] ? 0 : 1;
      assert.ok(resimulated(records[calm]) < resimulated(records[1 - calm]), `re-simulated frames ${records.map(resimulated)}`);
    }
  });
}

test('three players with delays (0, 3, 1) and 10 % loss agree too', () => {
  const g = createGame({
    numPlayers: 3, seed: 44, makeEnv: () => createCounterEnv({ numPlayers: 3, minSteps: 100, maxSteps: 200 }),
    settings: { maxEpisodes: 2 }, playerSettings: [{ inputDelay: 0 }, { inputDelay: 3 }, { inputDelay: 1 }],
    link: { delayMs: 40, jitterMs: 15, loss: 0.1, reorder: 0.05 }, input: busy,
  });
  g.runToEnd(600000);
  for (const r of assertAgreement(g)) for (const ep of r.episodes) assert.deepEqual(ep.input_delays, [0, 3, 1]);
});

test("'auto': the documented rule (depth floor(RTT / 2T) + 1 - d kept within floor(window / 2))", () => {
  assert.equal(rollbackBound(8), 4);
  assert.equal(rollbackBound(0), 0);
  // [rtt ms, fps, window] -> delay
  const table = [
    [0, 30, 8, 0], [1, 30, 8, 0], [80, 30, 8, 0], [150, 30, 8, 0], [266, 30, 8, 0], [267, 30, 8, 1], [300, 30, 8, 1],
    [500, 30, 8, 4], [0, 60, 8, 0], [133, 60, 8, 0], [134, 60, 8, 1], [150, 60, 8, 1], [200, 60, 8, 3],
    [300, 60, 8, 6], [0, 30, 0, 1], [10, 30, 1, 1], [10, 30, 2, 0], [2000, 30, 8, 16], [Infinity, 30, 8, 16], [null, 60, 8, 16],
  ];
  for (const [rtt, fps, w, d] of table) assert.equal(autoInputDelay(rtt, fps, w), d, `rtt ${rtt} fps ${fps} window ${w}`);
  assert.equal(expectedRollbackDepth(150, 30, 0), 3);
  assert.equal(expectedRollbackDepth(150, 30, 5), 0);
  assert.equal(medianRtt([]), null);
  assert.equal(medianRtt([30, 10, 20, 1000]), 20, 'a late outlier does not move the median');
});

for (const [fps, rtt] of [[30, 0], [30, 100], [30, 300], [60, 150], [60, 300]]) {
  test(`'auto' at ${fps} fps and ${rtt} ms RTT measures the RTT before the game and picks ${autoInputDelay(rtt, fps, 8)}`, () => {
    const g = createGame({
      numPlayers: 2, seed: 50 + rtt, makeEnv: () => createTrivialEnv({ numPlayers: 2 }),
      settings: { fps, inputDelay: 'auto', maxStepsPerEpisode: 200, maxEpisodes: 2 }, link: { delayMs: rtt / 2, loss: 0.05 },
    });
    g.runToEnd(600000);
    const want = autoInputDelay(rtt, fps, 8);
    for (const r of assertAgreement(g)) {
      for (const ep of r.episodes) assert.deepEqual(ep.input_delays, [want, want]);
      assert.equal(r.stats.input_delay, want);
      assert.equal(r.stats.input_delay_rtt_ms, rtt, 'the simulated link has no jitter: the probe sees the exact RTT');
      assert.ok(r.stats.rtt_ms.samples >= RTT_PROBE_SAMPLES);
    }
  });
}

test("'auto' with no answer to the probe within 2 s picks the largest delay, and the game still agrees", () => {
  // 1.2 s each way: no PONG is back before the probe gives up.
  const g = createGame({
    numPlayers: 2, seed: 61, makeEnv: () => createTrivialEnv({ numPlayers: 2 }),
    settings: { fps: 30, maxStepsPerEpisode: 100, maxEpisodes: 1, disconnectTimeoutMs: 20000, disconnectNotifyMs: 10000 }, link: { delayMs: 1200 },
  });
  g.runToEnd(600000);
  for (const r of assertAgreement(g)) {
    assert.deepEqual(r.episodes[0].input_delays, [16, 16]);
    assert.equal(r.stats.input_delay_rtt_ms, null);
  }
});
