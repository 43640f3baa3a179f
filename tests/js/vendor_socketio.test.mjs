// The vendored Socket.IO client (static/vendor/socket.io) is the npm package's ESM build,
// byte for byte, at the version package.json pins; scripts/vendor-js-socketio refreshes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (p) => readFileSync(`${ROOT}${p}`);

test('vendored socket.io-client matches node_modules and the pinned version', async () => {
  const pinned = JSON.parse(read('package.json')).devDependencies['socket.io-client'];
  assert.match(pinned, /^\d+\.\d+\.\d+$/, 'pinned to an exact version');
  const installed = JSON.parse(read('node_modules/socket.io-client/package.json')).version;
  assert.equal(installed, pinned, 'run npm ci');
  assert.equal(read('static/vendor/socket.io/VERSION').toString().trim(), pinned, 'run scripts/vendor-js-socketio');
  assert.ok(read('static/vendor/socket.io/socket.io.esm.min.js').equals(read('node_modules/socket.io-client/dist/socket.io.esm.min.js')),
    'static/vendor/socket.io differs from node_modules: run scripts/vendor-js-socketio');
  assert.ok(read('static/vendor/socket.io/LICENSE').equals(read('node_modules/socket.io-client/LICENSE')));
  const mod = await import('../../static/vendor/socket.io/socket.io.esm.min.js');
  assert.equal(typeof mod.io, 'function');
});
