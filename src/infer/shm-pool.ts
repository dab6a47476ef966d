/**
 * Client side of Triton's system shared-memory extension: a bounded pool of POSIX shared-memory
 * objects (files under /dev/shm, as shm_open makes them), one per request in flight. A request
 * writes its input tensors into a free slot and sends only their place; a server on the same host
 * reads them from there. When every slot is busy, or the tensors do not fit, the caller sends the
 * bytes in the message instead: the pool never blocks and never grows past its bound.
 */
import { closeSync, ftruncateSync, openSync, readdirSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SHM_DIR } from './shm.js';

/** File-name prefix of every object this module creates; the pid after it finds orphans. */
const PREFIX = 'vigil-shm-';

export interface ShmSlot {
  /** Region name to register and to name in tensor parameters. */
  readonly name: string;
  /** shm_open key of the object ("/" + file name). */
  readonly key: string;
  readonly byteSize: number;
}

interface Slot extends ShmSlot {
  fd: number;
  busy: boolean;
}

export interface SharedMemoryPoolOptions {
  /** Slots (requests in flight through shared memory) at most. */
  slots: number;
  /** Bytes per slot (the objects are sparse: memory is used only as far as tensors are written). */
  slotBytes: number;
  /** Default /dev/shm. */
  dir?: string;
}

/** Removes objects left by Vigil processes that no longer run (a crash skips close()). */
function removeOrphans(dir: string): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const f of names) {
    const m = new RegExp(`^${PREFIX}(\\d+)-`).exec(f);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') {
        try {
          unlinkSync(join(dir, f));
        } catch {
          // another process cleaned it first
        }
      }
    }
  }
}

export class SharedMemoryPool {
  private readonly slots: Slot[] = [];
  private readonly dir: string;
  private readonly tag = randomBytes(4).toString('hex');
  private closed = false;

  constructor(private readonly options: SharedMemoryPoolOptions) {
    this.dir = options.dir ?? SHM_DIR;
    removeOrphans(this.dir);
  }

  /** Makes every slot the bound allows (none busy by it) and returns them all, to register with a server. */
  makeAll(): readonly ShmSlot[] {
    while (!this.closed && this.slots.length < this.options.slots) {
      if (!this.make(this.slots.length)) break;
    }
    return this.slots;
  }

  /**
   * A free slot holding at least `bytes`, made on first need; undefined when all are busy, the
   * tensors are too large, or objects cannot be made here (the caller sends bytes instead).
   */
  acquire(bytes: number): ShmSlot | undefined {
    if (this.closed || bytes > this.options.slotBytes) return undefined;
    let slot = this.slots.find((s) => !s.busy);
    if (!slot) {
      if (this.slots.length >= this.options.slots) return undefined;
      slot = this.make(this.slots.length);
      if (!slot) return undefined;
    }
    slot.busy = true;
    return slot;
  }

  release(slot: ShmSlot): void {
    const s = this.slots.find((x) => x.name === slot.name);
    if (s) s.busy = false;
  }

  /** Writes `parts` one after another (8-byte aligned) into the slot; returns each part's offset. */
  write(slot: ShmSlot, parts: readonly ArrayBufferView[]): number[] {
    const s = this.slots.find((x) => x.name === slot.name);
    if (!s || this.closed) throw new Error(`shared memory slot '${slot.name}' is closed`);
    const offsets: number[] = [];
    let at = 0;
    for (const p of parts) {
      at = Math.ceil(at / 8) * 8;
      const bytes = new Uint8Array(p.buffer, p.byteOffset, p.byteLength);
      if (at + bytes.byteLength > s.byteSize)
        throw new Error(`${at + bytes.byteLength} bytes do not fit shared memory slot '${s.name}'`);
      let done = 0;
      while (done < bytes.byteLength)
        done += writeSync(s.fd, bytes, done, bytes.byteLength - done, at + done);
      offsets.push(at);
      at += bytes.byteLength;
    }
    return offsets;
  }

  private make(index: number): Slot | undefined {
    const file = `${PREFIX}${process.pid}-${this.tag}-${index}`;
    const path = join(this.dir, file);
    let fd: number;
    try {
      // Owner-only: tensors are camera pixels.
      fd = openSync(path, 'wx+', 0o600);
    } catch {
      return undefined;
    }
    try {
      ftruncateSync(fd, this.options.slotBytes);
    } catch {
      closeSync(fd);
      unlinkSync(path);
      return undefined;
    }
    const slot: Slot = { name: file, key: `/${file}`, byteSize: this.options.slotBytes, fd, busy: false };
    this.slots.push(slot);
    return slot;
  }

  /** Removes every object (servers drop regions whose object is gone). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.slots) {
      try {
        closeSync(s.fd);
      } catch {
        // already closed
      }
      try {
        unlinkSync(join(this.dir, s.name));
      } catch {
        // already gone
      }
    }
  }
}
