/**
 * {@linkcode SeriesRing}: the recent points of one numeric output, one per time bucket, in two `Float64Array`
 * rings (times and values), so a module's history costs 16 bytes a point and no object per point.
 *
 * @module
 */

/** A ring's points, oldest first: epoch milliseconds and values (null for a non-finite one). */
export interface SeriesPoints {
  readonly t: number[];
  readonly v: (number | null)[];
}

/** The smallest ring allocated; it doubles as it fills, up to its capacity. */
const INITIAL_CAPACITY = 64;

/**
 * The last `capacity` points of one output, at most one per `bucketMs` bucket: a value in the same bucket as
 * the newest point replaces it (the bucket keeps its last value, at that value's time), a value in a later
 * bucket appends a point, evicting the oldest when the ring is full. A non-finite value is kept as NaN and
 * read back as null. A value older than the newest point's bucket is ignored: points stay in time order.
 *
 * @throws {RangeError} from the constructor when `capacity` or `bucketMs` is not a positive integer.
 */
export class SeriesRing {
  readonly capacity: number;
  readonly bucketMs: number;
  #t: Float64Array;
  #v: Float64Array;
  /** Index of the oldest point. */
  #head = 0;
  #size = 0;
  /** The newest point's bucket, or -Infinity while empty. */
  #lastBucket = -Infinity;

  constructor(capacity: number, bucketMs: number) {
    for (const [name, n] of [["capacity", capacity], ["bucketMs", bucketMs]] as const) {
      if (!Number.isInteger(n) || n <= 0) {
        throw new RangeError(`"${name}" must be a positive integer, got ${n}`);
      }
    }
    this.capacity = capacity;
    this.bucketMs = bucketMs;
    const initial = Math.min(INITIAL_CAPACITY, capacity);
    this.#t = new Float64Array(initial);
    this.#v = new Float64Array(initial);
  }

  /** Points held now. */
  get size(): number {
    return this.#size;
  }

  /** Bytes of the typed arrays allocated now (they grow as points come, up to 16 x `capacity`). */
  get allocatedBytes(): number {
    return this.#t.byteLength + this.#v.byteLength;
  }

  /**
   * Records `value` at `atMs` (epoch milliseconds).
   *
   * @returns whether it was kept (false: older than the newest point's bucket).
   */
  push(atMs: number, value: number): boolean {
    const v = Number.isFinite(value) ? value : NaN;
    const bucket = Math.floor(atMs / this.bucketMs);
    if (bucket < this.#lastBucket) return false;
    if (bucket === this.#lastBucket) {
      const newest = this.#index(this.#size - 1);
      this.#t[newest] = atMs;
      this.#v[newest] = v;
      return true;
    }
    this.#lastBucket = bucket;
    if (this.#size === this.#t.length && this.#size < this.capacity) this.#grow();
    if (this.#size < this.#t.length) {
      const i = this.#index(this.#size++);
      this.#t[i] = atMs;
      this.#v[i] = v;
    } else {
      this.#t[this.#head] = atMs;
      this.#v[this.#head] = v;
      this.#head = (this.#head + 1) % this.#t.length;
    }
    return true;
  }

  /** The points at or after `sinceMs` (epoch milliseconds), oldest first. */
  since(sinceMs: number): SeriesPoints {
    const t: number[] = [];
    const v: (number | null)[] = [];
    // Points are in time order: find the first one in range by binary search over the ring's order.
    let lo = 0;
    let hi = this.#size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#t[this.#index(mid)]! < sinceMs) lo = mid + 1;
      else hi = mid;
    }
    for (let k = lo; k < this.#size; k++) {
      const i = this.#index(k);
      t.push(this.#t[i]!);
      const value = this.#v[i]!;
      v.push(Number.isNaN(value) ? null : value);
    }
    return { t, v };
  }

  #index(k: number): number {
    return (this.#head + k) % this.#t.length;
  }

  /** Doubles the arrays (up to the capacity), the oldest point moved to index 0. */
  #grow(): void {
    const length = Math.min(this.capacity, this.#t.length * 2);
    const t = new Float64Array(length);
    const v = new Float64Array(length);
    for (let k = 0; k < this.#size; k++) {
      const i = this.#index(k);
      t[k] = this.#t[i]!;
      v[k] = this.#v[i]!;
    }
    this.#t = t;
    this.#v = v;
    this.#head = 0;
  }
}
