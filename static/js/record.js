// Compact log of confirmed frames per episode: actions in one growing Int32Array and hashes as
// two u32 words, so a 10-minute 60 fps game costs a few hundred KB instead of one object per
// frame. rows() builds the export's [frame, [actions...], "hash16" | null] rows on demand.

const HEX = '0123456789abcdef';

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
  constructor({ episode, seed, startFrame, numPlayers }) {
    this.episode = episode;
    this.seed = seed;
    this.startFrame = startFrame;
    this.numPlayers = numPlayers;
    this.endFrame = null;
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

  /** Append the next confirmed frame. */
  append(frame, actions, hash) {
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
