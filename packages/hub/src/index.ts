export {
  matches,
  place,
  policyName,
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
export { HubController, HUB_FINALIZER, type HubOptions } from './controller.js';
export { runHub, type HubFlags } from './main.js';
export { HubMetrics } from './metrics.js';
export { MANAGED_BY } from './policies.js';
export { backupPolicy, selectsBackup } from './backups/policy.js';
export { secretPolicy, secretPolicyName } from './secrets/reader.js';
