import type { CheckpointBackupStatus } from '@stateful-migration/api';
import type { ClusterHealth } from './backups/aggregate.js';
import type { GracefulEvictionTask } from './failover/decide.js';
import type { ClusterInfo } from './backups/placement.js';

/** The parts of Karmada's objects the hub reads. */
export interface Cluster {
  metadata: { name: string; labels?: Record<string, string>; resourceVersion?: string };
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

export interface ResourceBinding {
  metadata: {
    name: string;
    namespace: string;
    resourceVersion?: string;
    generation?: number;
    annotations?: Record<string, string>;
  };
  spec: {
    resource: { apiVersion: string; kind: string; name: string; namespace?: string };
    clusters?: { name: string; replicas?: number }[];
    /** Karmada's failover: the clusters a workload is being evicted from (failover/decide.ts reads them). */
    gracefulEvictionTasks?: GracefulEvictionTask[];
  };
  status?: {
    /** The generation the scheduler has placed (Karmada's scheduler sets it after writing spec.clusters). */
    schedulerObservedGeneration?: number;
    aggregatedStatus?: {
      clusterName: string;
      status?: CheckpointBackupStatus;
      applied?: boolean;
      appliedMessage?: string;
      health?: string;
    }[];
  };
}

export const CLUSTERS_PATH = '/apis/cluster.karmada.io/v1alpha1/clusters';
export const BINDINGS_PATH = '/apis/work.karmada.io/v1alpha2/resourcebindings';
export const POLICIES_PATH = '/apis/policy.karmada.io/v1alpha1/propagationpolicies';
export const CLUSTER_POLICIES_PATH = '/apis/policy.karmada.io/v1alpha1/clusterpropagationpolicies';

export const policyPath = (ns: string, name: string): string =>
  `/apis/policy.karmada.io/v1alpha1/namespaces/${ns}/propagationpolicies/${name}`;

/** A member's API through Karmada's cluster proxy (the aggregated apiserver). */
export const proxyPath = (cluster: string, path: string): string =>
  `${CLUSTERS_PATH}/${cluster}/proxy${path}`;

export function clusterInfo(c: Cluster): ClusterInfo {
  return { name: c.metadata.name, labels: c.metadata.labels ?? {} };
}

export function clusterHealth(c: Cluster): ClusterHealth {
  const ready = c.status?.conditions?.find((x) => x.type === 'Ready');
  if (ready?.status === 'True') return { name: c.metadata.name, ready: true };
  const why = [ready?.reason, ready?.message].filter(Boolean).join(': ');
  return { name: c.metadata.name, ready: false, reason: why || 'no Ready condition reported yet' };
}

/** Index key of the workload a binding carries. */
export function resourceKey(r: { kind: string; name: string; namespace?: string }): string {
  return `${r.kind}/${r.namespace ?? ''}/${r.name}`;
}

/**
 * Whether a binding is free to take back for a policy of the hub's: no policy claims it (the hub's own was deleted),
 * or that very policy does (a name, or a test of the name when several of the hub's may have claimed it). Karmada records the claim in the binding's annotations.
 */
export function claimedBy(
  rb: Pick<ResourceBinding, 'metadata'>,
  ownPolicy: string | ((policy: string) => boolean),
): boolean {
  const a = rb.metadata.annotations ?? {};
  if (a['clusterpropagationpolicy.karmada.io/name']) return false;
  const claim = a['propagationpolicy.karmada.io/name'];
  return !claim || (typeof ownPolicy === 'string' ? claim === ownPolicy : ownPolicy(claim));
}

/** The parts of a Karmada Work the hub reads: where it is (its cluster's execution namespace) and what it reports. */
export interface Work {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  status?: {
    conditions?: { type: string; status: string; message?: string }[];
    manifestStatuses?: {
      identifier: { group?: string; kind: string; name: string; namespace?: string };
      status?: CheckpointBackupStatus;
    }[];
  };
}

export const WORKS_PATH = '/apis/work.karmada.io/v1alpha1/works';
/** Karmada keeps each member cluster's Works in a namespace of this prefix and the cluster's name. */
const EXECUTION_SPACE = 'karmada-es-';

/**
 * A Work as the hub caches it: its name and place, and its status; not the manifest it carries (for a workload, the
 * whole Deployment), which the hub never reads and would hold once per Work and cluster.
 */
export function slimWork(w: Work): Work {
  const { name, namespace, resourceVersion } = w.metadata;
  return {
    metadata: { name, namespace, ...(resourceVersion ? { resourceVersion } : {}) },
    ...(w.status ? { status: w.status } : {}),
  };
}

/**
 * What a Work says of the CheckpointBackup it carries, as the entry Karmada's binding-status controller will copy
 * into the binding's aggregatedStatus from it (the member object's status, and whether the Work was applied); undefined
 * for a Work of anything else, or outside an execution namespace.
 */
export function workReport(
  w: Work,
  group: string,
): { backup: { namespace: string; name: string }; report: MemberReportOf } | undefined {
  if (!w.metadata.namespace.startsWith(EXECUTION_SPACE)) return undefined;
  const clusterName = w.metadata.namespace.slice(EXECUTION_SPACE.length);
  const m = w.status?.manifestStatuses?.find(
    (s) => s.identifier.kind === 'CheckpointBackup' && s.identifier.group === group,
  );
  if (!m || !m.identifier.namespace) return undefined;
  const applied = w.status?.conditions?.find((c) => c.type === 'Applied');
  return {
    backup: { namespace: m.identifier.namespace, name: m.identifier.name },
    report: {
      clusterName,
      ...(m.status ? { status: m.status } : {}),
      applied: applied?.status === 'True',
      ...(applied && applied.status !== 'True' && applied.message ? { appliedMessage: applied.message } : {}),
    },
  };
}

/** One member's report of an object: an entry of a binding's aggregatedStatus, or what a Work says (workReport). */
export type MemberReportOf = NonNullable<NonNullable<ResourceBinding['status']>['aggregatedStatus']>[number];
