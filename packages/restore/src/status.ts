import {
  isRestoreFinished,
  setCondition,
  type CheckpointRestore,
  type CheckpointRestoreStatus,
  type FreshCheckpoint,
  type RestoreMode,
  type RestorePhase,
} from '@stateful-migration/api';
import type { PhaseChange } from './phase.js';
import type { RestorePlan } from './validate.js';

// What a reconcile does with a CheckpointRestore, and the status each of its steps records, as pure functions of the
// object read (the shells write what these return, through writeStatus, which asks again on a 409). The Migrate
// steps after Restored are migrate.ts's.

type Status = CheckpointRestoreStatus;

/** The step a reconcile takes: one per phase, as status records it. */
export type RestoreStep = 'cleanUp' | 'start' | 'checkpoint' | 'follow' | 'migrate' | 'done';

/**
 * Deleted: clean up. Pending (or new), or Failed before anything was submitted with a spec changed since: start
 * (validate, then submit). A submitted restore follows its pod, whatever its spec says now: it keeps what it
 * submitted. Restored: Migrate goes on to stop the source. Otherwise it is done for this generation.
 */
export function restoreStep(r: Pick<CheckpointRestore, 'metadata' | 'spec' | 'status'>): RestoreStep {
  if (r.metadata.deletionTimestamp) return 'cleanUp';
  const phase = r.status?.phase;
  if (phase === 'Pending' && waitsForItsCheckpoint(r.status)) return 'checkpoint';
  if (!phase || phase === 'Pending' || changedBeforeSubmit(r)) return 'start';
  if (isRestoreFinished(phase, r.spec.mode ?? 'Restore')) return 'done';
  if (phase === 'Checkpointing') return 'checkpoint';
  return phase === 'Restored' ? 'migrate' : 'follow';
}

/**
 * A migration that asked for its checkpoint and submitted nothing yet: it never starts again, whatever its phase
 * says, since its source may be stopped, and a start would judge spec.backupRef and the target anew and forget the
 * checkpoint taken.
 */
function waitsForItsCheckpoint(s: CheckpointRestore['status']): boolean {
  return !!s?.checkpoint && !s.submittedTime;
}

/**
 * A Failed restore whose spec changed since, when nothing was submitted and no checkpoint asked for: it is tried
 * again. A migration that asked for its checkpoint is not: its source may be stopped already, and a second
 * checkpoint would be of whatever runs there now.
 */
function changedBeforeSubmit(r: Pick<CheckpointRestore, 'metadata' | 'status'>): boolean {
  const s = r.status;
  return (
    s?.phase === 'Failed' &&
    (s.observedGeneration ?? 0) < (r.metadata.generation ?? 0) &&
    !s.submittedTime &&
    !s.checkpoint
  );
}

/**
 * Checkpointing, recorded before the migration's CheckpointBackup is created (intent first): its name, the source
 * and the target, so a restarted controller waits for that one checkpoint and never asks for a second.
 */
export function checkpointingStatus(s: Status, c: FreshCheckpoint, generation: number): Status {
  const message = `checkpointing pod ${c.pod} in ${c.cluster} (CheckpointBackup ${c.backup}); the source stops right after its checkpoint, then it is restored into ${c.targetCluster}`;
  return {
    ...s,
    phase: 'Checkpointing',
    reason: 'Checkpointing',
    message,
    observedGeneration: generation,
    sourceCluster: c.cluster,
    checkpoint: c,
    conditions: setCondition(s.conditions, {
      type: 'Restored',
      status: 'False',
      reason: 'Checkpointing',
      message,
      observedGeneration: generation,
    }),
  };
}

/** The condition a migration records once its CheckpointBackup exists: from then on, its source may be stopped. */
export const CHECKPOINT_REQUESTED = 'CheckpointRequested';

/** Whether status says the migration's CheckpointBackup was created. */
export function checkpointRequested(s: Status | undefined): boolean {
  return !!s?.conditions?.some((c) => c.type === CHECKPOINT_REQUESTED && c.status === 'True');
}

/** Records that the migration's CheckpointBackup exists (so one that disappears is never made again). */
export function checkpointRequestedStatus(s: Status): Status {
  const c = s.checkpoint!;
  return {
    ...s,
    conditions: setCondition(s.conditions, {
      type: CHECKPOINT_REQUESTED,
      status: 'True',
      reason: 'CheckpointBackupCreated',
      message: `CheckpointBackup ${c.backup} checkpoints pod ${c.pod} in ${c.cluster} and stops it`,
      observedGeneration: s.observedGeneration ?? 0,
    }),
  };
}

/** The checkpoint taken and the source pod deleted after it: when, for the status and the guarantee it gives. */
export function checkpointTakenStatus(s: Status, checkpointTime: string | undefined, now: Date): Status {
  const c = s.checkpoint!;
  const message = `checkpointed pod ${c.pod} in ${c.cluster}${checkpointTime ? ` at ${checkpointTime}` : ''} and stopped it; restoring into ${c.targetCluster}`;
  return {
    ...s,
    message,
    conditions: setCondition(s.conditions, {
      type: 'SourceCheckpointed',
      status: 'True',
      reason: 'SourceStopped',
      message: `${message}: the restored pod will have ${stateGuarantee('Migrate', checkpointTime)}`,
      observedGeneration: s.observedGeneration ?? 0,
    }),
    checkpoint: {
      ...c,
      ...(checkpointTime ? { checkpointTime } : {}),
      sourceStoppedTime: c.sourceStoppedTime ?? now.toISOString(),
    },
  };
}

/** Whether status says this phase and message already: then nothing is written again, and no Event sent. */
export function alreadySays(s: Status | undefined, phase: RestorePhase, message: string): boolean {
  return s?.phase === phase && s.message === message;
}

/** Failed, with the reason and message, the time, and the Restored condition False. */
export function failedStatus(
  s: Status,
  reason: string,
  message: string,
  generation: number,
  now: Date,
): Status {
  return {
    ...s,
    phase: 'Failed',
    reason,
    message,
    observedGeneration: generation,
    completionTime: now.toISOString(),
    conditions: setCondition(s.conditions, {
      type: 'Restored',
      status: 'False',
      reason,
      message,
      observedGeneration: generation,
    }),
  };
}

/** What each mode guarantees about the restored state, for messages and conditions (ADR 0006). */
export function stateGuarantee(mode: RestoreMode, checkpointTime?: string): string {
  return mode === 'Migrate'
    ? `the state the source had when it stopped, right after its checkpoint${checkpointTime ? ` at ${checkpointTime}` : ''}`
    : "the state of the backup's checkpoint; the source keeps running";
}

export function submitMessage(p: RestorePlan): string {
  return `restoring ${p.source.namespace}/${p.source.name} from ${p.sourceCluster} into ${p.targetCluster} as ${p.namespace}/${p.podName}`;
}

/**
 * RestoreSubmitted, recorded before anything is created (intent first): the source cluster, the target, the pod's
 * name and the images by digest, so a restarted controller creates the same pod.
 */
export function submittedStatus(s: Status, p: RestorePlan, generation: number, now: Date): Status {
  const message = submitMessage(p);
  return {
    ...s,
    phase: 'RestoreSubmitted',
    reason: 'Submitted',
    message,
    observedGeneration: generation,
    sourceCluster: p.sourceCluster,
    restoredPod: {
      cluster: p.targetCluster,
      namespace: p.namespace,
      name: p.podName,
      ...(p.targetNode ? { node: p.targetNode } : {}),
    },
    images: p.images,
    submittedTime: now.toISOString(),
    conditions: setCondition(s.conditions, {
      type: 'Restored',
      status: 'False',
      reason: 'Submitted',
      message,
      observedGeneration: generation,
    }),
  };
}

/**
 * The status of a phase nextPhase found: the node the pod runs on once Restored, the times (a Restore is complete
 * at Restored, a Migrate only once the source is stopped), the Restored condition (not for RestoreInProgress).
 */
export function changedStatus(
  s: Status,
  change: PhaseChange,
  i: { mode: RestoreMode; generation: number; now: Date; node?: string },
): Status {
  const now = i.now.toISOString();
  const complete = change.phase === 'Failed' || (change.phase === 'Restored' && i.mode === 'Restore');
  // Restored says which state the pod has: the backup's checkpoint (Restore) or the source's last (Migrate).
  const message =
    change.phase === 'Restored'
      ? `${change.message}, with ${stateGuarantee(i.mode, s.checkpoint?.checkpointTime)}`
      : change.message;
  return {
    ...s,
    phase: change.phase,
    reason: change.reason,
    message,
    ...(i.node ? { restoredPod: { ...s.restoredPod!, node: i.node } } : {}),
    ...(change.phase === 'Restored' ? { restoredTime: now } : {}),
    ...(complete ? { completionTime: now } : {}),
    conditions:
      change.phase === 'RestoreInProgress'
        ? s.conditions
        : setCondition(s.conditions, {
            type: 'Restored',
            status: change.phase === 'Restored' ? 'True' : 'False',
            reason: change.reason,
            message,
            observedGeneration: i.generation,
          }),
  };
}

/** The Event of a phase change: a Warning with the failure's reason, or Normal with the phase. */
export function changeEvent(change: PhaseChange): { type: 'Normal' | 'Warning'; reason: string } {
  return change.phase === 'Failed'
    ? { type: 'Warning', reason: change.reason }
    : { type: 'Normal', reason: change.phase };
}
