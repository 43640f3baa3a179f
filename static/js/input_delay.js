// input_delay: 'auto': each player's input delay from the RTT measured before the game
// (docs/rollback.md, "Input delay"). Pure functions, mirrored by
// interactive_gym_p2p/peer/input_delay.py.
//
// Model (checked against the node simulator, benchmarks/input_delay_bench.mjs): a player's input
// for frame f is sampled at its tick f - d and sent at the end of that tick; it reaches a peer
// RTT/2 later, whose next tick rolls back to f. With the peers' frames aligned by time sync, the
// peer is then about floor(RTT / 2 / T) + 1 frames past f (T = 1000 / fps ms), minus the delay d:
//   expectedRollbackDepth(rtt, fps, d) = max(0, floor(rtt / (2 T)) + 1 - d).
// 'auto' picks the smallest d that keeps this depth within rollbackBound(window) =
// floor(window / 2) frames: half the prediction window, so network jitter and a lost packet
// still fit in the window instead of stalling the game. On a LAN (RTT < 2 T) that is d = 0 for
// any window >= 2; with the defaults (30 fps, window 8) d stays 0 up to RTT 266 ms.

import { MAX_INPUT_DELAY } from './protocol.js';

/** PONGs per peer the pre-game probe waits for (the median of them is used). */
export const RTT_PROBE_SAMPLES = 5;
/** Interval between the probe's PINGs to one peer (ms). */
export const RTT_PROBE_INTERVAL_MS = 50;
/** The probe decides with what it has after this long (ms); a peer without any sample counts as
 * an unbounded RTT (the largest delay). */
export const RTT_PROBE_TIMEOUT_MS = 2000;

/** Largest expected rollback depth 'auto' accepts (frames). */
export function rollbackBound(maxPredictionWindow) {
  return Math.floor(maxPredictionWindow / 2);
}

/** Expected rollback depth (frames) a peer sees for the inputs of a player with delay `delay`. */
export function expectedRollbackDepth(rttMs, fps, delay) {
  if (!Number.isFinite(rttMs)) return Infinity;
  const lateness = Math.floor((Math.max(0, rttMs) * fps) / 2000) + 1;
  return Math.max(0, lateness - delay);
}

/**
 * The input delay 'auto' picks for a player whose largest RTT to a peer is `rttMs`
 * (Infinity or null: unknown, the largest delay).
 */
export function autoInputDelay(rttMs, fps, maxPredictionWindow) {
  if (rttMs === null || rttMs === undefined || !Number.isFinite(rttMs)) return MAX_INPUT_DELAY;
  const d = expectedRollbackDepth(rttMs, fps, 0) - rollbackBound(maxPredictionWindow);
  return Math.min(MAX_INPUT_DELAY, Math.max(0, d));
}

/** Median of RTT samples (the lower middle one for an even count), or null for none. */
export function medianRtt(samples) {
  if (!samples || samples.length === 0) return null;
  const sorted = Array.from(samples).sort((a, b) => a - b);
  return sorted[(sorted.length - 1) >> 1];
}
