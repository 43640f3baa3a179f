// console_model.js: what the researcher page shows, from the server's documents
// (docs/console.md shapes: the live state, a timeline, the export list, a comparison report).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  conditionRows, finishedRows, fmtDuration, participantOutcomesText, fmtMs, gameRows, matchText, outcomeText, playerLabel, stateDiff, timelineCharts, waitingRows,
} from '../../static/js/console_model.js';

const player = (i, extra = {}) => ({
  player_index: i, subject_id: `s${i}`, seat: 'connected', frame: 100 + i, rtt_ms: 40 + i, rollbacks: 2, stalled_frames: 1,
  desyncs: 0, first_desync_frame: null, path_kind: 'relay', hidden: false, hidden_s: 0, reports: 5, report_age_s: 1, stale: false, ...extra,
});

const STATE = {
  generated_at: '2025-01-01T12:00:00.000Z', report_interval_s: 2, recruitment: { open: true, changed_at: null },
  counts: { waiting: 1, games: 1, players: 2, finished: 1 },
  waiting: [{ room: 'fifo:game', scene_id: 'game', group: false, players_needed: 2,
    waiters: [{ subject_id: 'w1', waited_s: 75, since: '2025-01-01T11:58:45.000Z', remaining_s: 45, rtt_ms: null }] }],
  games: [{ game_id: 'g1', scene_id: 'game', created_at: '2025-01-01T11:59:00.000Z', age_s: 60, condition: 'delay2',
    frame: 101, rtt_ms: 41, rollbacks: 4, stalled_frames: 2, desync: true, first_desync_frame: 90, paths: ['relay'],
    hidden_players: [1], players: [player(0), player(1, { hidden: true, desyncs: 3, first_desync_frame: 90, stale: true, report_age_s: 7 })] }],
  finished: [{ game_id: 'g0', scene_id: 'game', created_at: '2025-01-01T11:50:00.000Z', ended_at: '2025-01-01T11:55:00.000Z',
    duration_s: 300, outcome: 'incomplete', ended_by: 'researcher', seats: { 0: 'stopped', 1: 'stopped' }, subjects: {}, condition: null, players: [] }],
};

test('formatters', () => {
  assert.equal(fmtMs(41.6), '42 ms');
  assert.equal(fmtMs(null), '\u2013');
  assert.deepEqual([fmtDuration(5.9), fmtDuration(185), fmtDuration(7440), fmtDuration(null)], ['5 s', '3 min 05 s', '2 h 04 min', '\u2013']);
});

test('waiting rooms: one row per waiter with since, waited, time left and RTT', () => {
  const [row] = waitingRows(STATE);
  assert.deepEqual([row.room, row.subject, row.waited, row.left, row.rtt], ['game', 'w1', '1 min 15 s', '45 s', '\u2013']);
  assert.deepEqual(waitingRows({ waiting: [{ ...STATE.waiting[0], group: true, waiters: [{ ...STATE.waiting[0].waiters[0], rtt_ms: 23 }] }] })
    .map((r) => [r.room, r.rtt]), [['game (group)', '23 ms']]);
  assert.deepEqual(waitingRows(null), []);
});

test('games in progress: numbers, flags and player labels', () => {
  const [g] = gameRows(STATE);
  assert.deepEqual([g.gameId, g.scene, g.frame, g.rtt, g.rollbacks, g.stalls, g.path, g.desync, g.hidden, g.age],
    ['g1', 'game / delay2', '101', '41 ms', '4', '2', 'relay', 'yes, frame 90', 'player 1', '1 min 00 s']);
  assert.deepEqual(g.flags, { desync: true, hidden: true, stale: true });
  assert.equal(g.players[0], '0: s0');
  assert.equal(g.players[1], '1: s1 [hidden, no report for 7 s, desync at 90]');
  assert.equal(playerLabel(player(2, { seat: 'interrupted', reports: 0, stale: true })), '2: s2 [interrupted, no report yet]');
});

test('finished games: the console outcome joined with the exports, newest first', () => {
  const exportsList = [
    { game_id: 'g0', scene_id: 'game', created_at: '2025-01-01T11:50:00.000Z', comparison: 'diverged', first_divergent_frame: 33, verified_frame: 32, desyncs: 2,
      players: [{ player_index: 0, subject_id: 'a', uploaded: true, partial: true }, { player_index: 1, subject_id: 'b', uploaded: false }] },
    { game_id: 'old', scene_id: 'game', created_at: '2024-12-31T10:00:00.000Z', comparison: 'agree', first_divergent_frame: null, verified_frame: 99, desyncs: 0, players: [] },
  ];
  const rows = finishedRows(STATE.finished, exportsList);
  assert.deepEqual(rows.map((r) => r.gameId), ['g0', 'old']);
  assert.equal(rows[0].outcome, 'incomplete, ended by the researcher (0: stopped, 1: stopped)');
  assert.equal(rows[0].comparison, 'diverged at frame 33');
  assert.equal(rows[0].uploads, '0: a (partial), 1: b \u2013');
  assert.equal(rows[1].outcome, 'not seen by this server process');
  assert.deepEqual(finishedRows(STATE.finished, exportsList, ['old']).map((r) => r.gameId), ['g0'], 'a live game is not finished');
  const onlyFeed = finishedRows(STATE.finished, []);
  assert.deepEqual([onlyFeed[0].comparison, onlyFeed[0].comparisonClass, onlyFeed[0].verified], ['no export yet', 'waiting', '\u2013']);
  assert.equal(outcomeText({ outcome: 'completed', ended_by: null, seats: { 0: 'finished', 1: 'finished' } }), 'completed (0: finished, 1: finished)');
  assert.equal(rows[0].participants, '\u2013', 'a console without the participant ledger');
  const participants = [{ player_index: 0, subject_id: 'a', outcome: { outcome: 'partner_left', reason: 'left', code: 'PL-1' } },
    { player_index: 1, subject_id: 'b', outcome: null }];
  assert.equal(finishedRows([{ ...STATE.finished[0], participants }], [])[0].participants,
    '0 a: partner_left:left (PL-1), 1 b: no outcome yet');
  assert.equal(participantOutcomesText({ participants: [{ player_index: 0, subject_id: 'c', outcome: { outcome: 'completed', reason: null, code: null } }] }),
    '0 c: completed');
});

const TIMELINE = {
  game_id: 'g1', live: true, report_interval_s: 2,
  desync_markers: [{ player_index: 1, frame: 90, t: 4.0 }],
  players: [
    { player_index: 0, subject_id: 'a', t: [2, 4, 6], frame: [60, 120, 180], rtt_ms: [40, 42, null], rollbacks: [0, 3, 1], stalls: [0, 0, 2], hidden: [0, 0, 0], desyncs: [0, 0, 0], hidden_intervals: [] },
    { player_index: 1, subject_id: 'b', t: [3, 5, 7], frame: [58, 58, 170], rtt_ms: [44, 41, 43], rollbacks: [1, 1, 1], stalls: [5, 0, 0], hidden: [0, 1, 1], desyncs: [0, 1, 1],
      hidden_intervals: [{ start_t: 5, end_t: null, start_frame: 58, end_frame: null }] },
  ],
};

test('timeline over time: aligned columns for uPlot, hidden bands and desync markers', () => {
  const v = timelineCharts(TIMELINE, 't');
  assert.deepEqual(v.charts.map((c) => c.key), ['rtt_ms', 'rollbacks', 'stalls']);
  const rtt = v.charts[0].data;
  assert.deepEqual(rtt[0], [2, 3, 4, 5, 6, 7]);
  // undefined: another player's sample time (uPlot draws across it); null: no RTT sample (a gap).
  const _ = undefined;
  assert.deepEqual(rtt[1], [40, _, 42, _, null, _]);
  assert.deepEqual(rtt[2], [_, 44, _, 41, _, 43]);
  assert.deepEqual(v.charts[0].series.map((s) => s.label), ['player 0 (a)', 'player 1 (b)']);
  assert.deepEqual(v.bands, [{ player: 1, from: 5, to: 7 }], 'an open interval reaches the last sample');
  assert.deepEqual(v.markers, [{ player: 1, x: 4 }]);
});

test('timeline over frames: a frame repeated while stalled keeps one point per x', () => {
  const v = timelineCharts(TIMELINE, 'frame');
  const stalls = v.charts[2].data;
  assert.deepEqual(stalls[0], [58, 60, 120, 170, 180]);
  assert.deepEqual(stalls[2], [0, undefined, undefined, 0, undefined], 'the later sample at frame 58 wins');
  assert.deepEqual(v.bands, [{ player: 1, from: 58, to: 170 }]);
  assert.deepEqual(v.markers, [{ player: 1, x: 90 }]);
  assert.equal(v.xLabel, 'frame');
  assert.deepEqual(timelineCharts({ players: [], desync_markers: [] }).charts[0].data, [[]]);
});

test('state diff rows from a comparison report', () => {
  const comparison = { divergence: {
    frame: 33, episode: 0, kind: 'hash',
    players: { 0: { hash: 'aa' }, 1: { hash: 'bb' } }, states: { 0: { frame: 33, state: {} }, 1: { frame: 33, state: {} } },
    state_diff: { reference: 0, truncated: false, paths: [
      { path: '$.players[0][1]', values: { 0: 20, 1: 21 } },
      { path: '$.extra', values: { 1: true }, absent_in: [0] },
    ] },
  } };
  const d = stateDiff(comparison);
  assert.deepEqual([d.frame, d.episode, d.kind, d.players, d.hashes], [33, 0, 'hash', ['0', '1'], ['aa', 'bb']]);
  assert.deepEqual(d.rows, [{ path: '$.players[0][1]', values: ['20', '21'] }, { path: '$.extra', values: ['(absent)', 'true'] }]);
  assert.equal(stateDiff({ divergence: null }), null);
  assert.equal(stateDiff(null), null);
});

test('matchmaking details when the server gives them: waiter state, bots, how a game was matched, conditions', () => {
  const state = {
    waiting: [{ room: 'fifo:game', scene_id: 'game', group: false, players_needed: 2, waiters: [
      { subject_id: 'w1', waited_s: 5, since: null, remaining_s: 55, rtt_ms: 31.2, state: 'probing', requeues: 1, bot: false },
      { subject_id: 'b1', waited_s: 1, since: null, remaining_s: 59, rtt_ms: null, state: 'bot', requeues: 0, bot: true },
      { subject_id: 'w2', waited_s: 1, since: null, remaining_s: 59, rtt_ms: 12, state: 'waiting', requeues: 0, bot: false }] }],
    conditions: { game: { delay0: { completed: 4, running: 1, target: 10 }, delay4: { completed: 3, running: 2, target: 10 } } },
  };
  assert.deepEqual(waitingRows(state).map((r) => [r.subject, r.rtt, r.state]),
    [['w1', '31 ms', 'probing, re-queued 1\u00d7'], ['b1', '\u2013', 'bot, held for a bot fill'], ['w2', '12 ms', 'waiting']]);
  assert.deepEqual(conditionRows(state), [
    { scene: 'game', condition: 'delay0', completed: '4', running: '1', target: '10' },
    { scene: 'game', condition: 'delay4', completed: '3', running: '2', target: '10' }]);
  assert.deepEqual(conditionRows({}), []);
  assert.equal(matchText({ matcher: 'latency_fifo', reason: 'probed', estimated_rtt_ms: 80.4, probed_rtt_ms: 75, path: 'relay' }),
    'latency_fifo: probed, estimated 80 ms, probed 75 ms, relay');
  assert.equal(matchText({ matcher: 'fifo', reason: null, estimated_rtt_ms: null, probed_rtt_ms: null, path: null }), 'fifo');
  assert.equal(matchText(undefined), '\u2013');
  assert.equal(playerLabel(player(1, { bot: true })), '1: s1 [bot]');
  const [g] = gameRows({ games: [{ ...STATE.games[0], match: { matcher: 'fifo' } }] });
  assert.equal(g.match, 'fifo');
});
