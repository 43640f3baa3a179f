// Runs one simulated game (sim.mjs, counter or trivial environment) from a JSON config given
// as argv[2] and prints every session's record() as one JSON line: the Python simulator
// (interactive_gym_p2p/peer/sim.py) runs the same config and its tests compare the two.
// Config: {numPlayers, seed, settings (camelCase), playerSettings (per player, camelCase, or null),
//          link (camelCase, all directed links),
//          env: {kind: 'counter'|'trivial', ...options}, noiseSaltByPlayer, maxMs,
//          input: 'default'|'nonzero', hostedSeats: [{seat, host}] (their actions: 'nonzero'),
//          script: [[t, 'kill'|'block'|'unblock'|'close'|'hide'|'show'|'exclude'|'reload'|'away', a, b, both], ...]}
//          ('exclude': b is the policy; 'reload': b is the time the page is down (ms), both whether it says
//          BYE(away), and the rejoin's nonce is 1000 + a; 'away': player a's page is told b is away)
import { createGame } from './sim.mjs';
import { createCounterEnv, createTrivialEnv } from './envs.mjs';

const cfg = JSON.parse(process.argv[2]);
const envOpts = cfg.env || { kind: 'counter' };
function makeEnv(p) {
  const o = { numPlayers: cfg.numPlayers, ...envOpts };
  if (cfg.noiseSaltByPlayer) o.noiseSalt = cfg.noiseSaltByPlayer[p];
  return envOpts.kind === 'trivial' ? createTrivialEnv(o) : createCounterEnv(o);
}
// 'nonzero': actions 1..4 (never the default action 0), as the disconnect tests use.
const nonzero = (p, tick, prng) => { if (prng.float() < 0.2) prng.lastAction = 1 + prng.int(4); return prng.lastAction ?? 1; };
const g = createGame({
  numPlayers: cfg.numPlayers, seed: cfg.seed, makeEnv, settings: cfg.settings || {}, playerSettings: cfg.playerSettings || undefined, link: cfg.link || {},
  input: cfg.input === 'nonzero' ? nonzero : undefined,
  hostedSeats: cfg.hostedSeats || [], hosted: (seat, tick, prng) => nonzero(seat, tick, prng),
});
for (const [t, op, a, b, both] of cfg.script || []) {
  g.run(t);
  if (op === 'kill') g.kill(a);
  else if (op === 'block') g.block(a, b, both);
  else if (op === 'unblock') g.unblock(a, b, both);
  else if (op === 'close') g.sessions[a].close();
  else if (op === 'hide') g.sessions[a].setHidden(true);
  else if (op === 'show') g.sessions[a].setHidden(false);
  else if (op === 'exclude') g.sessions[a].exclude({ reason: 'test', policy: b });
  else if (op === 'reload') g.reload(a, { downMs: b, bye: both, nonce: 1000 + a });
  else if (op === 'away') g.sessions[a].peerAway(b);
}
g.runToEnd(cfg.maxMs ?? 600000);
process.stdout.write(JSON.stringify({ states: g.sessions.map((s) => s.state), records: g.sessions.map((s) => s.record()) }) + '\n');
