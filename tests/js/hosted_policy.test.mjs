// hosted_policy.js: the host's ONNX runner (onnxruntime-web is faked here; the Chromium test
// tests/e2e/test_hosted_seats_chromium.py runs the real one). One inference in flight per seat,
// fed the env's observation as [1, n] float32; the action is an integer output or the argmax.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { actionFrom, createHostedPolicies } from '../../static/js/hosted_policy.js';

test('actionFrom: argmax of float outputs (lowest index on ties), the value of an integer output', () => {
  assert.equal(actionFrom({ type: 'float32', data: Float32Array.from([0.1, 0.7, 0.2]) }), 1);
  assert.equal(actionFrom({ type: 'float32', data: Float32Array.from([0.5, 0.5, 0.1]) }), 0);
  assert.equal(actionFrom({ type: 'int64', data: BigInt64Array.from([4n]) }), 4);
});

test('createHostedPolicies: loads the runtime and models from this server, one inference per idle seat', async () => {
  const imported = [];
  const fetched = [];
  const runs = [];
  let release = null;
  const ort = {
    env: { wasm: {} },
    Tensor: class { constructor(type, data, dims) { Object.assign(this, { type, data, dims }); } },
    InferenceSession: {
      create: async (bytes) => ({
        inputNames: ['obs'], outputNames: ['logits'],
        run: (feeds) => { runs.push(feeds.obs); return new Promise((resolve) => { release = () => resolve({ logits: { type: 'float32', data: Float32Array.from([0, 0, 1]) } }); }); },
        release: async () => {},
        bytes,
      }),
    },
  };
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (url) => { fetched.push(url); return { ok: true, arrayBuffer: async () => new ArrayBuffer(4) }; };
  try {
    const policies = await createHostedPolicies({ seats: [{ seat: 1, modelUrl: '/p2p/assets/abc/bot.onnx' }], ortUrl: '/p2p/onnxruntime', importModule: async (u) => { imported.push(u); return ort; } });
    assert.deepEqual(imported, ['/p2p/onnxruntime/ort.wasm.min.mjs']);
    assert.deepEqual(fetched, ['/p2p/assets/abc/bot.onnx']);
    assert.equal(ort.env.wasm.numThreads, 1);
    assert.equal(ort.env.wasm.wasmPaths, '/p2p/onnxruntime/');
    const set = [];
    const session = { setHostedAction: (seat, a) => set.push([seat, a]) };
    const env = { observation: (p) => Float32Array.from([p, 7]) };
    policies.step(env, session);
    policies.step(env, session); // still running: no second inference
    assert.equal(runs.length, 1);
    assert.deepEqual(runs[0].dims, [1, 2]);
    assert.deepEqual(Array.from(runs[0].data), [1, 7]);
    release();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(set, [[1, 2]]);
    assert.deepEqual(policies.stats(), { 1: { runs: 1, failed: null, decisions: [[[1, 7], 2]] } });
    policies.step(env, session);
    assert.equal(runs.length, 2);
  } finally {
    globalThis.fetch = realFetch;
  }
  await assert.rejects(createHostedPolicies({ seats: [], ortUrl: null }), /onnxruntime_url/);
});
