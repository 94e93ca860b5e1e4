import { isNotFound } from './errors.js';
import type { ApiClient, GetOptions, RequestOptions } from './rest.js';

/**
 * GETs an object that may not exist: undefined on 404, the object otherwise. Any other failure is thrown, so a
 * caller never takes "could not ask" for "not there".
 */
export async function getOrUndefined<T>(
  client: ApiClient,
  path: string,
  opts: GetOptions = {},
): Promise<T | undefined> {
  try {
    return await client.get<T>(path, opts);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * DELETEs an object that may be gone already: true when this call deleted it (or began its deletion), false on 404.
 * Any other failure is thrown.
 */
export async function deleteIfExists(
  client: ApiClient,
  path: string,
  opts: Omit<RequestOptions, 'contentType'> = {},
): Promise<boolean> {
  try {
    await client.request('DELETE', path, opts);
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
