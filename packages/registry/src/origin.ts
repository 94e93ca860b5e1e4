/**
 * Where a registry client may send its credentials, and which URLs a registry names (upload Locations, redirects,
 * pagination Links, token realms) it may follow at all. Pure, so every case is a table test.
 *
 * The registry's answers are not trusted to move the credentials: a registry (or whoever answers in its name) can
 * name any URL, and the password or a token sent there is gone. So the credentials go only to the registry's own
 * origin (scheme, host and port, as browsers judge), and to a token service on a host the platform trusts by
 * configuration, never by an answer; plain http never carries them unless the registry itself is plain http.
 */

import { normalHost } from '@stateful-migration/api';

export type Verdict = { ok: true } | { ok: false; why: string };

const OK: Verdict = { ok: true };

/** The registry's base URL: https://host[:port], or http:// for a registry the platform runs without TLS. */
export function registryBase(host: string, insecureHttp = false): URL {
  return new URL(`${insecureHttp ? 'http' : 'https'}://${host}`);
}

/**
 * host[:port] as URL writes it (lower case, default port dropped), so "Example.com:443" equals "example.com": the
 * platform's one host normaliser, the same the default-secret list is compared with (packages/api).
 */
export { normalHost };

/**
 * Whether a URL the registry named may be requested at all. Only http(s); never plain http once the registry is
 * https (the bytes of a checkpoint, process memory, would cross the network in clear text, and a token with them).
 */
export function mayFollow(registry: URL, target: URL): Verdict {
  if (target.protocol !== 'https:' && target.protocol !== 'http:')
    return { ok: false, why: `${target.protocol} is not http(s)` };
  if (registry.protocol === 'https:' && target.protocol === 'http:')
    return { ok: false, why: 'it is plain http and the registry is https' };
  return OK;
}

/**
 * Whether the registry's credentials (Basic, or the token it issued) may go to `target`. `tokenHosts` are the
 * hosts the platform named as this registry's token service (Docker Hub's auth.docker.io, GitLab's gitlab.com);
 * pass them only when asking for a token realm.
 */
export function credentialsMayGo(registry: URL, target: URL, tokenHosts: readonly string[] = []): Verdict {
  const follow = mayFollow(registry, target);
  if (!follow.ok) return follow;
  if (target.origin === registry.origin) return OK;
  if (target.protocol === 'http:')
    return { ok: false, why: 'it is plain http, which would carry the credentials in clear text' };
  if (tokenHosts.some((h) => normalHost(h) === target.host)) return OK;
  return { ok: false, why: `it is on another host than the registry (${registry.host})` };
}

/** A URL for messages: no query (upload state, signatures) and no user info. */
export function shown(u: URL): string {
  return `${u.protocol}//${u.host}${u.pathname}`;
}
