import {
  keepStateSettings,
  type BuiltImage,
  type CheckpointBackup,
  type FailoverRecord,
  type FailoverReplica,
  type FreshReason,
  type ReplicaStatus,
} from '@stateful-migration/api';
import { checkTargetNodes, type NodeView } from '@stateful-migration/restore';

/**
 * The hub's part of a cluster failover with state (issue 16, docs/adr/0004), pure: from the workload's
 * ResourceBinding as Karmada v1.18 writes it, the opted-in workload-level backup's status (each cluster's replicas
 * with their latest images, kept as last known when a cluster is lost) and the Nodes of the clusters Karmada picked,
 * which checkpoint each replica of the lost cluster comes back from, where, and how old its state is; or why it
 * starts fresh. The I/O shell writes the answer as status.lastFailover, which the mutating webhook reads.
 */

/** A graceful eviction task (work.karmada.io/v1alpha2 GracefulEvictionTask, the fields read here). */
export interface GracefulEvictionTask {
  fromCluster: string;
  /** e.g. TaintUntolerated (the taint manager's), ApplicationFailure. */
  reason: string;
  message?: string;
  producer?: string;
  /** Replicas the evicted cluster ran (absent for a resource without replicas). */
  replicas?: number;
  /** Set by Karmada when the task is created (RFC 3339). */
  creationTimestamp?: string;
}

/** The parts of a ResourceBinding's spec a failover is read from. */
export interface BindingSpec {
  /** The scheduler's result: the evicted cluster is already gone from it. Replicas omitted means 0 (omitempty). */
  clusters?: { name: string; replicas?: number }[];
  gracefulEvictionTasks?: GracefulEvictionTask[];
}

export interface FailoverInput {
  backup: Pick<CheckpointBackup, 'spec' | 'status'>;
  binding: BindingSpec;
  /** Nodes of each cluster Karmada chose, as their agents label them; absent: they could not be read. */
  nodes: ReadonlyMap<string, NodeView[]>;
  /**
   * The member clusters whose Ready condition is True now (a cluster not named is not Ready: False, Unknown, or
   * gone). An eviction from a Ready cluster is never a lost cluster: its pods still run there.
   */
  readyClusters: ReadonlySet<string>;
  now: Date;
}

export type FailoverDecision =
  | { kind: 'none'; reason: 'NotOptedIn' | 'NoEviction'; message: string }
  | { kind: 'failover'; record: FailoverRecord }
  /** Karmada evicted the workload, but from no lost cluster: recorded once, nothing restored. */
  | { kind: 'notFailover'; record: FailoverRecord };

/**
 * Whether an eviction task is a lost cluster: the taint manager's, for a NoExecute taint the workload does not
 * tolerate, from a cluster not Ready. Anything else (an application failover, a taint put on a cluster that still
 * answers for maintenance, a condition flap already over) leaves the source pods running until Karmada purges them,
 * and restoring their state elsewhere meanwhile would run it twice.
 */
export function lostCluster(t: GracefulEvictionTask, readyClusters: ReadonlySet<string>): boolean {
  return (
    t.producer === 'TaintManager' && t.reason === 'TaintUntolerated' && !readyClusters.has(t.fromCluster)
  );
}

const seconds = (from: string, to: Date) => Math.max(0, Math.floor((to.getTime() - Date.parse(from)) / 1000));

/**
 * The state a replica would restore: the newest pushed image by digest of every container its pod had, and when
 * that state was taken; or why there is none. The time is the older of the replica's last run start and the images'
 * build times, so the age is never under-stated (an image may be from an earlier run than lastCheckpointTime).
 */
function usableState(r: ReplicaStatus): { images: BuiltImage[]; time: string } | { why: string } {
  const images = r.images ?? [];
  const containers = r.checkpointedPod?.containers.map((c) => c.name) ?? images.map((i) => i.containerName);
  if (!images.length || !containers.length) return { why: `${r.pod} has no checkpoint image recorded` };
  const missing = containers.filter(
    (c) => !images.some((i) => i.containerName === c && i.pushed && i.digest),
  );
  if (missing.length)
    return { why: `${r.pod}'s newest image of container ${missing.join(', ')} is not pushed by digest` };
  const times = [r.lastCheckpointTime, ...images.map((i) => i.buildTime)].filter(
    (t): t is string => !!t && !Number.isNaN(Date.parse(t)),
  );
  if (!times.length) return { why: `${r.pod}'s checkpoint has no time recorded` };
  const time = times.reduce((a, b) => (Date.parse(a) <= Date.parse(b) ? a : b));
  return { images: images.filter((i) => containers.includes(i.containerName)), time };
}

/** The replicas each cluster Karmada chose creates anew: its ordinals (StatefulSet) or its count (Deployment). */
interface Target {
  name: string;
  /** StatefulSet: ordinals it will create that no pod of it runs yet. */
  newOrdinals: Set<number>;
  /** Deployment: pods it will create beyond those it runs. */
  capacity: number;
}

function targets(i: FailoverInput, evicted: Set<string>, sts: boolean): Target[] {
  const byName = new Map((i.backup.status?.clusters ?? []).map((c) => [c.name, c]));
  return (i.binding.clusters ?? []).map((c) => {
    const want = c.replicas ?? 0;
    // What an evicted cluster ran is unknown now (its last report predates the loss): if Karmada lists it again,
    // all its replicas count as created there, and only SameCluster can send a replica back to it.
    const present = evicted.has(c.name) ? [] : (byName.get(c.name)?.replicas ?? []).filter((r) => r.present);
    const running = new Set(present.map((r) => r.ordinal).filter((o): o is number => o !== undefined));
    const newOrdinals = new Set<number>();
    if (sts) for (let o = 0; o < want; o++) if (!running.has(o)) newOrdinals.add(o);
    return { name: c.name, newOrdinals, capacity: sts ? 0 : Math.max(0, want - present.length) };
  });
}

const order = (a: ReplicaStatus, b: ReplicaStatus) =>
  (a.ordinal ?? Infinity) - (b.ordinal ?? Infinity) || a.pod.localeCompare(b.pod);

/**
 * The failover decision. Rules (docs/adr/0004):
 * - only a workload-level backup with keepState.clusterFailover, and only while the binding has an eviction task;
 * - the replicas are those present in each evicted cluster at its last report;
 * - a StatefulSet's ordinal N comes back only as ordinal N, in the first cluster (binding order) that creates
 *   ordinal N anew; a Deployment's replicas fill, in order, the pods each cluster creates beyond those it runs;
 *   each replica goes to one cluster at most, so no state runs twice;
 * - never into the cluster the checkpoint came from (SameCluster): that cluster may still run the original;
 * - then: a pushed image by digest of every container (NoCheckpoint), not older than maxAgeSeconds (TooOld), and a
 *   target whose nodes restore (TargetCannotRestore, TargetNodesUnknown; checkTargetNodes, as restores do).
 */
export function decideFailover(i: FailoverInput): FailoverDecision {
  const keep = keepStateSettings(i.backup).clusterFailover;
  if (!keep || i.backup.spec.podRef)
    return {
      kind: 'none',
      reason: 'NotOptedIn',
      message: 'not a workload-level backup with spec.keepState.clusterFailover',
    };
  const tasks = i.binding.gracefulEvictionTasks ?? [];
  if (!tasks.length)
    return { kind: 'none', reason: 'NoEviction', message: 'Karmada has not evicted the workload' };
  const evicted = new Set(tasks.filter((t) => lostCluster(t, i.readyClusters)).map((t) => t.fromCluster));
  const notLost = [...new Set(tasks.map((t) => t.fromCluster))].filter((c) => !evicted.has(c));
  if (!evicted.size) {
    const why = tasks.map(
      (t) =>
        `${t.fromCluster}: ${t.reason}${t.producer ? ` by ${t.producer}` : ''}${i.readyClusters.has(t.fromCluster) ? ', cluster Ready' : ''}`,
    );
    return {
      kind: 'notFailover',
      record: {
        time: evictionTime(tasks) ?? i.now.toISOString(),
        decidedAt: i.now.toISOString(),
        fromClusters: [],
        notLostClusters: notLost,
        toClusters: (i.binding.clusters ?? []).map((c) => c.name).filter((n) => !notLost.includes(n)),
        ...(tasks[0]?.reason ? { evictionReason: tasks[0].reason } : {}),
        reason: 'NotAClusterFailure',
        replicas: [],
        restored: 0,
        startedFresh: 0,
        message: `Karmada evicted the workload from ${notLost.join(', ')} (${why.join('; ')}), not a lost cluster: not treated as a failover, its pods there run until Karmada removes them and no state is restored`,
      },
    };
  }

  const sts = i.backup.spec.resourceRef.kind === 'StatefulSet';
  const ts = targets(i, evicted, sts);
  const statusOf = new Map((i.backup.status?.clusters ?? []).map((c) => [c.name, c]));
  const replicas: FailoverReplica[] = [];
  for (const from of evicted) {
    const ran = (statusOf.get(from)?.replicas ?? []).filter((r) => r.present).sort(order);
    for (const r of ran) replicas.push(decideReplica(i, r, from, ts, sts, keep.maxAgeSeconds));
  }

  return {
    kind: 'failover',
    record: {
      ...recordOf(
        tasks.filter((t) => evicted.has(t.fromCluster)),
        ts.map((t) => t.name).filter((n) => !evicted.has(n)),
        replicas,
        i.now,
      ),
      // The move's time is of all its tasks (sameMove compares it), the reason of the lost ones.
      time: evictionTime(tasks) ?? i.now.toISOString(),
      ...(notLost.length ? { notLostClusters: notLost } : {}),
    },
  };
}

/** The record of one move: the replicas' outcomes summed up, the eviction's time and reason. */
function recordOf(
  tasks: GracefulEvictionTask[],
  toClusters: string[],
  replicas: FailoverReplica[],
  now: Date,
): FailoverRecord {
  const fromClusters = [...new Set(tasks.map((t) => t.fromCluster))];
  const restored = replicas.filter((r) => r.images);
  const fresh = replicas.filter((r) => r.reason && r.reason !== 'NotRecreated');
  const ages = restored.map((r) => r.stateAgeSeconds ?? 0);
  const stateAgeSeconds = ages.length ? Math.max(...ages) : undefined;
  const reason = tasks.find((t) => t.reason)?.reason;
  return {
    time: evictionTime(tasks) ?? now.toISOString(),
    decidedAt: now.toISOString(),
    fromClusters,
    toClusters,
    ...(reason ? { evictionReason: reason } : {}),
    replicas,
    restored: restored.length,
    startedFresh: fresh.length,
    ...(stateAgeSeconds !== undefined ? { stateAgeSeconds } : {}),
    message: summary(fromClusters, toClusters, replicas, stateAgeSeconds),
  };
}

/** The earliest creationTimestamp Karmada gave the eviction tasks. */
function evictionTime(tasks: GracefulEvictionTask[]): string | undefined {
  return tasks
    .map((t) => t.creationTimestamp)
    .filter((t): t is string => !!t)
    .sort()[0];
}

function decideReplica(
  i: FailoverInput,
  r: ReplicaStatus,
  from: string,
  ts: Target[],
  sts: boolean,
  maxAgeSeconds: number,
): FailoverReplica {
  const base = {
    pod: r.pod,
    ...(r.ordinal !== undefined ? { ordinal: r.ordinal } : {}),
    fromCluster: from,
    backup: r.backup,
  };
  const fresh = (reason: FreshReason, message: string, to?: string): FailoverReplica => ({
    ...base,
    ...(to ? { toCluster: to } : {}),
    reason,
    message,
  });
  if (sts && r.ordinal === undefined)
    return fresh(
      'NotRecreated',
      `${r.pod} has no StatefulSet ordinal recorded, so no pod can be matched to it`,
    );
  const fits = (t: Target) => (sts ? t.newOrdinals.has(r.ordinal!) : t.capacity > 0);
  const take = (t: Target) => (sts ? t.newOrdinals.delete(r.ordinal!) : t.capacity--);
  const target = ts.find((t) => t.name !== from && fits(t));
  if (!target) {
    const same = ts.find((t) => t.name === from && fits(t));
    if (same) {
      take(same);
      return fresh(
        'SameCluster',
        `${r.pod} is created again in ${from}, the cluster its checkpoint came from, which may still run it: no restore there, so its state never runs twice`,
        from,
      );
    }
    const what = sts ? `ordinal ${r.ordinal}` : 'one more replica';
    return fresh('NotRecreated', `no cluster Karmada chose creates ${what} for ${r.pod}`);
  }
  take(target);
  const state = usableState(r);
  if ('why' in state)
    return fresh('NoCheckpoint', `${state.why}: it starts fresh in ${target.name}`, target.name);
  const age = seconds(state.time, i.now);
  if (age > maxAgeSeconds)
    return fresh(
      'TooOld',
      `${r.pod}'s latest checkpoint (${state.time}) is ${age} s old, over keepState.clusterFailover.maxAgeSeconds ${maxAgeSeconds}: it starts fresh in ${target.name}`,
      target.name,
    );
  const nodes = i.nodes.get(target.name);
  if (!nodes)
    return fresh(
      'TargetNodesUnknown',
      `the nodes of cluster ${target.name} could not be read, so no restore was risked: ${r.pod} starts fresh there`,
      target.name,
    );
  const refused = checkTargetNodes(
    {
      targetCluster: target.name,
      checkpoints: state.images.map((x) => ({
        containerName: x.containerName,
        ...(x.encryptedFor ? { encryptedFor: x.encryptedFor } : {}),
      })),
    },
    nodes,
  );
  if (refused) return fresh('TargetCannotRestore', `${r.pod} starts fresh: ${refused.message}`, target.name);
  return {
    ...base,
    toCluster: target.name,
    images: state.images,
    checkpointTime: state.time,
    stateAgeSeconds: age,
  };
}

function summary(
  from: string[],
  to: string[],
  replicas: FailoverReplica[],
  stateAge: number | undefined,
): string {
  const restored = replicas.filter((r) => r.images).length;
  const fresh = replicas.filter((r) => r.reason && r.reason !== 'NotRecreated');
  const gone = replicas.filter((r) => r.reason === 'NotRecreated');
  const parts = [
    `${restored} of ${replicas.length} replicas restored${stateAge !== undefined ? ` (state up to ${stateAge} s old)` : ''}`,
    ...(fresh.length
      ? [`${fresh.length} started fresh (${fresh.map((r) => `${r.pod}: ${r.reason}`).join(', ')})`]
      : []),
    ...(gone.length ? [`${gone.length} not recreated (${gone.map((r) => r.pod).join(', ')})`] : []),
  ];
  return `moved from ${from.join(', ')} to ${to.join(', ') || 'no cluster'}: ${parts.join('; ')}`;
}

/**
 * Whether a record already answers the binding's current move: the same evicted clusters, and the same eviction
 * time when Karmada recorded one. The shell decides once per move and keeps that record (the webhook may already
 * have restored from it); a new eviction task makes a new move. Without an eviction time, a record decided more than
 * maxAgeSeconds ago never answers: a new eviction from the same clusters months later must not restore from it (its
 * checkpoints are far past the limit); re-deciding an eviction that really stood that long restores nothing anew
 * (its checkpoints are TooOld by then).
 */
export function sameMove(
  record: FailoverRecord | undefined,
  binding: BindingSpec,
  now: Date,
  maxAgeSeconds: number,
): boolean {
  if (!record) return false;
  const tasks = binding.gracefulEvictionTasks ?? [];
  const from = [...new Set(tasks.map((t) => t.fromCluster))].sort();
  const recorded = [...record.fromClusters, ...(record.notLostClusters ?? [])].sort();
  if (from.join(',') !== recorded.join(',')) return false;
  const time = evictionTime(tasks);
  if (time !== undefined) return time === record.time;
  const decided = Date.parse(record.decidedAt);
  return !Number.isNaN(decided) && (now.getTime() - decided) / 1000 <= maxAgeSeconds;
}
