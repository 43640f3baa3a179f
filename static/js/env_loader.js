// The environment loader: Pyodide (one runtime per loader unless a scene asks for a fresh
// one), the scene's packages, hashing.py / step_outcome.py / ai_policy.py from the server, and
// the scene's environment code -> the adapter the rollback engine drives (env_pyodide.js). It
// runs where the session runs: in the game worker (game_worker.js), which is why the
// textures are a dependency (the page loads them, since it draws; the worker passes none).
// No DOM here.

import { installPythonModules, loadPyodideRuntime, preparePyodideEnv } from './env_pyodide.js';
import { loadSceneAssets } from './assets.js';

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
    // The Python AI seats every page's environment plays (hosted ONNX seats are the host's: game_core.js).
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
