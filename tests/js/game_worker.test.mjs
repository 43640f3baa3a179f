// The page <-> game worker contract (game_worker_contract.js) and the worker's side of it
// (game_core.js) driven message by message, as the page drives it; the page's side
// (game_worker_client.js) over a Worker-like port. client_game.test.mjs plays whole games
// through the same path (tests/js/support/game_worker_inprocess.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  ToPage, ToWorker, bytesMessage, checkMessage, toAbsolute, fromAbsolute, plainError, errorFrom, sessionFromView,
} from '../../static/js/game_worker_contract.js';
import { createGameCore } from '../../static/js/game_core.js';
import { createGameWorker, WORKER_UNSUPPORTED } from '../../static/js/game_worker_client.js';
import { buildReport } from '../../static/js/telemetry.js';
import { encode, decode } from '../../static/js/protocol.js';
import { createTrivialEnv } from './support/envs.mjs';
import { p2pScene, gameReady } from './support/client_fakes.mjs';

test('every message type has a shape; malformed messages are named', () => {
  assert.equal(checkMessage('worker', { type: ToWorker.NET, peer: 1, data: new Uint8Array(2) }), null);
  assert.match(checkMessage('worker', { type: ToWorker.NET, peer: 1, data: [1, 2] }), /net\.data must be bytes/);
  assert.match(checkMessage('worker', { type: ToPage.SEND, peer: 1, data: new Uint8Array(1) }), /unknown message type "send" for the worker/);
  assert.match(checkMessage('page', { type: ToWorker.NET, peer: 1, data: new Uint8Array(1) }), /unknown message type "net" for the page/);
  assert.match(checkMessage('worker', null), /not an object/);
  assert.match(checkMessage('worker', { type: ToWorker.KEY, key: 'a', down: true, t: NaN, wall: 0, seq: 1 }), /key\.t must be num/);
  assert.equal(checkMessage('worker', { type: ToWorker.START, path: null }), null, 'optional fields take null');
  assert.equal(checkMessage('page', { type: ToPage.RENDER, frame: null, state: [], reset: true }), null);
  assert.match(checkMessage('page', { type: ToPage.ABANDONED, id: 1.5, record: null }), /abandoned\.id must be int/);
  // The two directions share no type name (one switch per side).
  for (const t of Object.values(ToWorker)) assert.ok(!Object.values(ToPage).includes(t), t);
});

test('bytes move without a copy (the buffer is transferred); a view into a larger buffer is copied first', () => {
  const whole = new Uint8Array([1, 2, 3]);
  const [m, tr] = bytesMessage(ToWorker.NET, 1, whole);
  assert.equal(m.data, whole);
  assert.deepEqual(tr, [whole.buffer]);
  const big = new Uint8Array([9, 8, 7, 6]);
  const part = big.subarray(1, 3);
  const [m2, tr2] = bytesMessage(ToPage.SEND, 0, part);
  assert.deepEqual([...m2.data], [8, 7]);
  assert.notEqual(m2.data.buffer, big.buffer, 'the rest of the buffer stays with its owner');
  assert.deepEqual(tr2, [m2.data.buffer]);
  const cloned = structuredClone(m, { transfer: tr });
  assert.deepEqual([...cloned.data], [1, 2, 3]);
  assert.equal(whole.byteLength, 0, 'the sender no longer holds the bytes');
});

test('times cross as absolute ms; errors keep their package and code', () => {
  assert.equal(fromAbsolute(toAbsolute(12.5, 1000), 1000), 12.5);
  assert.equal(fromAbsolute(toAbsolute(12.5, 1000), 990), 22.5, "another thread's origin");
  const e = Object.assign(new Error('could not install package "x": no wheel'), { name: 'PackageInstallError', package: 'x' });
  const back = errorFrom(structuredClone(plainError(e)));
  assert.equal(back.message, e.message);
  assert.equal(back.package, 'x');
  assert.equal(back.name, 'PackageInstallError');
});

/** A core driven by hand: its posts are collected; timers are the test's. */
function coreHarness({ env = createTrivialEnv({ numPlayers: 2, episodeSteps: 1e9 }) } = {}) {
  const posts = [];
  const timers = { queue: [], setTimeout(fn) { this.queue.push(fn); return this.queue.length; }, clearTimeout() {} };
  let t = 0;
  const core = createGameCore({
    post: (msg, transfer) => {
      assert.equal(checkMessage('page', msg), null, `${msg.type}: ${checkMessage('page', msg)}`);
      posts.push(structuredClone(msg, { transfer: transfer ?? [] }));
    },
    now: () => t, wallClock: () => 1.7e12 + t, timers, timeOrigin: 500,
    loadEnv: async (p2p) => {
      if (p2p.env?.fail) throw Object.assign(new Error('no wheel for "nope"'), { name: 'PackageInstallError', package: 'nope' });
      return env;
    },
  });
  return {
    core, posts, timers,
    advance(ms) { t += ms; },
    wake() { const q = timers.queue.splice(0); for (const fn of q) fn(); },
    of(type) { return posts.filter((m) => m.type === type); },
  };
}

test('the worker loads environments and answers each load by its id; a failure names the package', async () => {
  const h = coreHarness();
  h.core.handle({ type: ToWorker.LOAD, id: 1, p2p: { env: {} } });
  h.core.handle({ type: ToWorker.LOAD, id: 2, p2p: { env: { fail: true } } });
  await new Promise((r) => setTimeout(r, 0));
  assert.deepEqual(h.of(ToPage.LOADED).map(({ id, numPlayers }) => [id, numPlayers]), [[1, 2]]);
  assert.ok(Array.isArray(h.of(ToPage.LOADED)[0].resources));
  const failed = h.of(ToPage.LOAD_FAILED)[0];
  assert.equal(failed.id, 2);
  assert.equal(failed.error.package, 'nope');
  // A malformed message is reported, never thrown.
  h.core.handle({ type: 'bogus' });
  assert.match(h.of(ToPage.FAILED)[0].message, /unknown message type/);
  h.core.handle({ type: ToWorker.BEGIN, envId: 99, p2p: {}, gameReady: {}, keyboard: null, hidden: false, rejoin: false });
  assert.match(h.of(ToPage.FAILED)[1].message, /no environment 99/);
});

test('a game in the worker: BEGIN, START, keys sampled in order, bytes out and in, render states, status, record, ABANDON', async () => {
  const scene = p2pScene({ numEpisodes: 1, maxSteps: 1000, fps: 50 });
  scene.p2p.settings.p2p.input_delay = 0;
  const rendered = [];
  const env = Object.assign(createTrivialEnv({ numPlayers: 2, episodeSteps: 1e9 }), { render: () => { rendered.push(1); return [{ uuid: 'x' }]; } });
  const h = coreHarness({ env });
  h.core.addEnv(7, env);
  const keyboard = { actionMapping: { ArrowUp: 3 }, inputMode: 'pressed_keys' };
  h.core.handle({ type: ToWorker.BEGIN, envId: 7, p2p: scene.p2p, gameReady: gameReady({ playerIndex: 0, scene }), keyboard, hidden: false, rejoin: false });
  assert.equal(h.of(ToPage.FAILED).length, 0);
  h.core.handle({ type: ToWorker.START, path: { kind: 'relay', protocol: 'udp', local_candidate_type: 'relay', remote_candidate_type: 'relay' } });
  // HELLO to the peer went out as bytes for the page to send.
  const hello = h.of(ToPage.SEND)[0];
  assert.equal(hello.peer, 1);
  assert.equal(decode(hello.data).msg.type, 'hello');
  // The first wake ran at START: a TICK, a STATUS for telemetry, a record for a closing page.
  assert.equal(h.of(ToPage.TICK).length, 1);
  const view = h.of(ToPage.STATUS)[0].view;
  assert.equal(view.state, 'handshake');
  assert.deepEqual(view.path.kind, 'relay');
  const report = buildReport({ gameId: 'g', seq: 0, session: sessionFromView(view, () => false) });
  assert.equal(report.state, 'handshake');
  assert.equal(report.path_kind, 'relay');
  assert.equal(JSON.parse(h.of(ToPage.RECORD)[0].json).partial, true);
  // The peer's HELLO, as the page relays it (bytes transferred).
  const peerHello = encode({ type: 'hello', version: 2, player: 1, numPlayers: 2 });
  h.core.handle({ type: ToWorker.NET, peer: 1, data: peerHello });
  // A key before the next wake: the TICK says the sample saw key message 1.
  h.core.handle({ type: ToWorker.KEY, key: 'ArrowUp', down: true, t: 520, wall: 1.7e12, seq: 1 });
  for (let i = 0; i < 5; i++) {
    h.advance(20);
    h.wake();
  }
  const ticks = h.of(ToPage.TICK);
  assert.equal(ticks.at(-1).keySeq, 1);
  for (const tk of ticks) for (const s of tk.samples) assert.equal(s.length, 3);
  // The session's input log got the key at the worker's own time (absolute 520 - origin 500).
  assert.equal(h.core.game.session.inputLog.events[0].t, 20);
  // Hidden: no render states while hidden, one at once when the page is back.
  const before = h.of(ToPage.RENDER).length;
  h.core.handle({ type: ToWorker.HIDDEN, hidden: true });
  h.advance(100);
  h.wake();
  h.core.handle({ type: ToWorker.HIDDEN, hidden: false });
  assert.equal(h.of(ToPage.RENDER).length, before + 1);
  assert.ok(h.of(ToPage.EVENT).some((e) => e.name === 'hidden' && e.payload.hidden === true));
  // Leaving: the BYE goes out before the answer, and the answer carries the record.
  const sendsBefore = h.of(ToPage.SEND).length;
  h.core.handle({ type: ToWorker.ABANDON, id: 4, reason: null });
  const after = h.posts.slice(h.posts.findIndex((m) => m.type === ToPage.SEND && decode(m.data).msg.type === 'bye'));
  assert.ok(h.of(ToPage.SEND).length > sendsBefore);
  assert.equal(after.at(-1).type, ToPage.ABANDONED);
  assert.equal(after.at(-1).id, 4);
  assert.equal(after.at(-1).record.partial, true);
  assert.equal(h.of(ToPage.ENDED).length, 0, 'an abandoned game does not also report a normal end');
  h.wake();
  assert.equal(h.timers.queue.length, 0, 'the loop stopped');
});

test('ABANDON before START answers with no record; EXCLUDE reaches the session', () => {
  const scene = p2pScene({ numEpisodes: 1, maxSteps: 100, fps: 50 });
  const h = coreHarness();
  h.core.addEnv(1, createTrivialEnv({ numPlayers: 2, episodeSteps: 1e9 }));
  const begin = { type: ToWorker.BEGIN, envId: 1, p2p: scene.p2p, gameReady: gameReady({ playerIndex: 1, scene }), keyboard: null, hidden: false, rejoin: false };
  h.core.handle(begin);
  h.core.handle({ type: ToWorker.ABANDON, id: 1, reason: null });
  assert.deepEqual(h.of(ToPage.ABANDONED), [{ type: 'abandoned', id: 1, record: null }]);
  h.core.handle(begin);
  h.core.handle({ type: ToWorker.START, path: null });
  h.core.handle({ type: ToWorker.EXCLUDE, reason: 'inactive', policy: 'end' });
  assert.deepEqual(h.of(ToPage.EVENT).find((e) => e.name === 'excluded').payload.reason, 'inactive');
});

test('the page side: one worker per page, CONFIG first with absolute URLs, loads answered in any order, textures on the page', async () => {
  const sent = [];
  let spawned = 0;
  const port = {
    postMessage: (m) => sent.push(m),
    terminate() {},
  };
  const client = createGameWorker({
    config: { python_url: '/p2p/py/', wheelhouse_url: null },
    baseUrl: 'http://127.0.0.1:5000/p2p/participant',
    spawn: () => { spawned += 1; return port; },
    loadTextures: async (tex) => new Map(tex ? [['atlas', 1]] : []),
  });
  const a = client.loadEnv({ env: {}, rendering: { textures: { atlas: {} } } });
  const b = client.loadEnv({ env: {} });
  assert.equal(spawned, 1);
  assert.deepEqual(sent[0], { type: 'config', config: { python_url: 'http://127.0.0.1:5000/p2p/py/', wheelhouse_url: null } });
  assert.deepEqual(sent.slice(1).map((m) => [m.type, m.id]), [['load', 1], ['load', 2]]);
  port.onmessage({ data: { type: ToPage.LOAD_FAILED, id: 2, error: { name: 'PackageInstallError', message: 'x', package: 'nope' } } });
  port.onmessage({ data: { type: ToPage.LOADED, id: 1, numPlayers: 2, resources: ['http://x/pyodide.asm.wasm'] } });
  const handle = await a;
  assert.equal(handle.envId, 1);
  assert.equal(handle.textures.get('atlas'), 1);
  await assert.rejects(b, (err) => err.package === 'nope');
  // Game messages go to listeners; malformed ones are dropped.
  const got = [];
  const off = client.on((m) => got.push(m.type));
  port.onmessage({ data: { type: ToPage.TICK, frame: 1, samples: [], keySeq: 0, status: 'running' } });
  port.onmessage({ data: { type: ToPage.TICK, frame: 'x' } });
  off();
  port.onmessage({ data: { type: ToPage.TICK, frame: 2, samples: [], keySeq: 0, status: 'running' } });
  assert.deepEqual(got, ['tick']);
  handle.destroy();
  handle.destroy();
  assert.deepEqual(sent.filter((m) => m.type === 'destroy_env'), [{ type: 'destroy_env', id: 1 }]);
  // A worker that fails to start fails every load (the flow shows the load error).
  const pending = client.loadEnv({ env: {} });
  port.onerror({ message: 'blocked' });
  await assert.rejects(pending, /the game worker failed: blocked/);
});

test('a browser without module workers: every load fails with worker_unsupported (the flow says so plainly)', async () => {
  let tries = 0;
  const client = createGameWorker({
    config: {},
    baseUrl: 'http://127.0.0.1:5000/p2p/participant',
    // What `new Worker(url, {type: 'module'})` does in a browser that has no module workers.
    spawn: () => { tries += 1; throw new TypeError('Module scripts are not supported on DedicatedWorker yet'); },
  });
  await assert.rejects(client.loadEnv({ env: {} }), (err) => err.code === WORKER_UNSUPPORTED && /module Web Worker/.test(err.message));
  await assert.rejects(client.loadEnv({ env: {} }), (err) => err.code === WORKER_UNSUPPORTED);
  assert.equal(tries, 1, 'tried once');
  // A worker script that never loads (its first event is an error): the same.
  const port = { postMessage() {}, terminate() {} };
  const other = createGameWorker({ config: {}, spawn: () => port });
  const pending = other.loadEnv({ env: {} });
  port.onerror({ message: 'SyntaxError: Cannot use import statement outside a module' });
  await assert.rejects(pending, (err) => err.code === WORKER_UNSUPPORTED);
  await assert.rejects(other.loadEnv({ env: {} }), (err) => err.code === WORKER_UNSUPPORTED);
});

test('keepPyodideWasm compiles the folder\'s pyodide.asm.wasm on the page, and never throws', async () => {
  const { keepPyodideWasm } = await import('../../static/js/game_worker_client.js');
  const asked = [];
  const module = { compiled: true };
  const wasm = { compileStreaming: async (response) => { asked.push(await response); return module; } };
  const fetch = async (url) => `response of ${url}`;
  assert.equal(await keepPyodideWasm('http://h/p2p/pyodide/314.0.7', { fetch, wasm }), module);
  assert.deepEqual(asked, ['response of http://h/p2p/pyodide/314.0.7/pyodide.asm.wasm']);
  // No folder, no streaming compile, or a failed fetch/compile: no module, no error.
  assert.equal(await keepPyodideWasm(undefined, { fetch, wasm }), null);
  assert.equal(await keepPyodideWasm('http://h/p/', { fetch, wasm: {} }), null);
  assert.equal(await keepPyodideWasm('http://h/p/', { fetch: async () => { throw new Error('offline'); }, wasm }), null);
  assert.equal(await keepPyodideWasm('http://h/p/', { fetch, wasm: { compileStreaming: async () => { throw new TypeError('bad'); } } }), null);
});
