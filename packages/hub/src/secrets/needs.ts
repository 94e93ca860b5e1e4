import {
  crossNamespaceRef,
  registryCredentials,
  type CheckpointBackup,
  type ObjectRef,
} from '@stateful-migration/api';

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
