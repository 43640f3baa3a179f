// The game's settings, from the scene's p2p block and game_ready: the session's settings
// (settings.js names), the transport's impairment, the export's path, and an environment with
// fewer players than agents. Pure functions, no DOM: the page (client_game.js) and the game
// worker (game_core.js) both use them.

import { fromSnakeCase } from './settings.js';

// How long a partner's environment may still be loading when our server-relay fallback starts.
const FALLBACK_LOAD_ALLOWANCE_MS = 60000;

/** Session settings (settings.js names) from the scene's p2p block (activate_scene `p2p`). */
export function sessionSettings(p2p) {
  const p = p2p.settings.p2p;
  const v = p2p.settings.validation ?? {};
  const g = p2p.gameplay ?? {};
  const snake = {
    fps: p.fps,
    input_delay: p.input_delay,
    max_prediction_window: p.prediction_window,
    input_redundancy: p.input_redundancy,
    disconnect_notify_ms: p.disconnect_notify_ms,
    disconnect_timeout_ms: p.disconnect_timeout_ms,
    disconnect_policy: p.disconnect_policy,
    default_action: p.default_action ?? g.default_action,
    max_episodes: p.num_episodes ?? g.num_episodes ?? null,
    reset_freeze_frames: p.reset_freeze_frames,
    hash_interval: v.hash_interval,
    hidden_action: p.hidden_action ?? undefined,
    max_hidden_ms: p.max_hidden_s == null ? undefined : p.max_hidden_s * 1000,
    hidden_policy: p.hidden_policy,
  };
  // Over the server relay a session starts when OUR WebRTC attempt gives up, while the
  // partner may still be loading its environment (its own attempt starts only after that):
  // wait for its first message as long as its load and its own attempt may take.
  if (p.connection_fallback === 'server') {
    snake.handshake_timeout_ms = Math.max(p.disconnect_timeout_ms ?? 5000, (p.connection_timeout_s ?? 20) * 1000 + FALLBACK_LOAD_ALLOWANCE_MS);
  }
  // The 3-2-1 before frame 0, in ticks (a server without the setting: no countdown).
  if (Number.isFinite(p.countdown_s)) snake.countdown_frames = Math.floor(p.countdown_s * (p.fps ?? 30) + 0.5);
  // A reloading partner's seat is held reconnect_grace_s; then it has connection_timeout_s to
  // connect and ask to catch up. 0: the scene holds no seats, so a reload is leaving.
  const grace = p.reconnect_grace_s;
  if (typeof grace === 'number') snake.away_timeout_ms = grace <= 0 ? 0 : Math.round((grace + (p.connection_timeout_s ?? 20)) * 1000);
  // Interactive Gym ends an episode at max_steps; its default is effectively "never".
  if (Number.isInteger(g.max_steps) && g.max_steps >= 1 && g.max_steps <= 2 ** 31) snake.max_steps_per_episode = g.max_steps;
  if (v.state_dump_on_desync === false) snake.max_state_dumps = 0;
  const out = fromSnakeCase(snake);
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

/** transport.js impairment options from the scene's `impairment` block (or null). The
 * transport derives each link's own seed from `seed` (linkSeed), so both ends agree. */
export function transportImpairment(imp) {
  if (!imp) return null;
  return {
    seed: imp.seed ?? 0,
    delayMs: imp.delay_ms ?? 0,
    jitterMs: imp.jitter_ms ?? 0,
    loss: imp.loss ?? 0,
    duplicate: imp.duplicate ?? 0,
    reorder: imp.reorder ?? 0,
  };
}

const CANDIDATE_TYPES = new Set(['host', 'srflx', 'prflx', 'relay']);

/** The export's stats.path (and window.p2p.path) from a transport path. */
export function exportPath(path) {
  if (!path) return null;
  const proto = String(path.protocol ?? '').toLowerCase();
  return {
    kind: path.kind === 'relay' ? 'relay' : 'direct',
    // TLS to a TURN server still runs over TCP; the schema knows udp and tcp.
    protocol: proto === 'udp' ? 'udp' : (proto === 'tcp' || proto === 'tls') ? 'tcp' : null,
    local_candidate_type: CANDIDATE_TYPES.has(path.localCandidateType) ? path.localCandidateType : null,
    remote_candidate_type: CANDIDATE_TYPES.has(path.remoteCandidateType) ? path.remoteCandidateType : null,
  };
}

/**
 * The environment adapter for a game of `numPlayers` when the environment has more agents (a
 * waiting room's 'start_with_fewer'): player i still controls agent i, the agents past
 * numPlayers get the default action (the adapters pad step()'s actions). Twin of the Python
 * peer's env.with_players.
 */
export function withPlayers(env, numPlayers) {
  if (env.numPlayers === undefined || env.numPlayers === numPlayers) return env;
  if (numPlayers > env.numPlayers) {
    throw new RangeError(`a game of ${numPlayers} players cannot run an environment of ${env.numPlayers} agents`);
  }
  return new Proxy(env, { get: (target, key) => (key === 'numPlayers' ? numPlayers : Reflect.get(target, key)) });
}
