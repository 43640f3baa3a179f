// Input delay benchmark (simulator half; the Chromium half is key_to_screen_bench.py): rollback
// depth and stalls of two peers for a fixed input delay 2 (the old default) and 'auto', side by
// side, over the deterministic network simulator (virtual clock, seeded impairment), with the
// model 'auto' uses (docs/rollback.md, "Input delay") beside the measured depth.
//
//   node benchmarks/input_delay_bench.mjs [seconds=60] [seed=1] [rtts=0,80,150,300] [fps=30,60]
//
// Rows: fps {30 (the demo), 60} x RTT {0, 80, 150, 300} ms x loss {0, 5} % (one-way delay =
// RTT/2, 5 ms jitter), inputs changing with probability 0.1 per frame, window 8.
//   d         the delay each peer used (auto: chosen by the pre-game probe)
//   model     expectedRollbackDepth(RTT, fps, d) = max(0, floor(RTT / 2T) + 1 - d)
//   depth     mean and max rollback depth (frames re-simulated) per rollback
//   rb/s      rollbacks per second per peer
//   stall%    running ticks that could not advance / all running ticks
//   own lag   frames (and ms) from a local input to the first frame that includes it
//             (= d unless the session stalls); what the player feels on top of the display
import { createGame } from '../tests/js/support/sim.mjs';
import { createTrivialEnv } from '../tests/js/support/envs.mjs';
import { expectedRollbackDepth } from '../static/js/input_delay.js';

const SECONDS = Number(process.argv[2] ?? 60);
const SEED = Number(process.argv[3] ?? 1);
const RTTS = (process.argv[4] ?? '0,80,150,300').split(',').map(Number);
const LOSSES = [0, 0.05];
const FPS = (process.argv[5] ?? '30,60').split(',').map(Number);
const DELAYS = [2, 'auto'];

function input(player, tick, prng) {
  if (prng.float() < 0.1) prng.lastAction = prng.int(5);
  return prng.lastAction ?? 0;
}

function run(fps, rtt, loss, inputDelay) {
  const g = createGame({
    numPlayers: 2, seed: SEED, makeEnv: () => createTrivialEnv({ numPlayers: 2 }),
    settings: { fps, inputDelay }, link: { delayMs: rtt / 2, jitterMs: 5, loss }, input,
  });
  const warmup = 3000;
  g.run(warmup);
  const before = g.sessions.map((s) => s.stats());
  const res0 = g.results.map((r) => ({ ...r }));
  g.run(warmup + SECONDS * 1000);
  const after = g.sessions.map((s) => s.stats());
  let rollbacks = 0; let depthSum = 0; let maxDepth = 0;
  for (let i = 0; i < 2; i++) {
    for (const [k, v] of Object.entries(after[i].rollback_depth_histogram)) {
      const n = v - (before[i].rollback_depth_histogram[k] || 0);
      rollbacks += n; depthSum += Number(k) * n;
      if (n > 0 && Number(k) > maxDepth) maxDepth = Number(k);
    }
  }
  let stalled = 0; let ticks = 0;
  g.results.forEach((r, i) => {
    stalled += r.stalled - res0[i].stalled;
    ticks += (r.advanced + r.stalled + r.waiting) - (res0[i].advanced + res0[i].stalled + res0[i].waiting);
  });
  const d = after.map((s) => s.input_delay);
  const lag = after.reduce((a, s) => a + s.local_input_latency_frames, 0) / 2;
  return {
    fps, rtt, loss, inputDelay, d,
    model: expectedRollbackDepth(rtt, fps, d[0]),
    meanDepth: rollbacks ? depthSum / rollbacks : 0, maxDepth,
    rbps: rollbacks / 2 / SECONDS, stallPct: (100 * stalled) / ticks, lag, lagMs: (lag * 1000) / fps,
  };
}

const pad = (s, n) => { s = String(s); return s.length >= n ? s : ' '.repeat(n - s.length) + s; };
console.log(`input delay benchmark: 2 peers, trivial env, ${SECONDS} s virtual per row (after 3 s), seed ${SEED}, window 8, 5 ms jitter`);
console.log(`${pad('fps', 4)} ${pad('RTT', 4)} ${pad('loss', 5)} ${pad('setting', 8)} ${pad('d', 5)} ${pad('model', 6)} ${pad('depth', 11)} ${pad('rb/s', 6)} ${pad('stall%', 7)} ${pad('own lag', 14)}`);
for (const fps of FPS) {
  for (const rtt of RTTS) {
    for (const loss of LOSSES) {
      for (const delay of DELAYS) {
        const r = run(fps, rtt, loss, delay);
        console.log(`${pad(fps, 4)} ${pad(rtt, 4)} ${pad(`${loss * 100}%`, 5)} ${pad(delay, 8)} ${pad(r.d.join(','), 5)} ${pad(r.model, 6)} ${pad(`${r.meanDepth.toFixed(2)} / ${r.maxDepth}`, 11)} ${pad(r.rbps.toFixed(1), 6)} ${pad(r.stallPct.toFixed(2), 7)} ${pad(`${r.lag.toFixed(2)} f ${r.lagMs.toFixed(0)} ms`, 14)}`);
      }
    }
  }
}
