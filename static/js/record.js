// Compact log of confirmed frames per episode: actions in one growing Int32Array and hashes as
// two u32 words, so a 10-minute 60 fps game costs a few hundred KB instead of one object per
// frame. rows() builds the export's [frame, [actions...], "hash16" | null] rows on demand.
//
// What each confirmed frame's step reported besides `done` (the environment adapter's step
// result: rewards, per-player terminated/truncated flags, the scene's record_info values) is
// kept sparse: a reward row only for a frame where some reward is not 0, a flag row only where
// some flag is true, an info row only where some value differs from the previous confirmed
// frame's. docs/data.md says how the tables expand them.

const HEX = '0123456789abcdef';

/** Rewards of one frame as a row (null when every reward is 0; a non-finite reward is null). */
function rewardRow(rewards, n) {
  let any = false;
  const row = new Array(n);
  for (let p = 0; p < n; p++) {
    const v = rewards[p];
    let r = typeof v === 'number' ? v : (v === undefined || v === null ? 0 : Number(v));
    if (!Number.isFinite(r)) r = null;
    else if (r === 0) r = 0; // -0 is 0
    if (r !== 0) any = true;
    row[p] = r;
  }
  return any ? row : null;
}

/** Flags of one frame as a row of booleans (null when none is true). */
function flagRow(flags, n) {
  let any = false;
  const row = new Array(n);
  for (let p = 0; p < n; p++) {
    row[p] = flags[p] === true;
    if (row[p]) any = true;
  }
  return any ? row : null;
}

/**
 * The part of an adapter's step() result worth keeping until the frame is confirmed, or null.
 * Results carry `done` plus, optionally, rewards/terminated/truncated (one entry per player),
 * info ({key: [value per player]}), endedBy ('terminated' | 'truncated') and aiActions
 * ([[playerIndex, action], ...]: what the AI seats did in this step).
 */
export function stepReport(out) {
  if (out === null || typeof out !== 'object') return null;
  if (!out.rewards && !out.terminated && !out.truncated && !out.info && !out.endedBy && !out.aiActions) return null;
  return out;
}

function hexWord(w) {
  let s = '';
  for (let shift = 28; shift >= 0; shift -= 4) s += HEX[(w >>> shift) & 15];
  return s;
}

export class EpisodeLog {
  /**
   * @param {object} o
   * @param {number} o.episode
   * @param {number} o.seed
   * @param {number} o.startFrame game-global frame of the first step
   * @param {number} o.numPlayers
   */
  constructor({ episode, seed, startFrame, numPlayers, reportsRewards = false }) {
    this.episode = episode;
    this.seed = seed;
    this.startFrame = startFrame;
    this.numPlayers = numPlayers;
    this.endFrame = null;
    /** how the episode ended: 'terminated' | 'truncated' | 'max_steps' | 'mismatch', null while running */
    this.endReason = null;
    /** the environment reports rewards (a step without them means all 0); else rewards are unknown */
    this.reportsRewards = reportsRewards;
    this.rewardRows = [];
    this.terminatedRows = [];
    this.truncatedRows = [];
    this.infoRows = [];
    this.lastInfoText = null;
    this.count = 0;
    this.capacity = 256;
    this.actions = new Int32Array(this.capacity * numPlayers);
    this.hashHi = new Uint32Array(this.capacity);
    this.hashLo = new Uint32Array(this.capacity);
    this.hasHash = new Uint8Array(this.capacity);
  }

  /** Last confirmed frame in this episode, or null. */
  get lastFrame() {
    return this.count === 0 ? null : this.startFrame + this.count - 1;
  }

  grow() {
    const cap = Math.max(256, this.capacity * 2);
    const a = new Int32Array(cap * this.numPlayers);
    a.set(this.actions);
    const hi = new Uint32Array(cap);
    hi.set(this.hashHi);
    const lo = new Uint32Array(cap);
    lo.set(this.hashLo);
    const has = new Uint8Array(cap);
    has.set(this.hasHash);
    this.actions = a;
    this.hashHi = hi;
    this.hashLo = lo;
    this.hasHash = has;
    this.capacity = cap;
  }

  /**
   * Append the next confirmed frame.
   * @param {number} frame
   * @param {number[]} actions  every player's confirmed action
   * @param {string|null} hash
   * @param {object|null} [step]  what the step of this frame reported besides done
   *   ({rewards?, terminated?, truncated?, info?}, see stepReport), null when nothing
   */
  append(frame, actions, hash, step = null) {
    if (frame !== this.startFrame + this.count) {
      throw new RangeError(`EpisodeLog ${this.episode}: expected frame ${this.startFrame + this.count}, got ${frame}`);
    }
    if (this.count >= this.capacity) this.grow();
    const i = this.count;
    const n = this.numPlayers;
    for (let p = 0; p < n; p++) this.actions[i * n + p] = actions[p];
    if (hash !== null && hash !== undefined) {
      this.hashHi[i] = parseInt(hash.slice(0, 8), 16) >>> 0;
      this.hashLo[i] = parseInt(hash.slice(8, 16), 16) >>> 0;
      this.hasHash[i] = 1;
    }
    this.count += 1;
    if (step !== null) {
      const n = this.numPlayers;
      if (step.rewards) {
        const row = rewardRow(step.rewards, n);
        if (row !== null) this.rewardRows.push([frame, row]);
      }
      if (step.terminated) {
        const row = flagRow(step.terminated, n);
        if (row !== null) this.terminatedRows.push([frame, row]);
      }
      if (step.truncated) {
        const row = flagRow(step.truncated, n);
        if (row !== null) this.truncatedRows.push([frame, row]);
      }
      if (step.info) {
        // Compared as text: the values are plain JSON (the adapter made them so).
        const text = JSON.stringify(step.info);
        if (text !== this.lastInfoText) {
          this.lastInfoText = text;
          this.infoRows.push([frame, JSON.parse(text)]);
        }
      }
    }
  }

  /** The sparse per-frame step data of the record (rewards null when not reported). */
  stepRecord() {
    return {
      rewards: this.reportsRewards ? this.rewardRows.map(([f, r]) => [f, r.slice()]) : null,
      terminated: this.terminatedRows.map(([f, r]) => [f, r.slice()]),
      truncated: this.truncatedRows.map(([f, r]) => [f, r.slice()]),
      infos: this.infoRows.map(([f, v]) => [f, JSON.parse(JSON.stringify(v))]),
      end_reason: this.endReason,
    };
  }

  /** The episode is over: give back the unused capacity. */
  seal() {
    const n = this.count;
    const np = this.numPlayers;
    this.actions = this.actions.slice(0, n * np);
    this.hashHi = this.hashHi.slice(0, n);
    this.hashLo = this.hashLo.slice(0, n);
    this.hasHash = this.hasHash.slice(0, n);
    this.capacity = n;
  }

  /** Hash of an appended frame as 16 hex chars, or null. */
  hashOf(frame) {
    const i = frame - this.startFrame;
    if (i < 0 || i >= this.count || !this.hasHash[i]) return null;
    return hexWord(this.hashHi[i]) + hexWord(this.hashLo[i]);
  }

  actionsOf(frame) {
    const i = frame - this.startFrame;
    const n = this.numPlayers;
    return Array.from(this.actions.subarray(i * n, i * n + n));
  }

  rows() {
    const out = new Array(this.count);
    for (let i = 0; i < this.count; i++) {
      const f = this.startFrame + i;
      out[i] = [f, this.actionsOf(f), this.hashOf(f)];
    }
    return out;
  }

  /** Bytes held by the typed arrays (for memory measurements). */
  byteSize() {
    return this.actions.byteLength + this.hashHi.byteLength + this.hashLo.byteLength + this.hasHash.byteLength;
  }
}
