/**
 * Rate delay for one source IP x site: each start waits until the gap has passed since the
 * previous start really happened (not since it was meant to). Callers line up first come, first
 * served behind one turn, so the gap holds across connections even when a timer fires late for
 * one of them. Used by the scheduler, which spaces the starts it gives out, and again by the
 * delivery thread, which requests can reach bunched when its event loop was busy.
 */
export class StartGate {
  /** When the last start went, on `now`'s scale; -Infinity before the first. */
  lastStartAt = Number.NEGATIVE_INFINITY;
  #turn: Promise<void> = Promise.resolve();
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** True when a start now would keep the gap since the last one. */
  gapKept(gapMs: number): boolean {
    return this.#now() >= this.lastStartAt + gapMs;
  }

  /**
   * Waits for this caller's turn and for the gap, then records the start. `gapMs` is read
   * again while waiting, so a delay that changes meanwhile (adaptive backoff) applies at once.
   */
  async waitTurn(gapMs: () => number): Promise<void> {
    if (gapMs() <= 0) return;
    const previous = this.#turn;
    let started = () => {};
    this.#turn = new Promise<void>((resolve) => {
      started = resolve;
    });
    await previous;
    // A timer counts from the event loop's cached time, which lags on a busy loop: it can fire
    // early by `now`'s reckoning, so wait out any remainder.
    const due = () => this.lastStartAt + gapMs() - this.#now();
    for (let wait = due(); wait > 0; wait = due()) await sleep(wait);
    this.lastStartAt = this.#now();
    started();
  }
}

/** The global timer, so that tests which mock timers move these waits too. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
