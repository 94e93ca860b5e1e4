import { DEFAULT_REGISTRY_SECRET, type CheckpointBackup, type ObjectRef } from './checkpoint-backup.js';
import { keepStateRefusal } from './keep-state.js';
import { workloadRefusal } from './workload.js';

/**
 * Tenancy and credentials (issue 11): what a CheckpointBackup may point at, decided here once, for the admission
 * policy (its messages are built from the same words), the agent, the hub and the restore controller. Namespaces are
 * the unit of tenancy in Kubernetes: whoever may create a CheckpointBackup in a namespace may only dump the memory
 * of, delete, retain or push pods of that namespace, with credentials of that namespace.
 */

/** A refusal as status and Events carry it: a machine-readable reason and a message that names the rule. */
export interface Refusal {
  reason: string;
  message: string;
}

export const CROSS_NAMESPACE = 'CrossNamespaceReference';
export const DEFAULT_SECRET_NOT_FOR_REGISTRY = 'DefaultSecretNotForRegistry';
export const DEFAULT_SECRET_NOT_FOR_REPOSITORY = 'DefaultSecretNotForRepository';

/** The fields of spec that name a namespace, in the order they are checked (and reported). */
export const NAMESPACED_REFS = ['podRef', 'resourceRef', 'registry.secretRef'] as const;
export type NamespacedRef = (typeof NAMESPACED_REFS)[number];

type Spec = CheckpointBackup['spec'];
const refAt = (s: Spec, field: NamespacedRef): { namespace?: string } | undefined =>
  field === 'registry.secretRef' ? s.registry?.secretRef : s[field];

/** The rule, in the words every refusal ends with (the admission policy's messages too). */
export const ownNamespaceRule = (kind = 'CheckpointBackup'): string =>
  `a ${kind} acts only in its own namespace`;

/** The message for one field that names another namespace. */
export function crossNamespaceMessage(
  field: NamespacedRef,
  namespace: string,
  own: string,
  kind = 'CheckpointBackup',
): string {
  return `spec.${field}.namespace "${namespace}" is not this object's namespace "${own}": ${ownNamespaceRule(kind)}`;
}

export const INVALID_REFERENCE_NAME = 'InvalidReferenceName';

/**
 * A Kubernetes object name as the API server makes it for pods, secrets, configmaps, workloads, custom resources and
 * nodes: a DNS-1123 subdomain, at most 253 characters. Such a name is one path segment and never `.` or `..`.
 */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const isObjectName = (name: string): boolean => name.length <= 253 && DNS_SUBDOMAIN.test(name);

/**
 * The refusal of a name field that is not an object name: every controller puts names into request paths
 * (`/namespaces/<own>/secrets/<name>`), and the URL parser resolves `..` (plain or percent-encoded, and `\` as `/`),
 * so `../../other/secrets/x` would be another namespace's object: the platform's registry secret, another tenant's.
 */
export function invalidNameRefusal(field: string, name: string): Refusal | undefined {
  if (isObjectName(name)) return undefined;
  return {
    reason: INVALID_REFERENCE_NAME,
    message:
      `${field} ${JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}...` : name)} is not the name of an ` +
      "object (lowercase letters, digits, '-' and '.', at most 253 characters): a reference names one object of " +
      'this namespace, never a path',
  };
}

/** The name fields of a CheckpointBackup's spec, in the order they are checked (and reported). */
function specNames(s: Spec): [string, string | undefined][] {
  return [
    ['spec.podRef.name', s.podRef?.name],
    ['spec.resourceRef.name', s.resourceRef?.name],
    ['spec.registry.secretRef.name', s.registry?.secretRef?.name],
    ['spec.encryption.publicKeysRef.name', s.encryption?.publicKeysRef?.name],
  ];
}

/**
 * The first reference of spec that leaves the object's own namespace, as a refusal: a namespace field naming
 * another namespace, or a name that is not an object name (a path into another namespace: invalidNameRefusal).
 * Undefined when every namespace is omitted, empty (both mean the object's own, as the API documents) or the
 * object's own, and every name is an object name. `kind` names who is refused, for a CheckpointRestore refused
 * because of its backup.
 */
export function crossNamespaceRef(
  b: Pick<CheckpointBackup, 'metadata' | 'spec'>,
  kind = 'CheckpointBackup',
): Refusal | undefined {
  const own = b.metadata.namespace;
  for (const [field, name] of specNames(b.spec)) {
    const bad = name === undefined ? undefined : invalidNameRefusal(field, name);
    if (bad) return bad;
  }
  for (const field of NAMESPACED_REFS) {
    const ns = refAt(b.spec, field)?.namespace;
    if (ns && ns !== own)
      return { reason: CROSS_NAMESPACE, message: crossNamespaceMessage(field, ns, own, kind) };
  }
  return undefined;
}

/**
 * The registry hosts of a flag or environment variable: comma-separated host[:port], compared case-insensitively.
 * An empty list means the default secret is never used.
 */
export function parseRegistryHosts(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((h) => normalHost(h))
    .filter(Boolean);
}

/**
 * A registry host as every list of the platform (--default-secret-registries, --registry-token-host) and
 * spec.registry.url are compared: trimmed, lowercased, without a trailing slash, and a bare host[:port] as URL writes
 * it (the https port 443 dropped: "reg:443" is "reg"). Nothing else is stripped: a scheme, a path or userinfo makes it
 * another string, so never a listed host; spec.registry.url is a bare host[:port], and one that is not never borrows
 * the platform's credentials. The one normaliser: packages/registry uses it too.
 */
export function normalHost(url: string): string {
  const h = url.trim().toLowerCase().replace(/\/$/, '');
  if (/[/@?#\\]/.test(h)) return h;
  try {
    return new URL(`https://${h}`).host;
  } catch {
    return h;
  }
}

/** The OCI distribution spec's repository name: lowercase components joined by '/', no '%', '\\' or dot segment. */
const REPOSITORY = /^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$/;

export type RegistryCredentials =
  /** No registry: images stay on the node, nothing is sent anywhere. */
  | { kind: 'none' }
  /** The object's own secret (spec.registry.secretRef), in its own namespace. */
  | { kind: 'own'; secret: Required<ObjectRef> }
  /** The platform's default secret, for a registry the platform names for it. */
  | { kind: 'default'; secret: Required<ObjectRef> }
  | ({ kind: 'refused' } & Refusal);

/**
 * Which credentials an object's pushes (and registry retention) use. The default secret
 * (stateful-migration/registry-credentials) belongs to the platform: it goes only to the registry hosts the platform
 * names for it (`--default-secret-registries`), never to a URL a tenant wrote, and only for repositories under the
 * object's namespace (`<namespace>/...`), never into another tenant's. An object's own secretRef goes to the
 * object's own registry: the tenant owns both. Call crossNamespaceRef first: a secretRef in another namespace is
 * refused there.
 */
export function registryCredentials(
  b: Pick<CheckpointBackup, 'metadata' | 'spec'>,
  defaultSecretRegistries: readonly string[],
): RegistryCredentials {
  const r = b.spec.registry;
  if (!r) return { kind: 'none' };
  if (r.secretRef)
    return {
      kind: 'own',
      secret: { name: r.secretRef.name, namespace: r.secretRef.namespace || b.metadata.namespace },
    };
  const secret = { ...DEFAULT_REGISTRY_SECRET };
  const allowed = defaultSecretRegistries.map(normalHost);
  if (allowed.includes(normalHost(r.url))) {
    // One platform registry, many tenants: each pushes (and retention deletes) only under its own namespace.
    const ns = b.metadata.namespace;
    const repository = r.repository.replace(/^\/|\/$/g, '');
    // A repository name of the distribution spec: no '%', '\\' or dot segment, which the registry client's URL
    // parser would resolve into another repository (shop/%2e%2e/other is other).
    if (repository.split('/')[0] === ns && REPOSITORY.test(repository)) return { kind: 'default', secret };
    return {
      kind: 'refused',
      reason: DEFAULT_SECRET_NOT_FOR_REPOSITORY,
      message:
        `spec.registry.repository "${r.repository}" is not under this object's namespace: with the platform's ` +
        `default secret ${secret.namespace}/${secret.name} a CheckpointBackup pushes only to repositories whose ` +
        `first path segment is its namespace ("${ns}/..."); set spec.registry.repository to one, or name a secret ` +
        'in this namespace in spec.registry.secretRef',
    };
  }
  const forWhat = allowed.length
    ? `it is for: ${allowed.join(', ')}`
    : 'the platform names no registry for it';
  return {
    kind: 'refused',
    reason: DEFAULT_SECRET_NOT_FOR_REGISTRY,
    message:
      `spec.registry.url "${r.url}" is not a registry the platform's default secret ` +
      `${secret.namespace}/${secret.name} is for (${forWhat}); name a secret in this namespace in spec.registry.secretRef`,
  };
}

/**
 * Everything refused before acting on an object, the cross-namespace rule first, then a podRef-less spec's rules, then
 * keepState's.
 */
export function refusal(
  b: Pick<CheckpointBackup, 'metadata' | 'spec'>,
  defaultSecretRegistries: readonly string[],
): Refusal | undefined {
  const cross = crossNamespaceRef(b);
  if (cross) return cross;
  const workload = workloadRefusal(b);
  if (workload) return workload;
  const keep = keepStateRefusal(b);
  if (keep) return keep;
  const creds = registryCredentials(b, defaultSecretRegistries);
  return creds.kind === 'refused' ? { reason: creds.reason, message: creds.message } : undefined;
}
