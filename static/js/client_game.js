// One P2P game in the participant's page: the transport (WebRTC mesh), the rollback session,
// the keyboard, the renderer and the HUD, wired together and ticking at the scene's fps.
// The participant flow (client_flow.js) creates it on game_ready and hears about it through
// the `hooks` it passes in; nothing here touches the DOM directly.
//
// The session is ticked by the frame clock (frame_clock.js: a Dedicated Worker's timer, which
// a hidden tab does not throttle) and drawn on requestAnimationFrame (which a hidden tab does
// not run): a participant who switches tabs keeps playing (the hidden action, see
// setHidden) at full rate, and the picture simply resumes at the current frame.

import { createTransport } from './transport.js';
import { createHostedPolicies } from './hosted_policy.js';
import { P2PSession } from './session.js';
import { ByeReason } from './protocol.js';
import { fromSnakeCase } from './settings.js';
import { createKeyboardInput } from './input.js';
import { createInputTiming } from './input_timing.js';
import { createRenderer, formatHud } from './renderer.js';
import { createFrameClock } from './frame_clock.js';

const MAX_TICKS_PER_WAKE = 4; // catch up after a late timer, but never spiral
const HUD_INTERVAL_MS = 500;
// How long a partner's environment may still be loading when our server-relay fallback starts.
const FALLBACK_LOAD_ALLOWANCE_MS = 60000;
// Tick statuses in which the session takes the local input (others drop unshown presses).
const TAKES_INPUT = new Set(['running', 'stalled', 'waiting']);

/** Session settings (settings.js names) from the scene's p2p block (activate_scene `p2p`). */
export function sessionSettings(p2p) {
  const p = p2p.settings.p2p;
  const v = p2p.settings.validation ?? {};
  const g = p2p.gameplay ?? {};
  const snake = {
    fps: p.fps,
    input_delay: p.input_delay,
    max_prediction_window: p.prediction_window,
    input_redundancy: p.input_redundancy,
    disconnect_notify_ms: p.disconnect_notify_ms,
    disconnect_timeout_ms: p.disconnect_timeout_ms,
    disconnect_policy: p.disconnect_policy,
    default_action: p.default_action ?? g.default_action,
    max_episodes: p.num_episodes ?? g.num_episodes ?? null,
    reset_freeze_frames: p.reset_freeze_frames,
    hash_interval: v.hash_interval,
    hidden_action: p.hidden_action ?? undefined,
    max_hidden_ms: p.max_hidden_s == null ? undefined : p.max_hidden_s * 1000,
    hidden_policy: p.hidden_policy,
  };
  // Over the server relay a session starts when OUR WebRTC attempt gives up, while the
  // partner may still be loading its environment (its own attempt starts only after that):
  // wait for its first message as long as its load and its own attempt may take.
  if (p.connection_fallback === 'server') {
    snake.handshake_timeout_ms = Math.max(p.disconnect_timeout_ms ?? 5000, (p.connection_timeout_s ?? 20) * 1000 + FALLBACK_LOAD_ALLOWANCE_MS);
  }
  // The 3-2-1 before frame 0, in ticks (a server without the setting: no countdown).
  if (Number.isFinite(p.countdown_s)) snake.countdown_frames = Math.floor(p.countdown_s * (p.fps ?? 30) + 0.5);
  // A reloading partner's seat is held reconnect_grace_s; then it has connection_timeout_s to
  // connect and ask to catch up. 0: the scene holds no seats, so a reload is leaving.
  const grace = p.reconnect_grace_s;
  if (typeof grace === 'number') snake.away_timeout_ms = grace <= 0 ? 0 : Math.round((grace + (p.connection_timeout_s ?? 20)) * 1000);
  // Interactive Gym ends an episode at max_steps; its default is effectively "never".
  if (Number.isInteger(g.max_steps) && g.max_steps >= 1 && g.max_steps <= 2 ** 31) snake.max_steps_per_episode = g.max_steps;
  if (v.state_dump_on_desync === false) snake.max_state_dumps = 0;
  const out = fromSnakeCase(snake);
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

/** transport.js impairment options from the scene's `impairment` block (or null). The
 * transport derives each link's own seed from `seed` (linkSeed), so both ends agree. */
export function transportImpairment(imp) {
  if (!imp) return null;
  return {
    seed: imp.seed ?? 0,
    delayMs: imp.delay_ms ?? 0,
    jitterMs: imp.jitter_ms ?? 0,
    loss: imp.loss ?? 0,
    duplicate: imp.duplicate ?? 0,
    reorder: imp.reorder ?? 0,
  };
}

const CANDIDATE_TYPES = new Set(['host', 'srflx', 'prflx', 'relay']);

/** The export's stats.path (and window.p2p.path) from a transport path. */
export function exportPath(path) {
  if (!path) return null;
  const proto = String(path.protocol ?? '').toLowerCase();
  return {
    kind: path.kind === 'relay' ? 'relay' : 'direct',
    // TLS to a TURN server still runs over TCP; the schema knows udp and tcp.
    protocol: proto === 'udp' ? 'udp' : (proto === 'tcp' || proto === 'tls') ? 'tcp' : null,
    local_candidate_type: CANDIDATE_TYPES.has(path.localCandidateType) ? path.localCandidateType : null,
    remote_candidate_type: CANDIDATE_TYPES.has(path.remoteCandidateType) ? path.remoteCandidateType : null,
  };
}

/**
 * The environment adapter for a game of `numPlayers` when the environment has more agents (a
 * waiting room's 'start_with_fewer'): player i still controls agent i, the agents past
 * numPlayers get the default action (the adapters pad step()'s actions). Twin of the Python
 * peer's env.with_players.
 */
export function withPlayers(env, numPlayers) {
  if (env.numPlayers === undefined || env.numPlayers === numPlayers) return env;
  if (numPlayers > env.numPlayers) {
    throw new RangeError(`a game of ${numPlayers} players cannot run an environment of ${env.numPlayers} agents`);
  }
  return new Proxy(env, { get: (target, key) => (key === 'numPlayers' ? numPlayers : Reflect.get(target, key)) });
}

/** The transport of a game with no other participant (its other seats are AI seats). */
function soloTransport() {
  return { peers: [], on() {}, start() {}, close() {}, send() {}, path: () => null };
}

/**
 * @param {object} o
 * @param {object} o.p2p            the scene's p2p block
 * @param {object} o.gameReady      the game_ready payload
 * @param {object} o.signaling      transport signaling object (client_signaling.js)
 * @param {object} o.hooks          {phase, message, failed, path, frame, hud, episodeEnd, episodeStart,
 *                                   connection, gameOver, ended, error, countdown, started, hidden,
 *                                   excluded, reconnecting, clock} (all optional)
 * @param {Function} [o.createCanvas]  (width, height) -> CanvasRenderingContext2D, or null for no drawing
 * @param {Function} [o.requestAnimationFrame]  redraws while a tween glides (default the page's)
 * @param {object} [o.keyboardTarget]  where keys are read (window)
 * @param {Function} [o.createClock]   frame_clock.js createFrameClock (tests inject their own)
 * @param {Function} [o.RTCPeerConnection], [o.now], [o.wallClock], [o.timers], [o.Worker]  injectable for tests
 *   (without any requestAnimationFrame, key-to-screen latency ends at the draw)
 * @param {boolean} [o.rejoin]  this page was reloaded mid-game (game_ready.rejoin): the session
 *   rebuilds the game from a peer's catch-up document before it plays (hooks `rejoin`
 *   {phase, received, total, frame, target} while it does, `rejoined` once it plays)
 */
export function createGame(o) {
  const { gameReady, signaling } = o;
  // game_ready's settings are the game's own: a condition may change some of the scene's.
  const p2p = gameReady?.settings ? { ...o.p2p, settings: gameReady.settings } : o.p2p;
  const hooks = o.hooks ?? {};
  const call = (name, ...args) => {
    try { hooks[name]?.(...args); } catch (err) { globalThis.console?.error?.(`client_game: hook ${name} threw`, err); }
  };
  const now = o.now ?? (() => globalThis.performance.now());
  const wallClock = o.wallClock ?? (() => Date.now());
  const settings = sessionSettings(p2p);
  const fps = settings.fps ?? 30;
  const period = 1000 / fps;
  const connectTimeoutMs = Math.round((p2p.settings.p2p.connection_timeout_s ?? 20) * 1000);
  const me = gameReady.player_index;
  // AI seats: no participant behind them, so no connection; every page's environment plays the
  // Python ones, and a hosted (ONNX) seat's host runs its model and sends its actions.
  const aiSeats = (gameReady.ai_seats ?? []).filter((a) => a.kind !== 'onnx').map((a) => a.player_index);
  const hostedSeats = (gameReady.ai_seats ?? []).filter((a) => a.kind === 'onnx')
    .map((a) => ({ seat: a.player_index, host: a.host, model: a.policy }));
  const humanPeers = [];
  for (let p = 0; p < gameReady.num_players; p++) {
    if (p !== me && !aiSeats.includes(p) && !hostedSeats.some((h) => h.seat === p)) humanPeers.push(p);
  }
  let hostedPolicies = null; // the models of the seats this page hosts, once loaded
  // A game whose other seats are all AI seats has nobody to connect to: it runs in this page alone.
  const solo = humanPeers.length === 0;

  const transport = solo ? soloTransport() : createTransport({
    selfIndex: me,
    peers: humanPeers,
    numPlayers: gameReady.num_players,
    signaling,
    iceServers: gameReady.ice_servers ?? [],
    iceTransportPolicy: gameReady.ice_transport_policy ?? p2p.settings.p2p.ice_transport_policy ?? 'all',
    connectTimeoutMs,
    impairment: transportImpairment(gameReady.settings?.impairment ?? p2p.settings.impairment),
    RTCPeerConnection: o.RTCPeerConnection,
    now: o.now,
    timers: o.timers,
  });

  let env = null;
  let session = null;
  let input = null;
  let timing = null; // key-to-screen latency (input_timing.js), with a keyboard
  let renderer = null;
  let animationPending = false;
  // Drawing happens on animation frames: a hidden page runs none, so it draws nothing.
  const raf = o.requestAnimationFrame ?? globalThis.requestAnimationFrame?.bind(globalThis) ?? null;
  let clock = null;
  let nextTickAt = 0;
  let hiddenNow = false; // told before the session exists: applied when it does
  let drawPending = false;
  let clearBeforeDraw = false; // the next draw starts from a cleared canvas (a rejoined game)
  let reconnectS = null;
  let lastHudAt = -Infinity;
  let sessionStarted = false;
  let connectFailed = false;
  let ended = false;
  let path = null;
  const opened = new Set();

  // Connection fallback (scene setting connection_fallback 'server'): when no WebRTC path
  // opens in time, game messages go through the server's Socket.IO relay instead.
  const serverFallback = p2p.settings.p2p.connection_fallback === 'server' && typeof signaling.relay === 'function';
  let viaServer = false;
  if (serverFallback) signaling.onrelay = (peer, bytes) => session?.receive(peer, bytes);

  transport.on('message', ({ peer, data }) => session?.receive(peer, data));
  transport.on('open', ({ peer }) => {
    opened.add(peer);
    if (opened.size === transport.peers.length) startSession();
  });
  transport.on('path', ({ path: p }) => {
    path = exportPath(p);
    session?.setPath(path);
    call('path', path, p);
  });
  transport.on('error', (err) => {
    if (!sessionStarted && !connectFailed && (err.code === 'connect_timeout' || err.code === 'ice_failed')) {
      if (serverFallback && session) {
        useServerRelay(err);
        return;
      }
      connectFailed = true;
      stopLoop();
      transport.close();
      call('failed', err);
      return;
    }
    call('error', err);
  });

  function useServerRelay(err) {
    if (viaServer) return;
    viaServer = true;
    transport.close();
    // Socket.IO runs over TCP (WebSocket or long polling) between each browser and the server.
    path = { kind: 'fallback', protocol: 'tcp', local_candidate_type: null, remote_candidate_type: null };
    session.setPath(path);
    call('fallback', err);
    call('path', path, null);
    startSession();
  }

  function startSession() {
    if (sessionStarted || ended || !session) return;
    sessionStarted = true;
    session.start();
    call('phase', 'playing');
    nextTickAt = now();
    clock = (o.createClock ?? createFrameClock)({
      periodMs: period, onTick: loop, Worker: o.Worker, timers: o.timers,
      onFallback: (reason) => call('error', { code: 'clock_fallback', message: reason }),
    });
    clock.start();
    call('clock', { kind: clock.kind, fallbackReason: clock.fallbackReason });
  }

  /** A frame advanced: draw at the next animation frame (none while the page is hidden;
   * without requestAnimationFrame, e.g. in node, at once). */
  function scheduleDraw() {
    if (drawPending || !renderer) return;
    // The environment holds the newest simulated frame whenever we draw: that is what is shown.
    if (!raf) {
      drawFrame(session.currentFrame - 1);
      return;
    }
    drawPending = true;
    raf(() => {
      drawPending = false;
      if (!ended) drawFrame(session.currentFrame - 1);
    });
  }

  /** The longest grace left (whole seconds) among partners being reconnected, or null. */
  function reconnectSeconds() {
    let left = null;
    for (const pi of session.peerInfo()) {
      if (pi.grace_left_ms === null) continue;
      const sLeft = Math.ceil(pi.grace_left_ms / 1000);
      if (left === null || sLeft > left) left = sLeft;
    }
    return left;
  }

  /** One wake of the frame clock: run the ticks that are due (the clock may be late). */
  function loop() {
    if (ended) return;
    const t = now();
    let advanced = false;
    let last = null;
    if (session.catchingUp) {
      // Rebuilding the game after a reload: one budgeted slice of re-simulation per wake, and
      // ask the frame clock to wake us again at once (between slices the page still draws and
      // the network runs; the worker clock answers at full speed in a hidden tab too).
      last = session.tick(settings.defaultAction ?? 0);
      timing?.dropPending();
      nextTickAt = t + period;
      if (ended) return;
      if (session.catchingUp) call('rejoin', session.catchupProgress()); // else `rejoined` came
      call('frame', {
        frame: last.frame, confirmedFrame: session.confirmedFrame, verifiedFrame: session.verifiedFrame,
        episode: last.episode, status: last.status, render: renderStats(),
      });
      clock.wake();
      return;
    }
    for (let n = 0; n < MAX_TICKS_PER_WAKE && t >= nextTickAt; n++) {
      last = session.tick(input ? input.sample() : settings.defaultAction ?? 0);
      if (timing) {
        // Presses before the game or across an episode reset are not input latency.
        if (TAKES_INPUT.has(last.status)) timing.sampled(last.inputFrame, input.consumedPress);
        else timing.dropPending();
      }
      if (last.advanced) advanced = true;
      nextTickAt += period;
      if (ended) return;
    }
    // Seats we host: infer from the newest simulated frame (the result is taken at a later tick).
    if (hostedPolicies !== null && advanced) hostedPolicies.step(env, session);
    // A long stall (a busy main thread): do not replay the backlog in a burst.
    if (t - nextTickAt > period * MAX_TICKS_PER_WAKE) nextTickAt = t;
    if (advanced) scheduleDraw();
    const r = reconnectSeconds();
    if (r !== reconnectS) {
      reconnectS = r;
      call('reconnecting', r);
    }
    if (last) {
      call('frame', {
        frame: last.frame, confirmedFrame: session.confirmedFrame, verifiedFrame: session.verifiedFrame,
        episode: last.episode, status: last.status, render: renderStats(),
      });
    }
    if (t - lastHudAt >= HUD_INTERVAL_MS && !hiddenNow) {
      lastHudAt = t;
      call('hud', formatHud(hudValues()));
    }
  }

  /** Draw what the environment holds now (the newest simulated frame). */
  /** Draw the env's state; `frame`: the game frame it shows (null: a reset state), which the
   * key-to-screen timing needs to know which presses are now on the canvas. */
  function drawFrame(frame = null) {
    if (!renderer || typeof env.render !== 'function') return;
    try {
      if (clearBeforeDraw) renderer.clear();
      clearBeforeDraw = false;
      renderer.draw(env.render());
      if (frame !== null) {
        timing?.drawn(frame, now());
        // The input log: this frame is what the participant sees from now on.
        session?.noteDisplayed(frame, now());
      }
    } catch (err) {
      call('error', { code: 'render', message: String(err?.message ?? err) });
    }
    animate();
  }

  // Tweens glide between simulated frames: redraw on animation frames while one moves.
  function animate() {
    if (animationPending || !raf || ended || !renderer?.animating) return;
    animationPending = true;
    raf(() => {
      animationPending = false;
      if (ended || !renderer) return;
      renderer.render();
      animate();
    });
  }

  function renderStats() {
    if (!renderer) return null;
    const st = renderer.stats;
    return { frames: st.frames, drawn: st.drawn, skipped: st.skipped, lastSkipReason: st.lastSkipReason, animating: renderer.animating };
  }

  function hudValues() {
    let ping = null;
    for (const pi of session.peerInfo()) if (Number.isFinite(pi.rtt_ms) && (ping === null || pi.rtt_ms > ping)) ping = pi.rtt_ms;
    return { pingMs: ping === null ? NaN : ping, rollbacks: session.sync?.stats?.rollbacks ?? 0, path };
  }

  function stopLoop() {
    clock?.stop();
  }

  function finish() {
    if (ended) return;
    ended = true;
    stopLoop();
    input?.detach();
    const record = withInputTiming(session.record());
    transport.close();
    call('ended', { record, reason: record.game_over_reason });
  }

  /** The record with this page's key-to-screen latency in its stats (only a page measures it). */
  function withInputTiming(record) {
    if (timing) record.stats.key_to_screen_ms = timing.summary();
    return record;
  }

  // A rejoining page connects while its environment loads: the partners are in the game and
  // wait for it (their sessions do not time out a peer whose page went away), and the reload's
  // critical path is then the environment alone. A new game connects only once the environment
  // is ready, so a slow loader never lets a partner's handshake time out.
  if (o.rejoin) transport.start();

  const api = {
    transport,
    get session() { return session; },
    get path() { return path; },
    get started() { return sessionStarted; },
    get ended() { return ended; },
    get renderer() { return renderer; },
    /** Key-to-screen latency of this player's presses (input_timing.js), or null without a keyboard. */
    get inputTiming() { return timing; },
    /** 'worker' | 'timer' | null (not ticking yet): what drives the session. */
    get clockKind() { return clock?.kind ?? null; },
    /** The page went to the background (true) or came back (false): see P2PSession.setHidden.
     * Returns the session's hidden event payload (null if nothing changed or no session yet). */
    setHidden(hidden) {
      hiddenNow = Boolean(hidden);
      const ev = session ? session.setHidden(hiddenNow) : null;
      // Back in front: draw the current frame at once (nothing was drawn while hidden).
      if (!hiddenNow && sessionStarted && !ended) scheduleDraw();
      return ev;
    },
    /** Environment ready: create the session and start connecting. */
    begin(readyEnv) {
      if (env || connectFailed) return;
      env = readyEnv;
      // Interactive Gym draws the state right after each reset (an env may list its permanent
      // objects only then) on a cleared canvas: the session resets the env only there.
      const simEnv = Object.create(env);
      simEnv.reset = (seed) => {
        const out = env.reset(seed);
        // Re-simulating after a reload: nothing is shown until the game is back (the session
        // resets the env once while it is being created, before `session` is set).
        if (!(session ? session.catchingUp : o.rejoin === true)) {
          renderer?.clear();
          drawFrame();
        }
        return out;
      };
      session = new P2PSession({
        env: withPlayers(simEnv, gameReady.num_players), transport: { send: (peer, bytes) => (viaServer ? signaling.relay(peer, bytes) : transport.send(peer, bytes)) },
        localPlayer: me, numPlayers: gameReady.num_players, sharedSeed: gameReady.seed >>> 0, aiSeats,
        hostedSeats: hostedSeats.map(({ seat, host }) => ({ seat, host })),
        settings, now: o.now, wallClock: o.wallClock, path, rejoin: o.rejoin === true,
      });
      const mine = hostedSeats.filter((h) => h.host === me);
      if (mine.length > 0 && typeof env.observation !== 'function') {
        call('error', { code: 'hosted_policy', message: 'hosted seats need the Pyodide environment (its observations feed the model)' });
      } else if (mine.length > 0) {
        // Until its model is loaded a hosted seat plays the default action (the session's start).
        const models = p2p.env?.onnx_models ?? {};
        createHostedPolicies({ seats: mine.map((h) => ({ seat: h.seat, modelUrl: models[h.model] })), ortUrl: o.onnxruntimeUrl })
          .then((policies) => { hostedPolicies = policies; call('hostedReady', policies); })
          .catch((err) => call('error', { code: 'hosted_policy', message: String(err?.message ?? err) }));
      }
      session.on('episode_start', (ev) => { if (!session.catchingUp) call('episodeStart', ev); });
      session.on('episode_end', (ev) => {
        if (session.catchingUp) return;
        // The env holds the episode's final confirmed frame until the next one starts (and
        // through the reset freeze): show that, not the last predicted frame drawn.
        drawFrame(ev.frame);
        call('episodeEnd', ev);
      });
      session.on('rejoined', (ev) => {
        // Back in the game: show where it is now on a fresh canvas (objects live across frames),
        // at the next animation frame like every other frame (none while the tab is hidden).
        clearBeforeDraw = true;
        scheduleDraw();
        call('rejoined', ev);
      });
      session.on('connection', (ev) => call('connection', ev));
      session.on('default_action', (ev) => call('defaultAction', ev));
      session.on('desync', (ev) => call('desync', ev));
      session.on('error', (ev) => call('error', ev));
      session.on('game_over', (ev) => call('gameOver', ev));
      session.on('countdown', (ev) => call('countdown', ev));
      session.on('started', (ev) => call('started', ev));
      session.on('hidden', (ev) => call('hidden', ev));
      session.on('excluded', (ev) => call('excluded', ev));
      if (hiddenNow) session.setHidden(true);
      // The session lingers after game over (final inputs, hashes, BYEs): the export waits
      // for it to close so the verified frame is final.
      session.on('closed', () => finish());
      const g = p2p.gameplay ?? {};
      if (p2p.gameplay?.action_mapping) {
        const inputMode = g.input_mode ?? 'pressed_keys';
        timing = createInputTiming({ inputMode, now, requestFrame: raf });
        input = createKeyboardInput({
          actionMapping: g.action_mapping, defaultAction: settings.defaultAction ?? 0, inputMode, timing,
          // Key times for the input log: the event's own time, its wall clock from the same offset.
          onKey: (key, down, ts) => {
            const t = Number.isFinite(ts) ? ts : now();
            session?.noteKey(key, down, t, wallClock() - (now() - t));
          },
        });
        if (o.keyboardTarget) input.attach(o.keyboardTarget);
      }
      const r = p2p.rendering ?? {};
      const ctx = o.createCanvas ? o.createCanvas(r.game_width ?? 600, r.game_height ?? 400) : null;
      if (ctx) {
        renderer = createRenderer(ctx, {
          width: r.game_width ?? 600, height: r.game_height ?? 400, background: r.background ?? '#FFFFFF',
          locationRepresentation: r.location_representation ?? 'relative',
          textures: env.textures ?? new Map(),
        });
        // Interactive Gym's state_init: what the canvas shows before the first frame.
        renderer.draw(Array.isArray(r.state_init) ? r.state_init : []);
      }
      if (solo) {
        // No connection at all: the export's stats.path says so (kind 'local').
        path = { kind: 'local', protocol: null, local_candidate_type: null, remote_candidate_type: null };
        session.setPath(path);
        call('path', path, null);
        startSession();
        return;
      }
      call('phase', 'peer_connecting');
      if (o.rejoin) {
        // The connection was made while the environment loaded (below): start if it is open.
        if (opened.size === transport.peers.length) startSession();
      } else transport.start();
    },
    /** The server says a peer's page went away with its seat held (`peer_interrupted`). */
    peerInterrupted(peer) {
      if (sessionStarted && !ended) session.peerAway(peer);
    },
    /** The server says a peer came back with a new page (`peer_rejoined`): a new connection. */
    peerRejoined(peer) {
      if (!ended && !viaServer) transport.reconnect(peer);
    },
    /** The server says a peer's seat is gone for good (`peer_left`). */
    peerLeft(peer) {
      if (sessionStarted && !ended) session.peerGone(peer);
    },
    /** The page is going away but keeps its seat (a reload): BYE(away) to the peers, so they
     * wait for the new page. Returns the record as abandon() does. */
    leaveForReload() {
      return api.abandon(ByeReason.AWAY);
    },
    /** Inferences per seat this page hosts ({seat: {runs, failed}}), or null (none hosted / not loaded). */
    get hosted() {
      return hostedPolicies === null ? null : hostedPolicies.stats();
    },
    /** Participant leaves (page closing, scene left): BYE to the peers; returns the record
     * (partial unless the game was already over) or null when no session ran. */
    abandon(reason = ByeReason.LEFT) {
      // Nothing was played before the session started: no record to send.
      if (!session || ended || !sessionStarted) {
        ended = true;
        input?.detach();
        stopLoop();
        transport.close();
        return null;
      }
      // Record first: after close() the session counts the game as over (not partial).
      const record = withInputTiming(session.record());
      ended = true; // so the 'closed' event of close() does not report a normal end
      session.close(reason);
      stopLoop();
      input?.detach();
      transport.close();
      return record;
    },
  };
  return api;
}
