import { API_VERSION, KIND } from '@stateful-migration/api';
import { isHubOwned, MANAGED_BY, POLICY_API_VERSION, type PropagationPolicy } from '../policies.js';
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

/** Whether a policy is the hub's own for this CheckpointBackup. */
export function ownPolicyOf(
  p: PropagationPolicy,
  b: { metadata: { name: string; namespace: string } },
): boolean {
  return (
    isHubOwned(p) &&
    p.metadata.namespace === b.metadata.namespace &&
    p.spec.resourceSelectors.some((s) => s.kind === KIND && s.name === b.metadata.name)
  );
}

/** The hub's policy for one CheckpointBackup: that object by name, to exactly these clusters. */
export function backupPolicy(
  name: string,
  namespace: string,
  backup: string,
  clusters: string[],
): PropagationPolicy {
  return {
    apiVersion: POLICY_API_VERSION,
    kind: 'PropagationPolicy',
    metadata: { name, namespace, labels: { ...MANAGED_BY } },
    spec: {
      resourceSelectors: [{ apiVersion: API_VERSION, kind: KIND, name: backup }],
      placement: { clusterAffinity: { clusterNames: [...clusters].sort() } },
    },
  };
}
