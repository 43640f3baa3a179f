// The vendored uPlot (static/vendor/uplot) is the npm package's ESM build and stylesheet,
// byte for byte, at the version package.json pins; scripts/vendor-js-uplot refreshes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (p) => readFileSync(`${ROOT}${p}`);

test('vendored uPlot matches node_modules and the pinned version', async () => {
  const pinned = JSON.parse(read('package.json')).devDependencies.uplot;
  assert.match(pinned, /^\d+\.\d+\.\d+$/, 'pinned to an exact version');
  const installed = JSON.parse(read('node_modules/uplot/package.json')).version;
  assert.equal(installed, pinned, 'run npm ci');
  assert.equal(read('static/vendor/uplot/VERSION').toString().trim(), pinned, 'run scripts/vendor-js-uplot');
  for (const [vendored, original] of [['uPlot.esm.js', 'dist/uPlot.esm.js'], ['uPlot.min.css', 'dist/uPlot.min.css'], ['LICENSE', 'LICENSE']]) {
    assert.ok(read(`static/vendor/uplot/${vendored}`).equals(read(`node_modules/uplot/${original}`)),
      `static/vendor/uplot/${vendored} differs from node_modules: run scripts/vendor-js-uplot`);
  }
  // Importable without a DOM (nothing runs at import) and exposes the constructor.
  const mod = await import('../../static/vendor/uplot/uPlot.esm.js');
  assert.equal(typeof mod.default, 'function');
  assert.equal(typeof mod.default.paths, 'object');
});
