// A peer that stops answering: "interrupted" after disconnectNotifyMs, "disconnected" after
// disconnectTimeoutMs (with the frame), then policy 'end' (the game ends) or 'default_action'
// (the missing player's action becomes the default action from a frame all remaining peers
// agree on). BYE(left) is immediate. Everything is recorded.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGame, confirmedRows } from './support/sim.mjs';
import { createCounterEnv } from './support/envs.mjs';
import { decode } from '../../static/js/protocol.js';

const T0 = Date.UTC(2025, 0, 1);
const ms = (iso) => Date.parse(iso) - T0;
const env3 = (n = 3) => () => createCounterEnv({ numPlayers: n, minSteps: 200, maxSteps: 300 });

test('interrupted after 750 ms, disconnected after 5 s, with frames; policy end stops the game', () => {
  const g = createGame({ numPlayers: 2, seed: 1, makeEnv: env3(2), settings: { maxEpisodes: 50 }, link: { delayMs: 30 } });
  g.run(4000);
  const killedAt = g.clock.now();
  const frameAtKill = g.sessions[0].currentFrame;
  g.kill(1);
  g.runToEnd(60000);
  const r = g.sessions[0].record();
  const ev = r.connection_events;
  assert.deepEqual(ev.map((e) => [e.peer_index, e.event]), [[1, 'interrupted'], [1, 'disconnected']]);
  // Last message from peer 1 arrived at most one send period + 30 ms before the kill.
  const tInt = ms(ev[0].time);
  const tDis = ms(ev[1].time);
  assert.ok(tInt >= killedAt + 750 - 200 && tInt <= killedAt + 750 + 100, `interrupted at ${tInt - killedAt} ms after the kill`);
  assert.ok(tDis - tInt >= 5000 - 750 - 40 && tDis - tInt <= 5000 - 750 + 40, `disconnected ${tDis - tInt} ms after interrupted`);
  assert.ok(ev[0].frame >= frameAtKill && ev[0].frame <= frameAtKill + 10, `frame ${ev[0].frame}`);
  assert.equal(r.game_over_reason, 'disconnected');
  assert.equal(r.partial, false);
  assert.equal(g.sessions[0].state, 'closed');
});

test('policy end with 3 players: the remaining peers end the game too', () => {
  const g = createGame({ numPlayers: 3, seed: 2, makeEnv: env3(), settings: { maxEpisodes: 50 }, link: { delayMs: 40, loss: 0.1 } });
  g.run(3000);
  g.kill(2);
  g.runToEnd(60000);
  const [r0, r1] = [g.sessions[0].record(), g.sessions[1].record()];
  for (const r of [r0, r1]) {
    assert.ok(['disconnected', 'peer_ended'].includes(r.game_over_reason), r.game_over_reason);
    assert.ok(r.connection_events.some((e) => e.peer_index === 2 && (e.event === 'disconnected' || e.event === 'interrupted')));
  }
  // What both confirmed is identical (one may have confirmed a few frames more).
  const a = confirmedRows(g.sessions[0]);
  const b = confirmedRows(g.sessions[1]);
  const n = Math.min(a.length, b.length);
  assert.deepEqual(a.slice(0, n), b.slice(0, n));
});

function defaultActionGame({ seed, link, before, settings = {} }) {
  const g = createGame({
    numPlayers: 3, seed, makeEnv: env3(), settings: { maxEpisodes: 4, disconnectPolicy: 'default_action', defaultAction: 0, ...settings }, link,
    input: (p, t, prng) => { if (prng.float() < 0.2) prng.lastAction = 1 + prng.int(4); return prng.lastAction ?? 1; },
  });
  const decided = [[], [], []];
  g.sessions.forEach((s, i) => s.on('default_action', (e) => decided[i].push(e)));
  g.declared = [[], [], []];
  g.sessions.forEach((s, i) => s.on('disconnect_agreement', (e) => g.declared[i].push(e)));
  before(g);
  g.runToEnd(600000);
  return { g, decided };
}

function assertDefaultAgreement(g, decided, minRows2 = 50) {
  const [r0, r1, r2] = g.sessions.map((s) => s.record());
  for (const r of [r0, r1]) {
    assert.equal(r.game_over_reason, 'completed');
    assert.deepEqual(r.desyncs, []);
    assert.equal(r.episodes.length, 4);
  }
  assert.equal(decided[0].length, 1);
  assert.deepEqual(decided[0], decided[1], 'both remaining peers agreed on the same frame');
  const D = decided[0][0].frame;
  assert.deepEqual(r0.default_action_from, { 2: D });
  const rows0 = confirmedRows(g.sessions[0]);
  assert.deepEqual(rows0, confirmedRows(g.sessions[1]));
  // Player 2's real actions (never 0 in this game) up to D-1, the default action 0 from D on.
  const all = r0.episodes.flatMap((e) => e.frames);
  for (const [f, actions] of all) {
    if (f < 2) continue; // frames before the input delay are the default action for everyone
    if (f < D) assert.notEqual(actions[2], 0, `frame ${f} before D=${D}`);
    else assert.equal(actions[2], 0, `frame ${f} from D=${D}`);
  }
  // Frames player 2 itself confirmed before it vanished agree with the survivors.
  if (minRows2 !== null) {
    const rows2 = confirmedRows(g.sessions[2]);
    assert.ok(rows2.length > minRows2);
    assert.deepEqual(rows2, rows0.slice(0, rows2.length));
  }
  assert.equal(r0.verified_frame, all.at(-1)[0]);
  return D;
}

test('policy default_action: the remaining peers agree on the frame and play on', () => {
  const { g, decided } = defaultActionGame({
    seed: 3,
    link: { delayMs: 50, jitterMs: 20, loss: 0.1, duplicate: 0.02, reorder: 0.05 },
    before: (game) => { game.run(5000); game.kill(2); },
  });
  assertDefaultAgreement(g, decided);
});

test('policy default_action: peers that heard different amounts from the lost player still agree', () => {
  // Player 2's link to player 0 dies first; player 1 keeps hearing player 2 for another 400 ms,
  // so player 1 knows more of player 2's inputs and must relay them to player 0.
  const { g, decided } = defaultActionGame({
    seed: 4,
    link: { delayMs: 30, jitterMs: 10, loss: 0.05 },
    before: (game) => {
      game.sessions[0].on('started', () => { game.startedAt = game.clock.now(); });
      game.run(4000);
      game.block(2, 0, true);
      game.run(4400);
      game.kill(2);
    },
  });
  const D = assertDefaultAgreement(g, decided);
  assert.ok(g.declared[0][0].known_frame < g.declared[1][0].known_frame, 'player 1 knew more');
  assert.equal(D, g.declared[1][0].known_frame + 1, 'D = 1 + the most any remaining peer knew');
  const s0 = g.sessions[0];
  assert.ok(s0.connectionEvents.some((e) => e.peer_index === 2 && e.event === 'disconnected'));
  assert.ok(D > (4000 - g.startedAt) / (1000 / 30) - 5, `D=${D} includes what only player 1 heard`);
});

test('policy default_action with input delay 0: a player lost before any of its INPUTs arrived is agreed from frame 1', () => {
  // The case that once needed inputDelay >= 1: nobody holds a sampled input of player 2, but
  // frame 0 of every player is the default action, so every peer announces K = 0 and D = 1.
  const { g, decided } = defaultActionGame({
    seed: 9,
    link: { delayMs: 10, loss: 0.05 },
    settings: { inputDelay: 0 },
    before: (game) => {
      const inner = game.sessions[2].transport.send;
      game.sessions[2].transport = { send: (to, bytes) => { if (decode(bytes).msg.type !== 'input') inner(to, bytes); } };
      game.run(1500);
      game.kill(2);
    },
  });
  // Player 2's own confirmed frames used its inputs, which nobody got: it played alone.
  const D = assertDefaultAgreement(g, decided, null);
  assert.equal(D, 1);
  for (const s of g.sessions.slice(0, 2)) assert.deepEqual(s.record().episodes[0].input_delays, [0, 0, 0]);
});

test('policy default_action with 2 players: the survivor plays on alone', () => {
  const g = createGame({ numPlayers: 2, seed: 6, makeEnv: env3(2), settings: { maxEpisodes: 3, disconnectPolicy: 'default_action' }, link: { delayMs: 20 } });
  g.run(3000);
  g.kill(1);
  g.runToEnd(600000);
  const r = g.sessions[0].record();
  assert.equal(r.game_over_reason, 'completed');
  assert.equal(r.episodes.length, 3);
  assert.ok(r.default_action_from['1'] > 0);
});

test('BYE(left) is reported at once as "left"', () => {
  const g = createGame({ numPlayers: 2, seed: 7, makeEnv: env3(2), settings: { maxEpisodes: 50 }, link: { delayMs: 25 } });
  g.run(2000);
  g.sessions[1].close();
  const t = g.clock.now();
  g.runToEnd(60000);
  const r = g.sessions[0].record();
  assert.deepEqual(r.connection_events.map((e) => e.event), ['left']);
  assert.ok(ms(r.connection_events[0].time) - t < 100);
  assert.equal(r.game_over_reason, 'disconnected');
  assert.equal(g.sessions[1].record().game_over_reason, 'closed');
});

test('a short outage: interrupted, then resumed, and the game completes in agreement', () => {
  const g = createGame({ numPlayers: 2, seed: 8, makeEnv: env3(2), settings: { maxEpisodes: 3 }, link: { delayMs: 25 } });
  g.run(3000);
  g.block(0, 1, true);
  g.run(4500);
  g.unblock(0, 1, true);
  g.runToEnd(600000);
  for (const s of g.sessions) {
    const r = s.record();
    assert.deepEqual(r.connection_events.map((e) => e.event), ['interrupted', 'resumed']);
    assert.equal(r.game_over_reason, 'completed');
    assert.ok(r.stats.stalled_frames > 20, 'it stalled during the outage');
  }
  assert.deepEqual(confirmedRows(g.sessions[0]), confirmedRows(g.sessions[1]));
});

test('peerInfo: silence, and while interrupted the grace left before the disconnect', () => {
  const g = createGame({ numPlayers: 2, seed: 21, makeEnv: env3(2), settings: { maxEpisodes: 50 }, link: { delayMs: 20 } });
  g.run(3000);
  let info = g.sessions[0].peerInfo()[0];
  assert.equal(info.grace_left_ms, null);
  assert.ok(info.silent_ms >= 0 && info.silent_ms < 200, JSON.stringify(info));
  g.kill(1);
  g.run(3000 + 2000);
  info = g.sessions[0].peerInfo()[0];
  assert.equal(info.state, 'interrupted');
  assert.ok(info.silent_ms >= 1900 && info.silent_ms <= 2100, JSON.stringify(info));
  assert.ok(Math.abs(info.grace_left_ms - (5000 - info.silent_ms)) < 1e-9);
  g.run(3000 + 6000);
  assert.equal(g.sessions[0].peerInfo()[0].grace_left_ms, null, 'disconnected: no more grace');
});
