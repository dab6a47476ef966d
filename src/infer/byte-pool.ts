/**
 * Large input buffers, reused. The server reads a frame out of shared memory into a buffer, moves
 * it to a model worker, and the worker moves it back once converted; the next request's read goes
 * into it. A fresh megabyte-sized allocation per request costs page faults in a process whose
 * worker threads free what its main thread allocated (about 0.6 ms per 640x640 RGB frame on the
 * benchmark machine); a reused one does not. Bounded: at most `maxBuffers` are kept, the rest are
 * left to the garbage collector.
 */
export class BytePool {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private count = 0;

  constructor(
    readonly maxBuffers = 8,
    /** Smaller buffers are not worth keeping (the allocator serves them from its own pools). */
    readonly minBytes = 64 * 1024,
  ) {}

  /** A buffer of exactly `byteLength` bytes (contents undefined), reused when one is free. */
  take(byteLength: number): Buffer {
    const list = this.free.get(byteLength);
    const ab = list?.pop();
    if (ab) {
      this.count--;
      if (list!.length === 0) this.free.delete(byteLength);
      return Buffer.from(ab, 0, byteLength);
    }
    // allocUnsafe may hand out a slice of Node's shared pool for small sizes; a buffer of its own
    // is needed so that it can move to a worker whole.
    return byteLength >= this.minBytes ? Buffer.allocUnsafeSlow(byteLength) : Buffer.alloc(byteLength);
  }

  /** Hands a buffer nobody else references back (one that came back from a worker). */
  give(ab: ArrayBuffer): void {
    if (ab.byteLength < this.minBytes || this.count >= this.maxBuffers) return;
    const list = this.free.get(ab.byteLength);
    if (list) list.push(ab);
    else this.free.set(ab.byteLength, [ab]);
    this.count++;
  }

  /** Buffers kept for reuse now. */
  get size(): number {
    return this.count;
  }
}

/** The process's pool for request inputs on their way to model workers. */
export const inputBuffers = new BytePool();
