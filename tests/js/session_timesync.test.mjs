// Time sync: a late joiner, asymmetric paths and a peer whose clock runs slow. Frame advantage
// must converge and neither peer may stall for long.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGame } from './support/sim.mjs';
import { createCounterEnv } from './support/envs.mjs';
import { assertAgreement } from './support/checks.mjs';

const longEnv = () => createCounterEnv({ numPlayers: 2, minSteps: 1e9, maxSteps: 1e9 });

function frameGap(g) {
  return Math.abs(g.sessions[0].currentFrame - g.sessions[1].currentFrame);
}

test('late joiner (500 ms): the game starts for both, frame advantage converges, no long stall', () => {
  const g = createGame({ numPlayers: 2, seed: 21, makeEnv: longEnv, settings: { fps: 30, maxStepsPerEpisode: 900, maxEpisodes: 1 }, startAt: [0, 500], link: { delayMs: 40, jitterMs: 10 } });
  g.run(15000);
  for (const s of g.sessions) {
    const adv = s.peerInfo()[0].frame_advantage;
    assert.ok(adv !== null && Math.abs(adv) <= 1, `advantage ${adv}`);
  }
  assert.ok(frameGap(g) <= 2, `frame gap ${frameGap(g)}`);
  g.runToEnd(600000);
  assertAgreement(g);
  for (const r of g.results) assert.ok(r.maxStallRun <= 3, `longest stall ${r.maxStallRun} ticks`);
});

test('asymmetric RTT (20 ms one way, 180 ms the other): converges, stalls stay short', () => {
  const g = createGame({
    numPlayers: 2, seed: 22, makeEnv: longEnv, settings: { fps: 60, maxStepsPerEpisode: 1500, maxEpisodes: 1 },
    link: (from) => ({ delayMs: from === 0 ? 20 : 180, jitterMs: 10 }),
  });
  g.run(20000);
  const adv = g.sessions.map((s) => s.peerInfo()[0].frame_advantage);
  // Each side's estimate includes half the path asymmetry in opposite directions; their
  // difference is what time sync drives to zero.
  assert.ok(adv.every((a) => a !== null && Math.abs(a) <= 1.5), `advantages ${adv}`);
  g.runToEnd(600000);
  const records = assertAgreement(g);
  for (const r of g.results) assert.ok(r.maxStallRun <= 5, `longest stall ${r.maxStallRun} ticks`);
  for (const r of records) assert.ok(r.stats.stalled_frames < 0.02 * r.stats.frames_advanced, `stalled ${r.stats.stalled_frames}`);
});

test('a peer whose clock runs 5 % slow: the faster one waits instead of running away', () => {
  const g = createGame({
    numPlayers: 2, seed: 23, makeEnv: longEnv, settings: { fps: 30, maxStepsPerEpisode: 1200, maxEpisodes: 1, inputDelay: 2 },
    tickPeriodMs: [1000 / 30, 1000 / 28.5], link: { delayMs: 60, jitterMs: 10 },
  });
  g.runToEnd(600000);
  assertAgreement(g);
  const [r0, r1] = g.sessions.map((s) => s.record().stats);
  assert.ok(r0.timesync_wait_frames > 30, `fast peer waited ${r0.timesync_wait_frames} frames`);
  assert.equal(r1.timesync_wait_frames, 0, 'the slow peer never waits');
  for (const r of g.results) assert.ok(r.maxStallRun <= 3, `longest stall ${r.maxStallRun} ticks`);
  assert.ok(r0.stalled_frames + r1.stalled_frames < 20, `stalls ${r0.stalled_frames} + ${r1.stalled_frames}`);
});
