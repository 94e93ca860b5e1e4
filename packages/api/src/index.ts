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
  type ObjectRef,
  type Registry,
  type RunStatus,
  type ResourceRef,
} from './checkpoint-backup.js';
export { checkpointBackupCrd } from './crd.js';
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
