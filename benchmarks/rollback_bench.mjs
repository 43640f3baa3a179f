// Rollback engine benchmark: two P2PSessions over the deterministic network simulator (virtual
// clock, seeded impairment), with a trivial environment so the engine's own cost shows.
//
//   node benchmarks/rollback_bench.mjs [seconds=60] [seed=1]
//
// For RTT {0, 50, 100, 200} ms x loss {0, 5, 20} % at 30 and 60 fps (one-way delay = RTT/2,
// no jitter, loss on each direction, inputs changing with probability 0.1 per frame):
//   rb/s      rollbacks per second (per peer)
//   depth     mean and max rollback depth (frames re-simulated)
//   stall%    ticks in which the session could not advance (prediction window full, or a
//             predicted terminal frame awaiting confirmation) / all ticks while running
//   wait%     ticks skipped by time sync (a peer ahead waits for the other)
//   lat       local input latency (frames): ticks from a local input to the first simulation
//             of the frame it applies to (= inputDelay unless the session stalls)
//   B/s       payload bytes per second sent by one peer (DataChannel message bytes, all types)
//   us/frame  engine time per advanced frame, excluding the environment and the simulated
//             network (wall time in tick()+receive() minus env calls minus transport.send)
// then the rollback-depth histograms, and the memory of a 10-minute 60 fps game.
import { createGame } from '../tests/js/support/sim.mjs';
import { createTrivialEnv } from '../tests/js/support/envs.mjs';

const SECONDS = Number(process.argv[2] ?? 60);
const SEED = Number(process.argv[3] ?? 1);
const RTTS = [0, 50, 100, 200];
const LOSSES = [0, 0.05, 0.2];
const FPS = [30, 60];

function input(player, tick, prng) {
  if (prng.float() < 0.1) prng.lastAction = prng.int(5);
  return prng.lastAction ?? 0;
}

function runConfig(fps, rtt, loss) {
  const sendTime = { ns: 0n };
  const g = createGame({
    numPlayers: 2,
    seed: SEED,
    makeEnv: () => createTrivialEnv({ numPlayers: 2 }),
    settings: { fps, inputDelay: 2 }, // fixed: this table is about the engine (input_delay_bench.mjs compares 'auto')
    link: { delayMs: rtt / 2, loss },
    input,
    measure: true,
  });
  // Time spent inside transport.send (the simulator's scheduling) is not engine time.
  for (const s of g.sessions) {
    const inner = s.transport.send;
    s.transport = {
      send(to, bytes) {
        const t0 = process.hrtime.bigint();
        inner(to, bytes);
        sendTime.ns += process.hrtime.bigint() - t0;
      },
    };
  }
  const warmup = 2000;
  g.run(warmup);
  const before = g.sessions.map((s) => s.stats());
  const envBefore = g.envTime.ns;
  const engBefore = g.engineTime.ns;
  const sendBefore = sendTime.ns;
  const resBefore = g.results.map((r) => ({ ...r }));
  g.run(warmup + SECONDS * 1000);
  const after = g.sessions.map((s) => s.stats());
  const d = (k) => after.reduce((a, s, i) => a + (s[k] - before[i][k]), 0) / after.length;
  const ticks = g.results.reduce((a, r, i) => a + (r.advanced + r.stalled + r.waiting) - (resBefore[i].advanced + resBefore[i].stalled + resBefore[i].waiting), 0);
  const advanced = g.results.reduce((a, r, i) => a + r.advanced - resBefore[i].advanced, 0);
  const stalled = g.results.reduce((a, r, i) => a + r.stalled - resBefore[i].stalled, 0);
  const waiting = g.results.reduce((a, r, i) => a + r.waiting - resBefore[i].waiting, 0);
  const hist = new Map();
  let depthSum = 0;
  let maxDepth = 0;
  for (let i = 0; i < after.length; i++) {
    for (const [k, v] of Object.entries(after[i].rollback_depth_histogram)) {
      const n = v - (before[i].rollback_depth_histogram[k] || 0);
      if (n > 0) {
        hist.set(Number(k), (hist.get(Number(k)) || 0) + n);
        depthSum += Number(k) * n;
        if (Number(k) > maxDepth) maxDepth = Number(k);
      }
    }
  }
  const rollbacks = d('rollbacks');
  const engineNs = Number(g.engineTime.ns - engBefore) - Number(g.envTime.ns - envBefore) - Number(sendTime.ns - sendBefore);
  const lat = after.map((s) => s.local_input_latency_frames);
  return {
    fps, rtt, loss,
    rbps: rollbacks / SECONDS,
    meanDepth: rollbacks ? depthSum / (rollbacks * after.length) : 0,
    maxDepth,
    stallPct: (100 * stalled) / ticks,
    waitPct: (100 * waiting) / ticks,
    latency: lat.reduce((a, b) => a + b, 0) / lat.length,
    bps: d('bytes_sent') / SECONDS,
    usPerFrame: engineNs / 1000 / advanced,
    hist,
    byType: after[0].sent_by_type,
  };
}

function pad(s, n) {
  s = String(s);
  return s.length >= n ? s : ' '.repeat(n - s.length) + s;
}

// Warm the JIT up first so the first measured row is not charged for compilation.
runConfig(60, 100, 0.05);
const rows = [];
for (const fps of FPS) for (const rtt of RTTS) for (const loss of LOSSES) rows.push(runConfig(fps, rtt, loss));

console.log(`rollback engine benchmark: 2 peers, trivial env, ${SECONDS} s virtual per row (after 2 s warm-up), seed ${SEED}, inputDelay 2, window 8, redundancy 5, hashInterval 1`);
const header = ['fps', 'RTT ms', 'loss %', 'rb/s', 'depth mean', 'depth max', 'stall %', 'wait %', 'lat frames', 'B/s/peer', 'us/frame'];
const widths = [4, 7, 7, 7, 11, 10, 8, 7, 11, 9, 9];
console.log(header.map((h, i) => pad(h, widths[i])).join(' '));
for (const r of rows) {
  console.log([
    r.fps, r.rtt, (r.loss * 100).toFixed(0), r.rbps.toFixed(2), r.meanDepth.toFixed(2), r.maxDepth,
    r.stallPct.toFixed(2), r.waitPct.toFixed(2), r.latency.toFixed(2), r.bps.toFixed(0), r.usPerFrame.toFixed(1),
  ].map((v, i) => pad(v, widths[i])).join(' '));
}
console.log('\nrollback depth histogram (depth:count, both peers)');
for (const r of rows) {
  const h = Array.from(r.hist.keys()).sort((a, b) => a - b).map((k) => `${k}:${r.hist.get(k)}`).join(' ');
  console.log(`${pad(r.fps, 3)} fps ${pad(r.rtt, 3)} ms ${pad((r.loss * 100).toFixed(0), 2)} %  ${h || '-'}`);
}
const target = rows.find((r) => r.fps === 60 && r.rtt === 100 && r.loss === 0.05);
console.log('\npayload by message type at 60 fps, 100 ms, 5 % (peer 0, whole run incl. warm-up):');
for (const [t, v] of Object.entries(target.byType)) if (v.messages) console.log(`  ${pad(t, 13)} ${pad(v.messages, 7)} msgs ${pad(v.bytes, 8)} bytes`);
const ok = (c) => (c ? 'met' : 'MISSED');
console.log('\ntargets at 60 fps, 100 ms RTT, 5 % loss:');
console.log(`  stalled frames < 1 %:        ${target.stallPct.toFixed(2)} %  ${ok(target.stallPct < 1)}`);
console.log(`  payload < 2 KB/s per peer:   ${target.bps.toFixed(0)} B/s  ${ok(target.bps < 2000)}`);
console.log(`  engine overhead < 50 us/frame: ${target.usPerFrame.toFixed(1)} us  ${ok(target.usPerFrame < 50)}`);
// "Within the prediction window": the one-way delay is shorter than inputDelay + window frames.
const latRows = rows.filter((r) => r.rtt / 2 < (8 + 2) * (1000 / r.fps));
const worst = latRows.reduce((a, r) => Math.max(a, r.latency), 0);
console.log(`  local input latency == inputDelay (2 frames) at every RTT within the window: worst mean ${worst.toFixed(3)} frames  ${ok(worst < 2.005)}`);

// Memory of a 10-minute 60 fps game: the record holds every confirmed frame.
{
  const g = createGame({
    numPlayers: 2, seed: SEED, makeEnv: () => createTrivialEnv({ numPlayers: 2, episodeSteps: 9000 }),
    settings: { fps: 60 }, link: { delayMs: 50, loss: 0.05 }, input,
  });
  // Typed arrays live outside the JS heap: count heapUsed + arrayBuffers.
  const mem = () => { const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers; };
  if (global.gc) global.gc();
  const heap0 = mem();
  g.run(600000);
  if (global.gc) global.gc();
  const heap1 = mem();
  const s = g.sessions[0];
  const logBytes = s.logs.reduce((a, l) => a + l.byteSize(), 0);
  const json = JSON.stringify(s.record());
  console.log(`\n10-minute 60 fps game (2 peers, episodes of 9000 frames): ${s.lastRecordedFrame + 1} confirmed frames;`
    + ` frame log ${(logBytes / 1024).toFixed(0)} KiB of typed arrays per peer; record() JSON ${(json.length / 1024).toFixed(0)} KiB;`
    + ` heap growth for both peers ${global.gc ? `${((heap1 - heap0) / 1048576).toFixed(1)} MiB` : 'n/a (run with node --expose-gc)'};`
    + ` snapshots held ${s.sync.snapshots.size}, local hashes held ${s.desync.local.size}`);
}
