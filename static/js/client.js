// Entry module of the participant page (templates/participant.html): reads #p2p-config,
// connects to the server and runs the participant flow (client_flow.js) with the page's
// screens (client_ui.js), Pyodide (env_pyodide.js) and the vendored Socket.IO client.
//
// Test hooks (Contract A, docs/client.md): window.p2p is the flow's diagnostic object,
// document.body.dataset.phase mirrors its phase, and ?autoadvance=1 clicks Continue.
// Importing this module in node does nothing: it starts only when there is a page.

import { io } from '../vendor/socket.io/socket.io.esm.min.js';
import { createClientFlow, createDiag } from './client_flow.js';
import { createDomUi } from './client_ui.js';
import { installPythonModules, loadPyodideRuntime, preparePyodideEnv } from './env_pyodide.js';
import { loadSceneAssets } from './assets.js';
import { createVisibilityTracker } from './telemetry.js';
import { createEnvPreloader } from './env_preload.js';

const IG_IMPORT = /^\s*(from|import)\s+interactive_gym\b/m;

/** Pyodide runtime (one per page) and the hashing.py and step_outcome.py sources, fetched
 * once; the scene's textures load beside them and ride on the adapter as `env.textures`.
 * `deps` replace the real pieces in tests (loadRuntime, prepare, install, loadAssets, fetch). */
export function createEnvLoader(config, deps = {}) {
  const loadRuntime = deps.loadRuntime ?? loadPyodideRuntime;
  const prepare = deps.prepare ?? preparePyodideEnv;
  const install = deps.install ?? installPythonModules;
  const loadAssets = deps.loadAssets ?? loadSceneAssets;
  const fetch = deps.fetch ?? ((...args) => globalThis.fetch(...args));
  let runtime = null;
  let hashing = null;
  let outcome = null;
  let aiPolicy = null;
  return async function loadEnv(p2p) {
    const env = p2p.env ?? {};
    if (env.runtime !== 'pyodide') throw new Error(`unsupported environment runtime ${JSON.stringify(env.runtime)}`);
    const textures = loadAssets(p2p.rendering?.textures);
    textures.catch(() => {}); // awaited below; an early failure must not be "unhandled"
    // restart_pyodide: this scene gets a fresh interpreter, as in Interactive Gym.
    if (env.restart_pyodide && runtime) runtime = null;
    runtime ??= loadRuntime(config.pyodide_index_url);
    hashing ??= fetch(`${config.python_url ?? '/p2p/py/'}hashing.py`).then((r) => {
      if (!r.ok) throw new Error(`hashing.py: HTTP ${r.status}`);
      return r.text();
    });
    outcome ??= fetch(`${config.python_url ?? '/p2p/py/'}step_outcome.py`).then((r) => {
      if (!r.ok) throw new Error(`step_outcome.py: HTTP ${r.status}`);
      return r.text();
    });
    // The Python AI seats every page's environment plays (hosted ONNX seats are the host's: client_game.js).
    const aiSeats = (p2p.settings?.p2p?.ai_seats ?? []).filter((a) => a.kind !== 'onnx');
    if (aiSeats.length > 0) {
      aiPolicy ??= fetch(`${config.python_url ?? '/p2p/py/'}ai_policy.py`).then((r) => {
        if (!r.ok) throw new Error(`ai_policy.py: HTTP ${r.status}`);
        return r.text();
      });
      aiPolicy.catch(() => { aiPolicy = null; });
    }
    // Any failure must be retried by the next scene, not remembered forever.
    runtime.catch(() => { runtime = null; });
    hashing.catch(() => { hashing = null; });
    outcome.catch(() => { outcome = null; });
    const [pyodide, hashingSource, stepOutcomeSource, aiPolicySource] = await Promise.all(
      [runtime, hashing, outcome, aiSeats.length > 0 ? aiPolicy : null]);
    const packages = Array.isArray(env.packages) ? env.packages : [];
    if (packages.length > 0) await installPackages(pyodide, packages, config.wheelhouse_url ?? null, deps.baseUrl);
    // Env code written for Interactive Gym imports its object contexts; the server hands over
    // those pure-Python modules of its installed Interactive Gym (unless a package provides them).
    const viaPackage = packages.some((p) => /^interactive[-_]gym\b/i.test(p));
    if (!viaPackage && (IG_IMPORT.test(env.code ?? '') || IG_IMPORT.test(env.on_game_step_code ?? ''))) {
      const r = await fetch(`${config.python_url ?? '/p2p/py/'}interactive_gym.json`);
      if (!r.ok) throw new Error(`interactive_gym modules: HTTP ${r.status}`);
      install(pyodide, await r.json());
    }
    const p = p2p.settings?.p2p ?? {};
    const adapter = await prepare(pyodide, {
      environmentCode: env.code,
      hashingSource,
      stepOutcomeSource,
      recordInfo: p2p.settings?.validation?.record_info ?? [],
      // Every seat of the game: the players and the AI seats.
      numPlayers: p.seats ?? p.players,
      ai: aiSeats.length > 0
        ? { seats: aiSeats.map((a) => [a.player_index, a.agent_id, a.policy]), policies: env.ai_policies ?? {} } : null,
      aiPolicySource,
      agentIds: p.agent_ids ?? null,
      defaultAction: p.default_action ?? p2p.gameplay?.default_action ?? 0,
      onGameStepCode: env.on_game_step_code || null,
    });
    try {
      adapter.textures = await textures;
    } catch (err) {
      adapter.destroy();
      throw err;
    }
    return adapter;
  };
}

/** An environment package that did not install: `package` names it (the researcher's log
 * line, the p2p_status report), the message keeps micropip's reason (never shown to the
 * participant). */
export class PackageInstallError extends Error {
  constructor(pkg, cause) {
    const reason = String(cause?.message ?? cause).trim().split('\n').filter((l) => l.trim()).pop() ?? 'unknown error';
    super(`could not install package ${JSON.stringify(pkg)}: ${reason}`);
    this.name = 'PackageInstallError';
    this.package = pkg;
  }
}

/**
 * The scene's packages_to_install through micropip, one at a time so a failure names its
 * package. Pyodide's own packages come from the Pyodide folder (its lock); everything else
 * from the server's wheelhouse index when it has one (then micropip never asks PyPI).
 */
export async function installPackages(pyodide, packages, wheelhouseUrl = null, baseUrl = globalThis.location?.href) {
  try {
    await pyodide.loadPackage('micropip');
  } catch (err) {
    throw new PackageInstallError('micropip', err);
  }
  const micropip = pyodide.pyimport('micropip');
  try {
    for (const pkg of packages) {
      const kwargs = {};
      let indexUrls = null;
      if (wheelhouseUrl) {
        // micropip fetches from Python: an absolute URL of this server, without the final
        // slash (micropip appends "/<name>/").
        indexUrls = pyodide.toPy([new URL(wheelhouseUrl, baseUrl).href.replace(/\/+$/, '')]);
        kwargs.index_urls = indexUrls;
      }
      try {
        await micropip.install.callKwargs(pkg, kwargs);
      } catch (err) {
        throw new PackageInstallError(pkg, err);
      } finally {
        indexUrls?.destroy();
      }
    }
  } finally {
    micropip.destroy?.();
  }
}

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
  const preloader = createEnvPreloader(createEnvLoader(config), {
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
