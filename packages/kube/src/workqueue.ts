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

/** A key's place in line: its priority, and when it joined that priority's line. */
interface Pending {
  priority: number;
  seq: number;
}

/**
 * A controller-runtime style work queue: repeated adds of a key fold into one pending run, a key is never
 * reconciled twice at once (an add during its run schedules one more run after it), and failures back off per key.
 *
 * Keys may be added with a priority (default 0): a higher one runs first, keys of one priority in the order they came,
 * as controller-runtime's priority queue. Adding a waiting key again with a higher priority moves it up; with a lower
 * one changes nothing. A controller gives the work a user is waiting on (an object not yet acted on) a higher priority
 * than the status bookkeeping of thousands of others, so a burst of the latter does not hold the former back.
 */
export class WorkQueue<K> {
  /** Lines of waiting keys by priority; an entry whose seq is no longer its key's is stale and skipped. */
  readonly #lines = new Map<number, { key: K; seq: number }[]>();
  /** Keys to run (again): waiting in a line, or to be lined up when their current run ends. */
  readonly #pending = new Map<K, Pending>();
  #waiting = 0;
  #seq = 0;
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

  /** Queues key to run (once, however often it is added before it runs), at a priority (higher runs first). */
  add(key: K, priority = 0): void {
    if (this.#stopped) return;
    const pending = this.#pending.get(key);
    if (pending && pending.priority >= priority) return;
    const entry = { priority, seq: ++this.#seq };
    this.#pending.set(key, entry);
    if (!this.#processing.has(key)) this.#line(key, entry, !!pending);
    this.#pump();
  }

  /** Adds key after ms (any length) at priority 0; an earlier pending delay for the same key wins. */
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
    return this.#waiting;
  }

  /** Reconciles running now (a stopped queue starts no more). */
  inFlight(): number {
    return this.#running;
  }

  /** Resolves when nothing is queued or running (delayed keys do not count). */
  idle(): Promise<void> {
    if (this.#waiting === 0 && this.#running === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Puts a pending key at the end of its priority's line (moved: its older entry in a lower line goes stale). */
  #line(key: K, p: Pending, moved: boolean): void {
    let line = this.#lines.get(p.priority);
    if (!line) this.#lines.set(p.priority, (line = []));
    line.push({ key, seq: p.seq });
    if (!moved) this.#waiting++;
  }

  /** The first waiting key of the highest priority, taken out of line. */
  #next(): K | undefined {
    for (const priority of [...this.#lines.keys()].sort((a, b) => b - a)) {
      const line = this.#lines.get(priority)!;
      while (line.length) {
        const { key, seq } = line.shift()!;
        if (this.#pending.get(key)?.seq !== seq) continue; // moved up since
        this.#pending.delete(key);
        this.#waiting--;
        return key;
      }
      this.#lines.delete(priority);
    }
    return undefined;
  }

  #pump(): void {
    while (this.#reconcile && !this.#stopped && this.#running < this.#workers && this.#waiting > 0) {
      const key = this.#next() as K;
      this.#processing.add(key);
      this.#running++;
      void this.#runOne(this.#reconcile, key);
    }
    if (this.#waiting === 0 && this.#running === 0) {
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
      const again = this.#pending.get(key);
      if (again) this.#line(key, again, false);
      this.#pump();
    }
  }
}
