// The local player's hidden intervals: when the page went to the background and came back
// (monotonic time for durations, wall time for the record) and which of the player's own input
// frames were taken while hidden. Those frames carry the hidden action, not the participant's,
// so each export says exactly which of its player's actions were not chosen by a person.
// No DOM here: the page tells the session (session.setHidden), the session tells this log.

import { isoTime, round3 } from './stats.js';

export class HiddenLog {
  /** @param {{limit?: number}} [o] intervals kept (a page flipping more often is counted, not kept) */
  constructor({ limit = 1000 } = {}) {
    this.limit = limit;
    this.intervals = [];
    this.current = null;
    this.dropped = 0;
  }

  get hidden() {
    return this.current !== null;
  }

  /**
   * The page became hidden (true) or visible (false) at monotonic `now`, wall time `wall`.
   * @returns {object|null} the interval opened or closed, or null when nothing changed
   */
  set(hidden, now, wall) {
    if (hidden === this.hidden) return null;
    if (hidden) {
      this.current = { first_frame: null, last_frame: null, startMs: now, startWall: wall, endMs: null, endWall: null, excluded: false };
      if (this.intervals.length < this.limit) this.intervals.push(this.current);
      else this.dropped += 1;
      return this.current;
    }
    const closed = this.current;
    closed.endMs = now;
    closed.endWall = wall;
    this.current = null;
    return closed;
  }

  /** A local input for `frame` was taken: while hidden, it is one of the interval's frames. */
  noteInput(frame) {
    const c = this.current;
    if (c === null) return;
    if (c.first_frame === null) c.first_frame = frame;
    c.last_frame = frame;
  }

  /** How long the page has been hidden without a break (0 when visible). */
  hiddenMs(now) {
    return this.current === null ? 0 : Math.max(0, now - this.current.startMs);
  }

  /** The current interval led to the player's exclusion. */
  markExcluded() {
    if (this.current !== null) this.current.excluded = true;
  }

  /** Seconds hidden in all kept intervals (the open one up to `now`). */
  totalS(now) {
    let ms = 0;
    for (const iv of this.intervals) ms += (iv.endMs ?? now) - iv.startMs;
    return round3(ms / 1000);
  }

  /** The record's `hidden_intervals` (an open interval has `ended_at: null`, its duration so far). */
  records(now) {
    return this.intervals.map((iv) => ({
      first_frame: iv.first_frame,
      last_frame: iv.last_frame,
      started_at: isoTime(iv.startWall),
      ended_at: iv.endWall === null ? null : isoTime(iv.endWall),
      duration_s: round3(Math.max(0, (iv.endMs ?? now) - iv.startMs) / 1000),
      excluded: iv.excluded,
    }));
  }
}
