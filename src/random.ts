let skipping = 0;

/**
 * Internal: runs `build` with every `Random` made meanwhile giving zeros from `uniform`, so that
 * a model whose parameters a loader is about to overwrite is not first filled at random.
 *
 * @param build Builds the model (synchronously).
 * @returns What `build` returns.
 */
export function _withoutInit<T>(build: () => T): T {
  skipping++;
  try {
    return build();
  } finally {
    skipping--;
  }
}

/**
 * A small seeded pseudo-random generator (SplitMix32 seeding a xoshiro128**), so that
 * `new JumpSAE(d, c, { seed })` initialises identically in every runtime.
 */
export class Random {
  #s = new Uint32Array(4);
  #skip = skipping > 0;

  /**
   * A generator seeded with `seed` (default: from the clock and `Math.random`).
   *
   * @param seed Any number; the same seed gives the same sequence.
   */
  constructor(seed: number = Date.now() ^ (Math.random() * 0x100000000)) {
    let x = (Math.floor(seed) >>> 0) ^ 0x9e3779b9;
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      this.#s[i] = (z ^ (z >>> 16)) >>> 0;
    }
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A uniform number in [0, 1). */
  next(): number {
    return this.nextUint32() / 0x100000000;
  }

  /** Fills a new array of length n with U(−bound, bound) values. */
  uniform(n: number, bound: number): Float32Array {
    const out = new Float32Array(n);
    if (this.#skip) return out;
    for (let i = 0; i < n; i++) out[i] = (2 * this.next() - 1) * bound;
    return out;
  }

  /** A standard normal sample (Box–Muller). */
  normal(): number {
    const u = 1 - this.next(), v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
