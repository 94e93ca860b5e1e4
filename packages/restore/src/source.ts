import type {
  BuiltImage,
  CheckpointBackup,
  CheckpointBackupStatus,
  CheckpointedPod,
} from '@stateful-migration/api';

/** One member's result for a hub CheckpointBackup: what restore reads to find the checkpoint and its images. */
export interface BackupCluster {
  name: string;
  phase?: string;
  message?: string;
  lastCheckpointTime?: string;
  builtImages?: BuiltImage[];
  checkpointedPod?: CheckpointedPod;
}

/** The Karmada ResourceBinding of a CheckpointBackup, as far as restore reads it. */
export interface BackupBinding {
  status?: { aggregatedStatus?: { clusterName: string; status?: CheckpointBackupStatus }[] };
}

/**
 * The per-cluster results of a hub CheckpointBackup. The hub copies each member's status into status.clusters[]
 * (the contract with issue 4); until it has (or when it does not run), the ResourceBinding's aggregatedStatus,
 * which Karmada fills from the members through the ResourceInterpreterCustomization, holds the same data.
 */
export function backupClusters(backup: CheckpointBackup, binding?: BackupBinding): BackupCluster[] {
  const fromHub = (backup.status as { clusters?: BackupCluster[] } | undefined)?.clusters;
  if (fromHub?.length) return fromHub;
  return (binding?.status?.aggregatedStatus ?? []).map((s) => ({
    name: s.clusterName,
    ...(s.status?.phase ? { phase: s.status.phase } : {}),
    ...(s.status?.message ? { message: s.status.message } : {}),
    ...(s.status?.lastCheckpointTime ? { lastCheckpointTime: s.status.lastCheckpointTime } : {}),
    ...(s.status?.builtImages ? { builtImages: s.status.builtImages } : {}),
    ...(s.status?.checkpointedPod ? { checkpointedPod: s.status.checkpointedPod } : {}),
  }));
}
