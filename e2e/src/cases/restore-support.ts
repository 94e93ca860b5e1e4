import { spawn, type ChildProcess } from 'node:child_process';
import { pullSecret } from '@stateful-migration/restore';
import type { CheckpointBackup } from '@stateful-migration/api';
import { kubectl } from '../fed/kubectl.js';
import { binary, kubeconfigPath } from '../fed/paths.js';
import { eventually } from './support.js';
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

/** The first two counts of a restored counter, once it has printed them (it goes on from its checkpoint). */
export function firstCounts(
  cluster: string,
  ns: string,
  pod: string,
): Promise<{ n: number; mark: string }[]> {
  return eventually(
    async () => {
      const got = await counterCounts(cluster, ns, pod);
      return got.length >= 2 ? got : undefined;
    },
    60_000,
    `${pod} in ${cluster} to print two counts`,
  );
}

/** Resolves once no pod labelled app=counter is left in the cluster's namespace (one counter after a Migrate). */
export function noCounterLeft(cluster: string, ns: string): Promise<true> {
  return eventually(
    async () =>
      (await kubectl(cluster, ['get', 'pods', '-n', ns, '-l', 'app=counter', '-o', 'name'])).trim() === ''
        ? true
        : undefined,
    60_000,
    `no counter left in ${cluster}`,
  );
}

/**
 * Follows a counter's log (`kubectl logs -f`) until its pod ends: `last()` is the last count it printed so far, `ended`
 * resolves with the last one once the pod is gone, which is the state a checkpoint taken before its end can at most have.
 */
export function followCounter(
  cluster: string,
  ns: string,
  pod: string,
): { proc: ChildProcess; last: () => number | undefined; ended: Promise<number | undefined> } {
  const proc = spawn(binary('kubectl'), [
    `--kubeconfig=${kubeconfigPath(cluster)}`,
    'logs',
    '-f',
    '-n',
    ns,
    pod,
    '-c',
    'counter',
  ]);
  let log = '';
  proc.stdout!.on('data', (b: Buffer) => (log += b.toString()));
  const last = () =>
    log
      .split('\n')
      .map((l) => /^count (\d+)/.exec(l))
      .filter((m): m is RegExpExecArray => !!m)
      .map((m) => Number(m[1]))
      .at(-1);
  return { proc, last, ended: new Promise((resolve) => proc.on('close', () => resolve(last()))) };
}
