import {
  isFinished,
  isPhase,
  phaseRank,
  setCondition,
  withBuiltImages,
  type AggregatePhase,
  type CheckpointBackupStatus,
  type ClusterStatus,
  type Condition,
} from '@stateful-migration/api';

/** One entry of a ResourceBinding's status.aggregatedStatus, as Karmada writes it from the member's Work. */
export interface MemberReport {
  clusterName: string;
  /** The member object's status, reflected by the ResourceInterpreterCustomization. */
  status?: CheckpointBackupStatus;
  applied?: boolean;
  appliedMessage?: string;
}

export interface ClusterHealth {
  name: string;
  ready: boolean;
  /** Why it is not Ready, from its Ready condition. */
  reason?: string;
}

export interface AggregateInput {
  /** Where the object is meant to be: the hub's placement, or the binding's clusters under a user's policy. */
  placed: string[];
  reports: MemberReport[];
  clusters: ClusterHealth[];
  /** The previous status, so conditions keep their transition times. */
  previous?: CheckpointBackupStatus;
  generation: number;
  now?: Date;
}

const SUCCESS: readonly string[] = ['Completed', 'CompletedPodDeleted', 'CompletedWithError'];

/** Unknown and Pending come before every run phase: a cluster we cannot see is the least advanced. */
function rank(p: AggregatePhase): number {
  if (p === 'Unknown') return -2;
  if (p === 'Pending') return -1;
  return phaseRank(p);
}

/** One cluster's entry, from what Karmada brought back and whether the cluster is Ready. */
export function clusterStatus(
  name: string,
  report: MemberReport | undefined,
  health: ClusterHealth | undefined,
): ClusterStatus {
  const s = report?.status ?? {};
  const kept: Partial<ClusterStatus> = {
    ...(s.lastCheckpointTime ? { lastCheckpointTime: s.lastCheckpointTime } : {}),
    // Bounded here too (an older agent may not bound it): this copy is one per cluster in one object.
    ...(s.builtImages?.length ? withBuiltImages(s, s.builtImages) : {}),
    ...(s.run?.node ? { node: s.run.node } : {}),
    ...(s.checkpointedPod ? { checkpointedPod: s.checkpointedPod } : {}),
    // A workload-level object: each pod of the workload there (the member's coordinating agent sums them up).
    ...(s.replicas ? { replicas: s.replicas } : {}),
    ...(s.replicasCompleted ? { replicasCompleted: s.replicasCompleted } : {}),
  };
  const applied = report?.applied === true;
  if (!health)
    return {
      name,
      phase: 'Unknown',
      message: `cluster ${name} is not registered with Karmada`,
      applied,
      ...kept,
    };
  if (!health.ready)
    return {
      name,
      phase: 'Unknown',
      message: `cluster ${name} is not Ready${health.reason ? `: ${health.reason}` : ''}; showing its last known state`,
      applied,
      ...kept,
    };
  if (!report)
    return {
      name,
      phase: 'Pending',
      message: 'waiting for Karmada to place the object here',
      applied,
      ...kept,
    };
  // Karmada keeps retrying an apply that failed (often a stale cache right after a member returns), so this is
  // Pending with Karmada's reason, not Failed; a lasting cause (say, no CRD in the member) stays visible here.
  if (!applied)
    return {
      name,
      phase: 'Pending',
      message: report.appliedMessage
        ? `Karmada has not applied it yet: ${report.appliedMessage}`
        : 'waiting for Karmada to apply the object here',
      applied,
      ...kept,
    };
  if (!isPhase(s.phase))
    return {
      name,
      phase: 'Pending',
      message:
        s.message ??
        (s.nextScheduledTime ? `next checkpoint at ${s.nextScheduledTime}` : 'waiting for the agent'),
      applied,
      ...kept,
    };
  return { name, phase: s.phase, ...(s.message ? { message: s.message } : {}), applied, ...kept };
}

/**
 * A member copy that has never run (new, or placed again after the hub withdrew it) knows less than the hub: the
 * cluster's last record (images, checkpointed pod, times), which a restore reads, stays until the copy has run.
 * Once it has, its own report is the record (retention may have deleted images since).
 */
function keepRecord(
  c: ClusterStatus,
  report: MemberReport | undefined,
  before: ClusterStatus | undefined,
): ClusterStatus {
  if (!before || report?.status?.run || report?.status?.replicas?.length) return c;
  return {
    ...(before.replicas?.length ? { replicas: before.replicas } : {}),
    ...(before.lastCheckpointTime ? { lastCheckpointTime: before.lastCheckpointTime } : {}),
    ...(before.builtImages?.length ? { builtImages: before.builtImages } : {}),
    ...(before.node ? { node: before.node } : {}),
    ...(before.checkpointedPod ? { checkpointedPod: before.checkpointedPod } : {}),
    ...c,
  };
}

/**
 * The hub object's status from its clusters. Rules (docs/architecture.md): no cluster placed gives Pending; any
 * Failed gives Failed, naming the clusters; all finished well gives the weakest success (CompletedWithError, then
 * Completed, CompletedPodDeleted only when all are); otherwise the least advanced, where Unknown (a cluster not
 * Ready) and Pending (not reported yet) come first.
 */
export function aggregateStatus(i: AggregateInput): CheckpointBackupStatus {
  const now = i.now ?? new Date();
  const health = new Map(i.clusters.map((c) => [c.name, c]));
  const reports = new Map(i.reports.map((r) => [r.clusterName, r]));
  const names = [...new Set(i.placed)].sort();
  const before = new Map((i.previous?.clusters ?? []).map((c) => [c.name, c]));
  const clusters = names.map((n) =>
    keepRecord(clusterStatus(n, reports.get(n), health.get(n)), reports.get(n), before.get(n)),
  );
  const done = clusters.filter((c) => SUCCESS.includes(c.phase));
  const failed = clusters.filter((c) => c.phase === 'Failed');
  const lastCheckpointTime = clusters
    .map((c) => c.lastCheckpointTime)
    .filter((t): t is string => !!t)
    .sort()
    .at(-1);

  let phase: AggregatePhase;
  let message: string;
  const describe = (cs: ClusterStatus[]) => cs.map((c) => `${c.name}: ${c.message ?? c.phase}`).join('; ');
  if (!clusters.length) {
    phase = 'Pending';
    message = 'not placed in any cluster yet';
  } else if (failed.length) {
    phase = 'Failed';
    message = `failed in ${describe(failed)}`;
  } else if (done.length === clusters.length) {
    phase = clusters.some((c) => c.phase === 'CompletedWithError')
      ? 'CompletedWithError'
      : clusters.every((c) => c.phase === 'CompletedPodDeleted')
        ? 'CompletedPodDeleted'
        : 'Completed';
    message = `${phase} in ${names.join(', ')}`;
  } else {
    const behind = clusters.filter((c) => !isFinished(c.phase));
    phase = behind.reduce((a, c) => (rank(c.phase) < rank(a) ? c.phase : a), behind[0]!.phase);
    message = describe(behind.filter((c) => c.phase === phase));
  }

  const notApplied = clusters.filter((c) => !c.applied);
  let conditions: Condition[] = setCondition(
    i.previous?.conditions,
    !clusters.length
      ? {
          type: 'Propagated',
          status: 'False',
          reason: 'NotPlaced',
          message,
          observedGeneration: i.generation,
        }
      : notApplied.length
        ? {
            type: 'Propagated',
            status: 'False',
            reason: 'NotApplied',
            message: `not applied in ${notApplied.map((c) => c.name).join(', ')}`,
            observedGeneration: i.generation,
          }
        : {
            type: 'Propagated',
            status: 'True',
            reason: 'Applied',
            message: `applied in ${names.join(', ')}`,
            observedGeneration: i.generation,
          },
    now,
  );
  conditions = setCondition(
    conditions,
    {
      type: 'Completed',
      status: SUCCESS.includes(phase) ? 'True' : 'False',
      reason: SUCCESS.includes(phase) ? 'AllClustersCompleted' : phase,
      message,
      observedGeneration: i.generation,
    },
    now,
  );

  const replicas = replicasOverClusters(clusters);
  return {
    phase,
    message,
    observedGeneration: i.generation,
    clusters,
    clustersReady: `${done.length}/${clusters.length}`,
    ...(replicas ? { replicasCompleted: replicas } : {}),
    ...(lastCheckpointTime ? { lastCheckpointTime } : {}),
    conditions,
  };
}

/**
 * A workload-level object's REPLICAS column: the members' completed/present replicas added up (`3/4`); undefined for
 * a single-pod object, and while no member has reported replicas.
 */
export function replicasOverClusters(clusters: ClusterStatus[]): string | undefined {
  let done = 0;
  let present = 0;
  let any = false;
  for (const c of clusters) {
    const m = /^(\d+)\/(\d+)$/.exec(c.replicasCompleted ?? '');
    if (!m) continue;
    any = true;
    done += Number(m[1]);
    present += Number(m[2]);
  }
  return any ? `${done}/${present}` : undefined;
}

/**
 * Whether a member has finished a run whose outcome the object's status does not show yet: the answer a user waits
 * for, which the backups controller serves ahead of other work (ADR 0019). The phase compared is the one a
 * reconcile would show (clusterStatus: a report Karmada has not applied, or of a phase this hub does not know, shows
 * as Pending; a cluster not Ready as Unknown), so a status the hub has just written is never behind; only finished
 * phases count, so a run's steps (Checkpointing, ImageBuilding, ...) and cron bursts wait their turn; only clusters
 * the status lists (a report from a cluster the object has left waits too).
 */
export function reportUnseen(
  status: CheckpointBackupStatus | undefined,
  reports: readonly MemberReport[],
  clusters: readonly ClusterHealth[],
): boolean {
  const shown = new Map((status?.clusters ?? []).map((c) => [c.name, c.phase]));
  return reports.some((r) => {
    const now = shown.get(r.clusterName);
    if (now === undefined) return false;
    const want = clusterStatus(
      r.clusterName,
      r,
      clusters.find((c) => c.name === r.clusterName),
    ).phase;
    return want !== now && isFinished(want);
  });
}

/** Phase changes that deserve an Event on the hub object: outcomes, not every step of every run. */
export function worthAnEvent(before: string | undefined, after: string | undefined): boolean {
  if (!after || after === before) return false;
  return after === 'Unknown' || after === 'Failed' || SUCCESS.includes(after);
}

export interface UnplaceableInput {
  /** The hub object's status as stored. */
  previous: CheckpointBackupStatus;
  /** Why it cannot be placed (from place()). */
  message: string;
  /** The object's own ResourceBinding's aggregatedStatus: where its member copies are and what they report. */
  reports: MemberReport[];
  clusters: ClusterHealth[];
  generation: number;
  now?: Date;
}

/** Whether a member reports a run between its start and its end: work that a withdrawal would cut short. */
function inFlight(r: MemberReport | undefined): boolean {
  const phase = r?.status?.phase;
  return !!r?.status?.run && isPhase(phase) && !isFinished(phase);
}

/**
 * What the hub does with an object it cannot place any more (its workload's binding is gone, its affinity selects
 * nothing). status.clusters is the record a restore reads (builtImages, checkpointedPod), so it is kept whatever
 * happens: the entries as last known, marked not applied. A run in progress in a member is not withdrawn: the
 * placement (and with it the registry secret) stays until it finishes, and status says why. Otherwise the hub
 * withdraws the object from its members (withdraw: true) after recording this status, and the placement goes.
 */
export function unplaceable(i: UnplaceableInput): { withdraw: boolean; status: CheckpointBackupStatus } {
  const s = i.previous;
  const now = i.now ?? new Date();
  const placed = s.placement?.clusters ?? i.reports.map((r) => r.clusterName);
  const agg = aggregateStatus({
    placed,
    reports: i.reports,
    clusters: i.clusters,
    previous: s,
    generation: i.generation,
    now,
  });
  const running = placed.filter((c) => inFlight(i.reports.find((r) => r.clusterName === c))).sort();
  const propagated = {
    type: 'Propagated',
    status: 'False' as const,
    reason: 'Unplaceable',
    observedGeneration: i.generation,
  };
  if (running.length) {
    const message = `${i.message}; the run in progress in ${running.join(', ')} finishes before the hub withdraws the object`;
    return {
      withdraw: false,
      status: {
        ...s,
        ...agg,
        message,
        ...(s.placement ? { placement: s.placement } : {}),
        conditions: setCondition(agg.conditions, { ...propagated, message }, now),
      },
    };
  }
  // The freshest entry of each cluster: its member's, while the binding still reports one with a run of its own
  // (retention may have deleted images since); else the entry as last kept (a fresh or withdrawn copy knows less).
  const reported = new Set(i.reports.filter((r) => r.status?.run).map((r) => r.clusterName));
  const entries = new Map((s.clusters ?? []).map((c) => [c.name, c]));
  for (const c of agg.clusters ?? []) if (reported.has(c.name)) entries.set(c.name, c);
  const clusters = [...entries.values()]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((c) => ({ ...c, applied: false }));
  let conditions = setCondition(s.conditions, { ...propagated, message: i.message }, now);
  conditions = setCondition(
    conditions,
    {
      type: 'Completed',
      status: 'False',
      reason: 'Failed',
      message: i.message,
      observedGeneration: i.generation,
    },
    now,
  );
  const kept = { ...s };
  delete kept.placement;
  return {
    withdraw: true,
    status: {
      ...kept,
      phase: 'Failed',
      message: i.message,
      observedGeneration: i.generation,
      clusters,
      clustersReady: '0/0',
      conditions,
    },
  };
}

/** The Event for an aggregate phase worth one (worthAnEvent): a Warning for trouble, with a reason for each. */
export function phaseEvent(s: CheckpointBackupStatus | undefined): {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
} {
  const phase = s?.phase;
  const warning = phase === 'Failed' || phase === 'Unknown' || phase === 'CompletedWithError';
  const reason =
    phase === 'Unknown'
      ? 'ClusterNotReady'
      : phase === 'Failed' && !s?.clusters?.length
        ? 'Unplaceable'
        : `Aggregate${phase}`;
  return { type: warning ? 'Warning' : 'Normal', reason, message: s?.message ?? '' };
}
