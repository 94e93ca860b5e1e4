export { backupClusters, type BackupBinding, type BackupCluster } from './source.js';
export {
  validate,
  byDigest,
  type ClusterView,
  type Refusal,
  type RestorePlan,
  type StopPlan,
  type ValidateInput,
  type Verdict,
} from './validate.js';
export {
  ANNOTATION,
  RESTORE_LABEL,
  handoverLabels,
  pullSecret,
  pullSecretName,
  restoredPod,
  type PodManifest,
  type RestoreRef,
} from './pod.js';
export {
  FAILING_REASONS,
  nextPhase,
  runningAndReady,
  type ObservedPod,
  type PhaseChange,
  type PodStatus,
} from './phase.js';
export {
  TARGET_CANNOT_RESTORE,
  TARGET_NODE_NOT_FOUND,
  TARGET_NODES_UNKNOWN,
  checkTargetNodes,
  nodesUnknownMessage,
  nodeView,
  type KubeNode,
  type NodeView,
} from './target-nodes.js';
export { migrateStep, type MigrateInput, type MigrateStep } from './migrate.js';
export {
  checkpointBackupName,
  checkpointProgress,
  freshBackup,
  freshBackupName,
  migrateIntent,
  type CheckpointProgress,
  type MigrateIntent,
} from './fresh-checkpoint.js';
export {
  scalePath,
  scaleReads,
  scaleReplicas,
  scaleRequest,
  type Scale,
  type ScaleRequest,
} from './scale.js';
export { restoreStep, type RestoreStep } from './status.js';
export { pin, unpin } from './pins.js';
export {
  RestoreController,
  RESTORE_FINALIZER,
  restorePolicyName,
  type RestoreOptions,
} from './controller.js';

// --- Workload migration through Karmada (issue 13 item 3; pure parts, docs/adr/0007) ---
export {
  RESTORED_FROM_ANNOTATION,
  SOURCE_STOPPED_GATE,
  checkpointFor,
  migrationPolicy,
  migrationPolicyName,
  podPatch,
  type AdmittedPod,
  type Assignment,
  type CompetingPolicy,
  type Workload,
} from './workload/migration.js';
export {
  admitPod,
  ownerWorkload,
  type AdmissionRequest,
  type AdmissionResponse,
  type MigrationInto,
} from './workload/admission.js';
export { AdmissionServer, type AdmissionHandler } from './admission/server.js';
export { PodMutations, restoredInCluster } from './admission/pods.js';
export {
  PODS_ROUTE,
  webhookConfigName,
  webhookConfiguration,
  type WebhookEndpoint,
} from './workload/webhook-config.js';
export { sweptOwner, type WebhookConfigView } from './workload/sweep.js';
