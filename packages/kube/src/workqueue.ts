import { Backoff } from './backoff.js';
import { systemClock, type Clock } from './clock.js';
import { TerminalError } from './errors.js';

/** The longest delay a Node timer keeps (2^31-1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** What reconcile returns: done (undefined), or come back after some time. */
export type Result = { requeueAfterMs: number } | undefined;
export type Reconcile<K> = (key: K) => Promise<Result>;

export interface WorkQueueOptions<K> {
  /** Keys reconciled at once, never the same key twice. @default 2 */
  workers?: number;
  /** @default systemClock */
  clock?: Clock;
  /** @default exponential from 200 ms to 5 min */
  backoff?: Backoff<K>;
  /** Told of every failed reconcile, with the delay before the retry (undefined for terminal errors). */
  onError?: (key: K, err: unknown, retryInMs: number | undefined) => void;
}

/**
 * A controller-runtime style work queue: repeated adds of a key fold into one pending run, a key is never
 * reconciled twice at once (an add during its run schedules one more run after it), and failures back off per key.
 */
export class WorkQueue<K> {
  readonly #queue: K[] = [];
  readonly #dirty = new Set<K>();
  readonly #processing = new Set<K>();
  readonly #timers = new Map<K, { at: number; cancel(): void }>();
  readonly #clock: Clock;
  readonly #backoff: Backoff<K>;
  readonly #workers: number;
  readonly #onError: WorkQueueOptions<K>['onError'];
  #reconcile: Reconcile<K> | undefined;
  #running = 0;
  #stopped = false;
  #idleWaiters: (() => void)[] = [];

  constructor(opts: WorkQueueOptions<K> = {}) {
    this.#clock = opts.clock ?? systemClock;
    this.#backoff = opts.backoff ?? new Backoff<K>();
    this.#workers = opts.workers ?? 2;
    this.#onError = opts.onError;
  }

  start(reconcile: Reconcile<K>): void {
    this.#reconcile = reconcile;
    this.#pump();
  }

  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers.values()) t.cancel();
    this.#timers.clear();
  }

  add(key: K): void {
    if (this.#stopped || this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (!this.#processing.has(key)) this.#queue.push(key);
    this.#pump();
  }

  /** Adds key after ms (any length); an earlier pending delay for the same key wins. */
  addAfter(key: K, ms: number): void {
    if (this.#stopped) return;
    if (ms <= 0) return this.add(key);
    const at = this.#clock.now() + ms;
    const existing = this.#timers.get(key);
    if (existing && existing.at <= at) return;
    existing?.cancel();
    // Node's timers take at most 2^31-1 ms (24.8 days) and fire at once for more, which would turn a yearly cron
    // object's wait into a loop: a longer wait is served in steps.
    const timer = this.#clock.setTimeout(
      () => {
        this.#timers.delete(key);
        const left = at - this.#clock.now();
        if (left > 0) this.addAfter(key, left);
        else this.add(key);
      },
      Math.min(ms, MAX_TIMER_MS),
    );
    this.#timers.set(key, { at, cancel: timer.cancel });
  }

  /** Keys waiting to run (not counting delayed ones or those running). */
  depth(): number {
    return this.#queue.length;
  }

  /** Reconciles running now (a stopped queue starts no more). */
  inFlight(): number {
    return this.#running;
  }

  /** Resolves when nothing is queued or running (delayed keys do not count). */
  idle(): Promise<void> {
    if (this.#queue.length === 0 && this.#running === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #pump(): void {
    while (this.#reconcile && !this.#stopped && this.#running < this.#workers && this.#queue.length > 0) {
      const key = this.#queue.shift() as K;
      this.#dirty.delete(key);
      this.#processing.add(key);
      this.#running++;
      void this.#runOne(this.#reconcile, key);
    }
    if (this.#queue.length === 0 && this.#running === 0) {
      for (const w of this.#idleWaiters.splice(0)) w();
    }
  }

  async #runOne(reconcile: Reconcile<K>, key: K): Promise<void> {
    try {
      const result = await reconcile(key);
      this.#backoff.forget(key);
      if (result) this.addAfter(key, result.requeueAfterMs);
    } catch (err) {
      if (err instanceof TerminalError) {
        this.#backoff.forget(key);
        this.#onError?.(key, err, undefined);
      } else {
        const delay = this.#backoff.next(key);
        this.#onError?.(key, err, delay);
        this.addAfter(key, delay);
      }
    } finally {
      this.#processing.delete(key);
      this.#running--;
      if (this.#dirty.has(key)) this.#queue.push(key);
      this.#pump();
    }
  }
}
