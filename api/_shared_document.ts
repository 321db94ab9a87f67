/**
 * A JSON document that concurrent readers share: serialised at most once per `reuseMs`, and afresh after
 * any request that may change what it shows (`invalidate`, which `createApp` calls before and after every
 * request but a GET or HEAD). Under load (`bench/api.ts`: thousands of `GET /api/v1/modules` a second) one
 * computation answers every request of its window instead of each recomputing every module's status; a
 * reader sees the gateway as it was at most `reuseMs` earlier, which a client over the network cannot tell
 * from its request's own latency. Its own writes it always sees.
 *
 * @module
 */

/** A document computed by `compute` and reused for `reuseMs`, as UTF-8 JSON bytes. */
export class SharedDocument {
  readonly #compute: () => unknown;
  readonly #reuseMs: number;
  #bytes: Uint8Array<ArrayBuffer> | null = null;
  #at = 0;

  constructor(compute: () => unknown, reuseMs: number) {
    this.#compute = compute;
    this.#reuseMs = reuseMs;
  }

  /** The document's JSON bytes, computed now unless a computation less than `reuseMs` old is kept. */
  bytes(): Uint8Array<ArrayBuffer> {
    const now = performance.now();
    if (this.#bytes === null || now - this.#at >= this.#reuseMs) {
      this.#bytes = new TextEncoder().encode(JSON.stringify(this.#compute()));
      this.#at = now;
    }
    return this.#bytes;
  }

  /** Forgets the kept computation: the next reader computes the document afresh. */
  invalidate(): void {
    this.#bytes = null;
  }
}
