import { fresher, type KubeObject } from './object.js';

/**
 * Read-your-writes for a controller that reads from an informer: the objects it wrote itself, each kept until the
 * informer delivers that write (or a later one). A reconcile that runs again before its own write's watch event
 * arrives starts from the written copy, not the one before it: it neither repeats a step nor pays a 409 (and a
 * re-read) for a copy it knows is stale. resourceVersions are compared by fresher() (object.ts).
 */
export class OwnWrites<T extends KubeObject> {
  readonly #written = new Map<string, T>();

  /** The freshest copy known of an object: the informer's `cached`, or this controller's own later write. */
  freshest(key: string, cached: T | undefined): T | undefined {
    return fresher(cached, this.#written.get(key));
  }

  /**
   * A write answered with `updated` (as stored). Kept only while it is ahead of the informer's copy `cached` (pass
   * what the informer holds now): a watch event that came before the answer, or a delete, would otherwise leave an
   * entry nothing removes. Without `cached` (a caller with no informer at hand) it is kept until `seen`. A later copy
   * of the same object already kept stays.
   */
  wrote(key: string, updated: T, cached?: T | null): void {
    if (cached === null || (cached && fresher(cached, updated) === cached)) {
      this.#written.delete(key);
      return;
    }
    const w = this.#written.get(key);
    const same = w?.metadata?.uid === updated.metadata?.uid;
    if (!w || !same || fresher(w, updated) === updated) this.#written.set(key, updated);
  }

  /** The informer's copy changed (or went, undefined): a write of ours it has reached is no longer needed. */
  seen(key: string, cached: T | undefined): void {
    const w = this.#written.get(key);
    if (w && (!cached || fresher(cached, w) === cached)) this.#written.delete(key);
  }

  /** Writes the informer has not delivered yet. */
  get size(): number {
    return this.#written.size;
  }
}
