// telemetry.js: the report the research console gets from every player (twin of
// interactive_gym_p2p/peer/telemetry.py; keys and shapes pinned by tests/vectors/telemetry.json).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { buildReport, createReporter, createVisibilityTracker, REPORT_INTERVAL_MS } from '../../static/js/telemetry.js';
import { createGame } from './support/sim.mjs';
import { createCounterEnv } from './support/envs.mjs';
import { manualTimers } from './support/client_fakes.mjs';

const VECTORS = JSON.parse(readFileSync(new URL('../vectors/telemetry.json', import.meta.url), 'utf8'));

/** The server's rules (console/report.py), enough to catch a drifting twin. */
function checkShape(r) {
  assert.deepEqual(Object.keys(r), VECTORS.keys);
  for (const k of ['seq', 'episode', 'rollbacks', 'max_rollback_depth', 'stalled_frames', 'mispredicted_frames', 'desyncs']) {
    assert.ok(Number.isInteger(r[k]) && r[k] >= 0, `${k}: ${r[k]}`);
  }
  for (const k of ['frame', 'confirmed_frame', 'verified_frame']) assert.ok(Number.isInteger(r[k]) && r[k] >= -1, `${k}: ${r[k]}`);
  assert.ok(r.first_desync_frame === null || (Number.isInteger(r.first_desync_frame) && r.first_desync_frame >= 0));
  assert.ok(['created', 'handshake', 'running', 'transition', 'finished', 'closed'].includes(r.state));
  for (const [peer, ms] of Object.entries(r.rtt_ms)) assert.ok(/^\d+$/.test(peer) && (ms === null || ms >= 0), `${peer}: ${ms}`);
  assert.ok(r.path_kind === null || ['direct', 'relay', 'fallback'].includes(r.path_kind));
  assert.ok(r.hidden === null || typeof r.hidden === 'boolean');
  assert.ok(r.hidden_s === null || r.hidden_s >= 0);
  assert.deepEqual(JSON.parse(JSON.stringify(r)), r, 'plain JSON');
}

test('the vectors hold valid examples with exactly the pinned keys', () => {
  for (const v of VECTORS.valid) checkShape(v);
});

test('a report says what the session knows, before, during and after a lossy game with a desync', () => {
  const g = createGame({
    numPlayers: 3, seed: 5, settings: { maxEpisodes: 1 },
    link: { delayMs: 60, jitterMs: 10, loss: 0.1 },
    makeEnv: (p) => createCounterEnv({ numPlayers: 3, minSteps: 200, maxSteps: 250, noiseAt: p === 2 ? 80 : null, noiseSalt: 3 }),
  });
  const before = buildReport({ gameId: 'g-1', seq: 0, session: g.sessions[0] });
  checkShape(before);
  assert.deepEqual([before.frame, before.state, before.rtt_ms, before.hidden, before.path_kind], [-1, 'created', { 1: null, 2: null }, null, null]);
  g.runToEnd(600000);
  g.sessions.forEach((s, i) => {
    s.setPath({ kind: 'relay', protocol: 'udp', local_candidate_type: 'relay', remote_candidate_type: 'relay' });
    const r = buildReport({ gameId: 'g-1', seq: 7, session: s, hidden: i === 1, hiddenS: 1.23456 });
    checkShape(r);
    const rec = s.record();
    assert.equal(r.rollbacks, rec.stats.rollbacks);
    assert.ok(r.rollbacks > 0);
    assert.equal(r.stalled_frames, rec.stats.stalled_frames);
    assert.equal(r.mispredicted_frames, rec.stats.mispredicted_frames);
    assert.equal(r.desyncs, rec.stats.hash_mismatches);
    assert.ok(r.desyncs > 0);
    assert.equal(r.first_desync_frame, 80);
    assert.equal(r.confirmed_frame, rec.episodes.at(-1).last_confirmed_frame);
    assert.deepEqual(Object.keys(r.rtt_ms).map(Number), [0, 1, 2].filter((p) => p !== i));
    assert.ok(Object.values(r.rtt_ms).every((ms) => ms > 0));
    assert.equal(r.path_kind, 'relay');
    assert.deepEqual([r.hidden, r.hidden_s], [i === 1, 1.235]);
  });
});

test('the visibility tracker adds up hidden time', () => {
  let t = 0;
  const listeners = [];
  const doc = { visibilityState: 'visible', addEventListener: (e, fn) => listeners.push(fn), removeEventListener() {} };
  const v = createVisibilityTracker(doc, () => t);
  const set = (state) => { doc.visibilityState = state; listeners.forEach((fn) => fn()); };
  assert.deepEqual([v.hidden, v.hiddenS], [false, 0]);
  t = 1000; set('hidden');
  t = 3500;
  assert.deepEqual([v.hidden, v.hiddenS], [true, 2.5]);
  set('visible');
  t = 9000; set('hidden'); t = 9500; set('visible');
  assert.deepEqual([v.hidden, v.hiddenS], [false, 3]);
  const none = createVisibilityTracker(null);
  assert.deepEqual([none.hidden, none.hiddenS], [null, null]);
});

test('the reporter sends at once, every interval, a final one on stop, then nothing', () => {
  const timers = manualTimers();
  const sent = [];
  let session = null;
  const g = createGame({ numPlayers: 2, seed: 1, settings: { maxEpisodes: 1 }, makeEnv: () => createCounterEnv({ numPlayers: 2, minSteps: 10, maxSteps: 20 }) });
  const rep = createReporter({ send: (r) => sent.push(r), gameId: 'g-2', session: () => session, timers, visibility: { hidden: false, hiddenS: 0 } });
  rep.start();
  assert.equal(sent.length, 0, 'no session yet: nothing to say');
  timers.advance(REPORT_INTERVAL_MS);
  assert.equal(sent.length, 0);
  session = g.sessions[0];
  timers.advance(REPORT_INTERVAL_MS);
  timers.advance(REPORT_INTERVAL_MS * 2);
  assert.deepEqual(sent.map((r) => r.seq), [0, 1, 2]);
  assert.deepEqual([sent[0].hidden, sent[0].hidden_s], [false, 0]);
  rep.stop();
  assert.deepEqual([sent.at(-1).seq, sent.at(-1).hidden, sent.at(-1).hidden_s], [3, false, 0]);
  timers.advance(REPORT_INTERVAL_MS * 5);
  rep.stop();
  assert.equal(sent.length, 4, 'nothing after stop');
  assert.equal(timers.pending, 0);
  // Without the page's visibility, what the session was told (setHidden) is reported.
  const told = g.sessions[1];
  const viaSession = createReporter({ send: (r) => sent.push(r), gameId: 'g-3', session: () => told, timers });
  told.setHidden(true);
  const r = viaSession.reportNow();
  assert.deepEqual([r.hidden, typeof r.hidden_s], [true, 'number']);
  told.setHidden(false);
  assert.equal(viaSession.reportNow().hidden, false);
  // A throwing sender does not stop the schedule.
  const bad = createReporter({ send: () => { throw new Error('socket gone'); }, gameId: 'g', session: () => g.sessions[1], timers });
  bad.start();
  timers.advance(REPORT_INTERVAL_MS);
  assert.equal(bad.sent, 2);
  bad.stop(false);
});
