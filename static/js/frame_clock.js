// The page's game clock: calls onTick once per frame period from a Dedicated Worker's timer
// (frame_clock_worker.js). Chrome throttles a hidden tab's main-thread timers to at most one
// wake-up a second and pauses requestAnimationFrame, but leaves Dedicated Worker timers and
// the messages they post alone; driving the session from here keeps a participant who
// switches tabs simulating, sending inputs and hashing at full rate, so the partner never
// stalls. Without Worker (node, a page that forbids workers) it falls back to main-thread
// timers and says so (`kind: 'timer'`, `fallbackReason`). `wake()` asks for one extra tick as
// soon as possible (a rejoining page re-simulates in slices, one per tick, back to back): the
// worker answers at once, so this too runs at full speed in a hidden tab.

const WORKER_URL = new URL('./frame_clock_worker.js', import.meta.url);

/**
 * @param {object} o
 * @param {number} o.periodMs          frame period (1000 / fps)
 * @param {() => void} o.onTick        called once per period (it decides how many ticks are due)
 * @param {Function|null} [o.Worker]   Worker constructor (default: globalThis.Worker; null: timers)
 * @param {string|URL} [o.workerUrl]   the worker script
 * @param {object} [o.timers]          {setTimeout, clearTimeout} for the fallback
 * @param {Function} [o.onFallback]    (reason) when the worker could not be used
 */
export function createFrameClock(o) {
  const { periodMs, onTick } = o;
  if (!(periodMs > 0)) throw new RangeError(`createFrameClock: periodMs must be > 0, got ${periodMs}`);
  const WorkerCtor = o.Worker === undefined ? globalThis.Worker : o.Worker;
  const timers = o.timers ?? { setTimeout: globalThis.setTimeout.bind(globalThis), clearTimeout: globalThis.clearTimeout.bind(globalThis) };
  let worker = null;
  let timer = null;
  let running = false;
  let wakePending = false; // one extra tick asked for and not yet delivered
  let wakeTimer = null;
  const clock = { kind: null, fallbackReason: null, ticks: 0 };

  function tick() {
    if (!running) return;
    clock.ticks += 1;
    onTick();
  }

  function startTimers(reason) {
    clock.kind = 'timer';
    clock.fallbackReason = reason;
    o.onFallback?.(reason);
    const loop = () => {
      timer = null;
      if (!running) return;
      tick();
      if (running) timer = timers.setTimeout(loop, periodMs);
    };
    loop();
  }

  function stopWorker() {
    if (worker === null) return;
    try { worker.postMessage({ cmd: 'stop' }); worker.terminate(); } catch { /* already gone */ }
    worker = null;
  }

  clock.start = () => {
    if (running) return clock;
    running = true;
    if (typeof WorkerCtor !== 'function') {
      startTimers('no Worker in this environment');
      return clock;
    }
    try {
      worker = new WorkerCtor(o.workerUrl ?? WORKER_URL);
    } catch (err) {
      startTimers(`the clock worker could not start: ${err?.message ?? err}`);
      return clock;
    }
    clock.kind = 'worker';
    worker.onmessage = (ev) => {
      if (ev?.data?.wake) wakePending = false;
      tick();
    };
    worker.onerror = (ev) => {
      // The script did not load (blocked, 404) or threw: carry on with timers.
      ev?.preventDefault?.();
      if (!running || clock.kind !== 'worker') return;
      stopWorker();
      startTimers(`the clock worker failed: ${ev?.message ?? 'error'}`);
    };
    worker.postMessage({ cmd: 'start', periodMs });
    return clock;
  };

  /** One extra tick as soon as possible, besides the periodic ones (at most one pending). */
  clock.wake = () => {
    if (!running || wakePending) return;
    wakePending = true;
    if (worker !== null) {
      worker.postMessage({ cmd: 'wake' });
      return;
    }
    wakeTimer = timers.setTimeout(() => {
      wakeTimer = null;
      wakePending = false;
      tick();
    }, 0);
  };

  clock.stop = () => {
    running = false;
    stopWorker();
    if (timer !== null) timers.clearTimeout(timer);
    if (wakeTimer !== null) timers.clearTimeout(wakeTimer);
    timer = null;
    wakeTimer = null;
    wakePending = false;
  };

  return clock;
}
