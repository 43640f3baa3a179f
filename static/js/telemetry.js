// Telemetry for the research console: a small report of the running game, sent to the
// server every 2 s over the signaling socket (`telemetry` on /p2p, docs/console.md). Counters
// are cumulative, so a lost report loses nothing: the next one carries the totals. The Python
// peer builds the same report (interactive_gym_p2p/peer/telemetry.py); both are checked
// against tests/vectors/telemetry.json. Reads the session, never changes it; no DOM here
// (the page passes in whether it is hidden).

export const REPORT_INTERVAL_MS = 2000;

const PATH_KINDS = new Set(['direct', 'relay', 'fallback']);

/** Round to 0.1 ms (reports stay short; the console shows whole milliseconds). */
function ms1(x) {
  return Number.isFinite(x) && x >= 0 ? Math.round(x * 10) / 10 : null;
}

/**
 * The report for one moment of a session (P2PSession, session.js).
 * @param {object} o
 * @param {string} o.gameId
 * @param {number} o.seq          report number in this game, from 0
 * @param {object} o.session
 * @param {boolean|null} [o.hidden]   the page is hidden now (null: unknown)
 * @param {number|null} [o.hiddenS]   seconds hidden during this game so far
 */
export function buildReport({ gameId, seq, session, hidden = null, hiddenS = null }) {
  const rtt = {};
  for (const pi of session.peerInfo()) rtt[String(pi.peer_index)] = ms1(pi.rtt_ms);
  const ss = session.sync.stats;
  const first = session.desyncEvents.length > 0 ? session.desyncEvents[0].frame : null;
  const kind = session.path?.kind;
  return {
    game_id: gameId,
    seq,
    frame: Math.max(-1, session.currentFrame - 1),
    confirmed_frame: Math.max(-1, session.confirmedFrame),
    verified_frame: Math.max(-1, session.verifiedFrame),
    episode: session.episode,
    state: session.state,
    rtt_ms: rtt,
    rollbacks: ss.rollbacks,
    max_rollback_depth: ss.maxRollbackDepth,
    stalled_frames: session.counters.stalled,
    mispredicted_frames: ss.mispredictedFrames,
    desyncs: session.desync.stats.mismatches,
    first_desync_frame: first,
    path_kind: PATH_KINDS.has(kind) ? kind : null,
    hidden: typeof hidden === 'boolean' ? hidden : null,
    hidden_s: Number.isFinite(hiddenS) && hiddenS >= 0 ? Math.round(hiddenS * 1000) / 1000 : null,
  };
}

/**
 * Seconds a page was hidden, from `visibilitychange` (document-like target with
 * `visibilityState` and add/removeEventListener); `now` in ms.
 */
export function createVisibilityTracker(doc, now = () => globalThis.performance.now()) {
  let hiddenSince = doc?.visibilityState === 'hidden' ? now() : null;
  let totalMs = 0;
  const onChange = () => {
    const hidden = doc.visibilityState === 'hidden';
    if (hidden && hiddenSince === null) hiddenSince = now();
    else if (!hidden && hiddenSince !== null) {
      totalMs += now() - hiddenSince;
      hiddenSince = null;
    }
  };
  doc?.addEventListener?.('visibilitychange', onChange);
  return {
    get hidden() { return doc ? hiddenSince !== null : null; },
    get hiddenS() { return doc ? (totalMs + (hiddenSince !== null ? now() - hiddenSince : 0)) / 1000 : null; },
    close() { doc?.removeEventListener?.('visibilitychange', onChange); },
  };
}

/** Seconds hidden according to the session's hidden-interval log, or null without one. */
export function sessionHiddenS(session) {
  const log = session.hiddenLog;
  return log && typeof log.totalS === 'function' && typeof session.now === 'function' ? log.totalS(session.now()) : null;
}

/**
 * Sends a report every `intervalMs` while started (and one at once on start and on stop).
 * @param {object} o
 * @param {(report: object) => void} o.send
 * @param {string} o.gameId
 * @param {() => object|null} o.session   the session, or null before it exists
 * @param {{hidden: boolean|null, hiddenS: number|null}} [o.visibility]
 * @param {object} [o.timers]   {setTimeout, clearTimeout}
 * @param {number} [o.intervalMs]
 */
export function createReporter(o) {
  const timers = o.timers ?? { setTimeout: globalThis.setTimeout.bind(globalThis), clearTimeout: globalThis.clearTimeout.bind(globalThis) };
  const intervalMs = o.intervalMs ?? REPORT_INTERVAL_MS;
  let seq = 0;
  let handle = null;
  let stopped = false;

  function reportNow() {
    const session = o.session();
    if (!session) return null;
    // The page's own visibility first (it sees every change); else what the session was told
    // through setHidden (its hidden-interval log, hidden.js).
    const hidden = o.visibility?.hidden ?? (typeof session.hidden === 'boolean' ? session.hidden : null);
    const hiddenS = o.visibility?.hiddenS ?? sessionHiddenS(session);
    const report = buildReport({ gameId: o.gameId, seq, session, hidden, hiddenS });
    seq += 1;
    try { o.send(report); } catch (err) { globalThis.console?.warn?.('telemetry: send failed', err); }
    return report;
  }
  function tick() {
    handle = null;
    if (stopped) return;
    reportNow();
    handle = timers.setTimeout(tick, intervalMs);
  }
  return {
    start() {
      if (stopped || handle !== null) return;
      tick();
    },
    /** Stop; with `final`, one last report with the totals first. */
    stop(final = true) {
      if (stopped) return;
      if (final) reportNow();
      stopped = true;
      if (handle !== null) timers.clearTimeout(handle);
      handle = null;
    },
    reportNow,
    get sent() { return seq; },
  };
}
