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
  type BuiltImage,
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
  PINNED_IMAGES_ANNOTATION,
  RESTORE_PINNED_IMAGES_ANNOTATION,
  parseSize,
  pinnedImages,
  type RetentionPolicy,
} from './checkpoint-backup.js';
export { PHASES, FINISHED_PHASES, isFinished, isPhase, phaseRank, type Phase } from './phases.js';
export { IMMEDIATELY, parseSchedule, type Schedule } from './schedule.js';
export { isTimeZone, nextTick } from './cron.js';
