/**
 * The bodies of recently stored messages, kept in memory up to a byte budget, so the first
 * delivery attempt (which follows the store within milliseconds) does not read back from disk
 * what was just written. Oldest entries go first; a message that leaves the queue leaves here.
 * The spool segments stay the only record: this is a read cache, never written from.
 */
import type { QueueId } from "../message/types.ts";

export class BodyCache {
  readonly #bodies = new Map<QueueId, Buffer>();
  readonly #maxBytes: number;
  #bytes = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  get bytes(): number {
    return this.#bytes;
  }

  put(id: QueueId, body: Buffer): void {
    if (body.length > this.#maxBytes / 4) return; // a few huge bodies must not push out everything else
    this.delete(id);
    this.#bodies.set(id, body);
    this.#bytes += body.length;
    for (const [oldest, old] of this.#bodies) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#bodies.delete(oldest);
      this.#bytes -= old.length;
    }
  }

  get(id: QueueId): Buffer | undefined {
    return this.#bodies.get(id);
  }

  delete(id: QueueId): void {
    const body = this.#bodies.get(id);
    if (body === undefined) return;
    this.#bodies.delete(id);
    this.#bytes -= body.length;
  }
}
