// P2PSession as a unit: options, the HELLO handshake, what goes on the wire, bad input (bytes
// and messages), events, and the record it produces (checked against the validation export
// builder and JSON Schema, the pinned export shape).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { P2PSession, episodeSeed } from '../../static/js/session.js';
import { encode, decode } from '../../static/js/protocol.js';
import { createGame } from './support/sim.mjs';
import { createCounterEnv } from './support/envs.mjs';
import { assertAgreement } from './support/checks.mjs';
import { buildExport } from '../../static/js/validation.js';
import { schemaChecker } from './support/export_schema.mjs';
import { Prng } from '../../static/js/prng.js';

function manual(localPlayer = 0, numPlayers = 2, settings = {}) {
  let t = 0;
  const sent = [];
  const s = new P2PSession({
    env: createCounterEnv({ numPlayers }), transport: { send: (peer, bytes) => sent.push({ peer, t, msg: decode(bytes).msg }) },
    localPlayer, numPlayers, sharedSeed: 99, settings, now: () => t, wallClock: () => 1e12 + t,
  });
  return { s, sent, advance: (ms) => { t += ms; }, now: () => t };
}

test('episode_seed matches the pinned formula', () => {
  assert.equal(episodeSeed(0, 0), 0x9e3779b1);
  assert.equal(episodeSeed(0xffffffff, 1), (0xffffffff ^ ((2 * 0x9e3779b1) >>> 0)) >>> 0);
  assert.equal(episodeSeed(12345, 7), ((12345 ^ Math.imul(8, 0x9e3779b1)) >>> 0));
});

test('options are checked with clear errors', () => {
  const env = createCounterEnv({ numPlayers: 2 });
  const ok = { env, transport: { send() {} }, localPlayer: 0, numPlayers: 2, sharedSeed: 1 };
  assert.throws(() => new P2PSession({ ...ok, env: {} }), /env\.reset\(\) is missing/);
  assert.throws(() => new P2PSession({ ...ok, transport: {} }), /transport\.send/);
  assert.throws(() => new P2PSession({ ...ok, numPlayers: 1 }), /numPlayers must be an integer in \[2, 255\]/);
  assert.throws(() => new P2PSession({ ...ok, localPlayer: 2 }), /localPlayer/);
  assert.throws(() => new P2PSession({ ...ok, sharedSeed: -1 }), /sharedSeed must be a u32/);
  assert.throws(() => new P2PSession({ ...ok, settings: { fps: 1000 } }), /setting fps/);
  assert.throws(() => new P2PSession({ ...ok, settings: { inputDelay: 'fast' } }), /setting inputDelay must be 'auto' or an integer in \[0, 16\]/);
  // default_action with delay 0 is fine: frame 0 of every player is the default action.
  new P2PSession({ ...ok, settings: { disconnectPolicy: 'default_action', inputDelay: 0 } });
  const s = new P2PSession(ok);
  assert.throws(() => { s.start(); s.tick(1.5); }, /localAction must be a signed 32-bit integer/);
});

test('handshake: HELLO to everyone, resent until answered; then EPISODE_READY(0) with the delay; the game starts with every one', () => {
  const { s, sent, advance } = manual(0, 3, { inputDelay: 2 });
  assert.equal(s.tick(0).status, 'created', 'tick before start() does nothing');
  s.start();
  assert.deepEqual(sent.map((m) => [m.peer, m.msg.type]), [[1, 'hello'], [2, 'hello']]);
  assert.deepEqual(sent[0].msg, { type: 'hello', version: 2, player: 0, numPlayers: 3 });
  advance(100);
  s.tick(0);
  assert.equal(sent.length, 2, 'not yet');
  advance(100);
  assert.equal(s.tick(0).status, 'handshake');
  assert.equal(sent.filter((m) => m.msg.type === 'hello').length, 4, 'resent after helloIntervalMs');
  s.receive(1, encode({ type: 'hello', version: 2, player: 1, numPlayers: 3 }));
  assert.deepEqual(sent.at(-1), { peer: 1, t: 200, msg: { type: 'hello', version: 2, player: 0, numPlayers: 3 } }, 'answered');
  const count = sent.length;
  s.receive(1, encode({ type: 'hello', version: 2, player: 1, numPlayers: 3 }));
  assert.equal(sent.length, count, 'a repeated HELLO is not answered again');
  advance(33);
  assert.equal(s.tick(0).status, 'handshake', 'player 2 is missing');
  assert.ok(!sent.some((m) => m.msg.type !== 'hello'), 'nothing but HELLO before the game starts');
  s.receive(2, encode({ type: 'hello', version: 2, player: 2, numPlayers: 3 }));
  advance(33);
  assert.equal(s.tick(0).status, 'handshake', 'every HELLO is in: our delay goes out');
  assert.deepEqual(sent.slice(-2).map((m) => [m.peer, m.msg]), [1, 2].map((p) => [p, { type: 'episode_ready', episode: 0, inputDelay: 2 }]));
  s.receive(1, encode({ type: 'episode_ready', episode: 0, inputDelay: 0 }));
  advance(33);
  assert.equal(s.tick(0).status, 'handshake', 'player 2 has not announced its delay');
  s.receive(2, encode({ type: 'episode_ready', episode: 0, inputDelay: 3 }));
  advance(33);
  const r = s.tick(0);
  assert.equal(r.status, 'running');
  assert.equal(r.frame, 0, 'frame 0 simulated in the first tick');
  const inputs = sent.filter((m) => m.msg.type === 'input');
  assert.deepEqual(inputs.map((m) => m.peer).sort(), [1, 2]);
  assert.deepEqual(inputs[0].msg, { type: 'input', player: 0, ack: -1, start: 0, actions: [0, 0, 0] });
  assert.deepEqual(s.record().episodes[0].input_delays, [2, 0, 3], 'every player\'s delay of the episode');
  // Player 2's frames 0..2 are known (the default action) without any INPUT from it.
  assert.equal(s.sync.queues[2].lastConfirmedFrame, 2);
  assert.equal(s.sync.queues[1].lastConfirmedFrame, 0);
});

test('a HELLO that arrives before start() is kept', () => {
  const { s, sent } = manual(1, 2, { inputDelay: 1 });
  s.receive(0, encode({ type: 'hello', version: 2, player: 0, numPlayers: 2 }));
  s.receive(0, encode({ type: 'episode_ready', episode: 0, inputDelay: 1 }));
  assert.equal(sent.length, 0);
  s.start();
  assert.equal(s.tick(0).status, 'running');
});

test('a HELLO with the wrong version, player or player count ends the game with an error', () => {
  for (const bad of [{ version: 1, player: 1, numPlayers: 2 }, { version: 2, player: 0, numPlayers: 2 }, { version: 2, player: 1, numPlayers: 3 }]) {
    const { s, sent } = manual(0, 2);
    const errors = [];
    const over = [];
    s.on('error', (e) => errors.push(e));
    s.on('game_over', (e) => over.push(e));
    s.start();
    s.receive(1, encode({ type: 'hello', ...bad }));
    assert.equal(errors[0].code, 'hello_mismatch');
    assert.match(errors[0].message, /peer 1 sent HELLO/);
    assert.deepEqual(sent.at(-1).msg, { type: 'bye', reason: 2 });
    assert.equal(over[0].reason, 'error');
  }
});

test('malformed bytes and bogus messages are counted and dropped; the game is unaffected', () => {
  const g = createGame({ numPlayers: 2, seed: 31, makeEnv: () => createCounterEnv({ numPlayers: 2, minSteps: 100, maxSteps: 200 }), settings: { maxEpisodes: 3 }, link: { delayMs: 40, loss: 0.05 } });
  const prng = new Prng(5);
  const garbage = [
    new Uint8Array(0), new Uint8Array([0x00]), new Uint8Array([0x7f, 1, 2]), new Uint8Array([0x01, 0, 0]),
    new Uint8Array([0x07, 0, 0, 0, 1]), new Uint8Array(2000), new Uint8Array([0x02, 0, 1]), new Uint8Array([0x04, 0x04]),
  ];
  let injectedBad = 0;
  for (let i = 0; i < 200; i++) {
    const bytes = i < garbage.length ? garbage[i] : Uint8Array.from({ length: 1 + prng.int(40) }, () => prng.int(256));
    if (decode(bytes).ok) continue;
    injectedBad += 1;
    g.inject(i % 2, 1 - (i % 2), bytes, 100 + i * 37);
  }
  // Well-formed but wrong: another player's index without a disconnect policy that relays,
  // a PONG that is not an echo of ours, hashes of frames far away, episode messages out of
  // nowhere, a peer index that does not exist.
  g.inject(0, 1, encode({ type: 'input', player: 0, ack: 3, start: 0, actions: [5] }), 500);
  g.inject(0, 1, encode({ type: 'pong', time: -5e9 }), 600);
  g.inject(0, 1, encode({ type: 'state_hash', frame: 4000000000, hash: 'ffffffffffffffff' }), 700);
  g.inject(1, 0, encode({ type: 'episode_ready', episode: 7, inputDelay: 0 }), 800);
  g.inject(1, 7, encode({ type: 'keepalive' }), 900);
  g.inject(1, 0, 'not bytes', 950);
  g.runToEnd(600000);
  const records = assertAgreementAllowingErrors(g);
  const total = records[0].stats.decode_errors + records[1].stats.decode_errors;
  assert.equal(total, injectedBad + 1, 'every malformed message counted once');
  assert.ok(records[0].stats.invalid_messages >= 1);
  assert.ok(records[1].stats.invalid_messages >= 1);
});

function assertAgreementAllowingErrors(g) {
  const records = g.sessions.map((s) => s.record());
  const copy = records.map((r) => ({ ...r, stats: { ...r.stats, decode_errors: 0 } }));
  for (const [i, s] of g.sessions.entries()) s.record = () => copy[i];
  assertAgreement(g);
  return records;
}

test('wire rules: INPUT redundancy and ack, PING cadence, KEEPALIVE only when quiet', () => {
  const log = [];
  const g = createGame({ numPlayers: 2, seed: 32, makeEnv: () => createCounterEnv({ numPlayers: 2, minSteps: 100, maxSteps: 200 }), settings: { maxEpisodes: 3 }, link: { delayMs: 70, loss: 0.1 } });
  for (const [i, s] of g.sessions.entries()) {
    const inner = s.transport.send;
    s.transport = { send: (to, bytes) => { log.push({ from: i, to, t: g.clock.now(), msg: decode(bytes).msg }); inner(to, bytes); } };
  }
  g.runToEnd(600000);
  assertAgreement(g);
  const from0 = log.filter((m) => m.from === 0);
  const inputs = from0.filter((m) => m.msg.type === 'input');
  let lastAck = -1;
  for (const m of inputs) {
    const { start, actions, ack } = m.msg;
    const end = start + actions.length - 1;
    assert.ok(actions.length >= Math.min(5, end + 1), 'at least the last K inputs');
    assert.ok(actions.length <= 128);
    assert.ok(ack >= lastAck, 'our ack never goes back');
    lastAck = ack;
  }
  // Everything peer 1 had not acked (as peer 0 knew it) was in each INPUT: consecutive INPUTs
  // overlap or touch, so no input frame was ever skipped.
  for (let k = 1; k < inputs.length; k++) assert.ok(inputs[k].msg.start <= inputs[k - 1].msg.start + inputs[k - 1].msg.actions.length);
  // In-game PINGs (after peer 0's first INPUT) every pingIntervalMs; before the game, the RTT
  // probe of input_delay 'auto': at most RTT_PROBE_SAMPLES answered, RTT_PROBE_INTERVAL_MS apart.
  const firstInput = inputs[0].t;
  const pings = from0.filter((m) => m.msg.type === 'ping' && m.t > firstInput).map((m) => m.t);
  for (let k = 1; k < pings.length; k++) assert.ok(pings[k] - pings[k - 1] >= 500 - 1e-9);
  const probes = from0.filter((m) => m.msg.type === 'ping' && m.t < firstInput).map((m) => m.t);
  assert.ok(probes.length >= 5, `${probes.length} probe PINGs`);
  for (let k = 1; k < probes.length; k++) assert.ok(probes[k] - probes[k - 1] >= 50 - 1e-9);
  const records = g.sessions.map((s) => s.record());
  assert.ok(records[0].stats.rtt_ms.samples > 5);
  assert.ok(Math.abs(records[0].stats.rtt_ms.p50 - 140) < 40, `rtt p50 ${records[0].stats.rtt_ms.p50}`);
  // Keepalives go out only after keepaliveMs without any other message to that peer.
  const to1 = from0.filter((m) => m.to === 1);
  for (let k = 1; k < to1.length; k++) if (to1[k].msg.type === 'keepalive') assert.ok(to1[k].t - to1[k - 1].t >= 100 - 1e-9);
  // STATE_HASH: one per confirmed frame, plus resends for lost ones.
  const hashes = from0.filter((m) => m.msg.type === 'state_hash');
  const frames = new Set(hashes.map((m) => m.msg.frame));
  assert.equal(frames.size, records[0].episodes.reduce((a, e) => a + e.frames.length, 0));
  const bytesSent = log.filter((m) => m.from === 0).length;
  assert.equal(records[0].stats.messages_sent, bytesSent);
});

test('events and record(): started, episode_start/end, game_over, closed; partial until the end', () => {
  const g = createGame({ numPlayers: 2, seed: 33, makeEnv: () => createCounterEnv({ numPlayers: 2, minSteps: 50, maxSteps: 60 }), settings: { maxEpisodes: 2 }, link: { delayMs: 10 } });
  const seen = [];
  for (const name of ['started', 'episode_start', 'episode_end', 'game_over', 'closed']) g.sessions[0].on(name, (e) => seen.push([name, e.episode ?? null]));
  assert.equal(g.sessions[0].record().partial, true);
  g.run(1000);
  const mid = g.sessions[0].record();
  assert.equal(mid.partial, true);
  assert.equal(mid.episodes[0].end_frame, null);
  g.runToEnd(600000);
  assert.deepEqual(seen, [['started', null], ['episode_start', 0], ['episode_end', 0], ['episode_start', 1], ['episode_end', 1], ['game_over', 1], ['closed', null]]);
  const r = g.sessions[0].record();
  assert.equal(r.partial, false);
  assert.equal(r.timing.fps_target, 30);
  assert.ok(r.timing.fps_achieved > 20 && r.timing.fps_achieved <= 30.5, `fps ${r.timing.fps_achieved}`);
  assert.match(r.timing.started_at, /^2025-01-01T00:00:00/);
});

test('record() fits the pinned validation export shape (builder and JSON Schema)', () => {
  const g = createGame({
    numPlayers: 3, seed: 34,
    makeEnv: (p) => createCounterEnv({ numPlayers: 3, minSteps: 60, maxSteps: 80, noiseAt: p === 1 ? 30 : null, noiseSalt: 3 }),
    settings: { maxEpisodes: 2 }, link: { delayMs: 30, loss: 0.1 },
  });
  g.run(3000);
  g.block(0, 2, true);
  g.run(4500);
  g.unblock(0, 2, true);
  g.runToEnd(600000);
  const schema = JSON.parse(readFileSync(new URL('../../interactive_gym_p2p/validation/export.schema.json', import.meta.url), 'utf8'));
  const check = schemaChecker(schema);
  const all = g.sessions.map((s) => s.record());
  assert.ok(all.every((r) => r.desyncs.length > 0), 'every record has desyncs');
  assert.ok(all[0].connection_events.length > 0 && all[2].connection_events.length > 0, 'and connection events');
  for (const s of g.sessions) {
    const record = s.record();
    const doc = buildExport({
      record,
      ids: { game_id: 'g1', scene_id: 'scene', subject_id: `s${s.localPlayer}`, player_index: s.localPlayer, peers: s.peers.map((p) => ({ player_index: p, subject_id: `s${p}` })) },
      settings: { p2p: { ...s.settings }, validation: { hash_interval: 1 }, impairment: null },
    });
    assert.deepEqual(check(doc), []);
    assert.equal(doc.episodes.reduce((a, e) => a + e.frames.length, 0), record.episodes.reduce((a, e) => a + e.frames.length, 0), 'no row dropped by the builder');
    assert.ok(JSON.stringify(record).length > 0);
  }
});

test('a long game stays bounded: snapshots, hash buffers, compact rows', () => {
  const g = createGame({ numPlayers: 2, seed: 35, makeEnv: () => createCounterEnv({ numPlayers: 2, minSteps: 5000, maxSteps: 5000 }), settings: { fps: 60, maxEpisodes: 3 }, link: { delayMs: 50, loss: 0.05 } });
  let maxSnapshots = 0;
  let maxLocalHashes = 0;
  for (let t = 1000; t < 600000 && g.sessions.some((s) => s.state !== 'closed'); t += 1000) {
    g.run(t);
    for (const s of g.sessions) {
      maxSnapshots = Math.max(maxSnapshots, s.sync.snapshots.size);
      maxLocalHashes = Math.max(maxLocalHashes, s.desync.local.size);
    }
  }
  assertAgreement(g);
  // Snapshots: the rollback window plus frames confirmed but not yet verified (a lost hash takes
  // hashResendMs + RTT to recover); never growing with the length of the game.
  assert.ok(maxSnapshots < 200, `snapshots held ${maxSnapshots}`);
  assert.ok(maxLocalHashes <= 1024 + 64, `local hashes held ${maxLocalHashes}`);
  const s = g.sessions[0];
  const bytes = s.logs.reduce((a, l) => a + l.byteSize(), 0);
  assert.ok(bytes <= 15000 * 17, `frame log ${bytes} bytes for 15000 frames`);
  for (const m of s.desync.remote.values()) assert.ok(m.size <= 1100, `remote hashes held ${m.size}`);
});

test('the browser JS environment adapter (env_js.js) plays a networked game in agreement', async () => {
  const { createJsEnv } = await import('../../static/js/env_js.js');
  // A tiny tag game written the way a researcher would: plain state object, floats included.
  const makeGame = () => ({
    s: null,
    reset(seed) { this.s = { t: 0, players: [{ x: 0.25, y: 0 }, { x: 4.75, y: 1 }], seed, tags: 0 }; },
    step(actions) {
      const s = this.s;
      actions.forEach((a, i) => { s.players[i].x += [0, -0.1, 0.1, 0, 0][a]; s.players[i].y += [0, 0, 0, -0.1, 0.1][a]; });
      if (Math.hypot(s.players[0].x - s.players[1].x, s.players[0].y - s.players[1].y) < 0.3) s.tags += 1;
      s.t += 1;
      return s.t >= 240;
    },
    getState() { return this.s; },
    setState(v) { this.s = v; },
  });
  const g = createGame({ numPlayers: 2, seed: 36, makeEnv: () => createJsEnv(makeGame(), { numPlayers: 2 }), settings: { maxEpisodes: 2 }, link: { delayMs: 60, jitterMs: 20, loss: 0.1 } });
  g.runToEnd(600000);
  const records = assertAgreement(g);
  assert.deepEqual(records[0].episodes.map((e) => [e.start_frame, e.end_frame]), [[0, 239], [240, 479]]);
});

test('random well-formed messages from a broken peer never throw into the game loop', () => {
  for (const policy of ['end', 'default_action']) {
    const g = createGame({ numPlayers: 3, seed: 37, makeEnv: () => createCounterEnv({ numPlayers: 3, minSteps: 60, maxSteps: 90 }), settings: { maxEpisodes: 3, disconnectPolicy: policy }, link: { delayMs: 30 } });
    const prng = new Prng(policy.length);
    const frame = () => (prng.float() < 0.5 ? prng.int(400) : prng.int(0xfffffffe));
    const makers = [
      () => ({ type: 'input', player: prng.int(3), ack: prng.float() < 0.2 ? -1 : frame(), start: frame() % 500, actions: Array.from({ length: 1 + prng.int(20) }, () => prng.int(9) - 4) }),
      () => ({ type: 'ping', advantage: prng.int(65536) - 32768, time: prng.float() * 1e6 }),
      () => ({ type: 'pong', time: prng.float() * 1e6 }),
      () => ({ type: 'episode_end', frame: frame(), episode: prng.int(5) }),
      () => ({ type: 'episode_ready', episode: prng.int(5), inputDelay: prng.int(17) }),
      () => ({ type: 'state_hash', frame: frame() % 600, hash: prng.next().toString(16).padStart(8, '0').repeat(2) }),
      () => ({ type: 'hello', version: 2, player: 2, numPlayers: 3 }), // a right one (a wrong HELLO ends the game, tested above)
      () => ({ type: 'keepalive' }),
    ];
    // Only peer 2 is "broken": it injects junk into peer 0 while playing normally otherwise.
    for (let i = 0; i < 1500; i++) g.inject(0, 2, encode(makers[prng.int(makers.length)]()), 300 + i * 3);
    assert.doesNotThrow(() => g.runToEnd(600000));
    const r = g.sessions[0].record();
    assert.ok(r.stats.invalid_messages > 100, `invalid ${r.stats.invalid_messages}`);
  }
});

test('a lost BYE(game over) does not leave the peer waiting out its disconnect timeout', () => {
  // Drop peer 0's first BYE: peer 0 then has sent one and received peer 1's, so it closes at
  // once; only the extra copies it sends on closing tell peer 1 that the game is over.
  const g = createGame({ numPlayers: 2, seed: 36, makeEnv: () => createCounterEnv({ numPlayers: 2, minSteps: 40, maxSteps: 40 }), settings: { maxEpisodes: 1 }, link: { delayMs: 20 } });
  const dropped = [0, 0];
  g.sessions.forEach((s, p) => {
    const inner = s.transport.send.bind(s.transport);
    s.transport = {
      send(to, bytes) {
        const m = decode(bytes).msg;
        if (m.type === 'bye' && p === 0 && dropped[p] === 0) { dropped[p] += 1; return; }
        inner(to, bytes);
      },
    };
  });
  const finished = [];
  const closed = [];
  g.sessions.forEach((s, p) => {
    s.on('game_over', () => { finished[p] = g.clock.now(); });
    s.on('closed', () => { closed[p] = g.clock.now(); });
  });
  g.runToEnd(60000);
  assert.deepEqual(dropped, [1, 0]);
  const timeout = g.sessions[0].settings.disconnectTimeoutMs;
  for (const p of [0, 1]) {
    assert.ok(closed[p] !== undefined, `peer ${p} closed`);
    assert.ok(closed[p] - finished[p] < timeout / 2, `peer ${p} closed ${closed[p] - finished[p]} ms after game over (timeout ${timeout})`);
  }
});
