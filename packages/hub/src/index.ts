export {
  matches,
  place,
  type ClusterAffinity,
  type ClusterInfo,
  type LabelSelector,
  type Placement,
  type PlacementInput,
} from './backups/placement.js';
export {
  aggregateStatus,
  clusterStatus,
  type AggregateInput,
  type ClusterHealth,
  type MemberReport,
} from './backups/aggregate.js';
export {
  BackupController,
  type BackupControllerOptions,
  type RegistrySecrets,
} from './backups/controller.js';
export { hubControllers, runHub, type Hub, type HubFlags, type HubOptions } from './main.js';
export { SecretController, type SecretControllerOptions } from './secrets/controller.js';
export { HubMetrics } from './metrics.js';
export { HUB_FINALIZER, MANAGED_BY } from './policies.js';
export { selectsBackup } from './backups/policy.js';
export { POLICY_LABEL, sharedPolicy, sharedPolicyName } from './backups/sharing.js';
export { secretPolicy, secretPolicyName, secretReaderBinding, secretReaderRole } from './secrets/reader.js';
export {
  decideFailover,
  sameMove,
  type BindingSpec,
  type FailoverDecision,
  type FailoverInput,
  type GracefulEvictionTask,
} from './failover/decide.js';
