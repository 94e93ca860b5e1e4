import { isDeepStrictEqual } from 'node:util';
import { SYSTEM_NAMESPACE, objectName, type Refusal } from '@stateful-migration/api';
import { isHubOwned, MANAGED_BY, POLICY_API_VERSION, type PropagationPolicy } from '../policies.js';
import { isKeysObject, type Carried } from './needs.js';

/** What names a carried object's policy and reader: a registry secret by its name, a keys object by kind and name. */
type Named = string | Carried;
const nameOf = (c: Named): string => (typeof c === 'string' ? c : c.name);
const kindPart = (c: Named): string | undefined =>
  typeof c !== 'string' && isKeysObject(c) ? `public-keys-${(c.kind ?? 'Secret').toLowerCase()}` : undefined;

/**
 * An object name of at most 253 characters for `full` (objectName): `full` itself when it fits (the names every
 * earlier hub made, so an upgrade makes no new objects), else its start and a hash of the whole, the same in every
 * hub process, so a restart finds the objects it made.
 */
export const boundedName = objectName;

/**
 * Deterministic name of the policy carrying a registry secret (`registry-secret-<name>`) or a public keys object
 * (`public-keys-<kind>-<name>`), in its namespace.
 */
export function secretPolicyName(c: Named): string {
  return boundedName(`${kindPart(c) ?? 'registry-secret'}-${nameOf(c)}`);
}

/**
 * The name of the reader Role and RoleBinding of one carried object, in its namespace:
 * `checkpoint-backup-registry-secret-<name>`, or `checkpoint-backup-public-keys-<kind>-<name>`.
 */
export const secretReaderName = (c: Named): string =>
  boundedName(`checkpoint-backup-${kindPart(c) ?? 'registry-secret'}-${nameOf(c)}`);

const resourceOf = (c: Carried): 'secrets' | 'configmaps' =>
  (c.kind ?? 'Secret') === 'ConfigMap' ? 'configmaps' : 'secrets';

type Labelled = { name: string; namespace: string; labels: Record<string, string> };

/**
 * The Role that lets the member agents read one registry secret (or public keys object): get, on that object only
 * (resourceNames). A Role per object, not one ClusterRole bound in the namespace, because that would let the agents
 * read every secret of a tenant's namespace when they need one (issue 11).
 */
export function secretReaderRole(secret: Carried): {
  apiVersion: string;
  kind: 'Role';
  metadata: Labelled;
  rules: { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames: string[] }[];
} {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: { name: secretReaderName(secret), namespace: secret.namespace, labels: { ...MANAGED_BY } },
    rules: [
      { apiGroups: [''], resources: [resourceOf(secret)], verbs: ['get'], resourceNames: [secret.name] },
    ],
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
export function secretReaderBinding(secret: Carried): ReaderBinding {
  const name = secretReaderName(secret);
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
export function secretPolicy(secret: Carried, clusters: string[]): PropagationPolicy {
  return {
    apiVersion: POLICY_API_VERSION,
    kind: 'PropagationPolicy',
    metadata: { name: secretPolicyName(secret), namespace: secret.namespace, labels: { ...MANAGED_BY } },
    spec: {
      conflictResolution: 'Overwrite',
      resourceSelectors: [
        { apiVersion: 'v1', kind: secret.kind ?? 'Secret', name: secret.name },
        { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', name: secretReaderName(secret) },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          name: secretReaderName(secret),
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
  secret: Carried,
): Refusal | undefined {
  if (!stored || isHubOwned(stored)) return undefined;
  const keys = isKeysObject(secret);
  const object = keys
    ? `public keys ${secret.kind} ${secret.namespace}/${secret.name}`
    : `registry secret ${secret.namespace}/${secret.name}`;
  return {
    reason: keys ? 'PublicKeysReaderTaken' : 'RegistrySecretReaderTaken',
    message:
      `${what} ${secret.namespace}/${secretReaderName(secret)} exists and is not the hub's (no label ` +
      `app.kubernetes.io/managed-by=${MANAGED_BY['app.kubernetes.io/managed-by']}): the hub would carry it to ` +
      `members as the reader of ${object}; it carries neither, so this object is not placed: delete or rename ` +
      `it, or name another ${keys ? 'object in spec.encryption.publicKeysRef' : 'secret in spec.registry.secretRef'}`,
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
