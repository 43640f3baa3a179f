// What Chrome does to a tab in the background, reproduced inside the page (a Playwright init
// script, so it runs before the page's own scripts).
//
// Why emulate: Chromium driven by Playwright never reports a page as hidden. Measured on this
// machine (headless and headful under Xvfb, a minimized window, another tab in front,
// window.open, with and without Playwright's anti-throttling flags): document.visibilityState
// stays 'visible', so neither the page's visibility handling nor Chrome's throttling of hidden
// tabs can be exercised for real. This script reproduces exactly the parts a game meets:
//   - document.visibilityState ('hidden') and document.hidden (true), a `visibilitychange`
//     event on the document, and `blur` / `focus` on the window (Chrome fires them when the
//     tab changes);
//   - main-thread timers (setTimeout, setInterval) of a hidden page run in wake-ups aligned to
//     whole seconds, so at most once a second (Chrome's timer throttling of hidden pages;
//     after 5 minutes Chrome throttles chained timers to once a minute, which only makes it
//     worse for a game on timers);
//   - requestAnimationFrame does not run while hidden (callbacks wait until the page is shown);
//   - Dedicated Worker timers and their messages are untouched (this script does not run in
//     workers, and message delivery is not wrapped): Chrome does not throttle them either.
//     Network events (DataChannel messages, Socket.IO) are untouched as well.
// window.__hiddenTab.set(true|false) hides/shows the page (sessionStorage '__hiddenTabOnLoad' = '1':
// the next page load starts hidden); window.__hiddenTab keeps counters
// (timer wake-ups and canvas drawing while hidden) for the test.
(() => {
  const realSetTimeout = window.setTimeout.bind(window);
  const realClearTimeout = window.clearTimeout.bind(window);
  const realRaf = window.requestAnimationFrame.bind(window);
  const realCancelRaf = window.cancelAnimationFrame.bind(window);
  const state = {
    hidden: false,
    hiddenAt: null,
    shownAt: null,
    timerWakes: 0, // wake-ups that ran main-thread timer callbacks while hidden
    drawsWhileHidden: 0, // canvas 2D drawing calls while hidden
    drawsSinceShown: 0,
    rafQueued: 0, // animation-frame callbacks held while hidden
  };

  Object.defineProperty(Document.prototype, 'visibilityState', {
    configurable: true, get() { return state.hidden ? 'hidden' : 'visible'; },
  });
  Object.defineProperty(Document.prototype, 'hidden', {
    configurable: true, get() { return state.hidden; },
  });

  // ---- main-thread timers: while hidden, a due callback waits for the next whole second.
  let nextId = 1;
  const live = new Map(); // our id -> real timeout handle
  let lastWake = -1;
  const nextSecondIn = () => 1000 - (performance.now() % 1000);

  function schedule(id, fn, ms, repeat) {
    const fire = (aligned) => {
      if (!live.has(id)) return;
      if (state.hidden && !aligned) {
        live.set(id, realSetTimeout(() => fire(true), nextSecondIn()));
        return;
      }
      if (state.hidden) {
        const wake = Math.round(performance.now() / 1000);
        if (wake !== lastWake) {
          lastWake = wake;
          state.timerWakes += 1;
        }
      }
      if (repeat) live.set(id, realSetTimeout(() => fire(false), Math.max(0, ms)));
      else live.delete(id);
      fn();
    };
    live.set(id, realSetTimeout(() => fire(false), Math.max(0, ms)));
  }

  const call = (fn, args) => () => (typeof fn === 'function' ? fn(...args) : (0, eval)(String(fn)));
  window.setTimeout = function setTimeout(fn, ms = 0, ...args) {
    const id = nextId++;
    schedule(id, call(fn, args), Number(ms) || 0, false);
    return id;
  };
  window.setInterval = function setInterval(fn, ms = 0, ...args) {
    const id = nextId++;
    schedule(id, call(fn, args), Math.max(1, Number(ms) || 0), true);
    return id;
  };
  window.clearTimeout = window.clearInterval = function clearTimer(id) {
    const handle = live.get(id);
    if (handle !== undefined) realClearTimeout(handle);
    live.delete(id);
  };

  // ---- requestAnimationFrame: held while hidden (also one asked for just before hiding),
  // run at the first frame after showing.
  let held = [];
  let nextRaf = 1;
  const rafLive = new Map();
  function requestReal(id, fn) {
    rafLive.set(id, realRaf((t) => {
      rafLive.delete(id);
      if (state.hidden) {
        state.rafQueued += 1;
        held.push([id, fn]);
        return;
      }
      fn(t);
    }));
  }
  window.requestAnimationFrame = function requestAnimationFrame(fn) {
    const id = nextRaf++;
    if (state.hidden) {
      state.rafQueued += 1;
      held.push([id, fn]);
    } else {
      requestReal(id, fn);
    }
    return id;
  };
  window.cancelAnimationFrame = function cancelAnimationFrame(id) {
    held = held.filter(([i]) => i !== id);
    const h = rafLive.get(id);
    if (h !== undefined) realCancelRaf(h);
    rafLive.delete(id);
  };

  // ---- canvas drawing counters (is anything drawn while hidden? again once shown?)
  const ctx = CanvasRenderingContext2D.prototype;
  for (const name of ['fillRect', 'clearRect', 'drawImage', 'fill', 'stroke', 'fillText']) {
    const real = ctx[name];
    ctx[name] = function counted(...args) {
      if (state.hidden) state.drawsWhileHidden += 1;
      else if (state.shownAt !== null) state.drawsSinceShown += 1;
      return real.apply(this, args);
    };
  }

  state.set = (hidden) => {
    hidden = Boolean(hidden);
    if (hidden === state.hidden) return;
    state.hidden = hidden;
    if (hidden) {
      state.hiddenAt = performance.now();
      window.dispatchEvent(new Event('blur'));
    } else {
      state.shownAt = performance.now();
      state.drawsSinceShown = 0;
    }
    document.dispatchEvent(new Event('visibilitychange'));
    if (!hidden) {
      window.dispatchEvent(new Event('focus'));
      const run = held;
      held = [];
      for (const [id, fn] of run) requestReal(id, fn);
    }
  };
  window.__hiddenTab = state;
  // A page that loads in the background (a reload of a hidden tab): the test sets
  // sessionStorage '__hiddenTabOnLoad' before reloading; the new page is hidden from its start.
  try {
    if (window.sessionStorage.getItem('__hiddenTabOnLoad') === '1') {
      window.sessionStorage.removeItem('__hiddenTabOnLoad');
      state.hidden = true;
      state.hiddenAt = performance.now();
    }
  } catch { /* no sessionStorage: a visible page */ }
})();
