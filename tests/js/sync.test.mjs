import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SyncLayer, NO_FRAME } from '../../static/js/sync.js';
import { createCounterEnv } from './support/envs.mjs';

/** Reference: simulate frames 0..n-1 from scratch with exact inputs, return hash per frame. */
function reference(inputs, numPlayers, seed) {
  const env = createCounterEnv({ numPlayers, minSteps: 1e9, maxSteps: 1e9 });
  env.reset(seed);
  return inputs.map((a) => {
    env.step(a);
    return env.stateHash();
  });
}

test('prediction, then rollback to the first wrong frame reproduces the exact state', () => {
  const env = createCounterEnv({ numPlayers: 2, minSteps: 1e9, maxSteps: 1e9 });
  const sync = new SyncLayer({ env, numPlayers: 2 });
  sync.startEpisode(77, 0);
  const p0 = [1, 1, 2, 2, 3, 3, 3, 0];
  const p1 = [0, 0, 0, 4, 4, 4, 1, 1];
  // player 0 local, all known; player 1 known only up to frame 1
  for (let f = 0; f < 8; f++) sync.addInput(0, f, p0[f]);
  sync.addInput(1, 0, p1[0]);
  sync.addInput(1, 1, p1[1]);
  for (let f = 0; f < 6; f++) sync.advanceFrame();
  assert.equal(sync.confirmedFrame(), 1);
  assert.equal(sync.predictionDepth(), 4);
  // frames 2 (0, predicted 0: right), 3 (4, predicted 0: wrong)
  sync.addInput(1, 2, p1[2]);
  sync.addInput(1, 3, p1[3]);
  assert.equal(sync.firstIncorrectFrame(), 3);
  const depth = sync.rollback();
  assert.equal(depth, 3);
  assert.equal(sync.currentFrame, 6);
  assert.equal(sync.stats.rollbacks, 1);
  assert.deepEqual([...sync.stats.rollbackDepthHistogram], [[3, 1]]);
  for (let f = 4; f < 8; f++) sync.addInput(1, f, p1[f]);
  sync.rollback();
  sync.advanceFrame();
  sync.advanceFrame();
  const hashes = sync.collectConfirmedHashes();
  const ref = reference(p0.map((a, i) => [a, p1[i]]), 2, 77);
  assert.deepEqual(hashes.map((h) => h.frame), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(hashes.map((h) => h.hash), ref);
  assert.equal(env.stateHash(), ref[7], 'current state restored after hashing from snapshots');
});

test('hashes are computed only for confirmed frames and only once', () => {
  const env = createCounterEnv({ numPlayers: 2, minSteps: 1e9, maxSteps: 1e9 });
  const sync = new SyncLayer({ env, numPlayers: 2, hashInterval: 2 });
  sync.startEpisode(1, 0);
  for (let f = 0; f < 10; f++) sync.addInput(0, f, 1);
  for (let f = 0; f < 3; f++) sync.addInput(1, f, 2);
  for (let f = 0; f < 6; f++) sync.advanceFrame();
  const h1 = sync.collectConfirmedHashes();
  assert.deepEqual(h1.map((h) => h.frame), [0, 2]);
  assert.deepEqual(sync.collectConfirmedHashes(), []);
  for (let f = 3; f < 6; f++) sync.addInput(1, f, 2);
  assert.equal(sync.firstIncorrectFrame(), NO_FRAME, 'predictions were right');
  const h2 = sync.collectConfirmedHashes();
  assert.deepEqual(h2.map((h) => h.frame), [4]);
});

test('a terminal frame stops the simulation; an earlier terminal found by rollback truncates', () => {
  // episode ends when the env says so: maxSteps 5
  const env = createCounterEnv({ numPlayers: 2, minSteps: 1e9, maxSteps: 5 });
  const sync = new SyncLayer({ env, numPlayers: 2 });
  sync.startEpisode(3, 0);
  for (let f = 0; f < 10; f++) sync.addInput(0, f, 0);
  let done = false;
  while (!done) done = sync.advanceFrame();
  assert.equal(sync.doneAt, 4);
  assert.ok(!sync.canAdvance());
  // maxStepsPerEpisode also ends an episode
  const env2 = createCounterEnv({ numPlayers: 2, minSteps: 1e9, maxSteps: 1e9 });
  const s2 = new SyncLayer({ env: env2, numPlayers: 2, maxStepsPerEpisode: 3 });
  s2.startEpisode(3, 10);
  assert.equal(s2.advanceFrame(), false);
  assert.equal(s2.advanceFrame(), false);
  assert.equal(s2.advanceFrame(), true);
  assert.equal(s2.doneAt, 12);
});

test('truncateAfter drops predicted frames and restores the state', () => {
  const env = createCounterEnv({ numPlayers: 2, minSteps: 1e9, maxSteps: 1e9 });
  const sync = new SyncLayer({ env, numPlayers: 2 });
  sync.startEpisode(9, 0);
  for (let f = 0; f < 6; f++) sync.addInput(0, f, 1);
  for (let f = 0; f < 3; f++) sync.addInput(1, f, 1);
  for (let f = 0; f < 6; f++) sync.advanceFrame();
  const hashes = sync.collectConfirmedHashes();
  sync.truncateAfter(2);
  assert.equal(sync.currentFrame, 3);
  assert.equal(env.stateHash(), hashes[2].hash);
  assert.equal(sync.snapshots.has(3), false);
});

test('canonicalStateAt gives the state of a past frame and restores the current one', () => {
  const env = createCounterEnv({ numPlayers: 2, minSteps: 1e9, maxSteps: 1e9 });
  const sync = new SyncLayer({ env, numPlayers: 2 });
  sync.startEpisode(5, 0);
  for (let f = 0; f < 4; f++) {
    sync.addInput(0, f, f);
    sync.addInput(1, f, 1);
    sync.advanceFrame();
  }
  const cur = env.stateHash();
  const s1 = sync.canonicalStateAt(1);
  assert.equal(s1.t, 2);
  assert.equal(env.stateHash(), cur);
  assert.equal(sync.canonicalStateAt(99), null);
});

test('prune keeps the rollback base and unverified frames, within the cap', () => {
  const env = createCounterEnv({ numPlayers: 2, minSteps: 1e9, maxSteps: 1e9 });
  const sync = new SyncLayer({ env, numPlayers: 2 });
  sync.startEpisode(5, 0);
  for (let f = 0; f < 100; f++) {
    sync.addInput(0, f, 1);
    if (f < 90) sync.addInput(1, f, 1);
    sync.advanceFrame();
  }
  sync.prune(50, 1000);
  assert.equal(Math.min(...sync.snapshots.keys()), 50);
  sync.prune(50, 10);
  assert.equal(Math.min(...sync.snapshots.keys()), 79);
  sync.prune(95, 1000);
  assert.equal(Math.min(...sync.snapshots.keys()), 89, 'never past the last confirmed frame');
});
