// client_game.js, client_signaling.js, client_export.js: the pure mappings (scene config ->
// session/transport settings, transport path -> export path, signaling translation, export
// ids, upload status text) and two games wired end to end over the in-memory WebRTC fake.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { createGame, sessionSettings, transportImpairment, exportPath, withPlayers } from '../../static/js/client_game.js';
import { toServerSignal, fromServerSignal, createSocketSignaling } from '../../static/js/client_signaling.js';
import { exportIds, uploadStatus, sendPartialExport, KEEPALIVE_LIMIT_BYTES, gameExport } from '../../static/js/client_export.js';
import { makeSettings } from '../../static/js/settings.js';
import { FakeNetwork, SignalingRelay, until } from './support/fake_webrtc.mjs';
import { createTrivialEnv } from './support/envs.mjs';
import { FakeSocket, p2pScene, gameReady } from './support/client_fakes.mjs';
import { inProcessEnv } from './support/game_worker_inprocess.mjs';

test('session settings come from the scene config and pass settings.js', () => {
  const s = sessionSettings(p2pScene({ numEpisodes: 3, maxSteps: 450, fps: 60 }).p2p);
  assert.deepEqual(s, {
    fps: 60, inputDelay: 2, maxPredictionWindow: 8, inputRedundancy: 5, disconnectNotifyMs: 750,
    disconnectTimeoutMs: 5000, disconnectPolicy: 'end', defaultAction: 0, maxEpisodes: 3, hashInterval: 1,
    maxStepsPerEpisode: 450, awayTimeoutMs: (10 + 20) * 1000, // reconnect_grace_s + connection_timeout_s
  });
  makeSettings(s); // throws on an unknown or out-of-range setting
  const scene = p2pScene().p2p;
  scene.settings.validation.state_dump_on_desync = false;
  scene.gameplay.max_steps = 1e12; // Interactive Gym's "no limit"
  const t = sessionSettings(scene);
  assert.equal(t.maxStateDumps, 0);
  assert.equal(t.maxStepsPerEpisode, undefined);
  makeSettings(t);
});

test('connection_fallback "server": a partner never heard from is waited for through its load and its own attempt', () => {
  const scene = p2pScene().p2p;
  assert.equal(sessionSettings(scene).handshakeTimeoutMs, undefined, 'without the fallback: the disconnect timeout');
  scene.settings.p2p.connection_fallback = 'server';
  scene.settings.p2p.connection_timeout_s = 3;
  const s = sessionSettings(scene);
  assert.equal(s.handshakeTimeoutMs, 63000);
  assert.equal(makeSettings(s).handshakeTimeoutMs, 63000);
});

test('impairment and path mappings', () => {
  assert.equal(transportImpairment(null), null);
  assert.deepEqual(transportImpairment({ delay_ms: 40, jitter_ms: 5, loss: 0.1, duplicate: 0.01, reorder: 0.02, seed: 9 }),
    { seed: 9, delayMs: 40, jitterMs: 5, loss: 0.1, duplicate: 0.01, reorder: 0.02 });
  assert.equal(exportPath(null), null);
  assert.deepEqual(exportPath({ kind: 'relay', protocol: 'tls', localCandidateType: 'relay', remoteCandidateType: 'host', relayProtocol: 'tls' }),
    { kind: 'relay', protocol: 'tcp', local_candidate_type: 'relay', remote_candidate_type: 'host' });
  assert.deepEqual(exportPath({ kind: 'direct', protocol: 'UDP', localCandidateType: 'host', remoteCandidateType: 'weird' }),
    { kind: 'direct', protocol: 'udp', local_candidate_type: 'host', remote_candidate_type: null });
});

test('signaling messages translate both ways; malformed ones are refused', () => {
  const cand = { candidate: 'candidate:1 1 udp 1 10.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'u', extra: 1 };
  assert.deepEqual(toServerSignal({ kind: 'offer', sdp: 'o' }), { kind: 'offer', data: { type: 'offer', sdp: 'o' } });
  assert.deepEqual(toServerSignal({ kind: 'candidate', candidate: cand }),
    { kind: 'candidate', data: { candidate: cand.candidate, sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'u' } });
  assert.deepEqual(toServerSignal({ kind: 'candidate', candidate: null }), { kind: 'candidate', data: null });
  assert.deepEqual(toServerSignal({ kind: 'restart' }), { kind: 'restart', data: null });
  assert.throws(() => toServerSignal({ kind: 'bogus' }), TypeError);
  assert.deepEqual(fromServerSignal({ kind: 'answer', data: { type: 'answer', sdp: 'a' } }), { kind: 'answer', sdp: 'a' });
  assert.deepEqual(fromServerSignal({ kind: 'candidate', data: null }), { kind: 'candidate', candidate: null });
  assert.deepEqual(fromServerSignal({ kind: 'restart', data: null }), { kind: 'restart' });
  for (const bad of [null, {}, { kind: 'offer', data: {} }, { kind: 'candidate', data: { candidate: 5 } }, { kind: 'x' }]) {
    assert.equal(fromServerSignal(bad), null);
  }
  const sock = new FakeSocket('/p2p');
  const errors = [];
  const sig = createSocketSignaling(sock, 'g1', (e) => errors.push(e));
  const got = [];
  sig.onmessage = (from, msg) => got.push([from, msg]);
  sock.serve('signal', { game_id: 'other', from: 1, kind: 'restart', data: null });
  sock.serve('signal', { game_id: 'g1', from: 1, kind: 'restart', data: null });
  sock.serve('signal', { game_id: 'g1', from: 1, kind: 'offer', data: null });
  assert.deepEqual(got, [[1, { kind: 'restart' }]]);
  assert.equal(errors[0].code, 'malformed_signal');
  sig.send(1, { kind: 'answer', sdp: 's' });
  sock.acks.at(-1)[2]({ ok: false, error: { code: 'peer_unavailable', message: 'no' } });
  assert.deepEqual(errors[1], { code: 'peer_unavailable', message: 'no' });
  // The fallback data path: `relay` out with the game id, binary in (ArrayBuffer or Uint8Array).
  const relayed = [];
  sig.onrelay = (from, bytes) => relayed.push([from, Array.from(bytes)]);
  sig.relay(1, new Uint8Array([4]));
  assert.deepEqual(sock.emitted('relay'), [{ game_id: 'g1', to: 1, data: new Uint8Array([4]) }]);
  sock.serve('relay', { game_id: 'g1', from: 1, data: new Uint8Array([1, 2]).buffer });
  sock.serve('relay', { game_id: 'g1', from: 1, data: new Uint8Array([3]) });
  sock.serve('relay', { game_id: 'other', from: 1, data: new Uint8Array([9]) });
  sock.serve('relay', { game_id: 'g1', from: 1, data: 'text' });
  assert.deepEqual(relayed, [[1, [1, 2]], [1, [3]]]);
  assert.equal(errors[2].code, 'malformed_relay');
  sig.close();
  sock.serve('relay', { game_id: 'g1', from: 1, data: new Uint8Array([5]) });
  assert.equal(relayed.length, 2);
});

test('export ids come from game_ready, peers in player order, with the recruitment ids', () => {
  assert.deepEqual(exportIds(gameReady({ playerIndex: 1 }), { sceneId: 'game', subjectId: 'alice' }),
    { game_id: 'g1', scene_id: 'game', subject_id: 'alice', player_index: 1, peers: [{ player_index: 0, subject_id: 'bob' }], recruitment: {} });
  const recruitment = { PROLIFIC_PID: 'p1', STUDY_ID: 's1' };
  assert.deepEqual(exportIds(gameReady(), { sceneId: 'game', subjectId: 'alice', recruitment }).recruitment, recruitment);
  // A game with a condition and a bot seat: both marked (the bot's own export says bot: true).
  const g = { ...gameReady({ playerIndex: 1 }), condition: 'fast' };
  g.players = g.players.map((p) => ({ ...p, bot: p.player_index === 0 }));
  assert.deepEqual(exportIds(g, { sceneId: 'game', subjectId: 'alice' }),
    { game_id: 'g1', scene_id: 'game', subject_id: 'alice', player_index: 1,
      peers: [{ player_index: 0, subject_id: 'bob', bot: true }], recruitment: {}, condition: 'fast' });
  const asBot = { ...g, player_index: 0 };
  assert.deepEqual(exportIds(asBot, { sceneId: 'game', subjectId: 'bob' }),
    { game_id: 'g1', scene_id: 'game', subject_id: 'bob', player_index: 0,
      peers: [{ player_index: 1, subject_id: 'alice' }], recruitment: {}, condition: 'fast', bot: true });
});

test('upload status text for each uploader step', () => {
  assert.deepEqual(uploadStatus({ phase: 'uploading', attempt: 3 }),
    { status: 'uploading', attempts: 3, error: null, final: false, ok: false, text: 'Saving your data... (attempt 3)' });
  assert.equal(uploadStatus({ phase: 'retrying', attempt: 1, maxAttempts: 8, delayMs: 2400, reason: 'network: down' }).text,
    'Saving your data did not work (network: down); trying again in 2 s (attempt 2 of 8).');
  assert.deepEqual(uploadStatus({ phase: 'duplicate', attempt: 1 }),
    { status: 'uploaded', attempts: 1, error: null, final: true, ok: true, text: 'Your data is saved.' });
  const rejected = uploadStatus({ phase: 'rejected', attempt: 1, httpStatus: 422, message: 'schema' });
  assert.equal(rejected.status, 'failed');
  assert.equal(rejected.text, 'Could not save your data: schema. Please tell the experimenter.');
  assert.equal(uploadStatus({ phase: 'failed', attempts: 8, reason: 'server error: HTTP 502' }).error, 'server error: HTTP 502');
});

test('partial export above the keepalive limit is not sent (and says why)', () => {
  let called = 0;
  const r = sendPartialExport({ url: '/u', token: 't', doc: 'x'.repeat(KEEPALIVE_LIMIT_BYTES + 1), fetch: () => { called += 1; } });
  assert.equal(r.sent, false);
  assert.match(r.reason, /keepalive limit/);
  assert.equal(called, 0);
  assert.deepEqual(sendPartialExport({ url: '/u', token: 't', doc: '{}', fetch: () => { throw new Error('gone'); } }), { sent: false, reason: 'gone' });
});

test('two games over the WebRTC fake: connect, play every episode, end with matching records', async () => {
  const scene = p2pScene({ numEpisodes: 2, maxSteps: 20, fps: 200, impairment: { delay_ms: 3, jitter_ms: 2, loss: 0, duplicate: 0, reorder: 0, seed: 4 } });
  const net = new FakeNetwork({ localType: 'relay', remoteType: 'relay', protocol: 'udp', relayProtocol: 'udp' });
  const relay = new SignalingRelay();
  const events = [[], []];
  const ended = [];
  const games = [0, 1].map((p) => {
    const hooks = {};
    for (const name of ['phase', 'path', 'episodeStart', 'episodeEnd', 'gameOver', 'failed', 'connection']) {
      hooks[name] = (ev) => events[p].push([name, name === 'phase' ? ev : { ...ev }]);
    }
    hooks.ended = (ev) => ended.push({ p, ...ev });
    return createGame({
      p2p: scene.p2p, gameReady: gameReady({ playerIndex: p, scene }), signaling: relay.endpoint(p),
      hooks, RTCPeerConnection: net.RTCPeerConnection,
    });
  });
  games[1].begin(inProcessEnv(createTrivialEnv({ numPlayers: 2, episodeSteps: 1e9 })));
  games[0].begin(inProcessEnv(createTrivialEnv({ numPlayers: 2, episodeSteps: 1e9 })));
  await until(() => ended.length === 2, 'both games to end', 20000);
  for (const p of [0, 1]) {
    const names = events[p].map(([n, ev]) => (n === 'phase' ? `phase:${ev}` : n));
    assert.equal(names[0], 'phase:peer_connecting');
    assert.ok(names.includes('phase:playing'));
    assert.equal(names.filter((n) => n === 'episodeEnd').length, 2);
    assert.deepEqual(events[p].find(([n]) => n === 'gameOver')[1].reason, 'completed');
    assert.deepEqual(events[p].find(([n]) => n === 'path')[1], { kind: 'relay', protocol: 'udp', local_candidate_type: 'relay', remote_candidate_type: 'relay' });
  }
  const [a, b] = [0, 1].map((p) => ended.find((e) => e.p === p).record);
  assert.equal(a.game_over_reason, 'completed');
  assert.equal(a.partial, false);
  // maxStepsPerEpisode 20: frames 0..19 and 20..39, each confirmed row identical on both sides.
  assert.deepEqual(a.episodes.map((e) => [e.start_frame, e.end_frame]), [[0, 19], [20, 39]]);
  assert.deepEqual(a.episodes.map((e) => e.frames), b.episodes.map((e) => e.frames));
  assert.equal(a.verified_frame, 39);
  assert.deepEqual(a.stats.path, { kind: 'relay', protocol: 'udp', local_candidate_type: 'relay', remote_candidate_type: 'relay' });
  for (const g of games) assert.equal(g.ended, true);
  const doc = gameExport({ record: a, gameReady: gameReady({ playerIndex: 0, scene }), sceneId: 'game', subjectId: 'alice' });
  assert.deepEqual(doc.settings.impairment, scene.p2p.settings.impairment);
});

test('a page reloads mid-game: BYE(away), the partner waits and reconnects, the new page rejoins and the game ends agreed', async () => {
  const scene = p2pScene({ numEpisodes: 2, maxSteps: 200, fps: 200, impairment: { delay_ms: 3, jitter_ms: 2, loss: 0.05, duplicate: 0, reorder: 0, seed: 5 } });
  const net = new FakeNetwork({ localType: 'relay', remoteType: 'relay', protocol: 'udp', relayProtocol: 'udp' });
  const relay = new SignalingRelay();
  const ended = [];
  const seen = { rejoin: [], rejoined: [], connection: [] };
  const verified = [-1, -1];
  const make = (p, rejoin = false) => {
    const hooks = {
      ended: (ev) => ended.push({ p, ...ev }),
      rejoin: (ev) => seen.rejoin.push(ev),
      rejoined: (ev) => seen.rejoined.push(ev),
      connection: (ev) => seen.connection.push([p, ev.event]),
      frame: (f) => { verified[p] = f.verifiedFrame; },
    };
    return createGame({
      p2p: scene.p2p, gameReady: gameReady({ playerIndex: p, scene, rejoin }), signaling: relay.endpoint(p),
      hooks, RTCPeerConnection: net.RTCPeerConnection, rejoin,
    });
  };
  const stay = make(0);
  const leave = make(1);
  const leaving = inProcessEnv(createTrivialEnv({ numPlayers: 2, episodeSteps: 1e9 }));
  stay.begin(inProcessEnv(createTrivialEnv({ numPlayers: 2, episodeSteps: 1e9 })));
  leave.begin(leaving);
  // The closing page takes the record the worker last posted (renewed as the verified frame moves).
  await until(() => verified[1] >= 40 && leaving.port.received.includes('record'), 'the game runs', 20000);
  const before = leave.leaveForReload();
  assert.equal(before.partial, true);
  assert.ok(before.verified_frame >= 0);
  assert.equal(leave.ended, true);
  await until(() => leaving.port.core.game.session.state === 'closed', 'the worker closes the session');
  // The server: peer_interrupted, then (the page is back) peer_rejoined.
  stay.peerInterrupted(1);
  await until(() => stay.session.peerInfo()[0]?.state === 'away', 'the partner waits');
  const back = make(1, true);
  stay.peerRejoined(1);
  // The new page's worker: its catch-up slices follow one another at once (setImmediate here).
  const drawable = { ...createTrivialEnv({ numPlayers: 2, episodeSteps: 1e9 }), render: () => [] };
  const backEnv = inProcessEnv(drawable, { coreOptions: { immediate: setImmediate } });
  back.begin(backEnv);
  await until(() => ended.length === 2, 'both games to end', 30000);
  const [a, b] = [0, 1].map((p) => ended.find((e) => e.p === p).record);
  for (const r of [a, b]) {
    assert.equal(r.game_over_reason, 'completed');
    assert.deepEqual(r.desyncs, []);
  }
  assert.deepEqual(a.episodes.map((e) => e.frames), b.episodes.map((e) => e.frames));
  assert.equal(b.episodes[0].frames[0][0], 0, 'the new page holds the whole game from frame 0');
  assert.equal(a.verified_frame, 399);
  assert.equal(b.verified_frame, 399);
  assert.equal(b.rejoins.length, 1);
  assert.equal(seen.rejoined.length, 1);
  assert.ok(seen.rejoin.length >= 1 && seen.rejoin.every((p) => ['connecting', 'transfer', 'replay'].includes(p.phase)));
  assert.ok(seen.connection.some(([p, e]) => p === 0 && e === 'away') && seen.connection.some(([p, e]) => p === 0 && e === 'rejoined'));
  // The rejoined worker drew nothing of the re-simulation: no reset state, no frame before `rejoined`.
  const seq = backEnv.port.sequence;
  const back1 = seq.indexOf('event:rejoined');
  assert.ok(back1 > 0 && seq.indexOf('render', back1) > back1, 'the game is shown once it is back');
  // Nothing of the re-simulation is shown (at most an episode end met as it goes live).
  const early = seq.map((m, k) => (m === 'render' && k < back1 ? k : -1)).filter((k) => k >= 0);
  assert.ok(early.every((k) => k >= back1 - 4), `render states while catching up at ${early} (rejoined at ${back1})`);
  assert.ok(seq.slice(0, back1).includes('event:rejoin'), 'progress came before');
  assert.ok(!seq.slice(0, back1).includes('event:countdown'), 'no second countdown');
});

test('a peer that never answers: connect_timeout reaches the failed hook, nothing keeps running', async () => {
  const scene = p2pScene();
  scene.p2p.settings.p2p.connection_timeout_s = 0.2;
  const net = new FakeNetwork();
  net.blocked = true;
  const relay = new SignalingRelay();
  const failed = [];
  const g = createGame({
    p2p: scene.p2p, gameReady: gameReady({ scene }), signaling: relay.endpoint(0),
    hooks: { failed: (err) => failed.push(err) }, RTCPeerConnection: net.RTCPeerConnection,
  });
  relay.endpoint(1); // nobody behind it
  g.begin(inProcessEnv(createTrivialEnv({ numPlayers: 2 })));
  await until(() => failed.length === 1, 'connect timeout', 5000);
  assert.equal(failed[0].code, 'connect_timeout');
  assert.equal(g.started, false);
  assert.equal(await g.abandon(), null);
});

test('connection_fallback "server": no WebRTC path, the game is played through the server relay', async () => {
  const scene = p2pScene({ numEpisodes: 1, maxSteps: 20, fps: 200 });
  scene.p2p.settings.p2p.connection_timeout_s = 0.2;
  scene.p2p.settings.p2p.connection_fallback = 'server';
  const net = new FakeNetwork();
  net.blocked = true;
  const relay = new SignalingRelay();
  const relayed = [0, 0];
  // The server's `relay` event, as createSocketSignaling exposes it: bytes to one player.
  const endpoints = [0, 1].map((p) => Object.assign(relay.endpoint(p), {
    onrelay: null,
    relay(to, bytes) {
      relayed[p] += 1;
      const copy = bytes.slice();
      setImmediate(() => endpoints[to].onrelay?.(p, copy));
    },
  }));
  const ended = [];
  const fallbacks = [];
  const games = [0, 1].map((p) => createGame({
    p2p: scene.p2p, gameReady: gameReady({ playerIndex: p, scene }), signaling: endpoints[p],
    hooks: { ended: (ev) => ended.push({ p, ...ev }), fallback: (err) => fallbacks.push(err.code), failed: () => assert.fail('failed hook') },
    RTCPeerConnection: net.RTCPeerConnection,
  }));
  for (const g of games) g.begin(inProcessEnv(createTrivialEnv({ numPlayers: 2, episodeSteps: 1e9 })));
  await until(() => ended.length === 2, 'both games to end through the relay', 20000);
  assert.deepEqual(fallbacks, ['connect_timeout', 'connect_timeout']);
  assert.ok(relayed[0] > 20 && relayed[1] > 20, `relayed ${relayed}`);
  const [a, b] = [0, 1].map((p) => ended.find((e) => e.p === p).record);
  assert.equal(a.game_over_reason, 'completed');
  assert.deepEqual(a.episodes.map((e) => e.frames), b.episodes.map((e) => e.frames));
  assert.equal(a.verified_frame, 19);
  assert.deepEqual(a.stats.path, { kind: 'fallback', protocol: 'tcp', local_candidate_type: null, remote_candidate_type: null });
});

test('drawing: state_init first, the reset state on a cleared canvas, the confirmed end frame, tweens on animation frames', async () => {
  const scene = p2pScene({ numEpisodes: 2, maxSteps: 15, fps: 200 });
  scene.p2p.rendering.state_init = [{ uuid: 'hello', object_type: 'text', text: 'get ready', x: 0.1, y: 0.1 }];
  scene.p2p.settings.p2p.reset_freeze_frames = 3;
  const net = new FakeNetwork();
  const relay = new SignalingRelay();
  const ended = [];
  const log = [[], []]; // per player: what each draw showed
  // An env whose render() says where it is: permanent walls only right after a reset (t == 0),
  // as Interactive Gym's Overcooked lists its counters; a tweened chef every frame.
  const makeEnv = () => {
    const inner = createTrivialEnv({ numPlayers: 2, episodeSteps: 1e9 });
    let t = 0;
    return {
      ...inner,
      reset(seed) { t = 0; inner.reset(seed); },
      step(a) { t += 1; return inner.step(a); },
      save() { return [t, inner.save()]; },
      load(s) { t = s[0]; inner.load(s[1]); },
      render() {
        const out = [{ uuid: 'chef', object_type: 'sprite', image_name: null, x: (t % 10) / 10, y: 0, width: 8, height: 8, tween: true, tween_duration: 40 }];
        if (t === 0) out.push({ uuid: 'wall', object_type: 'rectangle', color: '#000', x: 0, y: 0, width: 5, height: 5, permanent: true });
        out.push({ uuid: 't', object_type: 'text', text: `t=${t}`, x: 0, y: 0.5 });
        return out;
      },
    };
  };
  const rafs = [];
  const endTexts = [[], []];
  const games = [0, 1].map((p) => {
    const texts = log[p];
    const ctx = new Proxy({}, {
      get: (target, prop) => (prop in target ? target[prop] : (...args) => { if (prop === 'fillText') texts.push(args[0]); }),
      set: (target, prop, value) => { target[prop] = value; return true; },
    });
    return createGame({
      p2p: scene.p2p, gameReady: gameReady({ playerIndex: p, scene }), signaling: relay.endpoint(p),
      hooks: { ended: (ev) => ended.push({ p, ...ev }), episodeEnd: () => endTexts[p].push(log[p].at(-1)) },
      RTCPeerConnection: net.RTCPeerConnection, createCanvas: () => ctx, requestAnimationFrame: (fn) => rafs.push(fn),
    });
  });
  games.forEach((g) => g.begin(inProcessEnv(makeEnv())));
  // Each episode end draws the env as it is then: the last frame of that episode (t = 15).
  await until(() => ended.length === 2, 'both games to end', 20000);
  for (const p of [0, 1]) {
    assert.equal(log[p][0], 'get ready', 'state_init is drawn before the first frame');
    assert.equal(log[p][1], 't=0', 'the reset state is drawn before the first step');
    assert.deepEqual(endTexts[p], ['t=15', 't=15']);
    const r = games[p].renderer;
    assert.equal(r.stats.skipped, 0);
    assert.ok(log[p].filter((x) => x === 't=0').length >= 2, 'drawn again after the second reset');
  }
  assert.ok(rafs.length > 0, 'the gliding chef asked for animation frames');
});

test('key-to-screen latency: presses on the page are timed to the animation frame after their frame is drawn', async () => {
  const scene = p2pScene({ numEpisodes: 1, maxSteps: 90, fps: 60 });
  scene.p2p.settings.p2p.input_delay = 'auto';
  const net = new FakeNetwork({ localType: 'host', remoteType: 'host', protocol: 'udp' });
  const relay = new SignalingRelay();
  // Any 2D-context call or property is accepted: the renderer's drawing is not under test.
  const ctx = new Proxy({}, { get: (t, k) => (k in t ? t[k] : () => {}), set: (t, k, v) => { t[k] = v; return true; } });
  const keys = new EventTarget();
  const ended = [];
  const starts = [];
  const games = [0, 1].map((p) => createGame({
    p2p: scene.p2p, gameReady: gameReady({ playerIndex: p, scene }), signaling: relay.endpoint(p),
    hooks: { ended: (ev) => ended.push({ p, ...ev }), episodeStart: (ev) => starts.push(ev) },
    RTCPeerConnection: net.RTCPeerConnection, createCanvas: () => ctx,
    keyboardTarget: p === 0 ? keys : undefined, requestAnimationFrame: (cb) => setTimeout(cb, 2),
  }));
  for (const g of games) g.begin(inProcessEnv(Object.assign(createTrivialEnv({ numPlayers: 2, episodeSteps: 1e9 }), { render: () => [] })));
  const press = (type) => keys.dispatchEvent(Object.assign(new Event(type), { key: 'ArrowUp' }));
  const presser = setInterval(() => { press('keydown'); setTimeout(() => press('keyup'), 40); }, 100);
  try {
    await until(() => ended.length === 2, 'both games to end', 20000);
  } finally {
    clearInterval(presser);
  }
  const [a, b] = [0, 1].map((p) => ended.find((e) => e.p === p).record);
  assert.deepEqual(a.episodes.map((e) => e.frames), b.episodes.map((e) => e.frames));
  assert.deepEqual(a.episodes[0].input_delays, [0, 0], "'auto' on a fast link: delay 0 for both");
  const k = a.stats.key_to_screen_ms;
  assert.ok(k.samples >= 5, JSON.stringify(k));
  // Delay 0 at 60 fps: the next tick (<= 17 ms) takes the press and draws it; the fake
  // animation frame follows 2 ms later; timers on a busy machine add their own lateness.
  assert.ok(k.p50 > 0 && k.p50 < 200 && k.p95 >= k.p50, JSON.stringify(k));
  assert.deepEqual(b.stats.key_to_screen_ms, { p50: null, p95: null, samples: 0 }, 'no key pressed on page 1');
  assert.ok(a.episodes[0].frames.some(([, actions]) => actions[0] === 1), 'the presses reached the game');
  const ev = games[0].inputTiming.events().filter((e) => e.shown !== null);
  for (const e of ev) assert.ok(e.down <= e.drawn && e.drawn <= e.shown && e.frame >= 1, JSON.stringify(e));
});

test('a game with fewer players than the environment has agents: the others get the default action', () => {
  const steps = [];
  const env = { numPlayers: 4, step(actions) { steps.push(actions); return { done: false }; }, render() { return 'r'; } };
  assert.equal(withPlayers(env, 4), env);
  const three = withPlayers(env, 3);
  assert.equal(three.numPlayers, 3);
  three.step([1, 2, 3]);
  assert.deepEqual(steps, [[1, 2, 3]]);  // the adapter pads index 3 with its default action
  assert.equal(three.render(), 'r');
  assert.throws(() => withPlayers(env, 5), /cannot run an environment of 4 agents/);
});
