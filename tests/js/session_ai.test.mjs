// AI seats in the rollback engine: players without a peer whose action each environment
// chooses inside the simulated step from the state it starts from. Every human peer records the
// same AI actions, and on every confirmed frame that action is the policy's choice from the
// confirmed state (checked by replaying the confirmed rows), however deep the rollbacks were.
// A game whose only other player is an AI seat runs with no peer at all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGame } from './support/sim.mjs';
import { createCounterEnv, withAiSeats } from './support/envs.mjs';
import { assertAgreement } from './support/checks.mjs';
import { P2PSession, episodeSeed } from '../../static/js/session.js';

// Depends on every player's past actions (acc), so a misprediction changes the AI's choice.
const policy = (state, seat, step) => (state.acc + 3 * seat + step) % 5;

/** Replay confirmed rows in a fresh env: each recorded AI action is the policy's choice there. */
function assertAiFollowsConfirmedState(record, numPlayers, seats) {
  const env = createCounterEnv({ numPlayers, minSteps: 60, maxSteps: 150 });
  let checked = 0;
  for (const ep of record.episodes) {
    env.reset(ep.seed);
    ep.frames.forEach((row, step) => {
      for (const p of seats) {
        assert.equal(row[1][p], policy(env.canonicalState(), p, step), `frame ${row[0]}: AI seat ${p}`);
        checked += 1;
      }
      env.step(row[1]);
      assert.equal(env.stateHash(), row[2], `frame ${row[0]}: replayed hash`);
    });
  }
  return checked;
}

test('2 humans + 1 AI seat (the middle player) over a lossy 150 ms link: every peer records the same AI actions, chosen from confirmed states', () => {
  const seats = [1];
  const g = createGame({
    numPlayers: 3, seed: 17, aiSeats: seats,
    makeEnv: () => withAiSeats(createCounterEnv({ numPlayers: 3, minSteps: 60, maxSteps: 150 }), seats, policy),
    settings: { fps: 30, maxEpisodes: 4, inputDelay: 0 }, link: { delayMs: 75, jitterMs: 20, loss: 0.05 },
    input: (p, tick, prng) => { if (prng.float() < 0.3) prng.lastAction = prng.int(5); return prng.lastAction ?? 0; },
  });
  g.runToEnd(600000);
  assert.equal(g.sessions.length, 2);
  const records = assertAgreement(g);
  for (const r of records) {
    assert.ok(r.stats.rollbacks > 20, `rollbacks ${r.stats.rollbacks}: the AI's choices were re-run`);
    assert.ok(assertAiFollowsConfirmedState(r, 3, seats) > 200);
    for (const ep of r.episodes) assert.equal(ep.input_delays[1], 0, 'an AI seat acts with no delay');
  }
  // Re-simulation re-ran the policy: more decisions than confirmed frames.
  const frames = records[0].episodes.reduce((a, e) => a + e.frames.length, 0);
  assert.ok(g.envs[0].policyCalls > frames, `${g.envs[0].policyCalls} policy calls for ${frames} frames`);
  // Nobody sends the AI seat anything, and its column varies.
  const column = records[0].episodes.flatMap((e) => e.frames.map((r) => r[1][1]));
  assert.ok(new Set(column).size >= 3, `AI actions ${[...new Set(column)]}`);
});

test('1 human + 1 AI seat: the session runs alone, with no peer and no message, to the end', () => {
  const sent = [];
  const env = withAiSeats(createCounterEnv({ numPlayers: 2, minSteps: 30, maxSteps: 80 }), [0], policy);
  let t = 0;
  const s = new P2PSession({
    env, transport: { send: (peer, bytes) => sent.push([peer, bytes]) }, localPlayer: 1, numPlayers: 2, aiSeats: [0],
    sharedSeed: 1234, settings: { maxEpisodes: 2, countdownFrames: 6 }, now: () => t, wallClock: () => 1e12 + t,
  });
  const events = [];
  s.on('game_over', (ev) => events.push(['game_over', ev.reason]));
  s.on('countdown', (ev) => events.push(['countdown', ev.seconds]));
  s.start();
  for (let i = 0; i < 2000 && s.state !== 'closed'; i++) {
    s.tick(i % 7 === 0 ? 2 : 0);
    t += 1000 / 30;
  }
  assert.equal(s.state, 'closed');
  assert.deepEqual(sent, []);
  assert.deepEqual(events.at(-1), ['game_over', 'completed']);
  assert.ok(events.some((e) => e[0] === 'countdown'), 'the countdown still runs');
  const r = s.record();
  assert.equal(r.episodes.length, 2);
  assert.equal(r.episodes[0].seed, episodeSeed(1234, 0));
  assert.equal(r.verified_frame, r.episodes.at(-1).end_frame, 'with nobody to compare with, every hashed frame counts');
  assert.equal(r.stats.rollbacks, 0);
  assert.deepEqual(r.episodes[0].input_delays, [0, 0]);
  assert.ok(assertAiFollowsConfirmedState(r, 2, [0]) > 40);
  assert.ok(r.episodes.flatMap((e) => e.frames).some((row) => row[1][1] === 2), 'the human input is recorded');
});

test('aiSeats must be other players than the local one', () => {
  const env = createCounterEnv({ numPlayers: 2 });
  const base = { env, transport: { send() {} }, localPlayer: 0, numPlayers: 2, sharedSeed: 1 };
  assert.throws(() => new P2PSession({ ...base, aiSeats: [0] }), /aiSeats must be distinct player indices other than localPlayer/);
  assert.throws(() => new P2PSession({ ...base, aiSeats: [2] }), /aiSeats/);
  assert.throws(() => new P2PSession({ ...base, aiSeats: [1, 1] }), /aiSeats/);
});
