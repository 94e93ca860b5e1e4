import { isDeepStrictEqual } from 'node:util';
import { API_GROUP, type LabelSelector } from '@stateful-migration/api';

/** Label on every object the hub writes, so it finds its own and never touches a user's. */
export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'stateful-migration-hub' } as const;
/**
 * The hub's finalizer on a CheckpointBackup: released once its policy is deleted. While it is held, the object's
 * registry secret is still needed where it was placed.
 */
export const HUB_FINALIZER = `hub.${API_GROUP}/cleanup`;
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
    deletionTimestamp?: string;
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

/** What writing a desired policy over the stored one (if any) takes. */
export type PolicyChange = 'none' | 'notHubs' | 'create' | 'update';

/**
 * Whether to create or update one of the hub's policies: nothing when the stored one already says what is wanted;
 * never over a policy of that name that is not the hub's (a user's stays as it is).
 */
export function policyChange(stored: PropagationPolicy | undefined, want: PropagationPolicy): PolicyChange {
  if (!stored) return 'create';
  if (samePolicy(stored, want)) return 'none';
  return isHubOwned(stored) ? 'update' : 'notHubs';
}

/** The fields of a stored policy the hub owns, set to what it wants; the rest (Karmada's defaults) kept. */
export function updatedPolicy(stored: PropagationPolicy, want: PropagationPolicy): PropagationPolicy {
  return {
    ...stored,
    spec: {
      ...stored.spec,
      resourceSelectors: want.spec.resourceSelectors,
      placement: { ...stored.spec.placement, clusterAffinity: want.spec.placement?.clusterAffinity },
      ...(want.spec.conflictResolution ? { conflictResolution: want.spec.conflictResolution } : {}),
    },
  };
}

/** How Events and placement status name a policy: `PropagationPolicy/ns/name` or `ClusterPropagationPolicy/name`. */
export function policyRef(p: PropagationPolicy): string {
  return `${p.kind}/${p.metadata.namespace ? `${p.metadata.namespace}/` : ''}${p.metadata.name}`;
}
