/** Test helpers shared by the e2e cases. */
import { kubectl } from '../fed/kubectl.js';

export { eventually, unique } from '@stateful-migration/kube/testing';

/**
 * The hub's shared PropagationPolicy a CheckpointBackup on the Karmada apiserver is in: the name its label
 * `hub.migration.dcnlab.com/policy` carries, '' when it is in none.
 */
export async function hubPolicyOf(namespace: string, name: string): Promise<string> {
  const label = '{.metadata.labels.hub\\.migration\\.dcnlab\\.com/policy}';
  return (await kubectl('karmada', ['get', 'cpb', name, '-n', namespace, '-o', `jsonpath=${label}`])).trim();
}
