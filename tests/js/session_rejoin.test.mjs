// A page reload mid-game (docs/rollback.md "Rejoining after a reload"): the reloading page says
// BYE(away), the others mark it away and stall at the prediction window; its new session asks
// for the game (CATCHUP_REQUEST), takes the catch-up document in chunks over the lossy channel,
// re-simulates every confirmed frame (hashing and checking each), then plays live. The game
// reaches its normal end, every record holds the same confirmed rows and hashes, and the
// rejoiner's record shows the rejoin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGame, confirmedRows } from './support/sim.mjs';
import { createCounterEnv, withAiSeats } from './support/envs.mjs';
import { encode } from '../../static/js/protocol.js';
import { buildExport } from '../../static/js/validation.js';
import { schemaChecker } from './support/export_schema.mjs';

const counter = (n, o = {}) => () => createCounterEnv({ numPlayers: n, minSteps: 150, maxSteps: 240, ...o });

function reloadGame({ numPlayers = 2, seed = 1, link = { delayMs: 40, jitterMs: 5, loss: 0.05 }, settings = {}, reloadAt = 200,
  player = 0, downMs = 2500, bye = true, maxEpisodes = 3, playerSettings, makeEnv, game = {} } = {}) {
  const g = createGame({
    numPlayers, seed, link, makeEnv: makeEnv ?? counter(numPlayers),
    settings: { maxEpisodes, inputDelay: 2, ...settings },
    playerSettings,
    ...game,
  });
  const events = [];
  g.sessions.forEach((s, i) => s.on('connection', (e) => events.push([i, e.peer_index, e.event])));
  // Reload when the reloading player has confirmed frame `reloadAt`.
  g.run(600000, () => g.sessions[player].confirmedFrame >= reloadAt);
  const old = g.sessions[player];
  const oldRows = confirmedRows(old);
  const oldRecord = old.record();
  g.reload(player, { downMs, bye });
  g.run(g.clock.now() + downMs);
  const fresh = g.sessions[player];
  const rejoined = [];
  fresh.on('rejoined', (e) => rejoined.push(e));
  fresh.on('connection', (e) => events.push([player, e.peer_index, e.event]));
  g.runToEnd(g.clock.now() + 300000);
  return { g, old, oldRows, oldRecord, fresh, rejoined, events };
}

function assertSameGame(g, { maxEpisodes = 3 } = {}) {
  const records = g.sessions.map((s) => s.record());
  for (const [i, r] of records.entries()) {
    assert.equal(r.game_over_reason, 'completed', `player ${i}: ${r.game_over_reason}`);
    assert.equal(r.partial, false);
    assert.deepEqual(r.desyncs, [], `player ${i} desyncs`);
    assert.equal(r.episodes.length, maxEpisodes, `player ${i} episodes`);
    assert.equal(r.verified_frame, r.episodes.at(-1).end_frame, `player ${i}: verified ${r.verified_frame}`);
  }
  const rows = g.sessions.map((s) => confirmedRows(s));
  for (let i = 1; i < rows.length; i++) assert.deepEqual(rows[i], rows[0], `player ${i}'s rows differ from player 0's`);
  // Rows: contiguous from frame 0, every frame hashed.
  assert.deepEqual(rows[0].map((r) => Number(r.split(':')[0])), rows[0].map((_, i) => i));
  assert.ok(rows[0].every((r) => !r.endsWith(':null')));
  return records;
}

test('a reload at frame 200 under 40 ms / 5 % loss: rejoin, re-simulate, the game ends normally and agrees', () => {
  const { g, oldRows, fresh, rejoined, events } = reloadGame({});
  const records = assertSameGame(g);
  // The rejoiner re-made every row its old page had confirmed, and more.
  assert.deepEqual(confirmedRows(fresh).slice(0, oldRows.length), oldRows);
  assert.equal(rejoined.length, 1);
  const r = records[0];
  assert.equal(r.rejoins.length, 1);
  const info = r.rejoins[0];
  assert.equal(info.source, 1);
  assert.ok(info.frame >= 200 && info.frame <= 230, `live from frame ${info.frame}`);
  assert.ok(info.frames >= 200, `re-simulated ${info.frames} frames`);
  assert.ok(info.bytes > 8 * 200 && info.bytes < 8 * 240 + 400, `${info.bytes} bytes`);
  assert.ok(r.connection_events.some((e) => e.peer_index === 1 && e.event === 'rejoined'), JSON.stringify(r.connection_events));
  // The partner saw it go away and come back, and never declared it gone.
  const partner = events.filter(([i]) => i === 1).map(([, p, e]) => `${p}:${e}`);
  assert.ok(partner.includes('0:away') && partner.includes('0:rejoined'), partner.join(' '));
  assert.ok(!partner.includes('0:disconnected') && !partner.includes('0:left'), partner.join(' '));
  // While it was away the partner stalled at the prediction window: it confirmed nothing past
  // the rejoiner's last known input.
  assert.ok(records[1].stats.stalled_frames > 30, `partner stalled ${records[1].stats.stalled_frames} ticks`);
  // Both records make valid exports: the rejoiner's with its rejoin, the partner's with away/rejoined.
  const check = schemaChecker();
  for (const [i, rec] of records.entries()) {
    const doc = buildExport({
      record: rec,
      ids: { game_id: 'g1', scene_id: 's', subject_id: `p${i}`, player_index: i, peers: [{ player_index: 1 - i, subject_id: `p${1 - i}` }] },
      settings: { p2p: {}, validation: {}, impairment: null },
    });
    assert.deepEqual(check(doc), [], `player ${i}`);
  }
});

test('the reloading page dies without a word: the page tells the session (server peer_interrupted) and it waits', () => {
  const g = createGame({ numPlayers: 2, seed: 3, link: { delayMs: 30, loss: 0.05 }, makeEnv: counter(2), settings: { maxEpisodes: 2, inputDelay: 2 } });
  g.run(60000, () => g.sessions[0].confirmedFrame >= 150);
  g.reload(1, { downMs: 7000, bye: false });
  g.run(g.clock.now() + 300);
  // The server's word arrives on the signaling socket: the page calls peerAway.
  assert.equal(g.sessions[0].peerAway(1), true);
  g.runToEnd(g.clock.now() + 300000);
  assertSameGame(g, { maxEpisodes: 2 });
  const ev = g.sessions[0].record().connection_events.map((e) => e.event);
  assert.ok(ev.includes('away') && ev.includes('rejoined') && !ev.includes('disconnected'), ev.join(' '));
});

test('away longer than awayTimeoutMs: declared disconnected, policy end ends the game', () => {
  const g = createGame({ numPlayers: 2, seed: 4, link: { delayMs: 20 }, makeEnv: counter(2), settings: { maxEpisodes: 3, inputDelay: 2, awayTimeoutMs: 3000 } });
  g.run(60000, () => g.sessions[0].confirmedFrame >= 100);
  g.reload(1, { downMs: 60000 });
  g.runToEnd(g.clock.now() + 30000);
  const r = g.sessions[0].record();
  assert.equal(r.game_over_reason, 'disconnected');
  assert.deepEqual(r.connection_events.map((e) => e.event), ['away', 'disconnected']);
  const t = r.connection_events.map((e) => Date.parse(e.time));
  assert.ok(t[1] - t[0] >= 3000 && t[1] - t[0] < 3200, `${t[1] - t[0]} ms away`);
});

test('peerGone (the server says the held seat is gone) ends the wait at once', () => {
  const g = createGame({ numPlayers: 2, seed: 5, link: { delayMs: 20 }, makeEnv: counter(2), settings: { maxEpisodes: 3, inputDelay: 2 } });
  g.run(60000, () => g.sessions[0].confirmedFrame >= 100);
  g.reload(1, { downMs: 60000 });
  g.run(g.clock.now() + 500);
  assert.equal(g.sessions[0].peerInfo()[0].state, 'away');
  assert.ok(g.sessions[0].peerInfo()[0].grace_left_ms > 29000);
  assert.equal(g.sessions[0].peerGone(1), true);
  assert.equal(g.sessions[0].record().game_over_reason, 'disconnected');
});

test('awayTimeoutMs 0: BYE(away) is leaving, as before resume existed', () => {
  const g = createGame({ numPlayers: 2, seed: 6, link: { delayMs: 20 }, makeEnv: counter(2), settings: { maxEpisodes: 3, inputDelay: 2, awayTimeoutMs: 0 } });
  g.run(60000, () => g.sessions[0].confirmedFrame >= 100);
  g.reload(1, { downMs: 1000 });
  g.runToEnd(g.clock.now() + 30000);
  const r = g.sessions[0].record();
  assert.deepEqual(r.connection_events.map((e) => e.event), ['left']);
  assert.equal(r.game_over_reason, 'disconnected');
  // The new page's requests are ignored: it cannot rejoin and says so.
  assert.notEqual(g.sessions[1].record().game_over_reason, 'completed');
});

test('reload between episodes, in a later episode, with a reset freeze and unequal delays', () => {
  const { g, fresh } = reloadGame({
    seed: 7, reloadAt: 420, maxEpisodes: 4, settings: { resetFreezeFrames: 20 },
    playerSettings: [{ inputDelay: 0 }, { inputDelay: 3 }],
  });
  const records = assertSameGame(g, { maxEpisodes: 4 });
  assert.deepEqual(records[0].episodes.map((e) => e.input_delays), records[1].episodes.map((e) => e.input_delays));
  assert.ok(records[0].episodes.every((e) => e.input_delays[0] === 0 && e.input_delays[1] === 3));
  assert.ok(fresh.record().rejoins[0].frame >= 420);
});

test('three players: the rejoiner takes the document from the peer that knows most of its inputs', () => {
  const { g, fresh } = reloadGame({ numPlayers: 3, seed: 8, reloadAt: 180, link: { delayMs: 30, loss: 0.08 } });
  assertSameGame(g);
  const info = fresh.record().rejoins[0];
  assert.ok(info.source === 1 || info.source === 2, `source ${info.source}`);
});

test('the host of a hosted seat reloads at frame 200 under 40 ms / 5 % loss: its new page re-simulates, hosts the seat again, and the game ends in agreement', () => {
  // Seats 0 and 1 are participants; seat 2 is hosted by player 0 (its page decides the seat's
  // actions and sends them as that seat's INPUTs). The host's reload must bring back the hosted
  // seat's inputs with its own (the catch-up document), and the new page goes on deciding them.
  const deciders = [];
  const hosted = (seat, tick, prng, session) => {
    deciders.push(session);
    if (prng.float() < 0.3) prng.lastAction = 1 + prng.int(4);
    return prng.lastAction ?? 1; // never 0, the default action
  };
  const { g, old, oldRows, fresh, rejoined, events } = reloadGame({
    numPlayers: 3, seed: 23, game: { hostedSeats: [{ seat: 2, host: 0 }], hosted },
  });
  assert.equal(g.sessions.length, 2, 'no session for the hosted seat');
  const records = assertSameGame(g);
  assert.deepEqual(confirmedRows(fresh).slice(0, oldRows.length), oldRows);
  assert.equal(rejoined.length, 1);
  const info = records[0].rejoins[0];
  assert.equal(info.source, 1);
  assert.ok(info.frames >= 200, `re-simulated ${info.frames} frames`);
  // Both pages of the host decided the hosted seat, nobody else did.
  assert.ok(deciders.includes(old) && deciders.includes(fresh), 'the old and the new page both hosted seat 2');
  assert.ok(deciders.every((s) => s === old || s === fresh), 'only the host decided the hosted seat');
  // The hosted seat never fell to the default action: no disconnect agreement for it or its host.
  for (const r of records) assert.deepEqual(r.default_action_from ?? {}, {}, JSON.stringify(r.default_action_from));
  // Its column holds the host's actions except where the rejoiner filled the gap between the
  // catch-up document's last input and its first live one (input delay 2) with the default
  // action: for its own seat and the hosted seat alike.
  const rows = records[1].episodes.flatMap((e) => e.frames).filter((row) => row[0] >= 2);
  const filled = rows.filter((row) => row[1][2] === 0);
  assert.ok(filled.every((row) => row[0] >= 200 && row[0] < info.frame + 2 && row[1][0] === 0),
    `default-filled frames ${filled.map((row) => `${row[0]}:${row[1]}`).join(' ')}, live from ${info.frame}`);
  assert.ok(rows.every((row) => row[1][2] <= 4) && rows.filter((row) => row[0] > info.frame + 2).every((row) => row[1][2] >= 1),
    'the hosted column holds the host\'s actions');
  const partner = events.filter(([i]) => i === 1).map(([, p, e]) => `${p}:${e}`);
  assert.ok(partner.includes('0:away') && partner.includes('0:rejoined'), partner.join(' '));
  assert.ok(!partner.some((e) => e.endsWith(':disconnected') || e.endsWith(':left')), partner.join(' '));
});

test('the catch-up transfer survives heavy loss (20 %) and a long game (several hundred chunks)', () => {
  const { g, fresh } = reloadGame({
    seed: 9, reloadAt: 2000, maxEpisodes: 12, link: { delayMs: 60, jitterMs: 20, loss: 0.2, reorder: 0.1 },
    makeEnv: counter(2, { minSteps: 200, maxSteps: 260 }),
  });
  assertSameGame(g, { maxEpisodes: 12 });
  const info = fresh.record().rejoins[0];
  assert.ok(info.bytes > 16000, `${info.bytes} bytes`);
  assert.ok(fresh.stats().sent_by_type.catchup_ack.messages >= 10);
  assert.ok(g.sessions[1].stats().sent_by_type.catchup_chunk.messages > Math.ceil(info.bytes / 1000), 'chunks were sent again');
});

test('a reload past the input queues\' 4096 frames: the new page sends only inputs it still holds', () => {
  // The rejoined page's queues hold the last 4096 frames of the document; before the peers'
  // acks reach it, it must not reach back to frame 0 for them.
  const { g, fresh } = reloadGame({
    seed: 5, reloadAt: 4500, maxEpisodes: 2, link: { delayMs: 30, loss: 0.05 },
    makeEnv: counter(2, { minSteps: 2400, maxSteps: 2400 }),
  });
  assertSameGame(g, { maxEpisodes: 2 });
  const info = fresh.record().rejoins[0];
  assert.ok(info.frames >= 4500, `re-simulated ${info.frames} frames: ${JSON.stringify(info)}`);
});

test('a reload in a game with an AI seat: the document holds no inputs for it, the rejoiner\'s environment makes its actions again', () => {
  const seats = [1];
  const policy = (state, seat, step) => (state.acc + 3 * seat + step) % 5;
  const g = createGame({
    numPlayers: 3, seed: 17, aiSeats: seats, link: { delayMs: 40, loss: 0.05 },
    makeEnv: () => withAiSeats(createCounterEnv({ numPlayers: 3, minSteps: 60, maxSteps: 150 }), seats, policy),
    settings: { maxEpisodes: 4, inputDelay: 0 },
  });
  g.run(600000, () => g.bySeat[0].confirmedFrame >= 200);
  g.reload(0, { downMs: 2000 });
  g.runToEnd(g.clock.now() + 300000);
  const records = [g.bySeat[0].record(), g.bySeat[2].record()];
  for (const r of records) {
    assert.equal(r.game_over_reason, 'completed');
    assert.deepEqual(r.desyncs, []);
    assert.equal(r.episodes.length, 4);
  }
  assert.deepEqual(confirmedRows(g.bySeat[0]), confirmedRows(g.bySeat[2]));
  assert.ok(records[0].rejoins[0].frames >= 200, JSON.stringify(records[0].rejoins));
});

test('a stale or foreign catch-up message changes nothing', () => {
  const g = createGame({ numPlayers: 2, seed: 10, link: { delayMs: 20 }, makeEnv: counter(2), settings: { maxEpisodes: 2, inputDelay: 2 } });
  g.run(3000);
  const s = g.sessions[0];
  const before = confirmedRows(s).length;
  g.inject(0, 1, encode({ type: 'catchup_ack', nonce: 1, next: 3, mask: 0 }));
  g.inject(0, 1, encode({ type: 'catchup_chunk', nonce: 1, index: 0, data: new Uint8Array([1]) }));
  g.inject(0, 1, encode({ type: 'catchup_offer', nonce: 1, size: 10, known: 5, confirmed: 5 }));
  g.runToEnd(g.clock.now() + 120000);
  assert.ok(confirmedRows(s).length > before);
  assert.equal(s.record().game_over_reason, 'completed');
  assert.ok(s.stats().ignored_messages >= 3);
});

test('a bad catch-up document ends the rejoin with catchup_failed (never throws)', () => {
  const g = createGame({ numPlayers: 2, seed: 11, link: { delayMs: 20 }, makeEnv: counter(2), settings: { maxEpisodes: 2, inputDelay: 2 } });
  g.run(3000);
  g.reload(0, { downMs: 500, nonce: 77 });
  g.run(g.clock.now() + 400); // before the new page asks
  const src = g.sessions[1];
  // Make the source offer garbage: replace its document before the transfer starts.
  const origBuild = src.buildCatchupDoc.bind(src);
  src.buildCatchupDoc = (peer) => {
    const d = origBuild(peer);
    return { ...d, hashInterval: 7, hashes: d.hashes.slice(0, Math.floor(d.confirmed / 7) + 1) };
  };
  const errors = [];
  g.run(g.clock.now() + 100); // the new session exists, its first request is on its way
  g.sessions[0].on('error', (e) => errors.push(e));
  g.runToEnd(g.clock.now() + 60000);
  assert.deepEqual(errors.map((e) => e.code), ['catchup_failed']);
  assert.equal(g.sessions[0].record().game_over_reason, 'error');
});

test('a reload during the start countdown: the new page starts the game with the delay the others know', () => {
  const g = createGame({
    numPlayers: 2, seed: 12, link: { delayMs: 30, loss: 0.05 }, makeEnv: counter(2),
    settings: { maxEpisodes: 2, countdownFrames: 90 },
  });
  g.run(60000, () => g.sessions[1].state === 'countdown' && g.sessions[1].countdownLeft < 60);
  const delay = g.sessions[1].inputDelay;
  g.reload(1, { downMs: 600 });
  g.runToEnd(g.clock.now() + 300000);
  assertSameGame(g, { maxEpisodes: 2 });
  const r = g.sessions[1].record();
  assert.equal(r.rejoins.length, 1);
  assert.equal(r.stats.input_delay, delay);
});

test('a reload mid-game in a scene with a start countdown: the new page does not count down again (its partner is mid-game)', () => {
  const g = createGame({
    numPlayers: 2, seed: 13, link: { delayMs: 40, loss: 0.05 }, makeEnv: counter(2),
    settings: { maxEpisodes: 2, inputDelay: 2, countdownFrames: 90 },
  });
  g.run(600000, () => g.sessions[0].confirmedFrame >= 200);
  const old = g.reload(0, { downMs: 800 });
  g.run(g.clock.now() + 800);
  const fresh = g.sessions[0];
  assert.notEqual(fresh, old);
  const seen = [];
  for (const name of ['countdown', 'started', 'rejoined']) fresh.on(name, () => seen.push(name));
  g.runToEnd(g.clock.now() + 300000);
  assertSameGame(g, { maxEpisodes: 2 });
  assert.deepEqual(seen, ['rejoined'], 'no countdown and no second start on the rejoined page');
  assert.equal(fresh.countdownLeft, 90, 'its countdown never ticked');
  assert.equal(fresh.record().rejoins.length, 1);
});

test('the rejoiner checks every frame it re-simulates: a nondeterministic environment is caught at its frame', () => {
  // The new page's environment goes wrong at step 60 of episode 0 (a value outside its state):
  // its re-simulated hash of frame 60 differs from the source's, and the record says so.
  let reloaded = false;
  const g = createGame({
    numPlayers: 2, seed: 13, link: { delayMs: 30 }, settings: { maxEpisodes: 2, inputDelay: 2 },
    makeEnv: (p) => createCounterEnv({ numPlayers: 2, minSteps: 150, maxSteps: 240, ...(reloaded && p === 0 ? { noiseAt: 60, noiseSalt: 5 } : {}) }),
  });
  g.run(60000, () => g.sessions[0].confirmedFrame >= 120);
  reloaded = true;
  g.reload(0, { downMs: 1000 });
  g.runToEnd(g.clock.now() + 300000);
  const r = g.sessions[0].record();
  assert.ok(r.desyncs.length >= 1, 'a desync was recorded');
  assert.equal(r.desyncs[0].frame, 60);
  assert.equal(r.desyncs[0].peer_index, 1);
  assert.ok(r.desyncs[0].state !== null, 'with its state dump');
  assert.ok(r.verified_frame === null || r.verified_frame < 60, `verified ${r.verified_frame}`);
});
