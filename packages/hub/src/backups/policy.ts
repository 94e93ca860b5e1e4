import { API_VERSION, KIND } from '@stateful-migration/api';
import { isHubOwned, type PropagationPolicy } from '../policies.js';
import { matches } from './placement.js';

/** Whether a user's PropagationPolicy or ClusterPropagationPolicy selects a CheckpointBackup. */
export function selectsBackup(
  p: PropagationPolicy,
  b: { metadata: { name: string; namespace: string; labels?: Record<string, string> } },
): boolean {
  if (isHubOwned(p)) return false;
  if (p.kind === 'PropagationPolicy' && p.metadata.namespace !== b.metadata.namespace) return false;
  return p.spec.resourceSelectors.some(
    (s) =>
      s.apiVersion === API_VERSION &&
      s.kind === KIND &&
      (!s.namespace || p.kind === 'PropagationPolicy' || s.namespace === b.metadata.namespace) &&
      (!s.name || s.name === b.metadata.name) &&
      (!s.labelSelector || matches(s.labelSelector, b.metadata.labels ?? {})),
  );
}

/**
 * Whether a policy is the hub's per-object policy of this CheckpointBackup from before policies were shared
 * (`checkpointbackup-<name>`, selecting it by name): an upgraded hub deletes it once the object has joined its shared
 * policy.
 */
export function legacyPolicyOf(
  p: PropagationPolicy,
  b: { metadata: { name: string; namespace: string } },
): boolean {
  return (
    isHubOwned(p) &&
    p.metadata.namespace === b.metadata.namespace &&
    p.spec.resourceSelectors.some((s) => s.kind === KIND && s.name === b.metadata.name)
  );
}
