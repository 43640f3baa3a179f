// The start countdown: after the handshake every peer counts the same number of ticks down to
// frame 0 (the participant sees 3-2-1). Peers finish their handshakes up to a one-way delay
// apart (more when a HELLO is lost), so they line their countdowns up the way time sync lines
// up frames: each tick a COUNTDOWN message carries the sender's ticks left and its latest
// measure of how far ahead it is; a peer that is ahead holds its count for the difference.
//
// local sample  = (peer's ticks left as last heard) - (our ticks left)  -> off + d
// remote sample = the same measured by the peer about us                 -> -off + d
// (local - remote) / 2 = off, how many ticks we are ahead (d, the one-way delay, cancels).
// The pieces below the session never call up: the session feeds messages and ticks in and
// sends what this says.

import { TimeSync } from './time_sync.js';

export class StartCountdown {
  /**
   * @param {object} o
   * @param {number} o.frames      ticks to count down (>= 1)
   * @param {number[]} o.peers     the other players' indexes
   * @param {number} [o.windowSize] samples averaged per peer (the session's timeSyncWindow)
   */
  constructor({ frames, peers, windowSize = 30 }) {
    this.total = frames;
    this.left = frames;
    this.ticks = 0;
    this.holdBudget = 0;
    this.held = 0; // ticks held to let peers catch up (telemetry)
    this.settleUntil = 0; // no remote samples before this tick (see tick)
    this.settleTicks = 0;
    this.peers = new Map();
    for (const p of peers) this.peers.set(p, { left: null, sync: new TimeSync(windowSize), lastLocal: null });
  }

  get done() {
    return this.left === 0;
  }

  /** A COUNTDOWN from a peer: its ticks left when it sent, and its own sample (or null). */
  receive(peer, left, advantage) {
    const p = this.peers.get(peer);
    if (!p) return;
    // Unordered channel: the smallest count heard is the newest.
    if (p.left === null || left < p.left) p.left = left;
    if (advantage !== null && this.ticks >= this.settleUntil) p.sync.addRemote(advantage);
  }

  /**
   * One tick. `active` lists the peers still in the game.
   * @returns {boolean} true when this tick counted the last tick down (frame 0 comes next)
   */
  tick(active) {
    if (this.left === 0) return false;
    this.ticks += 1;
    if (this.holdBudget > 0) {
      this.holdBudget -= 1;
      this.held += 1;
      if (this.holdBudget === 0) {
        // Samples the peer took while we held (and those still in flight) describe the old
        // offset: start over, and take its samples again only once they can see the change.
        for (const p of this.peers.values()) p.sync.clear();
        this.settleUntil = this.ticks + this.settleTicks;
      }
      return false;
    }
    for (const peer of active) {
      const p = this.peers.get(peer);
      if (!p || p.left === null) continue;
      p.lastLocal = p.left - this.left;
      p.sync.addLocal(p.lastLocal);
    }
    let wait = 0;
    let delay = 0;
    for (const peer of active) {
      const p = this.peers.get(peer);
      if (!p) continue;
      const w = p.sync.recommendWait(this.total);
      if (w > wait) {
        wait = w;
        // local + remote = twice the one-way delay in ticks.
        const l = p.sync.localSum / Math.min(p.sync.localCount, p.sync.windowSize);
        const r = p.sync.remoteSum / Math.min(p.sync.remoteCount, p.sync.windowSize);
        delay = Math.max(0, (l + r) / 2);
      }
    }
    if (wait > 0) {
      this.holdBudget = wait - 1;
      this.held += 1;
      this.settleTicks = Math.ceil(2 * delay) + 2;
      if (this.holdBudget === 0) {
        for (const p of this.peers.values()) p.sync.clear();
        this.settleUntil = this.ticks + this.settleTicks;
      }
      return false;
    }
    this.left -= 1;
    return this.left === 0;
  }

  /** Our latest sample for `peer` (sent in COUNTDOWN), or null before we heard from it. */
  advantageFor(peer) {
    return this.peers.get(peer)?.lastLocal ?? null;
  }
}
