/**
 * Keyframe evidence (JPEG) in a JetStream object store with a size cap: puts run one after another,
 * and a put refused at the cap evicts the oldest objects (counted) and tries again.
 */
import type { ObjectStore } from '@nats-io/obj';
import { PublishError } from '../core/errors.js';

export interface EvidenceOptions {
  /** Object-store bucket for keyframe JPEGs (default `vigil-evidence`). */
  bucket: string;
  /** Size cap of the bucket, bytes (default 256 MiB); the oldest objects go first. */
  maxBytes: number;
  /** Objects older than this are removed, ms (default 24 h). */
  maxAgeMs: number;
}

export interface EvidenceItem {
  name: string;
  data: Uint8Array;
  streamId: string;
  keyframeId: string;
}

export class EvidenceStore {
  /** Objects stored. */
  stored = 0;
  /** Objects deleted (oldest first) to make room at the bucket's size cap. */
  evicted = 0;
  /** Puts run one after another: at the cap, each eviction makes room for the put that needs it. */
  private turn: Promise<unknown> = Promise.resolve();

  constructor(
    /** The bucket as it is now (it is made again when found missing). */
    private readonly bucket: () => ObjectStore | undefined,
    /** The bucket's size cap, bytes. */
    private readonly maxBytes: number,
  ) {}

  async put(item: EvidenceItem): Promise<void> {
    const os = this.bucket();
    if (!os) throw new PublishError('object store not ready');
    const turn = this.turn.then(() => this.putEvicting(os, item));
    this.turn = turn.catch(() => undefined);
    await turn;
    this.stored++;
  }

  private async putEvicting(os: ObjectStore, item: EvidenceItem): Promise<void> {
    for (let tries = 0; ; tries++) {
      try {
        await os.putBlob(
          {
            name: item.name,
            description: `keyframe ${item.keyframeId}`,
            headers: undefined,
            metadata: { streamId: item.streamId, keyframeId: item.keyframeId, contentType: 'image/jpeg' },
          },
          item.data,
        );
        return;
      } catch (err) {
        // The bucket refuses new objects at its cap (object stores discard new): evict the oldest.
        const full = /maximum bytes|insufficient resources/i.test(String((err as Error)?.message));
        if (!full || tries >= 3) throw err;
        await this.evictOldest(os, item.data.length + Math.floor(this.maxBytes / 4));
      }
    }
  }

  /** Deletes the oldest objects until at least `bytes` are freed. */
  private async evictOldest(os: ObjectStore, bytes: number): Promise<void> {
    const all = (await os.list()).sort((a, b) => Date.parse(a.mtime) - Date.parse(b.mtime));
    let freed = 0;
    for (const o of all) {
      if (freed >= bytes) break;
      await os.delete(o.name);
      freed += o.size;
      this.evicted++;
    }
  }
}
