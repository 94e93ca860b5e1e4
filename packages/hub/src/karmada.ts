import { isFinished, isPhase, phaseRank, type CheckpointBackupStatus } from '@stateful-migration/api';
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
 * Whether a binding is free to take back for a policy of the hub's: that very policy claims it (a name, or a test of
 * the name when several of the hub's may have claimed it), or no policy does (the hub's own was deleted) unless the
 * caller cannot tell its own unclaimed binding from a tenant's (`unclaimedIsOurs: false`: Karmada leaves any deleted
 * policy's binding unclaimed). Karmada records the claim in the binding's annotations.
 */
export function claimedBy(
  rb: Pick<ResourceBinding, 'metadata'>,
  ownPolicy: string | ((policy: string) => boolean),
  unclaimedIsOurs = true,
): boolean {
  const a = rb.metadata.annotations ?? {};
  if (a['clusterpropagationpolicy.karmada.io/name']) return false;
  const claim = a['propagationpolicy.karmada.io/name'];
  if (!claim) return unclaimedIsOurs;
  return typeof ownPolicy === 'string' ? claim === ownPolicy : ownPolicy(claim);
}

/** The parts of a Karmada Work the hub reads: where it is (its cluster's execution namespace) and what it reports. */
export interface Work {
  metadata: {
    name: string;
    namespace: string;
    resourceVersion?: string;
    deletionTimestamp?: string;
    /** Karmada's link to the binding the Work was made from (resourcebinding.karmada.io/namespace and /name). */
    annotations?: Record<string, string>;
  };
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
const BINDING_NAMESPACE = 'resourcebinding.karmada.io/namespace';
const BINDING_NAME = 'resourcebinding.karmada.io/name';

/**
 * A Work as the hub caches it: its name and place, whether it is being deleted, the binding it was made from, and its
 * status; not the manifest it carries (for a workload, the whole Deployment; for a Secret, its data), which the hub
 * never reads.
 */
export function slimWork(w: Work): Work {
  const { name, namespace, resourceVersion, deletionTimestamp, annotations = {} } = w.metadata;
  const link = Object.fromEntries(
    [BINDING_NAMESPACE, BINDING_NAME].filter((k) => annotations[k]).map((k) => [k, annotations[k]!]),
  );
  return {
    metadata: {
      name,
      namespace,
      ...(resourceVersion ? { resourceVersion } : {}),
      ...(deletionTimestamp ? { deletionTimestamp } : {}),
      ...(Object.keys(link).length ? { annotations: link } : {}),
    },
    ...(w.status ? { status: w.status } : {}),
  };
}

/** What a Work says of the CheckpointBackup it carries (workReport). */
export interface WorkReport {
  backup: { namespace: string; name: string };
  /** The ResourceBinding Karmada made the Work from. */
  binding: { namespace: string; name: string };
  report: MemberReportOf;
}

/**
 * What a Work says of the CheckpointBackup it carries, as Karmada's binding-status controller copies it into the
 * binding's aggregatedStatus (helper.assembleWorkStatus): the member object's status only once the Work is applied,
 * `applied` from its Applied condition, and that condition's message while it is not True. Undefined for a Work of
 * anything else, outside an execution namespace, without Karmada's link to its binding, or being deleted (Karmada
 * skips those too).
 */
export function workReport(w: Work, group: string): WorkReport | undefined {
  const { namespace, deletionTimestamp, annotations } = w.metadata;
  if (!namespace?.startsWith(EXECUTION_SPACE) || deletionTimestamp) return undefined;
  const bindingNamespace = annotations?.[BINDING_NAMESPACE];
  const bindingName = annotations?.[BINDING_NAME];
  if (!bindingNamespace || !bindingName) return undefined;
  const m = w.status?.manifestStatuses?.find(
    (s) => s.identifier.kind === 'CheckpointBackup' && s.identifier.group === group,
  );
  // A namespaced object's binding lives in its namespace: a Work that says otherwise is not Karmada's for it.
  if (!m || m.identifier.namespace !== bindingNamespace) return undefined;
  const applied = w.status?.conditions?.find((c) => c.type === 'Applied')?.status === 'True';
  const message = w.status?.conditions?.find((c) => c.type === 'Applied')?.message;
  return {
    backup: { namespace: m.identifier.namespace, name: m.identifier.name },
    binding: { namespace: bindingNamespace, name: bindingName },
    report: {
      clusterName: namespace.slice(EXECUTION_SPACE.length),
      applied,
      ...(applied && m.status ? { status: m.status } : {}),
      ...(!applied && message ? { appliedMessage: message } : {}),
    },
  };
}

/** One member's report of an object: an entry of a binding's aggregatedStatus, or what a Work says (workReport). */
export type MemberReportOf = NonNullable<NonNullable<ResourceBinding['status']>['aggregatedStatus']>[number];

/**
 * How far a member's report has got, to compare two copies of it: the spec generation it serves, its run's start,
 * its last checkpoint (a workload-level object's replicas have no run of their own: its ticks differ here), a
 * finished run before one in progress, the step of the run, and the images retention has dropped since.
 */
function progress(r: MemberReportOf): (number | string)[] {
  const s = r.status ?? {};
  const phase = isPhase(s.phase) ? s.phase : undefined;
  return [
    s.observedGeneration ?? -1,
    s.run?.startedAt ?? '',
    s.lastCheckpointTime ?? '',
    isFinished(phase) ? 1 : 0,
    phase ? phaseRank(phase) : -1,
    s.builtImagesDropped ?? 0,
  ];
}

/**
 * The report to show for one cluster, from the binding's entry and the Work's (the binding's source). The two come
 * by separate watches, and either may be seen late (a Work watch being re-listed lags for seconds): the Work's report
 * is taken only when it has got further (progress); on a tie, the binding's, which is what the hub showed before
 * Works were read. So the hub is never behind the binding, and shows a Work's report only where it is ahead.
 */
export function fresherReport(
  fromBinding: MemberReportOf | undefined,
  fromWork: MemberReportOf,
): MemberReportOf {
  if (!fromBinding) return fromWork;
  const [b, w] = [progress(fromBinding), progress(fromWork)];
  for (let i = 0; i < b.length; i++) if (b[i] !== w[i]) return w[i]! > b[i]! ? fromWork : fromBinding;
  return fromBinding;
}
