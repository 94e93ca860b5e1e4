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

export interface ObjectEvent {
  type: string;
  reason: string;
  message: string;
  source?: { component?: string; host?: string };
}

/** The Events about the object of that name in the namespace, on a cluster. */
export async function eventsOf(cluster: string, ns: string, name: string): Promise<ObjectEvent[]> {
  const out = await kubectl(cluster, [
    'get',
    'events',
    '-n',
    ns,
    '--field-selector',
    `involvedObject.name=${name}`,
    '-o',
    'json',
  ]);
  return (JSON.parse(out) as { items: ObjectEvent[] }).items;
}
