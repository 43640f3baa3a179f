// The start countdown: after the handshake each peer counts countdownFrames ticks down to
// frame 0, and COUNTDOWN messages line the peers up, so the game starts at about the same
// moment everywhere even when one peer finished its handshake much later.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGame, confirmedRows } from './support/sim.mjs';
import { createCounterEnv } from './support/envs.mjs';
import { StartCountdown } from '../../static/js/countdown.js';

const T0 = Date.UTC(2025, 0, 1);
const env = () => createCounterEnv({ numPlayers: 2, minSteps: 60, maxSteps: 90 });

function watch(g) {
  const seen = g.sessions.map(() => ({ seconds: [], startedAt: null, firstFrameAt: null }));
  g.sessions.forEach((s, i) => {
    s.on('countdown', (e) => seen[i].seconds.push(e.seconds));
    s.on('started', (e) => { seen[i].startedAt = Date.parse(e.time) - T0; });
    s.on('episode_start', (e) => { if (e.episode === 0) seen[i].firstFrameAt = g.clock.now(); });
  });
  return seen;
}

test('3-2-1: both peers count down and start frame 0 together; nothing but COUNTDOWN goes out before', () => {
  const g = createGame({ numPlayers: 2, seed: 4, makeEnv: env, settings: { countdownFrames: 90, maxEpisodes: 1 }, link: { delayMs: 40, jitterMs: 10 } });
  const seen = watch(g);
  g.run(2000);
  for (const s of g.sessions) {
    assert.equal(s.state, 'countdown');
    assert.equal(s.currentFrame, 0);
    assert.equal(s.stats().sent_by_type.input.messages, 0, 'no INPUT before frame 0');
    assert.ok(s.stats().sent_by_type.countdown.messages > 40);
    assert.ok(s.countdownLeft > 0 && s.countdownLeft < 90);
  }
  g.runToEnd(60000);
  for (const [i, s] of seen.entries()) {
    assert.deepEqual(s.seconds, [3, 2, 1], `peer ${i}`);
    assert.ok(s.firstFrameAt >= 3000 && s.firstFrameAt < 3400, `peer ${i} frame 0 at ${s.firstFrameAt} ms`);
    assert.ok(Math.abs(s.startedAt - s.firstFrameAt) < 1, 'frame 0 runs in the tick that ends the countdown');
  }
  assert.ok(Math.abs(seen[0].firstFrameAt - seen[1].firstFrameAt) <= 2 * (1000 / 30));
  assert.deepEqual(confirmedRows(g.sessions[0]), confirmedRows(g.sessions[1]));
  for (const s of g.sessions) {
    assert.equal(s.record().game_over_reason, 'completed');
    assert.equal(s.record().stats.countdown_frames, 90);
    assert.equal(s.countdownLeft, 0);
  }
});

test('a peer that finished its handshake 1.2 s later: the other holds its count and they start together', () => {
  const g = createGame({ numPlayers: 2, seed: 8, makeEnv: env, settings: { countdownFrames: 90, maxEpisodes: 1 }, link: { delayMs: 30 } });
  const seen = watch(g);
  // Player 0's HELLOs do not reach player 1 for 1.2 s: player 0 has player 1's HELLO (and
  // starts counting) long before player 1 has player 0's.
  g.block(0, 1);
  g.run(1200);
  assert.equal(g.sessions[0].state, 'countdown');
  assert.equal(g.sessions[1].state, 'handshake');
  g.unblock(0, 1);
  g.runToEnd(60000);
  const gap = Math.abs(seen[0].firstFrameAt - seen[1].firstFrameAt);
  assert.ok(gap <= 3 * (1000 / 30), `frame 0 ${gap} ms apart`);
  const held = g.sessions[0].record().stats.countdown_held_frames;
  assert.ok(held >= 25 && held <= 45, `player 0 held ${held} ticks (about 1.2 s at 30 fps)`);
  assert.equal(g.sessions[1].record().stats.countdown_held_frames, 0, 'the peer behind never holds');
  assert.deepEqual(confirmedRows(g.sessions[0]), confirmedRows(g.sessions[1]));
});

test('with loss and a countdown, the game still agrees; no countdown: frame 0 right after the handshake', () => {
  const lossy = createGame({ numPlayers: 2, seed: 12, makeEnv: env, settings: { countdownFrames: 60, maxEpisodes: 2 }, link: { delayMs: 50, jitterMs: 20, loss: 0.2 } });
  lossy.runToEnd(90000);
  assert.deepEqual(confirmedRows(lossy.sessions[0]), confirmedRows(lossy.sessions[1]));
  for (const s of lossy.sessions) assert.equal(s.record().game_over_reason, 'completed');

  // A fixed delay: nothing to measure first ('auto' runs its RTT probe, about 5 x 50 ms + RTT).
  const plain = createGame({ numPlayers: 2, seed: 12, makeEnv: env, settings: { maxEpisodes: 1, inputDelay: 2 }, link: { delayMs: 30 } });
  const seen = watch(plain);
  plain.runToEnd(60000);
  for (const s of seen) assert.ok(s.firstFrameAt < 200 && s.seconds.length === 0, JSON.stringify(s));
  assert.equal(plain.sessions[0].countdownLeft, null);
  assert.equal(plain.sessions[0].stats().sent_by_type.countdown.messages, 0);
});

test('StartCountdown alone: the peer ahead holds for the offset, the one behind never', () => {
  // Two counters 10 ticks apart with a one-way delay of 2 ticks, driven in lockstep.
  const a = new StartCountdown({ frames: 90, peers: [1], windowSize: 30 });
  const b = new StartCountdown({ frames: 90, peers: [0], windowSize: 30 });
  for (let i = 0; i < 10; i++) a.tick([1]); // a started 10 ticks earlier
  const inFlight = [];
  let t = 0;
  while (!(a.done && b.done) && t < 400) {
    inFlight.push({ at: t + 2, to: 'b', left: a.left, adv: a.advantageFor(1) });
    inFlight.push({ at: t + 2, to: 'a', left: b.left, adv: b.advantageFor(0) });
    for (const m of inFlight.filter((m) => m.at === t)) (m.to === 'a' ? a : b).receive(m.to === 'a' ? 1 : 0, m.left, m.adv);
    a.tick([1]);
    b.tick([0]);
    t += 1;
  }
  assert.ok(a.done && b.done);
  assert.ok(a.held >= 9 && a.held <= 11, `a held ${a.held}`);
  assert.equal(b.held, 0);
});
