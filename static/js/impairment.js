// Seeded network impairment: decides, for each outgoing message, when (and how often) it is
// delivered. Used by the node network simulator and by the browser transport's lag shim, so it
// must stay environment-agnostic (no timers, no I/O): it only computes delivery times; the caller
// schedules them on its own clock. Every decision comes from the seeded PRNG, so one seed and one
// sequence of schedule() calls always give the same schedule.

import { Prng } from './prng.js';

const DEFAULT_LOG_LIMIT = 1000;

function checkNumber(name, value, lo, hi) {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < lo || value > hi) {
    throw new RangeError(`impairment.${name} must be a number in [${lo}, ${hi}], got ${value}`);
  }
}

/**
 * @param {object} o
 * @param {number} o.seed          PRNG seed (u32)
 * @param {number} [o.delayMs=0]   one-way base delay
 * @param {number} [o.jitterMs=0]  extra delay, uniform in [0, jitterMs)
 * @param {number} [o.loss=0]      probability a message is dropped
 * @param {number} [o.duplicate=0] probability a delivered message is delivered twice
 * @param {number} [o.reorder=0]   probability a message may overtake / be overtaken
 * @param {number} [o.reorderMs=50] extra delay range given to a reordered message
 * @param {number} [o.logLimit=1000] entries kept in `log` (oldest dropped first)
 */
export function createImpairment({
  seed,
  delayMs = 0,
  jitterMs = 0,
  loss = 0,
  duplicate = 0,
  reorder = 0,
  reorderMs = 50,
  logLimit = DEFAULT_LOG_LIMIT,
} = {}) {
  checkNumber('seed', seed, 0, 0xffffffff);
  checkNumber('delayMs', delayMs, 0, 600000);
  checkNumber('jitterMs', jitterMs, 0, 600000);
  checkNumber('loss', loss, 0, 1);
  checkNumber('duplicate', duplicate, 0, 1);
  checkNumber('reorder', reorder, 0, 1);
  checkNumber('reorderMs', reorderMs, 0, 600000);
  checkNumber('logLimit', logLimit, 0, 1e7);
  const prng = new Prng(seed);
  const log = [];
  const counts = { messages: 0, dropped: 0, duplicated: 0, reordered: 0 };
  // Messages that are not picked for reordering keep FIFO order among themselves (like a real
  // path whose jitter comes from queueing), so reordering happens only when `reorder` says so.
  let lastInOrder = -Infinity;

  function schedule(nowMs, size = 0) {
    counts.messages += 1;
    // Draw every random number on every call, whatever the outcome, so one setting (say loss)
    // does not shift the random stream used by another.
    const uLoss = prng.float();
    const uJitter = prng.float();
    const uReorder = prng.float();
    const uReorderDelay = prng.float();
    const uDup = prng.float();
    const uDupJitter = prng.float();
    let deliveries;
    if (uLoss < loss) {
      counts.dropped += 1;
      deliveries = [];
    } else {
      let t = nowMs + delayMs + jitterMs * uJitter;
      if (uReorder < reorder) {
        counts.reordered += 1;
        t += reorderMs * uReorderDelay;
      } else {
        t = Math.max(t, lastInOrder);
        lastInOrder = t;
      }
      deliveries = [t];
      if (uDup < duplicate) {
        counts.duplicated += 1;
        deliveries.push(t + jitterMs * uDupJitter);
      }
    }
    if (logLimit > 0) {
      log.push({ t: nowMs, size, deliveries: deliveries.slice() });
      if (log.length > logLimit) log.shift();
    }
    return deliveries;
  }

  return {
    schedule,
    log,
    counts,
    settings: { seed, delayMs, jitterMs, loss, duplicate, reorder, reorderMs },
  };
}
