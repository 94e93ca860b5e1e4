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
 * The clusters a registry secret must reach: the union of status.placement.clusters of the backups that use it
 * (secretOf: never a refused one), including those being deleted while the hub's finalizer still holds them.
 */
export function clustersNeeding(
  secret: Required<ObjectRef>,
  backups: readonly CheckpointBackup[],
  defaultSecretRegistries: readonly string[],
): string[] {
  const needs = backups
    .filter((b) => !b.metadata.deletionTimestamp || b.metadata.finalizers?.includes(HUB_FINALIZER))
    .flatMap((b) => {
      const s = secretOf(b, defaultSecretRegistries);
      if (s?.namespace !== secret.namespace || s.name !== secret.name) return [];
      return [{ secret, clusters: b.status?.placement?.clusters ?? [] }];
    });
  return secretNeeds(needs).get(`${secret.namespace}/${secret.name}`)?.clusters ?? [];
}

/**
 * Whether a fresh list of the namespace's backups still places one that uses the secret: the cache may lag a
 * placement another reconcile just recorded, so a secret is withdrawn only when a fresh read agrees.
 */
export function stillNeeded(
  secret: Required<ObjectRef>,
  live: readonly CheckpointBackup[],
  defaultSecretRegistries: readonly string[],
): boolean {
  return live.some((b) => {
    const s = secretOf(b, defaultSecretRegistries);
    return (
      s?.name === secret.name &&
      s.namespace === secret.namespace &&
      (b.status?.placement?.clusters?.length ?? 0) > 0 &&
      !b.metadata.deletionTimestamp
    );
  });
}
