// The game as the worker runs it (game_worker.js): the environments it loaded, and one game at
// a time: the rollback session (session.js) over an environment, ticked by this thread's own
// timers at the scene's fps, its local input sampled from the keys the page forwards, and
// every frame's render state, session event and outgoing message posted to the page
// (game_worker_contract.js). The page keeps the DataChannels, the keyboard, the canvas and
// the DOM. No DOM here; node tests drive it through `handle` and a `post` callback.
//
// A Dedicated Worker's timers are not throttled in a hidden tab, so this loop keeps its pace
// there too (docs/client.md, "The game worker").

import { P2PSession } from './session.js';
import { createKeyboardInput } from './input.js';
import { createHostedPolicies } from './hosted_policy.js';
import { sessionSettings, withPlayers } from './game_settings.js';
import { ToPage, ToWorker, bytesMessage, checkMessage, fromAbsolute, plainError, statusView } from './game_worker_contract.js';

const MAX_TICKS_PER_WAKE = 4; // catch up after a late timer, but never spiral
const STATUS_INTERVAL_MS = 500;
// A rejoin's catch-up: while the document comes in, the loop wakes this often (each wake
// acknowledges the chunks that arrived); while it re-simulates, at once after each budgeted
// slice. Its progress and ticks go to the page at most this often (the page's main thread
// also carries the DataChannels: a flood of messages would slow the transfer down).
const CATCHUP_POLL_MS = 4;
const CATCHUP_REPORT_MS = 50;
// The record the page keeps for a closing tab (RECORD): renewed whenever the confirmed or
// verified frame moved, but its building may take at most 1/RECORD_DUTY of the worker's time
// (a long game's record takes milliseconds), and at least once a second.
const RECORD_MAX_AGE_MS = 1000;
const RECORD_DUTY = 20;
// Tick statuses in which the session takes the local input (others drop unshown presses).
const TAKES_INPUT = new Set(['running', 'stalled', 'waiting']);

/**
 * @param {object} o
 * @param {(msg: object, transfer?: Transferable[]) => void} o.post   to the page
 * @param {(p2p: object) => Promise<object>} [o.loadEnv]   env_loader.js createEnvLoader(...)
 * @param {() => number} [o.now]        this thread's performance.now()
 * @param {() => number} [o.wallClock]  epoch ms
 * @param {object} [o.timers]           {setTimeout, clearTimeout}
 * @param {number} [o.timeOrigin]       this thread's performance.timeOrigin (absolute times)
 * @param {(fn: Function) => void} [o.immediate]  run fn on a task of its own as soon as possible
 *   (a rejoin's catch-up slices, back to back); default a 0 ms timer of `timers`
 */
export function createGameCore(o) {
  const post = o.post;
  const now = o.now ?? (() => globalThis.performance.now());
  const wallClock = o.wallClock ?? (() => Date.now());
  const timers = o.timers ?? { setTimeout: globalThis.setTimeout.bind(globalThis), clearTimeout: globalThis.clearTimeout.bind(globalThis) };
  const timeOrigin = o.timeOrigin ?? globalThis.performance?.timeOrigin ?? 0;
  const immediate = o.immediate ?? ((fn) => timers.setTimeout(fn, 0));
  const envs = new Map(); // load id -> adapter
  let loadEnv = o.loadEnv ?? null;
  let game = null;

  function fail(code, err) {
    post({ type: ToPage.FAILED, code, message: String(err?.message ?? err) });
  }

  const handlers = {
    [ToWorker.CONFIG]: (m) => { if (!loadEnv && o.makeLoader) loadEnv = o.makeLoader(m.config); },
    [ToWorker.LOAD]: (m) => {
      Promise.resolve()
        .then(() => {
          if (!loadEnv) throw new Error('the game worker has no environment loader (no config yet)');
          return loadEnv(m.p2p);
        })
        .then((env) => {
          envs.set(m.id, env);
          // What this worker fetched so far (Pyodide's files, ...): the page's own Resource Timing
          // does not see a worker's requests.
          const resources = (globalThis.performance?.getEntriesByType?.('resource') ?? []).map((e) => e.name);
          post({ type: ToPage.LOADED, id: m.id, numPlayers: Number.isInteger(env.numPlayers) ? env.numPlayers : null, resources });
        }, (err) => post({ type: ToPage.LOAD_FAILED, id: m.id, error: plainError(err) }));
    },
    [ToWorker.DESTROY_ENV]: (m) => {
      const env = envs.get(m.id);
      envs.delete(m.id);
      if (game?.env === env && game.active) {
        game.destroyEnvAtEnd = true; // still playing on it
        return;
      }
      try { env?.destroy?.(); } catch { /* the interpreter may be gone */ }
    },
    [ToWorker.BEGIN]: (m) => {
      game?.stop();
      const env = envs.get(m.envId);
      if (!env) {
        fail('begin', `no environment ${m.envId} in the game worker`);
        return;
      }
      try {
        game = createWorkerGame({ ...m, env, post, now, wallClock, timers, timeOrigin, immediate });
      } catch (err) {
        game = null;
        fail('begin', err);
      }
    },
  };

  return {
    /** One message from the page. Malformed ones are reported (FAILED) and dropped. */
    handle(msg) {
      const bad = checkMessage('worker', msg);
      if (bad) {
        fail('bad_message', bad);
        return;
      }
      const h = handlers[msg.type];
      try {
        if (h) h(msg);
        else game?.handle(msg);
      } catch (err) {
        fail(msg.type, err);
      }
    },
    /** The environment of a load (tests), or undefined. */
    env(id) { return envs.get(id); },
    /** Register an environment under an id as if LOAD had made it (tests, in-process use). */
    addEnv(id, env) { envs.set(id, env); },
    get game() { return game; },
  };
}

/** One game in the worker (BEGIN .. ENDED/ABANDONED). */
function createWorkerGame(o) {
  const { post, now, wallClock, timers, timeOrigin, immediate, gameReady } = o;
  const rejoin = o.rejoin === true;
  const p2p = gameReady?.settings ? { ...o.p2p, settings: gameReady.settings } : o.p2p;
  const env = o.env;
  const settings = sessionSettings(p2p);
  const fps = settings.fps ?? 30;
  const period = 1000 / fps;
  const me = gameReady.player_index;
  // AI seats: every peer's environment plays the Python ones; a hosted (ONNX) seat's host runs
  // its model here and sends its actions (docs/ai.md).
  const aiSeats = (gameReady.ai_seats ?? []).filter((a) => a.kind !== 'onnx').map((a) => a.player_index);
  const hostedSeats = (gameReady.ai_seats ?? []).filter((a) => a.kind === 'onnx')
    .map((a) => ({ seat: a.player_index, host: a.host, model: a.policy }));
  let hostedPolicies = null; // the models of the seats this page hosts, once loaded
  const hostedSent = new Map(); // seat -> {runs, failed, decisions}: what the page was told (TICK.hosted)
  const defaultAction = settings.defaultAction ?? 0;
  let hidden = o.hidden;
  let ended = false;
  let started = false;
  let timer = null;
  let wakeAtOnce = false; // a rejoin's catch-up: the next wake follows at once, not at a frame deadline
  let pendingImmediate = null; // the token of that wake
  let lastCatchupReportAt = -Infinity;
  let nextTickAt = 0;
  let lastStatusAt = -Infinity;
  let lastRecordAt = -Infinity;
  let lastRecordCost = 0;
  let lastRecordVerified = null;
  let lastRecordConfirmed = null;
  let reconnectS = null;
  let keySeq = 0; // KEY messages applied: the page times presses up to this one to a sample

  const input = o.keyboard
    ? createKeyboardInput({ actionMapping: o.keyboard.actionMapping, defaultAction, inputMode: o.keyboard.inputMode })
    : null;

  /** The state the environment holds now, for the page's canvas. */
  function postRender(frame, reset = false) {
    if (typeof env.render !== 'function') return;
    let state;
    try {
      state = env.render();
    } catch (err) {
      event('error', { code: 'render', message: String(err?.message ?? err) });
      return;
    }
    post({ type: ToPage.RENDER, frame, state, reset });
  }

  function event(name, payload = null) {
    post({ type: ToPage.EVENT, name, payload });
  }

  // Interactive Gym draws the state right after each reset (an env may list its permanent
  // objects only then) on a cleared canvas: the page does that for a RENDER with reset.
  const simEnv = Object.create(env);
  // Re-simulating after a reload shows nothing until the game is back (the session resets the
  // env once while it is being created, before `session` is set).
  simEnv.reset = (seed) => {
    const out = env.reset(seed);
    if (!(session ? session.catchingUp : rejoin)) postRender(null, true);
    return out;
  };
  const session = new P2PSession({
    env: withPlayers(simEnv, gameReady.num_players),
    transport: { send: (peer, bytes) => { const [m, tr] = bytesMessage(ToPage.SEND, peer, bytes); post(m, tr); } },
    localPlayer: me, numPlayers: gameReady.num_players, sharedSeed: gameReady.seed >>> 0, aiSeats,
    hostedSeats: hostedSeats.map(({ seat, host }) => ({ seat, host })),
    settings, now, wallClock, path: null, rejoin,
  });
  const mine = hostedSeats.filter((h) => h.host === me);
  if (mine.length > 0 && typeof env.observation !== 'function') {
    event('error', { code: 'hosted_policy', message: 'hosted seats need the Pyodide environment (its observations feed the model)' });
  } else if (mine.length > 0) {
    // Until its model is loaded a hosted seat plays the default action (the session's start).
    const models = p2p.env?.onnx_models ?? {};
    const url = (u) => (typeof u === 'string' && o.baseUrl ? new URL(u, o.baseUrl).href : u);
    createHostedPolicies({ seats: mine.map((h) => ({ seat: h.seat, modelUrl: url(models[h.model]) })), ortUrl: o.onnxruntimeUrl })
      .then((policies) => {
        if (ended) { policies.close().catch(() => {}); return; }
        hostedPolicies = policies;
        event('hostedReady', policies.stats());
      })
      .catch((err) => event('error', { code: 'hosted_policy', message: String(err?.message ?? err) }));
  }
  const forward = {
    connection: 'connection', default_action: 'defaultAction', desync: 'desync',
    error: 'error', game_over: 'gameOver', countdown: 'countdown', started: 'started', hidden: 'hidden', excluded: 'excluded',
  };
  for (const [name, hook] of Object.entries(forward)) session.on(name, (ev) => event(hook, ev));
  // A rejoining session's re-simulated episodes are not news to the page.
  session.on('episode_start', (ev) => { if (!session.catchingUp) event('episodeStart', ev); });
  session.on('rejoined', (ev) => {
    // Back in the game: the page shows where it is now on a cleared canvas (it clears at the
    // first draw after this event); a hidden page gets the picture when it is back in front.
    event('rejoined', ev);
    if (!hidden) postRender(session.currentFrame - 1);
  });
  session.on('episode_end', (ev) => {
    if (session.catchingUp) return;
    // The env holds the episode's final confirmed frame until the next one starts (and
    // through the reset freeze): show that, not the last predicted frame drawn.
    postRender(ev.frame);
    event('episodeEnd', ev);
  });
  // The session lingers after game over (final inputs, hashes, BYEs): the export waits for it
  // to close so the verified frame is final.
  session.on('closed', () => {
    if (ended) return;
    ended = true;
    stopTimer();
    // The last inferences may have landed in the tick that ended the game (no TICK after it).
    post({ type: ToPage.ENDED, record: session.record(), hosted: hostedNews() });
  });
  if (hidden) session.setHidden(true);

  function stopTimer() {
    pendingImmediate = null;
    if (timer !== null) timers.clearTimeout(timer);
    timer = null;
    // The page let go of the environment while the game still ran on it: free it now.
    if (ended && api.destroyEnvAtEnd) {
      api.destroyEnvAtEnd = false;
      try { env.destroy?.(); } catch { /* the interpreter may be gone */ }
    }
  }

  function schedule() {
    if (ended) return;
    if (wakeAtOnce) {
      wakeAtOnce = false;
      // `immediate` has no cancel: a stop in between drops the token.
      const token = {};
      pendingImmediate = token;
      immediate(() => {
        if (pendingImmediate !== token) return;
        pendingImmediate = null;
        wake();
      });
      return;
    }
    timer = timers.setTimeout(wake, Math.max(0, nextTickAt - now()));
  }

  /** A wake of the timer. An exception (the environment's step threw, ...) is reported to
   * the page, and the loop goes on (as a page's frame clock did). */
  function wake() {
    timer = null;
    try {
      loop();
    } catch (err) {
      event('error', { code: 'uncaught', message: String(err?.message ?? err) });
    }
    schedule();
  }

  /** What changed in the hosted seats' inferences since the last TICK: {seat: {runs, failed,
   * decisions: the new [observation, action] pairs}}, or null when nothing did. The page adds
   * them up (no per-tick copy of a log that grows to 2000 pairs). */
  function hostedNews() {
    if (hostedPolicies === null) return null;
    let news = null;
    for (const [seat, st] of Object.entries(hostedPolicies.stats())) {
      const sent = hostedSent.get(seat) ?? { runs: 0, failed: null, decisions: 0 };
      if (st.runs === sent.runs && st.failed === sent.failed && st.decisions.length === sent.decisions) continue;
      news ??= {};
      news[seat] = { runs: st.runs, failed: st.failed, decisions: st.decisions.slice(sent.decisions) };
      hostedSent.set(seat, { runs: st.runs, failed: st.failed, decisions: st.decisions.length });
    }
    return news;
  }

  function reconnectSeconds() {
    let left = null;
    for (const pi of session.peerInfo()) {
      if (pi.grace_left_ms === null || pi.grace_left_ms === undefined) continue;
      const sLeft = Math.ceil(pi.grace_left_ms / 1000);
      if (left === null || sLeft > left) left = sLeft;
    }
    return left;
  }

  function hudValues() {
    let ping = null;
    for (const pi of session.peerInfo()) if (Number.isFinite(pi.rtt_ms) && (ping === null || pi.rtt_ms > ping)) ping = pi.rtt_ms;
    return { pingMs: ping, rollbacks: session.sync?.stats?.rollbacks ?? 0 };
  }

  /** One wake: run the ticks that are due (the timer may be late). */
  function loop() {
    if (ended) return;
    const t = now();
    let advanced = false;
    let last = null;
    const samples = [];
    const catchingUp = session.catchingUp;
    if (catchingUp) {
      // Rebuilding the game after a reload: one budgeted slice of re-simulation per wake
      // (settings catchupBudgetMs / catchupFramesPerTick), and the next wake at once: between
      // slices the worker reads the peers' messages. A worker's wake-ups are not throttled in a
      // hidden tab, so a tab that reloaded in the background catches up at full speed too.
      last = session.tick(defaultAction);
      samples.push([-1, false, false]); // no local input is taken while catching up
      nextTickAt = t + (session.state === 'catchup' ? CATCHUP_POLL_MS : period);
      if (ended) return;
      if (session.catchingUp) {
        wakeAtOnce = session.state !== 'catchup'; // re-simulating: the next slice at once
        if (t - lastCatchupReportAt < CATCHUP_REPORT_MS) last = null; // nothing for the page this time
        else {
          lastCatchupReportAt = t;
          event('rejoin', session.catchupProgress());
        }
      } // else `rejoined` came
    } else {
      for (let n = 0; n < MAX_TICKS_PER_WAKE && t >= nextTickAt; n++) {
        last = session.tick(input ? input.sample() : defaultAction);
        // [frame the local input went to (-1: not taken), a queued press consumed, the status takes input]
        samples.push([last.inputFrame, input ? input.consumedPress : false, TAKES_INPUT.has(last.status)]);
        if (last.advanced) advanced = true;
        nextTickAt += period;
        if (ended) return;
      }
      // Seats we host: infer from the newest simulated frame (the result is taken at a later tick).
      if (hostedPolicies !== null && advanced) hostedPolicies.step(env, session);
      // A long stall: do not replay the backlog in a burst.
      if (t - nextTickAt > period * MAX_TICKS_PER_WAKE) nextTickAt = t;
      // A hidden page draws nothing: no render state while hidden (one is sent when it is back).
      if (advanced && !hidden) postRender(session.currentFrame - 1);
    }
    const r = reconnectSeconds();
    if (r !== reconnectS) {
      reconnectS = r;
      event('reconnecting', r);
    }
    // Before the TICK: once the page sees a frame confirmed, the record it holds has it too.
    const age = t - lastRecordAt;
    // A rejoining session's record is not what a closing page sends (nothing is, before it is back).
    if (!catchingUp && age >= RECORD_DUTY * lastRecordCost && (age >= RECORD_MAX_AGE_MS || session.confirmedFrame !== lastRecordConfirmed || session.verifiedFrame !== lastRecordVerified)) {
      lastRecordAt = t;
      lastRecordVerified = session.verifiedFrame;
      lastRecordConfirmed = session.confirmedFrame;
      const t0 = now();
      const json = JSON.stringify(session.record());
      lastRecordCost = now() - t0;
      post({ type: ToPage.RECORD, json });
    }
    if (last) {
      post({
        type: ToPage.TICK, frame: last.frame, confirmedFrame: session.confirmedFrame, verifiedFrame: session.verifiedFrame,
        episode: last.episode, status: last.status, samples, keySeq, hosted: hostedNews(),
      });
    }
    if (t - lastStatusAt >= STATUS_INTERVAL_MS) {
      lastStatusAt = t;
      post({ type: ToPage.STATUS, view: statusView(session, hudValues()) });
    }
  }

  function start(path) {
    if (started || ended) return;
    started = true;
    if (path) session.setPath(path);
    session.start();
    nextTickAt = now();
    wake();
  }

  const handlers = {
    [ToWorker.START]: (m) => start(m.path),
    [ToWorker.NET]: (m) => session.receive(m.peer, m.data),
    [ToWorker.PATH]: (m) => session.setPath(m.path),
    [ToWorker.KEY]: (m) => {
      keySeq = m.seq;
      if (!input) return;
      if (m.down) input.keyDown(m.key);
      else input.keyUp(m.key);
      session.noteKey(m.key, m.down, fromAbsolute(m.t, timeOrigin), m.wall);
    },
    [ToWorker.BLUR]: () => input?.releaseAll(),
    [ToWorker.HIDDEN]: (m) => {
      hidden = m.hidden;
      session.setHidden(hidden);
      // Back in front: the page draws the current frame at once.
      if (!hidden && started && !ended && !session.catchingUp) postRender(session.currentFrame - 1);
    },
    [ToWorker.DISPLAYED]: (m) => session.noteDisplayed(m.frame, fromAbsolute(m.t, timeOrigin)),
    [ToWorker.EXCLUDE]: (m) => {
      try {
        session.exclude({ reason: m.reason, policy: m.policy });
      } catch (err) {
        event('error', { code: 'exclude', message: String(err?.message ?? err) });
      }
    },
    [ToWorker.PEER]: (m) => {
      if (!started || ended) return;
      if (m.what === 'away' && typeof session.peerAway === 'function') session.peerAway(m.peer);
      else if (m.what === 'gone' && typeof session.peerGone === 'function') session.peerGone(m.peer);
    },
    [ToWorker.ABANDON]: (m) => {
      // Nothing was played before the session started: no record.
      if (ended || !started) {
        ended = true;
        stopTimer();
        post({ type: ToPage.ABANDONED, id: m.id, record: null });
        return;
      }
      // Record first: after close() the session counts the game as over (not partial).
      const record = session.record();
      ended = true; // so the 'closed' event of close() does not report a normal end
      if (m.reason === null || m.reason === undefined) session.close();
      else session.close(m.reason);
      stopTimer();
      post({ type: ToPage.ABANDONED, id: m.id, record, hosted: hostedNews() });
    },
  };

  const api = {
    env,
    session,
    destroyEnvAtEnd: false,
    get active() { return !ended; },
    handle(m) {
      const h = handlers[m.type];
      if (h) h(m);
    },
    stop() {
      ended = true;
      stopTimer();
    },
  };
  return api;
}
