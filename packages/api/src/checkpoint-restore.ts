import type { API_VERSION, CheckpointBackup, ClusterAffinity, Condition } from './checkpoint-backup.js';

export const RESTORE_KIND = 'CheckpointRestore';
export const RESTORE_PLURAL = 'checkpointrestores';
export const RESTORE_SHORT_NAME = 'cpr';

/** Restore brings the checkpoint back beside the source; Migrate also stops the source once the copy runs. */
export const RESTORE_MODES = ['Restore', 'Migrate'] as const;
export type RestoreMode = (typeof RESTORE_MODES)[number];

/** The phases of a CheckpointRestore, in the order a restore passes through them (Failed can end any of them). */
export const RESTORE_PHASES = [
  'Pending',
  'RestoreSubmitted',
  'RestoreInProgress',
  'Restored',
  'SourceStopped',
  'Failed',
] as const;
export type RestorePhase = (typeof RESTORE_PHASES)[number];

/** Phases after which the controller does nothing more for a generation. */
export function isRestoreFinished(phase: RestorePhase | undefined, mode: RestoreMode): boolean {
  return phase === 'Failed' || phase === 'SourceStopped' || (mode === 'Restore' && phase === 'Restored');
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
  /** Default: the latest pushed image of every checkpointed container. */
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
  conditions?: Condition[];
}

export interface CheckpointRestore {
  apiVersion: typeof API_VERSION;
  kind: typeof RESTORE_KIND;
  metadata: CheckpointBackup['metadata'];
  spec: CheckpointRestoreSpec;
  status?: CheckpointRestoreStatus;
}
