// Sync validation bookkeeping: our hashes of confirmed frames, the peers' hashes (buffered when
// they arrive before we confirmed the frame), comparison, the verified frame per peer, and the
// resend rule for hashes lost on the unreliable channel. It compares only what it is given: the
// session feeds it hashes of confirmed frames, never of predicted states.
//
// Lost STATE_HASH recovery (no ack exists for hashes): a peer that still lacks our hash of frame f
// a while after it hashed f sends its own hash of f again (a "request"). Receiving a hash we
// already hold, well after the first copy (so not a network duplicate), means the sender lacks
// ours: we answer with our hash of f, rate-limited and capped per frame so two peers can never
// bounce copies forever.

export const MAX_ANSWERS_PER_FRAME = 20;

export class DesyncDetector {
  /**
   * @param {object} o
   * @param {number[]} o.peers          remote player indices
   * @param {number} o.hashInterval
   * @param {number} o.pendingHashLimit peer hashes buffered per peer ahead of our confirmation
   * @param {number} o.hashResendMs
   */
  constructor({ peers, hashInterval, pendingHashLimit, hashResendMs }) {
    this.peers = peers.slice();
    this.hashInterval = hashInterval;
    this.pendingHashLimit = pendingHashLimit;
    this.hashResendMs = hashResendMs;
    // Our hashes, in increasing frame order: a list (binary-searchable) plus a lookup map.
    this.localList = [];
    this.localHead = 0;
    this.local = new Map(); // frame -> {frame, hash, episode, time, lastRequest: Map(peer -> ms)}
    this.localThrough = -1;
    this.remote = new Map(); // peer -> Map(frame -> {hash, firstRecv, answers, lastAnswer, result})
    this.pending = new Map(); // peer -> number of buffered (not yet compared) hashes
    this.verifiedThrough = new Map();
    this.comparedThrough = new Map();
    this.mismatchSeen = new Map();
    this.highest = new Map();
    this.active = new Set(peers);
    this.firstMismatchFrame = null;
    this.stats = { compared: 0, mismatches: 0, hashesDropped: 0, requestsSent: 0, answersSent: 0, duplicates: 0, stale: 0 };
    for (const p of peers) {
      this.remote.set(p, new Map());
      this.pending.set(p, 0);
      this.verifiedThrough.set(p, -1);
      this.comparedThrough.set(p, -1);
      this.mismatchSeen.set(p, false);
      this.highest.set(p, -1);
    }
  }

  /** A peer left or was declared disconnected: it no longer counts for verification. */
  deactivate(peer) {
    this.active.delete(peer);
  }

  /**
   * Our hash of a confirmed frame (frames come in increasing order).
   * @returns {{frame, episode, local_hash, peer_hash, peer_index}[]} mismatches found
   */
  addLocal(frame, hash, episode, now) {
    const entry = { frame, hash, episode, time: now, lastRequest: new Map() };
    this.local.set(frame, entry);
    this.localList.push(entry);
    this.localThrough = frame;
    const out = [];
    // Only peers still in the game: a peer declared gone may have played on in another world
    // (a partition), and its buffered hashes say nothing about ours.
    for (const p of this.active) {
      const e = this.remote.get(p).get(frame);
      if (e !== undefined && e.result === null) {
        this.pending.set(p, this.pending.get(p) - 1);
        this.compare(p, frame, e, out);
      }
    }
    return out;
  }

  /**
   * A peer's STATE_HASH.
   * @returns {{mismatches: object[], answer: boolean}} answer: send our hash of `frame` back
   */
  addRemote(peer, frame, hash, now) {
    const m = this.remote.get(peer);
    const none = { mismatches: [], answer: false };
    if (m === undefined) return none;
    if (frame > this.highest.get(peer)) this.highest.set(peer, frame);
    const known = m.get(frame);
    if (known !== undefined) {
      this.stats.duplicates += 1;
      const guard = this.hashResendMs / 2;
      if (this.local.has(frame) && known.hash === hash && now - known.firstRecv >= guard
        && now - known.lastAnswer >= guard && known.answers < MAX_ANSWERS_PER_FRAME) {
        known.answers += 1;
        known.lastAnswer = now;
        this.stats.answersSent += 1;
        return { mismatches: [], answer: true };
      }
      return none;
    }
    const e = { hash, firstRecv: now, answers: 0, lastAnswer: -Infinity, result: null };
    if (this.local.has(frame)) {
      m.set(frame, e);
      const out = [];
      this.compare(peer, frame, e, out);
      return { mismatches: out, answer: false };
    }
    if (frame <= this.localThrough) {
      // Older than what we keep, or not a frame we hash: nothing to compare it with.
      this.stats.stale += 1;
      return none;
    }
    if (this.pending.get(peer) >= this.pendingHashLimit) {
      // Bounded buffer: drop it; after we hash this frame we request it again.
      this.stats.hashesDropped += 1;
      return none;
    }
    m.set(frame, e);
    this.pending.set(peer, this.pending.get(peer) + 1);
    return none;
  }

  compare(peer, frame, e, out) {
    const mine = this.local.get(frame);
    this.stats.compared += 1;
    e.result = mine.hash === e.hash;
    if (!e.result) {
      this.stats.mismatches += 1;
      this.mismatchSeen.set(peer, true);
      if (this.firstMismatchFrame === null || frame < this.firstMismatchFrame) this.firstMismatchFrame = frame;
      out.push({ frame, episode: mine.episode, local_hash: mine.hash, peer_hash: e.hash, peer_index: peer });
    }
    this.advanceVerified(peer);
  }

  advanceVerified(peer) {
    const m = this.remote.get(peer);
    let v = this.verifiedThrough.get(peer);
    for (;;) {
      const next = v < 0 ? 0 : v + this.hashInterval;
      const e = m.get(next);
      if (e === undefined || e.result !== true) break;
      v = next;
    }
    this.verifiedThrough.set(peer, v);
    // Compared (matching or not) without a gap: tells when a peer's hashes are all in.
    let c = Math.max(this.comparedThrough.get(peer), v);
    for (;;) {
      const next = c < 0 ? 0 : c + this.hashInterval;
      const e = m.get(next);
      if (e === undefined || e.result === null) break;
      c = next;
    }
    this.comparedThrough.set(peer, c);
  }

  /** Highest frame verified with every active peer (game-global), or -1 for none. Never passes
   * a frame that mismatched with any peer. */
  verifiedFrame() {
    let v = this.localThrough;
    for (const p of this.active) {
      const pv = this.verifiedThrough.get(p);
      if (pv < v) v = pv;
    }
    if (this.firstMismatchFrame !== null && v >= this.firstMismatchFrame) v = this.firstMismatchFrame - 1;
    return v < 0 ? -1 : v;
  }

  /** Index in localList of the first entry with frame > f. */
  localIndexAfter(f) {
    let lo = this.localHead;
    let hi = this.localList.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.localList[mid].frame <= f) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Our hashes whose peer hash is still missing a while after we hashed them, to resend as
   * requests (at most `limit` per peer per call). The interval is max(hashResendMs, 2 RTT)
   * unless `intervalMs` overrides it (the session does, after the game, when only the last
   * missing hashes are left and bandwidth no longer matters).
   * @returns {{peer:number, frame:number, hash:string}[]}
   */
  requestsDue(now, rttMs, limit = 4, intervalMs = null) {
    const out = [];
    const interval = intervalMs !== null ? intervalMs : Math.max(this.hashResendMs, 2 * (rttMs || 0));
    for (const p of this.active) {
      const m = this.remote.get(p);
      let n = 0;
      for (let i = this.localIndexAfter(this.comparedThrough.get(p)); i < this.localList.length; i++) {
        const mine = this.localList[i];
        if (now - mine.time < interval) break; // later frames are younger still
        if (m.has(mine.frame)) continue;
        const last = mine.lastRequest.get(p);
        if (last !== undefined && now - last < interval) continue;
        mine.lastRequest.set(p, now);
        out.push({ peer: p, frame: mine.frame, hash: mine.hash });
        this.stats.requestsSent += 1;
        if (++n >= limit) break;
      }
    }
    return out;
  }

  /** Forget what is no longer needed: keep the last `keep` local hashes (to answer requests) and
   * every entry verification still needs. */
  prune(keep) {
    const cut = this.localThrough - keep * this.hashInterval;
    let floor = cut;
    for (const p of this.active) {
      const need = this.mismatchSeen.get(p) ? this.comparedThrough.get(p) : this.verifiedThrough.get(p);
      if (need < floor) floor = need;
    }
    while (this.localHead < this.localList.length && this.localList[this.localHead].frame <= floor) {
      this.local.delete(this.localList[this.localHead].frame);
      this.localHead += 1;
    }
    if (this.localHead > 1024 && this.localHead * 2 > this.localList.length) {
      this.localList = this.localList.slice(this.localHead);
      this.localHead = 0;
    }
    for (const p of this.peers) {
      const m = this.remote.get(p);
      let pv = cut;
      if (this.active.has(p)) pv = Math.min(this.mismatchSeen.get(p) ? this.comparedThrough.get(p) : this.verifiedThrough.get(p), cut);
      for (const [f, e] of m) {
        if (f > pv || e.result === null) continue;
        m.delete(f);
      }
    }
  }
}
