import { isDeepStrictEqual } from 'node:util';
import {
  API_VERSION,
  KIND,
  SYSTEM_NAMESPACE,
  type LabelSelector,
  type ObjectRef,
} from '@stateful-migration/api';
import { matches } from './placement.js';

/** Label on every object the hub writes, so it finds its own and never touches a user's. */
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'stateful-migration-hub' } as const;
export const POLICY_API_VERSION = 'policy.karmada.io/v1alpha1';

export interface ResourceSelector {
  apiVersion: string;
  kind: string;
  name?: string;
  namespace?: string;
  labelSelector?: LabelSelector;
}

export interface PropagationPolicy {
  apiVersion: typeof POLICY_API_VERSION;
  kind: 'PropagationPolicy' | 'ClusterPropagationPolicy';
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
  };
  spec: {
    resourceSelectors: ResourceSelector[];
    placement?: {
      clusterAffinity?: { clusterNames?: string[]; labelSelector?: LabelSelector };
      [k: string]: unknown;
    };
    conflictResolution?: 'Abort' | 'Overwrite';
    [k: string]: unknown;
  };
}

export function isHubOwned(p: { metadata: { labels?: Record<string, string> } }): boolean {
  return p.metadata.labels?.['app.kubernetes.io/managed-by'] === MANAGED_BY['app.kubernetes.io/managed-by'];
}

/** Whether a user's PropagationPolicy or ClusterPropagationPolicy selects a CheckpointBackup. */
export function selectsBackup(
  p: PropagationPolicy,
  b: { metadata: { name: string; namespace: string; labels?: Record<string, string> } },
): boolean {
  if (isHubOwned(p)) return false;
  if (p.kind === 'PropagationPolicy' && p.metadata.namespace !== b.metadata.namespace) return false;
  return p.spec.resourceSelectors.some(
    (s) =>
      s.apiVersion === API_VERSION &&
      s.kind === KIND &&
      (!s.namespace || p.kind === 'PropagationPolicy' || s.namespace === b.metadata.namespace) &&
      (!s.name || s.name === b.metadata.name) &&
      (!s.labelSelector || matches(s.labelSelector, b.metadata.labels ?? {})),
  );
}

/** Whether a policy is the hub's own for this CheckpointBackup. */
export function ownPolicyOf(
  p: PropagationPolicy,
  b: { metadata: { name: string; namespace: string } },
): boolean {
  return (
    isHubOwned(p) &&
    p.metadata.namespace === b.metadata.namespace &&
    p.spec.resourceSelectors.some((s) => s.kind === KIND && s.name === b.metadata.name)
  );
}

/** The hub's policy for one CheckpointBackup: that object by name, to exactly these clusters. */
export function backupPolicy(
  name: string,
  namespace: string,
  backup: string,
  clusters: string[],
): PropagationPolicy {
  return {
    apiVersion: POLICY_API_VERSION,
    kind: 'PropagationPolicy',
    metadata: { name, namespace, labels: { ...MANAGED_BY } },
    spec: {
      resourceSelectors: [{ apiVersion: API_VERSION, kind: KIND, name: backup }],
      placement: { clusterAffinity: { clusterNames: [...clusters].sort() } },
    },
  };
}

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

/** Whether a stored policy already says what the desired one says (the fields the hub owns). */
export function samePolicy(a: PropagationPolicy, b: PropagationPolicy): boolean {
  const own = (p: PropagationPolicy) => [
    // Karmada's webhook fills in each selector's namespace; the hub never sets it.
    p.spec.resourceSelectors.map((s) => [s.apiVersion, s.kind, s.name, s.labelSelector]),
    p.spec.placement?.clusterAffinity?.clusterNames ?? [],
    p.spec.conflictResolution ?? 'Abort',
    p.metadata.labels?.['app.kubernetes.io/managed-by'],
  ];
  return isDeepStrictEqual(own(a), own(b));
}
