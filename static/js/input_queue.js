// One player's inputs by game-global frame: the confirmed (received, contiguous) inputs, the
// predictions handed out for frames not confirmed yet, and the first frame where a prediction
// turned out wrong. Prediction = repeat the last confirmed input (the default action before any).
// Storage is a fixed ring of typed arrays, so a long game allocates nothing per frame.

const NONE = -1;

export class InputQueue {
  /**
   * @param {object} o
   * @param {number} o.player         player index (for error messages)
   * @param {number} [o.defaultAction=0]
   * @param {number} [o.capacity=4096] frames kept (power of two); must exceed how far inputs can
   *   run ahead of the oldest frame still needed (prediction window + input delay + relay span)
   */
  constructor({ player, defaultAction = 0, capacity = 4096 }) {
    if (!Number.isInteger(capacity) || capacity < 16 || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`InputQueue capacity must be a power of two >= 16, got ${capacity}`);
    }
    this.player = player;
    this.defaultAction = defaultAction;
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.actions = new Int32Array(capacity);
    this.predicted = new Uint8Array(capacity); // 1 = a prediction was used to simulate this frame
    this.predictedValue = new Int32Array(capacity);
    /** last frame of the contiguous run of confirmed inputs 0..lastConfirmedFrame */
    this.lastConfirmedFrame = NONE;
    /** first frame whose simulation used a wrong prediction (NONE if none since the last reset) */
    this.firstIncorrectFrame = NONE;
    /** from this frame on every input is the default action (player disconnected), or null */
    this.defaultFrom = null;
    /** predictions found wrong since creation (per frame of this player) */
    this.mispredictions = 0;
  }

  /** Highest frame whose input is known for sure (Infinity once defaultFrom covers the rest). */
  confirmedUpTo() {
    return this.defaultFrom !== null ? Infinity : this.lastConfirmedFrame;
  }

  isConfirmed(frame) {
    return frame <= this.lastConfirmedFrame || this.defaultFrom !== null;
  }

  /**
   * Add the confirmed input for `frame`. Inputs must come in frame order: frames already known
   * are ignored (redundant copies), frames past a gap are refused.
   * @returns {'added'|'mispredicted'|'duplicate'|'gap'|'ignored'} 'mispredicted' = added, and the
   *   prediction used for this frame was wrong
   */
  add(frame, action) {
    if (frame <= this.lastConfirmedFrame) return 'duplicate';
    if (frame !== this.lastConfirmedFrame + 1) return 'gap';
    if (this.defaultFrom !== null && frame >= this.defaultFrom) return 'ignored';
    const i = frame & this.mask;
    this.actions[i] = action;
    this.lastConfirmedFrame = frame;
    if (this.predicted[i]) {
      this.predicted[i] = 0;
      if (this.predictedValue[i] !== action) {
        this.markIncorrect(frame);
        return 'mispredicted';
      }
    }
    return 'added';
  }

  markIncorrect(frame) {
    this.mispredictions += 1;
    if (this.firstIncorrectFrame === NONE || frame < this.firstIncorrectFrame) this.firstIncorrectFrame = frame;
  }

  /** Confirmed input of `frame` (caller checks isConfirmed). */
  confirmed(frame) {
    if (frame <= this.lastConfirmedFrame) {
      if (frame < this.lastConfirmedFrame - this.mask) {
        throw new RangeError(`InputQueue(player ${this.player}): frame ${frame} is no longer stored`);
      }
      return this.actions[frame & this.mask];
    }
    return this.defaultAction;
  }

  /** The value a prediction for an unconfirmed frame takes right now. */
  prediction() {
    return this.lastConfirmedFrame >= 0 ? this.actions[this.lastConfirmedFrame & this.mask] : this.defaultAction;
  }

  /**
   * Input to simulate `frame` with: the confirmed one, or a prediction (remembered so a later
   * confirmation can tell whether it was right).
   */
  inputFor(frame) {
    if (this.isConfirmed(frame)) return this.confirmed(frame);
    const value = this.prediction();
    const i = frame & this.mask;
    this.predicted[i] = 1;
    this.predictedValue[i] = value;
    return value;
  }

  /** Forget predictions at and after `frame` (those frames are no longer simulated). */
  discardPredictionsFrom(frame, toFrame) {
    const end = Math.min(toFrame, frame + this.capacity - 1);
    for (let f = Math.max(frame, this.lastConfirmedFrame + 1); f <= end; f++) this.predicted[f & this.mask] = 0;
  }

  resetIncorrect() {
    this.firstIncorrectFrame = NONE;
  }

  /**
   * From `frame` on, this player's input is the default action (agreed after a disconnect).
   * Needs every earlier input; predictions already used at or after `frame` are checked.
   * @returns {number[]} frames whose simulation used a prediction other than the default
   */
  setDefaultFrom(frame, uptoSimulatedFrame) {
    if (frame !== this.lastConfirmedFrame + 1) {
      throw new RangeError(`InputQueue(player ${this.player}): default from ${frame} must follow the last confirmed input (${this.lastConfirmedFrame})`);
    }
    this.defaultFrom = frame;
    const wrong = [];
    for (let f = frame; f <= uptoSimulatedFrame; f++) {
      const i = f & this.mask;
      if (this.predicted[i]) {
        this.predicted[i] = 0;
        if (this.predictedValue[i] !== this.defaultAction) {
          this.markIncorrect(f);
          wrong.push(f);
        }
      }
    }
    return wrong;
  }
}

export const NO_FRAME = NONE;
