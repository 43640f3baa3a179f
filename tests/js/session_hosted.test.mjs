// Hosted seats in the rollback engine: a seat with no peer behind it whose actions ONE peer (its
// host) decides and sends as that seat's INPUT, with its own input delay. The others predict,
// roll back, hash and record it like a remote player, and never decide it themselves. When the
// host is gone the seat falls to the default action from a frame the remaining peers agree on
// (the disconnect agreement, one per seat).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createGame, confirmedRows } from './support/sim.mjs';
import { createCounterEnv } from './support/envs.mjs';
import { assertAgreement } from './support/checks.mjs';
import { P2PSession } from '../../static/js/session.js';
import { encode, decode } from '../../static/js/protocol.js';
import { readFileSync } from 'node:fs';

const env = (n) => () => createCounterEnv({ numPlayers: n, minSteps: 60, maxSteps: 150 });
// Hosted actions change often (so the others mispredict) and are never 0 (the default action).
const hostedInput = (calls) => (seat, tick, prng, session) => {
  calls.push([session.localPlayer, seat]);
  if (prng.float() < 0.3) prng.lastAction = 1 + prng.int(4);
  return prng.lastAction ?? 1;
};
const humanInput = (p, t, prng) => { if (prng.float() < 0.2) prng.lastAction = 1 + prng.int(4); return prng.lastAction ?? 1; };

test('2 humans + 1 hosted seat over a lossy 150 ms link: every peer records the host\'s actions for it; only the host decides them', () => {
  const calls = [];
  const g = createGame({
    numPlayers: 3, seed: 21, hostedSeats: [{ seat: 2, host: 0 }], makeEnv: env(3),
    settings: { fps: 30, maxEpisodes: 3, inputDelay: 2 }, link: { delayMs: 75, jitterMs: 20, loss: 0.05, reorder: 0.05 },
    input: humanInput, hosted: hostedInput(calls),
  });
  g.runToEnd(600000);
  assert.equal(g.sessions.length, 2, 'no session for the hosted seat');
  const records = assertAgreement(g);
  assert.ok(calls.length > 100 && calls.every(([p, seat]) => p === 0 && seat === 2), 'only the host decided the hosted seat');
  for (const r of records) {
    for (const ep of r.episodes) assert.deepEqual(ep.input_delays, [2, 2, 2], 'the hosted seat runs with its host\'s delay');
    assert.deepEqual(r.desyncs, []);
  }
  // The receiver predicted the hosted seat and was corrected by its INPUTs (rollbacks).
  assert.ok(g.sessions[1].sync.queues[2].mispredictions > 5, `mispredictions ${g.sessions[1].sync.queues[2].mispredictions}`);
  // Past the delay's first frames, the column holds the host's actions (never the default 0).
  const column = records[1].episodes.flatMap((e) => e.frames.filter((r) => r[0] >= 2).map((r) => r[1][2]));
  assert.ok(column.every((a) => a >= 1 && a <= 4) && new Set(column).size >= 3, `hosted column ${[...new Set(column)]}`);
  // The host sent the hosted seat's INPUTs (player byte 2) to player 1 only.
  assert.ok(records[0].stats.sent_by_type.input.messages > records[1].stats.sent_by_type.input.messages * 1.5);
});

test('1 human + 1 hosted seat: the host plays alone, with no peer and no message, to the end', () => {
  const calls = [];
  const sent = [];
  const g = createGame({
    numPlayers: 2, seed: 5, hostedSeats: [{ seat: 0, host: 1 }], makeEnv: env(2),
    settings: { fps: 30, maxEpisodes: 2, inputDelay: 1 }, input: humanInput, hosted: hostedInput(calls),
  });
  g.sessions[0].transport = { send: (peer, bytes) => sent.push(peer, bytes) };
  g.runToEnd(600000);
  const r = g.sessions[0].record();
  assert.equal(r.game_over_reason, 'completed');
  assert.equal(sent.length, 0);
  const rows = r.episodes.flatMap((e) => e.frames);
  assert.ok(rows.length >= 120);
  assert.ok(rows.filter((row) => row[0] >= 1).every((row) => row[1][0] >= 1), 'the hosted column holds the host\'s actions');
});

function hostDropGame({ seed, policy, link }) {
  // Players 0, 1, 2 are participants; seat 3 is hosted by player 2, which vanishes mid-game.
  const calls = [];
  const g = createGame({
    numPlayers: 4, seed, hostedSeats: [{ seat: 3, host: 2 }], makeEnv: env(4),
    settings: { fps: 30, maxEpisodes: 4, disconnectPolicy: policy, defaultAction: 0, inputDelay: 2 }, link,
    input: humanInput, hosted: hostedInput(calls),
  });
  const decided = [[], [], []];
  g.sessions.forEach((s, i) => s.on('default_action', (e) => decided[i].push(e)));
  g.run(5000);
  g.kill(2);
  g.runToEnd(600000);
  return { g, decided };
}

test('the host vanishes (policy default_action): its seat and the hosted seat fall to the default action from frames both survivors agree on', () => {
  const { g, decided } = hostDropGame({ seed: 31, policy: 'default_action', link: { delayMs: 50, jitterMs: 20, loss: 0.1, duplicate: 0.02, reorder: 0.05 } });
  const [r0, r1] = [g.sessions[0].record(), g.sessions[1].record()];
  for (const r of [r0, r1]) {
    assert.equal(r.game_over_reason, 'completed');
    assert.deepEqual(r.desyncs, []);
    assert.equal(r.episodes.length, 4);
  }
  assert.deepEqual(decided[0].map((e) => e.peer_index).sort(), [2, 3], 'an agreement for the host and one for its seat');
  assert.deepEqual(decided[0], decided[1], 'both survivors agreed on the same frames');
  assert.deepEqual(r0.default_action_from, r1.default_action_from);
  const D = r0.default_action_from['3'];
  assert.ok(Number.isInteger(D) && D > 60, `hosted seat default from ${D}`);
  const rows0 = confirmedRows(g.sessions[0]);
  assert.deepEqual(rows0, confirmedRows(g.sessions[1]));
  for (const [f, actions] of r0.episodes.flatMap((e) => e.frames)) {
    if (f < 2) continue;
    if (f < D) assert.notEqual(actions[3], 0, `frame ${f} before D=${D}: the host's action`);
    else assert.equal(actions[3], 0, `frame ${f} from D=${D}: the default action`);
  }
  // What the host itself confirmed before it vanished agrees with the survivors.
  const rows2 = confirmedRows(g.sessions[2]);
  assert.ok(rows2.length > 60);
  assert.deepEqual(rows2, rows0.slice(0, rows2.length));
});

test('the host vanishes (policy end): the game ends for the others too', () => {
  const { g } = hostDropGame({ seed: 32, policy: 'end', link: { delayMs: 40, loss: 0.05 } });
  for (const s of g.sessions.slice(0, 2)) {
    const r = s.record();
    assert.ok(['disconnected', 'peer_ended'].includes(r.game_over_reason), r.game_over_reason);
  }
  const a = confirmedRows(g.sessions[0]);
  const b = confirmedRows(g.sessions[1]);
  const n = Math.min(a.length, b.length);
  assert.deepEqual(a.slice(0, n), b.slice(0, n));
});

test('hosted-seat INPUT from a peer that is not its host is refused (counted), and does not change the seat', () => {
  const base = { env: createCounterEnv({ numPlayers: 3 }), transport: { send() {} }, numPlayers: 3, sharedSeed: 1, now: () => 0 };
  const s = new P2PSession({ ...base, localPlayer: 0, hostedSeats: [{ seat: 2, host: 1 }] });
  assert.deepEqual(s.peers, [1]);
  assert.deepEqual(s.localHosted, []);
  s.start();
  s.receive(1, encode({ type: 'hello', version: 2, player: 1, numPlayers: 3 }));
  // From its host: taken.
  s.receive(1, encode({ type: 'input', player: 2, ack: -1, start: 1, actions: [3, 3] }));
  assert.equal(s.sync.queues[2].lastConfirmedFrame, 2);
  assert.equal(s.counters.invalidMessages, 0);
  // Seat 2 naming itself as sender, or an INPUT for us: refused.
  s.receive(1, encode({ type: 'input', player: 0, ack: -1, start: 1, actions: [1] }));
  assert.equal(s.counters.invalidMessages, 1);
  assert.throws(() => s.setHostedAction(2, 1), /not hosted by player 0/);
  // The ack to the host covers its own seat and the hosted one (the lower run).
  s.receive(1, encode({ type: 'input', player: 1, ack: -1, start: 0, actions: [0, 1, 1, 1, 1] }));
  assert.equal(s.ackFor(s.endpoints.get(1)), 2);
});

test('the host sends its hosted seat\'s inputs as INPUTs naming the seat, with the same window and ack', () => {
  const sent = [];
  const s = new P2PSession({
    env: createCounterEnv({ numPlayers: 3 }), transport: { send: (peer, bytes) => sent.push([peer, decode(bytes).msg]) },
    numPlayers: 3, sharedSeed: 1, now: () => 0, localPlayer: 1, hostedSeats: [{ seat: 0, host: 1 }], settings: { inputDelay: 1, countdownFrames: 0 },
  });
  assert.deepEqual(s.localHosted, [0]);
  s.start();
  s.receive(2, encode({ type: 'hello', version: 2, player: 2, numPlayers: 3 }));
  s.receive(2, encode({ type: 'episode_ready', episode: 0, inputDelay: 1 }));
  s.setHostedAction(0, 7);
  s.tick(4);
  s.tick(4);
  const inputs = sent.filter(([, m]) => m.type === 'input').map(([peer, m]) => [peer, m.player, m.start, m.actions]);
  assert.deepEqual(inputs.slice(-2), [[2, 1, 0, [0, 4, 4]], [2, 0, 0, [0, 7, 7]]]);
  assert.throws(() => s.setHostedAction(0, 2 ** 31), /signed 32-bit/);
  assert.throws(() => new P2PSession({ ...s, env: createCounterEnv({ numPlayers: 3 }), transport: { send() {} }, numPlayers: 3, sharedSeed: 1, localPlayer: 1, hostedSeats: [{ seat: 1, host: 0 }] }), /hostedSeats/);
  assert.throws(() => new P2PSession({ env: createCounterEnv({ numPlayers: 3 }), transport: { send() {} }, numPlayers: 3, sharedSeed: 1, localPlayer: 1, hostedSeats: [{ seat: 0, host: 2 }, { seat: 2, host: 1 }] }), /hostedSeats/);
  assert.throws(() => new P2PSession({ env: createCounterEnv({ numPlayers: 3 }), transport: { send() {} }, numPlayers: 3, sharedSeed: 1, localPlayer: 1, aiSeats: [0], hostedSeats: [{ seat: 0, host: 1 }] }), /hostedSeats/);
});

// tests/vectors/protocol.json "hosted_seats": the same bytes in, the same behaviour, in both engines.
const VECTORS = JSON.parse(readFileSync(new URL('../vectors/protocol.json', import.meta.url), 'utf8')).hosted_seats;
const fromHex = (hex) => new Uint8Array(Buffer.from(hex, 'hex'));
const camel = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k.replace(/_([a-z])/g, (_, c) => c.toUpperCase()), v]));
function vectorSession(v, sent) {
  return new P2PSession({
    env: createCounterEnv({ numPlayers: v.num_players }), transport: { send: (peer, bytes) => sent.push([peer, Buffer.from(bytes).toString('hex')]) },
    numPlayers: v.num_players, localPlayer: v.local_player, sharedSeed: 1, now: () => 0,
    hostedSeats: v.hosted_seats.map(([seat, host]) => ({ seat, host })), settings: camel(v.settings),
  });
}

test('vectors: a receiver takes hosted-seat INPUTs from the host only (protocol.json hosted_seats.receiver)', () => {
  const v = VECTORS.receiver;
  const s = vectorSession(v, []);
  s.start();
  for (const m of v.messages) s.receive(v.from, fromHex(m.hex));
  for (const [p, f] of Object.entries(v.expect.last_confirmed)) assert.equal(s.sync.queues[Number(p)].lastConfirmedFrame, f, `seat ${p}`);
  assert.equal(s.counters.invalidMessages, v.expect.invalid_messages);
  assert.equal(s.ackFor(s.endpoints.get(v.from)), v.expect.ack_to_host);
});

test('vectors: a host sends its seat\'s INPUT beside its own (protocol.json hosted_seats.host)', () => {
  const v = VECTORS.host;
  const sent = [];
  const s = vectorSession(v, sent);
  s.start();
  for (const m of v.messages) s.receive(v.from, fromHex(m.hex));
  s.setHostedAction(...v.hosted_action);
  for (const a of v.ticks) s.tick(a);
  assert.deepEqual(sent.filter(([, hex]) => hex.startsWith('01')).slice(-2).map(([peer, hex]) => [peer, hex]), v.expect_last_sent.map((hex) => [v.from, hex]));
});
