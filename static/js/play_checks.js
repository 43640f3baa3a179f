// In-play exclusion checks (docs/participants.md, "Inactivity and slow connections during play"):
// no input for `inactiveS` seconds, or a round trip to the server above `maxRttMs` for
// `maxRttForS` seconds without a break. Pure bookkeeping over times the page feeds in; the
// flow (client_flow.js) pings the server, listens to the keyboard and acts on the verdicts.
//
// Why the round trip to the SERVER and not to the partner: both ends of a peer link see the
// same RTT, so it cannot tell whose connection is slow; each participant's own round trip to
// the server can (Multi-User Gymnasium's ping exclusion measures the same).

/**
 * @param {object} o
 * @param {number|null} o.inactiveS
 * @param {number|null} [o.inactiveWarnS]
 * @param {number|null} o.maxRttMs
 * @param {number} [o.maxRttForS]
 * @param {number} o.startMs   when play started (ms)
 */
export function createPlayChecks({ inactiveS = null, inactiveWarnS = null, maxRttMs = null, maxRttForS = 10, startMs }) {
  let lastInput = startMs;
  let slowSince = null; // first of an unbroken run of slow round trips (ms), or null
  let warned = false;
  let pingSentAt = null;

  return {
    get enabled() { return inactiveS !== null || maxRttMs !== null; },
    get pinging() { return maxRttMs !== null; },
    input(t) {
      lastInput = t;
    },
    /** A ping went out at `t` (one at a time: a ping still out is judged by its age). */
    pingSent(t) {
      pingSentAt = t;
    },
    get pingOut() { return pingSentAt !== null; },
    /** Its answer came at `t`. */
    pingAnswered(t) {
      if (pingSentAt === null) return;
      const rtt = t - pingSentAt;
      pingSentAt = null;
      if (rtt > maxRttMs) slowSince ??= t - rtt;
      else slowSince = null;
    },
    /**
     * The verdict at `t`: {exclude: {reason, detail}}, {warn: {leftS}}, {unwarn: true} or null.
     */
    check(t) {
      if (maxRttMs !== null) {
        // A ping still unanswered past the limit is a slow round trip already.
        if (pingSentAt !== null && t - pingSentAt > maxRttMs) slowSince ??= pingSentAt;
        if (slowSince !== null && t - slowSince >= maxRttForS * 1000) {
          return { exclude: { reason: 'ping', detail: `round trip to the server above ${maxRttMs} ms for ${maxRttForS} s` } };
        }
      }
      if (inactiveS !== null) {
        const idle = (t - lastInput) / 1000;
        if (idle >= inactiveS) return { exclude: { reason: 'inactive', detail: `no input for ${Math.round(idle)} s` } };
        if (inactiveWarnS !== null && idle >= inactiveWarnS) {
          warned = true;
          return { warn: { leftS: Math.max(0, Math.ceil(inactiveS - idle)) } };
        }
        if (warned) {
          warned = false;
          return { unwarn: true };
        }
      }
      return null;
    },
  };
}
