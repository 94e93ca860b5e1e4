import type { CheckpointRestore, ReplicaStatus } from '@stateful-migration/api';
import { pullSecretName } from '../pod.js';
import { asReplicaStatus, migrationActive } from './plan.js';
import {
  checkpointFor,
  podPatch,
  RESTORED_FROM_ANNOTATION,
  SOURCE_STOPPED_GATE,
  type AdmittedPod,
  type Workload,
} from './migration.js';

export type { AdmittedPod };

/**
 * The answer of the members' mutating webhook to a pod CREATE (issue 13 item 3; docs/adr/0007), pure: the server
 * (not built yet) reads the migrations into this cluster and the pods already restored, and sends this back. A pod
 * is always allowed: the webhook changes what a pod of a workload under migration runs, and never decides whether
 * a pod may exist.
 */

export interface AdmissionRequest {
  uid: string;
  operation: string;
  namespace?: string;
  kind: { group: string; version: string; kind: string };
  object?: AdmittedPod;
}

/** A migration of a workload into the cluster this webhook call comes from. */
export interface MigrationInto {
  restore: string;
  workload: Pick<Workload, 'kind' | 'name' | 'namespace'>;
  /** The fresh checkpoints (or, for failover, the latest pushed ones) of each replica. */
  replicas: ReplicaStatus[];
  pullSecret: string;
  /** Whether any pod of the workload may still run in the source: the target's pods wait, gated. */
  sourceMayRun: boolean;
  /** spec.targetNode: every pod to that node. */
  node?: string;
}

export interface AdmissionResponse {
  uid: string;
  allowed: true;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
}

/** The workload a pod's controller ownerReference names: a StatefulSet, or the Deployment of a ReplicaSet. */
export function ownerWorkload(
  pod: Pick<AdmittedPod, 'metadata'>,
): { kind: 'Deployment' | 'StatefulSet'; name: string } | undefined {
  const o = (pod.metadata.ownerReferences ?? []).find((x) => x.controller);
  if (o?.kind === 'StatefulSet') return { kind: 'StatefulSet', name: o.name };
  const hash = pod.metadata.labels?.['pod-template-hash'];
  if (o?.kind === 'ReplicaSet' && hash && o.name.endsWith(`-${hash}`))
    return { kind: 'Deployment', name: o.name.slice(0, -hash.length - 1) };
  return undefined;
}

/**
 * What the webhook answers. Not a pod CREATE, or not a pod of a workload migrating here: allowed unchanged. A pod
 * with a checkpoint: patched (podPatch). A pod of a migrating workload without one (more replicas than checkpoints,
 * a replica whose checkpoint lacks a container): it starts from its image, still gated while the source may run,
 * and a warning says why. `used`: the replicas whose checkpoint a pod here already runs (restored-from).
 */
export function admitPod(
  req: AdmissionRequest,
  migrations: MigrationInto[],
  used: ReadonlySet<string>,
): { response: AdmissionResponse; assigned?: string } {
  const allow: AdmissionResponse = { uid: req.uid, allowed: true };
  const pod = req.object;
  if (req.operation !== 'CREATE' || req.kind.kind !== 'Pod' || req.kind.group !== '' || !pod)
    return { response: allow };
  const owner = ownerWorkload(pod);
  const ns = req.namespace ?? pod.metadata.namespace;
  const m = owner
    ? migrations.find(
        (x) =>
          x.workload.namespace === ns && x.workload.kind === owner.kind && x.workload.name === owner.name,
      )
    : undefined;
  if (!m) return { response: allow };
  const choice = checkpointFor({
    workload: m.workload,
    pod: pod.metadata.name ?? '',
    containers: pod.spec.containers.map((c) => c.name),
    replicas: m.replicas,
    used,
  });
  const patch = (ops: unknown[]) => Buffer.from(JSON.stringify(ops)).toString('base64');
  if ('none' in choice) {
    const gate = m.sourceMayRun
      ? [
          {
            op: 'add',
            path: '/spec/schedulingGates',
            value: [...(pod.spec.schedulingGates ?? []), { name: SOURCE_STOPPED_GATE }],
          },
        ]
      : [];
    return {
      response: {
        ...allow,
        ...(gate.length ? { patchType: 'JSONPatch' as const, patch: patch(gate) } : {}),
        warnings: [`CheckpointRestore ${m.restore}: this pod starts from its image: ${choice.none}`],
      },
    };
  }
  const ops = podPatch(pod, choice.replica, m.pullSecret, m.sourceMayRun, m.node);
  return {
    response: { ...allow, patchType: 'JSONPatch', patch: patch(ops) },
    assigned: choice.replica.pod,
  };
}

/** What a migration asks of a pod of its workload in one cluster: its checkpoint (`into`), or to wait (`from`). */
export type Role =
  | { role: 'into'; migration: MigrationInto; kind: 'Deployment' | 'StatefulSet' }
  | { role: 'from'; restore: string };

/**
 * Which active workload migration (migrationActive) a pod created in `cluster` belongs to, and its role there: in
 * `into` it gets its replica's checkpoint (gated while `from` may run a pod of the workload); in `from` it is held
 * (gated) for as long as the migration runs, so a replacement of a pod stopped after its checkpoint never runs
 * beside the copy. A migration before its checkpoints are recorded holds pods in both.
 */
export function roleOf(
  cluster: string,
  req: AdmissionRequest,
  restores: Pick<CheckpointRestore, 'metadata' | 'status'>[],
): Role | undefined {
  const pod = req.object;
  if (req.operation !== 'CREATE' || req.kind.kind !== 'Pod' || req.kind.group !== '' || !pod)
    return undefined;
  const owner = ownerWorkload(pod);
  const ns = req.namespace ?? pod.metadata.namespace;
  // Answered already (two migrations' configurations in one namespace both send it): never a second checkpoint.
  if (!owner || pod.metadata.annotations?.[RESTORED_FROM_ANNOTATION]) return undefined;
  const r = restores.find((x) => migratesThrough(x, ns, owner, cluster));
  const w = r?.status?.workload;
  if (!r || !w) return undefined;
  if (w.into !== cluster || !r.status?.replicas?.length) return { role: 'from', restore: r.metadata.name };
  return {
    role: 'into',
    kind: owner.kind,
    migration: {
      restore: r.metadata.name,
      workload: { kind: owner.kind, name: owner.name, namespace: r.metadata.namespace },
      replicas: r.status.replicas.map(asReplicaStatus),
      pullSecret: pullSecretName(r.metadata.name),
      sourceMayRun: !w.fromStoppedTime,
      ...(w.targetNode && w.into === w.targetCluster ? { node: w.targetNode } : {}),
    },
  };
}

/** Whether an active migration moves that workload of that namespace into or out of the cluster. */
function migratesThrough(
  x: Pick<CheckpointRestore, 'metadata' | 'status'>,
  ns: string | undefined,
  owner: { kind: string; name: string },
  cluster: string,
): boolean {
  const w = x.status?.workload;
  return (
    !!w &&
    migrationActive(x) &&
    x.metadata.namespace === ns &&
    w.kind === owner.kind &&
    w.name === owner.name &&
    (w.into === cluster || w.from === cluster)
  );
}

/** The answer for a pod a migration holds: its gate added, and a warning naming the migration. */
export function holdPod(req: AdmissionRequest, restore: string): AdmissionResponse {
  const pod = req.object!;
  if (pod.spec.schedulingGates?.some((g) => g.name === SOURCE_STOPPED_GATE))
    return { uid: req.uid, allowed: true };
  const ops = [
    {
      op: 'add',
      path: '/spec/schedulingGates',
      value: [...(pod.spec.schedulingGates ?? []), { name: SOURCE_STOPPED_GATE }],
    },
  ];
  return {
    uid: req.uid,
    allowed: true,
    patchType: 'JSONPatch',
    patch: Buffer.from(JSON.stringify(ops)).toString('base64'),
    warnings: [
      `CheckpointRestore ${restore} is migrating this pod's workload: the pod is held unscheduled (gate ` +
        `${SOURCE_STOPPED_GATE}) while the migration runs`,
    ],
  };
}
