// Loading early: the participant page starts loading the first game's environment (Pyodide,
// packages, the environment code, textures) at its first page (client_flow.js: once the
// browser checks are over), while the participant reads the pages before the game, so the game can start as soon as a partner is found. When the
// game scene starts, its environment is the preloaded one if it is the same environment (same
// env block, players, agents, default action, recorded info, textures); otherwise the
// preloaded one is dropped and the scene's own is loaded. No DOM here.

/** JSON with object keys sorted: the page config (Flask's tojson sorts keys) and the
 * activate_scene payload (insertion order) carry the same block in different orders. */
function canonical(value) {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/** What makes two p2p blocks load the same environment (see client.js createEnvLoader). */
export function envKey(p2p) {
  const p = p2p?.settings?.p2p ?? {};
  return canonical({
    env: p2p?.env ?? null,
    players: p.players ?? null,
    agent_ids: p.agent_ids ?? null,
    default_action: p.default_action ?? p2p?.gameplay?.default_action ?? null,
    record_info: p2p?.settings?.validation?.record_info ?? null,
    textures: p2p?.rendering?.textures ?? null,
  });
}

/**
 * @param {(p2p) => Promise<object>} loadEnv  the page's environment loader
 * @param {object} [o]
 * @param {(s: {status, ms?, error?}) => void} [o.onStatus]  loading | ready | failed | used | discarded
 * @param {() => number} [o.now]
 * @returns {{start(p2p), loadEnv(p2p): Promise<object>}} loadEnv is a drop-in for the flow's
 */
export function createEnvPreloader(loadEnv, { onStatus, now = () => Date.now() } = {}) {
  let pending = null; // {key, promise}
  let sceneLoaded = false; // a scene asked for its environment: too late to load early
  const status = (s, extra = {}) => onStatus?.({ status: s, ...extra });
  return {
    /** Begin loading this scene's environment now (once; not after a scene loaded its own). */
    start(p2p) {
      if (pending || sceneLoaded) return;
      const startedAt = now();
      const promise = Promise.resolve().then(() => loadEnv(p2p));
      const entry = { key: envKey(p2p), promise, taken: false };
      pending = entry;
      status('loading');
      promise.then(
        () => { if (!entry.taken) status('ready', { ms: now() - startedAt }); },
        (err) => {
          if (pending === entry) pending = null; // the scene loads (and reports) it again
          if (!entry.taken) status('failed', { error: String(err?.message ?? err) });
        },
      );
    },
    /** The flow's loadEnv: the preloaded environment when it is this scene's, else a fresh load. */
    loadEnv(p2p) {
      sceneLoaded = true;
      if (pending && pending.key === envKey(p2p)) {
        const entry = pending;
        pending = null;
        entry.taken = true;
        status('used');
        return entry.promise;
      }
      if (pending) {
        const stale = pending.promise;
        pending = null;
        status('discarded');
        stale.then((env) => { try { env?.destroy?.(); } catch { /* the interpreter may be gone */ } }, () => {});
      }
      return loadEnv(p2p);
    },
  };
}
