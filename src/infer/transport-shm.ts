/**
 * Input tensors through Triton's system shared memory: a large request writes its inputs into a
 * slot of the pool and sends only their place, to each address whose server holds the pool's
 * regions (registered in the background on first use, so no request waits for it). A server that
 * refuses a request naming its regions (restarted without them, object gone) gets the bytes in the
 * message at once, and the regions are registered again later.
 */
import * as grpc from '@grpc/grpc-js';
import { InferenceError } from '../core/errors.js';
import type { Unary } from './channels.js';
import type { GRPCInferenceServiceClient } from './generated/inference/GRPCInferenceService.js';
import type { ModelInferRequest } from './generated/inference/ModelInferRequest.js';
import type { ModelInferResponse__Output } from './generated/inference/ModelInferResponse.js';
import { SharedMemoryPool, type SharedMemoryPoolOptions, type ShmSlot } from './shm-pool.js';
import type { InferCall, InferTransport } from './transport.js';

/** Requests with fewer input bytes than this go in the message even when shared memory is on. */
export const SHM_MIN_BYTES = 64 * 1024;

/** Whether an address's server holds the pool's regions (undefined: not asked, or must ask again). */
export type ShmAddressState = 'registering' | 'ready' | 'unsupported';

/**
 * A server answered a request whose inputs were in shared memory with a refusal of the request
 * (INVALID_ARGUMENT or NOT_FOUND). The transport repeats such a request with the bytes in the
 * message: when that succeeds, the refusal was about the regions.
 */
export class SharedMemoryRefusedError extends InferenceError {
  constructor(
    /** The addresses (indexes) the request went to with inputs in shared memory. */
    readonly addressIndexes: readonly number[],
    cause: InferenceError,
  ) {
    super('VIGIL_ERR_INFER_SHM_REFUSED', `${cause.message} (inputs in shared memory)`, {
      cause,
      grpcCode: cause.grpcCode,
    });
  }
}

/** The refusal `e` is when a request with inputs in shared memory at `used` ended with it; else undefined. */
export function sharedMemoryRefusal(
  e: unknown,
  used: ReadonlySet<number>,
): SharedMemoryRefusedError | undefined {
  if (used.size === 0 || !(e instanceof InferenceError)) return undefined;
  if (e.grpcCode !== grpc.status.INVALID_ARGUMENT && e.grpcCode !== grpc.status.NOT_FOUND) return undefined;
  return new SharedMemoryRefusedError([...used], e);
}

/** Registers every slot `pool` may make with the server behind `client`: its new state. */
export async function registerRegions(
  client: GRPCInferenceServiceClient,
  pool: SharedMemoryPool,
): Promise<ShmAddressState | undefined> {
  const unary = <Req, Res>(fn: Unary<Req, Res>, req: Req): Promise<Res> =>
    new Promise<Res>((resolve, reject) => {
      fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + 2000 }, (err, res) =>
        err ? reject(err) : resolve(res as Res),
      );
    });
  try {
    const meta = await unary(client.ServerMetadata as Unary<object, { extensions: string[] }>, {});
    if (!meta.extensions.includes('system_shared_memory')) return 'unsupported';
    // Every slot the pool may make, made now so that one registration covers them all.
    const regions = pool.makeAll();
    if (regions.length === 0) return 'unsupported';
    for (const r of regions) {
      try {
        await unary(client.SystemSharedMemoryRegister as Unary<object, object>, {
          name: r.name,
          key: r.key,
          offset: 0,
          byte_size: r.byteSize,
        });
      } catch (e) {
        if ((e as grpc.ServiceError).code !== grpc.status.ALREADY_EXISTS) throw e;
      }
    }
    return 'ready';
  } catch (e) {
    // Unreachable now: ask again on a later call. Refused (another host, extension off): bytes.
    return (e as grpc.ServiceError).code === grpc.status.UNAVAILABLE ||
      (e as grpc.ServiceError).code === grpc.status.DEADLINE_EXCEEDED
      ? undefined
      : 'unsupported';
  }
}

export interface SharedMemoryTransportOptions {
  pool: SharedMemoryPoolOptions;
  /** Per address: whether it may use shared memory at all. */
  eligible: readonly boolean[];
  /** Registers the pool's regions with address `index` (see registerRegions). */
  register: (index: number, pool: SharedMemoryPool) => Promise<ShmAddressState | undefined>;
  /** Sends the message with inputs in shared memory (the stream or unary transport). */
  inner: InferTransport;
  /** Sends the bytes again after a refusal (the unary transport). */
  bytes: InferTransport;
  /** True once the client is closed: no more registrations. */
  closed: () => boolean;
}

export class SharedMemoryTransport implements InferTransport {
  private readonly pool: SharedMemoryPool;
  private readonly state: (ShmAddressState | undefined)[];
  private sent = 0;

  constructor(private readonly options: SharedMemoryTransportOptions) {
    this.pool = new SharedMemoryPool(options.pool);
    this.state = options.eligible.map((ok) => (ok ? undefined : 'unsupported'));
  }

  /** Calls whose inputs went through shared memory so far. */
  get calls(): number {
    return this.sent;
  }

  /** What this transport knows of address `index`'s server. */
  stateOf(index: number): ShmAddressState | undefined {
    return this.state[index];
  }

  /** Address `index` may have lost the regions (it was unavailable): register again before use. */
  forget(index: number): void {
    if (this.state[index] === 'ready') this.state[index] = undefined;
  }

  async send(call: InferCall): Promise<ModelInferResponse__Output> {
    // Shared memory only pays for large tensors; small ones go in the message.
    const slot =
      call.bytes >= SHM_MIN_BYTES && this.state.some((s) => s !== 'unsupported')
        ? this.pool.acquire(call.bytes)
        : undefined;
    if (!slot) return this.options.inner.send(call);
    try {
      return await this.viaSlot(call, slot);
    } catch (e) {
      if (!(e instanceof SharedMemoryRefusedError)) throw e;
      // Throws the answer to the bytes when the request itself is wrong.
      const res = await this.options.bytes.send(call);
      // The bytes were accepted: the server lost or refused our regions (restarted, object gone).
      for (const i of e.addressIndexes) this.forget(i);
      return res;
    } finally {
      this.pool.release(slot);
    }
  }

  /** The call with its inputs in `slot` for each address holding the regions; as bytes for the others. */
  private async viaSlot(call: InferCall, slot: ShmSlot): Promise<ModelInferResponse__Output> {
    let offsets: number[] | undefined;
    try {
      offsets = this.pool.write(slot, call.data);
    } catch {
      // e.g. /dev/shm full: this call goes as bytes
    }
    const { raw_input_contents: _inMessage, inputs, ...base } = call.inMessage;
    const viaShm: ModelInferRequest | undefined = offsets && {
      ...base,
      inputs: (inputs ?? []).map((t, k) => ({
        name: t.name,
        datatype: t.datatype,
        shape: t.shape,
        parameters: {
          shared_memory_region: { string_param: slot.name },
          shared_memory_offset: { int64_param: offsets![k]! },
          shared_memory_byte_size: { int64_param: call.data[k]!.byteLength },
        },
      })),
    };
    const used = new Set<number>();
    try {
      const res = await this.options.inner.send(call, (index) => {
        if (!viaShm || !this.ready(index)) return call.inMessage;
        used.add(index);
        return viaShm;
      });
      if (used.size > 0) this.sent++;
      return res;
    } catch (e) {
      throw sharedMemoryRefusal(e, used) ?? e;
    }
  }

  /**
   * Whether address `index` holds the pool's regions now. When not yet known, registers them in
   * the background (this call then goes as bytes) so that no request waits on it.
   */
  private ready(index: number): boolean {
    const state = this.state[index];
    if (state === 'ready') return true;
    if (state !== undefined || this.options.closed()) return false;
    this.state[index] = 'registering';
    const settle = (next: ShmAddressState | undefined): void => {
      if (this.state[index] === 'registering') this.state[index] = next;
    };
    this.options.register(index, this.pool).then(settle, () => settle(undefined));
    return false;
  }

  /** Removes the pool's objects (servers drop regions whose object is gone). Idempotent. */
  close(): void {
    this.pool.close();
  }
}
