// One P2P game in the participant's page. The rollback session and the environment run in the
// game worker (game_worker.js, game_core.js); the page keeps what only a page can do: the
// transport (WebRTC DataChannels cannot move to a worker, so their bytes are relayed to and
// from it, buffers transferred), the keyboard (key events go to the worker, stamped with
// their own time), the canvas (the worker posts each shown frame's render state; the page
// draws the newest on requestAnimationFrame) and the HUD. The participant flow
// (client_flow.js) creates it on game_ready and hears about it through the `hooks` it passes
// in; nothing here touches the DOM directly.
//
// The worker's own timers tick the session: a hidden tab throttles neither them nor the
// messages between worker and page, so a participant who switches tabs keeps playing (the
// hidden action, see setHidden) at full rate, and the picture simply resumes at the current
// frame (a hidden page runs no animation frames and the worker sends no render states).

import { createTransport } from './transport.js';
import { ByeReason, encode } from './protocol.js';
import { createKeyboardInput } from './input.js';
import { createInputTiming } from './input_timing.js';
import { createRenderer, formatHud } from './renderer.js';
import { exportPath, sessionSettings, transportImpairment } from './game_settings.js';
import { ToPage, ToWorker, bytesMessage, sessionFromView, toAbsolute } from './game_worker_contract.js';

export { exportPath, sessionSettings, transportImpairment, withPlayers } from './game_settings.js';

const STOPPED = new Set(['finished', 'closed']);
// How long abandon() waits for the worker's record before taking the one it last posted.
const ABANDON_WAIT_MS = 3000;
// What the page knows of the session before the worker's first STATUS.
const EMPTY_VIEW = Object.freeze({
  peers: [], currentFrame: 0, confirmedFrame: -1, verifiedFrame: -1, episode: 0, state: 'created', path: null,
  rollbacks: 0, maxRollbackDepth: 0, mispredictedFrames: 0, stalled: 0, mismatches: 0, firstDesyncFrame: null,
  hidden: false, hiddenS: 0, hud: null,
});

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
 *                                   excluded, reconnecting, clock, rejoin, rejoined, hosted} (all optional)
 * @param {Function} [o.createCanvas]  (width, height) -> CanvasRenderingContext2D, or null for no drawing
 * @param {Function} [o.requestAnimationFrame]  draws and redraws while a tween glides (default the page's)
 * @param {object} [o.keyboardTarget]  where keys are read (window)
 * @param {Function} [o.RTCPeerConnection], [o.now], [o.wallClock], [o.timers]  injectable for tests
 *   (without any requestAnimationFrame, frames are drawn as they come and key-to-screen
 *   latency ends at the draw)
 * @param {boolean} [o.rejoin]  this page was reloaded mid-game (game_ready.rejoin): the session
 *   rebuilds the game from a peer's catch-up document before it plays (hooks `rejoin`
 *   {phase, received, total, frame, target} while it does, `rejoined` once it plays)
 * begin(env) takes the handle game_worker_client.js's loadEnv resolves to ({worker, envId, textures}).
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
  const abs = (t) => toAbsolute(t);
  const settings = sessionSettings(p2p);
  const connectTimeoutMs = Math.round((p2p.settings.p2p.connection_timeout_s ?? 20) * 1000);
  const me = gameReady.player_index;
  // AI seats (Python ones and hosted ONNX ones): no participant behind them, so no connection.
  const aiSeats = (gameReady.ai_seats ?? []).map((a) => a.player_index);
  const humanPeers = [];
  for (let p = 0; p < gameReady.num_players; p++) if (p !== me && !aiSeats.includes(p)) humanPeers.push(p);
  // Inferences of the seats this page hosts ({seat: {runs, failed, decisions}}), added up from
  // the worker's news; one object, changed in place (window.p2p.hosted is this object).
  let hosted = null;
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

  let handle = null; // the environment in the worker (begin)
  let worker = null;
  let offWorker = null;
  let input = null; // the keyboard (its mapping decides which keys are the game's)
  let timing = null; // key-to-screen latency (input_timing.js), with a keyboard
  let keySeq = 0;
  let renderer = null;
  let animationPending = false;
  // Drawing happens on animation frames: a hidden page runs none, so it draws nothing.
  const raf = o.requestAnimationFrame ?? globalThis.requestAnimationFrame?.bind(globalThis) ?? null;
  let pendingDraw = null; // {frame, state}: the newest frame's render state, drawn at the next animation frame
  let drawRequested = false;
  let hiddenNow = false; // told before the game begins: sent with BEGIN
  let hiddenSince = null;
  let clearBeforeDraw = false; // the next draw starts from a cleared canvas (a rejoined game)
  let view = null; // the worker's latest STATUS
  let recordJson = null; // the worker's latest RECORD (what a closing page sends)
  let sessionStarted = false;
  let connectFailed = false;
  let ended = false;
  let path = null;
  let nextAbandonId = 1;
  const abandons = new Map(); // id -> resolve
  const opened = new Set();

  const post = (msg, transfer) => worker?.post(msg, transfer);
  const toWorker = (peer, data) => {
    if (!worker || ended) return;
    const [m, tr] = bytesMessage(ToWorker.NET, peer, data);
    post(m, tr);
  };

  // Connection fallback (scene setting connection_fallback 'server'): when no WebRTC path
  // opens in time, game messages go through the server's Socket.IO relay instead.
  const serverFallback = p2p.settings.p2p.connection_fallback === 'server' && typeof signaling.relay === 'function';
  let viaServer = false;
  if (serverFallback) signaling.onrelay = (peer, bytes) => toWorker(peer, bytes);

  transport.on('message', ({ peer, data }) => toWorker(peer, data));
  transport.on('open', ({ peer }) => {
    opened.add(peer);
    if (opened.size === transport.peers.length) startSession();
  });
  transport.on('path', ({ path: p }) => {
    path = exportPath(p);
    post({ type: ToWorker.PATH, path });
    call('path', path, p);
  });
  transport.on('error', (err) => {
    if (!sessionStarted && !connectFailed && (err.code === 'connect_timeout' || err.code === 'ice_failed')) {
      if (serverFallback && handle) {
        useServerRelay(err);
        return;
      }
      connectFailed = true;
      stop();
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
    post({ type: ToWorker.PATH, path });
    call('fallback', err);
    call('path', path, null);
    startSession();
  }

  function startSession() {
    if (sessionStarted || ended || !handle) return;
    sessionStarted = true;
    post({ type: ToWorker.START, path });
    call('phase', 'playing');
    call('clock', { kind: 'worker', fallbackReason: null });
  }

  /** Bytes the worker's session sends to a peer. */
  function send(peer, data) {
    if (viaServer) signaling.relay(peer, data);
    else transport.send(peer, data);
  }

  // ------------------------------------------------------------ drawing

  function onRender(m) {
    if (!renderer) return;
    if (m.reset) {
      // A reset's state: on a cleared canvas, at once (an env may list permanent objects only then).
      pendingDraw = null;
      renderer.clear();
      draw(m.state, null);
      return;
    }
    pendingDraw = { frame: m.frame, state: m.state };
    if (!raf) {
      flushDraw();
      return;
    }
    if (drawRequested) return;
    drawRequested = true;
    raf(() => {
      drawRequested = false;
      if (!ended) flushDraw();
    });
  }

  function flushDraw() {
    const d = pendingDraw;
    pendingDraw = null;
    if (d) draw(d.state, d.frame);
  }

  /** Draw a render state; `frame`: the game frame it shows (null: a reset state), which the
   * key-to-screen timing and the input log need to know which presses are now on the canvas. */
  function draw(state, frame) {
    try {
      if (clearBeforeDraw) renderer.clear();
      clearBeforeDraw = false;
      renderer.draw(state);
      if (frame !== null && frame !== undefined) {
        const t = now();
        timing?.drawn(frame, t);
        // The input log: this frame is what the participant sees from now on.
        post({ type: ToWorker.DISPLAYED, frame, t: abs(t) });
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

  // ------------------------------------------------------------ the worker's messages

  function onTick(m) {
    if (m.hosted) addHosted(m.hosted);
    if (timing) {
      for (const [inputFrame, consumed, takes] of m.samples) {
        // Presses before the game or across an episode reset are not input latency.
        if (takes) timing.sampled(inputFrame, consumed, m.keySeq);
        else timing.dropPending();
      }
    }
    call('frame', {
      frame: m.frame, confirmedFrame: m.confirmedFrame, verifiedFrame: m.verifiedFrame,
      episode: m.episode, status: m.status, render: renderStats(),
    });
  }

  /** The worker's news of the hosted seats (only what changed since its last TICK). */
  function addHosted(news) {
    hosted ??= {};
    for (const [seat, n] of Object.entries(news)) {
      const h = (hosted[seat] ??= { runs: 0, failed: null, decisions: [] });
      h.runs = n.runs;
      h.failed = n.failed;
      for (const d of n.decisions) h.decisions.push(d);
    }
    call('hosted', hosted);
  }

  const onMessage = {
    [ToPage.SEND]: (m) => send(m.peer, m.data),
    [ToPage.TICK]: (m) => { if (!ended) onTick(m); },
    [ToPage.RENDER]: (m) => { if (!ended) onRender(m); },
    [ToPage.EVENT]: (m) => {
      if (m.name === 'episodeEnd' && renderer) flushDraw(); // the episode's last frame, drawn now
      // Back in the game after a reload: its first picture goes on a fresh canvas (objects live
      // across frames; the canvas still shows state_init).
      if (m.name === 'rejoined') clearBeforeDraw = true;
      call(m.name, m.payload);
    },
    [ToPage.STATUS]: (m) => {
      view = m.view;
      if (!hiddenNow && m.view.hud) {
        call('hud', formatHud({ pingMs: m.view.hud.pingMs ?? NaN, rollbacks: m.view.hud.rollbacks, path }));
      }
    },
    [ToPage.RECORD]: (m) => { recordJson = m.json; },
    [ToPage.ABANDONED]: (m) => {
      if (m.hosted) addHosted(m.hosted);
      const resolve = abandons.get(m.id);
      abandons.delete(m.id);
      resolve?.(m.record ? withInputTiming(m.record) : null);
    },
    [ToPage.ENDED]: (m) => {
      if (m.hosted) addHosted(m.hosted);
      finish(m.record);
    },
    [ToPage.FAILED]: (m) => call('error', { code: m.code, message: m.message }),
  };

  function stop() {
    offWorker?.();
    offWorker = null;
    input?.detach();
  }

  function finish(record) {
    if (ended) return;
    ended = true;
    stop();
    transport.close();
    const rec = withInputTiming(record);
    call('ended', { record: rec, reason: rec.game_over_reason });
  }

  // A rejoining page connects while its environment loads: the partners are in the game and
  // wait for it (their sessions do not time out a peer whose page went away), and the reload's
  // critical path is then the environment alone. A new game connects only once the environment
  // is ready, so a slow loader never lets a partner's handshake time out.
  if (o.rejoin && !solo) transport.start();

  /** The record with this page's key-to-screen latency in its stats (only a page measures it). */
  function withInputTiming(record) {
    if (timing && record?.stats) record.stats.key_to_screen_ms = timing.summary();
    return record;
  }

  /** Nothing was played: end without a record. */
  function endUnplayed() {
    ended = true;
    post({ type: ToWorker.ABANDON, id: 0, reason: null });
    stop();
    transport.close();
  }

  const api = {
    transport,
    /** What the page knows of the session (telemetry.js reads it; `exclude` reaches the
     * worker's session), or null before the game begins. */
    get session() {
      if (!handle) return null;
      return sessionFromView(view ?? EMPTY_VIEW, ({ reason = 'excluded', policy = 'end' } = {}) => {
        if (!sessionStarted || ended || STOPPED.has((view ?? EMPTY_VIEW).state)) return false;
        post({ type: ToWorker.EXCLUDE, reason: String(reason), policy });
        return true;
      });
    },
    get path() { return path; },
    /** Inferences per seat this page hosts ({seat: {runs, failed}}), or null (none hosted / not loaded). */
    get hosted() { return hosted; },
    get started() { return sessionStarted; },
    get ended() { return ended; },
    get renderer() { return renderer; },
    /** Key-to-screen latency of this player's presses (input_timing.js), or null without a keyboard. */
    get inputTiming() { return timing; },
    /** 'worker' (the game worker's timers tick the session) or null (not ticking yet). */
    get clockKind() { return sessionStarted ? 'worker' : null; },
    /** The page went to the background (true) or came back (false): see P2PSession.setHidden.
     * Returns {hidden, duration_s} (null if nothing changed or the game has not begun). */
    setHidden(hidden) {
      const h = Boolean(hidden);
      if (h === hiddenNow) return null;
      hiddenNow = h;
      const t = now();
      let durationS = 0;
      if (h) hiddenSince = t;
      else if (hiddenSince !== null) {
        durationS = Math.round(t - hiddenSince) / 1000;
        hiddenSince = null;
      }
      if (!handle || ended) return null;
      post({ type: ToWorker.HIDDEN, hidden: h });
      return { hidden: h, duration_s: durationS };
    },
    /** Environment ready (its handle in the game worker): create the session and start connecting. */
    begin(envHandle) {
      if (handle || connectFailed) return;
      handle = envHandle;
      worker = envHandle.worker;
      offWorker = worker.on((m) => onMessage[m.type]?.(m));
      const g = p2p.gameplay ?? {};
      const keyboard = g.action_mapping
        ? { actionMapping: g.action_mapping, inputMode: g.input_mode ?? 'pressed_keys' } : null;
      const here = globalThis.location?.href ?? null;
      post({
        type: ToWorker.BEGIN, envId: envHandle.envId, p2p: o.p2p, gameReady, keyboard, hidden: hiddenNow, rejoin: o.rejoin === true,
        onnxruntimeUrl: o.onnxruntimeUrl && here ? new URL(o.onnxruntimeUrl, here).href : o.onnxruntimeUrl ?? null,
        baseUrl: here,
      });
      if (keyboard) {
        timing = createInputTiming({ inputMode: keyboard.inputMode, now, requestFrame: raf });
        // The page's keyboard decides which keys are the game's (and keeps them from scrolling
        // the page); the worker's copy of it, fed these events in order, is what the session samples.
        const keyTiming = { keyDown: (key, t) => timing.keyDown(key, t, keySeq + 1), keyUp: (key) => timing.keyUp(key) };
        input = createKeyboardInput({
          actionMapping: keyboard.actionMapping, defaultAction: settings.defaultAction ?? 0, inputMode: keyboard.inputMode,
          timing: keyTiming,
          onKey: (key, down, ts) => {
            const t = Number.isFinite(ts) ? ts : now();
            keySeq += 1;
            post({ type: ToWorker.KEY, key, down, t: abs(t), wall: wallClock() - (now() - t), seq: keySeq });
          },
        });
        if (o.keyboardTarget) {
          input.attach(o.keyboardTarget);
          o.keyboardTarget.addEventListener?.('blur', onBlur);
        }
      }
      const r = p2p.rendering ?? {};
      const ctx = o.createCanvas ? o.createCanvas(r.game_width ?? 600, r.game_height ?? 400) : null;
      if (ctx) {
        renderer = createRenderer(ctx, {
          width: r.game_width ?? 600, height: r.game_height ?? 400, background: r.background ?? '#FFFFFF',
          locationRepresentation: r.location_representation ?? 'relative',
          textures: envHandle.textures ?? new Map(),
        });
        // Interactive Gym's state_init: what the canvas shows before the first frame.
        renderer.draw(Array.isArray(r.state_init) ? r.state_init : []);
      }
      if (solo) {
        // No connection at all: the export's stats.path says so (kind 'local').
        path = { kind: 'local', protocol: null, local_candidate_type: null, remote_candidate_type: null };
        call('path', path, null);
        startSession();
        return;
      }
      call('phase', 'peer_connecting');
      if (o.rejoin) {
        // The connection was made while the environment loaded (above): start if it is open.
        if (opened.size === transport.peers.length) startSession();
      } else transport.start();
    },
    /** The server says a peer's page went away with its seat held (`peer_interrupted`). */
    peerInterrupted(peer) {
      if (sessionStarted && !ended) post({ type: ToWorker.PEER, peer, what: 'away' });
    },
    /** The server says a peer came back with a new page (`peer_rejoined`): a new connection. */
    peerRejoined(peer) {
      if (!ended && !viaServer && !solo) transport.reconnect(peer);
    },
    /** The server says a peer's seat is gone for good (`peer_left`). */
    peerLeft(peer) {
      if (sessionStarted && !ended) post({ type: ToWorker.PEER, peer, what: 'gone' });
    },
    /** The page is going away but keeps its seat (a reload, `pagehide`): BYE(away) to the peers,
     * so they wait for the new page. Returns the record as abandonNow() does. */
    leaveForReload() {
      return api.abandonNow(ByeReason.AWAY);
    },
    /** Participant leaves (scene left, game ended by the server): BYE to the peers; resolves to
     * the record (partial unless the game was already over), or null when no session ran. */
    abandon(reason = null) {
      if (!handle || ended || !sessionStarted) {
        if (!ended) endUnplayed();
        return Promise.resolve(null);
      }
      ended = true; // late ticks and the 'closed' of the worker's close() are not a normal end
      const id = nextAbandonId++;
      const done = new Promise((resolve) => abandons.set(id, resolve));
      post({ type: ToWorker.ABANDON, id, reason });
      input?.detach();
      // A worker that never answers (it failed) must not hold the participant up: after
      // ABANDON_WAIT_MS the record it last posted stands in.
      const timers = o.timers ?? globalThis;
      let waitTimer = null;
      const waited = new Promise((resolve) => { waitTimer = timers.setTimeout(() => resolve(lastRecord()), ABANDON_WAIT_MS); });
      // The worker's BYEs come before its answer (one ordered port): send them, then close.
      return Promise.race([done, waited]).then((record) => {
        timers.clearTimeout(waitTimer);
        stop();
        transport.close();
        return record;
      });
    },
    /**
     * The page is closing (pagehide): no time to ask the worker. BYE to the peers from here, and
     * the record as the worker last sent it (at most a second old), or null.
     */
    abandonNow(reason = ByeReason.LEFT) {
      if (!handle || ended || !sessionStarted) {
        if (!ended) endUnplayed();
        return null;
      }
      ended = true;
      const bye = encode({ type: 'bye', reason });
      for (const peer of humanPeers) {
        try { send(peer, bye.slice()); } catch { /* a closing channel */ }
      }
      post({ type: ToWorker.ABANDON, id: 0, reason });
      stop();
      transport.close();
      return lastRecord();
    },
  };

  /** The record the worker last posted (with this page's key-to-screen timing), or null. */
  function lastRecord() {
    return recordJson === null ? null : withInputTiming(JSON.parse(recordJson));
  }

  function onBlur() {
    post({ type: ToWorker.BLUR });
  }

  return api;
}
