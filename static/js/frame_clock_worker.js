// Dedicated Worker behind frame_clock.js: posts one message per frame period. A hidden tab
// throttles the page's own timers (Chrome: at most one wake-up a second) but neither this
// worker's timers nor the delivery of its messages, so the game keeps its pace.
// Messages in: {cmd: 'start', periodMs} | {cmd: 'stop'} | {cmd: 'wake'} (one extra message at once,
// the schedule unchanged). Out: the worker's performance.now(), or {wake: true} answering a wake.
let timer = null;
let period = 0;
let next = 0;

function tick() {
  const now = performance.now();
  postMessage(now);
  next += period;
  // Far behind (the machine slept): carry on from now instead of firing a burst.
  if (next < now - 4 * period) next = now + period;
  timer = setTimeout(tick, Math.max(0, next - performance.now()));
}

self.onmessage = (event) => {
  const m = event.data || {};
  if (m.cmd === 'start' && m.periodMs > 0) {
    clearTimeout(timer);
    period = m.periodMs;
    next = performance.now();
    tick();
  } else if (m.cmd === 'wake') {
    postMessage({ wake: true });
  } else if (m.cmd === 'stop') {
    clearTimeout(timer);
    timer = null;
  }
};
