// Time sync with one peer: a window of frame-advantage samples from both sides. A peer that runs
// ahead of the other waits frames so the two meet in the middle instead of one running away and
// stalling at the prediction window.
//
// local advantage  = (our newest input frame) - (newest input frame received from the peer)
// remote advantage = the same measured by the peer about us (sent in PING)
// Both include the one-way delay in the same direction, so (local - remote) / 2 cancels it
// (up to half the asymmetry of the two paths) and leaves how far we are ahead.

export class TimeSync {
  /**
   * @param {number} [windowSize=30] samples averaged per side
   * @param {number} [minRemote=3] remote samples needed before a recommendation
   */
  constructor(windowSize = 30, minRemote = 3) {
    this.windowSize = windowSize;
    this.minLocal = Math.max(2, windowSize >> 1);
    this.minRemote = minRemote;
    this.local = new Float64Array(windowSize);
    this.remote = new Float64Array(windowSize);
    this.clear();
  }

  clear() {
    this.localCount = 0;
    this.remoteCount = 0;
    this.localSum = 0;
    this.remoteSum = 0;
  }

  static push(ring, count, value) {
    const i = count % ring.length;
    const old = count >= ring.length ? ring[i] : 0;
    ring[i] = value;
    return value - old;
  }

  /** One local sample per session tick. */
  addLocal(advantage) {
    this.localSum += TimeSync.push(this.local, this.localCount, advantage);
    this.localCount += 1;
  }

  /** One remote sample per PING received from the peer. */
  addRemote(advantage) {
    this.remoteSum += TimeSync.push(this.remote, this.remoteCount, advantage);
    this.remoteCount += 1;
  }

  /** Estimated frames we are ahead of the peer (negative: behind), or null without enough data. */
  frameAdvantage() {
    if (this.localCount < this.minLocal || this.remoteCount < this.minRemote) return null;
    const l = this.localSum / Math.min(this.localCount, this.windowSize);
    const r = this.remoteSum / Math.min(this.remoteCount, this.windowSize);
    return (l - r) / 2;
  }

  /** Whole frames to wait (0 if not ahead by at least one frame). */
  recommendWait(maxWait) {
    const a = this.frameAdvantage();
    if (a === null || a < 1) return 0;
    return Math.min(Math.floor(a), maxWait);
  }
}
