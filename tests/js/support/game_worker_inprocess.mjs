// The game worker in the test's own thread: game_core.js behind a Worker-like port whose
// messages are structured-cloned (buffers transferred) and delivered on a later task, as a
// real Worker's are. `inProcessEnv(env)` is the handle createGame's begin() takes.
import { createGameCore } from '../../../static/js/game_core.js';
import { createGameWorker } from '../../../static/js/game_worker_client.js';

export function inProcessPort(coreOptions = {}) {
  // received: the types the worker posted; sequence: the same with each event's name ('event:rejoined')
  const port = { onmessage: null, onerror: null, sent: [], received: [], sequence: [] };
  const deliver = (fn, msg, transfer) => {
    const copy = structuredClone(msg, { transfer: transfer ?? [] });
    setTimeout(() => fn(copy), 0);
  };
  port.core = createGameCore({
    ...coreOptions,
    post: (msg, transfer) => {
      port.received.push(msg.type);
      port.sequence.push(msg.type === 'event' ? `event:${msg.name}` : msg.type);
      deliver((m) => port.onmessage?.({ data: m }), msg, transfer);
    },
  });
  port.postMessage = (msg, transfer) => {
    port.sent.push(msg.type);
    deliver((m) => port.core.handle(m), msg, transfer);
  };
  port.terminate = () => { port.terminated = true; };
  return port;
}

let nextEnvId = 1000;

/** A game-worker handle for a JS environment, as game_worker_client.js loadEnv would return. */
export function inProcessEnv(env, { textures = new Map(), coreOptions = {} } = {}) {
  const port = inProcessPort(coreOptions);
  const client = createGameWorker({ config: {}, spawn: () => port });
  const envId = nextEnvId++;
  port.core.addEnv(envId, env);
  client.post({ type: 'blur' }); // starts the port (CONFIG first); harmless without a game
  return { worker: client, envId, textures, numPlayers: env.numPlayers ?? null, port, destroy() {} };
}
