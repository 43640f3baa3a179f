// env_preload.js: the first game's environment loads as soon as the page opens; the game
// scene takes it when it is the same environment, else drops it (destroyed) and loads its own.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { createEnvPreloader, envKey } from '../../static/js/env_preload.js';
import { p2pScene } from './support/client_fakes.mjs';

function loader() {
  const calls = [];
  const load = (p2p) => {
    const env = { code: p2p.env?.code, destroyed: 0, destroy() { env.destroyed += 1; } };
    calls.push({ p2p, env });
    return new Promise((resolve, reject) => { calls.at(-1).resolve = () => resolve(env); calls.at(-1).reject = reject; });
  };
  return { load, calls };
}

const settle = () => new Promise((r) => setTimeout(r, 0));

test('envKey: the same environment whatever the other settings', () => {
  const a = p2pScene().p2p;
  const b = structuredClone(a);
  b.settings.p2p.fps = 60;
  b.signaling = { ticket: 'other' };
  assert.equal(envKey(a), envKey(b));
  const c = structuredClone(a);
  c.env = { ...c.env, code: 'different' };
  assert.notEqual(envKey(a), envKey(c));
  const d = structuredClone(a);
  d.settings.p2p.players = 3;
  assert.notEqual(envKey(a), envKey(d));
  // The page config (keys sorted by Flask's tojson) and activate_scene (insertion order).
  const sortedKeys = (v) => (Array.isArray(v) ? v.map(sortedKeys) : v && typeof v === 'object'
    ? Object.fromEntries(Object.keys(v).sort().reverse().map((k) => [k, sortedKeys(v[k])])) : v);
  assert.equal(envKey(sortedKeys(a)), envKey(a));
});

test('preloaded and then taken by the scene: one load, statuses loading -> ready -> used', async () => {
  const l = loader();
  const statuses = [];
  let t = 0;
  const pre = createEnvPreloader(l.load, { onStatus: (s) => statuses.push(s), now: () => t });
  const scene = p2pScene().p2p;
  pre.start(scene);
  pre.start(scene); // once
  await settle();
  assert.equal(l.calls.length, 1);
  t = 2500;
  l.calls[0].resolve();
  await settle();
  const env = await pre.loadEnv({ ...scene, signaling: { ticket: 'T' } });
  assert.equal(env, l.calls[0].env);
  assert.equal(l.calls.length, 1, 'no second load');
  assert.deepEqual(statuses, [{ status: 'loading' }, { status: 'ready', ms: 2500 }, { status: 'used' }]);
  const later = pre.loadEnv(scene); // a later scene: loads normally
  assert.equal(l.calls.length, 2);
  l.calls[1].resolve();
  await later;
});

test('taken while still loading; a different environment drops the preloaded one; a failure loads again', async () => {
  const l = loader();
  const statuses = [];
  const pre = createEnvPreloader(l.load, { onStatus: (s) => statuses.push(s.status) });
  const scene = p2pScene().p2p;
  pre.start(scene);
  await settle();
  const taking = pre.loadEnv(scene);
  l.calls[0].resolve();
  assert.equal(await taking, l.calls[0].env);
  assert.deepEqual(statuses, ['loading', 'used']);

  const l2 = loader();
  const pre2 = createEnvPreloader(l2.load);
  pre2.start(scene);
  await settle();
  l2.calls[0].resolve();
  const other = { ...scene, env: { ...scene.env, code: 'another game' } };
  const loading = pre2.loadEnv(other);
  assert.equal(l2.calls.length, 2);
  assert.equal(l2.calls[1].p2p, other);
  l2.calls[1].resolve();
  assert.equal((await loading).code, 'another game');
  await settle();
  assert.equal(l2.calls[0].env.destroyed, 1, 'the preloaded environment is released');

  const l3 = loader();
  const st3 = [];
  const pre3 = createEnvPreloader(l3.load, { onStatus: (s) => st3.push(s) });
  pre3.start(scene);
  await settle();
  l3.calls[0].reject(new Error('offline'));
  await settle();
  assert.deepEqual(st3.at(-1), { status: 'failed', error: 'offline' });
  const again = pre3.loadEnv(scene);
  assert.equal(l3.calls.length, 2, 'the scene loads it again (and shows its own error if it fails)');
  l3.calls[1].resolve();
  await again;
});

test('too late to load early: once a scene loaded its own environment, start() does nothing', async () => {
  const l = loader();
  const pre = createEnvPreloader(l.load);
  const scene = p2pScene().p2p;
  const own = pre.loadEnv(scene);
  pre.start(scene); // the browser checks ended after the participant reached the game
  assert.equal(l.calls.length, 1, 'one load, not two');
  l.calls[0].resolve();
  assert.equal((await own).code, scene.env.code);
});
