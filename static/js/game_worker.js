// The game worker (a module Dedicated Worker, one per participant page): Pyodide, the
// environments and the running game's rollback session live here, off the page's main thread,
// so a step of several milliseconds and deep rollbacks do not hold up the page's drawing and
// input (docs/client.md "The game worker"). game_core.js does the work; this file only wires it
// to the worker's message port. Messages: game_worker_contract.js.

import { createGameCore } from './game_core.js';
import { createEnvLoader } from './env_loader.js';

const core = createGameCore({
  post: (msg, transfer) => self.postMessage(msg, transfer ?? []),
  // The page loads and draws the textures; the worker's environments carry none.
  makeLoader: (config) => createEnvLoader(config, { loadAssets: async () => new Map() }),
});

self.onmessage = (event) => core.handle(event.data);
