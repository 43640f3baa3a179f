// Drives static/js/transport.js for tests/e2e/test_transport_chromium.py. The test relays
// signaling (window.p2pSignalOut is a Playwright binding; the test calls window.p2pSignalIn)
// and reads window.p2p to wait for events and check what arrived.
import { createTransport } from '/static/js/transport.js';

const p2p = { ready: true, events: [], received: [], transport: null, sendTimes: {} };
window.p2p = p2p;
const logEl = document.getElementById('log');

function note(line) {
  logEl.textContent += `${line}\n`;
}

window.p2pStart = (config) => {
  const signaling = {
    onmessage: null,
    send(to, msg) { window.p2pSignalOut(config.selfIndex, to, msg); },
  };
  window.p2pSignalIn = (from, msg) => signaling.onmessage?.(from, msg);
  const t = createTransport({ ...config, signaling });
  p2p.transport = t;
  for (const type of ['open', 'close', 'state', 'path', 'restart', 'error', 'warning']) {
    t.on(type, (d) => {
      p2p.events.push({ type, ...JSON.parse(JSON.stringify(d)) });
      note(`${type} ${JSON.stringify(d)}`);
    });
  }
  t.on('message', ({ peer, data }) => {
    p2p.received.push({ peer, bytes: Array.from(data), at: Date.now() });
  });
  t.start();
};

// Send `count` messages to `peer` with sequence numbers first..first+count-1:
// [seq hi, seq lo, ...payload]; records when each was sent.
window.p2pSendSequence = (peer, count, payloadSize = 8, first = 0) => {
  const out = [];
  for (let i = first; i < first + count; i++) {
    const bytes = new Uint8Array(2 + payloadSize);
    bytes[0] = i >> 8;
    bytes[1] = i & 0xff;
    for (let k = 0; k < payloadSize; k++) bytes[2 + k] = (i * 31 + k) & 0xff;
    p2p.sendTimes[i] = Date.now();
    out.push(p2p.transport.send(peer, bytes));
  }
  return out;
};

window.p2pSummary = (peer) => ({
  path: p2p.transport.path(peer),
  state: p2p.transport.state(peer),
  stats: p2p.transport.stats(),
  impairmentLog: p2p.transport.impairmentLog(peer),
});
note('ready');
