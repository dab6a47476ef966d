/**
 * Server side of Triton's system shared-memory extension: regions of POSIX shared-memory objects
 * (the files shm_open creates under /dev/shm) that clients on the same host register by key, and
 * that input and output tensors then name instead of carrying their bytes in the message. The
 * registry keeps one descriptor per region and reads and writes at offsets (Node cannot map
 * memory; a read from tmpfs is one memcpy).
 */
import {
  closeSync,
  constants as fsConstants,
  existsSync,
  fstatSync,
  openSync,
  readSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { inputBuffers } from './byte-pool.js';

/** Directory where shm_open keeps its objects on Linux. */
export const SHM_DIR = '/dev/shm';
/** Regions one server keeps at most (each holds a file descriptor). */
export const DEFAULT_MAX_REGIONS = 256;
/** The extension's name in ServerMetadata.extensions (as Triton reports it). */
export const SHM_EXTENSION = 'system_shared_memory';

/** Why a registry call failed; the server maps it to a gRPC status. */
export type ShmErrorKind = 'invalid' | 'not-found' | 'exists' | 'exhausted';

export class ShmError extends Error {
  constructor(
    readonly kind: ShmErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'ShmError';
  }
}

export interface RegionStatus {
  name: string;
  key: string;
  offset: number;
  byteSize: number;
}

interface Region extends RegionStatus {
  fd: number;
}

/** Region names and keys: what a file name may safely be (no separators, no dot-only names). */
const NAME = /^[A-Za-z0-9._-]{1,128}$/;

function checkName(name: string): void {
  if (!NAME.test(name) || /^\.+$/.test(name))
    throw new ShmError('invalid', `shared memory region name '${name}' must be 1-128 of [A-Za-z0-9._-]`);
}

export class SharedMemoryRegistry {
  private readonly regions = new Map<string, Region>();
  private closed = false;

  constructor(
    private readonly dir = SHM_DIR,
    private readonly maxRegions = DEFAULT_MAX_REGIONS,
  ) {}

  /** Whether this host has a shared-memory directory at all. */
  static supported(dir = SHM_DIR): boolean {
    return existsSync(dir);
  }

  register(name: string, key: string, offset: number, byteSize: number): void {
    if (this.closed) throw new ShmError('invalid', 'shared memory registry is closed');
    checkName(name);
    this.prune();
    if (this.regions.has(name))
      throw new ShmError('exists', `shared memory region '${name}' is already registered`);
    if (this.regions.size >= this.maxRegions)
      throw new ShmError('exhausted', `at most ${this.maxRegions} shared memory regions may be registered`);
    // shm_open keys start with one '/'; the object is the file of that name in the shm directory.
    const file = key.startsWith('/') ? key.slice(1) : key;
    if (!NAME.test(file) || /^\.+$/.test(file))
      throw new ShmError('invalid', `shared memory key '${key}' must be '/' and 1-128 of [A-Za-z0-9._-]`);
    if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(byteSize) || byteSize <= 0)
      throw new ShmError(
        'invalid',
        `shared memory region '${name}': offset and byte_size must be >= 0 and > 0`,
      );
    let fd: number;
    try {
      // O_NOFOLLOW: a key must name the object itself, never a link to a file elsewhere.
      fd = openSync(join(this.dir, file), fsConstants.O_RDWR | fsConstants.O_NOFOLLOW);
    } catch (e) {
      throw new ShmError(
        'invalid',
        `unable to open shared memory key '${key}' for region '${name}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      );
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile())
        throw new ShmError('invalid', `shared memory key '${key}' is not a shared-memory object`);
      if (st.size < offset + byteSize)
        throw new ShmError(
          'invalid',
          `shared memory region '${name}': object '${key}' has ${st.size} bytes, region needs ${offset + byteSize}`,
        );
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    this.regions.set(name, { name, key, offset, byteSize, fd });
  }

  /** Drops regions whose object was removed (its client closed or crashed without unregistering). */
  private prune(): void {
    for (const r of [...this.regions.values()]) {
      let gone = false;
      try {
        gone = fstatSync(r.fd).nlink === 0;
      } catch {
        gone = true;
      }
      if (gone) this.unregister(r.name);
    }
  }

  /** Unregisters one region (unknown names are not an error), or every region when `name` is empty. */
  unregister(name = ''): void {
    const names = name === '' ? [...this.regions.keys()] : [name];
    for (const n of names) {
      const r = this.regions.get(n);
      if (!r) continue;
      this.regions.delete(n);
      closeSync(r.fd);
    }
  }

  status(name = ''): RegionStatus[] {
    if (name === '') return [...this.regions.values()].map(({ fd: _fd, ...s }) => s);
    const r = this.regions.get(name);
    if (!r) throw new ShmError('not-found', `shared memory region '${name}' is not registered`);
    const { fd: _fd, ...s } = r;
    return [s];
  }

  get size(): number {
    return this.regions.size;
  }

  private region(name: string, offset: number, byteSize: number, what: string): Region {
    const r = this.regions.get(name);
    if (!r) throw new ShmError('invalid', `${what}: shared memory region '${name}' is not registered`);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + byteSize > r.byteSize)
      throw new ShmError(
        'invalid',
        `${what}: ${byteSize} bytes at offset ${offset} do not fit shared memory region '${name}' (${r.byteSize} bytes)`,
      );
    return r;
  }

  /** Copies `byteSize` bytes at `offset` of region `name` out of shared memory. */
  read(name: string, offset: number, byteSize: number, what: string): Buffer {
    const r = this.region(name, offset, byteSize, what);
    const out = inputBuffers.take(byteSize);
    let done = 0;
    while (done < byteSize) {
      const n = readSync(r.fd, out, done, byteSize - done, r.offset + offset + done);
      if (n === 0) throw new ShmError('invalid', `${what}: shared memory region '${name}' ends early`);
      done += n;
    }
    return out;
  }

  /** Copies `data` into region `name` at `offset`; `byteSize` is the room the request gave it. */
  write(name: string, offset: number, byteSize: number, data: Uint8Array, what: string): void {
    if (data.byteLength > byteSize)
      throw new ShmError(
        'invalid',
        `${what}: ${data.byteLength} bytes do not fit the ${byteSize} bytes given in shared memory region '${name}'`,
      );
    const r = this.region(name, offset, byteSize, what);
    let done = 0;
    while (done < data.byteLength) {
      done += writeSync(r.fd, data, done, data.byteLength - done, r.offset + offset + done);
    }
  }

  /** Closes every region's descriptor. Idempotent. */
  close(): void {
    this.closed = true;
    this.unregister();
  }
}

/** Whether `host` (a name or address, IPv6 optionally in brackets) can only be reached from this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}
