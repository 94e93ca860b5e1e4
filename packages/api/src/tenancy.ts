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

/**
 * The first reference of spec that names a namespace other than the object's own, as a refusal; undefined when
 * every one is omitted, empty (both mean the object's own, as the API documents) or the object's own namespace.
 * `kind` names who is refused, for a CheckpointRestore refused because of its backup.
 */
export function crossNamespaceRef(
  b: Pick<CheckpointBackup, 'metadata' | 'spec'>,
  kind = 'CheckpointBackup',
): Refusal | undefined {
  const own = b.metadata.namespace;
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
    const segments = r.repository.replace(/^\/|\/$/g, '').split('/');
    if (segments[0] === ns && !segments.some((x) => x === '.' || x === '..'))
      return { kind: 'default', secret };
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
