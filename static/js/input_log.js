// The local player's key events with their timing, for research data: when each key went down
// or up (wall clock and a precise monotonic offset from the game's start), which frame's local
// input took it, which frame was on screen then, whether that frame was a prediction (simulated
// with some input not yet confirmed) and whether a rollback later re-simulated it (some input at
// or before it had been predicted wrong), and when the assigned frame was first drawn.
//
// No DOM here: the page tells the session (noteKey with the event's own time, noteDisplayed
// after each draw); the session tells this log when it takes a local input for a frame
// (assign) and when frames become confirmed (confirmThrough, with the sync layer's simulation
// stamps, which change whenever a frame is simulated again).

import { round3 } from './stats.js';

const STAMP_SLOTS = 4096;
const DISPLAY_HISTORY = 64;

export class InputLog {
  /** @param {{limit?: number}} [o] events kept (more are counted in `dropped`, not kept) */
  constructor({ limit = 100000 } = {}) {
    this.limit = limit;
    this.events = [];
    this.dropped = 0;
    this.pendingAssign = []; // noted, no local input taken since
    this.pendingCorrection = []; // screen frame predicted and not confirmed yet
    this.pendingShown = []; // assigned, frame not drawn yet
    // Recent draws, oldest first: {frame, t, predicted, stamp}
    this.displays = [];
    this.originMs = null; // monotonic time of the game's start (t_ms = 0)
  }

  /** The game started at monotonic `now` (t_ms counts from here). */
  start(now) {
    if (this.originMs === null) this.originMs = now;
  }

  /**
   * A key went down or up. `t` (monotonic ms, the page's performance.now time base, e.g. the
   * event's timeStamp) and `epochMs` (wall clock) are when it happened, which may be a little
   * before this call.
   */
  key(key, down, t, epochMs) {
    if (this.events.length >= this.limit) {
      this.dropped += 1;
      return null;
    }
    const shown = this.screenAt(t);
    const ev = {
      key: String(key),
      down: Boolean(down),
      epochMs: Math.round(epochMs),
      t,
      frame: null,
      screenFrame: shown === null ? null : shown.frame,
      predicted: shown === null ? null : shown.predicted,
      corrected: shown === null ? null : (shown.predicted ? null : false),
      stamp: shown === null ? 0 : shown.stamp,
      shownMs: null,
    };
    this.events.push(ev);
    this.pendingAssign.push(ev);
    if (ev.corrected === null && shown !== null) this.pendingCorrection.push(ev);
    return ev;
  }

  /** The draw that was on screen at monotonic time t (the last one at or before t), or null. */
  screenAt(t) {
    const d = this.displays;
    for (let i = d.length - 1; i >= 0; i--) if (d[i].t <= t) return d[i];
    return null;
  }

  /** The session took the local input for `frame`: every key noted since goes with it. */
  assign(frame) {
    if (this.pendingAssign.length === 0) return;
    for (const ev of this.pendingAssign) {
      ev.frame = frame;
      this.pendingShown.push(ev);
    }
    this.pendingAssign.length = 0;
  }

  /**
   * Frame `frame` was drawn at monotonic `t`; `predicted`: it was simulated with some input not
   * confirmed yet; `stamp`: its simulation stamp (sync layer) at that moment.
   */
  displayed(frame, t, predicted, stamp) {
    const d = this.displays;
    d.push({ frame, t, predicted, stamp });
    if (d.length > DISPLAY_HISTORY) d.shift();
    if (this.pendingShown.length > 0) {
      const still = [];
      for (const ev of this.pendingShown) {
        if (frame >= ev.frame) ev.shownMs = t;
        else still.push(ev);
      }
      this.pendingShown = still;
    }
  }

  /**
   * Frames up to `confirmed` are confirmed; `stampOf(f)` is the simulation stamp of frame f now.
   * A predicted screen frame whose stamp changed since it was drawn was re-simulated: corrected.
   */
  confirmThrough(confirmed, stampOf) {
    if (this.pendingCorrection.length === 0) return;
    const still = [];
    for (const ev of this.pendingCorrection) {
      if (ev.screenFrame <= confirmed) ev.corrected = stampOf(ev.screenFrame) !== ev.stamp;
      else still.push(ev);
    }
    this.pendingCorrection = still;
  }

  /**
   * The record's `inputs`: [key, down, epoch_ms, t_ms, frame, screen_frame, predicted,
   * corrected, shown_ms] per event, times in ms from the game's start (3 decimals). Fields not
   * known (yet) are null: a key noted before the first draw has no screen frame; a predicted
   * screen frame never confirmed (the game ended first) is neither corrected nor not.
   */
  rows() {
    const o = this.originMs ?? 0;
    return this.events.map((ev) => [
      ev.key, ev.down, ev.epochMs, round3(ev.t - o), ev.frame, ev.screenFrame, ev.predicted, ev.corrected,
      ev.shownMs === null ? null : round3(ev.shownMs - o),
    ]);
  }
}

export { STAMP_SLOTS };
