// The JS environment adapter: same contract as the Pyodide one, hashing with hashing.js.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { createJsEnv } from '../../static/js/env_js.js';
import { stateHash } from '../../static/js/hashing.js';

// A tiny two-player tug of war whose state holds nested objects the env keeps mutating in
// place, so a snapshot that aliased them would be corrupted by later frames.
function tugOfWar(maxSteps = 50) {
  let s;
  return {
    reset(seed) {
      s = { t: 0, rope: { pos: seed % 7, history: [] }, speed: 0.5 };
    },
    step(actions) {
      s.t += 1;
      s.rope.pos += (actions[1] - actions[0]) * s.speed;
      s.rope.history.push(actions);
      return { done: s.t >= maxSteps };
    },
    getState() {
      return s; // live object on purpose
    },
    setState(state) {
      s = state; // keeps the object on purpose
    },
    render() {
      return [{ uuid: 'rope', object_type: 'circle', x: 0.5 + s.rope.pos / 100, y: 0.5, radius: 5, color: '#000' }];
    },
  };
}

test('step/done, rollback through save/load survives an env that aliases its state', () => {
  const env = createJsEnv(tugOfWar(), { numPlayers: 2 });
  env.reset(10);
  for (let f = 0; f < 5; f++) assert.equal(env.step([f % 2, 1]).done, false);
  const snap = env.save();
  const first = [];
  for (let f = 5; f < 20; f++) { env.step([1, f % 3]); first.push(env.stateHash()); }
  for (let round = 0; round < 2; round++) {
    env.load(snap);
    const again = [];
    for (let f = 5; f < 20; f++) { env.step([1, f % 3]); again.push(env.stateHash()); }
    assert.deepEqual(again, first);
  }
  for (let f = 20; f < 49; f++) env.step([0, 0]);
  assert.equal(env.step([0, 0]).done, true);
});

test('stateHash is hashing.js of getState(); canonicalState is the normalized JSON', () => {
  const raw = tugOfWar();
  const env = createJsEnv(raw, { numPlayers: 2 });
  env.reset(3);
  env.step([0, 1]);
  assert.equal(env.stateHash(), stateHash(raw.getState()));
  assert.deepEqual(env.canonicalState(), { rope: { history: [[0, 1]], pos: 3.5 }, speed: 0.5, t: 1 });
  assert.equal(env.render()[0].object_type, 'circle');
});

test('missing actions become the default; bad env or options are clear errors', () => {
  const a = createJsEnv(tugOfWar(), { numPlayers: 2, defaultAction: 0 });
  const b = createJsEnv(tugOfWar(), { numPlayers: 2, defaultAction: 0 });
  a.reset(1); b.reset(1);
  a.step([undefined, 1]); b.step([0, 1]);
  assert.equal(a.stateHash(), b.stateHash());
  assert.throws(() => createJsEnv({ reset() {} }, { numPlayers: 2 }), /no step\(\) method/);
  assert.throws(() => createJsEnv(tugOfWar(), {}), /numPlayers/);
  assert.throws(() => a.reset(2 ** 32), RangeError);
});
