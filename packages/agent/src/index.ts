export { AgentController, type AgentOptions } from './controller.js';
export { retentionFromFlags, runAgent, tokenHostsFromFlags, type AgentFlags } from './main.js';
export { plan, type Action, type PlanInput, type PodView } from './plan.js';
export { DEFAULT_RETENTION, decideRetention, resolveLimit, type RetentionDecision } from './retention.js';
export { RuntimePublisher, type RuntimePublisherOptions } from './runtime-publisher.js';
export {
  CHECKPOINT_RESTORE_LABEL,
  CHECKPOINT_RESTORE_SETTINGS,
  CrioConfigError,
  crioCheckpointRestore,
  labelPatch,
  readCrioCheckpointRestore,
  type CheckpointRestoreSetting,
  type PublishedSetting,
} from './runtime-setting.js';
