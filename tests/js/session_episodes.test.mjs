// Episodes: all peers end an episode at the same CONFIRMED frame (never a predicted one), never
// simulate past a predicted terminal frame, reset with episode_seed(shared, episode), start the
// next one after EPISODE_READY from everyone, and keep frames game-global.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGame } from './support/sim.mjs';
import { createCounterEnv } from './support/envs.mjs';
import { assertAgreement } from './support/checks.mjs';
import { episodeSeed } from '../../static/js/session.js';
import { stateHash } from '../../static/js/hashing.js';

/** Wrap an adapter: stepping again after a step that returned done, without a load or reset in
 * between, is an engine bug (it simulated past a terminal frame). */
function guardTerminal(env, log) {
  let atTerminal = false;
  return {
    numPlayers: env.numPlayers,
    reset(seed) { log.resets.push(seed); atTerminal = false; return env.reset(seed); },
    step(a) {
      if (atTerminal) throw new Error('stepped past a terminal frame');
      const r = env.step(a);
      atTerminal = r.done;
      if (r.done) log.terminals += 1;
      return r;
    },
    save() { return env.save(); },
    load(s) { atTerminal = false; return env.load(s); },
    stateHash() { return env.stateHash(); },
    canonicalState() { return env.canonicalState(); },
  };
}

test('episodes across boundaries: same end frames, episode seeds, contiguous game-global frames', () => {
  const logs = [];
  const g = createGame({
    numPlayers: 3,
    seed: 77,
    makeEnv: (p) => {
      logs[p] = { resets: [], terminals: 0 };
      return guardTerminal(createCounterEnv({ numPlayers: 3, minSteps: 30, maxSteps: 90 }), logs[p]);
    },
    settings: { maxEpisodes: 12, fps: 60 },
    link: { delayMs: 90, jitterMs: 30, loss: 0.15, duplicate: 0.05, reorder: 0.05 },
    input: (p, t, prng) => { if (prng.float() < 0.35) prng.lastAction = prng.int(6); return prng.lastAction ?? 0; },
  });
  const starts = g.sessions.map(() => []);
  g.sessions.forEach((s, i) => s.on('episode_start', (e) => starts[i].push(e)));
  g.runToEnd(600000);
  const records = assertAgreement(g);
  const r = records[0];
  assert.equal(r.episodes.length, 12);
  r.episodes.forEach((ep, e) => {
    assert.equal(ep.episode, e);
    assert.equal(ep.seed, episodeSeed(g.sharedSeed, e));
    assert.equal(ep.last_confirmed_frame, ep.end_frame);
    assert.equal(ep.verified_frame, ep.end_frame);
  });
  for (let p = 0; p < 3; p++) {
    // Every peer reset with exactly the episode seeds, once per episode (the last one ends the game).
    assert.deepEqual(logs[p].resets, r.episodes.map((ep) => ep.seed));
    assert.deepEqual(starts[p].map((e) => [e.episode, e.frame]), r.episodes.map((ep) => [ep.episode, ep.start_frame]));
  }
  // Input-dependent terminals were predicted and paused on at least once somewhere.
  assert.ok(records.some((x) => x.stats.stalled_at_terminal > 0), 'predicted terminals were exercised');
});

test('a predicted terminal that turns out wrong is not an episode end', () => {
  // Done at frame 20 iff player 1's action there is 9. Player 1 holds 9 for frames up to 14,
  // then releases it; 150 ms away, peer 0 simulates frame 20 knowing player 1's inputs only up
  // to about frame 13, predicts 9, reaches a predicted terminal at 20, waits there, then rolls
  // back and plays on to the real end at frame 60.
  const makeEnv = () => {
    let s = null;
    return {
      numPlayers: 2,
      reset(seed) { s = { t: 0, seed, sum: 0 }; },
      step(a) { const end = (s.t === 20 && a[1] === 9) || s.t >= 60; s.sum += a[0] + 2 * a[1]; s.t += 1; return { done: end }; },
      save() { return { ...s }; },
      load(x) { s = { ...x }; },
      stateHash() { return stateHash(s); },
      canonicalState() { return { ...s }; },
    };
  };
  const logs = [];
  const g = createGame({
    numPlayers: 2, seed: 3, makeEnv: (p) => guardTerminal(makeEnv(), (logs[p] = { resets: [], terminals: 0 })),
    settings: { maxEpisodes: 1, fps: 60 },
    link: { delayMs: 150 },
    input: (p, tick, prng, session) => (p === 1 && session.currentFrame < 13 ? 9 : 0),
  });
  g.runToEnd(600000);
  const records = assertAgreement(g);
  assert.equal(records[0].episodes[0].end_frame, 60, 'the real terminal, not the predicted one at 20');
  assert.ok(records[0].stats.stalled_at_terminal > 0, 'peer 0 waited at its predicted terminal');
  assert.ok(logs[0].terminals >= 2, 'the predicted terminal was simulated, then the real one');
});

test('maxStepsPerEpisode ends episodes; maxEpisodes ends the game', () => {
  const g = createGame({
    numPlayers: 2, seed: 8, makeEnv: () => createCounterEnv({ numPlayers: 2, minSteps: 1e9, maxSteps: 1e9 }),
    settings: { maxEpisodes: 4, maxStepsPerEpisode: 50 }, link: { delayMs: 20, loss: 0.05 },
  });
  const over = [];
  g.sessions.forEach((s) => s.on('game_over', (e) => over.push(e)));
  g.runToEnd(600000);
  const records = assertAgreement(g);
  assert.deepEqual(records[0].episodes.map((e) => [e.start_frame, e.end_frame]), [[0, 49], [50, 99], [100, 149], [150, 199]]);
  assert.deepEqual(over.map((e) => e.reason), ['completed', 'completed']);
});

test('peers that disagree on the terminal frame record it and do not wait for each other forever', () => {
  // Peer 1's environment ends episodes 10 frames later than peer 0's: a desync of the done flag.
  const g = createGame({
    numPlayers: 2, seed: 12,
    makeEnv: (p) => createCounterEnv({ numPlayers: 2, minSteps: 1e9, maxSteps: p === 0 ? 100 : 110 }),
    settings: { maxEpisodes: 3 }, link: { delayMs: 40, jitterMs: 10, loss: 0.05 },
  });
  const mismatches = [];
  g.sessions.forEach((s) => s.on('episode_mismatch', (e) => mismatches.push(e)));
  g.runToEnd(600000);
  const records = g.sessions.map((s) => s.record());
  for (const r of records) assert.equal(r.game_over_reason, 'completed');
  assert.ok(mismatches.length >= 1);
  assert.ok(records[1].episode_end_mismatches.some((m) => m.episode === 0 && m.peer_frame === 99));
});

test('resetFreezeFrames: every peer pauses exactly that many ticks; the next episode starts on the same frame', () => {
  const FREEZE = 45;
  const run = (freeze) => {
    const g = createGame({
      numPlayers: 2, seed: 19, makeEnv: () => createCounterEnv({ numPlayers: 2, minSteps: 60, maxSteps: 120 }),
      settings: { maxEpisodes: 4, fps: 30, resetFreezeFrames: freeze },
      link: { delayMs: 45, jitterMs: 15, loss: 0.08, duplicate: 0.02, reorder: 0.03 },
    });
    const marks = g.sessions.map(() => ({ ends: [], starts: [], frozen: [] }));
    g.sessions.forEach((s, i) => {
      s.on('episode_end', (e) => {
        // The environment still holds the episode's final confirmed state (what the page shows).
        marks[i].ends.push({ tick: s.tickCount, frame: e.frame, hash: s.env.stateHash() });
      });
      s.on('episode_start', (e) => marks[i].starts.push({ tick: s.tickCount, frame: e.frame }));
    });
    g.runToEnd(600000);
    return { records: assertAgreement(g), marks };
  };
  const { records, marks } = run(FREEZE);
  const eps = records[0].episodes;
  for (const [p, m] of marks.entries()) {
    assert.equal(m.ends.length, 4);
    for (let e = 0; e < 3; e++) {
      const end = m.ends[e];
      const start = m.starts[e + 1];
      assert.equal(start.frame, end.frame + 1, `peer ${p} episode ${e + 1} starts right after the end frame`);
      assert.equal(start.frame, eps[e + 1].start_frame, `peer ${p}: the same start frame as every peer`);
      // At least the freeze (FREEZE ticks with no frame, then the tick that simulates the first frame).
      assert.ok(start.tick - end.tick >= FREEZE + 1, `peer ${p} episode ${e}: paused ${start.tick - end.tick - 1} ticks`);
      const row = eps[e].frames.at(-1);
      assert.equal(end.hash, row[2], `peer ${p}: the env shows the confirmed end frame during the pause`);
    }
  }
  for (let e = 0; e < 3; e++) {
    // The peer whose READY was the last to be needed pauses exactly FREEZE ticks.
    const pauses = marks.map((m) => m.starts[e + 1].tick - m.ends[e].tick - 1);
    assert.equal(Math.min(...pauses), FREEZE, `episode ${e}: pauses ${pauses}`);
  }
  // Without the freeze the same game pauses only while a READY is on its way: the setting is
  // what paused it above.
  const plain = run(0);
  for (let e = 0; e < 3; e++) {
    const pauses = plain.marks.map((m) => m.starts[e + 1].tick - m.ends[e].tick - 1);
    assert.ok(Math.min(...pauses) <= 3, `episode ${e} without freeze: pauses ${pauses}`);
  }
});
