// Environment adapter for environments written in JavaScript: the same synchronous adapter
// the rollback engine drives for Pyodide environments (see env_pyodide.js), hashing with
// hashing.js (the JS twin of hashing.py, so a JS env and a Python env of the same game hash
// alike when their get_state() output is the same).
//
// The wrapped environment is a plain object:
//   reset(seed)                 start an episode (seed: u32)
//   step(actions: number[])     -> boolean done | {done: boolean}
//   getState()                  -> JSON-able state
//   setState(state)             restore a state from getState()
//   render?()                   -> Interactive Gym object contexts

import { canonicalize, stateHash } from './hashing.js';

/**
 * @param {object} env  the JS environment (see above)
 * @param {object} opts
 * @param {number} opts.numPlayers
 * @param {number} [opts.defaultAction=0]
 * @param {boolean} [opts.copySnapshots=true]  deep-copy getState() output on save and on
 *        load, so an env that returns (or keeps) references to its live objects cannot
 *        corrupt a saved snapshot. An env that already returns fresh objects can turn it off.
 */
export function createJsEnv(env, opts = {}) {
  for (const name of ['reset', 'step', 'getState', 'setState']) {
    if (typeof env?.[name] !== 'function') {
      throw new TypeError(`createJsEnv: the environment has no ${name}() method`);
    }
  }
  const numPlayers = opts.numPlayers;
  if (!Number.isInteger(numPlayers) || numPlayers < 1) {
    throw new TypeError('createJsEnv: numPlayers must be a positive integer');
  }
  const defaultAction = opts.defaultAction ?? 0;
  if (!Number.isInteger(defaultAction)) throw new TypeError('createJsEnv: defaultAction must be an integer');
  const copy = opts.copySnapshots === false ? (v) => v : deepCopy;
  const actionBuf = new Array(numPlayers).fill(defaultAction);

  return {
    numPlayers,
    reset(seed) {
      if (!Number.isInteger(seed) || seed < 0 || seed > 0xFFFFFFFF) {
        throw new RangeError(`reset: seed must be a u32, got ${seed}`);
      }
      env.reset(seed);
    },
    step(actions) {
      for (let i = 0; i < numPlayers; i++) {
        const a = actions[i];
        actionBuf[i] = Number.isInteger(a) ? a : defaultAction;
      }
      // A fresh array: the env may keep it (e.g. in its state) without seeing later frames.
      const out = env.step(actionBuf.slice());
      return { done: out === true || (typeof out === 'object' && out !== null && out.done === true) };
    },
    save() {
      return copy(env.getState());
    },
    load(snapshot) {
      // Copy on load too: the same snapshot is loaded again on the next rollback.
      env.setState(copy(snapshot));
    },
    dispose() {},
    stateHash() {
      return stateHash(env.getState());
    },
    canonicalState() {
      return JSON.parse(canonicalize(env.getState()));
    },
    render() {
      return typeof env.render === 'function' ? env.render() : null;
    },
  };
}

function deepCopy(v) {
  return structuredClone(v);
}
