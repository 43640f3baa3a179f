// Entry module of the participant page (templates/participant.html): reads #p2p-config,
// connects to the server and runs the participant flow (client_flow.js) with the page's
// screens (client_ui.js), the game worker (game_worker_client.js: Pyodide, the environment and
// the rollback session run there) and the vendored Socket.IO client.
//
// Test hooks (Contract A, docs/client.md): window.p2p is the flow's diagnostic object,
// document.body.dataset.phase mirrors its phase, and ?autoadvance=1 clicks Continue.
// Importing this module in node does nothing: it starts only when there is a page.

import { io } from '../vendor/socket.io/socket.io.esm.min.js';
import { createClientFlow, createDiag } from './client_flow.js';
import { createDomUi } from './client_ui.js';
import { loadSceneAssets } from './assets.js';
import { createVisibilityTracker } from './telemetry.js';
import { createEnvPreloader } from './env_preload.js';
import { createGameWorker, keepPyodideWasm } from './game_worker_client.js';

export { createEnvLoader, installPackages, PackageInstallError } from './env_loader.js';

/** The configured recruitment parameters present in the page's query string. */
export function recruitmentFromQuery(query, names) {
  const out = {};
  for (const name of names) {
    const value = query.get(name);
    if (value !== null && value !== '') out[name] = value;
  }
  return out;
}

export function main(win = globalThis.window) {
  const doc = win.document;
  const config = JSON.parse(doc.getElementById('p2p-config').textContent);
  const diag = createDiag();
  win.p2p = diag;
  const ui = createDomUi(doc, win);
  const query = new URLSearchParams(win.location.search);
  const autoAdvance = query.get('autoadvance') === '1';
  // Recruitment ids from the study link (Prolific's PROLIFIC_PID, STUDY_ID, SESSION_ID by
  // default): the server keeps them with the participant's data (docs/participants.md).
  config.recruitment = recruitmentFromQuery(query, config.recruitment_params ?? []);
  // The first game's environment loads while the participant reads the pages before it
  // (the flow starts it at the first scene, once the browser checks are over).
  // One game worker per page: it loads the environments (the early one too) and runs the games.
  const gameWorker = createGameWorker({ config, loadTextures: loadSceneAssets, baseUrl: win.location.href });
  gameWorker.start(); // its module graph loads while the page connects and shows the first scene
  // Held as long as the page (the worker's Pyodide after a reload compiles from it: keepPyodideWasm).
  gameWorker.pyodideWasm = keepPyodideWasm(gameWorker.config.pyodide_index_url);
  const preloader = createEnvPreloader((p2p) => gameWorker.loadEnv(p2p).then((env) => {
    diag.envResources = env.resources;
    return env;
  }), {
    onStatus: (s) => { diag.preload = { ...diag.preload, ...s }; },
  });
  const flow = createClientFlow({
    config,
    diag,
    ui,
    autoAdvance,
    connect: (namespace, opts) => io(namespace, { path: config.socketio_path ?? '/socket.io', ...opts }),
    loadEnv: (p2p) => preloader.loadEnv(p2p),
    preload: config.preload?.p2p ? () => preloader.start(config.preload.p2p) : undefined,
    fetch: win.fetch.bind(win),
    navigate: (url) => win.location.assign(url),
    visibility: createVisibilityTracker(doc, () => win.performance.now()),
    RTCPeerConnection: win.RTCPeerConnection,
    win,
  });
  const recordUncaught = (message) => {
    diag.errors.push({ code: 'uncaught', message: String(message) });
  };
  win.addEventListener('error', (ev) => recordUncaught(ev.message));
  win.addEventListener('unhandledrejection', (ev) => recordUncaught(ev.reason?.message ?? ev.reason));
  // pagehide fires on close, reload and navigation (beforeunload does not on every mobile browser).
  win.addEventListener('pagehide', () => flow.onUnload());
  flow.start();
  return flow;
}

if (typeof window !== 'undefined' && typeof document !== 'undefined' && document.getElementById('p2p-config')) {
  main(window);
}
