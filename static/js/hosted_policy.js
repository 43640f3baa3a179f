// Hosted seats' ONNX policies, run by the one page that hosts them (docs/ai.md). onnxruntime-web
// is not bit-identical across browsers and CPUs, so only the host runs a model; the session sends
// the seat's actions to the others as that seat's inputs. The model never runs inside the
// simulated step: inference is asynchronous, so the host reads the seat's observation of the
// newest frame it simulated, runs the model once, and the result becomes the seat's action from
// the host's next input on (held until the next result; one inference in flight per seat).
//
// Model contract: one float32 input, fed the observation flattened as shape [1, n]; the first
// output is either logits/probabilities (the action is the argmax, lowest index on ties) or an
// integer tensor holding the action.

/** How many [observation, action] pairs a seat keeps (bounded memory in a long game). */
export const MAX_DECISIONS = 2000;

/** Action from a model output tensor: an integer tensor's first value, else the argmax. */
export function actionFrom(tensor) {
  const data = tensor.data;
  if (tensor.type === 'int64' || tensor.type === 'int32' || tensor.type === 'uint8' || tensor.type === 'int8') {
    return Number(data[0]);
  }
  let best = 0;
  for (let i = 1; i < data.length; i++) if (data[i] > data[best]) best = i;
  return best;
}

/**
 * Load onnxruntime-web from this server and each hosted seat's model.
 * @param {object} o
 * @param {{seat:number, modelUrl:string}[]} o.seats  seats this page hosts
 * @param {string} o.ortUrl  the folder onnxruntime-web is served from (config.onnxruntime_url)
 * @param {(url:string) => Promise<object>} [o.importModule]  dynamic import (tests inject)
 * @returns {Promise<{step(env, session): void, stats(): object, close(): Promise<void>}>}
 */
export async function createHostedPolicies({ seats, ortUrl, importModule = (url) => import(/* webpackIgnore: true */ url) }) {
  if (typeof ortUrl !== 'string' || ortUrl.length === 0) {
    throw new Error('hosted seats need onnxruntime-web from this server (config.onnxruntime_url is missing)');
  }
  const base = ortUrl.endsWith('/') ? ortUrl : `${ortUrl}/`;
  const ort = await importModule(`${base}ort.wasm.min.mjs`);
  // One thread: no SharedArrayBuffer, so the page needs no cross-origin isolation.
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = base;
  const runners = [];
  for (const { seat, modelUrl } of seats) {
    const r = await fetch(modelUrl);
    if (!r.ok) throw new Error(`hosted seat ${seat}: model ${modelUrl}: HTTP ${r.status}`);
    const model = await ort.InferenceSession.create(new Uint8Array(await r.arrayBuffer()), { executionProviders: ['wasm'] });
    runners.push({ seat, model, busy: false, runs: 0, failed: null, decisions: [] });
  }
  return {
    /** Start an inference for every idle seat from the env's current observation. */
    step(env, session) {
      for (const run of runners) {
        if (run.busy || run.failed) continue;
        const obs = env.observation(run.seat);
        if (obs === null) continue;
        run.busy = true;
        const feeds = { [run.model.inputNames[0]]: new ort.Tensor('float32', obs, [1, obs.length]) };
        run.model.run(feeds).then((out) => {
          run.runs += 1;
          run.busy = false;
          const action = actionFrom(out[run.model.outputNames[0]]);
          // The first decisions, kept so a test (or a researcher) can check them against the model.
          if (run.decisions.length < MAX_DECISIONS) run.decisions.push([Array.from(obs), action]);
          session.setHostedAction(run.seat, action);
        }, (err) => {
          // A model that cannot run leaves the seat at its last action; the page reports it.
          run.failed = err;
          run.busy = false;
          globalThis.console?.error?.(`hosted seat ${run.seat}: the model failed`, err);
        });
      }
    },
    /** Inferences finished per seat, and the first MAX_DECISIONS [observation, action] pairs (shared, not copied). */
    stats() {
      return Object.fromEntries(runners.map((r) => [String(r.seat), {
        runs: r.runs, failed: r.failed === null ? null : String(r.failed), decisions: r.decisions,
      }]));
    },
    async close() {
      for (const r of runners) await r.model.release();
    },
  };
}
