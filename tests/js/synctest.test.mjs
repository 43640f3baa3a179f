import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SyncTestSession } from '../../static/js/synctest.js';
import { episodeSeed } from '../../static/js/session.js';
import { createCounterEnv } from './support/envs.mjs';
import { createJsEnv } from '../../static/js/env_js.js';

const inputs = (f) => [f % 4, (f * 7) % 5];

test('a deterministic environment passes thousands of re-simulated frames across episodes', () => {
  const env = createCounterEnv({ numPlayers: 2, minSteps: 50, maxSteps: 150 });
  const seeds = [];
  const reset = env.reset;
  env.reset = (seed) => { seeds.push(seed); reset(seed); };
  const st = new SyncTestSession({ env, numPlayers: 2, checkDistance: 4, sharedSeed: 77 });
  const r = st.run(3000, inputs);
  assert.equal(r.firstMismatch, null);
  assert.equal(r.mismatches, 0);
  assert.equal(r.frames, 3000);
  assert.ok(r.episodes >= 15);
  assert.ok(r.framesChecked >= 3000 * 4 - 4 * r.episodes * 4);
  assert.deepEqual(seeds.slice(0, 3), [0, 1, 2].map((e) => episodeSeed(77, e)));
});

test('nondeterminism is reported at the exact frame, with both hashes and states', () => {
  for (const d of [1, 2, 8]) {
    const env = createCounterEnv({ numPlayers: 2, minSteps: 500, maxSteps: 600, noiseAt: 77, noiseSalt: 1 });
    const st = new SyncTestSession({ env, numPlayers: 2, checkDistance: d });
    const r = st.run(300, inputs);
    assert.equal(r.firstMismatch.frame, 77, `checkDistance ${d}`);
    assert.notEqual(r.firstMismatch.first_hash, r.firstMismatch.resimulated_hash);
    assert.notDeepEqual(r.firstMismatch.first_state, r.firstMismatch.resimulated_state);
  }
});

test('state kept outside the snapshot is caught (a JS environment whose getState forgets a field)', () => {
  // The env advances a hidden counter that getState() leaves out: re-simulation diverges.
  const game = {
    s: { x: 0 }, hidden: 0,
    reset(seed) { this.s = { x: seed % 10 }; this.hidden = 0; },
    step(a) { this.hidden += 1; this.s.x += a[0] + (this.hidden === 40 ? 1 : 0); return false; },
    getState() { return { x: this.s.x }; },
    setState(v) { this.s = { x: v.x }; },
  };
  const st = new SyncTestSession({ env: createJsEnv(game, { numPlayers: 1 }), numPlayers: 1, checkDistance: 3 });
  const r = st.run(100, () => [1]);
  assert.ok(r.firstMismatch, 'caught');
  // The 40th step() call (re-simulations count: 1 + 3 per frame) re-simulates frame 9.
  assert.equal(r.firstMismatch.frame, 9);
});

test('maxEpisodes ends the run; bad options are refused', () => {
  const env = createCounterEnv({ numPlayers: 2, minSteps: 10, maxSteps: 10 });
  const st = new SyncTestSession({ env, numPlayers: 2, settings: { maxEpisodes: 3 } });
  const r = st.run(1000, inputs);
  assert.equal(r.frames, 30);
  assert.equal(r.episodes, 3);
  assert.throws(() => st.advance([0, 0]), /game is over/);
  assert.throws(() => new SyncTestSession({ env, numPlayers: 2, checkDistance: 0 }), /checkDistance/);
  assert.throws(() => new SyncTestSession({ env: {}, numPlayers: 2 }), /env\.reset/);
  const ok = new SyncTestSession({ env, numPlayers: 2 });
  assert.throws(() => ok.advance([0]), /expected 2 actions/);
});
