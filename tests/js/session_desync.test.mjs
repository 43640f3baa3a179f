// Sync validation inside the session: an environment with a nondeterminism injected at a known
// frame. Every peer must report its FIRST desync at exactly that frame, with both hashes and a
// state dump; later frames keep being compared and counted; the game goes on. The SyncTest
// session catches the same environment in one process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGame } from './support/sim.mjs';
import { createCounterEnv } from './support/envs.mjs';
import { SyncTestSession } from '../../static/js/synctest.js';
import { stateHash } from '../../static/js/hashing.js';

const NOISE_AT = 137;

for (const [numPlayers, link] of [
  [2, { delayMs: 60, jitterMs: 20, loss: 0.1, duplicate: 0.05, reorder: 0.05 }],
  [3, { delayMs: 120, jitterMs: 40, loss: 0.2, duplicate: 0.05, reorder: 0.1 }],
]) {
  test(`${numPlayers} peers each report the first desync at exactly frame ${NOISE_AT}, with both hashes and the state`, () => {
    const g = createGame({
      numPlayers,
      seed: 40 + numPlayers,
      // Every instance injects a different value at step NOISE_AT of episode 0 (frame NOISE_AT).
      makeEnv: (p) => createCounterEnv({ numPlayers, minSteps: 300, maxSteps: 400, noiseAt: NOISE_AT, noiseSalt: p + 1 }),
      settings: { maxEpisodes: 2 },
      link,
    });
    const events = g.sessions.map(() => []);
    g.sessions.forEach((s, i) => s.on('desync', (d) => events[i].push(d)));
    g.runToEnd(600000);
    const records = g.sessions.map((s) => s.record());
    records.forEach((r, i) => {
      assert.equal(r.game_over_reason, 'completed', 'the game goes on to the end');
      assert.ok(r.desyncs.length >= numPlayers - 1, `peer ${i}: ${r.desyncs.length} desyncs`);
      const first = r.desyncs[0];
      assert.equal(Math.min(...r.desyncs.map((d) => d.frame)), NOISE_AT);
      assert.equal(first.frame, NOISE_AT);
      assert.equal(first.episode, 0);
      // One event per peer at the first divergent frame.
      const atFirst = r.desyncs.filter((d) => d.frame === NOISE_AT).map((d) => d.peer_index).sort();
      assert.deepEqual(atFirst, [...Array(numPlayers).keys()].filter((p) => p !== i));
      for (const d of r.desyncs.filter((x) => x.frame === NOISE_AT)) {
        assert.match(d.local_hash, /^[0-9a-f]{16}$/);
        assert.match(d.peer_hash, /^[0-9a-f]{16}$/);
        assert.notEqual(d.local_hash, d.peer_hash);
        // the peer's hash is what that peer computed locally for the same frame
        const peerRow = records[d.peer_index].episodes[0].frames[NOISE_AT];
        assert.equal(peerRow[2], d.peer_hash);
        assert.equal(r.episodes[0].frames[NOISE_AT][2], d.local_hash);
        assert.match(d.time, /^2025-01-01T/);
      }
      // The state dump is the full canonical state of that frame and hashes to the local hash.
      assert.ok(first.state, 'state dump present');
      assert.equal(first.state.t, NOISE_AT + 1);
      assert.notEqual(first.state.noise, 0);
      assert.equal(stateHash(first.state), first.local_hash);
      // Later frames are still compared and counted.
      assert.ok(r.stats.hash_mismatches > 100, `mismatches counted: ${r.stats.hash_mismatches}`);
      assert.ok(r.stats.hashes_compared > r.stats.hash_mismatches);
      // Verified stops right before the first divergent frame.
      assert.equal(r.verified_frame, NOISE_AT - 1);
      // Events fire as mismatches are found (a lost hash can be recovered later, out of order).
      assert.equal(Math.min(...events[i].map((d) => d.frame)), NOISE_AT, 'the desync event fired');
      // Before the divergence everything agrees.
      for (let f = 0; f < NOISE_AT; f++) assert.equal(r.episodes[0].frames[f][2], records[0].episodes[0].frames[f][2]);
    });
  });
}

test('a desync on one peer only: the others agree with each other and blame only that peer', () => {
  const g = createGame({
    numPlayers: 3,
    seed: 9,
    makeEnv: (p) => createCounterEnv({ numPlayers: 3, minSteps: 250, maxSteps: 300, noiseAt: p === 2 ? 60 : null, noiseSalt: 5 }),
    settings: { maxEpisodes: 1 },
    link: { delayMs: 40, jitterMs: 10, loss: 0.05 },
  });
  g.runToEnd(600000);
  const [r0, r1, r2] = g.sessions.map((s) => s.record());
  assert.deepEqual(new Set(r0.desyncs.map((d) => d.peer_index)), new Set([2]));
  assert.deepEqual(new Set(r1.desyncs.map((d) => d.peer_index)), new Set([2]));
  assert.deepEqual(new Set(r2.desyncs.map((d) => d.peer_index)), new Set([0, 1]));
  for (const r of [r0, r1, r2]) assert.equal(r.desyncs[0].frame, 60);
  assert.deepEqual(r0.episodes[0].frames.map((x) => x[2]), r1.episodes[0].frames.map((x) => x[2]));
});

test('state dumps and recorded events are bounded; every mismatch is still counted', () => {
  const g = createGame({
    numPlayers: 2, seed: 4,
    makeEnv: (p) => createCounterEnv({ numPlayers: 2, minSteps: 500, maxSteps: 600, noiseAt: 10, noiseSalt: p }),
    settings: { maxEpisodes: 1, maxDesyncEvents: 5, maxStateDumps: 2 },
    link: { delayMs: 30 },
  });
  g.runToEnd(600000);
  const r = g.sessions[0].record();
  assert.equal(r.desyncs.length, 5);
  assert.equal(r.desyncs.filter((d) => d.state !== null).length, 2);
  assert.deepEqual(r.desyncs.map((d) => d.frame), [10, 11, 12, 13, 14]);
  assert.ok(r.stats.hash_mismatches > 400);
});

test('SyncTest catches the same environment in one process, at the same frame', () => {
  const env = createCounterEnv({ numPlayers: 2, minSteps: 300, maxSteps: 400, noiseAt: NOISE_AT, noiseSalt: 1 });
  const st = new SyncTestSession({ env, numPlayers: 2, checkDistance: 3, sharedSeed: 12 });
  const report = st.run(1000, (f) => [f % 3, (f >> 2) % 5]);
  assert.ok(report.firstMismatch, 'found');
  assert.equal(report.firstMismatch.frame, NOISE_AT);
  assert.equal(report.firstMismatch.episode, 0);
  assert.notEqual(report.firstMismatch.first_hash, report.firstMismatch.resimulated_hash);
  assert.equal(stateHash(report.firstMismatch.first_state), report.firstMismatch.first_hash);
  assert.equal(stateHash(report.firstMismatch.resimulated_state), report.firstMismatch.resimulated_hash);
  assert.equal(report.firstMismatch.first_state.t, NOISE_AT + 1);
});
