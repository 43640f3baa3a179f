// An in-memory stand-in for RTCPeerConnection/RTCDataChannel, for unit tests of
// static/js/transport.js only (the real thing is exercised in Chromium by tests/e2e).
//
// What it models: offer/answer state machine, trickle candidates (emitted after
// setLocalDescription, one per ICE generation), addIceCandidate before a remote description
// is an error (as in browsers), ICE connects once both sides are stable and each has a
// candidate of the other's current generation, ICE restart (new ufrag), pre-negotiated
// DataChannels paired by id, asynchronous message delivery, and getStats() with a selected
// candidate pair. A network can be blocked (nothing connects) and ICE can be failed on demand.

export class FakeNetwork {
  constructor({ localType = 'host', remoteType = 'host', protocol = 'udp', relayProtocol } = {}) {
    this.pcs = new Map();
    this.nextId = 1;
    this.blocked = false;
    this.stats = { localType, remoteType, protocol, relayProtocol };
    const net = this;
    this.RTCPeerConnection = class extends FakePeerConnection {
      constructor(config) {
        super(net, config);
      }
    };
  }
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

class FakePeerConnection {
  constructor(net, config = {}) {
    this.net = net;
    this.config = config;
    this.id = net.nextId++;
    net.pcs.set(this.id, this);
    this.signalingState = 'stable';
    this.iceConnectionState = 'new';
    this.connectionState = 'new';
    this.localDescription = null;
    this.remoteDescription = null;
    this.ufrag = 1;
    this.gatheredUfrag = 0;
    this.remotePc = null;
    this.remoteUfrag = 0;
    this.remoteCandidateUfrags = new Set();
    this.channels = [];
    this.closed = false;
    this.onicecandidate = null;
    this.oniceconnectionstatechange = null;
    this.onconnectionstatechange = null;
  }

  createDataChannel(label, init = {}) {
    const dc = new FakeDataChannel(this, label, init);
    this.channels.push(dc);
    return dc;
  }

  async createOffer(opts) {
    await tick();
    if (opts?.iceRestart) this.ufrag += 1;
    return { type: 'offer', sdp: `fake pc=${this.id} ufrag=${this.ufrag}` };
  }

  async createAnswer() {
    await tick();
    if (this.signalingState !== 'have-remote-offer') throw new Error(`InvalidStateError: createAnswer in ${this.signalingState}`);
    return { type: 'answer', sdp: `fake pc=${this.id} ufrag=${this.ufrag}` };
  }

  async setLocalDescription(desc) {
    await tick();
    this.localDescription = { type: desc.type, sdp: desc.sdp };
    this.signalingState = desc.type === 'offer' ? 'have-local-offer' : 'stable';
    if (this.gatheredUfrag !== this.ufrag) {
      // A new ICE generation: a failed agent goes back to checking, as in browsers.
      if (this.gatheredUfrag !== 0 && this.iceConnectionState === 'failed') this.setIce('checking');
      this.gatheredUfrag = this.ufrag;
      const ufrag = this.ufrag;
      setImmediate(() => {
        if (this.closed) return;
        const cand = { candidate: `candidate:${this.id} 1 udp 2122260223 10.0.0.${this.id} 5000 typ host ufrag ${ufrag}`, sdpMid: '0', sdpMLineIndex: 0, usernameFragment: String(ufrag) };
        this.onicecandidate?.({ candidate: { ...cand, toJSON: () => ({ ...cand }) } });
        this.onicecandidate?.({ candidate: null });
      });
    }
    this.tryConnect();
  }

  async setRemoteDescription(desc) {
    await tick();
    const m = /^fake pc=(\d+) ufrag=(\d+)$/.exec(desc.sdp ?? '');
    if (!m) throw new Error('OperationError: unparsable fake sdp');
    if (desc.type === 'answer' && this.signalingState !== 'have-local-offer') throw new Error('InvalidStateError: answer without offer');
    this.remotePc = this.net.pcs.get(Number(m[1]));
    const ufrag = Number(m[2]);
    if (ufrag !== this.remoteUfrag && desc.type === 'offer' && this.remoteUfrag !== 0) {
      // The peer restarted ICE: so does this side (a new local generation too).
      this.ufrag += 1;
    }
    this.remoteUfrag = ufrag;
    this.remoteDescription = { type: desc.type, sdp: desc.sdp };
    this.signalingState = desc.type === 'offer' ? 'have-remote-offer' : 'stable';
    this.tryConnect();
  }

  async addIceCandidate(c) {
    await tick();
    if (!this.remoteDescription) throw new Error('InvalidStateError: no remote description');
    if (typeof c?.candidate !== 'string') throw new TypeError('bad candidate');
    if (c.candidate.startsWith('bogus')) throw new Error('OperationError: unparsable candidate');
    const m = / ufrag (\d+)$/.exec(c.candidate);
    if (m) this.remoteCandidateUfrags.add(Number(m[1]));
    this.tryConnect();
  }

  readyFor() {
    return !this.closed && this.signalingState === 'stable' && this.localDescription && this.remoteDescription
      && this.remotePc && this.remoteCandidateUfrags.has(this.remoteUfrag) && this.gatheredUfrag === this.ufrag;
  }

  tryConnect() {
    const other = this.remotePc;
    if (this.net.blocked || !other || !this.readyFor() || !other.readyFor()) return;
    if (other.remotePc !== this || other.remoteUfrag !== this.ufrag || this.remoteUfrag !== other.ufrag) return;
    for (const pc of [this, other]) {
      if (pc.iceConnectionState !== 'connected') pc.setIce('connected');
    }
    for (const dc of this.channels) {
      const peerDc = other.channels.find((d) => d.id === dc.id && d.label === dc.label);
      if (peerDc) {
        dc.peer = peerDc;
        peerDc.peer = dc;
        dc.open();
        peerDc.open();
      }
    }
  }

  setIce(state) {
    this.iceConnectionState = state;
    this.connectionState = state;
    this.oniceconnectionstatechange?.();
    this.onconnectionstatechange?.();
  }

  /** Test hook: ICE fails on this side (candidates of this generation are useless now). */
  failIce() {
    this.remoteCandidateUfrags.clear();
    this.setIce('failed');
  }

  /** Test hook: a transient loss of connectivity. */
  disconnectIce() {
    this.setIce('disconnected');
  }

  async getStats() {
    await tick();
    const report = new Map();
    if (this.iceConnectionState !== 'connected') return report;
    const { localType, remoteType, protocol, relayProtocol } = this.net.stats;
    report.set('T1', { id: 'T1', type: 'transport', selectedCandidatePairId: 'CP1' });
    report.set('CP1', { id: 'CP1', type: 'candidate-pair', localCandidateId: 'L1', remoteCandidateId: 'R1', state: 'succeeded', nominated: true, currentRoundTripTime: 0.004 });
    report.set('L1', { id: 'L1', type: 'local-candidate', candidateType: localType, protocol, relayProtocol, address: `10.0.0.${this.id}` });
    report.set('R1', { id: 'R1', type: 'remote-candidate', candidateType: remoteType, protocol, address: `10.0.0.${this.remotePc?.id}` });
    return report;
  }

  close() {
    this.closed = true;
    this.iceConnectionState = 'closed';
    this.connectionState = 'closed';
    for (const dc of this.channels) dc.closeBoth();
  }
}

class FakeDataChannel {
  constructor(pc, label, init) {
    this.pc = pc;
    this.label = label;
    this.id = init.negotiated ? init.id : null;
    this.ordered = init.ordered ?? true;
    this.maxRetransmits = init.maxRetransmits ?? null;
    this.negotiated = init.negotiated === true;
    this.binaryType = 'blob';
    this.readyState = 'connecting';
    this.peer = null;
    this.sent = [];
    this.onopen = null;
    this.onclose = null;
    this.onmessage = null;
  }

  open() {
    if (this.readyState !== 'connecting') return;
    this.readyState = 'open';
    setImmediate(() => this.onopen?.());
  }

  send(data) {
    if (this.readyState !== 'open') throw new Error('InvalidStateError: channel not open');
    const bytes = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    this.sent.push(bytes);
    const peer = this.peer;
    setImmediate(() => {
      if (peer.readyState === 'open') peer.onmessage?.({ data: peer.binaryType === 'arraybuffer' ? bytes.buffer : new Blob([bytes]) });
    });
  }

  close() {
    this.closeBoth();
  }

  closeBoth() {
    for (const dc of [this, this.peer]) {
      if (dc && dc.readyState !== 'closed') {
        dc.readyState = 'closed';
        setImmediate(() => dc.onclose?.());
      }
    }
  }
}

/**
 * A signaling relay between transports: relay.endpoint(player) is the object a transport
 * gets as `signaling`. Every message is logged; `hold` queues messages instead of
 * delivering them (to reorder), `release()` delivers the held ones in a given order.
 */
export class SignalingRelay {
  constructor() {
    this.endpoints = new Map();
    this.log = [];
    this.hold = false;
    this.held = [];
  }

  endpoint(player) {
    const relay = this;
    const ep = {
      onmessage: null,
      send(to, msg) {
        relay.log.push({ from: player, to, msg: JSON.parse(JSON.stringify(msg)) });
        const deliver = () => relay.endpoints.get(to)?.onmessage?.(player, JSON.parse(JSON.stringify(msg)));
        if (relay.hold) relay.held.push({ from: player, to, msg, deliver });
        else setImmediate(deliver);
      },
    };
    this.endpoints.set(player, ep);
    return ep;
  }

  release(order = (held) => held) {
    const held = order(this.held);
    this.held = [];
    this.hold = false;
    for (const h of held) h.deliver();
  }
}

/** A virtual clock with setTimeout/clearTimeout that run only when advanced. */
export class VirtualTimers {
  constructor() {
    this.nowMs = 0;
    this.queue = [];
    this.seq = 0;
    this.now = () => this.nowMs;
    this.timers = {
      setTimeout: (fn, ms) => {
        const h = { at: this.nowMs + Math.max(0, ms), seq: this.seq++, fn };
        this.queue.push(h);
        return h;
      },
      clearTimeout: (h) => {
        const i = this.queue.indexOf(h);
        if (i >= 0) this.queue.splice(i, 1);
      },
    };
  }

  /** Run every timer due up to now+ms in time order (ties in scheduling order). */
  advance(ms) {
    const end = this.nowMs + ms;
    for (;;) {
      this.queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.queue[0];
      if (!next || next.at > end) break;
      this.queue.shift();
      this.nowMs = next.at;
      next.fn();
    }
    this.nowMs = end;
  }
}

/** Resolve when `predicate()` is true, checking after each macrotask; reject at the deadline. */
export async function until(predicate, what, deadlineMs = 5000) {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > deadlineMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}
