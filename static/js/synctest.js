// SyncTest session: the standard determinism check for an environment, in one process and
// without a network. Every frame is simulated once, then the session rolls back `checkDistance`
// frames and re-simulates them with the same inputs; each re-simulated state must hash exactly
// as it did the first time. An environment that reads anything outside its state (time,
// unseeded randomness, iteration order of something not saved) fails here, at the exact frame.

import { makeSettings } from './settings.js';
import { episodeSeed } from './session.js';

export class SyncTestSession {
  /**
   * @param {object} o
   * @param {object} o.env               environment adapter
   * @param {number} o.numPlayers
   * @param {number} [o.checkDistance=2] frames re-simulated after every frame (>= 1)
   * @param {number} [o.sharedSeed=0]
   * @param {object} [o.settings]        only maxStepsPerEpisode/maxEpisodes/defaultAction are used
   */
  constructor({ env, numPlayers, checkDistance = 2, sharedSeed = 0, settings = {} }) {
    for (const m of ['reset', 'step', 'save', 'load', 'stateHash', 'canonicalState']) {
      if (!env || typeof env[m] !== 'function') throw new TypeError(`SyncTestSession: env.${m}() is missing`);
    }
    if (!Number.isInteger(checkDistance) || checkDistance < 1 || checkDistance > 1024) {
      throw new RangeError(`SyncTestSession: checkDistance must be an integer in [1, 1024], got ${checkDistance}`);
    }
    if (!Number.isInteger(numPlayers) || numPlayers < 1) throw new RangeError(`SyncTestSession: numPlayers must be a positive integer, got ${numPlayers}`);
    this.env = env;
    this.numPlayers = numPlayers;
    this.checkDistance = checkDistance;
    this.sharedSeed = sharedSeed >>> 0;
    this.settings = makeSettings(settings);
    this.episode = 0;
    this.frame = 0; // next game-global frame
    this.episodeStart = 0;
    this.stepsInEpisode = 0;
    this.history = []; // last checkDistance frames: {frame, actions, hash, before}
    this.firstMismatch = null;
    this.mismatches = 0;
    this.framesChecked = 0;
    this.gameOver = false;
    this.startEpisode();
  }

  startEpisode() {
    this.env.reset(episodeSeed(this.sharedSeed, this.episode));
    this.episodeStart = this.frame;
    this.stepsInEpisode = 0;
    this.history = [];
  }

  /**
   * Simulate one frame with every player's action, then re-check the last checkDistance frames.
   * @param {number[]} actions
   * @returns {{frame:number, done:boolean, mismatch:object|null}}
   */
  advance(actions) {
    if (this.gameOver) throw new Error('SyncTestSession: the game is over');
    if (!Array.isArray(actions) || actions.length !== this.numPlayers) {
      throw new RangeError(`SyncTestSession.advance: expected ${this.numPlayers} actions`);
    }
    const frame = this.frame;
    const before = this.env.save();
    const r = this.env.step(actions.slice());
    this.stepsInEpisode += 1;
    const max = this.settings.maxStepsPerEpisode;
    const done = Boolean(r && r.done) || (max !== null && this.stepsInEpisode >= max);
    const hash = this.env.stateHash();
    this.history.push({ frame, actions: actions.slice(), hash, before, after: this.env.save() });
    if (this.history.length > this.checkDistance) this.history.shift();
    const mismatch = this.check();
    this.frame += 1;
    if (done) {
      this.episode += 1;
      if (this.settings.maxEpisodes !== null && this.episode >= this.settings.maxEpisodes) this.gameOver = true;
      else this.startEpisode();
    }
    return { frame, done, mismatch };
  }

  /** Roll back over the history and re-simulate; the first frame whose hash differs is reported. */
  check() {
    const h = this.history;
    this.env.load(h[0].before);
    let found = null;
    for (const entry of h) {
      this.env.step(entry.actions.slice());
      const again = this.env.stateHash();
      this.framesChecked += 1;
      if (again !== entry.hash && found === null) {
        found = {
          frame: entry.frame,
          episode: this.episode,
          first_hash: entry.hash,
          resimulated_hash: again,
          resimulated_state: this.env.canonicalState(),
          first_state: null,
        };
      }
    }
    if (found !== null) {
      const e = h.find((x) => x.frame === found.frame);
      this.env.load(e.after);
      found.first_state = this.env.canonicalState();
      this.mismatches += 1;
      if (this.firstMismatch === null) this.firstMismatch = found;
    }
    // Continue from the state of the first simulation, so one bad frame is reported once.
    this.env.load(h[h.length - 1].after);
    return found;
  }

  /**
   * Run `frames` frames with actions from `inputs(frame) -> number[]`; stops at game over.
   * @returns {{frames:number, episodes:number, firstMismatch:object|null, mismatches:number}}
   */
  run(frames, inputs) {
    let n = 0;
    while (n < frames && !this.gameOver) {
      this.advance(inputs(this.frame));
      n += 1;
    }
    return { frames: n, episodes: this.episode, framesChecked: this.framesChecked, firstMismatch: this.firstMismatch, mismatches: this.mismatches };
  }
}
