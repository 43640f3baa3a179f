// Small seeded PRNG: a Weyl sequence (step 0x9E3779B9) fed through a 32-bit avalanche mix
// (splitmix32 style). Same seed -> same sequence in every JS engine: only 32-bit integer ops
// (Math.imul, >>>), never Math.random, so simulations and the transport's lag shim replay exactly.

const TWO_POW_32 = 4294967296;

export class Prng {
  /** @param {number} seed any number; only its low 32 bits are used */
  constructor(seed) {
    if (typeof seed !== 'number' || !Number.isFinite(seed)) {
      throw new TypeError(`Prng seed must be a finite number, got ${seed}`);
    }
    this.state = seed >>> 0;
  }

  /** Next unsigned 32-bit integer. */
  next() {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** Uniform float in [0, 1). */
  float() {
    return this.next() / TWO_POW_32;
  }

  /** Uniform integer in [0, n) for 1 <= n <= 2**32. */
  int(n) {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) {
      throw new RangeError(`Prng.int(n) needs an integer n in [1, 2**32], got ${n}`);
    }
    return Math.floor((this.next() * n) / TWO_POW_32);
  }

  /** Uniform float in [lo, hi). */
  range(lo, hi) {
    return lo + (hi - lo) * this.float();
  }

  /** An independent generator derived from this one (for per-link or per-peer streams). */
  fork() {
    return new Prng(this.next());
  }
}

/** @param {number} seed */
export function createPrng(seed) {
  return new Prng(seed);
}
