import { pullSecret } from '@stateful-migration/restore';
import type { CheckpointBackup } from '@stateful-migration/api';
import { kubectl } from '../fed/kubectl.js';
import { applyBackup, registryInfo, registrySecret, runPod, waitPhase } from './agent-support.js';

/** A dockerconfigjson pull secret for the federation's registry in `cluster`, sent on stdin (never argv). */
export async function pullSecretIn(
  cluster: string,
  ns: string,
  name: string,
  user: { username: string; password: string },
): Promise<void> {
  await kubectl(
    cluster,
    ['apply', '-f', '-'],
    JSON.stringify(pullSecret(name, ns, registryInfo().url, user, {})),
  );
}

/** A pod running on member1's m1-a checkpointed into the registry (as alice); resolves to the finished backup. */
export async function pushedCheckpoint(
  ns: string,
  name: string,
  containers = ['app'],
): Promise<CheckpointBackup> {
  const info = registryInfo();
  await registrySecret(ns, `${name}-creds`, info.users[0]!);
  const pod = await runPod('member1', ns, name, 'm1-a', containers);
  await applyBackup(ns, name, pod, { url: info.url, repository: `e2e/${ns}`, secret: `${name}-creds` });
  const b = await waitPhase('member1', ns, name, ['Completed', 'Failed']);
  if (b.status?.phase !== 'Completed')
    throw new Error(`backup ${name}: ${b.status?.phase}: ${b.status?.message}`);
  return b;
}

/** The first waiting reason of a pod's containers, or "Running/Ready" once it runs. */
export async function podState(cluster: string, ns: string, name: string): Promise<string> {
  const out = await kubectl(cluster, [
    'get',
    'pod',
    name,
    '-n',
    ns,
    '-o',
    'jsonpath={.status.phase}/{.status.conditions[?(@.type=="Ready")].status}/{.status.containerStatuses[*].state.waiting.reason}',
  ]);
  const [phase, ready, waiting] = out.split('/');
  return waiting ? waiting.split(' ')[0]! : `${phase}/${ready === 'True' ? 'Ready' : 'NotReady'}`;
}

/** The counts a counter container (e2e/images/counter.c) printed, read with kubectl logs as a user would. */
export async function counterCounts(
  cluster: string,
  ns: string,
  pod: string,
): Promise<{ n: number; mark: string }[]> {
  const out = await kubectl(cluster, ['logs', '-n', ns, pod, '-c', 'counter']);
  return out
    .split('\n')
    .map((l) => /^count (\d+)(?: mark=(.*))?$/.exec(l))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => ({ n: Number(m[1]), mark: m[2] ?? '' }));
}
