// The catch-up transfer: one catch-up document (protocol.js encodeCatchupDoc) sent in chunks over
// the lossy, unordered game channel, with selective-repeat acknowledgements (docs/protocol.md,
// "Catch-up"). CatchupSender is the source's side of one transfer, CatchupReceiver the
// rejoiner's (offers from every peer, the choice of a source, the chunks). Neither sends
// anything: the session asks them what is due and sends it. They never call up.

import { CATCHUP_CHUNK_BYTES, CATCHUP_ACK_WINDOW } from './protocol.js';

/** Largest catch-up document a rejoiner accepts (the biggest real ones are a few hundred KiB). */
export const MAX_CATCHUP_DOC_BYTES = 64 * 1024 * 1024;

export function chunkCount(size) {
  return Math.ceil(size / CATCHUP_CHUNK_BYTES);
}

/** A fresh random u32 for a rejoin (crypto when there is one: two reloads must not collide). */
export function randomNonce() {
  const c = globalThis.crypto;
  if (c && typeof c.getRandomValues === 'function') return c.getRandomValues(new Uint32Array(1))[0];
  return Math.floor(Math.random() * 0x100000000) >>> 0;
}

export class CatchupSender {
  /**
   * @param {object} o
   * @param {number} o.nonce
   * @param {Uint8Array} o.bytes   the encoded catch-up document
   * @param {number} o.createdAt   ms (the session's clock)
   */
  constructor({ nonce, bytes, createdAt }) {
    this.nonce = nonce;
    this.bytes = bytes;
    this.createdAt = createdAt;
    this.total = chunkCount(bytes.length);
    this.acked = new Uint8Array(this.total);
    this.ackedCount = 0;
    this.next = 0; // chunks 0..next-1 are acknowledged
    this.lastSent = new Float64Array(this.total).fill(-Infinity);
    this.started = false; // the rejoiner chose us (an ACK of this nonce arrived)
    this.chunksSent = 0;
  }

  get size() {
    return this.bytes.length;
  }

  get done() {
    return this.ackedCount === this.total;
  }

  /** A CATCHUP_ACK of this transfer: chunks 0..next-1 and next+1+b for each bit b of mask. */
  onAck(next, mask) {
    this.started = true;
    const upto = Math.min(next, this.total);
    for (let i = this.next; i < upto; i++) this.mark(i);
    for (let b = 0; b < CATCHUP_ACK_WINDOW; b++) {
      if ((mask >>> b) & 1) {
        const i = next + 1 + b;
        if (i < this.total) this.mark(i);
      }
    }
    while (this.next < this.total && this.acked[this.next]) this.next += 1;
  }

  mark(i) {
    if (!this.acked[i]) {
      this.acked[i] = 1;
      this.ackedCount += 1;
    }
  }

  /**
   * Chunks to send now: unacknowledged, never sent or sent at least `rtoMs` ago, inside the
   * window the rejoiner can acknowledge (next .. next + CATCHUP_ACK_WINDOW), lowest first.
   */
  due(now, rtoMs, max) {
    const out = [];
    if (!this.started) return out;
    const end = Math.min(this.total, this.next + 1 + CATCHUP_ACK_WINDOW);
    for (let i = this.next; i < end && out.length < max; i++) {
      if (!this.acked[i] && now - this.lastSent[i] >= rtoMs) out.push(i);
    }
    return out;
  }

  chunk(i) {
    return this.bytes.subarray(i * CATCHUP_CHUNK_BYTES, Math.min(this.bytes.length, (i + 1) * CATCHUP_CHUNK_BYTES));
  }

  markSent(i, now) {
    this.lastSent[i] = now;
    this.chunksSent += 1;
  }
}

export class CatchupReceiver {
  /**
   * @param {object} o
   * @param {number} o.nonce
   */
  constructor({ nonce }) {
    this.nonce = nonce;
    this.offers = new Map(); // peer -> {size, known, confirmed}
    this.source = null;
    this.size = 0;
    this.total = 0;
    this.chunks = null;
    this.have = 0;
    this.next = 0;
    this.haveBytes = 0; // document bytes in hand
    this.bytesReceived = 0; // chunk data bytes received, duplicates included
    this.chunksReceived = 0;
  }

  /** An offer from `peer`; false when it is not for this rejoin or not acceptable. */
  onOffer(peer, msg) {
    if (msg.nonce !== this.nonce || msg.size < 1 || msg.size > MAX_CATCHUP_DOC_BYTES) return false;
    if (!this.offers.has(peer)) this.offers.set(peer, { size: msg.size, known: msg.known, confirmed: msg.confirmed });
    return true;
  }

  /**
   * Choose the source once every peer in `active` has offered: the greatest `known` (the
   * rejoiner goes on from the end of its own inputs as the others know them), then the
   * greatest `confirmed`, then the lowest player index.
   * @returns {number|null} the source, or null while offers are missing
   */
  choose(active) {
    if (this.source !== null) return this.source;
    let best = null;
    for (const p of active) {
      const o = this.offers.get(p);
      if (!o) return null;
      if (best === null) {
        best = p;
        continue;
      }
      const b = this.offers.get(best);
      if (o.known > b.known || (o.known === b.known && (o.confirmed > b.confirmed || (o.confirmed === b.confirmed && p < best)))) best = p;
    }
    if (best === null) return null;
    this.source = best;
    this.size = this.offers.get(best).size;
    this.total = chunkCount(this.size);
    this.chunks = new Array(this.total).fill(null);
    return best;
  }

  /** Forget the source (it is gone): choose again among the peers left. */
  dropSource() {
    if (this.source !== null) this.offers.delete(this.source);
    this.source = null;
    this.chunks = null;
    this.have = 0;
    this.haveBytes = 0;
    this.next = 0;
    this.total = 0;
    this.size = 0;
  }

  /**
   * A chunk. @returns {'new'|'duplicate'|'ignored'} ignored: not from the source, not this
   * rejoin, or not the length its index must have
   */
  onChunk(peer, msg) {
    if (peer !== this.source || msg.nonce !== this.nonce || this.chunks === null || msg.index >= this.total) return 'ignored';
    const expected = msg.index === this.total - 1 ? this.size - CATCHUP_CHUNK_BYTES * (this.total - 1) : CATCHUP_CHUNK_BYTES;
    if (msg.data.length !== expected) return 'ignored';
    this.chunksReceived += 1;
    this.bytesReceived += msg.data.length;
    if (this.chunks[msg.index] !== null) return 'duplicate';
    this.chunks[msg.index] = msg.data;
    this.have += 1;
    this.haveBytes += msg.data.length;
    while (this.next < this.total && this.chunks[this.next] !== null) this.next += 1;
    return 'new';
  }

  get complete() {
    return this.chunks !== null && this.have === this.total;
  }

  /** The CATCHUP_ACK fields for what arrived. */
  ack() {
    let mask = 0;
    for (let b = 0; b < 32; b++) {
      const i = this.next + 1 + b;
      if (i < this.total && this.chunks[i] !== null) mask |= 1 << b;
    }
    return { nonce: this.nonce, next: this.next, mask: mask >>> 0 };
  }

  /** The whole document (once complete). */
  assemble() {
    const out = new Uint8Array(this.size);
    for (let i = 0; i < this.total; i++) out.set(this.chunks[i], i * CATCHUP_CHUNK_BYTES);
    return out;
  }

  /** {received, total} document bytes (for a progress bar); total 0 before a source is chosen. */
  progress() {
    return { received: this.haveBytes, total: this.size };
  }
}
