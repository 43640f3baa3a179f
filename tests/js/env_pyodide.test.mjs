// The Pyodide environment adapter, driven against the real npm Pyodide with the demo game
// (interactive_gym_p2p/examples/gem_rush.py) and the real hashing.py loaded into it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadPyodide } from 'pyodide';

import { createPyodideEnv, installPythonModules } from '../../static/js/env_pyodide.js';
import { stateHash as jsStateHash } from '../../static/js/hashing.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const HASHING_SOURCE = readFileSync(`${ROOT}interactive_gym_p2p/hashing.py`, 'utf8');
const GEM_RUSH_SOURCE = readFileSync(`${ROOT}interactive_gym_p2p/examples/gem_rush.py`, 'utf8');
const MAX_STEPS = 120;
// Same shape as gem_rush.environment_initialization_code(max_steps=120).
const ENV_CODE = `${GEM_RUSH_SOURCE}\n\nenv = GemRushEnv(max_steps=${MAX_STEPS})\n`;

let pyodide;
const made = [];
function makeEnv(opts = {}) {
  const env = createPyodideEnv(pyodide, { environmentCode: ENV_CODE, hashingSource: HASHING_SOURCE, ...opts });
  made.push(env);
  return env;
}

// A fixed action script: player 0 circles, player 1 zig-zags (covers every action 0..8).
function scriptedActions(frame) {
  return [(frame >> 3) % 9, (frame * 7 + 3) % 9];
}

before(async () => {
  pyodide = await loadPyodide();
});

after(() => {
  for (const env of made) env.destroy();
});

test('reset/step run the demo to its episode end; done exactly at max_steps', () => {
  const env = makeEnv();
  assert.equal(env.numPlayers, 2);
  env.reset(12345);
  for (let f = 0; f < MAX_STEPS - 1; f++) {
    assert.equal(env.step(scriptedActions(f)).done, false, `frame ${f}`);
  }
  assert.equal(env.step(scriptedActions(MAX_STEPS - 1)).done, true);
  assert.match(env.stateHash(), /^[0-9a-f]{16}$/);
});

for (const mode of ['proxy', 'json']) {
  test(`save/load (${mode} snapshots) re-simulates identically, as rollback needs`, () => {
    const env = makeEnv({ snapshot: mode });
    env.reset(7);
    for (let f = 0; f < 30; f++) env.step(scriptedActions(f));
    const snap = env.save();
    if (mode === 'json') assert.equal(typeof snap, 'string');
    const first = [];
    for (let f = 30; f < 90; f++) {
      env.step(scriptedActions(f));
      first.push(env.stateHash());
    }
    // Roll back twice to the same snapshot: loading must not alias the snapshot.
    for (let round = 0; round < 2; round++) {
      env.load(snap);
      const again = [];
      for (let f = 30; f < 90; f++) {
        env.step(scriptedActions(f));
        again.push(env.stateHash());
      }
      assert.deepEqual(again, first, `round ${round}`);
    }
    // A different input history diverges: the hash sees the inputs.
    env.load(snap);
    env.step([4, 4]);
    assert.notEqual(env.stateHash(), first[0]);
    env.dispose(snap);
  });
}

test('the same seed gives the same run, a different seed another', () => {
  const run = (seed) => {
    const env = makeEnv();
    env.reset(seed);
    const hashes = [];
    for (let f = 0; f < 40; f++) {
      env.step(scriptedActions(f));
      hashes.push(env.stateHash());
    }
    return hashes;
  };
  assert.deepEqual(run(99), run(99));
  assert.notDeepEqual(run(99), run(100));
});

test('Pyodide (Python 3.14) hashes equal CPython hashes of the same game, frame by frame', () => {
  const env = makeEnv();
  env.reset(2024);
  const hashes = [];
  for (let f = 0; f < MAX_STEPS; f++) {
    env.step(scriptedActions(f));
    hashes.push(env.stateHash());
  }
  const script = `
import json
from interactive_gym_p2p.examples.gem_rush import GemRushEnv
from interactive_gym_p2p.hashing import state_hash
env = GemRushEnv(max_steps=${MAX_STEPS})
env.reset(seed=2024)
out = []
for f in range(${MAX_STEPS}):
    env.step({0: (f >> 3) % 9, 1: (f * 7 + 3) % 9})
    out.append(state_hash(env.get_state()))
print(json.dumps(out))
`;
  const cpython = JSON.parse(execFileSync('python3', ['-c', script], { cwd: ROOT, encoding: 'utf8' }));
  assert.equal(cpython.length, hashes.length);
  assert.deepEqual(hashes, cpython);
});

test('canonicalState is the JSON-able state whose JS hash equals the Python hash', () => {
  const env = makeEnv();
  env.reset(5);
  for (let f = 0; f < 25; f++) env.step(scriptedActions(f));
  const state = env.canonicalState();
  assert.equal(state.t, 25);
  assert.equal(state.players.length, 2);
  assert.equal(jsStateHash(state), env.stateHash());
});

test('render returns Interactive Gym object contexts', () => {
  const env = makeEnv();
  env.reset(1);
  env.step([0, 0]);
  const objs = env.render();
  assert.ok(Array.isArray(objs) && objs.length > 0);
  const types = new Set(objs.map((o) => o.object_type));
  for (const t of ['circle', 'text', 'polygon', 'line']) assert.ok(types.has(t), t);
  for (const o of objs) assert.equal(typeof o.uuid, 'string');
  const p0 = objs.find((o) => o.uuid === 'player0');
  assert.ok(p0.x > 0 && p0.x < 1 && p0.y > 0 && p0.y < 1, 'relative coordinates');
});

test('a missing or non-integer action becomes the default action', () => {
  const a = makeEnv({ defaultAction: 0 });
  const b = makeEnv({ defaultAction: 0 });
  a.reset(3);
  b.reset(3);
  a.step([undefined, 2.5]);
  b.step([0, 0]);
  assert.equal(a.stateHash(), b.stateHash());
});

test('hash follows the current frame after step, load and reset (no stale cache)', () => {
  const env = makeEnv();
  env.reset(11);
  const h0 = env.stateHash();
  const snap = env.save();
  env.step([4, 3]);
  const h1 = env.stateHash();
  assert.notEqual(h1, h0);
  env.load(snap);
  assert.equal(env.stateHash(), h0);
  env.step([4, 3]);
  assert.equal(env.stateHash(), h1);
  env.reset(11);
  assert.equal(env.stateHash(), h0);
});

const TINY_ENV = (flagsExpr) => `
class Tiny:
    possible_agents = ["a", "b"]
    def reset(self, seed=None):
        self.t = 0
        return {}, {}
    def step(self, actions):
        assert set(actions) == {"a", "b"}, actions
        self.t += 1
        flags = ${flagsExpr}
        return {}, {}, flags, {"a": False, "b": False}, {}
    def get_state(self):
        return {"t": self.t}
    def set_state(self, s):
        self.t = s["t"]
env = Tiny()
`;

test("done comes from '__all__' when present, else from every agent", () => {
  const viaAll = makeEnv({ environmentCode: TINY_ENV('{"a": True, "b": True, "__all__": self.t >= 2}') });
  viaAll.reset(0);
  assert.equal(viaAll.step([0, 0]).done, false);
  assert.equal(viaAll.step([0, 0]).done, true);
  const viaAgents = makeEnv({ environmentCode: TINY_ENV('{"a": self.t >= 1, "b": self.t >= 3}') });
  viaAgents.reset(0);
  assert.equal(viaAgents.step([0, 0]).done, false);
  assert.equal(viaAgents.step([0, 0]).done, false);
  assert.equal(viaAgents.step([0, 0]).done, true);
});

test('clear errors for bad environment code and mismatched player counts', () => {
  assert.throws(() => makeEnv({ environmentCode: 'x = 1\n' }), /must define a variable named 'env'/);
  assert.throws(
    () => makeEnv({ environmentCode: 'class E:\n    def reset(self, seed=None): pass\nenv = E()\n' }),
    /env has no step\(\) method/,
  );
  assert.throws(() => makeEnv({ numPlayers: 3 }), /numPlayers is 3 but the env has 2 agent ids/);
  assert.throws(() => makeEnv({ environmentCode: '' }), TypeError);
  assert.throws(() => makeEnv({ snapshot: 'pickle' }), TypeError);
  const env = makeEnv();
  assert.throws(() => env.reset(-1), RangeError);
});

test('dispose frees a proxy snapshot; using it afterwards is an error, not silent', () => {
  const env = makeEnv();
  env.reset(1);
  const snap = env.save();
  env.dispose(snap);
  assert.throws(() => env.load(snap));
});

test('the env code sees interactive_gym_globals, as in Interactive Gym', () => {
  const code = `${TINY_ENV('{"a": False, "b": False}')}\nenv.label = interactive_gym_globals["label"]\n`;
  const env = makeEnv({ environmentCode: code, interactiveGymGlobals: { label: 'x' } });
  env.reset(0);
  assert.equal(env.step([1, 2]).done, false);
  const plain = makeEnv({ environmentCode: TINY_ENV('False') });
  plain.reset(0);
  assert.equal(plain.step([0, 0]).done, false);
});

// The shared vectors of step_outcome.py, through the real adapter (Python 3.14 in Pyodide):
// the browser records what the Python peer and the offline replay record.
const STEP_OUTCOME_SOURCE = readFileSync(`${ROOT}interactive_gym_p2p/step_outcome.py`, 'utf8');
const STEP_VECTORS = JSON.parse(readFileSync(`${ROOT}tests/vectors/step_outcomes.json`, 'utf8')).cases;

test('every step reports rewards, flags and record_info values as step_outcome.py says (shared vectors)', () => {
  for (const c of STEP_VECTORS) {
    const code = [
      'import json',
      `CASE = json.loads(${JSON.stringify(JSON.stringify(c))})`,
      'class Stub:',
      '    possible_agents = CASE["agent_ids"]',
      '    def reset(self, seed=None): pass',
      '    def step(self, actions): return (None, *CASE["step"])',
      '    def get_state(self): return {}',
      '    def set_state(self, s): pass',
      'env = Stub()',
    ].join('\n');
    const env = makeEnv({ environmentCode: code, stepOutcomeSource: STEP_OUTCOME_SOURCE, recordInfo: c.record_info });
    assert.equal(env.reportsRewards, true);
    env.reset(1);
    const out = env.step(new Array(c.agent_ids.length).fill(0));
    const e = c.expected;
    if (c.encoded_false) {
      assert.deepEqual(out, { done: false }, c.name);
    } else {
      assert.deepEqual(out, {
        done: e.done, endedBy: e.ended_by ?? undefined, rewards: e.rewards, terminated: e.terminated,
        truncated: e.truncated, info: Object.keys(e.info).length > 0 ? e.info : undefined,
      }, c.name);
    }
  }
});

test('the demo reports its rewards and its score info; without step_outcome.py nothing but done', () => {
  const env = makeEnv({ stepOutcomeSource: STEP_OUTCOME_SOURCE, recordInfo: ['score'] });
  env.reset(7);
  let total = [0, 0];
  let last = null;
  for (let f = 0; f < MAX_STEPS; f++) {
    const out = env.step(scriptedActions(f));
    assert.ok(out.info && Array.isArray(out.info.score), 'record_info rides on every step');
    total = total.map((t, i) => t + out.rewards[i]);
    last = out;
  }
  assert.equal(last.done, true);
  assert.deepEqual(total, last.info.score, 'the rewards add up to the score the env reports');
  const bare = makeEnv();
  bare.reset(7);
  assert.equal(bare.reportsRewards, false);
  assert.deepEqual(bare.step([0, 0]), { done: false });
});

// on_game_step_code (Interactive Gym: Python run before every env.step where env lives) changes
// a weight the step reads; the weight is part of get_state(), so the hash covers it.
const WEIGHTED_ENV = `
class Weighted:
    possible_agents = [0, 1]
    def reset(self, seed=None):
        self.t = 0
        self.score = 0
        self.weights = [1, 1]
        self.calls = 0
    def step(self, actions):
        self.t += 1
        self.score += self.weights[0] * actions[0] + self.weights[1] * actions[1]
        return {}, {}, {"__all__": False}, {"__all__": False}, {}
    def get_state(self):
        return {"t": self.t, "score": self.score, "weights": list(self.weights), "calls": self.calls}
    def set_state(self, s):
        self.t, self.score, self.weights, self.calls = s["t"], s["score"], list(s["weights"]), s["calls"]
env = Weighted()
ODD_WEIGHT = 3
`;
const WEIGHT_CODE = 'env.weights[1] = ODD_WEIGHT if env.t % 2 else 1\nenv.calls += 1\n';

test('on_game_step_code runs before every step in the env namespace, and rollback re-runs it', () => {
  const env = makeEnv({ environmentCode: WEIGHTED_ENV, onGameStepCode: WEIGHT_CODE });
  const plain = makeEnv({ environmentCode: WEIGHTED_ENV });
  env.reset(3);
  plain.reset(3);
  const actions = (f) => [f % 3, (f * 5) % 4];
  const hashes = [];
  let expected = 0;
  for (let f = 0; f < 40; f++) {
    env.step(actions(f));
    plain.step(actions(f));
    hashes.push(env.stateHash());
    expected += actions(f)[0] + (f % 2 ? 3 : 1) * actions(f)[1]; // t before step f is f
  }
  const state = env.canonicalState();
  assert.equal(state.calls, 40);
  assert.equal(state.score, expected);
  assert.notEqual(env.stateHash(), plain.stateHash(), 'the step code changed nothing: ignored?');
  // Roll back to frame 9 and re-simulate: the code runs again and gives the same hashes.
  env.reset(3);
  const again = [];
  let snap = null;
  for (let f = 0; f < 40; f++) {
    env.step(actions(f));
    if (f === 9) snap = env.save();
    again.push(env.stateHash());
  }
  env.load(snap);
  for (let f = 10; f < 40; f++) {
    env.step(actions(f));
    again[f] = env.stateHash();
  }
  assert.deepEqual(again, hashes);
  // The Python peer's adapter (peer/env.py) runs it the same way: same hashes.
  const script = `
import json, sys
from interactive_gym_p2p.peer.env import InteractiveGymEnvAdapter
code, step = json.load(sys.stdin)
env = InteractiveGymEnvAdapter.from_code(code, 2, on_game_step_code=step)
env.reset(3)
out = []
for f in range(40):
    env.step([f % 3, (f * 5) % 4])
    out.append(env.state_hash())
print(json.dumps(out))
`;
  const cpython = JSON.parse(execFileSync('python3', ['-c', script], {
    cwd: ROOT, encoding: 'utf8', input: JSON.stringify([WEIGHTED_ENV, WEIGHT_CODE]),
  }));
  assert.deepEqual(cpython, hashes);
});

test('on_game_step_code: a syntax error or a bad type fails when the env is built', () => {
  assert.throws(() => makeEnv({ environmentCode: WEIGHTED_ENV, onGameStepCode: 'env.t +=' }), /SyntaxError|on_game_step_code/);
  assert.throws(() => makeEnv({ environmentCode: WEIGHTED_ENV, onGameStepCode: 5 }), TypeError);
});

test('installPythonModules writes importable modules (how Interactive Gym object contexts reach the env)', () => {
  installPythonModules(pyodide, {
    'p2p_test_pkg/__init__.py': '',
    'p2p_test_pkg/contexts.py': 'import dataclasses\n@dataclasses.dataclass\nclass Dot:\n    uuid: str\n    x: float\n    def as_dict(self):\n        return dataclasses.asdict(self)\n',
  });
  const code = `from p2p_test_pkg.contexts import Dot\n${TINY_ENV('{"a": False, "b": False}')}\nenv.render = lambda: [Dot("d", 0.5).as_dict()]\n`;
  const env = makeEnv({ environmentCode: code });
  env.reset(0);
  assert.deepEqual(env.render(), [{ uuid: 'd', x: 0.5 }]);
  assert.throws(() => installPythonModules(pyodide, { '../evil.py': '' }), /bad module path/);
});

test('an RGB array from render() crosses as bytes (the renderer draws {__p2p_rgb__, data})', () => {
  // A stand-in for a numpy array (numpy is not in the offline Pyodide): shape, astype, tobytes.
  const code = `${TINY_ENV('{"a": False, "b": False}')}
class Frame:
    shape = (1, 2, 3)
    def astype(self, dtype):
        return self
    def tobytes(self):
        return bytes([255, 0, 0, 0, 0, 255])
env.render = lambda: Frame()
`;
  const env = makeEnv({ environmentCode: code });
  env.reset(0);
  assert.deepEqual(env.render(), { __p2p_rgb__: [1, 2, 3], data: Buffer.from([255, 0, 0, 0, 0, 255]).toString('base64') });
});
