// The game worker (a module Dedicated Worker, one per participant page): Pyodide, the
// environments and the running game's rollback session live here, off the page's main thread,
// so a step of several milliseconds and deep rollbacks do not hold up the page's drawing and
// input (docs/client.md "The game worker"). game_core.js does the work; this file only wires it
// to the worker's message port. Messages: game_worker_contract.js.

import { createGameCore } from './game_core.js';
import { createEnvLoader } from './env_loader.js';

// A task of its own at once (a rejoin's catch-up slices, back to back): a message to ourselves,
// which, unlike a chain of 0 ms timers, is never clamped to 4 ms.
const channel = new MessageChannel();
const soon = [];
channel.port1.onmessage = () => soon.shift()?.();
function immediate(fn) {
  soon.push(fn);
  channel.port2.postMessage(null);
}

const core = createGameCore({
  post: (msg, transfer) => self.postMessage(msg, transfer ?? []),
  immediate,
  // The page loads and draws the textures; the worker's environments carry none.
  makeLoader: (config) => createEnvLoader(config, { loadAssets: async () => new Map() }),
});

self.onmessage = (event) => core.handle(event.data);
