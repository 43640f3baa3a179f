// Test environments implementing the pinned environment adapter contract directly (reset, step,
// save, load, stateHash, canonicalState), small and fast so network simulations can run
// thousands of frames per peer. Used by the engine's tests and benchmarks only.

import { stateHash } from '../../../static/js/hashing.js';

/**
 * A game whose state depends on every action of every frame (so a wrong prediction shows up in
 * the hash) and whose episode end depends on the inputs (so predicted terminal frames can be
 * wrong). Includes floats so hashing's float normalization is exercised.
 *
 * @param {object} o
 * @param {number} o.numPlayers
 * @param {number} [o.minSteps=40]  an episode lasts at least this many steps
 * @param {number} [o.maxSteps=120] and at most this many
 * @param {number|null} [o.noiseAt=null] inject nondeterminism at this step index (see below)
 * @param {number} [o.noiseSalt=0]  per-instance salt of the nondeterminism
 * @param {boolean} [o.reportSteps=false]  step() also reports rewards, flags and info (the
 *        Python twin, sim_envs.CounterEnv, computes the same values)
 */
export function createCounterEnv({ numPlayers, minSteps = 40, maxSteps = 120, noiseAt = null, noiseSalt = 0, reportSteps = false }) {
  let state = null;
  // Hidden (not in the state) and different per instance and per call: the classic bug of an
  // environment reading something outside its state, e.g. an unseeded random number.
  let hiddenCalls = 0;
  const counters = { steps: 0, saves: 0, loads: 0, hashes: 0, resets: 0 };
  return {
    numPlayers,
    counters,
    reportsRewards: reportSteps,
    reset(seed) {
      counters.resets += 1;
      state = { seed, t: 0, acc: seed % 1000, pos: new Array(numPlayers).fill(0).map((_, i) => i * 0.5), last: new Array(numPlayers).fill(0), noise: 0 };
    },
    step(actions) {
      counters.steps += 1;
      hiddenCalls += 1;
      const s = state;
      for (let i = 0; i < numPlayers; i++) {
        const a = actions[i];
        s.pos[i] = Math.round((s.pos[i] * 0.9 + a * 0.3 + i * 0.01) * 1e6) / 1e6;
        s.last[i] = a;
        s.acc = (Math.imul(s.acc, 31) + a + 7 * i + 1) >>> 0;
      }
      if (noiseAt !== null && s.t === noiseAt) s.noise = noiseSalt * 1000003 + (hiddenCalls % 1000003);
      s.t += 1;
      const truncated = s.t >= maxSteps;
      const done = truncated || (s.t >= minSteps && s.acc % 11 === 0);
      if (!reportSteps) return { done };
      const out = { done, endedBy: done ? (truncated ? 'truncated' : 'terminated') : undefined };
      // Sparse rewards (some fractional, some negative) that depend on every player's input.
      const rewards = new Array(numPlayers).fill(0);
      for (let i = 0; i < numPlayers; i++) {
        const k = (s.acc + i) % 13;
        if (k === 0) rewards[i] = 0.1 * (i + 1);
        else if (k === 5) rewards[i] = -1;
      }
      out.rewards = rewards;
      // Player 0's own flag goes up early (a per-agent terminated before the episode ends).
      out.terminated = new Array(numPlayers).fill(done && !truncated).map((v, i) => v || (i === 0 && s.t % 30 === 0));
      out.truncated = new Array(numPlayers).fill(truncated);
      out.info = { phase: s.pos.map((_, i) => Math.floor(s.t / 25) + i), lead: s.pos.map((v) => v >= s.pos[0]) };
      return out;
    },
    save() {
      counters.saves += 1;
      return { seed: state.seed, t: state.t, acc: state.acc, pos: state.pos.slice(), last: state.last.slice(), noise: state.noise };
    },
    load(snap) {
      counters.loads += 1;
      state = { seed: snap.seed, t: snap.t, acc: snap.acc, pos: snap.pos.slice(), last: snap.last.slice(), noise: snap.noise };
    },
    stateHash() {
      counters.hashes += 1;
      return stateHash(state);
    },
    canonicalState() {
      return JSON.parse(JSON.stringify(state));
    },
    render() {
      return { t: state.t };
    },
  };
}

/** The cheapest possible environment (for measuring engine overhead): an integer counter. */
export function createTrivialEnv({ numPlayers, episodeSteps = 1e9 }) {
  let t = 0;
  let sum = 0;
  let h = 0;
  return {
    numPlayers,
    reset(seed) {
      t = 0;
      sum = seed | 0;
      h = 0;
    },
    step(actions) {
      for (let i = 0; i < actions.length; i++) sum = (Math.imul(sum, 31) + actions[i]) | 0;
      t += 1;
      return { done: t >= episodeSteps };
    },
    save() {
      return [t, sum];
    },
    load(s) {
      t = s[0];
      sum = s[1];
    },
    stateHash() {
      // A real 16-hex hash of the state, computed cheaply (mixes t and sum).
      h = Math.imul(t ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(sum, 0xc2b2ae35);
      return ((t >>> 0).toString(16).padStart(8, '0') + ((h ^ sum) >>> 0).toString(16).padStart(8, '0'));
    },
    canonicalState() {
      return { t, sum };
    },
  };
}

/**
 * An environment adapter with AI seats, as env_pyodide.js's glue runs them: each seat's next
 * action is chosen right after reset and after every step from the state reached
 * (`policy(canonicalState, seat, step)`), kept in the snapshot, applied by the next step (the
 * placeholder the session passes for the seat is ignored) and reported as `aiActions`.
 */
export function withAiSeats(env, seats, policy) {
  let next = [];
  let step = 0;
  const decide = () => { next = seats.map((p) => policy(env.canonicalState(), p, step)); };
  return {
    numPlayers: env.numPlayers,
    reportsRewards: env.reportsRewards,
    aiSeats: seats.slice(),
    policyCalls: 0,
    reset(seed) {
      env.reset(seed);
      step = 0;
      decide();
    },
    step(actions) {
      const a = actions.slice();
      const used = seats.map((p, i) => [p, next[i]]);
      for (const [p, v] of used) a[p] = v;
      const r = env.step(a);
      step += 1;
      this.policyCalls += seats.length;
      if (!r.done) decide();
      return { ...r, aiActions: used };
    },
    save() { return { env: env.save(), next: next.slice(), step }; },
    load(s) {
      env.load(s.env);
      next = s.next.slice();
      step = s.step;
    },
    stateHash: () => env.stateHash(),
    canonicalState: () => env.canonicalState(),
    render: () => env.render(),
  };
}
