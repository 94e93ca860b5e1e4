import type { CheckpointBackup, CheckpointRestore } from '@stateful-migration/api';
import { kubectl } from '../fed/kubectl.js';
import { exists as existsIn, getBackup, registryInfo } from './agent-support.js';
import { eventually, reasonsWhen } from './support.js';

/** A pod as the restore cases read it. */
export type LivePod = {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    nodeName?: string;
    containers: { name: string; image: string; volumeMounts?: { mountPath: string }[]; env?: unknown[] }[];
  };
};

/**
 * The objects and waits of the restore cases (restore, which shares the federation, and restore-hub, which restarts
 * the hub), in their namespace `ns` on the Karmada apiserver, pushing to restore/<ns> with the registry secret
 * `secret`.
 */
export function restoreCase(ns: string, secret: string) {
  const hub = (args: string[], input?: string) => kubectl('karmada', args, input);

  /** A Deployment on the hub, propagated to member1 and pinned to m1-a, with containers app and side. */
  const deployment = (name: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: ${ns}}
spec:
  replicas: 1
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}, tier: web}}
    spec:
      nodeSelector: {kubernetes.io/hostname: m1-a}
      containers:
      - {name: app, image: "registry.local/app:1", ports: [{containerPort: 8080}], env: [{name: MODE, value: prod}]}
      - {name: side, image: "registry.local/side:1"}
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: ${name}, namespace: ${ns}}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment, name: ${name}}]
  placement: {clusterAffinity: {clusterNames: [member1]}}
`;

  const backupYaml = (
    name: string,
    pod: string,
    workload: string,
    extra = '',
    kind = 'apps/v1, kind: Deployment',
  ) => `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: ${name}, namespace: ${ns}}
spec:
  schedule: immediately
  podRef: {name: ${pod}}
  resourceRef: {apiVersion: ${kind}, name: ${workload}}
${extra}`;

  /** A bare Pod on the hub, propagated to member1. */
  const barePod = (name: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${ns}, labels: {app: ${name}}}
spec:
  nodeSelector: {kubernetes.io/hostname: m1-b}
  containers: [{name: app, image: "registry.local/app:1"}]
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: ${name}, namespace: ${ns}}
spec:
  resourceSelectors: [{apiVersion: v1, kind: Pod, name: ${name}}]
  placement: {clusterAffinity: {clusterNames: [member1]}}
`;

  const registry = () =>
    `  registry: {url: "${registryInfo().url}", repository: restore/${ns}, secretRef: {name: ${secret}}}\n`;

  const restoreYaml = (name: string, backup: string, spec: string) => `apiVersion: migration.dcnlab.com/v1
kind: CheckpointRestore
metadata: {name: ${name}, namespace: ${ns}}
spec:
  backupRef: {name: ${backup}}
${spec}`;

  const getRestore = async (name: string): Promise<CheckpointRestore> =>
    JSON.parse(await hub(['get', 'cpr', name, '-n', ns, '-o', 'json'])) as CheckpointRestore;

  function waitRestore(name: string, phases: string[], ms = 120_000): Promise<CheckpointRestore> {
    return eventually(
      async () => {
        const r = await getRestore(name);
        return r.status?.phase && phases.includes(r.status.phase) ? r : undefined;
      },
      ms,
      `${name} to reach ${phases.join('|')}`,
    );
  }

  function waitBackup(name: string): Promise<CheckpointBackup> {
    return eventually(
      async () => {
        const b = await getBackup('karmada', ns, name);
        const m1 = b.status?.clusters?.find((c) => c.name === 'member1');
        return m1?.phase &&
          ['Completed', 'Failed'].includes(m1.phase) &&
          (m1.phase === 'Failed' || m1.checkpointedPod)
          ? b
          : undefined;
      },
      120_000,
      `${name} to finish in member1 and show on the hub`,
    );
  }

  /** The restore's Event reasons on the hub once those wanted are there (Events are written after the status). */
  const events = (name: string, ...want: string[]) => reasonsWhen('karmada', ns, name, want);

  const livePod = async (cluster: string, name: string): Promise<LivePod> =>
    JSON.parse(await kubectl(cluster, ['get', 'pod', name, '-n', ns, '-o', 'json'])) as LivePod;

  const exists = (cluster: string, args: string[]) => existsIn(cluster, ns, args);

  return {
    hub,
    deployment,
    backupYaml,
    barePod,
    registry,
    restoreYaml,
    getRestore,
    waitRestore,
    waitBackup,
    events,
    livePod,
    exists,
  };
}

/** A pod as the workload-migration cases read it. */
export type WorkloadPod = {
  metadata: {
    name: string;
    uid: string;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; controller?: boolean }[];
  };
  spec: { nodeName?: string; containers: { image: string }[] };
  status?: { phase?: string };
};

/**
 * The objects and waits of the workload-migration cases (workload-migrate, which shares the federation, and
 * workload-migrate-hub, which kills the hub), in their namespace `ns` on the Karmada apiserver: workload-level backups
 * pushing to wm/<ns> with the registry secret `push`, and Migrates to member2.
 */
export function workloadMigrationCase(ns: string) {
  const hub = (args: string[], input?: string) => kubectl('karmada', args, input);

  const backupYaml = (name: string, kind: string) => `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: ${name}, namespace: ${ns}}
spec:
  schedule: immediately
  resourceRef: {apiVersion: apps/v1, kind: ${kind}, name: ${name}}
  registry: {url: "${registryInfo().url}", repository: wm/${ns}, secretRef: {name: push}}
`;

  const restoreYaml = (name: string, backup: string, extra = '') => `apiVersion: migration.dcnlab.com/v1
kind: CheckpointRestore
metadata: {name: ${name}, namespace: ${ns}}
spec:
  backupRef: {name: ${backup}}
  targetCluster: member2
  mode: Migrate
${extra}`;

  async function pods(cluster: string, app: string): Promise<WorkloadPod[]> {
    const out = await kubectl(cluster, ['get', 'pods', '-n', ns, '-l', `app=${app}`, '-o', 'json']);
    return (JSON.parse(out) as { items: WorkloadPod[] }).items;
  }

  const running = async (cluster: string, app: string, n: number) =>
    eventually(
      async () => {
        const ps = (await pods(cluster, app)).filter((p) => p.status?.phase === 'Running');
        return ps.length === n ? ps : undefined;
      },
      180_000,
      `${n} ${app} pods running in ${cluster}`,
    );

  const getRestore = async (name: string): Promise<CheckpointRestore> =>
    JSON.parse(await hub(['get', 'cpr', name, '-n', ns, '-o', 'json'])) as CheckpointRestore;

  const finished = (name: string, timeoutMs = 420_000) =>
    eventually(
      async () => {
        const r = await getRestore(name);
        const p = r.status?.phase;
        return p === 'SourceStopped' || p === 'Failed' || p === 'RolledBack' ? r : undefined;
      },
      timeoutMs,
      `CheckpointRestore ${name} to finish`,
    );

  return { hub, backupYaml, restoreYaml, pods, running, getRestore, finished };
}
