/**
 * The shared-memory registry (server side) and pool (client side) on a temp directory standing in
 * for /dev/shm: validation of names and keys, bounds, pruning of removed objects, slot bounds,
 * cleanup of objects left by dead processes.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isLoopbackHost, SharedMemoryRegistry, ShmError } from '../../src/infer/shm.js';
import { SharedMemoryPool } from '../../src/infer/shm-pool.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-shm-unit-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function kindOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof ShmError ? e.kind : `not a ShmError: ${(e as Error).message}`;
  }
  return undefined;
}

describe('SharedMemoryRegistry', () => {
  it('registers, reads and writes at offsets, reports status and unregisters', () => {
    writeFileSync(join(dir, 'obj'), Buffer.alloc(64));
    const reg = new SharedMemoryRegistry(dir);
    reg.register('r1', '/obj', 16, 32);
    expect(reg.status()).toEqual([{ name: 'r1', key: '/obj', offset: 16, byteSize: 32 }]);
    reg.write('r1', 4, 8, Uint8Array.from([1, 2, 3, 4]), 'output x');
    expect([...reg.read('r1', 4, 4, 'input x')]).toEqual([1, 2, 3, 4]);
    // The region starts at byte 16 of the object.
    expect([...reg.read('r1', 0, 8, 'input x')]).toEqual([0, 0, 0, 0, 1, 2, 3, 4]);
    reg.unregister('r1');
    reg.unregister('r1'); // unknown names are not an error
    expect(reg.size).toBe(0);
    reg.close();
    reg.close();
  });

  it('refuses bad names, keys, sizes, duplicates and links', () => {
    writeFileSync(join(dir, 'obj'), Buffer.alloc(64));
    writeFileSync(join(dir, '..target'), 'x');
    symlinkSync(join(dir, 'obj'), join(dir, 'link'));
    const reg = new SharedMemoryRegistry(dir);
    expect(kindOf(() => reg.register('a/b', '/obj', 0, 8))).toBe('invalid');
    expect(kindOf(() => reg.register('..', '/obj', 0, 8))).toBe('invalid');
    expect(kindOf(() => reg.register('r', '/../etc/passwd', 0, 8))).toBe('invalid');
    expect(kindOf(() => reg.register('r', '/a/b', 0, 8))).toBe('invalid');
    expect(kindOf(() => reg.register('r', '/..', 0, 8))).toBe('invalid');
    expect(kindOf(() => reg.register('r', '/missing', 0, 8))).toBe('invalid');
    expect(kindOf(() => reg.register('r', '/link', 0, 8))).toBe('invalid');
    expect(kindOf(() => reg.register('r', '/obj', 60, 8))).toBe('invalid');
    expect(kindOf(() => reg.register('r', '/obj', 0, 0))).toBe('invalid');
    expect(kindOf(() => reg.register('r', '/obj', -1, 8))).toBe('invalid');
    reg.register('r', '/obj', 0, 8);
    expect(kindOf(() => reg.register('r', '/obj', 0, 8))).toBe('exists');
    expect(kindOf(() => reg.status('nope'))).toBe('not-found');
    expect(kindOf(() => reg.read('r', 4, 8, 'input x'))).toBe('invalid');
    expect(kindOf(() => reg.read('nope', 0, 1, 'input x'))).toBe('invalid');
    expect(kindOf(() => reg.write('r', 0, 4, new Uint8Array(5), 'output y'))).toBe('invalid');
    reg.close();
  });

  it('is bounded, and makes room by dropping regions whose object was removed', () => {
    for (const f of ['a', 'b', 'c']) writeFileSync(join(dir, f), Buffer.alloc(8));
    const reg = new SharedMemoryRegistry(dir, 2);
    reg.register('a', 'a', 0, 8);
    reg.register('b', 'b', 0, 8);
    expect(kindOf(() => reg.register('c', 'c', 0, 8))).toBe('exhausted');
    rmSync(join(dir, 'a')); // its client closed without unregistering
    reg.register('c', 'c', 0, 8);
    expect(reg.status().map((r) => r.name)).toEqual(['b', 'c']);
    reg.close();
    expect(reg.size).toBe(0);
  });
});

describe('SharedMemoryPool', () => {
  it('hands out at most `slots` slots, never blocks, and reuses released ones', () => {
    const pool = new SharedMemoryPool({ slots: 2, slotBytes: 1024, dir });
    expect(pool.acquire(2048)).toBeUndefined(); // too large: the caller sends bytes
    const a = pool.acquire(100)!;
    const b = pool.acquire(100)!;
    expect(a.name).not.toBe(b.name);
    expect(pool.acquire(100)).toBeUndefined();
    pool.release(a);
    expect(pool.acquire(100)!.name).toBe(a.name);
    expect(pool.makeAll()).toHaveLength(2);
    expect(readdirSync(dir)).toHaveLength(2);
    pool.close();
    pool.close();
    expect(readdirSync(dir)).toHaveLength(0);
    expect(pool.acquire(1)).toBeUndefined();
  });

  it('writes parts at 8-byte aligned offsets that a registry reads back', () => {
    const pool = new SharedMemoryPool({ slots: 1, slotBytes: 64, dir });
    const slot = pool.acquire(20)!;
    const offsets = pool.write(slot, [Uint8Array.from([1, 2, 3]), Float32Array.from([1.5, -2])]);
    expect(offsets).toEqual([0, 8]);
    const reg = new SharedMemoryRegistry(dir);
    reg.register(slot.name, slot.key, 0, slot.byteSize);
    expect([...reg.read(slot.name, 0, 3, 'in')]).toEqual([1, 2, 3]);
    const floats = reg.read(slot.name, 8, 8, 'in');
    expect([floats.readFloatLE(0), floats.readFloatLE(4)]).toEqual([1.5, -2]);
    expect(() => pool.write(slot, [new Uint8Array(65)])).toThrow(/do not fit/);
    reg.close();
    pool.close();
  });

  it("removes objects left by processes that no longer run, not live ones'", () => {
    // pid 2^22 + 1 is above Linux's pid_max limit: never a live process.
    const dead = join(dir, `vigil-shm-${4194305}-deadbeef-0`);
    const mine = join(dir, `vigil-shm-${process.pid}-cafe0000-0`);
    const other = join(dir, 'someone-else');
    for (const f of [dead, mine, other]) writeFileSync(f, 'x');
    const pool = new SharedMemoryPool({ slots: 1, slotBytes: 8, dir });
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(mine)).toBe(true);
    expect(existsSync(other)).toBe(true);
    pool.close();
  });
});

describe('isLoopbackHost', () => {
  it('knows loopback names and addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]', 'LOCALHOST'])
      expect(isLoopbackHost(h)).toBe(true);
    for (const h of ['0.0.0.0', '10.0.0.1', 'inference', '::', '[::]', '128.0.0.1'])
      expect(isLoopbackHost(h)).toBe(false);
  });
});
