import { Backoff } from './backoff.js';
import { sleep } from './clock.js';
import { statusCode } from './errors.js';
import { objectKey, type KubeList, type KubeObject } from './object.js';
import type { RestClient, WatchEvent } from './rest.js';

export type InformerEvent = 'add' | 'update' | 'delete';
export type InformerHandler<T> = (event: InformerEvent, obj: T, old?: T) => void;

/** Where an informer lists and watches; restListWatch is the usual one. */
export interface ListWatch<T> {
  list(continueToken: string | undefined): Promise<KubeList<T>>;
  watch(
    resourceVersion: string,
    timeoutSeconds: number,
    onEvent: (e: WatchEvent<T>) => void,
    signal: AbortSignal,
  ): Promise<void>;
}

export interface Selectors {
  labelSelector?: string;
  fieldSelector?: string;
}

/** Lists and watches a collection path, e.g. /api/v1/pods or /apis/migration.dcnlab.com/v1/checkpointbackups. */
export function restListWatch<T>(client: RestClient, path: string, selectors: Selectors = {}): ListWatch<T> {
  return {
    list: (cont) => client.get<KubeList<T>>(path, { query: { ...selectors, limit: 500, continue: cont } }),
    watch: (resourceVersion, timeoutSeconds, onEvent, signal) =>
      client.watch<T>(
        path,
        { ...selectors, resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
        onEvent,
        signal,
      ),
  };
}

export interface InformerOptions {
  /**
   * Hand every cached object to the handlers again ('update', old === new) this often, as client-go's resync does:
   * no request is made. Lists happen only when a watch fails or the server answers 410. @default 0 (never)
   */
  resyncMs?: number;
  /** Server-side watch timeout; a watch still open well after it is treated as stalled. @default 240 */
  watchTimeoutSeconds?: number;
  /** Extra time past the server-side timeout before a watch counts as silent. @default 15000 */
  stallGraceMs?: number;
  /** Told of every list or watch failure; the informer retries on its own. */
  onError?: (err: unknown) => void;
}

type WatchEnd = 'closed' | 'expired' | 'stalled' | 'stopped';

/**
 * A list-watch cache that never gives up, listing only when it must, as client-go's reflector does: a watch that
 * ends cleanly is resumed from the last resourceVersion seen; any error re-lists after a capped backoff; a 410
 * re-lists at once; and a watch that outlives its server-side timeout is cut and re-listed (client-node 1.4 watches
 * can hang silently). There is no periodic re-list: on a cluster of thousands of objects it would cost a full list
 * per informer per period for nothing the watch has not already said.
 */
export class Informer<T extends KubeObject> {
  readonly #source: ListWatch<T>;
  readonly #opts: Required<Omit<InformerOptions, 'onError'>> & InformerOptions;
  readonly #cache = new Map<string, T>();
  readonly #handlers: InformerHandler<T>[] = [];
  readonly #backoff = new Backoff<string>(500, 30_000);
  #resourceVersion = '';
  #synced = false;
  #stopped = false;
  #abort: AbortController | undefined;
  #lastContact = 0;
  #resyncTimer: NodeJS.Timeout | undefined;
  /** Counters, for health and tests. */
  readonly stats = { lists: 0, watches: 0, errors: 0, expired: 0, stalled: 0, resyncs: 0 };

  constructor(source: ListWatch<T>, opts: InformerOptions = {}) {
    this.#source = source;
    this.#opts = { resyncMs: 0, watchTimeoutSeconds: 240, stallGraceMs: 15_000, ...opts };
  }

  on(handler: InformerHandler<T>): void {
    this.#handlers.push(handler);
  }

  get(key: string): T | undefined {
    return this.#cache.get(key);
  }

  list(): T[] {
    return [...this.#cache.values()];
  }

  hasSynced(): boolean {
    return this.#synced;
  }

  /** Milliseconds since the apiserver last answered a list or sent a watch event. */
  sinceContactMs(): number {
    return Date.now() - this.#lastContact;
  }

  /** Starts the loop; resolves after the first successful list. */
  start(): Promise<void> {
    const synced = new Promise<void>((resolve) => {
      const check = (): void => {
        if (this.#synced || this.#stopped) resolve();
        else setTimeout(check, 20);
      };
      check();
    });
    void this.#run();
    if (this.#opts.resyncMs > 0) {
      this.#resyncTimer = setInterval(() => this.#resync(), this.#opts.resyncMs);
      this.#resyncTimer.unref();
    }
    return synced;
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#resyncTimer);
    this.#abort?.abort();
  }

  /** client-go's resync: every cached object to the handlers again, from memory. */
  #resync(): void {
    if (!this.#synced || this.#stopped) return;
    this.stats.resyncs++;
    for (const obj of [...this.#cache.values()]) this.#emit('update', obj, obj);
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        await this.#relist();
        let end: WatchEnd = 'closed';
        while (end === 'closed' && !this.#stopped) end = await this.#watch();
        if (end === 'expired') this.stats.expired++;
        if (end === 'stalled') this.stats.stalled++;
        this.#backoff.forget('watch');
      } catch (err) {
        if (this.#stopped) return;
        this.stats.errors++;
        this.#opts.onError?.(err);
        await sleep(this.#backoff.next('watch'));
      }
    }
  }

  async #relist(): Promise<void> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.#source.list(cont);
      items.push(...page.items);
      cont = page.metadata?.continue || undefined;
      rv = page.metadata?.resourceVersion ?? '';
    } while (cont);
    this.stats.lists++;
    this.#lastContact = Date.now();
    this.#replace(items);
    this.#resourceVersion = rv;
    this.#synced = true;
  }

  #replace(items: T[]): void {
    const seen = new Set<string>();
    for (const item of items) {
      const key = objectKey(item);
      seen.add(key);
      this.#apply('ADDED', item);
    }
    for (const [key, old] of [...this.#cache]) {
      if (!seen.has(key)) {
        this.#cache.delete(key);
        this.#emit('delete', old);
      }
    }
  }

  #apply(type: WatchEvent<T>['type'], obj: T): void {
    const key = objectKey(obj);
    const old = this.#cache.get(key);
    if (type === 'DELETED') {
      this.#cache.delete(key);
      this.#emit('delete', obj, old);
      return;
    }
    if (old?.metadata?.resourceVersion === obj.metadata?.resourceVersion && old) return;
    this.#cache.set(key, obj);
    this.#emit(old ? 'update' : 'add', obj, old);
  }

  #emit(event: InformerEvent, obj: T, old?: T): void {
    for (const h of this.#handlers) {
      try {
        h(event, obj, old);
      } catch (err) {
        this.#opts.onError?.(err);
      }
    }
  }

  /** One watch call; says why it ended. */
  async #watch(): Promise<WatchEnd> {
    const abort = new AbortController();
    this.#abort = abort;
    let why: WatchEnd = 'closed';
    const cut = (reason: WatchEnd) => () => {
      why = reason;
      abort.abort();
    };
    const { watchTimeoutSeconds, stallGraceMs } = this.#opts;
    const stallTimer = setTimeout(cut('stalled'), watchTimeoutSeconds * 1000 + stallGraceMs);
    this.stats.watches++;
    try {
      await this.#source.watch(
        this.#resourceVersion,
        watchTimeoutSeconds,
        (e) => this.#onEvent(e, cut('expired')),
        abort.signal,
      );
    } catch (err) {
      if (!abort.signal.aborted) {
        if (statusCode(err) === 410) return 'expired';
        throw err;
      }
    } finally {
      clearTimeout(stallTimer);
    }
    if (this.#stopped) return 'stopped';
    return why;
  }

  #onEvent(e: WatchEvent<T>, expire: () => void): void {
    this.#lastContact = Date.now();
    if (e.type === 'ERROR') {
      const code = (e.object as { code?: number }).code;
      if (code === 410) return expire();
      throw Object.assign(new Error(`watch error: ${JSON.stringify(e.object)}`), { statusCode: code });
    }
    const rv = e.object.metadata?.resourceVersion;
    if (rv) this.#resourceVersion = rv;
    if (e.type !== 'BOOKMARK') this.#apply(e.type, e.object);
  }
}
