// Key-to-screen latency of the local player's inputs, measured in the page (docs/client.md,
// "Key-to-screen latency"): for each key press, from the keydown event to the display of the
// first frame that includes it.
//
//   press   KeyboardEvent.timeStamp of a mapped, non-repeat keydown (same clock as
//           performance.now(): the browser's receipt of the OS event)
//   frame   the game frame the sampled input holding that press was given to (session.tick's
//           inputFrame; with input delay d that is the current frame + d)
//   drawn   the first canvas draw of a simulated frame >= that frame (the state after frame f
//           includes every input of frame f)
//   shown   performance.now() in the first requestAnimationFrame callback after that draw: the
//           canvas drawn in a task is painted in the next rendering update, whose rAF callbacks
//           run first. The pixels reach the screen at the next vsync after that update's paint
//           and composite, plus the display's own latency, which no page can see: `shown` is a
//           lower bound of key-to-photon time, short by about one refresh interval (16.7 ms at
//           60 Hz) plus the display's lag.
//
// No DOM here: the page client passes times in and an injectable requestFrame, so node tests
// drive it with a fake clock.

import { percentile, round3 } from './stats.js';

/**
 * @param {object} [o]
 * @param {'pressed_keys'|'single_keystroke'} [o.inputMode='pressed_keys']
 * @param {() => number} [o.now]                 performance.now()
 * @param {(cb: () => void) => any} [o.requestFrame]  requestAnimationFrame (null: `shown` = draw time)
 * @param {number} [o.maxEvents=100000]          presses kept for events(); samples keep counting
 */
export function createInputTiming(o = {}) {
  const inputMode = o.inputMode ?? 'pressed_keys';
  const now = o.now ?? (() => globalThis.performance.now());
  const requestFrame = o.requestFrame === undefined
    ? (typeof globalThis.requestAnimationFrame === 'function' ? (cb) => globalThis.requestAnimationFrame(cb) : null)
    : o.requestFrame;
  const maxEvents = o.maxEvents ?? 100000;

  let pending = []; // pressed, not yet in a sampled input: {key, down}
  let assigned = []; // in a sampled input, not yet drawn: {key, down, frame}
  let drawnWaiting = []; // drawn, waiting for the next animation frame
  let frameRequested = false;
  const samples = [];
  const events = [];
  let missed = 0; // taps released before any sample took them (pressed_keys), or dropped samples

  function keep(ev) {
    if (events.length < maxEvents) events.push(ev);
  }

  function onAnimationFrame() {
    frameRequested = false;
    const t = now();
    for (const ev of drawnWaiting) {
      ev.shown = t;
      samples.push(t - ev.down);
    }
    drawnWaiting = [];
  }

  return {
    /** A mapped key went down (not a repeat), at KeyboardEvent.timeStamp `t`; `seq`: the
     * number of the key message that carries it to the game worker (see sampled). */
    keyDown(key, t, seq = null) {
      pending.push({ key, down: t, frame: null, drawn: null, shown: null, seq });
    },

    /** The key went up. In pressed_keys mode a press no sample saw (a tap shorter than a frame
     * period) never reaches any frame: it is counted as missed, not measured. */
    keyUp(key) {
      if (inputMode !== 'pressed_keys') return;
      const left = [];
      for (const p of pending) {
        if (p.key === key) {
          missed += 1;
          keep(p);
        } else left.push(p);
      }
      pending = left;
    },

    /**
     * After session.tick(): the local input sampled before it went to `inputFrame` (-1: the
     * session did not take it). `consumedPress`: in single_keystroke mode, whether that sample
     * took a queued press (the oldest pending one). `upToSeq`: the sample was taken in the game
     * worker after it had applied the key messages up to this one; later presses stay pending.
     */
    sampled(inputFrame, consumedPress = false, upToSeq = Infinity) {
      const seen = (p) => p.seq === null || p.seq === undefined || p.seq <= upToSeq;
      if (inputMode === 'single_keystroke') {
        if (!consumedPress || pending.length === 0 || !seen(pending[0])) return;
        const p = pending.shift();
        if (inputFrame < 0) {
          missed += 1; // the session did not take that sample: the press is lost
          keep(p);
          return;
        }
        p.frame = inputFrame;
        assigned.push(p);
        return;
      }
      if (inputFrame < 0 || pending.length === 0) return; // held keys are sampled again next tick
      const later = [];
      for (const p of pending) {
        if (!seen(p)) {
          later.push(p);
          continue;
        }
        p.frame = inputFrame;
        assigned.push(p);
      }
      pending = later;
    },

    /** The canvas now shows the state after `frame` (drawn at `t`, default now()). */
    drawn(frame, t = now()) {
      if (assigned.length === 0) return;
      const left = [];
      for (const p of assigned) {
        if (p.frame <= frame) {
          p.drawn = t;
          keep(p);
          if (requestFrame === null) {
            p.shown = t;
            samples.push(t - p.down);
          } else drawnWaiting.push(p);
        } else left.push(p);
      }
      assigned = left;
      if (drawnWaiting.length > 0 && !frameRequested) {
        frameRequested = true;
        requestFrame(onAnimationFrame);
      }
    },

    /** Forget presses not shown yet (an episode transition or the end: they are not latency). */
    dropPending() {
      missed += pending.length + assigned.length;
      for (const p of [...pending, ...assigned]) keep(p);
      pending = [];
      assigned = [];
    },

    /** {p50, p95, samples} in ms over the game (nearest rank; null without samples). */
    summary() {
      return {
        p50: round3(percentile(samples, 0.5)),
        p95: round3(percentile(samples, 0.95)),
        samples: samples.length,
      };
    },

    /** Every press: {key, down, frame, drawn, shown} (ms, performance.now() clock; null = never). */
    events() {
      return events.map(({ key, down, frame, drawn, shown }) => ({ key, down, frame, drawn, shown }));
    },

    get missed() {
      return missed;
    },
  };
}
