// Environment adapter over Pyodide: runs a scene's Interactive Gym environment code (which
// defines `env`) and exposes the synchronous adapter the rollback engine drives:
// reset / step / save / load / stateHash / canonicalState / render.
//
// Snapshots stay Python objects (PyProxy) by default: rollback saves a state every frame and
// converting it to JS would cost more than the step itself. Hashing also happens in Python
// (hashing.py loaded into the same interpreter) so the state never crosses into JS at all on
// the per-frame path. The 'json' snapshot mode (a JSON string) is kept for comparison; see
// benchmarks/pyodide_env_frame.mjs for the measured costs of both.

/** Public CDN index matching the npm `pyodide` package the tests and offline labs use. */
export const DEFAULT_PYODIDE_INDEX_URL = 'https://cdn.jsdelivr.net/pyodide/v314.0.7/full/';

/**
 * Load Pyodide from an index URL (the folder holding pyodide.mjs, pyodide.asm.wasm, ...).
 * Browser and node alike: the module is imported from that folder, so the wasm matches it.
 */
export async function loadPyodideRuntime(indexURL = DEFAULT_PYODIDE_INDEX_URL, options = {}) {
  const base = indexURL.endsWith('/') ? indexURL : `${indexURL}/`;
  const mod = await import(/* webpackIgnore: true */ `${base}pyodide.mjs`);
  return mod.loadPyodide({ indexURL: base, ...options });
}

// Python side of the adapter. Kept small: each method is one call from JS with plain
// arguments, so no JS objects are converted on the per-frame path.
const GLUE_SOURCE = `
import json
import sys
import types


def _p2p_load_module(name, source, filename, preset=None):
    # A real module object (registered in sys.modules) so dataclasses, pickling and
    # string annotations in the scene's code behave as they do in a normal import.
    mod = types.ModuleType(name)
    mod.__file__ = filename
    if preset:
        mod.__dict__.update(preset)
    sys.modules[name] = mod
    exec(compile(source, filename, "exec"), mod.__dict__)
    return mod


def _p2p_flat(value, out):
    # An observation as a flat list of floats (row-major): numbers, bools, nested lists/tuples,
    # numpy arrays (tolist) and dicts (values in key order).
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, dict):
        for k in sorted(value, key=str):
            _p2p_flat(value[k], out)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _p2p_flat(v, out)
    else:
        out.append(float(value))
    return out


def _p2p_episode_over(flags, agent_ids):
    if isinstance(flags, dict):
        if "__all__" in flags:
            return bool(flags["__all__"])
        return len(agent_ids) > 0 and all(bool(flags.get(a, False)) for a in agent_ids)
    return bool(flags)


class P2PEnvGlue:
    def __init__(self, module_name, env_source, hashing, agent_ids, default_action, ig_globals_json,
                 outcome=None, record_info=None, step_source=None, ai_module=None, ai_json=None):
        self.module_name = module_name
        # step_outcome.py (shared with CPython): rewards, flags and record_info per step.
        self.outcome = outcome
        self.record_info = list(record_info or [])
        # Interactive Gym gives the env code a dict named interactive_gym_globals.
        preset = {"interactive_gym_globals": json.loads(ig_globals_json)}
        mod = _p2p_load_module(module_name, env_source, "<environment_initialization_code>", preset)
        # on_game_step_code runs, as in Interactive Gym, right before every env.step in the
        # namespace where env lives; here that is inside the simulated step, so a rollback
        # re-runs it and the state hash covers what it does to the env.
        self.namespace = mod.__dict__
        self.step_code = (compile(step_source, "<on_game_step_code>", "exec")
                          if step_source and step_source.strip() else None)
        if "env" not in mod.__dict__:
            raise RuntimeError(
                "the environment initialization code must define a variable named 'env'")
        self.env = mod.env
        for name in ("reset", "step", "get_state", "set_state"):
            if not callable(getattr(self.env, name, None)):
                raise RuntimeError(
                    f"env has no {name}() method; P2P rollback needs reset, step, "
                    "get_state and set_state")
        if agent_ids is None:
            agent_ids = list(getattr(self.env, "possible_agents", None) or [])
        self.agent_ids = list(agent_ids)
        self.default_action = int(default_action)
        self.hashing = hashing
        self._state = None  # get_state() of the current frame, while it is current
        self._obs = None  # what the last reset/step returned as observations (hosted seats read it)
        # AI seats (ai_policy.py): their actions are chosen inside the simulated step from the
        # state it starts from; the snapshot keeps what the choice needs beside the env state.
        self.ai = None
        if ai_json:
            ai = json.loads(ai_json)
            self.ai = ai_module.AISeats(self.env, ai["seats"], ai["policies"], module_prefix=module_name + "_ai")

    def _step_json(self, out):
        return json.dumps(out, separators=(",", ":"), allow_nan=False)

    def num_agents(self):
        return len(self.agent_ids)

    def reset(self, seed):
        self._state = None
        out = self.env.reset(seed=int(seed))
        self._obs = out[0] if isinstance(out, tuple) and len(out) == 2 else out
        if self.ai is not None:
            self.ai.reset(int(seed), out)

    def step(self, *actions):
        self._state = None
        acts = {}
        for i, agent in enumerate(self.agent_ids):
            acts[agent] = int(actions[i]) if i < len(actions) else self.default_action
        ai_used = self.ai.apply(acts) if self.ai is not None else None
        if self.step_code is not None:
            exec(self.step_code, self.namespace)
        obs, rewards, terminateds, truncateds, infos = self.env.step(acts)
        self._obs = obs
        if ai_used is not None:
            # Every step with AI seats reports their actions (the session records them).
            over = (_p2p_episode_over(terminateds, self.agent_ids)
                    or _p2p_episode_over(truncateds, self.agent_ids))
            if not over:
                self.ai.advance(obs)
            if self.outcome is not None:
                out = self.outcome.step_outcome(rewards, terminateds, truncateds, infos, self.agent_ids, self.record_info)
            else:
                out = {"done": over}
            out["ai_actions"] = ai_used
            return self._step_json(out)
        if self.outcome is not None:
            # False (nothing to record: the common frame, no string crosses into JS) or JSON text.
            return self.outcome.encode_outcome(self.outcome.step_outcome(
                rewards, terminateds, truncateds, infos, self.agent_ids, self.record_info))
        return (_p2p_episode_over(terminateds, self.agent_ids)
                or _p2p_episode_over(truncateds, self.agent_ids))

    def observation_json(self, index):
        # A hosted seat's observation: the agent's entry of what the last reset/step returned
        # (a dict by agent), else the whole observation; flattened to floats.
        obs = self._obs
        agent = self.agent_ids[int(index)]
        if isinstance(obs, dict):
            if agent in obs:
                obs = obs[agent]
            elif str(agent) in obs:
                obs = obs[str(agent)]
        if obs is None:
            return "null"
        return json.dumps(_p2p_flat(obs, []), allow_nan=False)

    def _current_state(self):
        if self._state is None:
            self._state = self.env.get_state()
        return self._state

    def save(self):
        # Fresh get_state() each time: the snapshot must not share lists with later frames.
        self._state = self.env.get_state()
        if self.ai is not None:
            return (self._state, self.ai.get_state())
        return self._state

    def save_json(self):
        snap = self.save()
        if self.ai is not None:
            snap = {"env": snap[0], "ai": snap[1]}
        return json.dumps(snap, separators=(",", ":"))

    def load(self, state):
        self._state = None
        if self.ai is not None:
            self.env.set_state(state[0])
            self.ai.set_state(state[1])
        else:
            self.env.set_state(state)

    def load_json(self, text):
        snap = json.loads(text)
        self.load((snap["env"], snap["ai"]) if self.ai is not None else snap)

    def state_hash(self):
        return self.hashing.state_hash(self._current_state())

    def canonical_json(self):
        return self.hashing.canonicalize(self._current_state())

    def render_json(self):
        render = getattr(self.env, "render", None)
        out = render() if callable(render) else None
        shape = getattr(out, "shape", None)
        if shape is not None and len(shape) == 3 and shape[2] in (3, 4) and hasattr(out, "tobytes"):
            # An RGB(A) array (numpy): its bytes, not a JSON list of every pixel.
            import base64
            data = (out.astype("uint8") if hasattr(out, "astype") else out).tobytes()
            return json.dumps({"__p2p_rgb__": [int(n) for n in shape],
                               "data": base64.b64encode(data).decode("ascii")})
        return json.dumps(out)

    def close(self):
        if self.ai is not None:
            self.ai.close()
        sys.modules.pop(self.module_name, None)
`;

let envCounter = 0;

/**
 * Build the adapter over an already loaded Pyodide. Synchronous: the environment code is
 * plain Python (call `pyodide.loadPackagesFromImports(code)` first if it imports packages,
 * as preparePyodideEnv does).
 *
 * @param {object} pyodide           a loaded Pyodide instance
 * @param {object} opts
 * @param {string} opts.environmentCode  Interactive Gym environment_initialization_code (defines `env`)
 * @param {string} opts.hashingSource    source of interactive_gym_p2p/hashing.py
 * @param {string} [opts.stepOutcomeSource]  source of interactive_gym_p2p/step_outcome.py: with
 *        it every step reports rewards, terminated/truncated flags and the recordInfo values
 *        (the adapter's reportsRewards is true); without it steps report only done
 * @param {string[]} [opts.recordInfo=[]]  info keys recorded per frame (scene record_info)
 * @param {number} [opts.numPlayers]     defaults to the number of agent ids
 * @param {Array}  [opts.agentIds]       agent ids in player order (default env.possible_agents)
 * @param {number} [opts.defaultAction=0] action for a player with no input
 * @param {'proxy'|'json'} [opts.snapshot='proxy']  how save() keeps the state
 * @param {object} [opts.interactiveGymGlobals={}]  JSON-able; the env code sees it as the
 *        dict `interactive_gym_globals`, as in Interactive Gym
 * @param {string} [opts.onGameStepCode]  Interactive Gym's on_game_step_code: Python run in the
 *        env's module right before every env.step (so rollback re-runs it)
 * @param {object} [opts.ai]  AI seats: {seats: [[playerIndex, agentId, policyName], ...],
 *        policies: {name: pythonSource}}; needs opts.aiPolicySource (ai_policy.py). Their actions
 *        are chosen inside each step; step() reports them as `aiActions` ([[playerIndex, action]])
 */
export function createPyodideEnv(pyodide, opts) {
  const {
    environmentCode, hashingSource, agentIds = null, defaultAction = 0, snapshot = 'proxy',
    interactiveGymGlobals = {}, stepOutcomeSource = null, recordInfo = [], onGameStepCode = null,
    ai = null, aiPolicySource = null,
  } = opts ?? {};
  const hasAi = ai !== null && ai !== undefined && Array.isArray(ai.seats) && ai.seats.length > 0;
  if (hasAi && (typeof aiPolicySource !== 'string' || aiPolicySource.length === 0)) {
    throw new TypeError('createPyodideEnv: AI seats need aiPolicySource (the source of ai_policy.py)');
  }
  if (stepOutcomeSource !== null && (typeof stepOutcomeSource !== 'string' || stepOutcomeSource.length === 0)) {
    throw new TypeError('createPyodideEnv: stepOutcomeSource must be the source of step_outcome.py');
  }
  if (!Array.isArray(recordInfo) || !recordInfo.every((k) => typeof k === 'string')) {
    throw new TypeError('createPyodideEnv: recordInfo must be a list of info keys (strings)');
  }
  if (typeof environmentCode !== 'string' || environmentCode.length === 0) {
    throw new TypeError('createPyodideEnv: environmentCode (a Python source string) is required');
  }
  if (typeof hashingSource !== 'string' || hashingSource.length === 0) {
    throw new TypeError('createPyodideEnv: hashingSource (hashing.py source) is required');
  }
  if (snapshot !== 'proxy' && snapshot !== 'json') {
    throw new TypeError(`createPyodideEnv: snapshot must be 'proxy' or 'json', not ${snapshot}`);
  }
  if (!Number.isInteger(defaultAction)) {
    throw new TypeError('createPyodideEnv: defaultAction must be an integer');
  }
  if (onGameStepCode !== null && onGameStepCode !== undefined && typeof onGameStepCode !== 'string') {
    throw new TypeError('createPyodideEnv: onGameStepCode must be a Python source string');
  }

  ensureGlue(pyodide);
  const ns = pyodide.globals.get('_p2p_glue_ns');
  const loadModule = ns.get('_p2p_load_module');
  const GlueClass = ns.get('P2PEnvGlue');
  const id = ++envCounter;
  // hashing.py is loaded once per interpreter and shared by every adapter.
  let hashing = pyodide.runPython(
    'import sys\nsys.modules.get("interactive_gym_p2p_hashing")',
  );
  if (hashing === undefined || hashing === null) {
    hashing = loadModule('interactive_gym_p2p_hashing', hashingSource, 'hashing.py');
  }
  let outcome;
  if (stepOutcomeSource !== null) {
    outcome = pyodide.runPython('import sys\nsys.modules.get("interactive_gym_p2p_step_outcome")');
    if (outcome === undefined || outcome === null) {
      outcome = loadModule('interactive_gym_p2p_step_outcome', stepOutcomeSource, 'step_outcome.py');
    }
  }
  let aiModule;
  if (hasAi) {
    aiModule = pyodide.runPython('import sys\nsys.modules.get("interactive_gym_p2p_ai_policy")');
    if (aiModule === undefined || aiModule === null) {
      aiModule = loadModule('interactive_gym_p2p_ai_policy', aiPolicySource, 'ai_policy.py');
    }
  }
  // JS undefined arrives in Python as None (null would be a JsNull object).
  const pyAgentIds = agentIds === null ? undefined : pyodide.toPy(agentIds);
  const pyRecordInfo = pyodide.toPy(recordInfo);
  let glue;
  try {
    glue = GlueClass(`p2p_scene_env_${id}`, environmentCode, hashing, pyAgentIds, defaultAction,
      JSON.stringify(interactiveGymGlobals), outcome, pyRecordInfo, onGameStepCode || undefined,
      aiModule, hasAi ? JSON.stringify({ seats: ai.seats, policies: ai.policies ?? {} }) : undefined);
  } finally {
    pyAgentIds?.destroy();
    pyRecordInfo.destroy();
    outcome?.destroy();
    aiModule?.destroy();
    hashing.destroy();
    loadModule.destroy();
    GlueClass.destroy();
    ns.destroy();
  }

  const numAgents = glue.num_agents();
  const numPlayers = opts.numPlayers ?? numAgents;
  if (numAgents !== numPlayers) {
    glue.close();
    glue.destroy();
    throw new Error(
      `createPyodideEnv: numPlayers is ${numPlayers} but the env has ${numAgents} agent ids; ` +
      'pass agentIds or give the env a possible_agents list',
    );
  }

  // Bound-method proxies fetched once: each attribute access on a PyProxy makes a new proxy.
  const m = {};
  for (const name of ['reset', 'step', 'save', 'save_json', 'load', 'load_json',
    'state_hash', 'canonical_json', 'render_json', 'observation_json', 'close']) {
    m[name] = glue[name];
  }
  const actionBuf = new Array(numPlayers).fill(defaultAction);
  let destroyed = false;

  const adapter = {
    numPlayers,
    /** Player indices of the AI seats (their step actions are chosen by the env's policies). */
    aiSeats: hasAi ? ai.seats.map((s) => s[0]) : [],
    snapshotMode: snapshot,
    reportsRewards: stepOutcomeSource !== null,
    reset(seed) {
      if (!Number.isInteger(seed) || seed < 0 || seed > 0xFFFFFFFF) {
        throw new RangeError(`reset: seed must be a u32, got ${seed}`);
      }
      m.reset(seed);
    },
    step(actions) {
      for (let i = 0; i < numPlayers; i++) {
        const a = actions[i];
        actionBuf[i] = Number.isInteger(a) ? a : defaultAction;
      }
      const r = m.step(...actionBuf);
      if (typeof r !== 'string') return { done: r === true };
      const o = JSON.parse(r);
      const out = {
        done: o.done, endedBy: o.ended_by ?? undefined, rewards: o.rewards, terminated: o.terminated,
        truncated: o.truncated, info: o.info && Object.keys(o.info).length > 0 ? o.info : undefined,
      };
      if (o.ai_actions) out.aiActions = o.ai_actions;
      return out;
    },
    save() {
      return snapshot === 'proxy' ? m.save() : m.save_json();
    },
    load(snap) {
      if (snapshot === 'proxy') m.load(snap);
      else m.load_json(snap);
    },
    /** Free a snapshot the engine no longer holds (optional; the GC frees it otherwise). */
    dispose(snap) {
      if (snap && typeof snap === 'object' && typeof snap.destroy === 'function') snap.destroy();
    },
    stateHash() {
      return m.state_hash();
    },
    canonicalState() {
      return JSON.parse(m.canonical_json());
    },
    render() {
      return JSON.parse(m.render_json());
    },
    /** A hosted seat's observation (player index) as float32s: the agent's entry of what the last
     * reset/step returned (the newest simulated frame), flattened; null before the first reset. */
    observation(player) {
      const flat = JSON.parse(m.observation_json(player));
      return flat === null ? null : Float32Array.from(flat);
    },
    /** Drop the Python side (module, env, method proxies). */
    destroy() {
      if (destroyed) return;
      destroyed = true;
      m.close();
      for (const fn of Object.values(m)) fn.destroy();
      glue.destroy();
    },
  };
  return adapter;
}

/**
 * Write pure-Python modules into the interpreter's site-packages ({'pkg/mod.py': source}),
 * e.g. Interactive Gym's object contexts, so env code importing them runs offline.
 */
export function installPythonModules(pyodide, files) {
  const site = pyodide.runPython('import site\nsite.getsitepackages()[0]');
  for (const [rel, source] of Object.entries(files ?? {})) {
    if (!/^[A-Za-z0-9_]+(\/[A-Za-z0-9_]+)*\.py$/.test(rel)) throw new Error(`installPythonModules: bad module path ${rel}`);
    const path = `${site}/${rel}`;
    pyodide.FS.mkdirTree(path.slice(0, path.lastIndexOf('/')));
    pyodide.FS.writeFile(path, source);
  }
  pyodide.runPython('import importlib\nimportlib.invalidate_caches()');
}

/** Async convenience: load the packages the env code imports, then build the adapter. */
export async function preparePyodideEnv(pyodide, opts) {
  await pyodide.loadPackagesFromImports(opts.environmentCode);
  return createPyodideEnv(pyodide, opts);
}

function ensureGlue(pyodide) {
  const existing = pyodide.globals.get('_p2p_glue_ns');
  if (existing !== undefined) {
    existing.destroy();
    return;
  }
  // The glue lives in its own dict so it never collides with names in the scene's code.
  const ns = pyodide.runPython('{"__name__": "_p2p_glue"}');
  pyodide.runPython(GLUE_SOURCE, { globals: ns });
  pyodide.globals.set('_p2p_glue_ns', ns);
  ns.destroy();
}
