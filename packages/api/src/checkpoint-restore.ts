import type { API_VERSION, CheckpointBackup, ClusterAffinity, Condition } from './checkpoint-backup.js';

export const RESTORE_KIND = 'CheckpointRestore';
export const RESTORE_PLURAL = 'checkpointrestores';
export const RESTORE_SHORT_NAME = 'cpr';

/**
 * Restore brings an existing checkpoint back beside the source, which keeps running: the copy has the state of the
 * backup's checkpoint time. Migrate takes a fresh checkpoint of the source now, stops the source pod right after it,
 * and restores exactly that checkpoint: the copy goes on from the state the source had when it stopped.
 */
export const RESTORE_MODES = ['Restore', 'Migrate'] as const;
export type RestoreMode = (typeof RESTORE_MODES)[number];

/** The phases of a CheckpointRestore, in the order a restore passes through them (Failed can end any of them). */
export const RESTORE_PHASES = [
  'Pending',
  /** Migrate only: a fresh checkpoint of the source is being taken (status.checkpoint), the source stopped after it. */
  'Checkpointing',
  'RestoreSubmitted',
  'RestoreInProgress',
  'Restored',
  'SourceStopped',
  /** A workload migration given back to the user's policy (spec.rollback): its pods there again, from the checkpoints. */
  'RolledBack',
  'Failed',
] as const;
export type RestorePhase = (typeof RESTORE_PHASES)[number];

/** Phases after which the controller does nothing more for a generation. */
export function isRestoreFinished(phase: RestorePhase | undefined, mode: RestoreMode): boolean {
  return (
    phase === 'Failed' ||
    phase === 'SourceStopped' ||
    phase === 'RolledBack' ||
    (mode === 'Restore' && phase === 'Restored')
  );
}

/** Annotation on a CheckpointBackup: comma-separated image refs that restores use; retention keeps them. */
export { RESTORE_PINNED_IMAGES_ANNOTATION } from './checkpoint-backup.js';

export interface RestorePlacement {
  clusterAffinity: ClusterAffinity;
}

export interface RestoreImage {
  containerName: string;
  /** Image reference; a digest reference (repo@sha256:...) once resolved. */
  image: string;
}

export interface CheckpointRestoreSpec {
  /** A CheckpointBackup in the same namespace. */
  backupRef: { name: string };
  /**
   * Restore only. Default: the latest pushed image of every checkpointed container. Migrate restores the images of
   * the checkpoint it takes, and refuses this field.
   */
  images?: RestoreImage[];
  /** The member cluster to restore into; or placement, which must pick exactly one cluster. */
  targetCluster?: string;
  placement?: RestorePlacement;
  /** Pin the restored pod to this node. */
  targetNode?: string;
  /** @default Restore */
  mode?: RestoreMode;
  /** Name of the restored pod. Default <source pod>-restored. */
  podName?: string;
  /** Seconds the restored pod may take to run before the restore fails. @default 300 */
  timeoutSeconds?: number;
  /**
   * A workload migration only: give the workload back to the user's own policy (the migration's policy is deleted),
   * its pods there coming up from the migration's checkpoints. What deleting the CheckpointRestore does, while
   * keeping its record; a restored state rather than fresh pods.
   */
  rollback?: boolean;
}

export interface RestoredPodRef {
  cluster: string;
  namespace: string;
  name: string;
  /** The uid of the pod this restore created on the Karmada control plane: a pod of that name with another is not its. */
  uid?: string;
  node?: string;
}

/** How Migrate stops the source, recorded before acting so a restarted controller finishes the same way. */
export interface SourceStop {
  cluster: string;
  namespace: string;
  /** DeletePod for a bare pod; Scale for a Deployment or StatefulSet (deleting its pod would only bring a new one). */
  method: 'DeletePod' | 'Scale';
  pod: string;
  /** The checkpointed pod's uid (status.checkpointedPod.uid): DeletePod deletes that pod only, never a replacement. */
  podUid?: string;
  /** Whether the workload (or pod) is a template on the Karmada control plane (acted on there) or lives only in the member (acted on through the cluster proxy). */
  onHub?: boolean;
  /** Workload scaled to 0, for method Scale. */
  workload?: { apiVersion: string; kind: string; name: string; replicas: number };
  /** Set once the source is stopped. */
  stoppedTime?: string;
  /** Set once the workload's labels are on the restored pod. */
  labelsHandedOverTime?: string;
}

/**
 * Migrate's fresh checkpoint: a one-off CheckpointBackup (schedule "immediately", stopPod) the restore controller
 * creates, owns and names here before creating it, so a restarted controller waits for the same one instead of taking
 * a second checkpoint.
 */
export interface FreshCheckpoint {
  /** The CheckpointBackup of this checkpoint, in the restore's namespace. */
  backup: string;
  /** The member cluster whose pod is checkpointed and stopped. */
  cluster: string;
  /** The pod checkpointed. */
  pod: string;
  /** The target cluster chosen when the migration began; the restore goes there whatever the spec says later. */
  targetCluster: string;
  requestedTime: string;
  /** When the checkpoint was taken (the run's start, as the agent recorded it); the restored state is of then. */
  checkpointTime?: string;
  /** Set once the agent reported the source pod deleted after the checkpoint. */
  sourceStoppedTime?: string;
}

/**
 * A workload migration (issue 13 item 3, docs/adr/0007): which workload moves, between which clusters, and how far.
 * Recorded before anything is created (intent first), so a restarted controller resumes from it.
 */
export interface WorkloadMigration {
  apiVersion: string;
  kind: 'Deployment' | 'StatefulSet';
  name: string;
  sourceCluster: string;
  targetCluster: string;
  /** spec.targetNode when the migration began: every pod in the target on that node. */
  targetNode?: string;
  /** The workload's replicas when the migration began: the fresh checkpoints it waits for. */
  replicas: number;
  /** The migration's PropagationPolicy (priority above the user's, preemption). */
  policy: string;
  /** Where the workload's pods come up from their checkpoints: the target; the source once rolled back. */
  into: string;
  /** Where no pod of the workload may run while those in `into` start: the source; the target once rolled back. */
  from: string;
  /** When the migration's policy was created (recorded just before its POST, intent first): Karmada may place the workload in the target from then on. */
  placedTime?: string;
  /** When `from` was seen running no pod of the workload: the scheduling gates in `into` are removed from then on. */
  fromStoppedTime?: string;
  /** When spec.rollback was acted on: the policy deleted, `into` and `from` swapped. */
  rollbackTime?: string;
}

/** One replica of a migrating workload: its checkpoint, and the pod that runs it in `into`. */
export interface RestoredReplica {
  /** The source pod whose checkpoint this is (a StatefulSet's ordinal is in its name). */
  name: string;
  ordinal?: number;
  /** Its checkpoint images, by digest. */
  images: RestoreImage[];
  checkpointTime?: string;
  /** The pod that runs this checkpoint in `into` (the webhook gave it; annotation migration.dcnlab.com/restored-from). */
  pod?: string;
  node?: string;
  phase: 'Pending' | 'Restoring' | 'Running' | 'Failed';
  reason?: string;
  message?: string;
}

/** A member whose part of a workload migration's clean-up was not done when it ended (it was unreachable). */
export interface CleanupSkipped {
  cluster: string;
  /** ClusterLost (nothing was done there) or GatesKept (the other member may still run the workload). */
  reason: string;
  message: string;
}

export interface CheckpointRestoreStatus {
  phase?: RestorePhase;
  message?: string;
  /** Machine-readable reason of the phase, e.g. ImagePullBackOff. */
  reason?: string;
  observedGeneration?: number;
  sourceCluster?: string;
  restoredPod?: RestoredPodRef;
  /** The images the restored pod runs, per container. */
  images?: RestoreImage[];
  submittedTime?: string;
  restoredTime?: string;
  completionTime?: string;
  sourceStop?: SourceStop;
  /** Migrate only: the fresh checkpoint taken for this migration. */
  checkpoint?: FreshCheckpoint;
  /** A workload migration (the backup covers a whole Deployment or StatefulSet). */
  workload?: WorkloadMigration;
  /** A workload migration: each replica, by the source pod whose checkpoint it runs. */
  replicas?: RestoredReplica[];
  /** A workload migration that ended or was deleted with a member unreachable: what was left there, and why. */
  cleanupSkipped?: CleanupSkipped[];
  conditions?: Condition[];
}

export interface CheckpointRestore {
  apiVersion: typeof API_VERSION;
  kind: typeof RESTORE_KIND;
  metadata: CheckpointBackup['metadata'];
  spec: CheckpointRestoreSpec;
  status?: CheckpointRestoreStatus;
}
