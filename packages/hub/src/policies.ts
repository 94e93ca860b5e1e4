import { isDeepStrictEqual } from 'node:util';
import type { LabelSelector } from '@stateful-migration/api';

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
