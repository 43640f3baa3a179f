// P2P rollback session: the public face of the engine. Symmetric (every peer runs this same code,
// no host). It owns the loop: each tick() it polls timers, rolls back and re-simulates when a
// prediction was wrong, hashes newly confirmed frames, advances one frame when allowed, and sends
// what the endpoints say is due. Below it: SyncLayer (queues, states, env), Endpoint (one per
// peer), DesyncDetector (hash comparison), DisconnectAgreement, StartCountdown (the lined-up
// 3-2-1 before frame 0), HiddenLog (the local page's hidden intervals) and the catch-up
// transfer (catchup.js: a reloaded page's session rejoins from a peer's catch-up document and
// re-simulates the game before it plays live). None of them call up.
// Whoever calls tick() drives the game clock (in the browser: a Dedicated Worker's timer, which
// a hidden tab does not throttle).
//
// The environment adapter and the transport are injected; so is the clock (`now()`, ms), which
// lets the node network simulator run whole games on a virtual clock. Wire behaviour (what is
// sent when) is specified in docs/rollback.md so the Python peer can match it.

import { encode, decode, PROTOCOL_VERSION, ByeReason, MAX_INPUT_DELAY, encodeCatchupDoc, decodeCatchupDoc } from './protocol.js';
import { CatchupSender, CatchupReceiver, randomNonce } from './catchup.js';
import { makeSettings } from './settings.js';
import { SyncLayer, NO_FRAME } from './sync.js';
import { Endpoint, PeerState } from './endpoint.js';
import { DesyncDetector } from './desync.js';
import { DisconnectAgreement } from './disconnect.js';
import { EpisodeLog } from './record.js';
import { InputLog } from './input_log.js';
import { StartCountdown } from './countdown.js';
import { HiddenLog } from './hidden.js';
import { percentile, histogramObject, round3, isoTime } from './stats.js';
import { autoInputDelay, medianRtt, RTT_PROBE_SAMPLES, RTT_PROBE_INTERVAL_MS, RTT_PROBE_TIMEOUT_MS } from './input_delay.js';

/** Per-episode environment seed (pinned contract, same in Python). */
export function episodeSeed(sharedSeed, episode) {
  return (sharedSeed ^ Math.imul(episode + 1, 0x9e3779b1)) >>> 0;
}

export const SessionState = Object.freeze({
  CREATED: 'created', // constructed, start() not called
  HANDSHAKE: 'handshake', // HELLO sent, waiting for every peer's HELLO (without a countdown: then our delay and every EPISODE_READY(0))
  COUNTDOWN: 'countdown', // every HELLO in; counting down to frame 0 (settings.countdownFrames) while the delays are agreed
  CATCHUP: 'catchup', // rejoining after a reload: fetching the catch-up document (then re-simulating in RUNNING/TRANSITION)
  RUNNING: 'running', // in an episode
  TRANSITION: 'transition', // episode ended: the reset freeze, then waiting for EPISODE_READY from everyone
  FINISHED: 'finished', // game over; lingering so peers get our last inputs and hashes
  CLOSED: 'closed',
});

/** Extra BYE(game over) copies sent when closing after the BYE exchange. */
export const FINAL_BYE_COPIES = 2;

const MESSAGE_TYPES = ['input', 'ping', 'pong', 'keepalive', 'episode_end', 'episode_ready', 'state_hash', 'hello', 'bye', 'countdown',
  'catchup_request', 'catchup_offer', 'catchup_ack', 'catchup_chunk'];
// Messages a rejoining session handles before it has the game (the others describe a game it
// has not rebuilt yet: counted as ignored; the peers send them again).
const CATCHUP_MESSAGES = new Set(['hello', 'ping', 'pong', 'keepalive', 'bye', 'catchup_offer', 'catchup_chunk']);
/** Catch-up documents a source keeps this long for a rejoiner that does not take them (ms). */
const CATCHUP_KEEP_MS = 60000;
const EXCLUDED_BYES = new Set([ByeReason.EXCLUDED_END, ByeReason.EXCLUDED_DEFAULT_ACTION]);
const PRUNE_EVERY_TICKS = 32;

function checkOptions(o) {
  const env = o.env;
  for (const m of ['reset', 'step', 'save', 'load', 'stateHash', 'canonicalState']) {
    if (!env || typeof env[m] !== 'function') throw new TypeError(`P2PSession: env.${m}() is missing (environment adapter contract)`);
  }
  if (!o.transport || typeof o.transport.send !== 'function') throw new TypeError('P2PSession: transport.send(peerIndex, bytes) is missing');
  if (!Number.isInteger(o.numPlayers) || o.numPlayers < 2 || o.numPlayers > 255) {
    throw new RangeError(`P2PSession: numPlayers must be an integer in [2, 255], got ${o.numPlayers}`);
  }
  if (env.numPlayers !== undefined && env.numPlayers !== o.numPlayers) {
    throw new RangeError(`P2PSession: env.numPlayers (${env.numPlayers}) differs from numPlayers (${o.numPlayers})`);
  }
  if (!Number.isInteger(o.localPlayer) || o.localPlayer < 0 || o.localPlayer >= o.numPlayers) {
    throw new RangeError(`P2PSession: localPlayer must be an integer in [0, ${o.numPlayers - 1}], got ${o.localPlayer}`);
  }
  const ai = o.aiSeats ?? [];
  if (!Array.isArray(ai) || new Set(ai).size !== ai.length
      || !ai.every((p) => Number.isInteger(p) && p >= 0 && p < o.numPlayers && p !== o.localPlayer)) {
    throw new RangeError(`P2PSession: aiSeats must be distinct player indices other than localPlayer, got ${JSON.stringify(o.aiSeats)}`);
  }
  const hosted = o.hostedSeats ?? [];
  const seats = Array.isArray(hosted) ? hosted.map((h) => h?.seat) : [];
  const isSeat = (p) => Number.isInteger(p) && p >= 0 && p < o.numPlayers && !ai.includes(p);
  if (!Array.isArray(hosted) || new Set(seats).size !== seats.length
      || !hosted.every((h) => isSeat(h?.seat) && h.seat !== o.localPlayer && isSeat(h.host) && h.host !== h.seat && !seats.includes(h.host))) {
    throw new RangeError(`P2PSession: hostedSeats must be [{seat, host}] with distinct seats other than localPlayer and AI seats, each hosted by a player's seat, got ${JSON.stringify(o.hostedSeats)}`);
  }
  if (!Number.isInteger(o.sharedSeed) || o.sharedSeed < 0 || o.sharedSeed > 0xffffffff) {
    throw new RangeError(`P2PSession: sharedSeed must be a u32, got ${o.sharedSeed}`);
  }
  if (o.now !== undefined && typeof o.now !== 'function') throw new TypeError('P2PSession: now must be a function returning ms');
  if (o.rejoin !== undefined && typeof o.rejoin !== 'boolean') throw new TypeError('P2PSession: rejoin must be a boolean');
  if (o.nonce !== undefined && (!Number.isInteger(o.nonce) || o.nonce < 0 || o.nonce > 0xffffffff)) {
    throw new RangeError(`P2PSession: nonce must be a u32, got ${o.nonce}`);
  }
}

export class P2PSession {
  /**
   * @param {object} o
   * @param {object} o.env            environment adapter (brief: reset/step/save/load/stateHash/canonicalState)
   * @param {{send(peer:number, bytes:Uint8Array):void}} o.transport
   * @param {number} o.localPlayer    our player index
   * @param {number} o.numPlayers     2..255
   * @param {number} o.sharedSeed     u32 drawn by the server, same for every peer
   * @param {object} [o.settings]     overrides of settings.js defaults
   * @param {() => number} [o.now]    monotonic clock in ms (default performance.now / Date.now)
   * @param {() => number} [o.wallClock] epoch ms for ISO times in the record (default Date.now)
   * @param {object|null} [o.path]    stats.path for the record ({kind, protocol, local_candidate_type, remote_candidate_type})
   * @param {number[]} [o.aiSeats]    players that are AI seats: no peer behind them; every peer's
   *   environment chooses their action inside each simulated step (ai_policy.py) and reports it,
   *   and the confirmed frame's row records it in their column. A game whose other players are
   *   all AI seats has no peer at all: it runs alone.
   * @param {{seat:number, host:number}[]} [o.hostedSeats] hosted seats: no peer behind them
   *   either; player `host` decides their actions (setHostedAction) and sends them as INPUT
   *   messages naming the seat, with its own input delay; every other peer treats them like a
   *   remote player's inputs (prediction, rollback, hashing). If the host is gone, the seat
   *   falls to the default action from a frame the remaining peers agree on (docs/ai.md).
   * @param {boolean} [o.rejoin]      this page was reloaded mid-game: rebuild the game from a peer's
   *   catch-up document (state CATCHUP), re-simulate it, then play live
   * @param {number} [o.nonce]        the rejoin's u32 (default: random)
   */
  constructor(o) {
    checkOptions(o);
    this.settings = makeSettings(o.settings || {});
    const s = this.settings;
    this.env = o.env;
    this.transport = o.transport;
    this.localPlayer = o.localPlayer;
    this.numPlayers = o.numPlayers;
    this.sharedSeed = o.sharedSeed;
    const perf = typeof performance !== 'undefined' ? performance : null;
    this.now = o.now || (perf ? () => perf.now() : () => Date.now());
    this.wallClock = o.wallClock || (() => Date.now());
    this.path = o.path || null;
    this.state = SessionState.CREATED;
    this.aiSeats = [...(o.aiSeats ?? [])].sort((a, b) => a - b);
    this.hostOf = new Map((o.hostedSeats ?? []).map((h) => [h.seat, h.host]));
    /** seats this peer hosts, in order, and the action each takes at the next local input */
    this.localHosted = [...this.hostOf].filter(([, h]) => h === this.localPlayer).map(([seat]) => seat).sort((a, b) => a - b);
    this.hostedActions = new Map(this.localHosted.map((seat) => [seat, this.settings.defaultAction]));
    this.peers = [];
    for (let p = 0; p < this.numPlayers; p++) if (p !== this.localPlayer && !this.aiSeats.includes(p) && !this.hostOf.has(p)) this.peers.push(p);
    this.sync = new SyncLayer({
      env: this.env,
      numPlayers: this.numPlayers,
      defaultAction: s.defaultAction,
      hashInterval: s.hashInterval,
      maxStepsPerEpisode: s.maxStepsPerEpisode,
    });
    // Frame 0 of every player is the default action, whatever the delays: so every player's
    // input run starts known (a disconnect relay always has a frame to announce, see
    // docs/rollback.md "Disconnects"). A player's frames 1..d-1 are added once its delay d is known.
    for (let p = 0; p < this.numPlayers; p++) this.sync.addInput(p, 0, s.defaultAction);
    // An AI seat's queue is settled for every frame (nobody sends it inputs); the environment
    // replaces that placeholder with the seat's policy action inside each step.
    for (const p of this.aiSeats) this.sync.setDefaultFrom(p, 1);
    // Input delay: ours once chosen (HANDSHAKE), every player's per episode (EPISODE_READY).
    this.inputDelay = null;
    this.firstInputFrame = null; // first frame that takes a sampled local input
    this.probeStartedAt = null;
    this.probeRttMs = null; // the RTT 'auto' chose from (ms; Infinity = no sample)
    this.episodeDelays = new Map(); // episode -> [delay of player 0, 1, ...] (null = unknown)
    this.endpoints = new Map();
    // Endpoints exist from the start so a HELLO (or INPUT) arriving before start() is kept.
    for (const p of this.peers) this.endpoints.set(p, new Endpoint({ peer: p, settings: s, startTime: 0 }));
    this.desync = new DesyncDetector({
      peers: this.peers,
      hashInterval: s.hashInterval,
      pendingHashLimit: s.pendingHashLimit,
      hashResendMs: s.hashResendMs,
    });
    this.agreements = new Map(); // disconnected player -> DisconnectAgreement
    this.listeners = new Map();
    this.eventQueue = [];
    this.dispatching = false;
    // episodes
    this.episode = 0;
    this.logs = [];
    this.currentLog = null;
    this.episodeStarts = new Map(); // episode -> start frame (known ones)
    this.episodeEnds = new Map(); // episode -> end frame (ours)
    this.readyEpisode = -1; // episode we announced EPISODE_READY for
    this.nextStartFrame = 0; // first frame of the episode the transition leads to
    this.freezeLeft = 0; // transition ticks still to wait (settings.resetFreezeFrames)
    this.lastRecordedFrame = -1;
    this.endMismatches = [];
    this.endMismatchKeys = new Set();
    // game over
    this.finishReason = null;
    this.finishedAt = null;
    this.finalFrame = null;
    this.byeSentTo = new Set();
    this.finishBye = ByeReason.GAME_OVER; // what our BYEs say after the game (an exclusion says so)
    this.exclusion = null;
    // start countdown and the local page's hidden time
    this.countdown = s.countdownFrames > 0 ? new StartCountdown({ frames: s.countdownFrames, peers: this.peers, windowSize: s.timeSyncWindow }) : null;
    this.countdownSeconds = null;
    this.hiddenLog = new HiddenLog();
    this.inputLog = new InputLog();
    // records
    this.desyncEvents = [];
    this.stateDumps = 0;
    this.connectionEvents = [];
    this.defaultActionFrom = new Map();
    // time sync
    this.waitBudget = 0;
    this.waitedLastTick = false;
    // telemetry
    this.tickCount = 0;
    this.inputTick = new Float64Array(4096); // frame & 4095 -> tick index the local input was given
    this.latencySum = 0;
    this.latencyCount = 0;
    this.latencyMax = 0;
    this.counters = {
      stalled: 0, stalledTerminal: 0, timesyncWaits: 0, bytesSent: 0, bytesReceived: 0, messagesSent: 0,
      messagesReceived: 0, decodeErrors: 0, sendErrors: 0, ignoredMessages: 0, invalidMessages: 0,
    };
    this.sentByType = Object.fromEntries(MESSAGE_TYPES.map((t) => [t, { messages: 0, bytes: 0 }]));
    this.startedAtWall = null;
    this.endedAtWall = null;
    this.framesAdvanced = 0;
    // rejoin after a reload (catchup.js): as a source, the documents we serve per peer; as a
    // rejoiner, the transfer and then the re-simulation (`replay`)
    this.serving = new Map(); // peer -> CatchupSender
    this.rejoin = o.rejoin === true;
    this.catchup = this.rejoin ? new CatchupReceiver({ nonce: o.nonce ?? randomNonce() }) : null;
    this.catchupSource = null;
    this.lastCatchupSent = -Infinity;
    this.catchupAckDue = false;
    this.replay = null; // {doc, target, fed, hashSendFrom, seeded, frames, startedAt} while re-simulating
    this.presetDelay = null; // our delay as the peers know it (a rejoin before frame 0)
    this.rejoinInfo = null; // the record's `rejoins` entry
  }

  // ---------------------------------------------------------------- public API

  /** Subscribe to an event; returns an unsubscribe function. */
  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    this.listeners.get(name).add(fn);
    return () => this.listeners.get(name).delete(fn);
  }

  /** Begin the handshake: HELLO to every peer (a rejoin: CATCHUP_REQUEST instead). */
  start() {
    if (this.state !== SessionState.CREATED) return;
    const now = this.now();
    this.startedAtWall = this.wallClock();
    this.state = this.rejoin ? SessionState.CATCHUP : SessionState.HANDSHAKE;
    for (const ep of this.endpoints.values()) {
      ep.startTime = now;
      // Silence is measured from our start at the earliest: a HELLO kept from before start()
      // must not make the peer look silent for the time we took to start.
      if (ep.lastRecv > -Infinity && ep.lastRecv < now) ep.lastRecv = now;
      if (!this.rejoin) this.sendHello(ep, now);
    }
    if (this.rejoin) {
      this.rejoinInfo = {
        source: null, requested_at: isoTime(this.wallClock()), caught_up_at: null, frame: null,
        frames: 0, bytes: 0, transfer_s: null, replay_s: null,
      };
      this.rejoinStartedAt = now;
      this.sendCatchupRequests(now, true);
    }
    this.flushEvents();
  }

  /** Leave the game (BYE left to everyone). */
  close(reason = ByeReason.LEFT) {
    if (this.state === SessionState.CLOSED) return;
    const now = this.now();
    for (const ep of this.endpoints.values()) if (ep.active) this.send(ep, { type: 'bye', reason }, now);
    if (this.finishReason === null) this.finish('closed', now, false);
    this.setClosed(now);
    this.flushEvents();
  }

  /** Bytes from the transport for one peer. Never throws for bad bytes (counted and dropped). */
  receive(peer, bytes) {
    if (this.state === SessionState.CLOSED) return;
    const now = this.now();
    const len = bytes && typeof bytes.byteLength === 'number' ? bytes.byteLength : 0;
    this.counters.bytesReceived += len;
    this.counters.messagesReceived += 1;
    if (!Number.isInteger(peer) || peer < 0 || peer >= this.numPlayers || peer === this.localPlayer) {
      this.counters.invalidMessages += 1;
      return;
    }
    const r = decode(bytes);
    if (!r.ok) {
      this.counters.decodeErrors += 1;
      return;
    }
    const ep = this.endpoints.get(peer);
    if (!ep.active) {
      this.counters.ignoredMessages += 1;
      return;
    }
    this.dispatch(ep, r.msg, now);
    this.flushEvents();
  }

  /**
   * One frame period: call it fps times per second.
   * @param {number} [localAction] the local player's action now (default: settings.defaultAction)
   * @returns {{advanced:boolean, frame:number, episode:number, status:string, inputFrame:number}}
   *   frame = newest simulated frame (the environment holds its state when tick returns);
   *   inputFrame = the frame `localAction` was given to, or -1 when it was not taken
   */
  tick(localAction = this.settings.defaultAction) {
    const result = { advanced: false, frame: this.sync.currentFrame - 1, episode: this.episode, status: this.state, inputFrame: -1 };
    if (this.state === SessionState.CREATED || this.state === SessionState.CLOSED) return result;
    if (!Number.isInteger(localAction) || localAction < -2147483648 || localAction > 2147483647) {
      throw new RangeError(`P2PSession.tick: localAction must be a signed 32-bit integer, got ${localAction}`);
    }
    const now = this.now();
    this.tickCount += 1;
    this.pollTimers(now);
    this.checkHiddenLimit(now);
    if (this.state === SessionState.HANDSHAKE && this.allHellos()) this.beginCountdown(now);
    if (this.state === SessionState.COUNTDOWN) this.stepCountdown(now);
    if (this.state === SessionState.CATCHUP) this.stepCatchup(now);
    if (this.replay !== null) {
      // Rejoining: re-simulate the game so far as fast as the budget allows, no local input.
      this.stepReplay(now);
      result.status = this.replay !== null || this.state === SessionState.CATCHUP ? SessionState.CATCHUP : this.state;
    } else {
      if (this.state === SessionState.TRANSITION) {
        // The reset freeze: exactly resetFreezeFrames ticks on every peer, counted from the tick
        // after the episode's end was confirmed; then the usual wait for every peer's READY.
        if (this.freezeLeft > 0) this.freezeLeft -= 1;
        else if (this.allReady()) this.startNextEpisode(now);
      }
      if (this.state === SessionState.RUNNING) result.status = this.stepGame(now, localAction, result);
      else result.status = this.state;
    }
    if (this.state === SessionState.FINISHED) this.linger(now);
    if (this.state !== SessionState.CLOSED) {
      this.sendInputs(now);
      this.sendHashRequests(now);
      this.sendKeepalives(now);
      this.sendCatchup(now);
      if (this.tickCount % PRUNE_EVERY_TICKS === 0 || this.replay !== null) this.prune();
    }
    result.frame = this.sync.currentFrame - 1;
    result.episode = this.episode;
    this.flushEvents();
    return result;
  }

  /** Newest frame whose inputs are all confirmed and simulated from them (game-global), or -1. */
  get confirmedFrame() {
    return this.lastRecordedFrame;
  }

  /** Highest frame verified with every active peer, or -1. */
  get verifiedFrame() {
    return this.desync.verifiedFrame();
  }

  /**
   * A local key went down (true) or up (false), for the record's `inputs`. `t`: when, in the
   * session clock's time base (the page: the event's timeStamp), `epochMs`: wall clock.
   * Frames are filled in by the session: the frame whose local input it went into, the frame
   * on screen at `t` (noteDisplayed), whether that was a prediction and later corrected.
   */
  noteKey(key, down, t = this.now(), epochMs = this.wallClock()) {
    if (this.state === SessionState.CLOSED) return;
    this.inputLog.key(key, down, t, epochMs);
  }

  /** The page drew `frame` (the newest simulated frame, as tick() left it) at `t`. */
  noteDisplayed(frame, t = this.now()) {
    if (this.state === SessionState.CLOSED || frame < 0) return;
    this.inputLog.displayed(frame, t, frame > this.sync.confirmedFrame(), this.sync.stampOf(frame));
  }

  /**
   * The action a seat this peer hosts takes from the next local input on (like a held key: it
   * stays until changed). It goes into that seat's input with our input delay and is sent to
   * every peer as that seat's INPUT.
   */
  setHostedAction(seat, action) {
    if (!this.hostedActions.has(seat)) throw new RangeError(`P2PSession.setHostedAction: seat ${seat} is not hosted by player ${this.localPlayer}`);
    if (!Number.isInteger(action) || action < -2147483648 || action > 2147483647) {
      throw new RangeError(`P2PSession.setHostedAction: action must be a signed 32-bit integer, got ${action}`);
    }
    this.hostedActions.set(seat, action);
  }

  /** Seats `player` speaks for on the wire: its own and the seats it hosts. */
  seatsOf(player) {
    const out = [player];
    for (const [seat, host] of this.hostOf) if (host === player) out.push(seat);
    return out;
  }

  /** Set stats.path of the record (the transport knows the ICE path). */
  setPath(path) {
    this.path = path;
  }

  /**
   * The local page went to the background (true) or came back (false). While hidden, every
   * local input the session takes is `hiddenAction` (default: `defaultAction`) whatever tick()
   * is given, and those frames are recorded in `hidden_intervals`.
   * @returns {{hidden, first_frame, last_frame, duration_s}|null} the interval opened or closed
   */
  setHidden(hidden) {
    if (this.state === SessionState.CLOSED) return null;
    const now = this.now();
    const iv = this.hiddenLog.set(Boolean(hidden), now, this.wallClock());
    if (iv === null) return null;
    const ev = {
      hidden: Boolean(hidden), frame: this.sync.currentFrame, time: isoTime(this.wallClock()),
      first_frame: iv.first_frame, last_frame: iv.last_frame,
      duration_s: hidden ? 0 : round3((iv.endMs - iv.startMs) / 1000),
    };
    this.emit('hidden', ev);
    this.flushEvents();
    return ev;
  }

  /** Is the local page hidden (as last told by setHidden)? */
  get hidden() {
    return this.hiddenLog.hidden;
  }

  /** Milliseconds the page has been hidden without a break (0 when visible). */
  hiddenMs() {
    return this.hiddenLog.hiddenMs(this.now());
  }

  /**
   * Exclude the local player (hidden too long, inactive, ...): the game is over for it
   * (reason `excluded`), and its BYE tells the others what to do: policy `end` ends the game
   * for everyone; `default_action` lets them play on with its default action from a frame
   * they agree on (needs a running game; otherwise it is `end`).
   * @returns {boolean} false when there is no game to be excluded from
   */
  exclude({ reason = 'excluded', policy = 'end' } = {}) {
    const s = this.state;
    if (s !== SessionState.HANDSHAKE && s !== SessionState.COUNTDOWN && s !== SessionState.RUNNING && s !== SessionState.TRANSITION) return false;
    if (policy !== 'end' && policy !== 'default_action') throw new RangeError(`P2PSession.exclude: policy must be 'end' or 'default_action', got ${JSON.stringify(policy)}`);
    const now = this.now();
    const playOn = policy === 'default_action' && (s === SessionState.RUNNING || s === SessionState.TRANSITION);
    this.exclusion = { reason: String(reason), policy: playOn ? 'default_action' : 'end', frame: this.sync.currentFrame, time: isoTime(this.wallClock()) };
    this.hiddenLog.markExcluded();
    this.finishBye = playOn ? ByeReason.EXCLUDED_DEFAULT_ACTION : ByeReason.EXCLUDED_END;
    this.finish('excluded', now, true);
    this.emit('excluded', { ...this.exclusion });
    for (const ep of this.endpoints.values()) {
      if (!ep.active) continue;
      ep.lastByeSent = now;
      this.byeSentTo.add(ep.peer);
      this.send(ep, { type: 'bye', reason: this.finishBye }, now);
    }
    this.flushEvents();
    return true;
  }

  /**
   * The page heard that a peer's page went away with its seat held (the server's
   * `peer_interrupted`): wait for it to rejoin (up to awayTimeoutMs) instead of timing it out
   * by silence. Its BYE(away) does the same on the DataChannel.
   * @returns {boolean} whether it was newly marked away
   */
  peerAway(peer) {
    const changed = this.markAway(peer, this.now());
    this.flushEvents();
    return changed;
  }

  /**
   * The page heard that a peer's held seat is gone for good (the server's `peer_left` after the
   * reconnect grace): a peer still away or silent is declared disconnected now.
   * @returns {boolean} whether it was declared gone
   */
  peerGone(peer) {
    const ep = this.endpoints.get(peer);
    if (!ep || !ep.active || this.state === SessionState.CREATED || this.state === SessionState.CLOSED) return false;
    if (ep.state !== PeerState.AWAY && ep.state !== PeerState.INTERRUPTED && ep.state !== PeerState.WAITING) return false;
    this.declareGone(peer, 'disconnected', this.now(), ByeReason.TIMEOUT);
    this.flushEvents();
    return true;
  }

  markAway(peer, now) {
    const ep = this.endpoints.get(peer);
    const s = this.state;
    if (!ep || !ep.active || ep.state === PeerState.AWAY || s === SessionState.CREATED || s === SessionState.CLOSED) return false;
    if (s === SessionState.FINISHED || this.settings.awayTimeoutMs === 0) {
      // Nothing to rejoin (the game is over), or the scene holds no seats: leaving, as before.
      this.declareGone(peer, 'left', now, null);
      return false;
    }
    ep.setAway(now + this.settings.awayTimeoutMs);
    this.connectionEvent(peer, 'away', now);
    return true;
  }

  /** A reloaded page's session is still rebuilding the game (fetching or re-simulating it). */
  get catchingUp() {
    return this.state === SessionState.CATCHUP || this.replay !== null;
  }

  /**
   * Where a rejoin stands, for "Rejoining your game..." with progress:
   * {phase: 'connecting'|'transfer'|'replay'|'live', received, total (document bytes), frame, target}.
   */
  catchupProgress() {
    if (!this.rejoin) return null;
    const c = this.catchup;
    const p = c.progress();
    if (this.state === SessionState.CATCHUP) {
      return { phase: c.source === null ? 'connecting' : 'transfer', received: p.received, total: p.total, frame: null, target: null };
    }
    if (this.replay !== null) {
      return { phase: 'replay', received: p.received, total: p.total, frame: this.sync.currentFrame - 1, target: this.replay.target };
    }
    return { phase: 'live', received: p.received, total: p.total, frame: this.sync.currentFrame - 1, target: this.rejoinInfo?.frame ?? null };
  }

  /** Ticks left in the start countdown (0 once the game started; null without a countdown). */
  get countdownLeft() {
    return this.countdown === null ? null : this.countdown.left;
  }

  get currentFrame() {
    return this.sync.currentFrame;
  }

  /** Per peer: state, rtt, frame advantage, silence and (while interrupted) the grace left
   * before it counts as disconnected (for a HUD and a "reconnecting" banner). */
  peerInfo() {
    const out = [];
    const now = this.now();
    for (const ep of this.endpoints.values()) {
      const silent = ep.lastRecv === -Infinity ? null : Math.max(0, now - ep.lastRecv);
      out.push({
        peer_index: ep.peer, state: ep.state, rtt_ms: ep.lastRtt, frame_advantage: ep.timeSync.frameAdvantage(),
        silent_ms: silent,
        grace_left_ms: ep.state === PeerState.INTERRUPTED ? Math.max(0, this.settings.disconnectTimeoutMs - silent)
          : ep.state === PeerState.AWAY ? Math.max(0, ep.awayUntil - now) : null,
      });
    }
    return out;
  }

  // ---------------------------------------------------------------- events

  emit(name, payload) {
    this.eventQueue.push([name, payload]);
  }

  /** Events are delivered after the call that produced them has finished its work, so a
   * listener always sees a consistent session (and may call tick/receive itself). */
  flushEvents() {
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      while (this.eventQueue.length > 0) {
        const [name, payload] = this.eventQueue.shift();
        const set = this.listeners.get(name);
        if (set) for (const fn of Array.from(set)) fn(payload);
      }
    } finally {
      this.dispatching = false;
    }
  }

  // ---------------------------------------------------------------- sending

  send(ep, msg, now) {
    const bytes = encode(msg);
    const t = this.sentByType[msg.type];
    t.messages += 1;
    t.bytes += bytes.byteLength;
    this.counters.bytesSent += bytes.byteLength;
    this.counters.messagesSent += 1;
    ep.markSent(now);
    try {
      this.transport.send(ep.peer, bytes);
    } catch (err) {
      // A closing channel must not break the game loop; silence shows up as a disconnect.
      this.counters.sendErrors += 1;
    }
  }

  sendHello(ep, now) {
    ep.lastHelloSent = now;
    this.send(ep, { type: 'hello', version: PROTOCOL_VERSION, player: this.localPlayer, numPlayers: this.numPlayers }, now);
  }

  // With hosted seats the ack covers every seat the peer speaks for (its own and the ones it
  // hosts): the lowest contiguous run of them, so its redundancy window covers them all.
  ackFor(ep) {
    if (!ep.gotInput) return -1;
    let ack = Infinity;
    for (const p of this.seatsOf(ep.peer)) ack = Math.min(ack, this.sync.queues[p].lastConfirmedFrame);
    return ack;
  }

  sendInputs(now) {
    if (this.state === SessionState.HANDSHAKE || this.state === SessionState.COUNTDOWN || this.catchingUp) return;
    const local = this.sync.queues[this.localPlayer];
    const through = local.lastConfirmedFrame;
    for (const ep of this.endpoints.values()) {
      if (!ep.active || ep.state === PeerState.DONE) continue;
      const ack = this.ackFor(ep);
      if (!ep.inputDue(through, ack)) continue;
      const msg = ep.buildInput(this.localPlayer, local, ack, this.settings.inputRedundancy);
      this.send(ep, msg, now);
      ep.noteInputSent(now, msg);
      // Hosted seats: the same window of each seat's inputs (they run with ours), same ack.
      for (const seat of this.localHosted) this.send(ep, ep.buildInput(seat, this.sync.queues[seat], ack, this.settings.inputRedundancy), now);
    }
    this.sendRelays(now);
  }

  sendHashRequests(now) {
    const interval = this.state === SessionState.FINISHED ? this.settings.resendMs : null;
    for (const r of this.desync.requestsDue(now, this.maxRtt(), 4, interval)) {
      const ep = this.endpoints.get(r.peer);
      if (ep && ep.active) this.send(ep, { type: 'state_hash', frame: r.frame, hash: r.hash }, now);
    }
  }

  sendKeepalives(now) {
    // HELLOs keep the channel warm in the handshake, COUNTDOWNs (every tick) in the countdown.
    if (this.state === SessionState.HANDSHAKE || this.state === SessionState.COUNTDOWN) return;
    for (const ep of this.endpoints.values()) {
      if (ep.active && ep.state !== PeerState.DONE && ep.keepaliveDue(now)) this.send(ep, { type: 'keepalive' }, now);
    }
  }

  maxRtt() {
    let m = 0;
    for (const ep of this.endpoints.values()) if (ep.active && ep.lastRtt !== null && ep.lastRtt > m) m = ep.lastRtt;
    return m;
  }

  // ---------------------------------------------------------------- timers

  pollTimers(now) {
    for (const ep of this.endpoints.values()) {
      if (!ep.active) continue;
      if (ep.state === PeerState.AWAY && now >= ep.awayUntil) {
        this.declareGone(ep.peer, 'disconnected', now, ByeReason.TIMEOUT);
        continue;
      }
      const ev = ep.state === PeerState.DONE ? null : ep.checkSilence(now);
      if (ev === 'interrupted') this.connectionEvent(ep.peer, 'interrupted', now);
      else if (ev === 'disconnected') this.declareGone(ep.peer, 'disconnected', now, ByeReason.TIMEOUT);
      if (!ep.active) continue;
      // Before we start, HELLO doubles as keepalive; after, only until the peer proves it has ours.
      if (this.state === SessionState.HANDSHAKE ? now - ep.lastHelloSent >= this.settings.helloIntervalMs : ep.helloDue(now)) {
        this.sendHello(ep, now);
      }
      if (this.isPlaying() && ep.gotInput && ep.state !== PeerState.DONE && ep.pingDue(now)) {
        const adv = this.advantageOver(ep);
        ep.lastPingSent = now;
        this.send(ep, { type: 'ping', advantage: Math.round(adv === null ? 0 : adv), time: now }, now);
      }
    }
    this.pollEpisodeMessages(now);
    this.pollAgreements(now);
  }

  isPlaying() {
    return this.state === SessionState.RUNNING || this.state === SessionState.TRANSITION || this.state === SessionState.FINISHED;
  }

  // ---------------------------------------------------------------- receiving

  /** Newest frame a peer can have confirmed, hashed or ended an episode at: it needs our inputs
   * for it. (Anything claiming more is from a broken peer: counted, ignored.) */
  plausibleFrameLimit() {
    return this.sync.queues[this.localPlayer].lastConfirmedFrame;
  }

  dispatch(ep, msg, now) {
    if (!this.plausible(msg)) {
      this.counters.invalidMessages += 1;
      return;
    }
    // A rejoining session only takes what it can use before it has the game.
    if (this.state === SessionState.CATCHUP && !CATCHUP_MESSAGES.has(msg.type)) {
      ep.onMessage(now, false);
      this.counters.ignoredMessages += 1;
      return;
    }
    // A catch-up request is a new session of the peer (its page reloaded): 'rejoined', not 'resumed'.
    const resumed = ep.onMessage(now, msg.type === 'hello' || msg.type === 'bye') === 'resumed';
    if (resumed && msg.type !== 'catchup_request') this.connectionEvent(ep.peer, 'resumed', now);
    switch (msg.type) {
      case 'hello': this.onHello(ep, msg, now); break;
      case 'input': this.onInput(ep, msg, now); break;
      case 'ping':
        // The pre-game RTT probe's PINGs carry no frame advantage: only in-game ones count.
        if (this.isPlaying() && ep.gotInput) ep.timeSync.addRemote(msg.advantage);
        this.send(ep, { type: 'pong', time: msg.time }, now);
        break;
      case 'pong': {
        const rtt = ep.onPong(now, msg.time);
        if (rtt !== null && this.inputDelay === null) ep.probeRtts.push(rtt);
        break;
      }
      case 'keepalive': break;
      case 'episode_end': this.onEpisodeEnd(ep, msg, now); break;
      case 'episode_ready': this.onEpisodeReady(ep, msg); break;
      case 'state_hash': this.onStateHash(ep, msg, now); break;
      case 'bye': this.onBye(ep, msg, now); break;
      case 'countdown': this.countdown?.receive(ep.peer, msg.left, msg.advantage); break;
      case 'catchup_request': this.onCatchupRequest(ep, msg, now); break;
      case 'catchup_offer':
        if (this.state !== SessionState.CATCHUP || !this.catchup.onOffer(ep.peer, msg)) this.counters.ignoredMessages += 1;
        break;
      case 'catchup_ack': {
        const sender = this.serving.get(ep.peer);
        if (sender && sender.nonce === msg.nonce) sender.onAck(msg.next, msg.mask);
        else this.counters.ignoredMessages += 1;
        break;
      }
      case 'catchup_chunk':
        if (this.catchup !== null && this.catchup.onChunk(ep.peer, msg) !== 'ignored') this.catchupAckDue = true;
        else this.counters.ignoredMessages += 1;
        break;
      default: this.counters.invalidMessages += 1;
    }
  }

  plausible(msg) {
    const s = this.settings;
    switch (msg.type) {
      case 'input':
        // A peer's newest input frame is at most (its frame + its delay), and its frame at most
        // our newest input + the prediction window + 1 (our own delay is in our newest input).
        return msg.start + msg.actions.length - 1 <= this.plausibleFrameLimit() + s.maxPredictionWindow + MAX_INPUT_DELAY + 2;
      case 'state_hash':
        return msg.frame <= this.plausibleFrameLimit();
      case 'episode_end':
        return msg.frame <= this.plausibleFrameLimit() && msg.episode <= Math.max(this.readyEpisode, 0);
      case 'episode_ready':
        return msg.episode <= this.readyEpisode + 1;
      default:
        return true;
    }
  }

  onHello(ep, msg, now) {
    if (msg.version !== PROTOCOL_VERSION || msg.player !== ep.peer || msg.numPlayers !== this.numPlayers) {
      this.counters.invalidMessages += 1;
      this.emit('error', {
        code: 'hello_mismatch',
        message: `peer ${ep.peer} sent HELLO version ${msg.version}, player ${msg.player}, numPlayers ${msg.numPlayers}; expected version ${PROTOCOL_VERSION}, player ${ep.peer}, numPlayers ${this.numPlayers}`,
      });
      this.send(ep, { type: 'bye', reason: ByeReason.ERROR }, now);
      ep.state = PeerState.DISCONNECTED;
      this.desync.deactivate(ep.peer);
      this.connectionEvent(ep.peer, 'disconnected', now);
      this.finish('error', now, true);
      return;
    }
    if (!ep.helloReceived) {
      ep.helloReceived = true;
      if (this.state !== SessionState.CREATED) this.sendHello(ep, now);
    }
  }

  onInput(ep, msg, now) {
    ep.onAck(msg.ack);
    const last = msg.start + msg.actions.length - 1;
    // Its own inputs, or those of a seat it hosts.
    if (msg.player === ep.peer || this.hostOf.get(msg.player) === ep.peer) {
      if (msg.player === ep.peer) ep.onRemoteInputs(last);
      if (this.agreements.has(msg.player)) return; // frozen (cannot happen while active, kept safe)
      for (let i = 0; i < msg.actions.length; i++) {
        const r = this.sync.addInput(msg.player, msg.start + i, msg.actions[i]);
        if (r === 'gap' || r === 'ignored') break;
      }
      return;
    }
    // Another player's inputs relayed by this peer: that player (or a hosted seat's host) was
    // declared gone.
    const c = msg.player;
    // Relays exist under policy default_action, and for a player excluded with that policy.
    const playsOn = this.settings.disconnectPolicy === 'default_action' || this.agreements.has(c);
    if (!playsOn || c === this.localPlayer || c >= this.numPlayers || this.aiSeats.includes(c) || this.localHosted.includes(c)) {
      this.counters.invalidMessages += 1;
      return;
    }
    if (!this.agreements.has(c)) this.declareGone(this.hostOf.get(c) ?? c, 'disconnected', now, ByeReason.TIMEOUT);
    const ag = this.agreements.get(c);
    if (!ag) return;
    if (ag.defaultFrom === null) {
      for (let i = 0; i < msg.actions.length; i++) {
        const r = this.sync.addInput(c, msg.start + i, msg.actions[i]);
        if (r === 'gap' || r === 'ignored') break;
      }
    }
    ag.announce(ep.peer, last);
  }

  onStateHash(ep, msg, now) {
    if (msg.frame > ep.highestHashFrame) ep.highestHashFrame = msg.frame;
    const r = this.desync.addRemote(ep.peer, msg.frame, msg.hash, now);
    for (const m of r.mismatches) this.recordDesync(m, now);
    if (r.answer) {
      const mine = this.desync.local.get(msg.frame);
      if (mine) this.send(ep, { type: 'state_hash', frame: msg.frame, hash: mine.hash }, now);
    }
  }

  onEpisodeReady(ep, msg) {
    if (msg.episode > ep.readyEpisode) ep.readyEpisode = msg.episode;
    const known = ep.delays.get(msg.episode);
    if (known !== undefined) {
      // A peer announces one delay per episode; a different one for the same episode is broken.
      if (known !== msg.inputDelay) this.counters.invalidMessages += 1;
      return;
    }
    ep.delays.set(msg.episode, msg.inputDelay);
    if (msg.episode === 0) for (const p of this.seatsOf(ep.peer)) this.prefillDelay(p, msg.inputDelay);
  }

  /** A player's frames 1..delay-1 of the game hold no sampled input: the default action. */
  prefillDelay(player, delay) {
    for (let f = 1; f < delay; f++) {
      const r = this.sync.addInput(player, f, this.settings.defaultAction);
      if (r === 'gap' || r === 'ignored') break;
    }
  }

  onEpisodeEnd(ep, msg, now) {
    ep.endsReceived.set(msg.episode, msg.frame);
    const mine = this.episodeEnds.get(msg.episode);
    if (mine !== undefined) this.crossCheckEnd(ep.peer, msg.episode, mine, msg.frame, now);
  }

  crossCheckEnd(peer, episode, localFrame, peerFrame, now) {
    if (localFrame === peerFrame) return;
    const key = `${peer}:${episode}`;
    if (this.endMismatchKeys.has(key)) return;
    this.endMismatchKeys.add(key);
    // local_frame null: our environment had not ended the episode at the peer's frame, which we
    // had already confirmed (the session then ends it there too, see processConfirmed).
    const ev = { episode, peer_index: peer, local_frame: localFrame, peer_frame: peerFrame, time: isoTime(this.wallClock()) };
    this.endMismatches.push(ev);
    this.emit('episode_mismatch', ev);
  }

  onBye(ep, msg, now) {
    if (msg.reason === ByeReason.AWAY) {
      this.markAway(ep.peer, now);
      return;
    }
    if (EXCLUDED_BYES.has(msg.reason)) {
      this.onExcludedBye(ep, msg.reason, now);
      return;
    }
    if (msg.reason === ByeReason.GAME_OVER) {
      ep.byeReceived = msg.reason;
      if (this.state === SessionState.FINISHED || this.state === SessionState.CLOSED) {
        ep.state = PeerState.DONE;
        return;
      }
      if (this.settings.disconnectPolicy === 'end' || this.state === SessionState.HANDSHAKE) {
        ep.state = PeerState.DONE;
        this.finish('peer_ended', now, true);
      } else {
        this.declareGone(ep.peer, 'left', now, null);
      }
      return;
    }
    this.declareGone(ep.peer, msg.reason === ByeReason.LEFT ? 'left' : 'disconnected', now, null);
  }

  /** A peer was excluded: its BYE says whether the game ends or goes on with its default action. */
  onExcludedBye(ep, reason, now) {
    ep.byeReceived = reason;
    if (this.state === SessionState.FINISHED || this.state === SessionState.CLOSED) {
      ep.state = PeerState.DONE; // our game is over anyway
      return;
    }
    const running = this.state === SessionState.RUNNING || this.state === SessionState.TRANSITION;
    if (reason === ByeReason.EXCLUDED_DEFAULT_ACTION && running) {
      // One BYE(game over) back lets it close at once (if lost, it stops after its timeout).
      this.declareGone(ep.peer, 'excluded', now, ByeReason.GAME_OVER, 'default_action');
      return;
    }
    this.connectionEvent(ep.peer, 'excluded', now);
    ep.state = PeerState.DONE;
    this.finish('peer_excluded', now, true);
  }

  // ---------------------------------------------------------------- connection events

  connectionEvent(peer, event, now) {
    const ev = { peer_index: peer, event, frame: this.sync.currentFrame, time: isoTime(this.wallClock()) };
    this.connectionEvents.push(ev);
    this.emit('connection', ev);
  }

  /**
   * A peer is gone (timeout, BYE, or a relay naming it). Policy 'end' ends the game; policy
   * 'default_action' starts the agreement on its first default frame.
   */
  declareGone(peer, event, now, byeReason, policy = this.settings.disconnectPolicy) {
    const ep = this.endpoints.get(peer);
    if (!ep || !ep.active) return;
    ep.state = event === 'left' || event === 'excluded' ? PeerState.LEFT : PeerState.DISCONNECTED;
    this.connectionEvent(peer, event, now);
    this.desync.deactivate(peer);
    if (byeReason !== null) this.send(ep, { type: 'bye', reason: byeReason }, now);
    if (this.state === SessionState.FINISHED || this.state === SessionState.CLOSED) return;
    if (policy === 'end') {
      this.finish('disconnected', now, true);
      return;
    }
    // The seats it hosted go with it: the same agreement, each on its own frame.
    for (const p of this.seatsOf(peer)) {
      if (this.agreements.has(p)) continue;
      this.agreements.set(p, new DisconnectAgreement(p));
      this.emit('disconnect_agreement', { peer_index: p, known_frame: this.sync.queues[p].lastConfirmedFrame });
    }
  }

  remainingPeers(exclude) {
    const out = [];
    for (const ep of this.endpoints.values()) if (ep.active && ep.peer !== exclude) out.push(ep.peer);
    return out;
  }

  pollAgreements(now) {
    for (const ag of this.agreements.values()) {
      if (ag.defaultFrom !== null) continue;
      const known = this.sync.queues[ag.player].lastConfirmedFrame;
      const d = ag.tryDecide(this.remainingPeers(ag.player), known);
      if (d !== null) {
        this.sync.setDefaultFrom(ag.player, d);
        this.defaultActionFrom.set(ag.player, d);
        this.emit('default_action', { peer_index: ag.player, frame: d });
      }
    }
  }

  sendRelays(now) {
    if (this.agreements.size === 0 || this.state === SessionState.CLOSED) return;
    for (const ag of this.agreements.values()) {
      const q = this.sync.queues[ag.player];
      const known = q.lastConfirmedFrame;
      if (known < 0) continue;
      for (const ep of this.endpoints.values()) {
        if (!ep.active || ep.state === PeerState.DONE) continue;
        if (!ag.relayDue(ep.peer, now, known, this.settings.resendMs, ep.highestHashFrame)) continue;
        const start = Math.max(0, known - 127);
        const actions = new Array(known - start + 1);
        for (let f = start; f <= known; f++) actions[f - start] = q.confirmed(f);
        this.send(ep, { type: 'input', player: ag.player, ack: this.ackFor(ep), start, actions }, now);
        ag.noteRelay(ep.peer, now, known);
      }
    }
  }

  // ---------------------------------------------------------------- game flow

  allHellos() {
    for (const ep of this.endpoints.values()) if (ep.active && !ep.helloReceived) return false;
    return true;
  }

  /** Every HELLO is in: count down (lined up with the peers) while the input delays are agreed,
   * or, without a countdown, agree them and start as soon as they are. */
  beginCountdown(now) {
    if (this.countdown === null) {
      this.agreeDelay(now);
      if (this.delaysAgreed()) this.beginGame(now);
      return;
    }
    this.state = SessionState.COUNTDOWN;
    this.countdownSeconds = null;
  }

  /** One countdown tick: line up with the peers, count, tell them where we are; frame 0 at zero
   * once every delay is agreed (the count holds at zero until then). */
  stepCountdown(now) {
    this.agreeDelay(now);
    const active = this.remainingPeers(-1);
    const done = this.countdown.tick(active);
    const seconds = Math.ceil(this.countdown.left / this.settings.fps);
    if (seconds !== this.countdownSeconds && !done && !this.countdown.done) {
      this.countdownSeconds = seconds;
      this.emit('countdown', { seconds, left: this.countdown.left });
    }
    for (const peer of active) {
      const ep = this.endpoints.get(peer);
      this.send(ep, { type: 'countdown', left: this.countdown.left, advantage: this.countdown.advantageFor(peer) }, now);
    }
    if (this.countdown.done && this.delaysAgreed()) this.beginGame(now);
  }

  /** Choose our input delay (fixed: at once; 'auto': after the RTT probe) and announce it in
   * EPISODE_READY(0). Called every pre-game tick once every HELLO is in. */
  agreeDelay(now) {
    if (this.inputDelay !== null) return;
    const s = this.settings;
    if (this.probeStartedAt === null) this.probeStartedAt = now;
    if (this.presetDelay !== null) this.chooseDelay(this.presetDelay, null, now); // a rejoin: the delay the peers know
    else if (s.inputDelay !== 'auto') this.chooseDelay(s.inputDelay, null, now);
    else if (this.probeDone(now)) {
      const rtt = this.probeRtt();
      this.chooseDelay(autoInputDelay(rtt, s.fps, s.maxPredictionWindow), rtt, now);
    } else this.sendProbes(now);
  }

  /** Our delay is chosen and every active peer's EPISODE_READY(0) (its delay) is in. */
  delaysAgreed() {
    return this.inputDelay !== null && this.allReady();
  }

  probeDone(now) {
    if (now - this.probeStartedAt >= RTT_PROBE_TIMEOUT_MS) return true;
    for (const ep of this.endpoints.values()) if (ep.active && ep.probeRtts.length < RTT_PROBE_SAMPLES) return false;
    return true;
  }

  /** Largest median probe RTT over the active peers (Infinity if one has no sample). */
  probeRtt() {
    let m = 0;
    for (const ep of this.endpoints.values()) {
      if (!ep.active) continue;
      const r = medianRtt(ep.probeRtts);
      m = Math.max(m, r === null ? Infinity : r);
    }
    return m;
  }

  sendProbes(now) {
    for (const ep of this.endpoints.values()) {
      if (!ep.active || ep.probeRtts.length >= RTT_PROBE_SAMPLES || now - ep.lastPingSent < RTT_PROBE_INTERVAL_MS) continue;
      ep.lastPingSent = now;
      this.send(ep, { type: 'ping', advantage: 0, time: now }, now);
    }
  }

  chooseDelay(delay, rtt, now) {
    this.inputDelay = delay;
    this.probeRttMs = rtt;
    this.firstInputFrame = Math.max(1, delay);
    for (const p of this.seatsOf(this.localPlayer)) this.prefillDelay(p, delay);
    this.readyEpisode = 0;
    this.sendFirstReady(now, true);
  }

  beginGame(now) {
    this.inputLog.start(now);
    // Countdown samples described the countdown, not the game's frames.
    for (const ep of this.endpoints.values()) ep.timeSync.clear();
    this.emit('started', { time: isoTime(this.wallClock()), input_delay: this.inputDelay });
    this.beginEpisode(0, 0, now);
  }

  beginEpisode(episode, startFrame, now) {
    this.episode = episode;
    const seed = episodeSeed(this.sharedSeed, episode);
    if (episode === 0) this.sync.startEpisode(seed, startFrame);
    const delays = new Array(this.numPlayers).fill(null);
    delays[this.localPlayer] = this.inputDelay;
    for (const p of this.aiSeats) delays[p] = 0; // an AI acts on the state its frame starts from
    for (const ep of this.endpoints.values()) if (ep.delays.has(episode)) delays[ep.peer] = ep.delays.get(episode);
    for (const [seat, host] of this.hostOf) delays[seat] = delays[host]; // a hosted seat runs with its host's delay
    this.episodeDelays.set(episode, delays);
    this.episodeStarts.set(episode, startFrame);
    this.currentLog = new EpisodeLog({ episode, seed, startFrame, numPlayers: this.numPlayers, reportsRewards: this.env.reportsRewards === true });
    this.logs.push(this.currentLog);
    this.readyEpisode = episode;
    this.state = SessionState.RUNNING;
    this.emit('episode_start', { episode, seed, frame: startFrame, input_delays: delays.slice() });
  }

  /** In RUNNING: roll back if needed, record confirmed frames, advance one frame if allowed. */
  stepGame(now, localAction, result) {
    const s = this.settings;
    this.sync.rollback();
    this.processConfirmed(now);
    if (this.state !== SessionState.RUNNING) return this.state;
    this.sampleAdvantage();
    // The local input for frame currentFrame + inputDelay is taken now, before any reason not to
    // advance: with no delay and no prediction window, the frame cannot be confirmed without it.
    const f = this.sync.currentFrame;
    const inputFrame = f + this.inputDelay;
    const local = this.sync.queues[this.localPlayer];
    if (inputFrame > local.lastConfirmedFrame) {
      // No gap can open while a player's delay stays the same; should it grow, the frames in
      // between get the default action so the run stays contiguous.
      for (let g = local.lastConfirmedFrame + 1; g < inputFrame; g++) this.sync.addInput(this.localPlayer, g, s.defaultAction);
      // While the page is hidden, nobody chose this action: it is the hidden action, recorded as such.
      const hidden = this.hiddenLog.hidden;
      this.sync.addInput(this.localPlayer, inputFrame, hidden ? (s.hiddenAction ?? s.defaultAction) : localAction);
      if (hidden) this.hiddenLog.noteInput(inputFrame);
      // Seats we host take their current action at the same frame (the policy runs whether or
      // not the page is visible).
      for (const seat of this.localHosted) {
        for (let g = this.sync.queues[seat].lastConfirmedFrame + 1; g < inputFrame; g++) this.sync.addInput(seat, g, s.defaultAction);
        this.sync.addInput(seat, inputFrame, this.hostedActions.get(seat));
      }
      this.inputLog.assign(inputFrame);
      this.inputTick[inputFrame & 4095] = this.tickCount;
      result.inputFrame = inputFrame;
    }
    if (!this.sync.canAdvance()) {
      // The last simulated frame ended the episode on predicted inputs: never simulate past it.
      this.counters.stalled += 1;
      this.counters.stalledTerminal += 1;
      return 'stalled';
    }
    if (this.sync.currentFrame - this.sync.confirmedInputFrame() > s.maxPredictionWindow) {
      this.counters.stalled += 1;
      return 'stalled';
    }
    if (this.timeSyncWait()) {
      this.counters.timesyncWaits += 1;
      return 'waiting';
    }
    const firstTime = f > this.sync.maxSimulatedFrame;
    this.sync.advanceFrame();
    this.framesAdvanced += 1;
    if (firstTime && f >= this.firstInputFrame) {
      const lat = this.tickCount - this.inputTick[f & 4095];
      this.latencySum += lat;
      this.latencyCount += 1;
      if (lat > this.latencyMax) this.latencyMax = lat;
    }
    result.advanced = true;
    this.processConfirmed(now);
    return 'running';
  }

  sampleAdvantage() {
    for (const ep of this.endpoints.values()) {
      if (!ep.active || ep.state === PeerState.DONE || ep.state === PeerState.AWAY) continue;
      const a = this.advantageOver(ep);
      if (a !== null) ep.timeSync.addLocal(a);
    }
  }

  /** Our frame advantage over a peer: newest input frames compared, each less its player's delay
   * in this episode, so players with different delays line up their simulated frames. */
  advantageOver(ep) {
    const a = ep.localAdvantage(this.sync.queues[this.localPlayer].lastConfirmedFrame);
    if (a === null) return null;
    const delays = this.episodeDelays.get(this.episode);
    const theirs = delays ? delays[ep.peer] : null;
    return theirs === null || theirs === undefined ? a : a - (this.inputDelay - theirs);
  }

  /** Largest input delay of this episode (the time-sync wait cap). */
  maxEpisodeDelay() {
    let m = this.inputDelay ?? 0;
    const delays = this.episodeDelays.get(this.episode);
    if (delays) for (const d of delays) if (d !== null && d > m) m = d;
    return m;
  }

  /** Skip this tick to let slower peers catch up? (one skipped tick at most every other tick) */
  timeSyncWait() {
    if (this.waitBudget === 0) {
      let w = 0;
      for (const ep of this.endpoints.values()) {
        if (!ep.active || ep.state === PeerState.DONE || ep.state === PeerState.AWAY) continue;
        const r = ep.timeSync.recommendWait(this.settings.maxPredictionWindow + this.maxEpisodeDelay());
        if (r > w) w = r;
      }
      if (w > 0) {
        this.waitBudget = w;
        // Samples taken before the correction describe the old offset: start over.
        for (const ep of this.endpoints.values()) ep.timeSync.clear();
      }
    }
    if (this.waitBudget > 0 && !this.waitedLastTick) {
      this.waitBudget -= 1;
      this.waitedLastTick = true;
      return true;
    }
    this.waitedLastTick = false;
    return false;
  }

  /** Hash newly confirmed frames, send their hashes, append their rows, detect the episode end. */
  processConfirmed(now) {
    const hashes = this.sync.collectConfirmedHashes();
    let byFrame = null;
    if (hashes.length > 0) {
      byFrame = new Map();
      for (const { frame, hash } of hashes) {
        byFrame.set(frame, hash);
        for (const m of this.desync.addLocal(frame, hash, this.episode, now)) this.recordDesync(m, now);
        // Re-simulating after a reload: the peers verified frames up to the old page's last
        // verified one already (the lost-hash requests fetch any other they lack).
        if (this.replay !== null && frame < this.replay.hashSendFrom) continue;
        for (const ep of this.endpoints.values()) {
          if (ep.active && ep.state !== PeerState.DONE) this.send(ep, { type: 'state_hash', frame, hash }, now);
        }
      }
    }
    const confirmed = this.sync.confirmedFrame();
    for (let f = this.lastRecordedFrame + 1; f <= confirmed; f++) {
      const h = byFrame !== null && byFrame.has(f) ? byFrame.get(f) : null;
      const report = this.sync.takeStepReport(f);
      const actions = this.sync.confirmedActions(f);
      // AI seats: the action their policy took in this confirmed step (the queue holds a placeholder).
      if (report !== null && report.aiActions) for (const [p, a] of report.aiActions) actions[p] = a;
      this.currentLog.append(f, actions, h, report);
    }
    if (confirmed > this.lastRecordedFrame) this.lastRecordedFrame = confirmed;
    this.inputLog.confirmThrough(confirmed, (f) => this.sync.stampOf(f));
    const doneAt = this.sync.doneAt;
    if (doneAt !== NO_FRAME && doneAt <= confirmed) {
      this.endEpisode(doneAt, now, false);
      return;
    }
    // A peer ended this episode at a frame we confirmed as not terminal: the simulations
    // diverged. End ours at our confirmed frame so neither side waits for the other forever.
    for (const ep of this.endpoints.values()) {
      const peerEnd = ep.endsReceived.get(this.episode);
      if (ep.active && peerEnd !== undefined && peerEnd <= confirmed && confirmed >= this.currentLog.startFrame) {
        this.sync.truncateAfter(confirmed);
        // Recorded even if the frames happen to be equal: our environment did not end there.
        this.crossCheckEnd(ep.peer, this.episode, null, peerEnd, now);
        this.endEpisode(confirmed, now, true);
        return;
      }
    }
  }

  endEpisode(frame, now, forced) {
    const log = this.currentLog;
    log.endFrame = frame;
    // forced: a peer's environment ended the episode where ours did not (the simulations diverged).
    log.endReason = forced ? 'desync' : this.sync.doneReason;
    log.seal();
    this.episodeEnds.set(this.episode, frame);
    this.emit('episode_end', { episode: this.episode, frame, forced });
    for (const ep of this.endpoints.values()) {
      const peerEnd = ep.endsReceived.get(this.episode);
      if (peerEnd !== undefined) this.crossCheckEnd(ep.peer, this.episode, frame, peerEnd, now);
    }
    const done = this.episode + 1;
    if (this.settings.maxEpisodes !== null && done >= this.settings.maxEpisodes) {
      this.finalFrame = frame;
      this.finish('completed', now, false);
      this.sendEpisodeMessages(now, true);
      return;
    }
    const next = this.episode + 1;
    // The environment keeps the episode's final (confirmed) state through the transition, so
    // the page shows it and a desync dump of the end frame is that state; it is reset when the
    // next episode starts. Every peer starts that episode at frame + 1.
    this.nextStartFrame = frame + 1;
    this.freezeLeft = this.settings.resetFreezeFrames;
    this.episodeStarts.set(next, frame + 1);
    this.readyEpisode = next;
    this.state = SessionState.TRANSITION;
    this.sendEpisodeMessages(now, true);
  }

  /**
   * Has `ep` started episode n? Proof: a later EPISODE_READY or any EPISODE_END of episode n or
   * later, or a hash of a frame after ITS end of episode n-1 (hashes of frames of episode n can
   * only exist once it started n; its own end frame is used because a desynced peer may end
   * n-1 at a different frame than we did).
   */
  peerStarted(ep, n) {
    if (ep.startedEpisode >= n) return true;
    // Episode 0: a peer sends INPUT and STATE_HASH only once it started the game.
    let yes = ep.readyEpisode > n || (n === 0 && (ep.gotInput || ep.highestHashFrame >= 0));
    if (!yes) for (const e of ep.endsReceived.keys()) if (e >= n) yes = true;
    if (!yes && ep.endsReceived.has(n - 1)) yes = ep.highestHashFrame > ep.endsReceived.get(n - 1);
    if (yes) ep.startedEpisode = n;
    return yes;
  }

  /** Every active peer's EPISODE_READY of the episode we are ready for (with its delay) is in.
   * A peer resends it until we prove we started that episode, so waiting for it never deadlocks. */
  allReady() {
    const n = this.readyEpisode;
    for (const ep of this.endpoints.values()) if (ep.active && !ep.delays.has(n)) return false;
    return true;
  }

  startNextEpisode(now) {
    this.sync.startEpisode(episodeSeed(this.sharedSeed, this.readyEpisode), this.nextStartFrame);
    this.beginEpisode(this.readyEpisode, this.nextStartFrame, now);
  }

  /** EPISODE_END (+ EPISODE_READY of the next episode) to peers that have not shown they have
   * started it, every resendMs; after the last episode, EPISODE_END alone until the peer's BYE. */
  sendEpisodeMessages(now, force) {
    const lastEnded = this.episodeEnds.size - 1;
    if (lastEnded < 0) {
      this.sendFirstReady(now, force);
      return;
    }
    const endFrame = this.episodeEnds.get(lastEnded);
    const final = this.state === SessionState.FINISHED;
    for (const ep of this.endpoints.values()) {
      if (!ep.active || ep.state === PeerState.DONE) continue;
      if (!final && this.peerStarted(ep, lastEnded + 1)) continue;
      if (!force && now - ep.lastEpisodeSent < this.settings.resendMs) continue;
      ep.lastEpisodeSent = now;
      this.send(ep, { type: 'episode_end', frame: endFrame, episode: lastEnded }, now);
      if (!final) this.send(ep, { type: 'episode_ready', episode: lastEnded + 1, inputDelay: this.inputDelay }, now);
    }
  }

  /** EPISODE_READY(0) to peers that have not shown they started the game, every resendMs. */
  sendFirstReady(now, force) {
    if (this.inputDelay === null) return;
    for (const ep of this.endpoints.values()) {
      if (!ep.active || ep.state === PeerState.DONE || this.peerStarted(ep, 0)) continue;
      if (!force && now - ep.lastEpisodeSent < this.settings.resendMs) continue;
      ep.lastEpisodeSent = now;
      this.send(ep, { type: 'episode_ready', episode: 0, inputDelay: this.inputDelay }, now);
    }
  }

  pollEpisodeMessages(now) {
    if (this.state === SessionState.FINISHED && this.finishReason !== 'completed') return;
    this.sendEpisodeMessages(now, false);
  }

  // ---------------------------------------------------------------- game over

  finish(reason, now, abnormal) {
    if (this.state === SessionState.FINISHED || this.state === SessionState.CLOSED) return;
    this.state = SessionState.FINISHED;
    this.finishReason = reason;
    this.finishedAt = now;
    this.abnormalEnd = abnormal;
    this.endedAtWall = this.wallClock();
    this.emit('game_over', { reason, frame: this.lastRecordedFrame, episode: this.episode });
  }

  /** After the game: resend our last inputs/hashes until every peer has them, exchange BYE(game
   * over), then close. Capped at disconnectTimeoutMs. */
  linger(now) {
    const s = this.settings;
    let allByes = true;
    for (const ep of this.endpoints.values()) {
      if (!ep.active) continue;
      const ready = this.abnormalEnd || this.peerHasEverything(ep);
      if (ready && now - ep.lastByeSent >= s.resendMs) {
        ep.lastByeSent = now;
        this.byeSentTo.add(ep.peer);
        this.send(ep, { type: 'bye', reason: this.finishBye }, now);
      }
      if (!this.byeSentTo.has(ep.peer) || !this.saidGameOver(ep)) allByes = false;
    }
    if (allByes) {
      // The peer may have lost every BYE we sent and would wait out its timeout: the last word
      // goes out FINAL_BYE_COPIES more times (all lost at 5% loss: about 1 in 8000).
      for (const ep of this.endpoints.values()) {
        if (!ep.active) continue;
        for (let i = 0; i < FINAL_BYE_COPIES; i++) this.send(ep, { type: 'bye', reason: this.finishBye }, now);
      }
      this.setClosed(now);
    } else if (now - this.finishedAt >= s.disconnectTimeoutMs) this.setClosed(now);
  }

  /** The peer's last word: BYE(game over), or the BYE of its exclusion. */
  saidGameOver(ep) {
    return ep.byeReceived === ByeReason.GAME_OVER || EXCLUDED_BYES.has(ep.byeReceived);
  }

  /** Past maxHiddenMs without a break: the local player is excluded (settings.hiddenPolicy). */
  checkHiddenLimit(now) {
    const limit = this.settings.maxHiddenMs;
    if (limit === null || !this.hiddenLog.hidden || this.hiddenLog.hiddenMs(now) < limit) return;
    this.exclude({ reason: 'hidden', policy: this.settings.hiddenPolicy });
  }

  /** The peer finished too (its EPISODE_END of the last episode), acked all our inputs of the
   * game, and we compared all its hashes of the game. */
  peerHasEverything(ep) {
    const last = this.finalFrame === null ? this.lastRecordedFrame : this.finalFrame;
    if (!ep.endsReceived.has(this.episode)) return false;
    if (ep.remoteAck < last) return false;
    const lastHashed = last - (last % this.settings.hashInterval);
    return this.desync.comparedThrough.get(ep.peer) >= lastHashed;
  }

  setClosed(now) {
    if (this.state === SessionState.CLOSED) return;
    this.state = SessionState.CLOSED;
    if (this.endedAtWall === null) this.endedAtWall = this.wallClock();
    this.emit('closed', { reason: this.finishReason });
  }

  // ---------------------------------------------------------------- rejoin after a reload
  // docs/rollback.md "Rejoining after a reload". A source answers a CATCHUP_REQUEST with a
  // snapshot of the game (a catch-up document) and sends it in chunks; the rejoiner picks the
  // source, takes the chunks, rebuilds the game from frame 0 (re-simulating confirmed frames
  // only, at most catchupBudgetMs per tick) and then plays live.

  /** A peer's new session (its page reloaded) asks for the game so far. */
  onCatchupRequest(ep, msg, now) {
    const s = this.state;
    // We cannot serve while we have no game ourselves (both pages reloaded), or after it closed.
    if (s === SessionState.CREATED || s === SessionState.CLOSED || this.catchingUp) {
      this.counters.ignoredMessages += 1;
      return;
    }
    if (ep.catchupNonce === msg.nonce) {
      const sender = this.serving.get(ep.peer);
      if (sender && sender.nonce === msg.nonce) this.sendOffer(ep, sender, now);
      return;
    }
    ep.newIncarnation(msg.nonce);
    this.connectionEvent(ep.peer, 'rejoined', now);
    const doc = this.buildCatchupDoc(ep.peer);
    const sender = new CatchupSender({ nonce: msg.nonce, bytes: encodeCatchupDoc(doc), createdAt: now });
    sender.known = doc.players[ep.peer].known;
    sender.confirmed = doc.confirmed;
    this.serving.set(ep.peer, sender);
    this.sendOffer(ep, sender, now);
    this.emit('catchup_serve', { peer_index: ep.peer, bytes: sender.size, frame: doc.confirmed });
  }

  sendOffer(ep, sender, now) {
    this.send(ep, { type: 'catchup_offer', nonce: sender.nonce, size: sender.size, known: sender.known, confirmed: sender.confirmed }, now);
  }

  /** The game so far as a catch-up document (protocol.js encodeCatchupDoc) for `peer`. */
  buildCatchupDoc(peer) {
    const n = this.numPlayers;
    const confirmed = this.lastRecordedFrame;
    const st = this.state;
    const state = st === SessionState.RUNNING ? 'running' : st === SessionState.TRANSITION ? 'transition'
      : st === SessionState.FINISHED ? 'finished' : 'pregame';
    const delaysOf = (episode) => {
      const out = new Array(n).fill(null);
      out[this.localPlayer] = this.inputDelay;
      for (const ep of this.endpoints.values()) if (ep.delays.has(episode)) out[ep.peer] = ep.delays.get(episode);
      return out;
    };
    const episodes = this.logs.map((log) => ({
      start: log.startFrame,
      end: log.endFrame === null ? -1 : log.endFrame,
      delays: (this.episodeDelays.get(log.episode) ?? delaysOf(log.episode)).slice(),
    }));
    // The episode we announced and have not started: between episodes, or before frame 0.
    let nextDelays = null;
    if (st === SessionState.TRANSITION) nextDelays = delaysOf(this.readyEpisode);
    else if (state === 'pregame') {
      const d = delaysOf(0);
      if (d.some((x) => x !== null)) nextDelays = d;
    }
    const players = [];
    for (let p = 0; p < n; p++) {
      const q = this.sync.queues[p];
      if (this.aiSeats.includes(p)) {
        // An AI seat has no inputs: its queue holds the default action from frame 1 in every
        // session (its actions come from the environment, so the re-simulation makes them again).
        players.push({ known: 0, defaultFrom: 1, actions: Int32Array.of(q.confirmed(0)) });
        continue;
      }
      const known = q.lastConfirmedFrame;
      const actions = new Int32Array(known + 1);
      // Confirmed frames come from the episode logs (the queues keep only the last 4096).
      for (const log of this.logs) {
        const last = Math.min(log.startFrame + log.count - 1, known);
        for (let f = log.startFrame; f <= last; f++) actions[f] = log.actions[(f - log.startFrame) * n + p];
      }
      for (let f = Math.max(0, confirmed + 1); f <= known; f++) actions[f] = q.confirmed(f);
      players.push({ known, defaultFrom: q.defaultFrom === null ? -1 : q.defaultFrom, actions });
    }
    const hi = this.settings.hashInterval;
    const hashes = [];
    for (const log of this.logs) {
      const last = log.startFrame + log.count - 1;
      for (let f = log.startFrame + ((hi - (log.startFrame % hi)) % hi); f <= Math.min(last, confirmed); f += hi) hashes.push(log.hashOf(f));
    }
    const verifiedThrough = [];
    for (let p = 0; p < n; p++) verifiedThrough.push(this.desync.verifiedThrough.get(p) ?? -1); // -1: us, an AI seat
    return {
      numPlayers: n, hashInterval: hi, state, confirmed, verified: this.desync.verifiedFrame(), verifiedThrough,
      episodes, nextDelays, players, hashes,
    };
  }

  /** Every tick: the source's chunks, the rejoiner's acknowledgements; old transfers dropped. */
  sendCatchup(now) {
    if (this.serving.size > 0) {
      const rto = Math.max(2 * this.maxRtt(), this.settings.resendMs);
      let budget = this.settings.catchupChunksPerTick;
      for (const [peer, sender] of this.serving) {
        const ep = this.endpoints.get(peer);
        if (!ep.active || sender.done || ep.catchupNonce !== sender.nonce || now - sender.createdAt > CATCHUP_KEEP_MS) {
          this.serving.delete(peer);
          continue;
        }
        for (const i of sender.due(now, rto, budget)) {
          this.send(ep, { type: 'catchup_chunk', nonce: sender.nonce, index: i, data: sender.chunk(i) }, now);
          sender.markSent(i, now);
          budget -= 1;
        }
      }
    }
    const c = this.catchup;
    if (c === null || c.source === null) return;
    const ep = this.endpoints.get(c.source);
    if (!ep.active) return;
    // Chunks in: say so (once per tick). Missing ones: say where we are every resendMs.
    if (this.catchupAckDue || (!c.complete && now - this.lastCatchupSent >= this.settings.resendMs)) {
      this.catchupAckDue = false;
      this.lastCatchupSent = now;
      this.send(ep, { type: 'catchup_ack', ...c.ack() }, now);
    }
  }

  sendCatchupRequests(now, force) {
    if (!force && now - this.lastCatchupSent < this.settings.resendMs) return;
    this.lastCatchupSent = now;
    for (const ep of this.endpoints.values()) {
      if (ep.active && !this.catchup.offers.has(ep.peer)) this.send(ep, { type: 'catchup_request', nonce: this.catchup.nonce }, now);
    }
  }

  /** The rejoiner before it has the document: ask, choose a source, wait for the chunks. */
  stepCatchup(now) {
    const c = this.catchup;
    const active = this.remainingPeers(-1);
    if (active.length === 0) {
      if (this.state === SessionState.CATCHUP) this.finish('disconnected', now, true);
      return;
    }
    if (c.source !== null && !active.includes(c.source)) {
      c.dropSource(); // the source is gone: take the document from another peer
      this.catchupSource = null;
    }
    if (c.source === null) {
      this.sendCatchupRequests(now, false);
      const source = c.choose(active);
      if (source === null) return;
      this.catchupSource = source;
      this.rejoinInfo.source = source;
      this.catchupAckDue = true; // our first ACK starts the transfer
    }
    if (c.complete) this.applyCatchup(now);
  }

  catchupFailed(now, message) {
    this.emit('error', { code: 'catchup_failed', message });
    this.finish('error', now, true);
  }

  /** The whole document is in: set the game up from it and start re-simulating from frame 0. */
  applyCatchup(now) {
    const c = this.catchup;
    const bytes = c.assemble();
    this.rejoinInfo.bytes = bytes.length;
    this.rejoinInfo.transfer_s = round3((now - this.rejoinStartedAt) / 1000);
    const r = decodeCatchupDoc(bytes);
    if (!r.ok) {
      this.catchupFailed(now, `the catch-up document from player ${c.source} does not decode: ${r.error.code} (${r.error.detail})`);
      return;
    }
    const doc = r.doc;
    if (doc.numPlayers !== this.numPlayers || doc.hashInterval !== this.settings.hashInterval) {
      this.catchupFailed(now, `the catch-up document from player ${c.source} is for ${doc.numPlayers} players and hash interval ${doc.hashInterval}`);
      return;
    }
    if (doc.state !== 'pregame' && doc.episodes.length === 0) {
      this.catchupFailed(now, `player ${c.source} has no game to rejoin (${doc.state}, no episode)`);
      return;
    }
    const me = this.localPlayer;
    doc.episodes.forEach((e, i) => this.episodeDelays.set(i, e.delays.slice()));
    const next = doc.episodes.length;
    for (const ep of this.endpoints.values()) {
      const p = ep.peer;
      ep.helloReceived = true; // it greeted our old page
      doc.episodes.forEach((e, i) => {
        if (e.delays[p] !== null) ep.delays.set(i, e.delays[p]);
        if (e.end >= 0) ep.endsReceived.set(i, e.end);
      });
      if (doc.nextDelays !== null && doc.nextDelays[p] !== null) ep.delays.set(next, doc.nextDelays[p]);
      for (const e of ep.delays.keys()) if (e > ep.readyEpisode) ep.readyEpisode = e;
      if (next > 0) ep.startedEpisode = next - 1;
      const pl = doc.players[p];
      if (pl.known >= 0) {
        ep.gotInput = true;
        if (pl.known > ep.remoteNewest) ep.remoteNewest = pl.known;
      }
      // The source has our inputs through what its document says: no need to send them again.
      if (p === c.source && doc.players[me].known > ep.remoteAck) ep.remoteAck = doc.players[me].known;
      if (pl.defaultFrom >= 0) {
        // Gone before we came back: its default action from the frame the others agreed on.
        ep.state = PeerState.DISCONNECTED;
        this.desync.deactivate(p);
        const ag = new DisconnectAgreement(p);
        ag.defaultFrom = pl.defaultFrom;
        this.agreements.set(p, ag);
        this.defaultActionFrom.set(p, pl.defaultFrom);
      }
    }
    const mine = doc.nextDelays?.[me] ?? doc.episodes.at(-1)?.delays[me] ?? null;
    if (doc.state === 'pregame') {
      // Nothing was played yet: the normal start, with our delay as the peers know it.
      this.presetDelay = mine;
      for (const ep of this.endpoints.values()) if (ep.delays.has(0)) this.prefillDelay(ep.peer, ep.delays.get(0));
      this.state = SessionState.HANDSHAKE;
      this.goLive(now);
      return;
    }
    if (mine === null) {
      this.catchupFailed(now, `the catch-up document from player ${c.source} does not say our input delay`);
      return;
    }
    this.inputDelay = mine;
    this.firstInputFrame = Math.max(1, mine);
    let target = Infinity;
    doc.players.forEach((pl, p) => { if (pl.defaultFrom < 0) target = Math.min(target, pl.known); });
    this.replay = {
      doc, target, fed: new Array(this.numPlayers).fill(0), defaulted: new Set(),
      hashSendFrom: doc.verifiedThrough[me] + 1, seeded: -1, frames: 0, startedAt: now,
    };
    this.beginEpisode(0, 0, now);
  }

  /** Re-simulate confirmed frames for at most catchupBudgetMs (and catchupFramesPerTick). */
  stepReplay(now) {
    const rp = this.replay;
    const s = this.settings;
    const deadline = now + s.catchupBudgetMs;
    let n = 0;
    while (n < s.catchupFramesPerTick) {
      if (this.state === SessionState.TRANSITION) {
        // Past episodes start at once (the reset freeze is for the eyes); an episode the
        // others have not announced yet is waited for live.
        this.freezeLeft = 0;
        if (!this.allReady()) break;
        this.startNextEpisode(now);
      }
      if (this.state !== SessionState.RUNNING) break;
      const f = this.sync.currentFrame;
      if (f > rp.target) break;
      this.feedReplay(f + 128);
      if (this.sync.confirmedInputFrame() < f) break; // cannot happen with a sound document
      this.seedReplayHashes(f, now);
      this.sync.advanceFrame();
      n += 1;
      this.processConfirmed(now);
      if ((n & 7) === 0 && this.now() >= deadline) break;
    }
    rp.frames += n;
    const st = this.state;
    const waiting = st === SessionState.TRANSITION && !this.allReady();
    if (st === SessionState.FINISHED || st === SessionState.CLOSED || waiting || this.sync.currentFrame > rp.target
      || (st === SessionState.RUNNING && this.sync.confirmedInputFrame() < this.sync.currentFrame)) {
      this.finishReplay(now);
    }
  }

  /** Inputs of the document into the queues, up to `upto` (the queues hold 4096 frames). */
  feedReplay(upto) {
    const rp = this.replay;
    rp.doc.players.forEach((pl, p) => {
      if (this.aiSeats.includes(p)) return; // set up by the constructor, as in every session
      const last = Math.min(pl.known, upto);
      for (let f = rp.fed[p] + 1; f <= last; f++) this.sync.addInput(p, f, pl.actions[f]);
      if (last > rp.fed[p]) rp.fed[p] = last;
      if (pl.defaultFrom >= 0 && rp.fed[p] === pl.known && !rp.defaulted.has(p)) {
        rp.defaulted.add(p);
        this.sync.setDefaultFrom(p, pl.defaultFrom);
      }
    });
  }

  /** The source's hash of every hashed frame up to `frame` (and, for a peer the source verified
   * them with, that peer's, since they are equal), compared as our re-simulation hashes them. */
  seedReplayHashes(frame, now) {
    const rp = this.replay;
    const doc = rp.doc;
    const hi = doc.hashInterval;
    const source = this.catchupSource;
    for (let g = rp.seeded + 1; g <= frame; g++) {
      rp.seeded = g;
      if (g % hi !== 0 || g > doc.confirmed) continue;
      const h = doc.hashes[g / hi];
      for (const ep of this.endpoints.values()) {
        if (!ep.active) continue;
        if (ep.peer === source || g <= doc.verifiedThrough[ep.peer]) this.desync.addRemote(ep.peer, g, h, now);
      }
    }
  }

  finishReplay(now) {
    const rp = this.replay;
    this.replay = null;
    this.rejoinInfo.frames = rp.frames;
    this.rejoinInfo.replay_s = round3((now - rp.startedAt) / 1000);
    this.goLive(now);
  }

  /** Caught up: from here the session plays like any other. */
  goLive(now) {
    const info = this.rejoinInfo;
    info.caught_up_at = isoTime(this.wallClock());
    info.frame = this.sync.currentFrame;
    for (const ep of this.endpoints.values()) ep.timeSync.clear();
    this.connectionEvent(this.catchupSource, 'rejoined', now);
    this.emit('rejoined', { ...info });
  }

  // ---------------------------------------------------------------- validation

  /**
   * Record a mismatch. Hashes can arrive out of order (a lost one is recovered later), so the
   * kept events are sorted by frame and the bounded lists keep the EARLIEST frames: the first
   * divergent frame always has its event and (budget permitting) its state dump.
   */
  recordDesync(m, now) {
    const ev = { frame: m.frame, episode: m.episode, local_hash: m.local_hash, peer_hash: m.peer_hash, peer_index: m.peer_index, time: isoTime(this.wallClock()), state: null };
    const list = this.desyncEvents;
    let i = list.length;
    while (i > 0 && (list[i - 1].frame > ev.frame || (list[i - 1].frame === ev.frame && list[i - 1].peer_index > ev.peer_index))) i -= 1;
    if (i >= this.settings.maxDesyncEvents) {
      this.emit('desync', ev);
      return;
    }
    list.splice(i, 0, ev);
    if (list.length > this.settings.maxDesyncEvents) {
      const dropped = list.pop();
      if (dropped.state !== null) this.stateDumps -= 1;
    }
    // One dump per frame is enough (every peer's event for that frame shares it).
    const sameFrame = list.find((d) => d.frame === ev.frame && d !== ev && d.state !== null);
    if (sameFrame) {
      ev.state = sameFrame.state;
    } else if (this.settings.maxStateDumps > 0) {
      if (this.stateDumps >= this.settings.maxStateDumps) {
        // Give the latest dumped frame's budget to this earlier frame.
        let victim = null;
        for (const d of list) if (d.state !== null && d.frame > ev.frame) victim = d;
        if (victim !== null) {
          const f = victim.frame;
          for (const d of list) if (d.frame === f) d.state = null;
          this.stateDumps -= 1;
        }
      }
      if (this.stateDumps < this.settings.maxStateDumps) {
        ev.state = this.sync.canonicalStateAt(m.frame);
        if (ev.state !== null) this.stateDumps += 1;
      }
    }
    this.emit('desync', ev);
  }

  prune() {
    const verified = this.desync.verifiedFrame();
    this.sync.prune(verified + 1, this.settings.maxUnverifiedStates);
    this.desync.prune(this.settings.pendingHashLimit);
  }

  // ---------------------------------------------------------------- record

  /** Telemetry for the export and the benchmark. */
  stats() {
    const c = this.counters;
    const rtts = [];
    for (const ep of this.endpoints.values()) for (const v of ep.rttSamples()) rtts.push(v);
    let samples = 0;
    for (const ep of this.endpoints.values()) samples += ep.rttCount;
    const ss = this.sync.stats;
    const ds = this.desync.stats;
    return {
      rtt_ms: { p50: round3(percentile(rtts, 0.5)), p95: round3(percentile(rtts, 0.95)), samples },
      rollbacks: ss.rollbacks,
      max_rollback_depth: ss.maxRollbackDepth,
      rollback_depth_histogram: histogramObject(ss.rollbackDepthHistogram),
      mispredicted_frames: ss.mispredictedFrames,
      stalled_frames: c.stalled,
      frames_simulated: ss.framesSimulated,
      bytes_sent: c.bytesSent,
      bytes_received: c.bytesReceived,
      messages_sent: c.messagesSent,
      messages_received: c.messagesReceived,
      decode_errors: c.decodeErrors,
      path: this.path,
      // Beyond the pinned export shape (kept by the record, dropped by the export builder):
      frames_advanced: this.framesAdvanced,
      stalled_at_terminal: c.stalledTerminal,
      timesync_wait_frames: c.timesyncWaits,
      local_input_latency_frames: this.latencyCount ? round3(this.latencySum / this.latencyCount) : null,
      local_input_latency_max_frames: this.latencyMax,
      input_delay: this.inputDelay,
      input_delay_rtt_ms: this.probeRttMs === null || !Number.isFinite(this.probeRttMs) ? null : round3(this.probeRttMs),
      send_errors: c.sendErrors,
      ignored_messages: c.ignoredMessages,
      invalid_messages: c.invalidMessages,
      hashes_compared: ds.compared,
      hash_mismatches: ds.mismatches,
      hashes_dropped: ds.hashesDropped,
      hash_requests_sent: ds.requestsSent,
      hash_answers_sent: ds.answersSent,
      snapshot_loads: ss.snapshotLoads,
      episode_end_mismatches: this.endMismatches.length,
      sent_by_type: JSON.parse(JSON.stringify(this.sentByType)),
      countdown_frames: this.settings.countdownFrames,
      countdown_held_frames: this.countdown === null ? 0 : this.countdown.held,
      hidden_s: this.hiddenLog.totalS(this.now()),
      hidden_intervals_dropped: this.hiddenLog.dropped,
      input_events_dropped: this.inputLog.dropped,
    };
  }

  /**
   * The JSON-able part of the validation export this session owns (the client adds schema,
   * ids and settings): episodes with confirmed rows, verified frame, desyncs, connection
   * events, stats, timing, plus `partial` (the game has not ended yet).
   */
  record() {
    const verified = this.desync.verifiedFrame();
    const episodes = this.logs.map((log) => {
      const last = log.lastFrame;
      let v = null;
      if (verified >= log.startFrame && last !== null) v = Math.min(verified, last);
      return {
        episode: log.episode,
        seed: log.seed,
        start_frame: log.startFrame,
        end_frame: log.endFrame,
        last_confirmed_frame: last,
        verified_frame: v,
        input_delays: (this.episodeDelays.get(log.episode) ?? []).slice(),
        frames: log.rows(),
        ...log.stepRecord(),
      };
    });
    const endWall = this.endedAtWall !== null ? this.endedAtWall : this.wallClock();
    const startWall = this.startedAtWall !== null ? this.startedAtWall : endWall;
    const durationS = Math.max(0, (endWall - startWall) / 1000);
    return {
      partial: this.finishReason === null,
      episodes,
      verified_frame: verified < 0 ? null : verified,
      desyncs: this.desyncEvents.map((d) => ({ ...d })),
      connection_events: this.connectionEvents.map((e) => ({ ...e })),
      stats: this.stats(),
      timing: {
        started_at: isoTime(startWall),
        ended_at: isoTime(endWall),
        duration_s: round3(durationS),
        fps_target: this.settings.fps,
        fps_achieved: durationS > 0 ? round3(this.framesAdvanced / durationS) : null,
      },
      game_over_reason: this.finishReason,
      episode_end_mismatches: this.endMismatches.map((e) => ({ ...e })),
      default_action_from: Object.fromEntries(Array.from(this.defaultActionFrom, ([p, f]) => [String(p), f])),
      hidden_intervals: this.hiddenLog.records(this.now()),
      inputs: this.inputLog.rows(),
      exclusion: this.exclusion === null ? null : { ...this.exclusion },
      rejoins: this.rejoinInfo === null ? [] : [{ ...this.rejoinInfo }],
    };
  }
}
