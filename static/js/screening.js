// Screening: the browser checks a participant passes before they may wait for a partner
// (docs/participants.md, "Screening before waiting"). The server sends what to check
// (`screening` on `/`); this module measures and returns the report the page sends back
// (`screening_report`); the server judges it. Runs while the participant reads the first pages.
//
//   webrtc  an RTCPeerConnection with a DataChannel makes an offer with a data section
//   turn    two connections in this page, relay only through the study's TURN server, open a
//           pre-negotiated DataChannel and echo a message: a real path through the relay
//   rtt     round trips of a Socket.IO message to the server (ms)
//   device  the browser's own hints: userAgentData.mobile, touch points, screen size
//
// Everything is injected (RTCPeerConnection, the ping, clocks), so node tests drive it with
// tests/js/support/fake_webrtc.mjs.

/** Resolve with the value of `promise`, or reject with `message` after `ms`. */
function within(promise, ms, message, timers) {
  let handle;
  const timeout = new Promise((_resolve, reject) => { handle = timers.setTimeout(() => reject(new Error(message)), ms); });
  return Promise.race([promise, timeout]).finally(() => timers.clearTimeout(handle));
}

function short(err) {
  return String(err?.message ?? err).slice(0, 200);
}

/** The WebRTC DataChannel check: API present, a channel and an offer with a data section. */
export async function checkWebrtc(RTC) {
  if (typeof RTC !== 'function') return { ok: false, detail: 'RTCPeerConnection is not available' };
  let pc = null;
  try {
    pc = new RTC({ iceServers: [] });
    if (typeof pc.createDataChannel !== 'function') return { ok: false, detail: 'no createDataChannel' };
    pc.createDataChannel('screening');
    const offer = await pc.createOffer();
    if (!offer || typeof offer.sdp !== 'string' || !/m=application/.test(offer.sdp)) {
      return { ok: false, detail: 'the offer has no data channel section' };
    }
    return { ok: true, detail: null };
  } catch (err) {
    return { ok: false, detail: short(err) };
  } finally {
    try { pc?.close(); } catch { /* closing a broken connection */ }
  }
}

/**
 * The TURN check: a relay-only DataChannel between two connections of this page, through
 * `iceServers`, echoing one message. Resolves {ok, detail, ms, candidates}.
 */
export async function checkTurn(RTC, iceServers, { timeoutMs = 10000, timers, now }) {
  if (typeof RTC !== 'function') return { ok: false, detail: 'RTCPeerConnection is not available', ms: null, candidates: 0 };
  const started = now();
  const config = { iceServers, iceTransportPolicy: 'relay' };
  const a = new RTC(config);
  const b = new RTC(config);
  let relayCandidates = 0;
  const forward = (to) => (ev) => {
    if (ev.candidate) {
      if (/ typ relay/.test(ev.candidate.candidate ?? '') || ev.candidate.type === 'relay') relayCandidates += 1;
      to.addIceCandidate(ev.candidate).catch(() => { /* a candidate after close */ });
    }
  };
  a.onicecandidate = forward(b);
  b.onicecandidate = forward(a);
  // Pre-negotiated on both sides (same id): no ondatachannel round trip needed.
  const ca = a.createDataChannel('turn-check', { negotiated: true, id: 0 });
  const cb = b.createDataChannel('turn-check', { negotiated: true, id: 0 });
  ca.binaryType = 'arraybuffer';
  cb.binaryType = 'arraybuffer';
  const PROBE = 0x7e;
  cb.onmessage = (ev) => {
    const got = new Uint8Array(ev.data);
    try { cb.send(new Uint8Array([got[0] ^ 0xff])); } catch { /* closed meanwhile */ }
  };
  const echoed = new Promise((resolve, reject) => {
    ca.onopen = () => { try { ca.send(new Uint8Array([PROBE])); } catch (err) { reject(err); } };
    ca.onmessage = (ev) => { if (new Uint8Array(ev.data)[0] === (PROBE ^ 0xff)) resolve(); };
  });
  try {
    const offer = await a.createOffer();
    await a.setLocalDescription(offer);
    await b.setRemoteDescription(offer);
    const answer = await b.createAnswer();
    await b.setLocalDescription(answer);
    await a.setRemoteDescription(answer);
    await within(echoed, timeoutMs, 'timeout', timers);
    return { ok: true, detail: null, ms: Math.round(now() - started), candidates: relayCandidates };
  } catch (err) {
    const detail = relayCandidates === 0
      ? 'no relay candidate from the TURN server (blocked network, or the server is unreachable)'
      : `no connection through the relay within ${Math.round(timeoutMs / 1000)} s (${short(err)})`;
    return { ok: false, detail, ms: Math.round(now() - started), candidates: relayCandidates };
  } finally {
    for (const pc of [a, b]) { try { pc.close(); } catch { /* already closed */ } }
  }
}

/** What the browser says about the device (the server also reads the User-Agent header). */
export function deviceHints(win) {
  const nav = win?.navigator ?? {};
  return {
    user_agent: typeof nav.userAgent === 'string' ? nav.userAgent.slice(0, 500) : null,
    ua_mobile: typeof nav.userAgentData?.mobile === 'boolean' ? nav.userAgentData.mobile : null,
    touch_points: Number.isInteger(nav.maxTouchPoints) ? nav.maxTouchPoints : null,
    screen: win?.screen ? { width: win.screen.width, height: win.screen.height } : null,
  };
}

/**
 * Run the checks the server asked for.
 * @param {object} checks  the `screening` event: {webrtc, turn, ice_servers, turn_timeout_s, rtt_samples}
 * @param {object} o
 * @param {Function} [o.RTCPeerConnection]
 * @param {Function} o.ping     async () -> void: one round trip to the server
 * @param {object} o.timers     {setTimeout, clearTimeout}
 * @param {Function} o.now      ms clock
 * @param {object} [o.win]      window (device hints)
 */
export async function runScreening(checks, o) {
  const report = { webrtc: null, turn: null, rtt_ms: null, ...deviceHints(o.win) };
  if (checks?.webrtc) report.webrtc = await checkWebrtc(o.RTCPeerConnection);
  if (checks?.turn) {
    report.turn = await checkTurn(o.RTCPeerConnection, checks.ice_servers ?? [], {
      timeoutMs: Math.max(1, Number(checks.turn_timeout_s ?? 10)) * 1000, timers: o.timers, now: o.now,
    });
  }
  const samples = Math.min(20, Math.max(0, Math.floor(Number(checks?.rtt_samples ?? 0))));
  if (samples > 0) {
    report.rtt_ms = [];
    for (let i = 0; i < samples; i++) {
      const t0 = o.now();
      try {
        await within(o.ping(), 10000, 'no answer', o.timers);
        report.rtt_ms.push(Math.round((o.now() - t0) * 10) / 10);
      } catch { /* a lost sample: the server judges what arrived */ }
    }
  }
  return report;
}
