import {
  crossNamespaceRef,
  registryCredentials,
  type CheckpointBackup,
  type ObjectRef,
} from '@stateful-migration/api';
import { HUB_FINALIZER } from '../policies.js';

/**
 * The registry secret the hub may carry to members for an object: its own (in its own namespace), or the platform's
 * default secret for a registry the platform names for it (--default-secret-registries). None for an object that
 * names another namespace or would send the default secret to a tenant's URL: the hub never propagates a secret for
 * an object it refuses, so a tenant cannot pull another namespace's, or the platform's, credentials into a member.
 */
export function secretOf(
  b: Pick<CheckpointBackup, 'metadata' | 'spec'>,
  defaultSecretRegistries: readonly string[],
): Required<ObjectRef> | undefined {
  if (crossNamespaceRef(b)) return undefined;
  const c = registryCredentials(b, defaultSecretRegistries);
  return c.kind === 'own' || c.kind === 'default' ? c.secret : undefined;
}

/**
 * An object the hub carries to the members where the backups using it are placed, with a reader Role and
 * RoleBinding for the agents: a registry secret (spec.registry.secretRef, or the platform's default), or the public
 * keys object of spec.encryption.publicKeysRef (issue 14: a Secret or ConfigMap; not secret, but the same tenancy
 * rules: the object's own namespace only, and only where its backups run). Without kind and purpose: a registry
 * secret.
 */
export type Carried = ObjectRef & {
  namespace: string;
  kind?: 'Secret' | 'ConfigMap';
  purpose?: 'registry' | 'keys';
};

export const isKeysObject = (c: Carried): boolean => c.purpose === 'keys';

/** The public keys object an object encrypts for: in its own namespace, never for an object naming another one. */
export function keysOf(b: Pick<CheckpointBackup, 'metadata' | 'spec'>): Required<Carried> | undefined {
  const ref = b.spec.encryption?.publicKeysRef;
  if (!ref || !b.spec.registry || crossNamespaceRef(b)) return undefined;
  return { purpose: 'keys', kind: ref.kind, name: ref.name, namespace: b.metadata.namespace! };
}

/** Everything the hub carries for an object: its registry secret and its public keys object. */
export function carriedBy(
  b: Pick<CheckpointBackup, 'metadata' | 'spec'>,
  defaultSecretRegistries: readonly string[],
): Carried[] {
  const secret = secretOf(b, defaultSecretRegistries);
  const keys = keysOf(b);
  return [...(secret ? [{ ...secret, namespace: secret.namespace }] : []), ...(keys ? [keys] : [])];
}

/** Whether two carried objects are the same object carried for the same purpose. */
export function sameCarried(a: Carried, b: Carried): boolean {
  return (
    a.namespace === b.namespace &&
    a.name === b.name &&
    (a.kind ?? 'Secret') === (b.kind ?? 'Secret') &&
    (a.purpose ?? 'registry') === (b.purpose ?? 'registry')
  );
}

/** The work queue key of a carried object: `<ns>/<name>` for a registry secret, `keys:<Kind>:<ns>/<name>`. */
export function carriedKey(c: Carried): string {
  return isKeysObject(c) ? `keys:${c.kind}:${c.namespace}/${c.name}` : `${c.namespace}/${c.name}`;
}

export function parseCarriedKey(key: string): Carried {
  const keys = /^keys:(Secret|ConfigMap):([^/]*)\/(.*)$/.exec(key);
  if (keys)
    return { purpose: 'keys', kind: keys[1] as 'Secret' | 'ConfigMap', namespace: keys[2]!, name: keys[3]! };
  const [namespace, name] = key.split('/') as [string, string];
  return { namespace, name };
}

export interface SecretNeed {
  secret: ObjectRef & { namespace: string };
  clusters: string[];
}

/** Every registry secret with the union of clusters whose CheckpointBackups need it (least privilege). */
export function secretNeeds(needs: SecretNeed[]): Map<string, SecretNeed> {
  const out = new Map<string, SecretNeed>();
  for (const n of needs) {
    const key = `${n.secret.namespace}/${n.secret.name}`;
    const cur = out.get(key) ?? { secret: n.secret, clusters: [] };
    out.set(key, { secret: n.secret, clusters: [...new Set([...cur.clusters, ...n.clusters])].sort() });
  }
  return out;
}

const id = (b: CheckpointBackup) => `${b.metadata.namespace}/${b.metadata.name}`;

/** The cached backups with `fresh` standing in for its cached copy, which may lag the caller's own status write. */
export function withFresh(
  cached: CheckpointBackup[],
  fresh: CheckpointBackup | undefined,
): CheckpointBackup[] {
  return fresh ? [...cached.filter((b) => id(b) !== id(fresh)), fresh] : cached;
}

/**
 * The clusters a carried object (a registry secret, a public keys object) must reach: the union of
 * status.placement.clusters of the backups that use it (carriedBy: never a refused one), including those being
 * deleted while the hub's finalizer still holds them.
 */
export function clustersNeeding(
  carried: Carried,
  backups: readonly CheckpointBackup[],
  defaultSecretRegistries: readonly string[],
): string[] {
  const clusters = backups
    .filter((b) => !b.metadata.deletionTimestamp || b.metadata.finalizers?.includes(HUB_FINALIZER))
    .filter((b) => carriedBy(b, defaultSecretRegistries).some((c) => sameCarried(c, carried)))
    .flatMap((b) => b.status?.placement?.clusters ?? []);
  return [...new Set(clusters)].sort();
}

/**
 * Whether a fresh list of the namespace's backups still places one that uses the object: the cache may lag a
 * placement another reconcile just recorded, so an object is withdrawn only when a fresh read agrees.
 */
export function stillNeeded(
  carried: Carried,
  live: readonly CheckpointBackup[],
  defaultSecretRegistries: readonly string[],
): boolean {
  return live.some(
    (b) =>
      carriedBy(b, defaultSecretRegistries).some((c) => sameCarried(c, carried)) &&
      (b.status?.placement?.clusters?.length ?? 0) > 0 &&
      !b.metadata.deletionTimestamp,
  );
}

/** What the hub's caches show of one carried object's things, the ones taking it back would delete. */
export interface Held {
  /** A policy of the hub's for the object, for either use. */
  policy: boolean;
  /** A binding of the object, or of its reader Role or RoleBinding, claimed by one of the hub's policy names for it. */
  claimedBinding: boolean;
  /**
   * The hub's reader Role or RoleBinding of it; undefined: their cache cannot say (it has not listed: not yet, or the
   * hub may not list them).
   */
  reader: boolean | undefined;
}

/**
 * Whether taking an object back may find anything of the hub's to take: not when the caches show nothing and can say
 * so. Every binding event of every Secret and ConfigMap in the federation asks (either may be one the hub carries);
 * most are tenants' own, and a "may" would cost a fresh read of their namespace's backups and four reads besides.
 */
export const mayHoldAny = (h: Held): boolean => h.policy || h.claimedBinding || h.reader !== false;
