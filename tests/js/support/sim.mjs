// Deterministic network simulator for the rollback engine: N sessions over simulated links with
// seeded latency, jitter, loss, duplication and reordering (static/js/impairment.js), all driven
// by one virtual clock. No real sleeps: events (session ticks, message deliveries) run in time
// order, ties in scheduling order, so a seed replays exactly.

import { P2PSession } from '../../../static/js/session.js';
import { createImpairment } from '../../../static/js/impairment.js';
import { Prng } from '../../../static/js/prng.js';

/** Binary min-heap of events ordered by (t, seq). */
class EventQueue {
  constructor() {
    this.heap = [];
    this.seq = 0;
  }

  push(t, fn) {
    const e = { t, seq: this.seq++, fn };
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (less(h[p], e)) break;
      h[i] = h[p];
      i = p;
    }
    h[i] = e;
  }

  pop() {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && less(h[r], h[l]) ? r : l;
        if (less(last, h[c])) break;
        h[i] = h[c];
        i = c;
      }
      h[i] = last;
    }
    return top;
  }

  get size() {
    return this.heap.length;
  }

  peekTime() {
    return this.heap.length ? this.heap[0].t : Infinity;
  }
}

function less(a, b) {
  return a.t < b.t || (a.t === b.t && a.seq < b.seq);
}

export class VirtualClock {
  constructor() {
    this.t = 0;
    this.events = new EventQueue();
  }

  now() {
    return this.t;
  }

  at(t, fn) {
    this.events.push(Math.max(t, this.t), fn);
  }

  /** Run events until virtual time `until` (or until `stop()` returns true). */
  run(until, stop = null) {
    while (this.events.size > 0 && this.events.peekTime() <= until) {
      const e = this.events.pop();
      this.t = e.t;
      e.fn();
      if (stop && stop()) return true;
    }
    this.t = Math.max(this.t, until);
    return false;
  }
}

/**
 * A full game of N peers.
 * @param {object} o
 * @param {number} o.numPlayers
 * @param {(player:number) => object} o.makeEnv
 * @param {object} [o.settings]
 * @param {object[]} [o.playerSettings] per-player overrides merged over `settings` (e.g. inputDelay)
 * @param {number} [o.seed=1]             master seed (links, inputs, shared seed)
 * @param {object|((from,to)=>object)} [o.link] impairment options per directed link (without seed)
 * @param {number[]} [o.startAt]          virtual ms at which each peer's session starts
 * @param {(player, tick, prng) => number} [o.input] local action per tick
 * @param {boolean} [o.measure=false]     measure wall time spent in the engine and the env
 * @param {number[]} [o.tickPeriodMs]     per-peer tick period (default 1000/fps for all)
 */
export function createGame(o) {
  const numPlayers = o.numPlayers;
  // AI seats (o.aiSeats): players with no session of their own; `sessions` lists the humans'.
  const aiSeats = o.aiSeats ?? [];
  // Hosted seats (o.hostedSeats [{seat, host}]): no session either; the host's session is given
  // their actions from o.hosted(seat, tick, prng, session) before each tick.
  const hostedSeats = o.hostedSeats ?? [];
  const hostedSet = new Set(hostedSeats.map((h) => h.seat));
  const humans = [];
  for (let p = 0; p < numPlayers; p++) if (!aiSeats.includes(p) && !hostedSet.has(p)) humans.push(p);
  const bySeat = new Array(numPlayers).fill(null);
  const clock = new VirtualClock();
  const master = new Prng(o.seed ?? 1);
  const sharedSeed = master.next();
  const settings = o.settings || {};
  const fps = settings.fps ?? 30;
  const period = 1000 / fps;
  const epoch = Date.UTC(2025, 0, 1);
  const linkOpts = typeof o.link === 'function' ? o.link : () => o.link || {};
  const links = new Map();
  const stats = { delivered: 0, dropped: 0, injected: 0, sentBytes: new Array(numPlayers).fill(0) };
  const blocked = new Set(); // "from>to" keys
  const sessions = [];
  const envs = new Array(numPlayers);
  const alive = new Array(numPlayers).fill(true);
  const inputPrngs = [];
  const envTime = { ns: 0n };
  const engineTime = { ns: 0n };
  const measure = Boolean(o.measure);

  for (let from = 0; from < numPlayers; from++) {
    for (let to = 0; to < numPlayers; to++) {
      if (from === to) continue;
      links.set(`${from}>${to}`, createImpairment({ ...linkOpts(from, to), seed: master.next() }));
    }
  }

  function timedEnv(env) {
    if (!measure) return env;
    const wrapped = { numPlayers: env.numPlayers };
    for (const m of ['reset', 'step', 'save', 'load', 'stateHash', 'canonicalState']) {
      wrapped[m] = (...args) => {
        const t0 = process.hrtime.bigint();
        try {
          return env[m](...args);
        } finally {
          envTime.ns += process.hrtime.bigint() - t0;
        }
      };
    }
    return wrapped;
  }

  // A page reload gives a player a new session on a new channel: messages sent to the old page
  // never reach the new one (incarnation), and the old page's tick loop stops.
  const incarnation = new Array(numPlayers).fill(0);
  const transports = new Array(numPlayers).fill(null);
  for (let p = 0; p < numPlayers; p++) {
    inputPrngs.push(new Prng(master.next()));
    if (aiSeats.includes(p) || hostedSet.has(p)) continue;
    transports[p] = {
      send(to, bytes) {
        stats.sentBytes[p] += bytes.byteLength;
        if (!alive[p] || blocked.has(`${p}>${to}`)) return;
        const copy = bytes.slice();
        const inc = incarnation[to];
        for (const t of links.get(`${p}>${to}`).schedule(clock.now(), copy.byteLength)) {
          clock.at(t, () => {
            if (!alive[to] || incarnation[to] !== inc) return;
            stats.delivered += 1;
            deliver(to, p, copy);
          });
        }
      },
    };
  }

  function makeSession(p, extra = {}) {
    const env = o.makeEnv(p);
    envs[humans.indexOf(p)] = env;
    return new P2PSession({
      env: timedEnv(env),
      transport: transports[p],
      localPlayer: p,
      numPlayers,
      aiSeats,
      hostedSeats,
      sharedSeed,
      settings: o.playerSettings?.[p] ? { ...settings, ...o.playerSettings[p] } : settings,
      now: () => clock.now(),
      wallClock: () => epoch + clock.now(),
      path: { kind: 'simulated', protocol: null, local_candidate_type: null, remote_candidate_type: null },
      ...extra,
    });
  }
  for (const p of humans) {
    bySeat[p] = makeSession(p);
    sessions.push(bySeat[p]);
  }

  function deliver(to, from, bytes) {
    if (!measure) return bySeat[to].receive(from, bytes);
    const t0 = process.hrtime.bigint();
    bySeat[to].receive(from, bytes);
    engineTime.ns += process.hrtime.bigint() - t0;
  }

  const input = o.input || defaultInput;
  const tickCounts = new Array(numPlayers).fill(0);
  const results = bySeat.map(() => ({ advanced: 0, stalled: 0, waiting: 0, stallRun: 0, maxStallRun: 0 }));
  // Per-peer tick period: a peer whose clock runs slow ticks less often (time sync must cope).
  const periods = o.tickPeriodMs || new Array(numPlayers).fill(period);
  const keyed = new Array(numPlayers).fill(0);

  function scheduleTicks(p, t0) {
    const inc = incarnation[p];
    clock.at(t0, () => {
      if (!alive[p] || incarnation[p] !== inc) return;
      bySeat[p].start();
      const loop = (k) => {
        clock.at(t0 + k * periods[p], () => {
          if (!alive[p] || incarnation[p] !== inc) return;
          const s = bySeat[p];
          if (s.state === 'closed') return;
          for (const seat of s.localHosted) s.setHostedAction(seat, o.hosted(seat, tickCounts[p], inputPrngs[seat], s));
          const a = input(p, tickCounts[p]++, inputPrngs[p], s);
          // Key events for the input log: a change of action is a key up and a key down
          // (the Python simulator does the same, so records stay equal).
          if (a !== keyed[p]) {
            if (keyed[p] !== 0) s.noteKey(`a${keyed[p]}`, false);
            if (a !== 0) s.noteKey(`a${a}`, true);
            keyed[p] = a;
          }
          let r;
          if (measure) {
            const ts = process.hrtime.bigint();
            r = s.tick(a);
            engineTime.ns += process.hrtime.bigint() - ts;
          } else r = s.tick(a);
          if (r.advanced) s.noteDisplayed(r.frame);
          const res = results[p];
          if (r.advanced) res.advanced += 1;
          else if (r.status === 'stalled') res.stalled += 1;
          else if (r.status === 'waiting') res.waiting += 1;
          res.stallRun = r.status === 'stalled' ? res.stallRun + 1 : 0;
          if (res.stallRun > res.maxStallRun) res.maxStallRun = res.stallRun;
          loop(k + 1);
        });
      };
      loop(0);
    });
  }

  const startAt = o.startAt || new Array(numPlayers).fill(0);
  for (const p of humans) scheduleTicks(p, startAt[p]);

  return {
    clock,
    sessions,
    /** player index -> its session (null for an AI or hosted seat) */
    bySeat,
    envs,
    links,
    stats,
    results,
    envTime,
    engineTime,
    sharedSeed,
    /** Run until virtual time `ms` or until stop() is true. */
    run(ms, stop) {
      return clock.run(ms, stop);
    },
    /** Run until every session is closed (or `maxMs` virtual ms passed). */
    runToEnd(maxMs) {
      return clock.run(maxMs, () => humans.every((p) => !alive[p] || bySeat[p].state === 'closed'));
    },
    /** Cut one direction (or both with `both`) of a link. */
    block(from, to, both = false) {
      blocked.add(`${from}>${to}`);
      if (both) blocked.add(`${to}>${from}`);
    },
    unblock(from, to, both = false) {
      blocked.delete(`${from}>${to}`);
      if (both) blocked.delete(`${to}>${from}`);
    },
    /** Peer `p` vanishes (its page closed without a BYE): it sends and receives nothing more. */
    kill(p) {
      alive[p] = false;
    },
    /**
     * Player `p`'s page reloads now: the old session says BYE(away) (unless `bye` is false: the
     * page died without a word), it is gone for `downMs`, then a new session rejoins
     * (`rejoin: true`, a fresh environment) and ticks like the old one did. Returns the old session.
     */
    reload(p, { downMs = 2000, bye = true, nonce } = {}) {
      const old = bySeat[p];
      if (bye) old.close(6 /* ByeReason.AWAY */);
      alive[p] = false;
      incarnation[p] += 1;
      const back = clock.now() + downMs;
      clock.at(back, () => {
        alive[p] = true;
        bySeat[p] = makeSession(p, { rejoin: true, ...(nonce === undefined ? {} : { nonce }) });
        sessions[humans.indexOf(p)] = bySeat[p];
        scheduleTicks(p, back);
      });
      return old;
    },
    /** Deliver raw bytes to `to` as if sent by `from`, at virtual time `t`. */
    inject(to, from, bytes, t = clock.now()) {
      clock.at(t, () => {
        stats.injected += 1;
        bySeat[to].receive(from, bytes);
      });
    },
  };
}

/** Actions that change now and then (so predictions are mostly right, sometimes wrong). */
export function defaultInput(player, tick, prng) {
  if (prng.float() < 0.15) prng.lastAction = prng.int(5);
  return prng.lastAction ?? 0;
}

/** Confirmed rows of a session as a flat list of "frame:actions:hash" strings (for equality). */
export function confirmedRows(session) {
  const out = [];
  for (const ep of session.record().episodes) for (const r of ep.frames) out.push(`${r[0]}:${r[1].join(',')}:${r[2]}`);
  return out;
}
