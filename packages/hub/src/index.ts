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
