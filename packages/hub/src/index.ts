export {
  matches,
  place,
  policyName,
  type ClusterAffinity,
  type ClusterInfo,
  type LabelSelector,
  type Placement,
  type PlacementInput,
} from './placement.js';
export {
  aggregateStatus,
  clusterStatus,
  type AggregateInput,
  type ClusterHealth,
  type MemberReport,
} from './aggregate.js';
export { HubController, HUB_FINALIZER, type HubOptions } from './controller.js';
export { runHub, type HubFlags } from './main.js';
export { HubMetrics } from './metrics.js';
export {
  MANAGED_BY,
  backupPolicy,
  secretPolicy,
  secretPolicyName,
  secretReaderBinding,
  secretReaderRole,
  selectsBackup,
} from './policies.js';
