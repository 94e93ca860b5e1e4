/** Per-key exponential backoff, as controller-runtime's default rate limiter: base * 2^failures, capped. */
export class Backoff<K> {
  readonly #failures = new Map<K, number>();

  /** @param baseMs delay after the first failure (default 200 ms) @param maxMs the cap (default 5 min) */
  constructor(
    private readonly baseMs = 200,
    private readonly maxMs = 300_000,
  ) {}

  /** Records a failure of key and returns how long to wait before the next try. */
  next(key: K): number {
    const n = this.#failures.get(key) ?? 0;
    this.#failures.set(key, n + 1);
    return Math.min(this.maxMs, this.baseMs * 2 ** n);
  }

  failures(key: K): number {
    return this.#failures.get(key) ?? 0;
  }

  forget(key: K): void {
    this.#failures.delete(key);
  }
}
