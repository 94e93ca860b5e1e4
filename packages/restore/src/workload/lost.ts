import type { CheckpointRestore, CleanupSkipped, WorkloadMigration } from '@stateful-migration/api';
import type { ClusterView } from '../validate.js';
import { SOURCE_STOPPED_GATE } from './migration.js';

/**
 * A workload migration's members that Karmada reports lost, and what that changes (issue 13 review; docs/adr/0007
 * Decision 3): a member that does not answer must not trap the restore. While the migration runs it waits, said in
 * status, and fails `ClusterLost` once the member has been lost for the restore's timeout; when it ends (finished,
 * failed, deleted) the lost member's clean-up is skipped and recorded in status.cleanupSkipped (the sweep removes
 * its webhook configuration once it is back). A reachable member keeps the gates of its held pods while the other
 * member, lost, may still run the workload: letting them go could run it twice.
 */

/** A member of the migration Karmada does not report Ready. */
export interface LostCluster {
  cluster: string;
  /** Why, from its Ready condition. */
  message: string;
  /** Since when (the Ready condition's lastTransitionTime), if known. */
  since?: string;
  /** It is no longer a Karmada cluster: it will not come back. */
  gone?: boolean;
}

/** The migration's source and target that are not Ready (False, Unknown, no condition) or no longer clusters. */
export function lostClusters(m: WorkloadMigration, clusters: ClusterView[]): LostCluster[] {
  return [...new Set([m.sourceCluster, m.targetCluster])].flatMap((name): LostCluster[] => {
    const c = clusters.find((x) => x.name === name);
    if (!c) return [{ cluster: name, message: 'it is no longer a Karmada cluster', gone: true }];
    if (c.ready) return [];
    return [
      {
        cluster: name,
        message: `Karmada reports it not Ready (${c.message ?? 'no reason given'})`,
        ...(c.since ? { since: c.since } : {}),
      },
    ];
  });
}

export type LostVerdict =
  { kind: 'wait'; message: string } | { kind: 'fail'; reason: string; message: string };

/**
 * A running migration with a lost member: wait (the member may come back, and nothing can be checked there), or fail
 * ClusterLost once it has been lost for timeoutSeconds (since its Ready condition changed). Undefined: none lost.
 */
export function lostVerdict(i: {
  restore: Pick<CheckpointRestore, 'status'>;
  lost: LostCluster[];
  now: Date;
  timeoutSeconds: number;
}): LostVerdict | undefined {
  const m = i.restore.status?.workload;
  if (!m || !i.lost.length) return undefined;
  const what = i.lost.map((l) => `${l.cluster}: ${l.message}`).join('; ');
  const late = i.lost.find((l) => {
    const since = Date.parse(l.since ?? '');
    return l.gone || (Number.isFinite(since) && i.now.getTime() - since > i.timeoutSeconds * 1000);
  });
  if (late)
    return {
      kind: 'fail',
      reason: 'ClusterLost',
      message:
        `${late.cluster} has been unreachable for more than ${i.timeoutSeconds}s (${what}): the migration of ` +
        `${m.kind} ${m.name} cannot go on; what could not be cleaned up there is in status.cleanupSkipped`,
    };
  return {
    kind: 'wait',
    message:
      `waiting for ${i.lost.map((l) => l.cluster).join(' and ')} (${what}); the migration of ${m.kind} ${m.name} ` +
      `fails after ${i.timeoutSeconds}s without it`,
  };
}

/** What letting go of the members does in one cluster of the migration. */
export interface ReleaseAction {
  cluster: string;
  /** Delete the migration's webhook configuration there. */
  deleteWebhook: boolean;
  /** Remove the migration's gate from the workload's pods there. */
  ungate: boolean;
}

/**
 * Letting go of the members with some lost: nothing is asked of a lost one (recorded); a reachable one loses its
 * webhook configuration, and its pods their gates unless the other member is lost and may run the workload (the
 * source always may; the target once the migration's policy placed the workload there).
 */
export function releasePlan(i: {
  migration: WorkloadMigration;
  lost: LostCluster[];
  webhookConfig: string;
}): { actions: ReleaseAction[]; skipped: CleanupSkipped[] } {
  const m = i.migration;
  const actions: ReleaseAction[] = [];
  const skipped: CleanupSkipped[] = [];
  const lostOf = (c: string) => i.lost.find((l) => l.cluster === c);
  for (const cluster of [...new Set([m.sourceCluster, m.targetCluster])]) {
    const lost = lostOf(cluster);
    if (lost) {
      skipped.push({
        cluster,
        reason: 'ClusterLost',
        message:
          `${lost.message}: its webhook configuration ${i.webhookConfig} and the gates of ${m.kind} ${m.name}'s ` +
          `held pods there were left; the hub removes the configuration once it is Ready again`,
      });
      actions.push({ cluster, deleteWebhook: false, ungate: false });
      continue;
    }
    const other = cluster === m.sourceCluster ? m.targetCluster : m.sourceCluster;
    const otherMayRun = other === m.sourceCluster || !!m.placedTime;
    const otherLost = other !== cluster ? lostOf(other) : undefined;
    if (otherLost && otherMayRun) {
      skipped.push({
        cluster,
        reason: 'GatesKept',
        message:
          `the held pods of ${m.kind} ${m.name} in ${cluster} keep their scheduling gate ${SOURCE_STOPPED_GATE}: ` +
          `${other} may still run the workload (${otherLost.message}); remove the gate once ${other} runs none of its pods`,
      });
      actions.push({ cluster, deleteWebhook: true, ungate: false });
      continue;
    }
    actions.push({ cluster, deleteWebhook: true, ungate: true });
  }
  return { actions, skipped };
}

/** Whether a migration was under way (its workload moving), whether or not its restore is being deleted. */
export function underWay(r: Pick<CheckpointRestore, 'status'>): boolean {
  const p = r.status?.phase;
  return !!r.status?.workload && p !== 'SourceStopped' && p !== 'Failed' && p !== 'RolledBack';
}

/**
 * Whether deleting the restore must first take the workload out of the target: its policy placed it there and still
 * does, the migration being under way or Failed (a failure keeps the policy, and may have kept the source's held pods
 * gated: GatesKept). Finished (SourceStopped) or RolledBack: nothing of the migration is held to let go.
 */
export function placedInTarget(r: Pick<CheckpointRestore, 'status'>): boolean {
  return !!r.status?.workload?.placedTime && (underWay(r) || r.status.phase === 'Failed');
}

/**
 * The workload's ResourceBinding as a deletion reads it: the clusters Karmada schedules it to, the policy that claims
 * it (Karmada's `propagationpolicy.karmada.io/name` annotation, or `ClusterPropagationPolicy <name>`), and whether
 * the scheduler has seen its latest spec (status.schedulerObservedGeneration = metadata.generation).
 */
export interface BindingView {
  clusters: string[];
  claimedBy?: string;
  scheduled: boolean;
}

/**
 * Deleting a restore whose migration was under way or failed, with the workload placed in the target: its policy is deleted,
 * so the user's policy places the workload back in the source; the source's held pods are let go only once the
 * target runs no pod of it (any pod there may run, or be let go) and its binding no longer names the target, as the
 * finished path waits for `from` to be empty. Undefined: nothing to wait for (ended or never placed, or the target is
 * lost: releasePlan keeps the gates). A target that stays placed by another policy is targetStays', not a wait.
 */
export function deletionWait(i: {
  restore: Pick<CheckpointRestore, 'status'>;
  lost: LostCluster[];
  targetPods: string[] | undefined;
  binding?: BindingView;
}): string | undefined {
  const m = i.restore.status?.workload;
  if (!m || !placedInTarget(i.restore)) return undefined;
  if (i.lost.some((l) => l.cluster === m.targetCluster)) return undefined;
  if (i.binding?.clusters.includes(m.targetCluster))
    return (
      `deleting: waiting for Karmada to take ${m.kind} ${m.name} out of ${m.targetCluster} (its binding still ` +
      `names it) as it places it back in ${m.sourceCluster} under your policy; its held pods in ` +
      `${m.sourceCluster} are let go only then, so it never runs in both`
    );
  if (!i.targetPods?.length) return undefined;
  return (
    `deleting: waiting for ${m.targetCluster} to delete the pods of ${m.kind} ${m.name} (${i.targetPods.join(', ')}) ` +
    `as Karmada places it back in ${m.sourceCluster} under your policy; its held pods in ${m.sourceCluster} are let ` +
    'go only then, so it never runs in both'
  );
}

/**
 * Deleting a migration placed in the target while another policy (the user's) also places the workload there: once
 * the migration's policy is gone, Karmada keeps it in the target, so waiting for the target to empty would hold the
 * finalizer forever. The target keeps the workload: its gates are lifted and the source's held pods deleted (not let
 * go: the workload would run in both). Only a settled binding says so: claimed by another policy, scheduled under it,
 * still naming the target; the migration's own claim, no claim, or a spec not yet scheduled is Karmada between
 * policies (deletionWait). The message for the Event; undefined otherwise.
 */
export function targetStays(i: {
  restore: Pick<CheckpointRestore, 'status'>;
  binding: BindingView | undefined;
}): string | undefined {
  const m = i.restore.status?.workload;
  const b = i.binding;
  if (!m || !b || !placedInTarget(i.restore)) return undefined;
  if (!b.claimedBy || b.claimedBy === m.policy || !b.scheduled || !b.clusters.includes(m.targetCluster))
    return undefined;
  const by = b.claimedBy.includes(' ') ? b.claimedBy : `PropagationPolicy ${b.claimedBy}`;
  return (
    `${by} still places ${m.kind} ${m.name} in ${m.targetCluster} without the migration's policy: it stays there; ` +
    `its pods there are let go and its held pods in ${m.sourceCluster} deleted, so it never runs in both`
  );
}
