// Sync layer: the player input queues, the environment, the saved-state ring, rollback and
// re-simulation, and the hashes of confirmed frames. It is driven by the session and never calls
// up; it only talks to the environment adapter (reset/step/save/load/stateHash/canonicalState).
//
// Frame f means: the step applied with every player's input for frame f. The snapshot stored
// under f is the state AFTER that step; `base` is the state before the first frame of the
// current episode (right after reset). Frames are game-global.
//
// What a step reports besides `done` (rewards, flags, info) is kept per simulated frame beside
// its snapshot and follows the same rule: a rollback re-simulates from the first wrong frame
// and overwrites the report of every frame it re-simulates, so once a frame is confirmed
// (confirmedFrame() >= f, checked after rollback()) its report is the one of a step whose
// inputs all equal the confirmed inputs. The session takes it then (takeStepReport), never
// earlier, so no predicted step's reward reaches the record.

import { InputQueue, NO_FRAME } from './input_queue.js';
import { stepReport } from './record.js';

export { NO_FRAME };

export class SyncLayer {
  /**
   * @param {object} o
   * @param {object} o.env             environment adapter
   * @param {number} o.numPlayers
   * @param {number} [o.defaultAction=0]
   * @param {number} [o.hashInterval=1] hash frames f with f % hashInterval === 0
   * @param {number|null} [o.maxStepsPerEpisode=null]
   */
  constructor({ env, numPlayers, defaultAction = 0, hashInterval = 1, maxStepsPerEpisode = null }) {
    this.env = env;
    this.numPlayers = numPlayers;
    this.hashInterval = hashInterval;
    this.maxStepsPerEpisode = maxStepsPerEpisode;
    this.queues = [];
    for (let p = 0; p < numPlayers; p++) this.queues.push(new InputQueue({ player: p, defaultAction }));
    /** next frame to simulate */
    this.currentFrame = 0;
    this.episodeStartFrame = 0;
    /** state before episodeStartFrame */
    this.base = null;
    /** frame -> snapshot, keys always in increasing order (see rollback) */
    this.snapshots = new Map();
    /** the last simulated frame ended the episode (predicted or confirmed), else NO_FRAME */
    this.doneAt = NO_FRAME;
    /** why doneAt ended the episode: 'terminated' | 'truncated' (the env) | 'max_steps' (the cap) */
    this.doneReason = null;
    /** frame -> what its latest simulation reported beyond done (only frames with something) */
    this.stepReports = new Map();
    /** frames up to this one were considered for hashing */
    this.hashedThrough = -1;
    /** hashes of frames that were confirmed when simulated: frame -> hash */
    this.stepHashes = new Map();
    this.actionsScratch = new Array(numPlayers).fill(0);
    this.wrongFlags = new Uint8Array(4096);
    // frame & 4095 -> stamp of its latest simulation (a counter): a frame drawn with one stamp
    // and confirmed with another was re-simulated in between (input_log.js).
    this.simStamps = new Uint32Array(4096);
    this.simCounter = 0;
    this.maxSimulatedFrame = -1;
    this.stats = { framesSimulated: 0, rollbacks: 0, maxRollbackDepth: 0, rollbackDepthHistogram: new Map(), mispredictedFrames: 0, snapshotLoads: 0 };
  }

  /** Reset the environment for a new episode whose first frame is `startFrame`. */
  startEpisode(seed, startFrame) {
    this.env.reset(seed);
    this.base = this.env.save();
    this.episodeStartFrame = startFrame;
    this.currentFrame = startFrame;
    this.doneAt = NO_FRAME;
    this.doneReason = null;
    // Frames before the episode were all confirmed and hashed already.
    this.hashedThrough = Math.max(this.hashedThrough, startFrame - 1);
  }

  /** Highest frame for which every player's input is confirmed. */
  confirmedInputFrame() {
    let m = Infinity;
    for (const q of this.queues) {
      const c = q.confirmedUpTo();
      if (c < m) m = c;
    }
    return m;
  }

  /** Highest frame that is confirmed AND simulated from confirmed inputs (after any rollback). */
  confirmedFrame() {
    return Math.min(this.confirmedInputFrame(), this.currentFrame - 1);
  }

  addInput(player, frame, action) {
    const r = this.queues[player].add(frame, action);
    if (r === 'mispredicted') this.markWrong(frame);
    return r;
  }

  setDefaultFrom(player, frame) {
    for (const f of this.queues[player].setDefaultFrom(frame, this.currentFrame - 1)) this.markWrong(f);
  }

  markWrong(frame) {
    const i = frame & 4095;
    if (!this.wrongFlags[i]) {
      this.wrongFlags[i] = 1;
      this.stats.mispredictedFrames += 1;
    }
  }

  firstIncorrectFrame() {
    let m = NO_FRAME;
    for (const q of this.queues) {
      const f = q.firstIncorrectFrame;
      if (f !== NO_FRAME && f < this.currentFrame && (m === NO_FRAME || f < m)) m = f;
    }
    return m;
  }

  /** State before `frame` (the rollback target to re-simulate from `frame`). */
  stateBefore(frame) {
    if (frame === this.episodeStartFrame) return this.base;
    const s = this.snapshots.get(frame - 1);
    if (s === undefined) throw new Error(`SyncLayer: no saved state for frame ${frame - 1}`);
    return s;
  }

  /** Predicted steps are capped by the prediction window; a terminal stops the simulation. */
  canAdvance() {
    return this.doneAt === NO_FRAME;
  }

  /** Number of frames simulated past the last confirmed input frame. */
  predictionDepth() {
    return this.currentFrame - 1 - Math.min(this.confirmedInputFrame(), this.currentFrame - 1);
  }

  /**
   * Simulate `currentFrame` with confirmed inputs or predictions.
   * @returns {boolean} whether this frame ended the episode
   */
  advanceFrame() {
    const f = this.currentFrame;
    const actions = this.actionsScratch;
    let allConfirmed = true;
    for (let p = 0; p < this.numPlayers; p++) {
      const q = this.queues[p];
      if (q.isConfirmed(f)) actions[p] = q.confirmed(f);
      else {
        allConfirmed = false;
        actions[p] = q.inputFor(f);
      }
    }
    if (f > this.maxSimulatedFrame) {
      // First simulation of f: its misprediction flag slot is reused from frame f - 4096.
      this.wrongFlags[f & 4095] = 0;
      this.maxSimulatedFrame = f;
    }
    this.simCounter = (this.simCounter + 1) >>> 0;
    this.simStamps[f & 4095] = this.simCounter;
    const result = this.env.step(actions.slice());
    let done = Boolean(result && result.done);
    let reason = done ? (result.endedBy === 'truncated' ? 'truncated' : 'terminated') : null;
    if (!done && this.maxStepsPerEpisode !== null && f - this.episodeStartFrame + 1 >= this.maxStepsPerEpisode) {
      done = true;
      reason = 'max_steps';
    }
    const report = stepReport(result);
    if (report !== null) this.stepReports.set(f, report);
    else this.stepReports.delete(f);
    this.snapshots.set(f, this.env.save());
    this.currentFrame = f + 1;
    this.stats.framesSimulated += 1;
    this.doneAt = done ? f : NO_FRAME;
    this.doneReason = reason;
    // All inputs of every frame <= f are confirmed and no earlier prediction was wrong (the
    // session rolls back before it advances), so this state is the confirmed state of f:
    // hash it now instead of reloading the snapshot later.
    if (allConfirmed && f > this.hashedThrough && f % this.hashInterval === 0 && f <= this.confirmedInputFrame()) {
      this.stepHashes.set(f, this.env.stateHash());
    }
    return done;
  }

  /**
   * Roll back to the first frame simulated with a wrong prediction and re-simulate up to the
   * current frame (or to a terminal frame found on the way).
   * @returns {number} rollback depth (frames re-simulated), 0 if none was needed
   */
  rollback() {
    const first = this.firstIncorrectFrame();
    for (const q of this.queues) q.resetIncorrect();
    if (first === NO_FRAME) return 0;
    const target = this.currentFrame;
    const depth = target - first;
    this.env.load(this.stateBefore(first));
    this.stats.snapshotLoads += 1;
    for (let f = first; f < target; f++) {
      this.snapshots.delete(f);
      this.stepHashes.delete(f);
      this.stepReports.delete(f);
    }
    this.currentFrame = first;
    this.doneAt = NO_FRAME;
    this.doneReason = null;
    while (this.currentFrame < target) {
      if (this.advanceFrame()) break;
    }
    if (this.currentFrame < target) {
      // A terminal frame came earlier than before: the frames after it are not simulated.
      for (const q of this.queues) q.discardPredictionsFrom(this.currentFrame, target - 1);
    }
    const s = this.stats;
    s.rollbacks += 1;
    if (depth > s.maxRollbackDepth) s.maxRollbackDepth = depth;
    s.rollbackDepthHistogram.set(depth, (s.rollbackDepthHistogram.get(depth) || 0) + 1);
    return depth;
  }

  /**
   * Hashes of newly confirmed frames (f % hashInterval === 0) up to confirmedFrame(), in frame
   * order. Frames hashed while simulated are reused; the others are hashed from their snapshot
   * (loaded, hashed, then the current state is restored).
   * @returns {{frame:number, hash:string}[]}
   */
  collectConfirmedHashes() {
    const upto = this.confirmedFrame();
    const out = [];
    let loaded = false;
    let f = this.hashedThrough + 1;
    const rem = f % this.hashInterval;
    if (rem !== 0) f += this.hashInterval - rem;
    for (; f <= upto; f += this.hashInterval) {
      let h = this.stepHashes.get(f);
      if (h === undefined) {
        if (f === this.currentFrame - 1 && !loaded) {
          h = this.env.stateHash();
        } else {
          const s = this.snapshots.get(f);
          if (s === undefined) throw new Error(`SyncLayer: no saved state to hash frame ${f}`);
          this.env.load(s);
          this.stats.snapshotLoads += 1;
          loaded = true;
          h = this.env.stateHash();
        }
      } else {
        this.stepHashes.delete(f);
      }
      out.push({ frame: f, hash: h });
    }
    if (upto > this.hashedThrough) this.hashedThrough = upto;
    if (loaded) this.restoreCurrent();
    return out;
  }

  /** Forget simulated frames after `frame` (they were predictions): the state of `frame`
   * becomes current. */
  truncateAfter(frame) {
    const target = this.currentFrame;
    if (frame >= target - 1) return;
    this.env.load(this.snapshots.get(frame));
    this.stats.snapshotLoads += 1;
    for (let f = frame + 1; f < target; f++) {
      this.snapshots.delete(f);
      this.stepHashes.delete(f);
      this.stepReports.delete(f);
    }
    for (const q of this.queues) q.discardPredictionsFrom(frame + 1, target - 1);
    this.currentFrame = frame + 1;
    this.doneAt = NO_FRAME;
    this.doneReason = null;
  }

  restoreCurrent() {
    this.env.load(this.stateBefore(this.currentFrame));
    this.stats.snapshotLoads += 1;
  }

  /** Canonical (JSON-able) state of a simulated frame, or null if its snapshot is gone. */
  canonicalStateAt(frame) {
    const s = this.snapshots.get(frame);
    if (s === undefined) return null;
    if (frame === this.currentFrame - 1) return this.env.canonicalState();
    this.env.load(s);
    this.stats.snapshotLoads += 1;
    const state = this.env.canonicalState();
    this.restoreCurrent();
    return state;
  }

  /**
   * The step report of a confirmed frame (removed: each frame is recorded once), or null when
   * its step reported nothing beyond done. Only for f <= confirmedFrame(), after rollback().
   */
  takeStepReport(frame) {
    const r = this.stepReports.get(frame);
    if (r === undefined) return null;
    this.stepReports.delete(frame);
    return r;
  }

  /** Stamp of the latest simulation of a recent frame (changes each time it is simulated). */
  stampOf(frame) {
    return this.simStamps[frame & 4095];
  }

  /** Confirmed actions of every player for a confirmed frame (a fresh array). */
  confirmedActions(frame) {
    const out = new Array(this.numPlayers);
    for (let p = 0; p < this.numPlayers; p++) out[p] = this.queues[p].confirmed(frame);
    return out;
  }

  /**
   * Drop snapshots no longer needed: older than `keepFrom` (the caller keeps unverified frames
   * for state dumps) but never the rollback base (the last confirmed frame) or anything newer;
   * at most `maxKept` snapshots older than the rollback base stay.
   */
  prune(keepFrom, maxKept) {
    const rollbackBase = this.confirmedFrame();
    const floor = Math.max(Math.min(keepFrom, rollbackBase), rollbackBase - maxKept);
    for (const f of this.snapshots.keys()) {
      if (f >= floor) break;
      this.snapshots.delete(f);
    }
    for (const f of this.stepHashes.keys()) {
      if (f > this.hashedThrough) break;
      this.stepHashes.delete(f);
    }
  }
}
