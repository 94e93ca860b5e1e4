import { isNotFound } from './errors.js';
import type { KubeObject } from './object.js';
import type { ApiClient } from './rest.js';

/**
 * Adds a finalizer to an object, by a merge patch carrying the resourceVersion it was read at: a change made since
 * (another controller's finalizer, a deletion) makes the apiserver answer 409 instead of losing it. The 409 is
 * thrown, not retried here: the decision was made on what was read, so the work queue reconciles again on a fresh
 * read. Returns the object as stored (`obj` itself when it had the finalizer already, with no request made).
 */
export async function addFinalizer<T extends KubeObject>(
  client: ApiClient,
  path: string,
  obj: T,
  finalizer: string,
): Promise<T> {
  const m = obj.metadata ?? {};
  if (m.finalizers?.includes(finalizer)) return obj;
  return client.request<T>('PATCH', path, {
    body: {
      metadata: { finalizers: [...(m.finalizers ?? []), finalizer], resourceVersion: m.resourceVersion },
    },
  });
}

/**
 * Releases finalizers of an object once the clean-up they guard is done, by a merge patch carrying the
 * resourceVersion it was read at (a 409 is thrown for the work queue to reconcile again on a fresh read, as in
 * addFinalizer). Returns false when the object is gone (404: released by an earlier pass a cache had not caught up
 * with, or deleted meanwhile); true otherwise, with no request made when it holds none of them.
 */
export async function releaseFinalizers(
  client: ApiClient,
  path: string,
  obj: KubeObject,
  release: readonly string[],
): Promise<boolean> {
  const m = obj.metadata ?? {};
  const held = m.finalizers ?? [];
  if (!held.some((f) => release.includes(f))) return true;
  try {
    await client.request('PATCH', path, {
      body: {
        metadata: {
          finalizers: held.filter((f) => !release.includes(f)),
          resourceVersion: m.resourceVersion,
        },
      },
    });
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
