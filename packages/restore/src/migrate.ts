import type { CheckpointRestoreStatus, SourceStop } from '@stateful-migration/api';
import { stopsOnlyThePod, type SourceWorkload, type StopPlan } from './validate.js';

export type MigrateStep =
  /** Write down how the source will be stopped before touching it, so a restart finishes the same way. */
  | { kind: 'recordStop'; stop: SourceStop }
  /** Delete the source pod or scale its workload to 0, then record stoppedTime. */
  | { kind: 'stopSource' }
  /** Put the workload's labels on the restored pod, then record labelsHandedOverTime. */
  | { kind: 'handOverLabels' }
  /** Phase SourceStopped: the migration is complete. */
  | { kind: 'finish' }
  /** The restored pod stopped being Ready after the source was scaled down: scale it back up, then Failed. */
  | { kind: 'restartSource'; message: string }
  | { kind: 'wait'; message: string }
  /** Stopping the source would stop more than the checkpointed pod: Failed, nothing stopped. */
  | { kind: 'refuse'; reason: string; message: string };

export interface MigrateInput {
  status: CheckpointRestoreStatus;
  stop: StopPlan;
  /** Observed just now, not remembered: the source is stopped only while the copy really runs. */
  restoredReady: boolean;
  /** The checkpointed pod (its name and uid as recorded at checkpoint time) and where it runs. */
  source: { cluster: string; namespace: string; pod: string; podUid?: string };
  /** The workload's replicas now, for Scale (recorded so that a rollback restores them). */
  currentReplicas?: number;
  /** Where the workload (or pod template) runs now, for the same check as at validation. */
  workloadClusters?: string[];
}

function observedWorkload(i: MigrateInput): SourceWorkload {
  return {
    ...(i.currentReplicas !== undefined ? { replicas: i.currentReplicas } : {}),
    clusters: i.workloadClusters ?? [],
  };
}

/**
 * The Migrate sequence after Restored: record how the source stops, stop it, hand the labels over, finish.
 * Both pods never stop: the source is stopped only while the restored pod is observed Running and Ready, and if
 * the restored pod is lost before the labels move, a scaled source is scaled back up. Neither is left running by
 * mistake: a source the controller stopped stays stopped only once the restored pod has taken over.
 */
export function migrateStep(i: MigrateInput): MigrateStep {
  const s = i.status;
  const stop = s.sourceStop;
  if (!i.restoredReady) {
    if (stop?.stoppedTime && !stop.labelsHandedOverTime && stop.method === 'Scale')
      return {
        kind: 'restartSource',
        message: `the restored pod stopped being Ready before it took over; ${stop.workload?.kind} ${stop.workload?.name} scaled back to ${stop.workload?.replicas}`,
      };
    return {
      kind: 'wait',
      message: stop?.stoppedTime
        ? 'the source is stopped and the restored pod is not Ready; waiting for it to recover'
        : 'waiting for the restored pod to be Ready before stopping the source',
    };
  }
  if (!stop) {
    // Checked again right before anything is stopped: the workload may have been scaled out since validation.
    const refusal = stopsOnlyThePod(i.stop, observedWorkload(i), i.source);
    if (refusal) return { kind: 'refuse', reason: refusal.reason, message: refusal.message };
    return {
      kind: 'recordStop',
      stop: {
        cluster: i.source.cluster,
        namespace: i.source.namespace,
        pod: i.source.pod,
        ...(i.source.podUid ? { podUid: i.source.podUid } : {}),
        method: i.stop.method,
        ...(i.stop.method === 'Scale'
          ? { workload: { ...i.stop.workload, replicas: Math.max(1, i.currentReplicas ?? 1) } }
          : {}),
      },
    };
  }
  if (!stop.stoppedTime) return { kind: 'stopSource' };
  if (!stop.labelsHandedOverTime) return { kind: 'handOverLabels' };
  return { kind: 'finish' };
}
