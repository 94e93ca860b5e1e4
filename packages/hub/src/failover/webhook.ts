import { isDeepStrictEqual } from 'node:util';
import {
  API_GROUP,
  crossNamespaceRef,
  keepStateSettings,
  type CheckpointBackup,
  type FailoverRecord,
} from '@stateful-migration/api';
import {
  admitPod,
  ownerWorkload,
  webhookConfiguration,
  type AdmissionRequest,
  type AdmissionResponse,
  type MigrationInto,
  type WebhookEndpoint,
} from '@stateful-migration/restore';
import { failoverReplicasInto, type OwnerReference } from '@stateful-migration/api';
import { clusterHealth, type Cluster } from '../karmada.js';

/**
 * The pure parts of the replacement in the target of a failover with state (issue 16, docs/adr/0004): the standing
 * MutatingWebhookConfiguration the hub keeps in each member for an opted-in backup's workload, and the answer to a
 * pod of that workload created in a cluster the record restores into. The answer itself is the workload migration's
 * (admitPod, checkpointFor, podPatch: docs/adr/0007), fed with `failoverReplicasInto(status.lastFailover, cluster)`
 * and `sourceMayRun: false` (the source cluster is lost: nothing to wait for).
 */

/** The route of failover's pod mutations; the cluster the call comes from is the last path segment. */
export const FAILOVER_ROUTE = '/failover/pods/';
/** On the hub's webhook configurations and pull secrets of failover: the backup `<namespace>.<name>` they serve. */
export const FAILOVER_LABEL = `${API_GROUP}/failover`;

/**
 * `stateful-migration-failover.`, never `stateful-migration.`: a workload migration's configuration is
 * `stateful-migration.<namespace>.<restore>` (webhookConfigName), and with that prefix a tenant of a namespace named
 * `failover` with a CheckpointRestore named `<ns>.<backup>` would own this name too (its migration would replace and
 * then delete it, and this controller would replace that tenant's).
 */
export const failoverWebhookName = (namespace: string, backup: string): string =>
  `stateful-migration-failover.${namespace}.${backup}`.slice(0, 253);
/** The dockerconfigjson pull secret a restored replica names (made from the backup's own registry secret). */
export const failoverPullSecretName = (backup: string): string => `${backup}-failover-pull`.slice(0, 253);

/** An opted-in backup: workload-level, spec.keepState.clusterFailover, not being deleted, no reference out of its namespace. */
export function keepsStateOnFailover(b: Pick<CheckpointBackup, 'metadata' | 'spec'>): boolean {
  return (
    !b.spec.podRef &&
    !!keepStateSettings(b).clusterFailover &&
    !b.metadata.deletionTimestamp &&
    (b.spec.resourceRef.kind === 'StatefulSet' || b.spec.resourceRef.kind === 'Deployment') &&
    // The admission policy refuses a reference into another namespace; one stored before it (or on a control plane
    // without it) must not make the hub read that namespace's registry secret into this one's pull secret.
    !crossNamespaceRef(b)
  );
}

/** The workload an opted-in backup covers. */
export function coveredWorkload(b: Pick<CheckpointBackup, 'metadata' | 'spec'>): {
  kind: 'Deployment' | 'StatefulSet';
  name: string;
  namespace: string;
} {
  return {
    kind: b.spec.resourceRef.kind as 'Deployment' | 'StatefulSet',
    name: b.spec.resourceRef.name,
    namespace: b.metadata.namespace,
  };
}

/**
 * The configuration in one member. The migration's (webhookConfiguration: namespace only, pods whose controller is
 * the workload's StatefulSet or one of its Deployment's ReplicaSets, CREATE only) with its own name, URL and
 * failurePolicy **Ignore**: this one stands for as long as the backup opts in, so it sees every pod the workload
 * ever creates there (scale-ups, rollouts, a node lost), not only during a failover; with Fail, a hub that is down
 * or unreachable would stop all of them. The cost of Ignore: a replica recreated by a failover while the hub cannot
 * be reached starts without its state, which the record still shows as restored (the pod, without the
 * restored-from annotation, shows it did not).
 */
export function failoverWebhookConfiguration(i: {
  backup: Pick<CheckpointBackup, 'metadata' | 'spec'>;
  cluster: string;
  endpoint: WebhookEndpoint;
  /** The member's hub webhook policy (hubWebhookOwner). */
  owner: OwnerReference;
}): Record<string, unknown> & {
  metadata: { name: string; labels: Record<string, string>; ownerReferences: OwnerReference[] };
  webhooks: Record<string, unknown>[];
} {
  const { namespace, name } = i.backup.metadata;
  const w = coveredWorkload(i.backup);
  const base = webhookConfiguration({
    namespace,
    restore: name,
    cluster: i.cluster,
    workload: { kind: w.kind, name: w.name },
    endpoint: i.endpoint,
    ownerLabel: { [FAILOVER_LABEL]: 'true' },
    owner: i.owner,
  }) as ReturnType<typeof webhookConfiguration> & { webhooks: Record<string, unknown>[] };
  const hook = base.webhooks[0]!;
  return {
    ...base,
    metadata: { ...base.metadata, name: failoverWebhookName(namespace, name) },
    webhooks: [
      {
        ...hook,
        name: `${name}.${namespace}.failover.${API_GROUP}`.slice(0, 253),
        clientConfig: {
          ...(hook.clientConfig as Record<string, unknown>),
          url: `${i.endpoint.url}${FAILOVER_ROUTE}${encodeURIComponent(i.cluster)}`,
        },
        failurePolicy: 'Ignore',
      },
    ],
  };
}

/**
 * Whether Karmada's scheduler has placed the binding as it is now. The taint manager removes the lost cluster and
 * adds the eviction task in one write, and the scheduler picks the new cluster in the next: a move is decided only
 * once the binding says where the workload goes, never from the empty placement in between.
 */
export function rescheduled(rb: {
  metadata: { generation?: number };
  status?: { schedulerObservedGeneration?: number };
}): boolean {
  return (rb.status?.schedulerObservedGeneration ?? 0) >= (rb.metadata.generation ?? 0);
}

type BindingView = {
  metadata: { generation?: number };
  spec: { clusters?: unknown[]; gracefulEvictionTasks?: unknown[] };
  status?: { schedulerObservedGeneration?: number };
};

/**
 * Whether a binding event can change a failover: a new or deleted binding, a new generation, other eviction tasks or
 * placement, or the scheduler catching up with the generation (rescheduled: the move is decided then). Karmada
 * rewrites a binding's status for every member status change; reacting to those queued every opted-in backup of
 * the workload for nothing.
 */
export function moveChanged(rb: BindingView, old: BindingView | undefined): boolean {
  if (!old) return true;
  return (
    rb.metadata.generation !== old.metadata.generation ||
    rescheduled(rb) !== rescheduled(old) ||
    !isDeepStrictEqual(rb.spec.gracefulEvictionTasks ?? [], old.spec.gracefulEvictionTasks ?? []) ||
    !isDeepStrictEqual(rb.spec.clusters ?? [], old.spec.clusters ?? [])
  );
}

/** The clusters a binding's eviction tasks evict the workload from (their replicas' record must stay in status). */
export function evictedFrom(
  rb: { spec: { gracefulEvictionTasks?: { fromCluster: string }[] } } | undefined,
): string[] {
  return [...new Set((rb?.spec.gracefulEvictionTasks ?? []).map((t) => t.fromCluster))];
}

/** The member clusters whose Ready condition is True (decideFailover: an eviction from one is not a lost cluster). */
export function readyClusters(caches: { clusters: { list(): Cluster[] } }): Set<string> {
  return new Set(
    caches.clusters
      .list()
      .filter((c) => clusterHealth(c).ready)
      .map((c) => c.metadata.name),
  );
}

/** The opted-in backup that covers a pod's workload (its controller owner), if any. */
export function coveringBackup<B extends Pick<CheckpointBackup, 'metadata' | 'spec'>>(
  backups: readonly B[],
  req: AdmissionRequest,
): B | undefined {
  const pod = req.object;
  if (req.operation !== 'CREATE' || req.kind.kind !== 'Pod' || req.kind.group !== '' || !pod)
    return undefined;
  const owner = ownerWorkload(pod);
  const ns = req.namespace ?? pod.metadata.namespace;
  if (!owner) return undefined;
  return backups.find((b) => {
    if (!keepsStateOnFailover(b)) return false;
    const w = coveredWorkload(b);
    return w.namespace === ns && w.kind === owner.kind && w.name === owner.name;
  });
}

/** The migration webhook's input for a failover into `cluster`: the record's restored replicas headed there. */
export function failoverInto(
  b: Pick<CheckpointBackup, 'metadata' | 'spec'>,
  record: FailoverRecord,
  cluster: string,
): MigrationInto {
  return {
    restore: b.metadata.name,
    workload: coveredWorkload(b),
    replicas: failoverReplicasInto(record, cluster),
    pullSecret: failoverPullSecretName(b.metadata.name),
    sourceMayRun: false,
  };
}

/**
 * The answer to a pod of an opted-in workload created in `cluster` while Karmada's eviction task stands and `record`
 * answers that move: its replica's checkpoint (admitPod), or unchanged with a warning saying why it starts from its
 * image (the record's reason for its replica when it has one). `used`: the replicas a Deployment's pods there
 * already run (a StatefulSet needs none: the name says the ordinal).
 */
export function answerFailoverPod(
  req: AdmissionRequest,
  b: Pick<CheckpointBackup, 'metadata' | 'spec'>,
  record: FailoverRecord,
  cluster: string,
  used: ReadonlySet<string>,
): { response: AdmissionResponse; assigned?: string } {
  const m = failoverInto(b, record, cluster);
  const { response, assigned } = admitPod(req, [m], used);
  if (assigned) return { response, assigned };
  const name = req.object?.metadata.name;
  const why =
    record.replicas.find((r) => r.pod === name && r.reason && r.toCluster === cluster)?.message ??
    response.warnings?.[0]?.replace(/^CheckpointRestore [^:]*: this pod starts from its image: /, '') ??
    'no checkpoint for it';
  return {
    response: {
      uid: req.uid,
      allowed: true,
      warnings: [
        `CheckpointBackup ${b.metadata.name}: failover from ${record.fromClusters.join(', ')}: this pod starts from its image: ${why}`,
      ],
    },
  };
}
