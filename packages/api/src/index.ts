export {
  API_GROUP,
  API_VERSION,
  KIND,
  PLURAL,
  SHORT_NAME,
  SYSTEM_NAMESPACE,
  DEFAULT_REGISTRY_SECRET,
  podNamespace,
  registrySecret,
  type BackupPlacement,
  type BuiltImage,
  type ClusterAffinity,
  type ClusterStatus,
  type LabelSelector,
  type CheckpointBackup,
  type CheckpointBackupSpec,
  type CheckpointBackupStatus,
  type CheckpointFile,
  type Condition,
  type ContainerRef,
  type Encryption,
  type ObjectRef,
  type PublicKeysRef,
  type Registry,
  type RunStatus,
  type ResourceRef,
} from './checkpoint-backup.js';
export { checkpointBackupCrd } from './crd.js';
export { MAX_BUILT_IMAGES_PER_CONTAINER, boundBuiltImages, withBuiltImages } from './built-images.js';
export {
  PINNED_IMAGES_ANNOTATION,
  RESTORE_PINNED_IMAGES_ANNOTATION,
  parseSize,
  pinnedImages,
  type RetentionPolicy,
} from './checkpoint-backup.js';
export {
  AGGREGATE_ONLY_PHASES,
  type AggregatePhase,
  PHASES,
  FINISHED_PHASES,
  isFinished,
  isPhase,
  phaseRank,
  type Phase,
} from './phases.js';
export { IMMEDIATELY, parseSchedule, type Schedule } from './schedule.js';
export { isTimeZone, nextTick } from './cron.js';
export { setCondition } from './conditions.js';

// --- CheckpointRestore (issue 5) ---
export {
  RESTORE_KIND,
  RESTORE_PLURAL,
  RESTORE_SHORT_NAME,
  RESTORE_MODES,
  RESTORE_PHASES,
  isRestoreFinished,
  type CheckpointRestore,
  type CheckpointRestoreSpec,
  type CheckpointRestoreStatus,
  type CleanupSkipped,
  type RestoreImage,
  type RestoreMode,
  type RestorePhase,
  type RestorePlacement,
  type RestoredPodRef,
  type SourceStop,
  type FreshCheckpoint,
  type RestoredReplica,
  type WorkloadMigration,
} from './checkpoint-restore.js';
export { checkpointRestoreCrd } from './restore-crd.js';
export { checkpointedPodSchema } from './crd.js';
export type { CheckpointedContainer, CheckpointedPod } from './checkpoint-backup.js';
export { matchesLabelSelector } from './selector.js';

// --- What a node's container runtime allows (published by the agent, read by the restore controller) ---
export {
  CHECKPOINT_RESTORE_LABEL,
  CHECKPOINT_RESTORE_SETTINGS,
  RESTORE_ALLOWED,
  UNKNOWN_SETTING,
  DECRYPTION_KEYS_ANNOTATION,
  CRIO_DECRYPTION_KEYS_PATH,
  ARCHIVE_DIGESTS_ANNOTATION,
  formatArchiveDigests,
  parseArchiveDigests,
  isCheckpointRestoreSetting,
  type CheckpointRestoreSetting,
  type PublishedSetting,
} from './node-runtime.js';

// --- Tenancy and credentials (issue 11): what an object may point at, for admission, agent, hub and restore ---
export {
  CROSS_NAMESPACE,
  DEFAULT_SECRET_NOT_FOR_REGISTRY,
  DEFAULT_SECRET_NOT_FOR_REPOSITORY,
  NAMESPACED_REFS,
  crossNamespaceMessage,
  crossNamespaceRef,
  INVALID_REFERENCE_NAME,
  invalidNameRefusal,
  isObjectName,
  ownNamespaceRule,
  normalHost,
  parseRegistryHosts,
  refusal,
  registryCredentials,
  type NamespacedRef,
  type Refusal,
  type RegistryCredentials,
} from './tenancy.js';
export { OWN_NAMESPACE_POLICY, ownNamespaceAdmissionPolicy } from './admission-policy.js';

// --- Workload-level backups (issue 13) ---
export {
  POD_REF_REQUIRED,
  STOP_POD_OF_WORKLOAD,
  MIGRATION_OWNER_LABEL,
  WORKLOAD_BACKUP_LABEL,
  WORKLOAD_KINDS,
  WORKLOAD_MESSAGES,
  isWorkloadBackup,
  podName,
  workloadCelRules,
  workloadRefusal,
  type ReplicaStatus,
  type WorkloadKind,
} from './workload.js';

// --- State kept through evictions and cluster failovers (issue 16) ---
export {
  FAILOVER_NEEDS_SCHEDULE,
  KEEP_STATE_LIMITS,
  KEEP_STATE_MESSAGES,
  KEEP_STATE_NEEDS_REGISTRY,
  KEEP_STATE_NEEDS_WORKLOAD,
  keepStateCelRules,
  keepStateRefusal,
  keepStateSettings,
  type KeepState,
} from './keep-state.js';
export {
  FRESH_REASONS,
  failoverReplicasInto,
  type FailoverRecord,
  type FailoverReplica,
  type FreshReason,
} from './failover.js';
export {
  HUB_USER,
  HUB_WEBHOOK_POLICY,
  HUB_WEBHOOK_POLICY_PATH,
  HUB_WEBHOOK_ROUTES,
  HubWebhookPolicyMissing,
  hubWebhookOwner,
  hubWebhookPolicy,
  missingHubWebhookPolicy,
  ownedBy,
  readHubWebhookOwner,
  type OwnerReference,
} from './hub-webhook-policy.js';
export { MAX_LABEL_VALUE, MAX_OBJECT_NAME, bounded, labelValue, objectName } from './bounded-names.js';
