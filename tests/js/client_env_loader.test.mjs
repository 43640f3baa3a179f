// client.js's environment loader with its pieces replaced: one Pyodide per page unless the
// scene says restart_pyodide, Interactive Gym's object contexts written in only when the env
// code imports them, textures loaded beside the env and handed over on it, and a texture that
// fails to load failing the whole load.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { createEnvLoader, installPackages, PackageInstallError } from '../../static/js/env_loader.js';

function fakes({ assetsFail = false } = {}) {
  const calls = { runtimes: 0, installs: [], prepared: [], fetched: [], destroyed: 0 };
  const deps = {
    loadRuntime: async () => {
      calls.runtimes += 1;
      const installed = [];
      return {
        id: calls.runtimes, installed,
        loadPackage: async () => {},
        pyimport: () => ({ install: { callKwargs: async (pkg, kwargs) => installed.push([pkg, kwargs]) } }),
        toPy: (v) => ({ value: v, destroy() {} }),
      };
    },
    prepare: async (pyodide, opts) => {
      calls.prepared.push({ pyodide: pyodide.id, opts });
      return { destroy() { calls.destroyed += 1; } };
    },
    install: (pyodide, files) => calls.installs.push({ pyodide: pyodide.id, files }),
    loadAssets: async (textures) => {
      if (assetsFail) throw new Error("texture 'chefs': image /p2p/assets/x/chefs.png: HTTP 404");
      return new Map((textures ?? []).map((t) => [t.name, { name: t.name }]));
    },
    fetch: async (url) => {
      calls.fetched.push(url);
      return { ok: true, text: async () => `# ${url}`, json: async () => ({ 'interactive_gym/__init__.py': '' }) };
    },
  };
  return { calls, deps };
}

const scene = (env = {}, rendering = {}) => ({
  env: { runtime: 'pyodide', code: 'env = 1', packages: [], on_game_step_code: '', restart_pyodide: false, ...env },
  rendering,
  settings: { p2p: { players: 2, agent_ids: null, default_action: 0 }, validation: {} },
  gameplay: {},
});

test('one Pyodide per page; restart_pyodide gives the scene a fresh one', async () => {
  const { calls, deps } = fakes();
  const load = createEnvLoader({ python_url: '/p2p/py/' }, deps);
  await load(scene());
  await load(scene());
  assert.equal(calls.runtimes, 1);
  await load(scene({ restart_pyodide: true }));
  assert.equal(calls.runtimes, 2);
  assert.deepEqual(calls.prepared.map((p) => p.pyodide), [1, 1, 2]);
});

test("Interactive Gym's modules are written in only for env code that imports interactive_gym", async () => {
  const { calls, deps } = fakes();
  const load = createEnvLoader({ python_url: '/p2p/py/' }, deps);
  await load(scene({ code: 'import random\nenv = 1' }));
  assert.equal(calls.installs.length, 0);
  await load(scene({ code: 'from interactive_gym.configurations.object_contexts import Sprite\nenv = 1' }));
  assert.equal(calls.installs.length, 1);
  assert.ok(calls.fetched.includes('/p2p/py/interactive_gym.json'));
  await load(scene({ code: 'import interactive_gym\nenv = 1', packages: ['interactive-gym==0.1.1'] }));
  assert.equal(calls.installs.length, 1, 'a package that provides it wins');
});

test('the step code and the textures ride along; a texture that fails fails the load', async () => {
  const { calls, deps } = fakes();
  const load = createEnvLoader({}, deps);
  const env = await load(scene({ on_game_step_code: 'env.w = 2' }, { textures: [{ name: 'chefs' }, { name: 'gem' }] }));
  assert.deepEqual([...env.textures.keys()], ['chefs', 'gem']);
  assert.equal(calls.prepared[0].opts.onGameStepCode, 'env.w = 2');
  const failing = fakes({ assetsFail: true });
  await assert.rejects(createEnvLoader({}, failing.deps)(scene({}, { textures: [{ name: 'chefs' }] })), /texture 'chefs'.*HTTP 404/);
  assert.equal(failing.calls.destroyed, 1, 'the half-built environment is dropped');
});

/** A Pyodide whose micropip installs what `known` holds and fails like micropip otherwise. */
function fakePyodide({ known = [], micropipLoads = true } = {}) {
  const installed = [];
  return {
    installed,
    loadPackage: async (name) => {
      if (!micropipLoads) throw new Error(`PythonError: Traceback ...\nValueError: Failed to load ${name}`);
    },
    toPy: (v) => ({ value: v, destroy() {} }),
    pyimport: () => ({
      install: {
        callKwargs: async (pkg, kwargs) => {
          if (!known.includes(pkg)) {
            throw new Error(`PythonError: Traceback (most recent call last):\n  File "micropip"\nValueError: Can't fetch metadata for '${pkg}'.\n`);
          }
          installed.push({ pkg, indexUrls: kwargs.index_urls?.value ?? null });
        },
      },
    }),
  };
}

test('packages install one at a time, from the wheelhouse index (absolute URL) when the server has one', async () => {
  const py = fakePyodide({ known: ['numpy', 'tug-rules'] });
  await installPackages(py, ['numpy', 'tug-rules'], '/p2p/wheels/simple/', 'http://10.0.0.5:5702/someone');
  assert.deepEqual(py.installed, [
    { pkg: 'numpy', indexUrls: ['http://10.0.0.5:5702/p2p/wheels/simple'] },
    { pkg: 'tug-rules', indexUrls: ['http://10.0.0.5:5702/p2p/wheels/simple'] },
  ]);
  const plain = fakePyodide({ known: ['six'] });
  await installPackages(plain, ['six'], null, 'http://x/');
  assert.deepEqual(plain.installed, [{ pkg: 'six', indexUrls: null }], 'no wheelhouse: micropip keeps its default index');
});

test('a package that does not install is named, with the last line of micropip\'s reason', async () => {
  const py = fakePyodide({ known: ['numpy'] });
  const err = await installPackages(py, ['numpy', 'tug-rules', 'never-reached'], '/p2p/wheels/simple/', 'http://x/').catch((e) => e);
  assert.ok(err instanceof PackageInstallError);
  assert.equal(err.package, 'tug-rules');
  assert.equal(err.message, 'could not install package "tug-rules": ValueError: Can\'t fetch metadata for \'tug-rules\'.');
  assert.deepEqual(py.installed.map((i) => i.pkg), ['numpy']);
  const noMicropip = await installPackages(fakePyodide({ micropipLoads: false }), ['x'], null, 'http://x/').catch((e) => e);
  assert.equal(noMicropip.package, 'micropip');
  assert.match(noMicropip.message, /could not install package "micropip": ValueError: Failed to load micropip/);
  // Through the loader: the error reaches the flow with its package.
  const { deps } = fakes();
  deps.loadRuntime = async () => fakePyodide({ known: [] });
  const loadErr = await createEnvLoader({ wheelhouse_url: '/p2p/wheels/simple/' }, { ...deps, baseUrl: 'http://x/' })(
    scene({ packages: ['tug-rules'] })).catch((e) => e);
  assert.equal(loadErr.package, 'tug-rules');
});
