import { sleep } from './clock.js';
import { isConflict } from './errors.js';
import type { KubeObject } from './object.js';
import type { RestClient } from './rest.js';

export interface StatusWriteOptions {
  /** Tries before giving up on repeated conflicts. @default 8 */
  attempts?: number;
  /** A copy already at hand (an informer's): the first try uses it instead of a GET; a 409 falls back to reading. */
  current?: KubeObject;
  /** Told of each 409 before the re-read (for a metric: a controller whose copies are often stale pays a round trip). */
  onConflict?: () => void;
}

/**
 * Writes an object's status through the status subresource with the resourceVersion it read, so a concurrent
 * change is never overwritten: on 409 it re-reads and asks `next` again. `next` returns the new status, or
 * undefined when nothing needs writing. Returns the object as stored after the write (or as read).
 */
export async function writeStatus<T extends KubeObject & { status?: S }, S>(
  client: RestClient,
  objectPath: string,
  next: (current: T) => S | undefined,
  opts: StatusWriteOptions = {},
): Promise<T> {
  const attempts = opts.attempts ?? 8;
  for (let i = 1; ; i++) {
    const current = i === 1 && opts.current ? (opts.current as T) : await client.get<T>(objectPath);
    const status = next(current);
    if (status === undefined) return current;
    try {
      return await client.request<T>('PUT', `${objectPath}/status`, { body: { ...current, status } });
    } catch (err) {
      if (isConflict(err)) opts.onConflict?.();
      if (!isConflict(err) || i >= attempts) throw err;
      // A copy at hand that was stale (an informer behind) is read again at once; a conflict on a fresh read is a
      // concurrent writer, whom a short, growing, jittered wait lets finish.
      if (i > 1 || !opts.current) await sleep(Math.min(1000, 20 * 2 ** i) * (0.5 + Math.random()));
    }
  }
}
