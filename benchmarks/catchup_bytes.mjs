// Catch-up size for a 5-minute 30 fps game (docs/rollback.md "Rejoining after a reload"): two
// P2PSessions over the network simulator (virtual clock, 40 ms one way, 5 % loss) play 5
// episodes of 1800 frames (9000 frames = 5 min at 30 fps); player 0's page reloads near the end
// (frame 8900), its new session takes the catch-up document from player 1 and re-simulates.
//
//   node benchmarks/catchup_bytes.mjs [seed=1]
//
// Per input pattern (how often a player's action changes per frame) and hash interval:
//   doc B      the catch-up document's bytes (what the chunks carry, without chunk headers)
//   B/frame    doc B / frames re-simulated
//   raw B      the same history uncoded: 4 bytes per action per player per frame + 8 per hash
//   chunks     CATCHUP_CHUNK messages the document needs (first sends; loss adds resends)
//   wire B     all bytes the source sent to the rejoiner from its request to the rejoin
//              (chunks, resends, headers, and its live inputs meanwhile)
//   transfer   virtual seconds from the request to the whole document (the 40 ms link, loss)
//   frames     frames the rejoiner re-simulated
// The environment is the tests' trivial counter: the re-simulation's speed with a real game is
// the Chromium benchmark's (benchmarks/rejoin_chromium.py).
import { createGame } from '../tests/js/support/sim.mjs';
import { createCounterEnv } from '../tests/js/support/envs.mjs';
import { CATCHUP_CHUNK_BYTES } from '../static/js/protocol.js';

const SEED = Number(process.argv[2] ?? 1);
const EPISODE = 1800;
const EPISODES = 5;
const RELOAD_AT = EPISODES * EPISODE - 100;

const PATTERNS = {
  // A key held about a second between changes (most games: move, hold, move).
  'held ~1 s': 1 / 30,
  // The tests' default: a change every ~7 frames.
  'busy ~0.2 s': 0.15,
  // Worst case: a new random action every frame.
  'every frame': 1,
};

function runOne(changeP, hashInterval) {
  const input = (player, tick, prng) => {
    if (prng.float() < changeP) prng.lastAction = prng.int(5);
    return prng.lastAction ?? 0;
  };
  const g = createGame({
    numPlayers: 2, seed: SEED, input,
    link: { delayMs: 40, loss: 0.05 },
    makeEnv: () => createCounterEnv({ numPlayers: 2, minSteps: EPISODE, maxSteps: EPISODE }),
    settings: { maxEpisodes: EPISODES, inputDelay: 2, hashInterval },
  });
  g.run(4 * 3600 * 1000, () => g.sessions[0].confirmedFrame >= RELOAD_AT);
  g.reload(0, { downMs: 2000, bye: true });
  g.run(g.clock.now() + 2000);
  const sentBefore = g.stats.sentBytes[1];
  const fresh = g.sessions[0];
  let wire = null;
  fresh.on('rejoined', () => { wire = g.stats.sentBytes[1] - sentBefore; });
  g.runToEnd(g.clock.now() + 3600 * 1000);
  const records = g.sessions.map((s) => s.record());
  const rj = records[0].rejoins[0];
  if (!rj || rj.caught_up_at === null) throw new Error('the rejoin did not complete');
  for (const r of records) {
    if (r.game_over_reason !== 'completed' || r.desyncs.length) throw new Error(`game did not end cleanly: ${r.game_over_reason}`);
  }
  const hashes = Math.floor(rj.frames / hashInterval) + 1;
  return {
    bytes: rj.bytes, frames: rj.frames, wire, transfer: rj.transfer_s,
    raw: rj.frames * 2 * 4 + hashes * 8, chunks: Math.ceil(rj.bytes / CATCHUP_CHUNK_BYTES),
  };
}

console.log(`5-minute 30 fps game (${EPISODES} x ${EPISODE} frames), reload at frame ${RELOAD_AT}, 40 ms one way / 5 % loss, seed ${SEED}`);
console.log(`${'inputs'.padEnd(12)} ${'hash every'.padStart(10)} ${'doc B'.padStart(8)} ${'B/frame'.padStart(8)} ${'raw B'.padStart(8)} `
  + `${'chunks'.padStart(6)} ${'wire B'.padStart(8)} ${'transfer'.padStart(8)} ${'frames'.padStart(7)}`);
for (const [name, p] of Object.entries(PATTERNS)) {
  for (const interval of [1, 30]) {
    const r = runOne(p, interval);
    console.log(`${name.padEnd(12)} ${String(interval).padStart(10)} ${String(r.bytes).padStart(8)} ${(r.bytes / r.frames).toFixed(2).padStart(8)} `
      + `${String(r.raw).padStart(8)} ${String(r.chunks).padStart(6)} ${String(r.wire).padStart(8)} ${(r.transfer.toFixed(2) + ' s').padStart(8)} ${String(r.frames).padStart(7)}`);
  }
}
