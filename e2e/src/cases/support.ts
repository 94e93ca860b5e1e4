/** Test helpers shared by the e2e cases. */
import { kubectl } from '../fed/kubectl.js';

import { eventually } from '@stateful-migration/kube/testing';

export { eventually, unique } from '@stateful-migration/kube/testing';

/** What a pod's container on member1 printed, once it has printed its last line (`done`). */
export async function printed(
  ns: string,
  pod: string,
  container?: string,
  timeoutMs = 60_000,
): Promise<string> {
  return eventually(
    async () => {
      const out = await kubectl('member1', [
        'logs',
        '-n',
        ns,
        pod,
        ...(container ? ['-c', container] : []),
      ]).catch(() => '');
      return /^done$/m.test(out) ? out : undefined;
    },
    timeoutMs,
    `${pod} printing what it sees`,
  );
}

/** Creates a pod on member1 from its spec (the cases that look at what a stand-in node gives a pod). */
export async function applyPod(ns: string, name: string, spec: Record<string, unknown>): Promise<void> {
  await kubectl(
    'member1',
    ['apply', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns }, spec }),
  );
}

/** The value of a `key=value` line a pod printed. */
export const field = (out: string, key: string): string | undefined =>
  new RegExp(`^${key}=(.*)$`, 'm').exec(out)?.[1];

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

/**
 * The object's Events once `has` holds for them. Events are written in the background after the status write that
 * announces them (EventRecorder.emit, as client-go's recorder), so a test that saw the status waits for the Event.
 */
export function eventsWhen(
  cluster: string,
  ns: string,
  name: string,
  has: (events: ObjectEvent[]) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<ObjectEvent[]> {
  return eventually(
    async () => {
      const events = await eventsOf(cluster, ns, name);
      return has(events) ? events : undefined;
    },
    timeoutMs,
    `${what} (Events of ${ns}/${name} in ${cluster})`,
  );
}

/** The object's Events once every reason in `want` is among them (see eventsWhen). */
export function eventsWithReasons(
  cluster: string,
  ns: string,
  name: string,
  want: string[],
): Promise<ObjectEvent[]> {
  return eventsWhen(
    cluster,
    ns,
    name,
    (ev) => want.every((r) => ev.some((e) => e.reason === r)),
    `Events ${want.join(', ')}`,
  );
}

/** The reasons of the object's Events, space-separated, once every reason in `want` is among them (see eventsWhen). */
export async function reasonsWhen(
  cluster: string,
  ns: string,
  name: string,
  want: string[],
): Promise<string> {
  return (await eventsWithReasons(cluster, ns, name, want)).map((e) => e.reason).join(' ');
}
