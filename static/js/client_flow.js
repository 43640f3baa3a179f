// The participant flow: Socket.IO events in, screens and one P2P game at a time out.
//
//   `/`    activate_scene -> static scene (header, body, Continue) or P2P scene
//   `/p2p` join -> waiting ... -> game_ready -> (client_game.js) connect, play, game over
//          -> export upload -> finished -> Continue
//   every other way out -> (export upload) -> the outcome page (client_outcome.js): the page
//          reports the outcome (`study_outcome`) or the server decides it (`study_end`)
//
// Everything the page needs is injected (sockets, the screens, the environment loader, the
// game factory, the uploader, timers), so node tests drive it with fakes. The diagnostic
// object `diag` (window.p2p in the page, Contract A in docs/client.md) is updated in place.

import { createGame as defaultCreateGame } from './client_game.js';
import { createSocketSignaling, createEarlySignals } from './client_signaling.js';
import { runProbe as defaultRunProbe } from './client_probe.js';
import { gameExport, uploadStatus, sendPartialExport } from './client_export.js';
import { createOutcomes } from './client_outcome.js';
import { runScreening as defaultRunScreening } from './screening.js';
import { createPlayChecks } from './play_checks.js';
import { uploadExport as defaultUploadExport } from './validation.js';
import { createReporter } from './telemetry.js';
import { loadResumeNote, saveResumeNote, dropResumeNote, mergeResumed } from './client_resume.js';

export const PHASES = Object.freeze([
  'connecting', 'scene', 'loading', 'waiting', 'peer_connecting', 'rejoining', 'playing', 'episode_transition',
  'uploading', 'done', 'partner_left', 'error', 'ended',
]);

const NOTICE_MS = 10000; // how long the "you were away" banner stays

const MAX_MESSAGES = 200;

/** What a participant reads when the game's environment cannot load (never the raw error). */
export const ENV_LOAD_MESSAGE = 'The game could not be loaded in your browser, so it cannot take place. '
  + 'Please let the experimenter know.';

/** What a participant whose browser cannot start the game worker reads (game_worker_client.js). */
export const WORKER_UNSUPPORTED_MESSAGE = 'Your browser cannot run this game (it does not support module Web Workers). '
  + 'Please open the study link again in a current version of Chrome, Edge, Firefox or Safari.';

/** The page's sessionStorage, or null where there is none (or it is refused). */
function defaultStorage() {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null; // storage disabled by the browser's settings
  }
}

/** Participant-facing text of a rejoin's progress (catchupProgress of the session). */
export function rejoinText(p) {
  if (!p || p.phase === 'connecting') return 'Rejoining your game... connecting to your partner.';
  if (p.phase === 'transfer') {
    const pct = p.total > 0 ? Math.floor((100 * p.received) / p.total) : 0;
    return `Rejoining your game... receiving the game so far (${pct} %).`;
  }
  if (p.phase === 'replay') {
    const pct = p.target > 0 && Number.isFinite(p.target) ? Math.min(100, Math.floor((100 * Math.max(0, p.frame + 1)) / (p.target + 1))) : 0;
    return `Rejoining your game... catching up (${pct} %).`;
  }
  return 'You are back in the game.';
}

/** A fresh window.p2p object (Contract A). */
export function createDiag() {
  return {
    phase: 'connecting',
    sceneId: null,
    sceneType: null,
    gameId: null,
    playerIndex: null,
    numPlayers: null,
    path: null,
    frame: null,
    confirmedFrame: null,
    verifiedFrame: null,
    episode: null,
    upload: { status: 'idle', attempts: 0, error: null },
    gameOver: null,
    endedBy: null, // 'researcher' when the research console ended the game
    render: null, // {frames, drawn, skipped, lastSkipReason, animating} of the game's renderer
    clock: null, // 'worker' | 'timer': what drives the game loop
    countdown: null, // seconds shown in the start countdown, 0 once the game runs
    hidden: false, // the page is hidden (as the game was told)
    reconnecting: null, // seconds of grace left while a partner's connection is being restored
    excluded: null, // {reason, policy, frame, time} when this participant was excluded
    preload: null, // {status: loading|ready|failed|used|discarded, ms?, error?}: the early environment load
    times: { partner_found: null, countdown: null, first_frame: null }, // epoch ms of this game's start-up
    rejoin: null, // after a reload mid-game: {phase, received, total, frame, target} while the game is rebuilt
    messages: [],
    errors: [],
    outcome: null,
    recruitment: {},
    screening: null,
    hosted: null, // {seat: {runs, failed, decisions}}: inferences of the hosted (ONNX) seats this page hosts
    envResources: null, // URLs the game worker fetched loading the last environment (Pyodide's files, ...)
  };
}

/** Whole seconds for a participant ("8 s", "1 min 30 s"). */
export function secondsText(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  return s % 60 ? `${Math.floor(s / 60)} min ${s % 60} s` : `${s / 60} min`;
}

function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

/** Waiting-room text from a `waiting` event (remainingS: seconds left now, may be counted down locally). */
export function waitroomText(w, remainingS = w.remaining_s) {
  const waiting = w.players_waiting ?? 0;
  const needed = w.players_needed ?? 0;
  const lines = [];
  if (w.state === 'bot') {
    // The lobby timed out and the server starts a computer partner (told only if the study says so).
    lines.push(w.announce_bot === false ? 'Partner found; getting the game ready...'
      : 'No other participant arrived in time: you will play with a computer partner. Starting it...');
    return lines.join(' ');
  }
  if (w.state === 'probing') {
    lines.push('Possible partner found: checking the connection between you...');
    return lines.join(' ');
  }
  if (w.requeues > 0) lines.push('The connection to your last partner could not be made; looking for another one.');
  if (w.group) lines.push(`Waiting for your group: ${waiting} of ${needed} here.`);
  else lines.push(`Waiting for other participants: ${plural(waiting, 'player', 'players')} here, ${needed} needed.`);
  if (Number.isFinite(remainingS)) {
    const s = Math.max(0, Math.ceil(remainingS));
    lines.push(`Time left: ${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`);
  }
  return lines.join(' ');
}

/**
 * @param {object} o
 * @param {object} o.config        the page's #p2p-config
 * @param {object} o.diag          createDiag() (window.p2p)
 * @param {object} o.ui            screens (client_ui.js or a test fake)
 * @param {Function} o.connect     (namespace, {auth}) -> socket (Socket.IO client API)
 * @param {Function} o.loadEnv     async (p2p block) -> environment adapter
 * @param {Function} [o.createGame]  client_game.js createGame (tests pass a fake)
 * @param {Function} [o.uploadExport]  validation.js uploadExport
 * @param {Function} [o.fetch]     for the partial export on unload
 * @param {boolean} [o.autoAdvance]  click Continue by itself (tests: ?autoadvance=1)
 * @param {Function} [o.navigate]  (url) -> void
 * @param {object} [o.timers]      {setTimeout, clearTimeout}
 * @param {Function} [o.now]       ms clock for the waiting-room countdown and screening RTTs
 * @param {Function} [o.runScreening]  screening.js runScreening (tests pass a fake)
 * @param {Function} [o.RTCPeerConnection]  for the screening checks (default the global one)
 * @param {object} [o.win]         window (screening's device hints)
 * @param {object} [o.visibility]  {hidden, hiddenS} of the page (telemetry.js createVisibilityTracker)
 * @param {Function} [o.preload]   () -> void: begin loading the first game's environment (called once,
 *                                 at the first scene, after the browser checks)
 * @param {number} [o.telemetryIntervalMs]  how often the game reports to the research console
 * @param {object} [o.storage]     sessionStorage (a reload's resume note); default the page's
 */
export function createClientFlow(o) {
  const { config, diag, ui } = o;
  const timers = o.timers ?? { setTimeout: globalThis.setTimeout.bind(globalThis), clearTimeout: globalThis.clearTimeout.bind(globalThis) };
  const now = o.now ?? (() => Date.now());
  const wallNow = o.wallClock ?? (() => Date.now()); // epoch ms for window.p2p.times
  const makeGame = o.createGame ?? defaultCreateGame;
  const upload = o.uploadExport ?? defaultUploadExport;
  const navigate = o.navigate ?? ((url) => { globalThis.location?.assign?.(url); });
  const log = o.log ?? globalThis.console;
  const storage = o.storage !== undefined ? o.storage : defaultStorage();
  const startProbe = o.runProbe ?? defaultRunProbe;

  let root = null;
  let scene = null; // the current scene's payload
  let p2pScene = null; // per-P2P-scene state, see startP2PScene
  let recruitment = { ...(config.recruitment ?? {}) }; // the server's copy replaces it ('participant')
  const outcomes = createOutcomes({
    emit: (event, payload, ack) => root.emit(event, payload, ack),
    ui, diag, timers, navigate,
    subjectId: () => config.subject_id,
    onShown: () => setPhase('ended'),
  });

  /**
   * End this participant's study with an outcome (client_outcome.js CLIENT_OUTCOMES):
   * the server records it (the first final outcome wins) and answers with the page to show.
   * Everything that ends a study on the page goes through here.
   */
  function endStudy(outcome, opts = {}) {
    stopAdvance();
    return outcomes.report(outcome, opts);
  }

  function stopAdvance() {
    ui.advance(null);
  }

  // ------------------------------------------------------------------ screening

  // The server asks for browser checks (`screening`) when the participant arrives; they run
  // while the first pages are read, and the page joins a waiting room only after them.
  let screening = null; // {promise, passed} while or after the checks run

  function onScreening(checks) {
    if (screening || !checks || typeof checks !== 'object') return;
    diag.screening = { status: 'running', passed: null };
    const run = o.runScreening ?? defaultRunScreening;
    const promise = Promise.resolve()
      .then(() => run(checks, {
        RTCPeerConnection: o.RTCPeerConnection ?? globalThis.RTCPeerConnection,
        ping: () => new Promise((resolve) => root.emit('p2p_ping', {}, resolve)),
        timers, now, win: o.win,
      }))
      .catch((err) => ({ error: String(err?.message ?? err) }))
      .then((report) => new Promise((resolve) => {
        root.emit('screening_report', report, (ack) => {
          const passed = ack?.ok ? ack.passed : null;
          diag.screening = { status: passed === false ? 'failed' : 'done', passed, report };
          resolve(passed);
        });
      }));
    screening = { promise };
  }

  // The first game's environment loads early (o.preload, client.js), but only once the
  // browser checks are over: loading Pyodide keeps the page's main thread busy for seconds,
  // which can starve the TURN check's timing. The server sends `screening` before the first
  // scene, so by then we know whether checks run.
  let preloadAsked = false;
  function startPreload() {
    if (preloadAsked || !o.preload) return;
    preloadAsked = true;
    whenScreened().then((passed) => {
      if (passed !== false && !outcomes.shown) o.preload();
    });
  }

  /** Resolves once screening is over (at once when none was asked for). */
  function whenScreened() {
    return screening ? screening.promise : Promise.resolve(true);
  }

  async function onStudyEnd(page) {
    const s = p2pScene;
    if (s) {
      await settleP2PScene(s);
      if (p2pScene === s) endP2PScene();
    }
    const type = scene?.scene_type;
    const keepScene = page?.outcome === 'completed' && (type === 'EndScene' || type === 'CompletionCodeScene');
    outcomes.show(page, { keepScene });
  }

  function setPhase(phase) {
    diag.phase = phase;
    ui.setPhase(phase);
  }
  function say(text) {
    diag.messages.push(text);
    if (diag.messages.length > MAX_MESSAGES) diag.messages.splice(0, diag.messages.length - MAX_MESSAGES);
    ui.status(text);
  }
  /** Show `message` as the error (a plain sentence); `detail` (the technical reason) is kept
   *  only in window.p2p.errors. The status line is cleared: it no longer describes the page. */
  function fail(code, message, { phase = 'error', detail } = {}) {
    diag.errors.push(detail === undefined ? { code, message } : { code, message, detail });
    if (diag.errors.length > MAX_MESSAGES) diag.errors.shift();
    diag.messages.push(message);
    ui.status('');
    ui.error(message);
    if (phase) setPhase(phase);
  }

  // ------------------------------------------------------------------ Continue button

  function showAdvance(label = 'Continue') {
    const sceneId = diag.sceneId;
    let clicked = false;
    const click = () => {
      if (clicked) return;
      clicked = true;
      ui.advance(null);
      onAdvance(sceneId);
    };
    ui.advance({ label, onClick: click });
    if (o.autoAdvance) timers.setTimeout(click, 0);
  }

  function onAdvance(sceneId) {
    const current = scene;
    const ids = Array.isArray(current?.element_ids) ? current.element_ids : [];
    if (ids.length > 0 && typeof ui.collect === 'function') {
      root.emit('static_scene_data_emission', { scene_id: sceneId, data: ui.collect(ids) });
    }
    root.emit('advance_scene', { scene_id: sceneId }, (ack) => {
      if (ack && ack.ok === false && ack.error?.code !== 'stale_scene') fail(ack.error.code, ack.error.message, { phase: null });
    });
  }

  // ------------------------------------------------------------------ scenes

  function onActivate(payload) {
    if (!payload || typeof payload !== 'object') return;
    if (outcomes.shown && outcomes.shown.outcome !== 'completed') return; // the study is over
    startPreload();
    // After a reconnect of the `/` socket the server shows the current scene again: a P2P
    // scene in progress keeps its game (its own /p2p socket rejoins by itself).
    if (p2pScene && p2pScene.sceneId === payload.scene_id && payload.p2p) return;
    if (p2pScene) endP2PScene();
    scene = payload;
    diag.sceneId = payload.scene_id ?? null;
    diag.sceneType = payload.scene_type ?? null;
    ui.error(null);
    ui.advance(null);
    ui.waitroom(null);
    ui.game(false);
    ui.showScene({
      header: payload.scene_header ?? payload.p2p?.ui?.scene_header ?? '',
      subheader: payload.scene_subheader ?? '',
      body: payload.scene_body ?? payload.p2p?.ui?.scene_body ?? '',
    });
    if (payload.p2p) {
      startP2PScene(payload);
      return;
    }
    setPhase('scene');
    if (payload.scene_type === 'EndScene') {
      // The last scene has no next scene; Interactive Gym offers its redirect link instead.
      if (typeof payload.url === 'string' && payload.url) {
        const url = payload.append_subject_id ? `${payload.url}${payload.url.includes('?') ? '&' : '?'}subject_id=${encodeURIComponent(config.subject_id)}` : payload.url;
        ui.advance({ label: 'Continue', onClick: () => navigate(url) });
      }
      return;
    }
    showAdvance();
  }

  function onTerminate(payload) {
    const s = p2pScene;
    if (!s || (payload && payload.scene_id !== s.sceneId)) return;
    // The server left the scene for us (the study ended, the researcher stopped the game): a
    // running game is left and its partial export sent, an export being saved is finished first.
    const running = s.game && !s.over && s.gameReady;
    if (running || (s.finishing && !s.uploadDone)) settleP2PScene(s).then(() => { if (p2pScene === s) endP2PScene(); });
    else endP2PScene();
  }

  // ------------------------------------------------------------------ P2P scene

  function startP2PScene(payload) {
    const p2p = payload.p2p;
    const s = {
      sceneId: payload.scene_id,
      p2p,
      socket: null,
      early: null, // signals that came before their game's game_ready (client_signaling.js)
      env: null,
      envError: null,
      gameReady: null,
      game: null,
      over: false, // game over (export handled or being handled); no more joins
      waiting: null, // last waiting event and when it arrived
      countdown: null,
      connectedReported: false,
      partnerLeft: false,
      uploadDone: false,
      reporter: null, // telemetry for the research console (telemetry.js)
      endedMessage: null, // set when the researcher ended the game
      probe: null, // a running matchmaking probe (client_probe.js)
      failureReported: null, // game id whose connection failure was reported
      finishing: null, // finishGame's promise (export upload) once the game has ended
      excluded: null,
      notice: null,
      noticeTimer: null,
    };
    p2pScene = s;
    diag.gameId = null;
    diag.playerIndex = null;
    diag.numPlayers = null;
    diag.path = null;
    diag.frame = null;
    diag.confirmedFrame = null;
    diag.verifiedFrame = null;
    diag.episode = null;
    diag.render = null;
    diag.gameOver = null;
    diag.endedBy = null;
    diag.clock = null;
    diag.countdown = null;
    diag.hidden = false;
    diag.reconnecting = null;
    diag.excluded = null;
    diag.times = { partner_found: null, countdown: null, first_frame: null };
    diag.upload = { status: 'idle', attempts: 0, error: null };
    setPhase('loading');
    say('Loading the game...');

    const sig = p2p.signaling;
    if (!sig || !sig.ticket) {
      fail('no_signaling', 'This game cannot start: the server gave no signaling ticket. Please tell the experimenter.');
      return;
    }
    // Join first (the seat of a reload is held only for the reconnect grace), load in parallel.
    const socket = o.connect(sig.namespace ?? config.signaling_namespace ?? '/p2p', { auth: { ticket: sig.ticket } });
    s.socket = socket;
    // A partner's first signals can come before our game_ready (several server processes,
    // docs/cluster.md): kept for that game, no longer than a connection attempt lasts.
    s.early = createEarlySignals(socket, { now, keepMs: (p2p.settings?.p2p?.connection_timeout_s ?? 20) * 1000 });
    const join = () => {
      if (p2pScene !== s || s.over) return;
      // A reconnect during the game (a network blip, or the server process we talked to went
      // away and another one took over): our WebRTC connections are up, say so, so that the
      // others renegotiate nothing (docs/server.md, "join").
      const playing = s.game && s.gameReady ? { game_id: s.gameReady.game_id } : {};
      socket.emit('join', playing, (ack) => onJoinAck(s, ack));
    };
    s.join = join;
    socket.on('connect', () => {
      if (screening) screening.promise.then(join);
      else join();
    });
    socket.on('connect_error', (err) => {
      if (p2pScene !== s) return;
      const code = err?.data?.code;
      // Refused tickets do not get better by retrying; network errors are retried by Socket.IO.
      if (code) fail(code, `Could not join the game: ${err.message}`);
    });
    socket.on('waiting', (w) => onWaiting(s, w));
    socket.on('wait_timeout', (w) => onWaitTimeout(s, w));
    socket.on('game_ready', (g) => onGameReady(s, g));
    socket.on('peer_left', (ev) => onPeerLeft(s, ev));
    socket.on('peer_interrupted', (ev) => onPeerInterrupted(s, ev));
    socket.on('peer_rejoined', (ev) => onPeerRejoined(s, ev));
    socket.on('game_ended', (ev) => onGameEnded(s, ev));
    // The server times its RTT to this page on this socket (matchmaking): answer at once.
    socket.on('rtt_ping', (_, ack) => { if (typeof ack === 'function') ack({}); });
    socket.on('probe', (p) => onProbe(s, p));
    socket.on('requeued', (ev) => onRequeued(s, ev));
    socket.on('superseded', (ev) => onSuperseded(ev));
    socket.on('signal_error', (ev) => log?.warn?.('signaling refused a message', ev));

    Promise.resolve()
      .then(() => o.loadEnv(p2p))
      .then((env) => {
        if (p2pScene !== s) return;
        s.env = env;
        if (s.game) {
          s.game.begin(env);
        } else if (!s.over && diag.phase === 'loading') {
          setPhase('waiting');
          if (s.waiting) showWaitroom(s);
          else say('Waiting for other participants...');
        }
      })
      .catch((err) => {
        if (p2pScene !== s) return;
        s.envError = err;
        envLoadFailed(s);
      });
  }

  function onJoinAck(s, ack) {
    if (p2pScene !== s || !ack || ack.ok !== false) return;
    const code = ack.error?.code ?? 'join_refused';
    if (code === 'screening_pending') {
      // The checks had not reached the server yet (a reload during them): join once they have.
      say('Checking your browser and connection...');
      whenScreened().then(() => timers.setTimeout(() => s.join?.(), screening ? 0 : 1000));
      return;
    }
    s.over = true;
    stopCountdown(s);
    ui.waitroom(null);
    if (code === 'study_over') return; // the server's study_end shows the outcome
    const why = {
      seat_expired: 'You were away from the game for too long; it went on without you.',
      left_game: 'You left this game (the page was closed or reloaded during it), so it cannot go on.',
      game_over: 'This game is already over.',
    }[code] ?? `Could not join the game: ${ack.error?.message ?? code}`;
    fail(code, why);
    if (code === 'seat_expired') endStudy('connection_failed', { reason: 'server', detail: ack.error?.message });
    else if (code === 'left_game') endStudy('excluded', { reason: 'left', detail: ack.error?.message });
    else if (code === 'game_over') showAdvance(); // the server's check at the last scene says how it ended
    else endStudy('error', { reason: 'join_refused', detail: `${code}: ${ack.error?.message ?? ''}` });
  }

  function onWaiting(s, w) {
    if (p2pScene !== s || s.gameReady || !w) return;
    s.waiting = { event: w, at: now() };
    if (s.env) setPhase('waiting');
    showWaitroom(s);
  }

  function onProbe(s, p) {
    if (p2pScene !== s || s.over || s.gameReady || !p?.probe_id) return;
    s.probe?.close();
    try {
      s.probe = startProbe({ probe: p, socket: s.socket });
    } catch (err) {
      // No WebRTC here: tell the server at once, it judges the probe failed.
      log?.warn?.('probe could not start', err);
      s.socket.emit('probe_result', { probe_id: p.probe_id, rtt_ms: {}, path: null, error: 'probe_failed' });
    }
  }

  function onRequeued(s, ev) {
    if (p2pScene !== s || !s.gameReady || ev?.game_id !== s.gameReady.game_id) return;
    s.reporter?.stop(false);
    s.reporter = null;
    s.game?.abandon();
    s.signaling?.close(); // the old game's signals are dropped from now on (early never keeps them)
    s.signaling = null;
    ui.game(false);
    if (!ev.requeued) {
      s.over = true;
      fail('connection_failed', ev.message || 'Could not connect to your partner. The game cannot take place.');
      // The server records connection_failed too (first one wins): the page shows its outcome.
      endStudy('connection_failed', { reason: 'peer', detail: `${ev.reason ?? 'connection'}: ${ev.message ?? ''}`, gameId: ev.game_id });
      return;
    }
    // Back to the waiting room (never with the same partner): a new game_ready will come.
    s.game = null;
    s.gameReady = null;
    s.connectedReported = false;
    s.partnerLeft = false;
    s.seatEnded = false;
    s.failureReported = null;
    diag.gameId = null;
    diag.playerIndex = null;
    diag.numPlayers = null;
    diag.path = null;
    say(ev.message || 'Could not connect to your partner; looking for another partner...');
    setPhase(s.env ? 'waiting' : 'loading');
    if (s.waiting) showWaitroom(s);
  }

  function showWaitroom(s) {
    const render = () => {
      if (p2pScene !== s || s.gameReady || s.over || !s.waiting) return;
      const { event, at } = s.waiting;
      const left = Number.isFinite(event.remaining_s) ? event.remaining_s - (now() - at) / 1000 : undefined;
      ui.waitroom(waitroomText(event, left));
    };
    const text = waitroomText(s.waiting.event);
    diag.messages.push(text);
    render();
    stopCountdown(s);
    const tick = () => {
      render();
      s.countdown = timers.setTimeout(tick, 1000);
    };
    s.countdown = timers.setTimeout(tick, 1000);
  }

  function stopCountdown(s) {
    if (s.countdown !== null) timers.clearTimeout(s.countdown);
    s.countdown = null;
  }

  function onWaitTimeout(s, w) {
    if (p2pScene !== s || s.gameReady) return;
    s.over = true;
    stopCountdown(s);
    ui.waitroom(null);
    const message = w?.message || 'Not enough participants joined in time.';
    fail('wait_timeout', message);
    // The server records the lobby_timeout outcome and sends study_end (with the scene's
    // waitroom_timeout_redirect_url when the outcome map has no redirect of its own).
  }

  function onSuperseded(ev) {
    if (p2pScene) endP2PScene();
    fail('superseded', ev?.message || 'This experiment was opened in another tab or window; continue there.');
  }

  function onGameReady(s, g) {
    if (p2pScene !== s || !g) return;
    if (s.game && g.game_id === s.gameReady?.game_id) {
      // Our signaling socket reconnected while the game runs over WebRTC: nothing to redo.
      return;
    }
    s.probe?.close();
    s.probe = null;
    stopCountdown(s);
    ui.waitroom(null);
    diag.gameId = g.game_id;
    diag.playerIndex = g.player_index;
    diag.numPlayers = g.num_players;
    diag.times.partner_found = wallNow();
    if (g.rejoin) {
      // A reload during the game: the seat was held; the new session rebuilds the game from
      // the peers' confirmed inputs (docs/client.md, "Reload during the game").
      s.rejoin = true;
      s.resumeNote = loadResumeNote(storage, g.game_id, g.player_index);
      diag.rejoin = { phase: 'connecting', received: 0, total: 0, frame: null, target: null };
      say('Rejoining your game...');
    }
    s.gameReady = g;
    // One game's listeners at a time on the socket: a requeued game's go with it.
    s.signaling?.close();
    const signaling = createSocketSignaling(s.socket, g.game_id, (err) => log?.warn?.('signaling:', err), s.early);
    s.signaling = signaling;
    try {
      s.game = makeGame({
        p2p: s.p2p,
        gameReady: g,
        signaling,
        createCanvas: (w, h) => ui.createCanvas(w, h),
        keyboardTarget: ui.keyboardTarget,
        hooks: gameHooks(s),
        onnxruntimeUrl: o.config?.onnxruntime_url ?? null, // hosted seats' models (docs/ai.md)
        rejoin: s.rejoin === true,
      });
      // Telemetry for the research console: every 2 s while the game runs (docs/console.md).
      s.reporter = createReporter({
        send: (report) => s.socket.emit('telemetry', report),
        gameId: g.game_id,
        session: () => s.game?.session ?? null,
        visibility: o.visibility,
        timers,
        intervalMs: o.telemetryIntervalMs,
      });
      // Already in the background when the partner was found (waiting in another tab).
      if (ui.visibility?.hidden()) {
        diag.hidden = true;
        s.game.setHidden?.(true);
        ui.attention?.('Your game is starting');
      }
    } catch (err) {
      fail('game_setup', `The game could not start: ${err?.message ?? err}`);
      s.socket.emit('leave', { game_id: g.game_id });
      s.over = true;
      endStudy('error', { reason: 'game_setup', detail: String(err?.message ?? err), gameId: g.game_id });
      return;
    }
    if (s.envError) {
      envLoadFailed(s);
    } else if (s.env) {
      if (!s.rejoin) say(alone(g) ? 'Your game is ready.' : 'Partner found.');
      s.game.begin(s.env);
    } else if (!s.rejoin) {
      say(alone(g) ? 'Loading the game...' : 'Partner found; loading the game...');
    }
  }

  /** A game whose other seats are all AI seats (docs/ai.md): this page plays it alone. */
  function alone(g) {
    return Number.isInteger(g?.num_players) && (g.ai_seats?.length ?? 0) === g.num_players - 1;
  }

  /** A partner's page went away with its seat held (a reload): the game waits for it. */
  function onPeerInterrupted(s, ev) {
    if (p2pScene !== s || !s.gameReady || ev?.game_id !== s.gameReady.game_id || s.over) return;
    s.game?.peerInterrupted(ev.player_index);
  }

  /** A partner came back with a new page: a new connection to it (it then catches up). With
   * `resumed` only its signaling socket reconnected (same page, WebRTC up): nothing to redo;
   * its next message on the DataChannel ends the wait. */
  function onPeerRejoined(s, ev) {
    if (p2pScene !== s || !s.gameReady || ev?.game_id !== s.gameReady.game_id || s.over || ev.resumed) return;
    s.game?.peerRejoined(ev.player_index);
    say('Your partner is back; the game goes on in a moment.');
  }

  function gameHooks(s) {
    // game_ready's settings: a condition may change some of the scene's.
    const p2pSettings = (s.gameReady?.settings ?? s.p2p.settings)?.p2p ?? {};
    const numEpisodes = p2pSettings.num_episodes ?? s.p2p.gameplay?.num_episodes ?? null;
    const alive = () => p2pScene === s;
    return {
      phase(phase) {
        if (!alive()) return;
        if (phase === 'peer_connecting') {
          say(s.rejoin ? rejoinText(null) : 'Connecting to your partner...');
          s.reporter?.start();
        }
        if (phase === 'playing' && s.rejoin) {
          // The session runs but rebuilds the game first: the rejoined hook shows the game.
          setPhase('rejoining');
          return;
        }
        if (phase === 'playing') {
          // A game alone with AI seats never connects: telemetry starts with the game.
          s.reporter?.start();
          ui.game(true);
          // Interactive Gym's in_game_scene_body replaces the scene body while the game runs.
          const inGame = s.p2p.ui?.in_game_scene_body;
          if (typeof inGame === 'string' && inGame) {
            ui.showScene({ header: scene?.scene_header ?? s.p2p.ui?.scene_header ?? '', subheader: scene?.scene_subheader ?? '', body: inGame });
          }
          say(alone(s.gameReady) ? `The game is on! You are player ${diag.playerIndex + 1}.`
            : `Connected. The game is on! You are player ${diag.playerIndex + 1}.`);
          startPlayChecks(s);
        }
        setPhase(phase);
      },
      failed(err) {
        if (!alive()) return;
        abortGame(s, err.code, err.message);
      },
      fallback(err) {
        if (!alive()) return;
        say('No direct connection to your partner could be made; the game runs through the server instead.');
        report(s, 'fallback', { detail: err?.code ?? null });
      },
      path(path) {
        if (!alive()) return;
        diag.path = path;
        if (!s.connectedReported) {
          s.connectedReported = true;
          report(s, 'connected', { path });
        }
      },
      rejoin(p) {
        if (!alive() || !p) return;
        diag.rejoin = { ...p };
        const text = rejoinText(p);
        if (text !== s.rejoinShown) {
          s.rejoinShown = text;
          say(text);
        }
      },
      rejoined(ev) {
        if (!alive()) return;
        s.rejoined = ev;
        diag.rejoin = { phase: 'live', received: ev.bytes, total: ev.bytes, frame: ev.frame, target: ev.frame };
        ui.game(true);
        const inGame = s.p2p.ui?.in_game_scene_body;
        if (typeof inGame === 'string' && inGame) {
          ui.showScene({ header: scene?.scene_header ?? s.p2p.ui?.scene_header ?? '', subheader: scene?.scene_subheader ?? '', body: inGame });
        }
        say(`You are back in the game. You are player ${diag.playerIndex + 1}.`);
        startPlayChecks(s);
        setPhase('playing');
      },
      frame(f) {
        if (!alive()) return;
        diag.frame = f.frame;
        diag.confirmedFrame = f.confirmedFrame;
        diag.verifiedFrame = f.verifiedFrame;
        diag.episode = f.episode;
        if (f.render) diag.render = f.render;
      },
      hosted(h) {
        // The game's one object, changed in place: set once, not rebuilt per frame.
        if (alive() && diag.hosted !== h) diag.hosted = h;
      },
      hud(lines) {
        if (alive()) ui.hud(lines);
      },
      clock(c) {
        if (alive()) diag.clock = c.kind;
      },
      countdown(ev) {
        if (!alive()) return;
        diag.times.countdown ??= wallNow();
        diag.countdown = ev.seconds;
        ui.countdown?.(String(ev.seconds));
        say(`The game starts in ${ev.seconds}...`);
      },
      started() {
        if (!alive()) return;
        diag.times.first_frame ??= wallNow();
        const counted = diag.countdown !== null;
        diag.countdown = 0;
        if (!counted) return;
        ui.countdown?.('Go!');
        timers.setTimeout(() => { if (p2pScene === s) ui.countdown?.(null); }, 600);
      },
      hidden(ev) {
        if (alive()) diag.hidden = ev.hidden;
      },
      excluded(ev) {
        if (!alive()) return;
        s.excluded = ev;
        diag.excluded = ev;
        // The page's own checks (inactive, ping) said why in excludeFromGame.
        if (ev.reason === 'hidden') {
          say(`You were away from the game for more than ${secondsText(p2pSettings.max_hidden_s ?? 0)}, so you can no longer take part in it.`);
        } else if (!s.exclusion) say('You can no longer take part in this game.');
        report(s, 'excluded', { detail: ev.reason });
      },
      reconnecting(seconds) {
        if (!alive()) return;
        diag.reconnecting = seconds;
        if (seconds === null) {
          ui.notice?.(s.notice);
          return;
        }
        const text = `Reconnecting to your partner... ${secondsText(seconds)} left.`;
        if (!diag.messages.includes(text)) diag.messages.push(text);
        ui.notice?.(text);
      },
      episodeStart(ev) {
        if (!alive()) return;
        diag.episode = ev.episode;
        if (ev.episode > 0) {
          say(numEpisodes ? `Round ${ev.episode + 1} of ${numEpisodes} started.` : `Round ${ev.episode + 1} started.`);
          if (diag.phase === 'episode_transition') setPhase('playing');
        }
      },
      episodeEnd(ev) {
        if (!alive()) return;
        const last = numEpisodes !== null && ev.episode + 1 >= numEpisodes;
        say(numEpisodes ? `Round ${ev.episode + 1} of ${numEpisodes} finished.` : `Round ${ev.episode + 1} finished.`);
        if (!last && diag.phase === 'playing') setPhase('episode_transition');
      },
      connection(ev) {
        if (!alive()) return;
        if (ev.event === 'interrupted') say('Reconnecting to your partner...');
        else if (ev.event === 'resumed') say('The connection to your partner is back.');
        else if (ev.event === 'excluded') {
          // Policy default_action: the game goes on with their default action.
          if (diag.gameOver) return;
          say('Your partner was away from the game for too long. The game goes on without them.');
          report(s, 'peer_excluded', { detail: `player ${ev.peer_index} at frame ${ev.frame}` });
        }
        else if (ev.event === 'away') say('Your partner\'s page is reloading; the game waits for them to come back...');
        else if (ev.event === 'rejoined' && !s.rejoin) say('Your partner is back and catching up...');
        else if (ev.event === 'left' || ev.event === 'disconnected') {
          s.partnerLeft = true;
          const goesOn = p2pSettings.disconnect_policy === 'default_action' && !diag.gameOver;
          say(goesOn ? 'Your partner left the game. The game goes on without them.' : 'Your partner left the game.');
          report(s, 'peer_' + ev.event, { detail: `player ${ev.peer_index} at frame ${ev.frame}` });
        }
      },
      defaultAction(ev) {
        if (alive()) log?.info?.('default action for player', ev.peer_index, 'from frame', ev.frame);
      },
      desync(ev) {
        if (alive()) log?.warn?.('desync at frame', ev.frame, ev);
      },
      error(err) {
        if (!alive()) return;
        log?.warn?.('game error', err);
        if (err.code === 'hello_mismatch') fail(err.code, `Your partner runs a different version of the game: ${err.message}`, { phase: null });
      },
      gameOver(ev) {
        if (!alive()) return;
        diag.gameOver = { reason: ev.reason, frame: ev.frame, episode: ev.episode };
        if (s.rejoin && !s.rejoined) {
          say('Your game could not be resumed after the reload.');
        } else if (ev.reason === 'disconnected' || ev.reason === 'peer_ended') {
          s.partnerLeft = true;
          say('The game ended because your partner left.');
        } else if (ev.reason === 'peer_excluded') {
          s.partnerLeft = true;
          say('The game ended because your partner was away from the game for too long.');
        } else if (ev.reason === 'excluded') {
          // The excluded hook said why.
        } else if (ev.reason === 'completed') {
          say('The game is over. Thank you!');
        } else {
          say(`The game ended (${ev.reason}).`);
        }
      },
      ended({ record, reason }) {
        if (!alive()) return;
        s.reporter?.stop(true); // the totals, while our seat is still live
        s.finishing = finishGame(s, record, reason);
      },
    };
  }

  function report(s, event, extra = {}) {
    root?.emit('client_callback', { type: 'p2p_status', game_id: s.gameReady?.game_id ?? null, event, ...extra });
  }

  function abortGame(s, code, message) {
    if (s.over) return;
    if ((code === 'connect_timeout' || code === 'ice_failed') && s.gameReady && !s.game?.started && !s.rejoin) {
      // Before the game started: the server may put us back into the waiting room (with
      // someone else); its `requeued` event says which. Until then nothing else to do.
      if (s.failureReported === s.gameReady.game_id) return;
      s.failureReported = s.gameReady.game_id;
      s.reporter?.stop(false);
      s.game?.abandon();
      ui.game(false);
      report(s, 'connect_failed', { detail: message });
      const gameId = s.gameReady.game_id;
      say('Could not connect to your partner...');
      s.socket.emit('connection_failed', { game_id: gameId, code, detail: String(message).slice(0, 400) }, (ack) => {
        // ok: the `requeued` event (sent to every player of the game) decides what follows.
        if (p2pScene !== s || !ack || ack.ok !== false || s.gameReady?.game_id !== gameId) return;
        connectionFailed(s, code, message);
      });
      return;
    }
    s.over = true;
    s.reporter?.stop(false);
    s.game?.abandon();
    ui.game(false);
    report(s, 'connect_failed', { detail: message });
    if (s.gameReady) s.socket.emit('leave', { game_id: s.gameReady.game_id });
    const connection = code === 'connect_timeout' || code === 'ice_failed';
    const text = connection
      ? `Could not connect to your partner (${message}). The game cannot take place.`
      : `The game cannot take place: ${message}`;
    fail(code, text);
    const gameId = s.gameReady?.game_id ?? null;
    if (connection) endStudy('connection_failed', { reason: 'peer', detail: `${code}: ${message}`, gameId });
    else if (code === 'env_load') endStudy('error', { reason: 'env_load', detail: message, gameId });
    else endStudy('error', { reason: /^[a-z][a-z0-9_]{0,31}$/.test(code ?? '') ? code : 'game_error', detail: message, gameId });
  }

  /** The environment (Pyodide, packages, the scene's Python code) did not load. The page says
   *  so plainly; the technical reason goes to window.p2p.errors and to the server. A seat in
   *  a game is given up; a waiting participant leaves the waiting room (the socket closes), so
   *  nobody is matched with a page that cannot play. */
  function envLoadFailed(s) {
    if (s.over) return;
    s.over = true;
    const detail = String(s.envError?.message ?? s.envError);
    log?.warn?.('the game environment could not be loaded', s.envError);
    // A package that did not install is named, so the researcher's log says which.
    const pkg = typeof s.envError?.package === 'string' ? { package: s.envError.package } : {};
    report(s, 'env_load_failed', { detail, ...pkg });
    if (s.game) {
      s.game.abandon();
      ui.game(false);
      if (s.gameReady && !s.seatEnded) s.socket.emit('leave', { game_id: s.gameReady.game_id });
    } else {
      s.socket?.disconnect();
    }
    stopCountdown(s);
    ui.waitroom(null);
    const noWorker = s.envError?.code === 'worker_unsupported';
    fail(noWorker ? 'worker_unsupported' : 'env_load', noWorker ? WORKER_UNSUPPORTED_MESSAGE : ENV_LOAD_MESSAGE, { detail });
    endStudy('error', { reason: 'env_load', detail, gameId: s.gameReady?.game_id ?? null });
  }

  function connectionFailed(s, code, message) {
    if (s.over) return;
    s.over = true;
    fail(code, `Could not connect to your partner (${message}). The game cannot take place.`);
    endStudy('connection_failed', { reason: 'peer', detail: `${code}: ${message}`, gameId: s.gameReady?.game_id ?? null });
  }

  function onPeerLeft(s, ev) {
    if (p2pScene !== s || !s.gameReady || ev?.game_id !== s.gameReady.game_id) return;
    // The server has ended our seat too (policy end): a later `leave` would only be refused.
    if (ev.game_over) s.seatEnded = true;
    if (s.game?.started) {
      // The session hears it on the DataChannel too (BYE or silence) and applies the policy;
      // the server's word gets the message on screen sooner, and ends a wait for a peer whose
      // page went away (its held seat is gone).
      s.game.peerLeft(ev.player_index);
      if (!s.partnerLeft) {
        s.partnerLeft = true;
        say('Your partner left the game.');
      }
      return;
    }
    if (s.over) return;
    s.over = true;
    s.partnerLeft = true;
    s.game?.abandon();
    if (!s.seatEnded) s.socket.emit('leave', { game_id: s.gameReady.game_id });
    ui.game(false);
    const connecting = diag.phase === 'peer_connecting';
    say(connecting
      ? 'Your partner gave up: the connection between you could not be made.'
      : 'Your partner left before the game started.');
    setPhase('partner_left');
    const gameId = s.gameReady.game_id;
    if (connecting) endStudy('connection_failed', { reason: 'peer', detail: `player ${ev.player_index} gave up connecting`, gameId });
    else endStudy('partner_left', { reason: ev.reason === 'disconnected' ? 'disconnected' : 'left', detail: `player ${ev.player_index} ${ev.reason}`, gameId });
  }

  // ------------------------------------------------------------------ in-play exclusion

  /** Inactivity and slow-connection checks while the game runs (play_checks.js). */
  function startPlayChecks(s) {
    if (s.checks !== undefined) return;
    const p = s.p2p.settings?.p2p ?? {};
    const checks = createPlayChecks({
      inactiveS: p.inactive_s ?? null, inactiveWarnS: p.inactive_warn_s ?? null,
      maxRttMs: p.max_rtt_ms ?? null, maxRttForS: p.max_rtt_for_s ?? 10, startMs: now(),
    });
    s.checks = checks.enabled ? checks : null;
    if (!s.checks) return;
    const keys = new Set(Object.keys(s.p2p.gameplay?.action_mapping ?? {}));
    const target = ui.keyboardTarget;
    const onKey = (ev) => { if (keys.size === 0 || keys.has(ev?.key)) checks.input(now()); };
    target?.addEventListener?.('keydown', onKey);
    let timer = null;
    s.stopChecks = () => {
      target?.removeEventListener?.('keydown', onKey);
      if (timer !== null) timers.clearTimeout(timer);
      timer = null;
      s.stopChecks = null;
    };
    const tick = () => {
      timer = null;
      if (p2pScene !== s || s.over) return;
      if (checks.pinging && !checks.pingOut) {
        checks.pingSent(now());
        root.emit('p2p_ping', {}, () => checks.pingAnswered(now()));
      }
      const verdict = checks.check(now());
      if (verdict?.exclude) {
        s.stopChecks?.();
        excludeFromGame(s, verdict.exclude, p.exclusion_policy ?? 'end');
        return;
      }
      if (verdict?.warn) ui.status(`Are you still there? Press a key within ${verdict.warn.leftS} s, or the game ends for you.`);
      else if (verdict?.unwarn) say('Thank you, the game goes on.');
      timer = timers.setTimeout(tick, 1000);
    };
    timer = timers.setTimeout(tick, 1000);
  }

  /** The local participant is excluded: the session tells the peers (the game ends for them,
   * or goes on with this seat's default action) and ends our game; finishGame reports it. */
  function excludeFromGame(s, { reason, detail }, policy) {
    s.exclusion = { reason, detail };
    say(reason === 'inactive' ? 'No input came from you for too long: the game has ended for you.'
      : 'Your connection to the study server was too slow for too long: the game has ended for you.');
    const excluded = s.game?.session?.exclude?.({ reason, policy });
    if (!excluded && !s.over) {
      // No running session to end (it just ended): leave and report directly.
      s.over = true;
      s.game?.abandon();
      if (s.gameReady && !s.seatEnded) s.socket.emit('leave', { game_id: s.gameReady.game_id });
      endStudy('excluded', { reason, detail, gameId: s.gameReady?.game_id ?? null });
    }
  }

  /** The researcher ended the game from the research console: the seat is over on the server. */
  function onGameEnded(s, ev) {
    if (p2pScene !== s || !s.gameReady || ev?.game_id !== s.gameReady.game_id) return;
    s.seatEnded = true; // no leave/finished: the server already stopped our seat
    s.endedMessage = (typeof ev.message === 'string' && ev.message) || 'The researcher ended this game.';
    diag.endedBy = 'researcher';
    s.reporter?.stop(false);
    // Already finishing (upload under way): finishGame shows the message when it is done.
    if (s.over) return;
    if (s.game?.started) {
      diag.gameOver = { reason: 'researcher', frame: diag.frame, episode: diag.episode };
      // BYE to the peers; the record (from the game worker) is partial.
      Promise.resolve(s.game.abandon()).then((record) => {
        if (p2pScene !== s || s.over) return;
        if (record) finishGame(s, record, 'researcher');
        else endedByResearcher(s);
      });
      return;
    }
    s.game?.abandon();
    endedByResearcher(s);
  }

  function endedByResearcher(s) {
    s.over = true;
    ui.waitroom(null);
    ui.game(false);
    say(s.endedMessage);
    setPhase('done');
    endStudy('error', { reason: 'researcher', detail: s.endedMessage, gameId: s.gameReady.game_id });
  }

  async function finishGame(s, record, reason) {
    if (s.over) return;
    s.over = true;
    s.stopChecks?.();
    const g = s.gameReady;
    let finalPhase = s.partnerLeft && reason !== 'completed' ? 'partner_left' : 'done';
    const up = g.upload;
    if (s.rejoin && s.resumeNote) record = mergeResumed(s.resumeNote.record, record, s.resumeNote.saved_at);
    // A rejoin that never got the game back has no rows: the earlier page's partial export
    // (sent when it went away) stays the participant's export.
    const lostRejoin = s.rejoin && !s.rejoined;
    if (lostRejoin) {
      diag.upload = { status: 'disabled', attempts: 0, error: null };
    } else if (!up || !up.url || !up.token) {
      diag.upload = { status: 'disabled', attempts: 0, error: null };
    } else {
      setPhase('uploading');
      let doc = null;
      try {
        doc = gameExport({ record, gameReady: g, sceneId: s.sceneId, subjectId: config.subject_id, recruitment });
      } catch (err) {
        diag.upload = { status: 'failed', attempts: 0, error: String(err?.message ?? err) };
        fail('export_build', `Could not save your data: ${err?.message ?? err}. Please tell the experimenter.`, { phase: null });
      }
      if (doc) {
        const result = await upload({
          url: up.url, token: up.token, doc,
          onStatus: (step) => {
            const u = uploadStatus(step);
            diag.upload = { status: u.status, attempts: u.attempts, error: u.error };
            if (u.final && !u.ok) fail('upload', u.text, { phase: null });
            else say(u.text);
          },
        });
        if (p2pScene !== s) return;
        if (diag.upload.status === 'uploading') {
          // onStatus always ends with a final step; this guards a custom uploader that does not.
          diag.upload = { status: result?.ok ? 'uploaded' : 'failed', attempts: result?.attempts ?? 0, error: result?.ok ? null : result?.reason ?? null };
        }
      }
    }
    if (p2pScene !== s) return;
    s.uploadDone = true;
    if (s.rejoin && diag.upload.status === 'uploaded') dropResumeNote(storage, g.game_id, g.player_index);
    if (lostRejoin) finalPhase = 'error';
    if (reason === 'completed') s.socket.emit('finished', { game_id: g.game_id });
    else if (!s.seatEnded) s.socket.emit('leave', { game_id: g.game_id });
    report(s, 'game_over', { path: diag.path, detail: s.endedMessage ? 'researcher' : reason });
    ui.game(false);
    if (s.endedMessage) {
      // Ended from the research console (possibly while this upload ran): that is the reason.
      finalPhase = 'done';
      say(s.endedMessage);
    }
    ui.notice?.(null);
    ui.attention?.(null);
    setPhase(finalPhase);
    if (reason === 'completed') {
      showAdvance();
    } else if (s.endedMessage || reason === 'researcher') {
      await endStudy('error', { reason: 'researcher', detail: s.endedMessage, gameId: g.game_id });
    } else if (reason === 'excluded') {
      // Excluded by this page (inactive, ping) or by the session itself (hidden too long).
      const why = record?.exclusion?.reason ?? s.exclusion?.reason;
      const plain = typeof why === 'string' && /^[a-z][a-z0-9_]{0,31}$/.test(why) ? why : 'excluded';
      await endStudy('excluded', { reason: plain, detail: s.exclusion?.detail ?? `excluded at frame ${record?.exclusion?.frame ?? '?'}`, gameId: g.game_id });
    } else if (reason === 'peer_excluded') {
      await endStudy('partner_left', { reason: 'excluded', detail: 'a partner was excluded', gameId: g.game_id });
    } else if (reason === 'disconnected' || reason === 'peer_ended' || s.partnerLeft) {
      await endStudy('partner_left', { reason: reason === 'disconnected' ? 'disconnected' : 'left', detail: `game over: ${reason}`, gameId: g.game_id });
    } else {
      await endStudy('error', { reason: 'game_error', detail: `game over: ${reason}`, gameId: g.game_id });
    }
  }

  /** Before the outcome page: a running game is left and its partial export sent; an export
   * being uploaded is waited for. Resolves when the game's data is handled. */
  function settleP2PScene(s) {
    if (s.finishing) return s.finishing;
    if (!s.game || s.over || !s.gameReady) return Promise.resolve();
    s.finishing = abandonAndUpload(s);
    return s.finishing;
  }

  async function abandonAndUpload(s) {
    s.over = true;
    const leaving = s.game.abandon(); // BYE to the peers now; the record comes from the game worker
    ui.game(false);
    if (!s.seatEnded) s.socket.emit('leave', { game_id: s.gameReady.game_id });
    let record = await leaving;
    const up = s.gameReady.upload;
    // A rejoined page's record starts at the reload: one document with the earlier page's part.
    // A rejoin that never got the game back adds nothing to the earlier page's partial export.
    if (record && s.rejoin && s.resumeNote) record = mergeResumed(s.resumeNote.record, record, s.resumeNote.saved_at);
    if (!record || !up?.url || !up?.token || (s.rejoin && !s.rejoined)) return;
    setPhase('uploading');
    try {
      const doc = gameExport({ record, gameReady: s.gameReady, sceneId: s.sceneId, subjectId: config.subject_id,
        recruitment, partial: record.partial !== false });
      await upload({ url: up.url, token: up.token, doc, onStatus: (step) => {
        const u = uploadStatus(step);
        diag.upload = { status: u.status, attempts: u.attempts, error: u.error };
      } });
    } catch (err) {
      diag.upload = { status: 'failed', attempts: 0, error: String(err?.message ?? err) };
    }
    s.uploadDone = true;
  }

  // ------------------------------------------------------------------ hidden page

  /** The page went to the background or came back (the game keeps running either way). */
  function onVisibility(hidden) {
    const s = p2pScene;
    const live = s?.game && !s.over;
    ui.attention?.(hidden && live ? 'Your game is running' : null);
    if (!live) return;
    const ev = s.game.setHidden(hidden);
    diag.hidden = hidden;
    // game_ready's settings: a condition may change some of the scene's.
    const p2pSettings = (s.gameReady?.settings ?? s.p2p.settings)?.p2p ?? {};
    const warnS = p2pSettings.warn_hidden_s;
    if (!hidden && ev && Number.isFinite(warnS) && ev.duration_s >= warnS && !diag.excluded) {
      const maxS = p2pSettings.max_hidden_s;
      const text = `You were away from the game for ${secondsText(ev.duration_s)}. Please keep this page in front until the game is over`
        + (Number.isFinite(maxS) ? `: after ${secondsText(maxS)} away you can no longer take part.` : '.');
      diag.messages.push(text);
      showNotice(s, text, NOTICE_MS);
    }
  }

  /** The notice banner: the reconnect countdown wins over the "you were away" warning. */
  function showNotice(s, text, ms = null) {
    if (s.noticeTimer) timers.clearTimeout(s.noticeTimer);
    s.noticeTimer = null;
    s.notice = text;
    if (diag.reconnecting === null) ui.notice?.(text);
    if (ms !== null) {
      s.noticeTimer = timers.setTimeout(() => {
        s.noticeTimer = null;
        s.notice = null;
        if (diag.reconnecting === null) ui.notice?.(null);
      }, ms);
    }
  }

  function endP2PScene() {
    const s = p2pScene;
    if (!s) return;
    p2pScene = null;
    stopCountdown(s);
    s.reporter?.stop(false);
    s.probe?.close();
    s.stopChecks?.();
    if (s.noticeTimer) timers.clearTimeout(s.noticeTimer);
    ui.notice?.(null);
    ui.attention?.(null);
    if (s.game && !s.game.ended) s.game.abandon();
    s.signaling?.close();
    s.early?.close();
    s.socket?.disconnect?.();
    try { s.env?.destroy?.(); } catch { /* the interpreter may be gone with the page */ }
    ui.game(false);
    ui.waitroom(null);
  }

  // ------------------------------------------------------------------ public

  return {
    start() {
      setPhase('connecting');
      say('Connecting to the experiment...');
      const auth = { subject_id: config.subject_id };
      if (Object.keys(recruitment).length > 0) auth.recruitment = recruitment;
      root = o.connect(config.participant_namespace ?? '/', { auth });
      root.on('participant', (info) => {
        if (info && typeof info.recruitment === 'object' && info.recruitment) {
          recruitment = { ...info.recruitment };
          diag.recruitment = { ...recruitment };
        }
      });
      root.on('study_end', (page) => { onStudyEnd(page); });
      root.on('screening', onScreening);
      root.on('activate_scene', onActivate);
      root.on('terminate_scene', onTerminate);
      root.on('superseded', onSuperseded);
      root.on('flow_error', (ev) => {
        if (ev?.code !== 'stale_scene') log?.warn?.('flow error', ev);
      });
      root.on('connect_error', (err) => {
        const code = err?.data?.code;
        if (code) fail(code, `Could not connect to the experiment: ${err.message}`);
        else if (diag.phase === 'connecting') ui.status('Still trying to reach the experiment server...');
      });
      root.on('disconnect', () => {
        if (p2pScene?.game?.started && !p2pScene.over) return; // the game goes on over WebRTC
        ui.status('Lost the connection to the experiment server; reconnecting...');
      });
      ui.visibility?.onChange(onVisibility);
      return root;
    },
    /**
     * The page is closing or reloading (`pagehide`; the page cannot tell which). When the scene
     * holds seats (`reconnect_grace_s` > 0) the seat is kept: BYE(away) tells the peers to wait,
     * no `leave` is sent, a resume note goes to sessionStorage for the page that comes back,
     * and the partial export goes out (best effort) in case nobody comes back. Otherwise the
     * seat is left, as when resuming did not exist.
     */
    onUnload() {
      const s = p2pScene;
      if (!s || !s.game || s.over || s.uploadDone) return { sent: false, reason: 'no game running' };
      const g = s.gameReady;
      // A game alone with AI seats has no peer to rebuild it from: going away leaves it.
      const keepSeat = ((g.settings ?? s.p2p.settings)?.p2p?.reconnect_grace_s ?? 0) > 0 && !alone(g);
      // No time to wait for the game worker: the record as it last sent it.
      let record = keepSeat ? s.game.leaveForReload() : (s.game.abandonNow ? s.game.abandonNow() : s.game.abandon());
      s.over = true;
      s.reporter?.stop(false);
      if (!keepSeat) {
        try { s.socket.emit('leave', { game_id: g.game_id }); } catch { /* going away */ }
      }
      if (record && keepSeat && (!s.rejoin || s.rejoined)) {
        saveResumeNote(storage, { gameId: g.game_id, playerIndex: g.player_index, record, previous: s.resumeNote ?? null });
      }
      if (record && s.rejoin && s.resumeNote) record = mergeResumed(s.resumeNote.record, record, s.resumeNote.saved_at);
      const up = g.upload;
      // A page that reloaded again before it got the game back has nothing new to send.
      if (!record || !up?.url || !up?.token || (s.rejoin && !s.rejoined)) return { sent: false, reason: 'nothing to send' };
      try {
        const doc = gameExport({ record, gameReady: g, sceneId: s.sceneId, subjectId: config.subject_id, recruitment, partial: record.partial !== false });
        return sendPartialExport({ url: up.url, token: up.token, doc, fetch: o.fetch });
      } catch (err) {
        return { sent: false, reason: String(err?.message ?? err) };
      }
    },
    /** End the study with an outcome (see endStudy above); resolves with the page shown. */
    endStudy,
    get scene() { return scene; },
    get game() { return p2pScene?.game ?? null; },
    get outcome() { return outcomes.shown; },
  };
}
