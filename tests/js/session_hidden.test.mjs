// The local page hidden: its inputs become the hidden action (recorded as hidden intervals with
// their frames), and past maxHiddenMs the player is excluded: BYE(excluded) ends the game for
// everyone (hiddenPolicy 'end') or the others play on with its default action from a frame
// they agree on ('default_action'), whatever their disconnect policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGame, confirmedRows } from './support/sim.mjs';
import { createCounterEnv } from './support/envs.mjs';
import { P2PSession } from '../../static/js/session.js';
import { HiddenLog } from '../../static/js/hidden.js';

const env = (n) => () => createCounterEnv({ numPlayers: n, minSteps: 200, maxSteps: 300 });
const PRESSED = 3; // every player holds action 3 the whole game

function rowsOf(session) {
  return session.record().episodes.flatMap((e) => e.frames);
}

test('HiddenLog: intervals, frames taken while hidden, durations and the open interval', () => {
  const log = new HiddenLog({ limit: 2 });
  assert.equal(log.set(false, 0, 1000), null); // already visible
  log.noteInput(5); // visible: not recorded
  const iv = log.set(true, 100, 1100);
  assert.equal(iv.first_frame, null);
  assert.equal(log.hiddenMs(350), 250);
  log.noteInput(12);
  log.noteInput(13);
  log.set(false, 400, 1400);
  assert.equal(log.hiddenMs(500), 0);
  log.set(true, 500, 1500); // hidden, no input taken before the export
  log.set(false, 600, 1600);
  log.set(true, 700, 1700); // over the limit: counted, not kept
  assert.deepEqual(log.records(800), [
    { first_frame: 12, last_frame: 13, started_at: '1970-01-01T00:00:01.100Z', ended_at: '1970-01-01T00:00:01.400Z', duration_s: 0.3, excluded: false },
    { first_frame: null, last_frame: null, started_at: '1970-01-01T00:00:01.500Z', ended_at: '1970-01-01T00:00:01.600Z', duration_s: 0.1, excluded: false },
  ]);
  assert.equal(log.dropped, 1);
  assert.equal(log.totalS(800), 0.4);
  const open = new HiddenLog();
  open.set(true, 0, 0);
  open.markExcluded();
  assert.deepEqual(open.records(2500)[0], { first_frame: null, last_frame: null, started_at: '1970-01-01T00:00:00.000Z', ended_at: null, duration_s: 2.5, excluded: true });
});

test('hidden page: its inputs are the hidden action on exactly the recorded frames; both peers agree', () => {
  const g = createGame({
    numPlayers: 2, seed: 3, makeEnv: env(2), settings: { maxEpisodes: 2, hiddenAction: 7 }, link: { delayMs: 40, jitterMs: 10, loss: 0.05 },
    input: () => PRESSED,
  });
  const events = [];
  g.sessions[1].on('hidden', (e) => events.push(e));
  g.run(2000);
  assert.equal(g.sessions[1].setHidden(true).hidden, true);
  assert.equal(g.sessions[1].setHidden(true), null, 'no change, no event');
  assert.ok(g.sessions[1].hidden);
  g.run(10000); // 8 s hidden
  assert.ok(Math.abs(g.sessions[1].hiddenMs() - 8000) < 1);
  const back = g.sessions[1].setHidden(false);
  assert.equal(back.hidden, false);
  assert.equal(back.duration_s, 8);
  g.runToEnd(120000);
  const [r0, r1] = g.sessions.map((s) => s.record());
  assert.equal(r0.game_over_reason, 'completed');
  assert.equal(r1.game_over_reason, 'completed');
  assert.deepEqual(confirmedRows(g.sessions[0]), confirmedRows(g.sessions[1]));
  assert.deepEqual(r0.hidden_intervals, [], 'each record holds its own player\'s intervals only');
  assert.equal(r1.hidden_intervals.length, 1);
  const iv = r1.hidden_intervals[0];
  assert.equal(iv.duration_s, 8);
  assert.equal(iv.excluded, false);
  assert.equal(iv.started_at, '2025-01-01T00:00:02.000Z');
  assert.equal(iv.ended_at, '2025-01-01T00:00:10.000Z');
  // About 8 s of frames at 30 fps, starting the player's input delay after the frame of hiding.
  assert.equal(iv.first_frame, events[0].frame + g.sessions[1].inputDelay);
  assert.ok(iv.last_frame - iv.first_frame + 1 >= 8 * 30 - 10 && iv.last_frame - iv.first_frame + 1 <= 8 * 30 + 10, JSON.stringify(iv));
  // Each player's frames before max(1, its delay) are the default action (no sampled input).
  const firstInput = g.sessions.map((s) => Math.max(1, s.inputDelay));
  for (const [f, actions] of rowsOf(g.sessions[0])) {
    const expected = f < firstInput[1] ? 0 : (f >= iv.first_frame && f <= iv.last_frame ? 7 : PRESSED);
    assert.equal(actions[1], expected, `frame ${f}: player 1 action ${actions[1]}`);
    assert.equal(actions[0], f < firstInput[0] ? 0 : PRESSED);
  }
  assert.equal(r1.stats.hidden_s, 8);
});

function excludedGame(settings, numPlayers = 2) {
  const g = createGame({
    numPlayers, seed: 5, makeEnv: env(numPlayers),
    settings: { maxEpisodes: 3, maxHiddenMs: 4000, hiddenAction: 7, ...settings }, link: { delayMs: 30, loss: 0.05 },
    input: () => PRESSED,
  });
  const excluded = [];
  g.sessions[1].on('excluded', (e) => excluded.push(e));
  g.run(3000);
  g.sessions[1].setHidden(true);
  g.runToEnd(180000);
  return { g, excluded, records: g.sessions.map((s) => s.record()) };
}

test('hidden too long, policy end: the hidden player is excluded and the game ends for everyone', () => {
  const { g, excluded, records: [r0, r1] } = excludedGame({ hiddenPolicy: 'end', disconnectPolicy: 'default_action' });
  assert.equal(excluded.length, 1);
  assert.equal(excluded[0].reason, 'hidden');
  assert.equal(excluded[0].policy, 'end');
  assert.equal(r1.game_over_reason, 'excluded');
  assert.deepEqual({ ...r1.exclusion, time: null, frame: null }, { reason: 'hidden', policy: 'end', time: null, frame: null });
  assert.equal(r1.hidden_intervals.length, 1);
  assert.equal(r1.hidden_intervals[0].excluded, true);
  assert.equal(r1.hidden_intervals[0].ended_at, null, 'still hidden when the game ended');
  // Although the disconnect policy would play on, the exclusion said: end.
  assert.equal(r0.game_over_reason, 'peer_excluded');
  assert.deepEqual(r0.connection_events.filter((e) => e.event === 'excluded').map((e) => e.peer_index), [1]);
  assert.equal(r0.partial, false);
  assert.equal(r1.partial, false);
  for (const s of g.sessions) assert.equal(s.state, 'closed');
  // Closed by the BYE exchange, not by waiting out the disconnect timeout.
  const ended = r1.timing.ended_at;
  assert.ok(Date.parse(ended) - Date.parse(r1.hidden_intervals[0].started_at) < 4000 + 1000, ended);
  const [a, b] = g.sessions.map(confirmedRows);
  const n = Math.min(a.length, b.length);
  assert.ok(n > 3 * 30);
  assert.deepEqual(a.slice(0, n), b.slice(0, n));
});

test('hidden too long, policy default_action: the others play on with its default action (disconnect policy end)', () => {
  const { g, records: [r0, r1] } = excludedGame({ hiddenPolicy: 'default_action', disconnectPolicy: 'end', defaultAction: 0 });
  assert.equal(r1.game_over_reason, 'excluded');
  assert.equal(r1.exclusion.policy, 'default_action');
  assert.equal(r0.game_over_reason, 'completed', 'the partner played the game to its end');
  assert.equal(r0.episodes.length, 3);
  const d = r0.default_action_from['1'];
  assert.ok(Number.isInteger(d));
  assert.deepEqual(r0.connection_events.map((e) => [e.peer_index, e.event]).filter(([, e]) => e === 'excluded'), [[1, 'excluded']]);
  const iv = r1.hidden_intervals[0];
  for (const [f, actions] of rowsOf(g.sessions[0])) {
    if (f >= d) assert.equal(actions[1], 0, `frame ${f}: default action after the exclusion`);
    else if (f >= iv.first_frame) assert.equal(actions[1], 7, `frame ${f}: hidden action before it`);
  }
  // Every frame the excluded player confirmed is the same on both sides (all before D).
  const [a, b] = g.sessions.map(confirmedRows);
  assert.ok(b.length > 0 && b.length < a.length);
  assert.deepEqual(a.slice(0, b.length), b);
  assert.ok(rowsOf(g.sessions[1]).every(([f]) => f < d));
});

test('policy default_action with 3 players: both remaining peers agree on the frame and every row', () => {
  const { g, records } = excludedGame({ hiddenPolicy: 'default_action', disconnectPolicy: 'end' }, 3);
  const [r0, , r2] = records;
  assert.equal(records[1].game_over_reason, 'excluded');
  assert.equal(r0.game_over_reason, 'completed');
  assert.equal(r2.game_over_reason, 'completed');
  assert.equal(r0.default_action_from['1'], r2.default_action_from['1']);
  assert.deepEqual(confirmedRows(g.sessions[0]), confirmedRows(g.sessions[2]));
});

test('exclude() from outside (another reason), and its limits', () => {
  const g = createGame({ numPlayers: 2, seed: 9, makeEnv: env(2), settings: { maxEpisodes: 2 }, link: { delayMs: 20 } });
  assert.equal(g.sessions[0].exclude({ reason: 'inactive' }), false, 'not started yet');
  g.run(2000);
  assert.throws(() => g.sessions[0].exclude({ policy: 'maybe' }), RangeError);
  assert.equal(g.sessions[0].exclude({ reason: 'inactive' }), true);
  assert.equal(g.sessions[0].exclude({ reason: 'inactive' }), false, 'once');
  g.runToEnd(30000);
  assert.equal(g.sessions[0].record().exclusion.reason, 'inactive');
  assert.deepEqual(g.sessions[0].record().hidden_intervals, []);
  assert.equal(g.sessions[1].record().game_over_reason, 'peer_excluded');
  // Delay 0 is fine for play-on exclusions: frame 0 of every player is the default action.
  assert.doesNotThrow(() => new P2PSession({
    env: createCounterEnv({ numPlayers: 2 }), transport: { send() {} }, localPlayer: 0, numPlayers: 2, sharedSeed: 1,
    settings: { hiddenPolicy: 'default_action', inputDelay: 0 },
  }));
});
