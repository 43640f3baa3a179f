// Agreement on the frame from which a disconnected player's action becomes the default action
// (disconnectPolicy 'default_action'). Every remaining peer must use the same frame D, and every
// frame before D must use the player's real inputs, including frames some peer already confirmed.
//
// Rule (see docs/rollback.md, "Disconnects"):
// - When a peer declares player c gone it stops taking c's own inputs (its knowledge of c is
//   frozen to the contiguous run it has, plus what other peers relay), and relays c's inputs
//   to every remaining peer as INPUT{player: c, start, actions} whose last frame K is everything
//   it knows of c (its "announcement"). A relay received is itself a declaration: the receiver
//   declares c gone too, merges the inputs and relays its own knowledge.
// - Knowledge only spreads from the frozen runs, so once every remaining peer has announced
//   exactly our own K, no peer can know more than K: D = K + 1, the same on every peer.
// This module keeps that bookkeeping; the session sends and merges.

export class DisconnectAgreement {
  /**
   * @param {number} player the disconnected player
   */
  constructor(player) {
    this.player = player;
    /** peer -> highest K it announced */
    this.announcements = new Map();
    /** agreed first default frame, or null while undecided */
    this.defaultFrom = null;
    /** peer -> last time we relayed to it */
    this.lastRelay = new Map();
    /** our K at the last relay to each peer */
    this.lastRelayedK = new Map();
  }

  announce(peer, k) {
    const prev = this.announcements.get(peer);
    if (prev === undefined || k > prev) this.announcements.set(peer, k);
  }

  /**
   * Decide when every remaining peer announced exactly our knowledge `known`.
   * @param {number[]} remaining active peers other than the local one and this player
   * @returns {number|null} the agreed first default frame, when decided now or before
   */
  tryDecide(remaining, known) {
    if (this.defaultFrom !== null) return this.defaultFrom;
    for (const p of remaining) {
      if (this.announcements.get(p) !== known) return null;
    }
    this.defaultFrom = known + 1;
    return this.defaultFrom;
  }

  /** Whether to relay to `peer` now. `peerHashFrame` is the newest frame the peer hashed: a hash
   * at or after D proves it decided (it could not confirm that frame otherwise). */
  relayDue(peer, now, known, resendMs, peerHashFrame) {
    if (this.defaultFrom !== null && peerHashFrame >= this.defaultFrom) return false;
    const last = this.lastRelay.get(peer);
    if (last === undefined || this.lastRelayedK.get(peer) !== known) return true;
    return now - last >= resendMs;
  }

  noteRelay(peer, now, known) {
    this.lastRelay.set(peer, now);
    this.lastRelayedK.set(peer, known);
  }
}
