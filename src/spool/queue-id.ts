/**
 * Queue ids: 20 characters of uppercase base32 (Crockford alphabet, which sorts in ASCII order),
 * so ids sort by arrival in `mailq`, logs and file listings.
 *
 *   chars 0-9   : Unix time in ms (50 bits)
 *   chars 10-13 : per-generator counter within that ms (20 bits)
 *   chars 14-19 : random (30 bits), so two processes (or a restart within the same ms) differ
 *
 * One generator never repeats an id: if the clock goes backwards or the counter overflows, it keeps
 * counting from the last time it used rather than reusing a (time, counter) pair.
 */
import { randomInt } from "node:crypto";
import type { QueueId } from "../message/types.ts";

const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const COUNTER_LIMIT = 32 ** 4;
const RANDOM_LIMIT = 32 ** 6;
const QUEUE_ID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{20}$/;

function toBase32(value: number, width: number): string {
  let out = "";
  let rest = value;
  for (let i = 0; i < width; i++) {
    out = ALPHABET[rest % 32] + out;
    rest = Math.floor(rest / 32);
  }
  return out;
}

export interface QueueIdGeneratorDeps {
  now?: () => number;
  /** Returns an integer in [0, limit). Injectable for tests. */
  random?: (limit: number) => number;
}

/** Creates an id generator; ids from one generator are strictly increasing. */
export function createQueueIdGenerator(deps: QueueIdGeneratorDeps = {}): () => QueueId {
  const now = deps.now ?? Date.now;
  const random = deps.random ?? ((limit: number) => randomInt(limit));
  let lastTime = 0;
  let counter = 0;
  return () => {
    const time = Math.max(Math.floor(now()), lastTime);
    if (time === lastTime) {
      counter++;
      if (counter >= COUNTER_LIMIT) {
        lastTime++;
        counter = 0;
      }
    } else {
      lastTime = time;
      counter = 0;
    }
    return toBase32(lastTime, 10) + toBase32(counter, 4) + toBase32(random(RANDOM_LIMIT), 6);
  };
}

export function isQueueId(value: string): boolean {
  return QUEUE_ID_PATTERN.test(value);
}

/** The arrival time (Unix ms) encoded in a queue id. */
export function queueIdTime(id: QueueId): number {
  let value = 0;
  for (const char of id.slice(0, 10)) value = value * 32 + ALPHABET.indexOf(char);
  return value;
}
