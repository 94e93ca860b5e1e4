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

/** The counts a counter printed and when (kubectl logs --timestamps): what notFromCheckpoint checks a copy against. */
export async function counterLines(cluster: string, ns: string, pod: string): Promise<CountLine[]> {
  return countLines(await kubectl(cluster, ['logs', '--timestamps', '-n', ns, pod, '-c', 'counter']));
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

/** Where a PropagationPolicy places its resources: these clusters, or affinities in order of preference (failover). */
export type Placement = string[] | { affinityName: string; clusterNames: string[] }[];

/** Lines of YAML, those that are not a string (an option left out) dropped. */
const yamlLines = (lines: (string | false | undefined)[]): string =>
  `${lines.filter((l): l is string => typeof l === 'string').join('\n')}\n`;

/** A user's PropagationPolicy `name` placing the apps/v1 `resources` by `placement`. */
export function propagationPolicyYaml(
  ns: string,
  name: string,
  resources: readonly { kind: 'Deployment' | 'StatefulSet'; name: string }[],
  placement: Placement,
): string {
  const clusters = (names: string[]) => `clusterNames: [${names.join(', ')}]`;
  return yamlLines([
    'apiVersion: policy.karmada.io/v1alpha1',
    'kind: PropagationPolicy',
    `metadata: {name: ${name}, namespace: ${ns}}`,
    'spec:',
    '  resourceSelectors:',
    ...resources.map((r) => `  - {apiVersion: apps/v1, kind: ${r.kind}, name: ${r.name}}`),
    ...(placement.every((p) => typeof p === 'string')
      ? [`  placement: {clusterAffinity: {${clusters(placement)}}}`]
      : [
          '  placement:',
          '    clusterAffinities:',
          ...placement.map((a) => `    - {affinityName: ${a.affinityName}, ${clusters(a.clusterNames)}}`),
        ]),
  ]);
}

export interface CounterWorkload {
  ns: string;
  kind: 'Deployment' | 'StatefulSet';
  /** The workload's name, its pods' label app=<name>, and a StatefulSet's serviceName. */
  name: string;
  /** @default 1 */
  replicas?: number;
  /** The node its pods are pinned to (kubernetes.io/hostname); unset: wherever the scheduler puts them. */
  node?: string;
  /** The counter's environment (e2e/images/counter.c: MARK_FILE, HOLD_MIB, INTERVAL_MS). */
  env?: Record<string, string>;
  /** A StatefulSet's pods made and removed all at once, not one ordinal after another. */
  parallel?: boolean;
  terminationGracePeriodSeconds?: number;
  /** The user's PropagationPolicy of this workload alone (named after it unless `name` is given); unset: none. */
  policy?: { name?: string; placement: Placement };
}

/**
 * A Deployment or StatefulSet of counters (one container `counter`, image registry.local/counter:1), followed by its
 * user's PropagationPolicy when `policy` is given: the workload the restore, migration and failover cases move.
 */
export function counterWorkloadYaml(w: CounterWorkload): string {
  const env = Object.entries(w.env ?? {}).map(([name, value]) => ({ name, value }));
  const workload = yamlLines([
    'apiVersion: apps/v1',
    `kind: ${w.kind}`,
    `metadata: {name: ${w.name}, namespace: ${w.ns}}`,
    'spec:',
    `  replicas: ${w.replicas ?? 1}`,
    w.kind === 'StatefulSet' && `  serviceName: ${w.name}`,
    w.parallel && '  podManagementPolicy: Parallel',
    `  selector: {matchLabels: {app: ${w.name}}}`,
    '  template:',
    `    metadata: {labels: {app: ${w.name}}}`,
    '    spec:',
    w.node !== undefined && `      nodeSelector: {kubernetes.io/hostname: ${w.node}}`,
    w.terminationGracePeriodSeconds !== undefined &&
      `      terminationGracePeriodSeconds: ${w.terminationGracePeriodSeconds}`,
    '      containers:',
    '      - name: counter',
    '        image: registry.local/counter:1',
    env.length > 0 && `        env: ${JSON.stringify(env)}`,
  ]);
  if (!w.policy) return workload;
  return `${workload}---\n${propagationPolicyYaml(w.ns, w.policy.name ?? w.name, [w], w.policy.placement)}`;
}

/** The workloads of the workload-level cases: a StatefulSet db and a Deployment web, each of counters. */
export const dbAndWeb = [
  { kind: 'StatefulSet', name: 'db' },
  { kind: 'Deployment', name: 'web' },
] as const;

/**
 * One counter (Deployment `counter`) on member1's node m1-a, writing its marks to /tmp/mark, placed in member1 by its
 * user's policy: the pod the real-runtime and encrypted-restore cases back up and move.
 */
export const markedCounterYaml = (ns: string): string =>
  counterWorkloadYaml({
    ns,
    kind: 'Deployment',
    name: 'counter',
    node: 'm1-a',
    env: { MARK_FILE: '/tmp/mark' },
    policy: { placement: ['member1'] },
  });
/** A count a counter printed, and when: its CRI log line's time (kubectl logs --timestamps), ms since the epoch. */
export interface CountLine {
  n: number;
  at: number;
}

/** The counts of `kubectl logs --timestamps` output (or a stream of it), in order. */
export function countLines(log: string): CountLine[] {
  return log
    .split('\n')
    .map((l) => /^(\S+) count (\d+)/.exec(l))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => ({ n: Number(m[2]), at: Date.parse(m[1]!) }));
}

/**
 * Follows a counter's log (`kubectl logs -f --timestamps`) until its pod ends: `lines()` is what it printed so far,
 * `last()` its last count, `ended` resolves with the last one once the pod is gone, which is the state a checkpoint
 * taken before its end can at most have.
 */
export function followCounter(
  cluster: string,
  ns: string,
  pod: string,
): {
  proc: ChildProcess;
  lines: () => CountLine[];
  last: () => number | undefined;
  ended: Promise<number | undefined>;
} {
  const proc = spawn(binary('kubectl'), [
    `--kubeconfig=${kubeconfigPath(cluster)}`,
    'logs',
    '-f',
    '--timestamps',
    '-n',
    ns,
    pod,
    '-c',
    'counter',
  ]);
  let log = '';
  proc.stdout!.on('data', (b: Buffer) => (log += b.toString()));
  const lines = () => countLines(log);
  const last = () => lines().at(-1)?.n;
  return { proc, lines, last, ended: new Promise((resolve) => proc.on('close', () => resolve(last()))) };
}

/** When the run of a checkpoint began (its startedAt), and a time by which it had ended (checkpointEnd). */
export interface CheckpointRun {
  start: string | undefined;
  end: string | undefined;
}

/**
 * Why a restored counter whose first count is `first` does not go on from the checkpoint of the counter whose log is
 * `source`, taken by a run that began at `run.start` (the run's startedAt, recorded before the runtime was asked: a
 * restore's checkpointTime) and had ended by `run.end` (checkpointEnd); undefined when it does.
 *
 * CRIU freezes the counter between two of its lines, and the copy goes on from the last one before the freeze: count
 * first-1 is a line the source printed, and the line after it, if the source printed one (after a leave-running
 * checkpoint it runs on until it is stopped), came after the run began; first-1 came before the run ended. A fresh
 * start (first-1 never printed), a restore of an older checkpoint (first printed before the run began), of a later
 * one (first-1 printed after the run ended) or of another replica's state fails, however many lines the source
 * printed between its checkpoint and its stop (that depends on the machine's load).
 */
export function notFromCheckpoint(
  first: number,
  source: readonly CountLine[],
  run: CheckpointRun,
): string | undefined {
  const runStart = run.start;
  const printed = source.length ? `${source[0]!.n}..${source.at(-1)!.n}` : 'nothing';
  if (!runStart) return 'no checkpoint time recorded';
  if (!source.some((l) => l.n === first - 1))
    return `starts at ${first}, but its source never printed ${first - 1} (it printed ${printed})`;
  const next = source.find((l) => l.n === first);
  if (next && next.at < Date.parse(runStart))
    return (
      `starts at ${first}, but its source printed ${first} at ${new Date(next.at).toISOString()}, before the ` +
      `checkpoint began at ${runStart}: the state of an older checkpoint`
    );
  // The freeze came before the run ended: a count printed after that (first-1 of a source that ran on) is a state
  // only a later checkpoint has.
  if (!run.end) return 'no checkpoint end recorded';
  const before = source.find((l) => l.n === first - 1)!;
  if (before.at > Date.parse(run.end))
    return (
      `starts at ${first}, but its source printed ${first - 1} at ${new Date(before.at).toISOString()}, after the ` +
      `checkpoint ended at ${run.end}: the state of a later checkpoint`
    );
  return undefined;
}

/**
 * When a checkpoint's run had ended, from its images: each is built from an archive the kubelet had written, so the
 * freeze came before the newest one's buildTime (a bound a few seconds late, never early).
 */
export function checkpointEnd(images: readonly { buildTime: string }[] | undefined): string | undefined {
  const times = (images ?? []).map((i) => i.buildTime).sort();
  return times.at(-1);
}
