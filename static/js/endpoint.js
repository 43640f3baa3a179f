// One remote peer as the local session sees it: connection state (HELLO handshake, silence ->
// interrupted -> disconnected), what it acknowledged of our inputs, what we received of its
// inputs, RTT from PING/PONG, frame-advantage samples for time sync, and send timers. It decides
// WHAT to send and WHEN; the session encodes, sends and counts. It never calls up.

import { TimeSync } from './time_sync.js';

export const PeerState = Object.freeze({
  WAITING: 'waiting', // nothing received yet
  RUNNING: 'running',
  INTERRUPTED: 'interrupted',
  AWAY: 'away', // its page went away (a reload) with its seat held: waited for, not timed out by silence
  DISCONNECTED: 'disconnected', // declared gone (timeout, BYE error/timeout, or a peer's relay)
  LEFT: 'left', // said BYE(left)
  DONE: 'done', // said BYE(game over) after a finished game
});

export class Endpoint {
  /**
   * @param {object} o
   * @param {number} o.peer       the peer's player index
   * @param {object} o.settings   validated session settings
   * @param {number} o.startTime  session start (ms, injected clock)
   */
  constructor({ peer, settings, startTime }) {
    this.peer = peer;
    this.settings = settings;
    this.state = PeerState.WAITING;
    this.startTime = startTime;
    this.lastRecv = -Infinity;
    this.lastSend = -Infinity;
    // handshake
    this.helloReceived = false;
    this.helloProven = false; // the peer has our HELLO (it sent something other than HELLO)
    this.lastHelloSent = -Infinity;
    // inputs
    this.remoteAck = -1; // highest frame of OUR inputs the peer has contiguously
    this.gotInput = false; // we received at least one INPUT with the peer's own inputs
    this.remoteNewest = -1; // newest input frame of the peer we have seen
    this.lastInputSent = -Infinity;
    this.lastAckSent = -2;
    this.lastSentThrough = -1; // newest of our input frames put in an INPUT to this peer
    // ping / rtt
    this.lastPingSent = -Infinity;
    this.rtt = new Float64Array(settings.rttSamples);
    this.rttCount = 0;
    this.lastRtt = null;
    this.timeSync = new TimeSync(settings.timeSyncWindow);
    // episodes
    this.readyEpisode = -1; // highest EPISODE_READY episode received
    this.delays = new Map(); // episode -> the peer's input delay (its EPISODE_READY)
    this.probeRtts = []; // RTT samples of the pre-game probe (input_delay 'auto')
    this.startedEpisode = -1; // highest episode the peer is known to have started
    this.endsReceived = new Map(); // episode -> frame (EPISODE_END)
    this.lastEpisodeSent = -Infinity;
    // sync validation
    this.highestHashFrame = -1;
    // disconnect relays: player -> announced last frame (K) relayed by this peer
    this.announcements = new Map();
    this.lastRelaySent = -Infinity;
    // game over
    this.byeReceived = null;
    this.lastByeSent = -Infinity;
    // rejoin after a reload
    this.awayUntil = null; // AWAY: when it counts as disconnected if it has not come back
    this.catchupNonce = null; // the nonce of its latest CATCHUP_REQUEST (its current incarnation)
  }

  get active() {
    return this.state !== PeerState.DISCONNECTED && this.state !== PeerState.LEFT;
  }

  /** A valid message arrived. @returns {'resumed'|null} */
  onMessage(now, isHello) {
    this.lastRecv = now;
    if (!isHello) this.helloProven = true;
    if (this.state === PeerState.WAITING) this.state = PeerState.RUNNING;
    else if (this.state === PeerState.INTERRUPTED || this.state === PeerState.AWAY) {
      this.state = PeerState.RUNNING;
      this.awayUntil = null;
      return 'resumed';
    }
    return null;
  }

  /** Its page went away with its seat held: wait for it until `until` (no silence timeout). */
  setAway(until) {
    this.state = PeerState.AWAY;
    this.awayUntil = until;
    this.timeSync.clear();
  }

  /**
   * A new session of this peer (its page reloaded) asked to catch up: what it knew of us died
   * with the old page, except what the catch-up document gives it.
   */
  newIncarnation(nonce) {
    this.catchupNonce = nonce;
    this.helloProven = true; // it sent a non-HELLO message
    this.byeReceived = null;
    this.lastAckSent = -2; // tell it our ack again
    this.lastEpisodeSent = -Infinity;
    this.lastPingSent = -Infinity;
    this.timeSync.clear();
  }

  /** Silence checks. @returns {'interrupted'|'disconnected'|null} */
  checkSilence(now) {
    const s = this.settings;
    if (this.state === PeerState.RUNNING || this.state === PeerState.INTERRUPTED) {
      const quiet = now - this.lastRecv;
      if (quiet >= s.disconnectTimeoutMs) return 'disconnected';
      if (this.state === PeerState.RUNNING && quiet >= s.disconnectNotifyMs) {
        this.state = PeerState.INTERRUPTED;
        return 'interrupted';
      }
    } else if (this.state === PeerState.WAITING) {
      // Never heard from: no "interrupted" (it never ran); the first-contact wait from our start.
      if (now - this.startTime >= (s.handshakeTimeoutMs ?? s.disconnectTimeoutMs)) return 'disconnected';
    }
    return null;
  }

  markSent(now) {
    this.lastSend = now;
  }

  helloDue(now) {
    return !this.helloProven && now - this.lastHelloSent >= this.settings.helloIntervalMs;
  }

  pingDue(now) {
    return now - this.lastPingSent >= this.settings.pingIntervalMs;
  }

  keepaliveDue(now) {
    return now - this.lastSend >= this.settings.keepaliveMs;
  }

  onAck(ack) {
    if (ack > this.remoteAck) this.remoteAck = ack;
  }

  onRemoteInputs(lastFrame) {
    this.gotInput = true;
    if (lastFrame > this.remoteNewest) this.remoteNewest = lastFrame;
  }

  onPong(now, time) {
    const rtt = now - time;
    // A PONG echoes our own clock; anything negative or absurd is not ours (or is corrupt).
    if (!(rtt >= 0 && rtt < 600000)) return null;
    this.rtt[this.rttCount % this.rtt.length] = rtt;
    this.rttCount += 1;
    this.lastRtt = rtt;
    return rtt;
  }

  /** RTT samples kept (most recent, up to settings.rttSamples). */
  rttSamples() {
    return Array.from(this.rtt.subarray(0, Math.min(this.rttCount, this.rtt.length)));
  }

  /**
   * Whether an INPUT should go to this peer now.
   * @param {number} localThrough newest local input frame
   * @param {number} ack          our ack for this peer
   */
  inputDue(localThrough, ack) {
    if (localThrough < 0) return false;
    return localThrough > this.lastSentThrough || this.remoteAck < localThrough || ack !== this.lastAckSent;
  }

  /**
   * The INPUT for this peer: every input it has not acked, at least the last `redundancy`,
   * at most 128 (starting at its ack + 1 so its contiguous run can grow).
   * @param {import('./input_queue.js').InputQueue} localQueue
   */
  buildInput(localPlayer, localQueue, ack, redundancy) {
    const last = localQueue.lastConfirmedFrame;
    let start = Math.min(this.remoteAck + 1, last - redundancy + 1);
    // Never before the oldest frame the queue still holds (a rejoined page's queue starts at the
    // end of a long game, before the peers' acks are in).
    start = Math.max(start, last - localQueue.mask, 0);
    let end = last;
    if (end - start + 1 > 128) end = start + 127;
    const actions = new Array(end - start + 1);
    for (let f = start; f <= end; f++) actions[f - start] = localQueue.confirmed(f);
    return { type: 'input', player: localPlayer, ack, start, actions };
  }

  noteInputSent(now, msg) {
    this.lastInputSent = now;
    this.lastAckSent = msg.ack;
    const through = msg.start + msg.actions.length - 1;
    if (through > this.lastSentThrough) this.lastSentThrough = through;
  }

  /** Local frame-advantage sample (our newest input frame vs the peer's), if we have its input. */
  localAdvantage(localThrough) {
    if (!this.gotInput) return null;
    return localThrough - this.remoteNewest;
  }
}
