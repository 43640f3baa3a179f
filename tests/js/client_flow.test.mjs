// client_flow.js: the participant flow driven by fake Socket.IO sockets (the test plays the
// server), a recording UI and a scriptable game. Checks the phases of Contract A, the
// events sent to the server, the waiting-room text, the export ids and the upload states.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { createClientFlow, createDiag, waitroomText, PHASES, ENV_LOAD_MESSAGE, WORKER_UNSUPPORTED_MESSAGE } from '../../static/js/client_flow.js';
import { schemaChecker } from './support/export_schema.mjs';
import {
  fakeConnector, fakeUi, fakeGameFactory, manualTimers, CONFIG, p2pScene, gameReady, sampleRecord, settle,
  answerOutcome, outcomePage, memoryStorage,
} from './support/client_fakes.mjs';

const check = schemaChecker(JSON.parse(readFileSync(new URL('../../interactive_gym_p2p/validation/export.schema.json', import.meta.url), 'utf8')));

function setup({ autoAdvance = false, env = { fake: 'env' }, envError = null, loadEnv, uploadExport, fetch, config = CONFIG, runScreening,
  runProbe, preload, storage = memoryStorage() } = {}) {
  const connect = fakeConnector();
  const ui = fakeUi();
  const diag = createDiag();
  const timers = manualTimers();
  const createGame = fakeGameFactory();
  const uploads = [];
  const navigations = [];
  const flow = createClientFlow({
    config, diag, ui, connect, createGame, timers, now: timers.now, autoAdvance,
    loadEnv: loadEnv ?? (async () => { if (envError) throw envError; return env; }),
    uploadExport: uploadExport ?? (async (args) => {
      uploads.push(args);
      args.onStatus({ phase: 'uploading', attempt: 1, maxAttempts: 8 });
      args.onStatus({ phase: 'stored', attempt: 1, httpStatus: 201 });
      return { ok: true, outcome: 'stored', attempts: 1 };
    }),
    fetch,
    runScreening,
    ...(runProbe ? { runProbe } : {}),
    ...(preload ? { preload } : {}),
    storage,
    navigate: (url) => navigations.push(url),
    log: { warn() {}, info() {}, error() {} },
  });
  flow.start();
  const root = connect.of('/');
  return { flow, connect, ui, diag, timers, createGame, uploads, navigations, root, storage };
}

async function enterGame(t, { env } = {}) {
  t.root.serve('activate_scene', p2pScene());
  const sig = t.connect.of('/p2p');
  sig.serve('connect');
  await settle();
  sig.serve('game_ready', gameReady());
  const game = t.createGame.games[0];
  return { sig, game };
}

test('the diagnostic object starts in Contract A shape', () => {
  const d = createDiag();
  assert.deepEqual(Object.keys(d), ['phase', 'sceneId', 'sceneType', 'gameId', 'playerIndex', 'numPlayers', 'path',
    'frame', 'confirmedFrame', 'verifiedFrame', 'episode', 'upload', 'gameOver', 'endedBy', 'render', 'clock', 'countdown',
    'hidden', 'reconnecting', 'excluded', 'preload', 'times', 'rejoin', 'messages', 'errors', 'outcome', 'recruitment', 'screening', 'hosted', 'envResources']);
  assert.equal(d.phase, 'connecting');
  assert.deepEqual(d.upload, { status: 'idle', attempts: 0, error: null });
  assert.ok(PHASES.includes('partner_left') && PHASES.includes('episode_transition') && PHASES.includes('rejoining'));
});

test('connects / with the subject id; a static scene shows Continue, which advances that scene', () => {
  const t = setup();
  assert.deepEqual(t.root.opts, { auth: { subject_id: 'alice' } });
  assert.equal(t.diag.phase, 'connecting');
  t.root.serve('activate_scene', { scene_id: 'welcome', scene_type: 'StartScene', scene_header: 'Hi', scene_body: '<p>x</p>', element_ids: ['age'] });
  assert.equal(t.diag.phase, 'scene');
  assert.equal(t.ui.phases.at(-1), 'scene');
  assert.deepEqual(t.ui.scenes.at(-1), { header: 'Hi', subheader: '', body: '<p>x</p>' });
  assert.equal(t.diag.sceneId, 'welcome');
  assert.ok(t.ui.button, 'Continue shown');
  t.ui.button.onClick();
  t.ui.button?.onClick?.(); // a double click sends nothing more
  assert.deepEqual(t.root.emitted('static_scene_data_emission'), [{ scene_id: 'welcome', data: { age: 'value-of-age' } }]);
  assert.deepEqual(t.root.emitted('advance_scene'), [{ scene_id: 'welcome' }]);
  assert.equal(t.ui.button, null, 'hidden after the click');
  t.root.serve('activate_scene', { scene_id: 'thanks', scene_type: 'EndScene', scene_header: 'Bye' });
  assert.equal(t.ui.button, null, 'the end scene has nowhere to advance to');
});

test('?autoadvance clicks Continue by itself once it appears', () => {
  const t = setup({ autoAdvance: true });
  t.root.serve('activate_scene', { scene_id: 'welcome', scene_type: 'StartScene' });
  assert.deepEqual(t.root.emitted('advance_scene'), []);
  t.timers.advance(0);
  assert.deepEqual(t.root.emitted('advance_scene'), [{ scene_id: 'welcome' }]);
});

test('waiting room text counts players and time', () => {
  assert.equal(waitroomText({ players_waiting: 1, players_needed: 2, remaining_s: 120 }),
    'Waiting for other participants: 1 player here, 2 needed. Time left: 2:00');
  assert.equal(waitroomText({ players_waiting: 2, players_needed: 3, remaining_s: 65.2 }, 9.1),
    'Waiting for other participants: 2 players here, 3 needed. Time left: 0:10');
  assert.equal(waitroomText({ players_waiting: 1, players_needed: 2, group: true }), 'Waiting for your group: 1 of 2 here.');
});

test('P2P scene: join at once, load, wait with a countdown, then connect, play and upload', async () => {
  const t = setup();
  t.root.serve('activate_scene', p2pScene());
  assert.equal(t.diag.phase, 'loading');
  assert.equal(t.diag.sceneType, 'P2PGymScene');
  const sig = t.connect.of('/p2p');
  assert.deepEqual(sig.opts, { auth: { ticket: 'TICKET-1' } });
  sig.serve('connect');
  assert.deepEqual(sig.emitted('join'), [{}], 'joins before the environment has loaded');
  await settle();
  assert.equal(t.diag.phase, 'waiting');
  sig.serve('waiting', { scene_id: 'game', players_needed: 2, players_waiting: 1, remaining_s: 30, group: false });
  assert.equal(t.ui.waitroomTexts.at(-1), 'Waiting for other participants: 1 player here, 2 needed. Time left: 0:30');
  t.timers.advance(5000);
  assert.equal(t.ui.waitroomTexts.at(-1), 'Waiting for other participants: 1 player here, 2 needed. Time left: 0:25');

  sig.serve('game_ready', gameReady());
  assert.equal(t.ui.waitroomTexts.at(-1), null, 'waiting room hidden');
  const game = t.createGame.games[0];
  assert.deepEqual(game.beganWith, { fake: 'env' });
  assert.equal(game.opts.gameReady.game_id, 'g1');
  assert.equal(game.opts.keyboardTarget, t.ui.keyboardTarget);
  assert.equal(t.diag.gameId, 'g1');
  assert.equal(t.diag.playerIndex, 0);
  assert.equal(t.diag.numPlayers, 2);
  const pending = t.timers.pending;
  t.timers.advance(10000);
  assert.equal(t.timers.pending, pending, 'countdown stopped');

  // The signaling adapter given to the game talks `signal` on the /p2p socket.
  game.opts.signaling.send(1, { kind: 'offer', sdp: 'v=0' });
  assert.deepEqual(sig.emitted('signal').at(-1), { game_id: 'g1', to: 1, kind: 'offer', data: { type: 'offer', sdp: 'v=0' } });

  game.hooks.phase('peer_connecting');
  assert.equal(t.diag.phase, 'peer_connecting');
  game.hooks.phase('playing');
  assert.equal(t.diag.phase, 'playing');
  assert.equal(t.ui.gameVisible, true);
  const path = { kind: 'relay', protocol: 'udp', local_candidate_type: 'relay', remote_candidate_type: 'relay' };
  game.hooks.path(path);
  assert.deepEqual(t.diag.path, path);
  assert.deepEqual(t.root.emitted('client_callback'), [{ type: 'p2p_status', game_id: 'g1', event: 'connected', path }]);
  game.hooks.frame({ frame: 40, confirmedFrame: 36, verifiedFrame: 35, episode: 0 });
  assert.deepEqual([t.diag.frame, t.diag.confirmedFrame, t.diag.verifiedFrame, t.diag.episode], [40, 36, 35, 0]);
  game.hooks.hud(['ping 10 ms']);
  assert.deepEqual(t.ui.hudLines, ['ping 10 ms']);

  game.hooks.episodeEnd({ episode: 0, frame: 29, forced: false });
  assert.equal(t.diag.phase, 'episode_transition');
  assert.ok(t.diag.messages.includes('Round 1 of 2 finished.'));
  game.hooks.episodeStart({ episode: 1, seed: 1, frame: 30 });
  assert.equal(t.diag.phase, 'playing');
  game.hooks.episodeEnd({ episode: 1, frame: 59, forced: false });
  assert.equal(t.diag.phase, 'playing', 'no transition after the last round');
  game.hooks.gameOver({ reason: 'completed', frame: 59, episode: 1 });
  assert.deepEqual(t.diag.gameOver, { reason: 'completed', frame: 59, episode: 1 });
  game.hooks.ended({ record: sampleRecord(), reason: 'completed' });
  assert.equal(t.diag.phase, 'uploading');
  await settle();

  assert.equal(t.uploads.length, 1);
  const up = t.uploads[0];
  assert.equal(up.url, '/p2p/exports/g1/0');
  assert.equal(up.token, 'TOKEN');
  assert.deepEqual(up.doc.ids, { game_id: 'g1', scene_id: 'game', subject_id: 'alice', player_index: 0, peers: [{ player_index: 1, subject_id: 'bob' }], recruitment: {} });
  assert.equal(up.doc.partial, false);
  assert.deepEqual(up.doc.settings, p2pScene().p2p.settings);
  assert.deepEqual(check(up.doc), [], 'the export fits the shipped schema');
  assert.deepEqual(t.diag.upload, { status: 'uploaded', attempts: 1, error: null });
  assert.ok(t.diag.messages.includes('Saving your data... (attempt 1)'));
  assert.ok(t.diag.messages.includes('Your data is saved.'));
  assert.deepEqual(sig.emitted('finished'), [{ game_id: 'g1' }]);
  assert.equal(t.diag.phase, 'done');
  assert.ok(t.ui.button, 'Continue shown after the upload');
  t.ui.button.onClick();
  assert.deepEqual(t.root.emitted('advance_scene'), [{ scene_id: 'game' }]);
  t.root.serve('terminate_scene', { scene_id: 'game' });
  assert.equal(sig.disconnected, true);
});

test('upload that fails is shown, recorded, and still lets the participant continue', async () => {
  const t = setup({
    uploadExport: async ({ onStatus }) => {
      onStatus({ phase: 'uploading', attempt: 1, maxAttempts: 2 });
      onStatus({ phase: 'retrying', attempt: 1, maxAttempts: 2, delayMs: 500, reason: 'server error: HTTP 503' });
      onStatus({ phase: 'uploading', attempt: 2, maxAttempts: 2 });
      onStatus({ phase: 'failed', attempts: 2, reason: 'server error: HTTP 503' });
      return { ok: false, outcome: 'gave_up', attempts: 2 };
    },
  });
  const { game } = await enterGame(t);
  game.hooks.ended({ record: sampleRecord(), reason: 'completed' });
  await settle();
  assert.deepEqual(t.diag.upload, { status: 'failed', attempts: 2, error: 'server error: HTTP 503' });
  assert.ok(t.diag.messages.includes('Saving your data... (attempt 2)'));
  assert.ok(t.diag.messages.some((m) => m.startsWith('Saving your data did not work (server error: HTTP 503)')));
  assert.deepEqual(t.diag.errors.at(-1), { code: 'upload', message: 'Could not save your data: server error: HTTP 503. Please tell the experimenter.' });
  assert.equal(t.diag.phase, 'done');
  assert.ok(t.ui.button);
});

test('no upload slot (export disabled): upload status disabled, game still finishes', async () => {
  const t = setup();
  t.root.serve('activate_scene', p2pScene());
  const sig = t.connect.of('/p2p');
  sig.serve('connect');
  await settle();
  sig.serve('game_ready', gameReady({ upload: null }));
  t.createGame.games[0].hooks.ended({ record: sampleRecord(), reason: 'completed' });
  await settle();
  assert.equal(t.diag.upload.status, 'disabled');
  assert.equal(t.uploads.length, 0);
  assert.equal(t.diag.phase, 'done');
});

test('partner leaves mid-game: message, final phase partner_left, seat left', async () => {
  const t = setup();
  const { sig, game } = await enterGame(t);
  game.started = true;
  game.hooks.phase('playing');
  game.hooks.connection({ peer_index: 1, event: 'left', frame: 50, time: 0 });
  assert.ok(t.diag.messages.includes('Your partner left the game.'));
  game.hooks.gameOver({ reason: 'disconnected', frame: 48, episode: 0 });
  game.hooks.ended({ record: sampleRecord(), reason: 'disconnected' });
  await settle();
  assert.equal(t.diag.phase, 'partner_left');
  assert.deepEqual(sig.emitted('leave'), [{ game_id: 'g1' }]);
  assert.deepEqual(sig.emitted('finished'), []);
  assert.equal(t.uploads.length, 1, 'what was played is still uploaded');
  // Then (after the upload) the study ends with partner_left; the server answers with the page.
  assert.deepEqual(t.root.emitted('study_outcome'), [{ outcome: 'partner_left', reason: 'disconnected', detail: 'game over: disconnected', game_id: 'g1' }]);
  assert.equal(t.ui.button, null, 'no Continue: the study is over');
  answerOutcome(t.root, { code: 'PL123' });
  await settle();
  assert.equal(t.diag.phase, 'ended');
  assert.equal(t.diag.outcome.code, 'PL123');
  assert.equal(t.ui.outcomes.at(-1).code, 'PL123');
  assert.equal(t.ui.outcomes.at(-1).keepScene, false);
});

test('with policy default_action the game goes on after the partner left', async () => {
  const t = setup();
  const scene = p2pScene({ policy: 'default_action' });
  t.root.serve('activate_scene', scene);
  const sig = t.connect.of('/p2p');
  sig.serve('connect');
  await settle();
  sig.serve('game_ready', gameReady({ scene }));
  const game = t.createGame.games[0];
  game.hooks.phase('playing');
  game.hooks.connection({ peer_index: 1, event: 'disconnected', frame: 50, time: 0 });
  assert.ok(t.diag.messages.includes('Your partner left the game. The game goes on without them.'));
  assert.equal(t.diag.phase, 'playing');
});

test('partner leaves before the connection opened: connection_failed outcome, no Continue', async () => {
  const t = setup();
  const { sig, game } = await enterGame(t);
  game.hooks.phase('peer_connecting');
  sig.serve('peer_left', { game_id: 'g1', player_index: 1, reason: 'left', policy: 'end', game_over: true });
  assert.equal(game.abandoned, 1);
  assert.equal(t.diag.phase, 'partner_left');
  assert.equal(t.ui.button, null);
  const [report] = t.root.emitted('study_outcome');
  assert.equal(report.outcome, 'connection_failed');
  assert.equal(report.reason, 'peer');
  answerOutcome(t.root, { code: 'CF1' });
  await settle();
  assert.equal(t.diag.phase, 'ended');
  assert.equal(t.diag.outcome.outcome, 'connection_failed');
});

test('connection timeout, no second chance: clear message, status to the server, connection_failed outcome', async () => {
  const t = setup();
  const { sig, game } = await enterGame(t);
  game.hooks.failed({ peer: 1, code: 'connect_timeout', message: 'no WebRTC connection to player 1 within 20 s' });
  assert.equal(game.abandoned, 1);
  assert.deepEqual(t.root.emitted('client_callback').at(-1),
    { type: 'p2p_status', game_id: 'g1', event: 'connect_failed', detail: 'no WebRTC connection to player 1 within 20 s' });
  assert.deepEqual(sig.emitted('connection_failed'),
    [{ game_id: 'g1', code: 'connect_timeout', detail: 'no WebRTC connection to player 1 within 20 s' }]);
  game.hooks.failed({ peer: 1, code: 'ice_failed', message: 'again' });
  assert.equal(sig.emitted('connection_failed').length, 1, 'reported once');
  // The server says this participant cannot be put back (limit reached or re-pairing off).
  sig.serve('requeued', { game_id: 'g1', requeued: false, reason: 'connect_timeout', message: 'Could not connect to your partner. The game cannot take place.' });
  assert.equal(t.diag.phase, 'error');
  assert.equal(t.diag.errors.at(-1).code, 'connection_failed');
  assert.match(t.diag.errors.at(-1).message, /Could not connect to your partner/);
  assert.equal(t.ui.button, null);
  assert.deepEqual(t.root.emitted('study_outcome'), [{ outcome: 'connection_failed', reason: 'peer',
    detail: 'connect_timeout: Could not connect to your partner. The game cannot take place.', game_id: 'g1' }]);
});

test('connection failure refused by the server (not in that game any more): the old message', async () => {
  const t = setup();
  const { sig, game } = await enterGame(t);
  game.hooks.failed({ peer: 1, code: 'ice_failed', message: 'ICE to player 1 failed' });
  const [, , ack] = sig.acks.find(([ev]) => ev === 'connection_failed');
  ack({ ok: false, error: { code: 'not_in_game', message: 'no' } });
  assert.equal(t.diag.phase, 'error');
  assert.match(t.diag.errors.at(-1).message, /Could not connect to your partner \(ICE to player 1 failed\)/);
  assert.deepEqual(t.root.emitted('study_outcome').map((r) => [r.outcome, r.reason]), [['connection_failed', 'peer']]);
});

test('a failed connection puts the participant back into the waiting room, then a new game', async () => {
  const t = setup();
  const { sig, game } = await enterGame(t);
  const listening = () => [sig.handlers.get('signal')?.size ?? 0, sig.handlers.get('relay')?.size ?? 0];
  const withOneGame = listening(); // the early keeper's and this game's
  sig.serve('waiting', { scene_id: 'game', players_needed: 2, players_waiting: 1, remaining_s: 60 });
  game.hooks.phase('peer_connecting');
  // The partner reported first: the server's word arrives before our own timeout.
  sig.serve('requeued', { game_id: 'g1', requeued: true, reason: 'ice_failed', message: 'Could not connect to your partner; looking for another partner...' });
  assert.equal(game.abandoned, 1);
  assert.equal(t.diag.phase, 'waiting');
  assert.equal(t.diag.gameId, null);
  assert.ok(t.diag.messages.includes('Could not connect to your partner; looking for another partner...'));
  sig.serve('requeued', { game_id: 'g1', requeued: true }); // repeated: ignored
  assert.deepEqual(listening(), withOneGame.map((n) => n - 1), 'the old game stopped listening');
  sig.serve('waiting', { scene_id: 'game', players_needed: 2, players_waiting: 1, remaining_s: 60, requeues: 1 });
  assert.match(t.ui.waitroomTexts.at(-1), /looking for another one/);
  const second = { ...gameReady(), game_id: 'g2', upload: { url: '/p2p/exports/g2/0', token: 'T2' } };
  sig.serve('game_ready', second);
  assert.equal(t.createGame.games.length, 2);
  assert.equal(t.diag.gameId, 'g2');
  assert.deepEqual(listening(), withOneGame, 'one game listens at a time');
  const g2 = t.createGame.games[1];
  assert.deepEqual(g2.beganWith, { fake: 'env' });
  g2.hooks.phase('playing');
  assert.equal(t.diag.phase, 'playing');
  assert.equal(sig.emitted('leave').length, 0);
});

test('the server measures its RTT on the signaling socket: rtt_ping is acked at once', async () => {
  const t = setup();
  t.root.serve('activate_scene', p2pScene());
  const sig = t.connect.of('/p2p');
  const acks = [];
  for (const fn of sig.handlers.get('rtt_ping')) fn({ seq: 1 }, (x) => acks.push(x));
  assert.deepEqual(acks, [{}]);
});

test('a probe runs until game_ready; its texts in the waiting room', async () => {
  const probes = [];
  const flowProbe = (opts) => { const p = { opts, closed: 0, close() { p.closed += 1; } }; probes.push(p); return p; };
  const { connect, diag, root } = setup({ runProbe: flowProbe });
  root.serve('activate_scene', p2pScene());
  const sig = connect.of('/p2p');
  sig.serve('connect');
  await settle();
  sig.serve('probe', { probe_id: 'p1', player_index: 0, num_players: 2, pings: 5, timeout_s: 10 });
  assert.equal(probes.length, 1);
  assert.equal(probes[0].opts.probe.probe_id, 'p1');
  assert.equal(probes[0].opts.socket, sig);
  sig.serve('probe', { probe_id: 'p2', player_index: 1, num_players: 2 });
  assert.equal(probes[0].closed, 1, 'a new probe replaces the old one');
  sig.serve('game_ready', gameReady());
  assert.equal(probes[1].closed, 1, 'game_ready ends the probe');
  assert.equal(diag.gameId, 'g1');
  assert.match(waitroomText({ state: 'probing' }), /checking the connection/);
  assert.match(waitroomText({ state: 'bot', announce_bot: true }), /computer partner/);
  assert.doesNotMatch(waitroomText({ state: 'bot', announce_bot: false }), /computer/);
});

test('game_ready settings (a condition) drive the game, not the scene block', async () => {
  const t = setup();
  t.root.serve('activate_scene', p2pScene());
  const sig = t.connect.of('/p2p');
  sig.serve('connect');
  await settle();
  const g = gameReady({ scene: p2pScene({ policy: 'default_action' }) });
  sig.serve('game_ready', { ...g, condition: 'lenient' });
  const game = t.createGame.games[0];
  game.hooks.phase('playing');
  game.hooks.connection({ peer_index: 1, event: 'disconnected', frame: 5, time: 0 });
  assert.ok(t.diag.messages.includes('Your partner left the game. The game goes on without them.'));
});

test('game_ready before the environment loaded: the game begins when it is ready', async () => {
  let release;
  const { connect, diag, createGame, root } = setup({ loadEnv: () => new Promise((resolve) => { release = resolve; }) });
  root.serve('activate_scene', p2pScene());
  const sig = connect.of('/p2p');
  sig.serve('game_ready', gameReady());
  assert.equal(diag.phase, 'loading');
  assert.equal(createGame.games[0].beganWith, null);
  await settle();
  assert.equal(diag.phase, 'loading');
  release({ late: true });
  await settle();
  assert.deepEqual(createGame.games[0].beganWith, { late: true });
});

const RAW_MODULE_ERROR = 'Failed to fetch dynamically imported module: https://cdn.example/pyodide.mjs';

test('environment that fails to load while waiting: plain message, out of the waiting room, reported', async () => {
  const t = setup({ envError: new TypeError(RAW_MODULE_ERROR) });
  t.root.serve('activate_scene', p2pScene());
  const sig = t.connect.of('/p2p');
  await settle();
  assert.equal(t.diag.phase, 'error');
  assert.deepEqual(t.diag.errors.at(-1), { code: 'env_load', message: ENV_LOAD_MESSAGE, detail: RAW_MODULE_ERROR });
  // The participant reads a plain sentence, never the module error, and no stale status line.
  assert.equal(t.ui.errors.at(-1), ENV_LOAD_MESSAGE);
  assert.ok(!t.ui.errors.some((e) => e?.includes('dynamically imported')), t.ui.errors);
  assert.equal(t.ui.statuses.at(-1), '');
  assert.ok(t.ui.statuses.includes('Loading the game...'));
  // It leaves the waiting room (nobody gets matched with it) and may go on.
  assert.equal(sig.disconnected, true);
  assert.deepEqual(t.root.emitted('client_callback').at(-1),
    { type: 'p2p_status', game_id: null, event: 'env_load_failed', detail: RAW_MODULE_ERROR });
  // The study ends with the error outcome (the technical reason goes to the server).
  assert.equal(t.ui.button, null);
  assert.deepEqual(t.root.emitted('study_outcome'), [{ outcome: 'error', reason: 'env_load', detail: RAW_MODULE_ERROR, game_id: null }]);
  // A later connect does not join.
  sig.serve('connect');
  assert.deepEqual(sig.emitted('join'), []);
});

test('a browser that cannot start the game worker: the participant reads which browsers work, not a blank page', async () => {
  const err = new Error('this browser cannot start the game worker (a module Web Worker): TypeError: nope');
  err.code = 'worker_unsupported';
  const t = setup({ envError: err });
  t.root.serve('activate_scene', p2pScene());
  await settle();
  assert.equal(t.diag.phase, 'error');
  assert.deepEqual(t.diag.errors.at(-1), { code: 'worker_unsupported', message: WORKER_UNSUPPORTED_MESSAGE, detail: err.message });
  assert.equal(t.ui.errors.at(-1), WORKER_UNSUPPORTED_MESSAGE);
  assert.match(WORKER_UNSUPPORTED_MESSAGE, /Chrome.*Firefox.*Safari/);
  assert.deepEqual(t.root.emitted('study_outcome'), [{ outcome: 'error', reason: 'env_load', detail: err.message, game_id: null }]);
});

test('environment that fails after game_ready: the seat is given up with the same plain message', async () => {
  let fail;
  const { connect, ui, diag, createGame, root } = setup({ loadEnv: () => new Promise((_resolve, reject) => { fail = reject; }) });
  root.serve('activate_scene', p2pScene());
  const sig = connect.of('/p2p');
  sig.serve('game_ready', gameReady());
  assert.equal(ui.statuses.at(-1), 'Partner found; loading the game...');
  await settle();
  fail(Object.assign(new Error('could not install package "tug-rules": ValueError: no such package'), { package: 'tug-rules' }));
  await settle();
  assert.equal(diag.phase, 'error');
  assert.equal(createGame.games[0].abandoned, 1);
  assert.deepEqual(sig.emitted('leave'), [{ game_id: 'g1' }]);
  assert.equal(ui.errors.at(-1), ENV_LOAD_MESSAGE);
  assert.equal(ui.statuses.at(-1), '');
  assert.deepEqual(root.emitted('client_callback').at(-1),
    { type: 'p2p_status', game_id: 'g1', event: 'env_load_failed', detail: 'could not install package "tug-rules": ValueError: no such package',
      package: 'tug-rules' });
  assert.deepEqual(root.emitted('study_outcome'), [{ outcome: 'error', reason: 'env_load', detail: 'could not install package "tug-rules": ValueError: no such package', game_id: 'g1' }]);
});

test('every error clears the status line under it', async () => {
  const t = setup();
  t.root.serve('activate_scene', p2pScene());
  const sig = t.connect.of('/p2p');
  await settle();
  sig.serve('wait_timeout', { scene_id: 'game', reason: 'no_match', message: 'Nobody else came.', waited_s: 120 });
  assert.equal(t.diag.phase, 'error');
  assert.equal(t.ui.statuses.at(-1), '');
});

test('wait timeout: message, then the server\'s outcome page and its redirect', async () => {
  const t = setup();
  t.root.serve('activate_scene', p2pScene());
  const sig = t.connect.of('/p2p');
  await settle();
  sig.serve('wait_timeout', { scene_id: 'game', reason: 'no_match', message: 'Nobody else came.', waited_s: 120, redirect_url: 'https://example.org/x' });
  assert.equal(t.diag.phase, 'error');
  assert.deepEqual(t.diag.errors.at(-1), { code: 'wait_timeout', message: 'Nobody else came.' });
  t.timers.advance(10_000);
  assert.deepEqual(t.navigations, [], 'the page does not redirect on its own: the server decides');
  assert.deepEqual(t.root.emitted('study_outcome'), [], 'lobby_timeout is the server\'s to record');
  // The server recorded lobby_timeout: it leaves the scene and sends the page.
  t.root.serve('terminate_scene', { scene_id: 'game' });
  t.root.serve('study_end', outcomePage('lobby_timeout', { reason: 'no_match', code: 'LT1', redirectUrl: 'https://example.org/x?cc=LT1', delay: 2 }));
  await settle();
  assert.equal(t.diag.phase, 'ended');
  assert.equal(t.ui.outcomes.at(-1).code, 'LT1');
  t.timers.advance(1999);
  assert.deepEqual(t.navigations, []);
  t.timers.advance(1);
  assert.deepEqual(t.navigations, ['https://example.org/x?cc=LT1']);
});

test('reload during the game (rejoin): "Rejoining your game..." with progress, then the game, one merged export', async () => {
  const t = setup();
  // What the page before the reload left in this tab's sessionStorage.
  const before = sampleRecord({ partial: true, frames: 5 });
  before.connection_events = [{ peer_index: 1, event: 'interrupted', frame: 3, time: '2025-01-01T00:00:00.500Z' }];
  before.hidden_intervals = [{ first_frame: 2, last_frame: 3, started_at: '2025-01-01T00:00:00.200Z', ended_at: '2025-01-01T00:00:00.300Z', duration_s: 0.1, excluded: false }];
  before.stats.rollbacks = 4;
  t.storage.setItem('igp2p:resume:g1:0', JSON.stringify({
    version: 1, game_id: 'g1', player_index: 0, saved_at: '2025-01-01T00:00:00.900Z',
    record: { started_at: '2025-01-01T00:00:00.000Z', connection_events: before.connection_events, desyncs: [],
      hidden_intervals: before.hidden_intervals, rejoins: [], stats: { rollbacks: 4, bytes_sent: 50, max_rollback_depth: 2, rollback_depth_histogram: { 2: 1 } } },
  }));
  t.root.serve('activate_scene', p2pScene());
  const sig = t.connect.of('/p2p');
  sig.serve('connect');
  await settle();
  sig.serve('game_ready', gameReady({ rejoin: true }));
  const game = t.createGame.games[0];
  assert.equal(game.opts.rejoin, true, 'the game is created to rejoin');
  assert.deepEqual(sig.emitted('leave'), [], 'the seat is kept');
  assert.equal(t.diag.errors.length, 0);
  assert.ok(t.diag.messages.includes('Rejoining your game...'));
  game.hooks.phase('peer_connecting');
  game.started = true;
  game.hooks.phase('playing');
  assert.equal(t.diag.phase, 'rejoining', 'not playing before the game is rebuilt');
  game.hooks.rejoin({ phase: 'transfer', received: 500, total: 2000, frame: null, target: null });
  assert.equal(t.ui.statuses.at(-1), 'Rejoining your game... receiving the game so far (25 %).');
  game.hooks.rejoin({ phase: 'replay', received: 2000, total: 2000, frame: 99, target: 199 });
  assert.equal(t.ui.statuses.at(-1), 'Rejoining your game... catching up (50 %).');
  assert.deepEqual(t.diag.rejoin, { phase: 'replay', received: 2000, total: 2000, frame: 99, target: 199 });
  const info = { source: 1, requested_at: '2025-01-01T00:00:02.000Z', caught_up_at: '2025-01-01T00:00:03.000Z', frame: 210, frames: 200, bytes: 2000, transfer_s: 0.5, replay_s: 0.5 };
  game.hooks.rejoined(info);
  assert.equal(t.diag.phase, 'playing');
  assert.equal(t.ui.gameVisible, true);
  // The game ends normally: one export for the whole game, with what the old page knew.
  const after = sampleRecord({ frames: 12 });
  after.rejoins = [info];
  after.connection_events = [{ peer_index: 1, event: 'rejoined', frame: 210, time: '2025-01-01T00:00:03.000Z' }];
  after.hidden_intervals = [];
  game.hooks.ended({ record: after, reason: 'completed' });
  await settle();
  const doc = t.uploads[0].doc;
  assert.deepEqual(check(doc), []);
  assert.equal(doc.episodes[0].frames.length, 12, 'the rows are the re-made ones');
  assert.deepEqual(doc.connection_events.map((e) => e.event), ['interrupted', 'rejoined']);
  assert.deepEqual(doc.hidden_intervals, before.hidden_intervals);
  assert.deepEqual(doc.rejoins, [{ reloaded_at: '2025-01-01T00:00:00.900Z', ...info }]);
  assert.equal(doc.timing.started_at, '2025-01-01T00:00:00.000Z');
  assert.equal(doc.stats.rollbacks, 4);
  assert.equal(doc.stats.bytes_sent, 150);
  assert.equal(doc.stats.max_rollback_depth, 2);
  assert.deepEqual(sig.emitted('finished'), [{ game_id: 'g1' }]);
  assert.equal(t.storage.getItem('igp2p:resume:g1:0'), null, 'the note is dropped once the export is saved');
});

test('the server ends the study while a rejoined page plays: its partial export is one document with the earlier page', async () => {
  const t = setup();
  t.storage.setItem('igp2p:resume:g1:0', JSON.stringify({
    version: 1, game_id: 'g1', player_index: 0, saved_at: '2025-01-01T00:00:00.900Z',
    record: { started_at: '2024-12-31T23:59:59.000Z', connection_events: [], desyncs: [], hidden_intervals: [], rejoins: [],
      stats: { rollbacks: 4, bytes_sent: 50, max_rollback_depth: 2, rollback_depth_histogram: { 2: 1 } } },
  }));
  t.root.serve('activate_scene', p2pScene());
  const sig = t.connect.of('/p2p');
  sig.serve('connect');
  await settle();
  sig.serve('game_ready', gameReady({ rejoin: true }));
  const game = t.createGame.games[0];
  game.started = true;
  game.hooks.phase('playing');
  const info = { source: 1, requested_at: '2025-01-01T00:00:02.000Z', caught_up_at: '2025-01-01T00:00:03.000Z', frame: 210, frames: 200, bytes: 2000, transfer_s: 0.5, replay_s: 0.5 };
  game.hooks.rejoined(info);
  game.abandonRecord = { ...sampleRecord({ partial: true }), rejoins: [info] };
  t.root.serve('terminate_scene', { scene_id: 'game' });
  t.root.serve('study_end', outcomePage('error', { reason: 'researcher', code: 'R1' }));
  await settle();
  assert.equal(t.uploads.length, 1);
  const doc = t.uploads[0].doc;
  assert.deepEqual(check(doc), []);
  assert.equal(doc.partial, true);
  assert.equal(doc.timing.started_at, '2024-12-31T23:59:59.000Z', 'the first page\'s start');
  assert.equal(doc.stats.rollbacks, 4);
  assert.equal(doc.rejoins[0].reloaded_at, '2025-01-01T00:00:00.900Z');
});

test('a rejoin that never gets the game back: no export (the earlier partial one stays), a plain message', async () => {
  const t = setup();
  t.root.serve('activate_scene', p2pScene());
  const sig = t.connect.of('/p2p');
  sig.serve('connect');
  await settle();
  sig.serve('game_ready', gameReady({ rejoin: true }));
  const game = t.createGame.games[0];
  game.started = true;
  game.hooks.phase('playing');
  game.hooks.gameOver({ reason: 'disconnected', frame: -1, episode: 0 });
  game.hooks.ended({ record: { ...sampleRecord({ frames: 0 }), episodes: [], rejoins: [] }, reason: 'disconnected' });
  await settle();
  assert.equal(t.uploads.length, 0);
  assert.equal(t.diag.upload.status, 'disabled');
  assert.ok(t.diag.messages.includes('Your game could not be resumed after the reload.'));
  assert.equal(t.diag.phase, 'error');
  // The partner is gone: the outcome is partner_left (docs/participants.md), no Continue.
  assert.equal(t.ui.button, null);
  assert.deepEqual(t.root.emitted('study_outcome').map((r) => [r.outcome, r.reason]), [['partner_left', 'disconnected']]);
});

test("the partner's page reloads: the game waits for it, reconnects to the new page, and is told when its seat is gone", async () => {
  const t = setup();
  const { sig, game } = await enterGame(t);
  game.started = true;
  game.hooks.phase('playing');
  sig.serve('peer_interrupted', { game_id: 'g1', player_index: 1, grace_s: 10 });
  sig.serve('peer_rejoined', { game_id: 'g1', player_index: 1 });
  // Only its signaling socket reconnected (its page and WebRTC live on): no new connection.
  sig.serve('peer_rejoined', { game_id: 'g1', player_index: 1, resumed: true });
  sig.serve('peer_interrupted', { game_id: 'other', player_index: 1, grace_s: 10 });
  game.hooks.connection({ peer_index: 1, event: 'away', frame: 200, time: '2025-01-01T00:00:01.000Z' });
  assert.ok(t.diag.messages.some((m) => m.includes('reloading')));
  sig.serve('peer_left', { game_id: 'g1', player_index: 1, reason: 'disconnected', policy: 'end', game_over: true });
  assert.deepEqual(game.peerCalls, [['peerInterrupted', 1], ['peerRejoined', 1], ['peerLeft', 1]]);
});

test('join refused (seat expired): message and connection_failed:server', async () => {
  const t = setup();
  t.root.serve('activate_scene', p2pScene());
  const sig = t.connect.of('/p2p');
  sig.serve('connect');
  const [, , ack] = sig.acks.find(([ev]) => ev === 'join');
  ack({ ok: false, error: { code: 'seat_expired', message: 'gone' } });
  assert.equal(t.diag.phase, 'error');
  assert.equal(t.diag.errors.at(-1).code, 'seat_expired');
  assert.deepEqual(t.root.emitted('study_outcome').map((r) => [r.outcome, r.reason]), [['connection_failed', 'server']]);
});

test('page closed or reloaded mid-game: the seat is kept (BYE away, no leave), a resume note, the partial export', async () => {
  const calls = [];
  const t = setup({ fetch: (url, init) => { calls.push([url, init]); return Promise.resolve({ ok: true }); } });
  const { sig, game } = await enterGame(t);
  game.started = true;
  game.abandonRecord = sampleRecord({ partial: true });
  const r = t.flow.onUnload();
  assert.deepEqual(r, { sent: true, reason: null });
  assert.equal(game.leftForReload, 1);
  assert.equal(game.abandoned, 0);
  assert.deepEqual(sig.emitted('leave'), [], 'the server holds the seat for the reconnect grace');
  const note = JSON.parse(t.storage.getItem('igp2p:resume:g1:0'));
  assert.equal(note.version, 1);
  assert.equal(note.record.started_at, '2025-01-01T00:00:00.000Z');
  assert.equal(calls.length, 1);
  const [url, init] = calls[0];
  assert.equal(url, '/p2p/exports/g1/0');
  assert.equal(init.keepalive, true);
  assert.equal(init.headers.Authorization, 'Bearer TOKEN');
  const doc = JSON.parse(init.body);
  assert.equal(doc.partial, true);
  assert.deepEqual(check(doc), []);
  assert.deepEqual(t.flow.onUnload(), { sent: false, reason: 'no game running' }, 'only once');
});

test('page closed mid-game in a scene without a reconnect grace: the seat is left, as before', async () => {
  const calls = [];
  const t = setup({ fetch: (url, init) => { calls.push([url, init]); return Promise.resolve({ ok: true }); } });
  const scene = p2pScene();
  scene.p2p.settings.p2p.reconnect_grace_s = 0;
  t.root.serve('activate_scene', scene);
  const sig = t.connect.of('/p2p');
  sig.serve('connect');
  await settle();
  sig.serve('game_ready', gameReady({ scene }));
  const game = t.createGame.games[0];
  game.started = true;
  game.abandonRecord = sampleRecord({ partial: true });
  assert.deepEqual(t.flow.onUnload(), { sent: true, reason: null });
  assert.equal(game.abandoned, 1);
  assert.equal(game.leftForReload, 0);
  assert.deepEqual(sig.emitted('leave'), [{ game_id: 'g1' }]);
  assert.equal(t.storage.getItem('igp2p:resume:g1:0'), null);
});

test('page closed mid-game alone with AI seats: nobody could rebuild the game, so the seat is left', async () => {
  const t = setup({ fetch: () => Promise.resolve({ ok: true }) });
  t.root.serve('activate_scene', p2pScene());
  const sig = t.connect.of('/p2p');
  sig.serve('connect');
  await settle();
  sig.serve('game_ready', { ...gameReady(), ai_seats: [1], connections: [] });
  const game = t.createGame.games[0];
  game.started = true;
  game.abandonRecord = sampleRecord({ partial: true });
  t.flow.onUnload();
  assert.equal(game.abandoned, 1);
  assert.equal(game.leftForReload, 0);
  assert.deepEqual(sig.emitted('leave'), [{ game_id: 'g1' }]);
  assert.equal(t.storage.getItem('igp2p:resume:g1:0'), null);
});

test('the server showing the running P2P scene again (socket reconnect) keeps the game', async () => {
  const t = setup();
  const { sig, game } = await enterGame(t);
  game.hooks.phase('playing');
  t.root.serve('activate_scene', p2pScene());
  assert.equal(t.connect.sockets.filter((s) => s.namespace === '/p2p').length, 1, 'no second signaling socket');
  assert.equal(sig.disconnected, false);
  assert.equal(game.abandoned, 0);
  assert.equal(t.diag.phase, 'playing');
  game.hooks.frame({ frame: 5, confirmedFrame: 3, verifiedFrame: 2, episode: 0 });
  assert.equal(t.diag.frame, 5, 'the game still reports');
  // Our /p2p socket reconnecting gets game_ready for the same game again: ignored.
  sig.serve('game_ready', gameReady({ rejoin: true }));
  assert.equal(t.diag.phase, 'playing');
  assert.deepEqual(sig.emitted('leave'), []);
});

/** A stand-in session with what telemetry.js reads. */
function fakeSession(frame = 10) {
  return {
    currentFrame: frame + 1, confirmedFrame: frame - 2, verifiedFrame: frame - 3, episode: 0, state: 'running',
    peerInfo: () => [{ peer_index: 1, rtt_ms: 42.04 }], sync: { stats: { rollbacks: 3, maxRollbackDepth: 2, mispredictedFrames: 4 } },
    counters: { stalled: 1 }, desync: { stats: { mismatches: 0 } }, desyncEvents: [], path: { kind: 'relay' },
  };
}

test('telemetry: reports every 2 s from peer_connecting, the totals when the game ends, then none', async () => {
  const t = setup();
  const { sig, game } = await enterGame(t);
  game.session = fakeSession();
  t.timers.advance(10000);
  assert.deepEqual(sig.emitted('telemetry'), [], 'nothing before the game connects');
  game.hooks.phase('peer_connecting');
  const first = sig.emitted('telemetry');
  assert.equal(first.length, 1);
  assert.deepEqual([first[0].game_id, first[0].seq, first[0].frame, first[0].rtt_ms, first[0].path_kind, first[0].hidden],
    ['g1', 0, 10, { 1: 42 }, 'relay', null]);
  game.hooks.phase('playing');
  t.timers.advance(4000);
  assert.deepEqual(sig.emitted('telemetry').map((r) => r.seq), [0, 1, 2]);
  game.hooks.gameOver({ reason: 'completed', frame: 59, episode: 1 });
  game.hooks.ended({ record: sampleRecord(), reason: 'completed' });
  assert.equal(sig.emitted('telemetry').length, 4, 'a final report with the totals');
  await settle();
  t.timers.advance(10000);
  assert.equal(sig.emitted('telemetry').length, 4, 'none after the game');
  assert.deepEqual(sig.emitted('finished'), [{ game_id: 'g1' }]);
});

test('ended by the researcher mid-game: session closed, partial export uploaded, message, done, no leave', async () => {
  const t = setup();
  const { sig, game } = await enterGame(t);
  game.session = fakeSession();
  game.hooks.phase('peer_connecting');
  game.hooks.phase('playing');
  game.started = true;
  game.abandonRecord = sampleRecord({ partial: true });
  sig.serve('game_ended', { game_id: 'other', reason: 'researcher', message: 'not ours' });
  assert.equal(game.abandoned, 0, 'another game id is ignored');
  sig.serve('game_ended', { game_id: 'g1', reason: 'researcher', message: 'The study is closing. Thank you!' });
  assert.equal(game.abandoned, 1);
  assert.equal(t.diag.endedBy, 'researcher');
  assert.equal(t.diag.gameOver.reason, 'researcher');
  await settle();
  assert.equal(t.uploads.length, 1);
  assert.equal(t.uploads[0].doc.partial, true);
  assert.deepEqual(check(t.uploads[0].doc), []);
  assert.deepEqual([sig.emitted('leave'), sig.emitted('finished')], [[], []], 'the server already stopped the seat');
  assert.equal(t.diag.phase, 'done');
  assert.equal(t.diag.messages.at(-1), 'The study is closing. Thank you!');
  // The study ends with error:researcher (docs/participants.md); the server answers with the page.
  assert.deepEqual(t.root.emitted('study_outcome'), [{ outcome: 'error', reason: 'researcher', detail: 'The study is closing. Thank you!', game_id: 'g1' }]);
  const reports = sig.emitted('telemetry').length;
  t.timers.advance(10000);
  assert.equal(sig.emitted('telemetry').length, reports, 'reporting stopped');
});

test('ended by the researcher while connecting: no export, message, done', async () => {
  const t = setup();
  const { sig, game } = await enterGame(t);
  game.hooks.phase('peer_connecting');
  sig.serve('game_ended', { game_id: 'g1', reason: 'researcher', message: '' });
  assert.equal(game.abandoned, 1);
  await settle();
  assert.equal(t.uploads.length, 0);
  assert.equal(t.diag.phase, 'done');
  assert.equal(t.diag.messages.at(-1), 'The researcher ended this game.');
  assert.deepEqual(sig.emitted('leave'), []);
  assert.deepEqual(t.root.emitted('study_outcome').map((r) => [r.outcome, r.reason]), [['error', 'researcher']]);
});

test('ended by the researcher while the export of a finished game uploads: the message wins at the end', async () => {
  let release;
  const t = setup({
    uploadExport: (args) => new Promise((resolve) => {
      args.onStatus({ phase: 'uploading', attempt: 1, maxAttempts: 8 });
      release = () => { args.onStatus({ phase: 'stored', attempt: 1, httpStatus: 201 }); resolve({ ok: true, attempts: 1 }); };
    }),
  });
  const { sig, game } = await enterGame(t);
  game.hooks.phase('playing');
  game.hooks.gameOver({ reason: 'peer_ended', frame: 20, episode: 0 });
  game.hooks.ended({ record: sampleRecord({ partial: true }), reason: 'peer_ended' });
  assert.equal(t.diag.phase, 'uploading');
  sig.serve('game_ended', { game_id: 'g1', reason: 'researcher', message: 'Stopped by the lab.' });
  release();
  await settle();
  assert.equal(t.diag.phase, 'done');
  assert.equal(t.diag.messages.at(-1), 'Stopped by the lab.');
  assert.deepEqual(sig.emitted('leave'), []);
});

test("in_game_scene_body replaces the scene body once the game runs; the renderer's counts reach window.p2p", async () => {
  const t = setup();
  const scene = p2pScene();
  scene.p2p.ui.in_game_scene_body = '<p>Arrow keys to move.</p>';
  t.root.serve('activate_scene', scene);
  assert.deepEqual(t.ui.scenes.at(-1), { header: 'The game', subheader: '', body: '<p>play</p>' });
  const sig = t.connect.of('/p2p');
  sig.serve('connect');
  await settle();
  sig.serve('game_ready', gameReady());
  const game = t.createGame.games[0];
  game.hooks.phase('peer_connecting');
  assert.equal(t.ui.scenes.at(-1).body, '<p>play</p>', 'not before the game runs');
  game.hooks.phase('playing');
  assert.deepEqual(t.ui.scenes.at(-1), { header: 'The game', subheader: '', body: '<p>Arrow keys to move.</p>' });
  const render = { frames: 12, drawn: 40, skipped: 0, lastSkipReason: null, animating: false };
  game.hooks.frame({ frame: 12, confirmedFrame: 10, verifiedFrame: 9, episode: 0, render });
  assert.deepEqual(t.diag.render, render);
  // Without one, the scene body stays.
  const u = setup();
  u.root.serve('activate_scene', p2pScene());
  const sig2 = u.connect.of('/p2p');
  sig2.serve('connect');
  await settle();
  sig2.serve('game_ready', gameReady());
  u.createGame.games[0].hooks.phase('playing');
  assert.equal(u.ui.scenes.length, 1);
});

test('the server ends the study mid-game: partial export uploaded first, then the outcome page', async () => {
  const t = setup();
  const { sig, game } = await enterGame(t);
  game.started = true;
  game.abandonRecord = sampleRecord({ partial: true });
  game.hooks.phase('playing');
  // The console stopped the game: the scene is left, then study_end arrives.
  t.root.serve('terminate_scene', { scene_id: 'game' });
  t.root.serve('study_end', outcomePage('error', { reason: 'researcher', code: 'R1' }));
  assert.equal(game.abandoned, 1);
  assert.deepEqual(sig.emitted('leave'), [{ game_id: 'g1' }]);
  await settle();
  assert.equal(t.uploads.length, 1, 'the partial export is sent');
  assert.equal(t.uploads[0].doc.partial, true);
  assert.equal(sig.disconnected, true);
  assert.equal(t.diag.phase, 'ended');
  assert.equal(t.diag.outcome.code, 'R1');
});

test('screening: checks run on arrival, the report goes to the server, the page joins only after', async () => {
  const asked = [];
  let finish;
  const t = setup({ runScreening: (checks) => { asked.push(checks); return new Promise((resolve) => { finish = resolve; }); } });
  t.root.serve('participant', { subject_id: 'alice', recruitment: { PROLIFIC_PID: 'alice' } });
  assert.deepEqual(t.diag.recruitment, { PROLIFIC_PID: 'alice' });
  t.root.serve('screening', { webrtc: true, turn: true, ice_servers: [], turn_timeout_s: 10, rtt_samples: 0 });
  await settle();
  assert.equal(asked.length, 1);
  assert.equal(t.diag.screening.status, 'running');
  t.root.serve('activate_scene', p2pScene());
  const sig = t.connect.of('/p2p');
  sig.serve('connect');
  await settle();
  assert.deepEqual(sig.emitted('join'), [], 'no waiting room before the checks');
  finish({ webrtc: { ok: true, detail: null }, turn: { ok: true, detail: null } });
  await settle();
  const [, report, ack] = t.root.acks.find(([e]) => e === 'screening_report');
  assert.deepEqual(report.webrtc, { ok: true, detail: null });
  ack({ ok: true, passed: true });
  await settle();
  assert.equal(t.diag.screening.status, 'done');
  assert.deepEqual(sig.emitted('join'), [{}]);
  // The export carries the server's copy of the recruitment ids.
  sig.serve('game_ready', gameReady());
  const game = t.createGame.games[0];
  game.hooks.ended({ record: sampleRecord(), reason: 'completed' });
  await settle();
  assert.deepEqual(t.uploads[0].doc.ids.recruitment, { PROLIFIC_PID: 'alice' });
});

test('the first game environment loads early only after the browser checks, once; not after a failed check', async () => {
  let finish;
  const preloads = [];
  const { root } = setup({ runScreening: () => new Promise((resolve) => { finish = resolve; }), preload: () => preloads.push('start') });
  root.serve('screening', { webrtc: true, turn: true, ice_servers: [], turn_timeout_s: 10, rtt_samples: 0 });
  root.serve('activate_scene', { scene_id: 'welcome', scene_type: 'StartScene', scene_header: 'Hi', scene_body: 'Read me' });
  await settle();
  assert.deepEqual(preloads, [], 'Pyodide does not load while the TURN check runs');
  finish({ webrtc: { ok: true, detail: null }, turn: { ok: true, detail: null } });
  await settle();
  root.acks.find(([e]) => e === 'screening_report')[2]({ ok: true, passed: true });
  await settle();
  assert.deepEqual(preloads, ['start']);
  root.serve('activate_scene', { scene_id: 'instructions', scene_type: 'StaticScene', scene_header: 'Hi', scene_body: 'More' });
  await settle();
  assert.deepEqual(preloads, ['start'], 'once');

  // Without screening: at the first scene. With a failed check: never.
  const plain = [];
  setup({ preload: () => plain.push('start') }).root.serve('activate_scene', { scene_id: 'welcome', scene_type: 'StartScene', scene_header: 'Hi', scene_body: 'Read me' });
  await settle();
  assert.deepEqual(plain, ['start']);
  const failed = [];
  const c3 = setup({ runScreening: async () => ({ webrtc: { ok: false, detail: 'no API' } }), preload: () => failed.push('start') }).root;
  c3.serve('screening', { webrtc: true });
  c3.serve('activate_scene', { scene_id: 'welcome', scene_type: 'StartScene', scene_header: 'Hi', scene_body: 'Read me' });
  await settle();
  c3.acks.find(([e]) => e === 'screening_report')[2]({ ok: true, passed: false });
  await settle();
  assert.deepEqual(failed, []);
});

test('screening that fails: no join; the server ends the study (study_end)', async () => {
  const t = setup({ runScreening: async () => ({ webrtc: { ok: false, detail: 'no API' } }) });
  t.root.serve('screening', { webrtc: true });
  t.root.serve('activate_scene', p2pScene());
  const sig = t.connect.of('/p2p');
  sig.serve('connect');
  await settle();
  const [, , ack] = t.root.acks.find(([e]) => e === 'screening_report');
  ack({ ok: true, passed: false });
  t.root.serve('terminate_scene', { scene_id: 'game' });
  t.root.serve('study_end', outcomePage('excluded', { reason: 'screening', code: 'SCR' }));
  await settle();
  // join may go out after the failed screening; the server refuses it (study_over), harmless
  for (const [ev, , joinAck] of sig.acks) if (ev === 'join') joinAck({ ok: false, error: { code: 'study_over', message: 'over' } });
  assert.equal(t.diag.phase, 'ended');
  assert.equal(t.diag.outcome.code, 'SCR');
  assert.equal(t.diag.screening.status, 'failed');
});

test('inactivity during play: a warning, then the session excludes this player and the study ends excluded:inactive', async () => {
  const t = setup();
  const scene = p2pScene();
  Object.assign(scene.p2p.settings.p2p, { inactive_s: 10, inactive_warn_s: 5, exclusion_policy: 'default_action' });
  t.root.serve('activate_scene', scene);
  const sig = t.connect.of('/p2p');
  sig.serve('connect');
  await settle();
  sig.serve('game_ready', gameReady());
  const game = t.createGame.games[0];
  const excluded = [];
  game.session = { ...fakeSession(), exclude: (opts) => { excluded.push(opts); return true; } };
  game.started = true;
  game.hooks.phase('playing');
  t.timers.advance(6000);
  assert.match(t.ui.statuses.at(-1), /Are you still there\? Press a key within 4 s/);
  t.timers.advance(4000);
  assert.deepEqual(excluded, [{ reason: 'inactive', policy: 'default_action' }]);
  game.hooks.gameOver({ reason: 'excluded', frame: 300, episode: 0 });
  game.hooks.ended({ record: { ...sampleRecord({ partial: true }), exclusion: { reason: 'inactive', frame: 300 } }, reason: 'excluded' });
  await settle();
  assert.equal(t.uploads.length, 1, 'the export is saved first');
  const [report] = t.root.emitted('study_outcome');
  assert.deepEqual([report.outcome, report.reason, report.detail], ['excluded', 'inactive', 'no input for 10 s']);
});

test('the partner of an excluded player ends with partner_left:excluded', async () => {
  const t = setup();
  const { game } = await enterGame(t);
  game.started = true;
  game.hooks.phase('playing');
  game.hooks.gameOver({ reason: 'peer_excluded', frame: 10, episode: 0 });
  game.hooks.ended({ record: sampleRecord(), reason: 'peer_excluded' });
  await settle();
  assert.deepEqual(t.root.emitted('study_outcome').map((r) => [r.outcome, r.reason]), [['partner_left', 'excluded']]);
});

test('a signaling socket that reconnects during the game says which game it still plays', async () => {
  const t = setup();
  const { sig, game } = await enterGame(t);
  assert.deepEqual(sig.emitted('join'), [{}], 'a fresh page joins with nothing');
  game.hooks.phase('playing');
  // The server process went away; Socket.IO reconnects (to another process) by itself.
  sig.serve('connect');
  assert.deepEqual(sig.emitted('join'), [{}, { game_id: 'g1' }], 'the game runs on over WebRTC: nothing to renegotiate');
  sig.serve('game_ready', { ...gameReady(), rejoin: true, resumed: true });
  assert.equal(t.createGame.games.length, 1, 'the running game goes on');
  assert.equal(t.diag.phase, 'playing');
});

test('a partner\'s signals that beat our game_ready (several server processes) reach the game once it comes', async () => {
  const t = setup();
  t.root.serve('activate_scene', p2pScene());
  const sig = t.connect.of('/p2p');
  sig.serve('connect');
  await settle();
  const offer = { game_id: 'g1', from: 1, kind: 'offer', data: { type: 'offer', sdp: 'v=0 partner' } };
  const cand = { game_id: 'g1', from: 1, kind: 'candidate', data: { candidate: 'candidate:1 1 udp 1 10.0.0.1 5000 typ host', sdpMid: '0' } };
  sig.serve('signal', offer);
  sig.serve('signal', cand);
  sig.serve('relay', { game_id: 'g1', from: 1, data: new Uint8Array([3]) });
  t.timers.advance(4000); // the dead process is struck off; its game_ready comes again
  sig.serve('game_ready', { ...gameReady({ playerIndex: 1 }), connections: [{ peer_index: 0, role: 'answer' }] });
  const game = t.createGame.games[0];
  const got = [];
  game.opts.signaling.onmessage = (from, msg) => got.push([from, msg.kind]);
  assert.deepEqual(got, [[1, 'offer'], [1, 'candidate']]);
  const relayed = [];
  game.opts.signaling.onrelay = (from, bytes) => relayed.push([from, [...bytes]]);
  assert.deepEqual(relayed, [[1, [3]]]);

  // Back to the waiting room: g1's late signals are not kept; the next game's early ones are,
  // for as long as a connection attempt lasts (the scene's connection_timeout_s).
  sig.serve('requeued', { game_id: 'g1', requeued: true });
  game.opts.signaling.onmessage = null;
  sig.serve('signal', { ...cand, game_id: 'g2' });
  sig.serve('signal', { ...cand, game_id: 'g3' });
  t.timers.advance(p2pScene().p2p.settings.p2p.connection_timeout_s * 1000 + 1);
  sig.serve('signal', { ...offer, game_id: 'g2' });
  sig.serve('game_ready', { ...gameReady(), game_id: 'g2' });
  const g2 = t.createGame.games[1];
  const got2 = [];
  g2.opts.signaling.onmessage = (from, msg) => got2.push([from, msg.kind]);
  assert.deepEqual(got2, [[1, 'offer']], 'the candidate that came a connection timeout ago was dropped');
});
