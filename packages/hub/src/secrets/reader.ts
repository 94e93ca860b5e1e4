import { isDeepStrictEqual } from 'node:util';
import { SYSTEM_NAMESPACE, type ObjectRef, type Refusal } from '@stateful-migration/api';
import { isHubOwned, MANAGED_BY, POLICY_API_VERSION, type PropagationPolicy } from '../policies.js';

/** Deterministic name of the policy carrying a registry secret, in the secret's namespace. */
export function secretPolicyName(secret: string): string {
  return `registry-secret-${secret}`.slice(0, 253);
}

/** The name of the reader Role and RoleBinding of one registry secret, in the secret's namespace. */
export const secretReaderName = (secret: string): string =>
  `checkpoint-backup-registry-secret-${secret}`.slice(0, 253);

type Labelled = { name: string; namespace: string; labels: Record<string, string> };

/**
 * The Role that lets the member agents read one registry secret: get, on that secret only (resourceNames). A Role
 * per secret, not one ClusterRole bound in the namespace, because that would let the agents read every secret of a
 * tenant's namespace when they need one (issue 11).
 */
export function secretReaderRole(secret: ObjectRef & { namespace: string }): {
  apiVersion: string;
  kind: 'Role';
  metadata: Labelled;
  rules: { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames: string[] }[];
} {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: secretReaderName(secret.name), namespace: secret.namespace, labels: { ...MANAGED_BY } },
    rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'], resourceNames: [secret.name] }],
  };
}

export type ReaderBinding = {
  apiVersion: string;
  kind: 'RoleBinding';
  metadata: Labelled;
  roleRef: { apiGroup: string; kind: string; name: string };
  subjects: { kind: string; name: string; namespace: string }[];
};

/** The RoleBinding of that Role to the agents' ServiceAccount, carried with the secret. */
export function secretReaderBinding(secret: ObjectRef & { namespace: string }): ReaderBinding {
  const name = secretReaderName(secret.name);
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: { name, namespace: secret.namespace, labels: { ...MANAGED_BY } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
    subjects: [{ kind: 'ServiceAccount', name: 'checkpoint-backup-sa', namespace: SYSTEM_NAMESPACE }],
  };
}

/**
 * Whether a stored RoleBinding binds what the hub wants. roleRef cannot be changed in place: one an older hub made
 * (the ClusterRole checkpoint-backup-registry-secrets, every secret of the namespace) is deleted and made again.
 */
export function readerBindingCurrent(
  stored: Pick<ReaderBinding, 'roleRef' | 'subjects'>,
  want: Pick<ReaderBinding, 'roleRef' | 'subjects'>,
): boolean {
  return isDeepStrictEqual(stored.roleRef, want.roleRef) && isDeepStrictEqual(stored.subjects, want.subjects);
}

/**
 * The policy carrying one registry secret, and the Role and RoleBinding that let the agents read it, to exactly the
 * clusters that need it. Overwrite, because a member may already hold a copy made by hand; the hub's copy is kept current.
 */
export function secretPolicy(
  secret: ObjectRef & { namespace: string },
  clusters: string[],
): PropagationPolicy {
  return {
    apiVersion: POLICY_API_VERSION,
    kind: 'PropagationPolicy',
    metadata: { name: secretPolicyName(secret.name), namespace: secret.namespace, labels: { ...MANAGED_BY } },
    spec: {
      conflictResolution: 'Overwrite',
      resourceSelectors: [
        { apiVersion: 'v1', kind: 'Secret', name: secret.name },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', name: secretReaderName(secret.name) },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          name: secretReaderName(secret.name),
        },
      ],
      placement: { clusterAffinity: { clusterNames: [...clusters].sort() } },
    },
  };
}

type Stored = { metadata: { labels?: Record<string, string> } };

/**
 * The refusal when the reader Role or RoleBinding's name (checkpoint-backup-registry-secret-<secret>) is taken in the
 * namespace by an object without the hub's label: the secret's policy carries them by name, with Overwrite, so a
 * tenant's own RBAC would reach the members under Karmada's identity. Undefined for none, or the hub's own.
 */
export function readerTaken(
  what: 'Role' | 'RoleBinding',
  stored: Stored | undefined,
  secret: ObjectRef & { namespace: string },
): Refusal | undefined {
  if (!stored || isHubOwned(stored)) return undefined;
  return {
    reason: 'RegistrySecretReaderTaken',
    message:
      `${what} ${secret.namespace}/${secretReaderName(secret.name)} exists and is not the hub's (no label ` +
      `app.kubernetes.io/managed-by=${MANAGED_BY['app.kubernetes.io/managed-by']}): the hub would carry it to ` +
      `members as the reader of registry secret ${secret.namespace}/${secret.name}; it carries neither, so ` +
      'this object is not placed: delete or rename it, or name another secret in spec.registry.secretRef',
  };
}

/** What the stored reader Role needs: to be made, its rules set (only a Role of the hub's), or nothing. */
export function roleChange(
  stored: (Stored & Pick<ReturnType<typeof secretReaderRole>, 'rules'>) | undefined,
  want: Pick<ReturnType<typeof secretReaderRole>, 'rules'>,
): 'create' | 'update' | 'keep' {
  if (!stored) return 'create';
  return isHubOwned(stored) && !isDeepStrictEqual(stored.rules, want.rules) ? 'update' : 'keep';
}

/**
 * What the stored reader RoleBinding needs: to be made, replaced (one of the hub's that binds something else:
 * roleRef cannot change in place), or nothing (a user's is left alone).
 */
export function bindingChange(
  stored: (Stored & Pick<ReaderBinding, 'roleRef' | 'subjects'>) | undefined,
  want: Pick<ReaderBinding, 'roleRef' | 'subjects'>,
): 'create' | 'replace' | 'keep' {
  if (!stored) return 'create';
  return isHubOwned(stored) && !readerBindingCurrent(stored, want) ? 'replace' : 'keep';
}
