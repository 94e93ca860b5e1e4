import {
  crossNamespaceRef,
  registryCredentials,
  setCondition,
  type CheckpointBackup,
  type CheckpointBackupStatus,
  type ObjectRef,
  type Refusal,
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

/**
 * The status of an object the hub refuses (issue 11): Failed with the refusal's message, placed nowhere (the hub
 * withdraws it from every member), conditions Propagated and Completed False with the refusal's reason. The same
 * refusal again yields the same status, so nothing is written twice.
 */
export function refusedStatus(
  s: CheckpointBackupStatus,
  generation: number,
  r: Refusal,
  now: Date = new Date(),
): CheckpointBackupStatus {
  const condition = (type: string) => ({
    type,
    status: 'False' as const,
    reason: r.reason,
    message: r.message,
    observedGeneration: generation,
  });
  const conditions = setCondition(
    setCondition(s.conditions, condition('Propagated'), now),
    condition('Completed'),
    now,
  );
  return {
    phase: 'Failed',
    message: r.message,
    observedGeneration: generation,
    clusters: [],
    clustersReady: '0/0',
    conditions,
  };
}
