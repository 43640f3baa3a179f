// The page's side of the game worker (game_worker.js): starts it once per page, loads
// environments in it (the early load and every scene's), and carries the running game's
// messages (client_game.js listens through `on`). The scene's textures load here, on the page
// that draws them; the environment handle a load returns carries them. No DOM here.

import { ToPage, ToWorker, checkMessage, errorFrom } from './game_worker_contract.js';

const WORKER_URL = new URL('./game_worker.js', import.meta.url);
const URL_KEYS = ['pyodide_index_url', 'python_url', 'wheelhouse_url'];

/** The error of a browser that cannot start the game worker (no module workers): the flow
 * shows WORKER_UNSUPPORTED_MESSAGE for it (docs/client.md "The game worker"). */
export const WORKER_UNSUPPORTED = 'worker_unsupported';

/**
 * Compile Pyodide's wasm on the page too, and keep the module for the page's life (docs/client.md
 * "The game worker"). Chrome keeps a compiled wasm module (with the optimized code its tier-up
 * made) in the renderer process while any isolate holds it, and a compile of the same bytes
 * takes it from there. The page's isolate outlives a reload and the worker's does not: without
 * this, the worker after a reload compiled Pyodide afresh and booted it on baseline code
 * (measured: loadPyodide ~1.5-3 s slower in the worker than on the page). Best effort: any
 * failure only loses the head start.
 * @returns {Promise<object|null>} the module (or null)
 */
export function keepPyodideWasm(indexUrl, { fetch = globalThis.fetch, wasm = globalThis.WebAssembly } = {}) {
  if (typeof indexUrl !== 'string' || !indexUrl || typeof fetch !== 'function'
      || typeof wasm?.compileStreaming !== 'function') return Promise.resolve(null);
  const base = indexUrl.endsWith('/') ? indexUrl : `${indexUrl}/`;
  return Promise.resolve()
    .then(() => wasm.compileStreaming(fetch(`${base}pyodide.asm.wasm`)))
    .catch(() => null);
}

/**
 * @param {object} o
 * @param {object} o.config                 the page config (#p2p-config)
 * @param {(textures) => Promise<Map>} [o.loadTextures]  assets.js loadSceneAssets
 * @param {() => object} [o.spawn]          a Worker-like port {postMessage, onmessage, onerror,
 *                                          terminate} (default: the module worker game_worker.js)
 * @param {string} [o.baseUrl]              what relative URLs in the config are relative to
 */
export function createGameWorker(o) {
  const spawn = o.spawn ?? (() => new globalThis.Worker(WORKER_URL, { type: 'module' }));
  const loadTextures = o.loadTextures ?? (async () => new Map());
  const baseUrl = o.baseUrl ?? globalThis.location?.href;
  let port = null;
  let nextId = 1;
  const loads = new Map(); // id -> {resolve, reject}
  const listeners = new Set();
  let broken = null; // the worker failed to start: every load fails with this
  let heard = false; // a message came from the worker (so it did start)

  function absoluteConfig(config) {
    const out = { ...config };
    for (const k of URL_KEYS) {
      if (typeof out[k] === 'string' && out[k] && baseUrl) out[k] = new URL(out[k], baseUrl).href;
    }
    return out;
  }

  function onMessage(msg) {
    heard = true;
    const bad = checkMessage('page', msg);
    if (bad) {
      globalThis.console?.error?.(`game worker: ${bad}`);
      return;
    }
    if (msg.type === ToPage.LOADED || msg.type === ToPage.LOAD_FAILED) {
      const pending = loads.get(msg.id);
      loads.delete(msg.id);
      if (!pending) return;
      if (msg.type === ToPage.LOADED) pending.resolve(msg);
      else pending.reject(errorFrom(msg.error));
      return;
    }
    for (const fn of [...listeners]) fn(msg);
  }

  function ensure() {
    if (port) return port;
    if (broken) throw broken;
    try {
      port = spawn();
    } catch (err) {
      // No Worker at all, or one that takes no {type: 'module'} (a browser from before 2019-2023),
      // or a Content-Security-Policy that forbids it: this page cannot run a game.
      broken = new Error(`this browser cannot start the game worker (a module Web Worker): ${err?.message ?? err}`);
      broken.code = WORKER_UNSUPPORTED;
      throw broken;
    }
    port.onmessage = (ev) => onMessage(ev.data);
    port.onerror = (ev) => {
      ev?.preventDefault?.();
      const err = new Error(`the game worker failed: ${ev?.message ?? 'it could not start'}`);
      // Before its first message: the script did not load (blocked, missing), so no load can work.
      if (!heard) {
        err.code = WORKER_UNSUPPORTED;
        broken = err;
      }
      for (const p of loads.values()) p.reject(err);
      loads.clear();
      for (const fn of [...listeners]) fn({ type: ToPage.FAILED, code: 'worker', message: err.message });
    };
    port.postMessage({ type: ToWorker.CONFIG, config: client.config });
    return port;
  }

  const client = {
    /** The config the worker gets (URLs made absolute). */
    config: absoluteConfig(o.config ?? {}),
    /** Start the worker now (its modules load while the page does other things); a browser
     * that cannot start it fails every load later with WORKER_UNSUPPORTED. */
    start() {
      try { ensure(); } catch { /* kept in `broken` */ }
    },
    post(msg, transfer) {
      ensure().postMessage(msg, transfer ?? []);
    },
    /** Listen to the worker's game messages (everything but load answers); returns off(). */
    on(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    /** Load a scene's environment in the worker: resolves to a handle for createGame's begin(). */
    async loadEnv(p2p) {
      const textures = loadTextures(p2p.rendering?.textures);
      textures.catch(() => {}); // awaited below; an early failure must not be "unhandled"
      if (broken) throw broken;
      const id = nextId++;
      const loaded = new Promise((resolve, reject) => loads.set(id, { resolve, reject }));
      client.post({ type: ToWorker.LOAD, id, p2p });
      const info = await loaded;
      let tex;
      try {
        tex = await textures;
      } catch (err) {
        client.post({ type: ToWorker.DESTROY_ENV, id });
        throw err;
      }
      let destroyed = false;
      return {
        worker: client,
        envId: id,
        numPlayers: info.numPlayers,
        resources: info.resources,
        textures: tex,
        destroy() {
          if (destroyed) return;
          destroyed = true;
          client.post({ type: ToWorker.DESTROY_ENV, id });
        },
      };
    },
    terminate() {
      try { port?.terminate?.(); } catch { /* gone */ }
      port = null;
    },
  };
  return client;
}
