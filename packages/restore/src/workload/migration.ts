import {
  API_GROUP,
  API_VERSION,
  CHECKPOINT_RESTORE_LABEL,
  RESTORE_ALLOWED,
  RESTORE_KIND,
  type ReplicaStatus,
  objectName,
} from '@stateful-migration/api';
import { byDigest } from '../validate.js';

/**
 * Pure parts of migrating a whole workload through Karmada (issue 13 item 3; docs/adr/0007): the PropagationPolicy
 * that moves it, which checkpoint each pod its controller makes in the target gets, and the change the members'
 * mutating webhook makes to that pod. The controller steps and the webhook server that use them are not built yet.
 */

/** On a pod the webhook gave a checkpoint: the source replica (pod name) whose checkpoint it runs. */
export const RESTORED_FROM_ANNOTATION = `${API_GROUP}/restored-from`;
/** Keeps the target's pods unscheduled while any pod of the workload still runs in the source. */
export const SOURCE_STOPPED_GATE = `${API_GROUP}/source-stopped`;

export interface Workload {
  apiVersion: string;
  kind: 'Deployment' | 'StatefulSet';
  name: string;
  namespace: string;
}

/** A policy that selects the workload, as far as its priority matters. */
export interface CompetingPolicy {
  name: string;
  priority?: number;
}

export const migrationPolicyName = (restore: string): string => objectName(`checkpointrestore-${restore}`);

/**
 * The migration's PropagationPolicy: exactly the workload, placed in the target only, one priority above every
 * policy that selects it, allowed to preempt (Karmada's PropagationPolicyPreemption). Owned by the CheckpointRestore:
 * deleting the restore deletes it, and the user's policy claims the workload again (Karmada's handlePolicyDeletion).
 */
export function migrationPolicy(i: {
  restore: { name: string; uid: string };
  workload: Workload;
  target: string;
  competing: CompetingPolicy[];
}): Record<string, unknown> {
  const top = Math.max(0, ...i.competing.map((p) => p.priority ?? 0));
  return {
    apiVersion: 'policy.karmada.io/v1alpha1',
    kind: 'PropagationPolicy',
    metadata: {
      name: migrationPolicyName(i.restore.name),
      namespace: i.workload.namespace,
      labels: { 'app.kubernetes.io/managed-by': 'stateful-migration-hub' },
      ownerReferences: [
        {
          apiVersion: API_VERSION,
          kind: RESTORE_KIND,
          name: i.restore.name,
          uid: i.restore.uid,
          controller: true,
        },
      ],
    },
    spec: {
      resourceSelectors: [
        { apiVersion: i.workload.apiVersion, kind: i.workload.kind, name: i.workload.name },
      ],
      priority: top + 1,
      preemption: 'Always',
      placement: { clusterAffinity: { clusterNames: [i.target] } },
    },
  };
}

export type Assignment = { replica: ReplicaStatus } | { none: string };

/** A StatefulSet pod's ordinal from its name `<sts>-<n>` (the StatefulSet controller names its pods so). */
function ordinal(pod: string, sts: string): number | undefined {
  const m = /^(\d+)$/.exec(pod.startsWith(`${sts}-`) ? pod.slice(sts.length + 1) : '');
  return m ? Number(m[1]) : undefined;
}

/**
 * Which checkpoint a new pod of the workload gets in the target. A StatefulSet pod: its own ordinal's (ordinal N from
 * ordinal N's, never another's). A Deployment pod: the first checkpointed replica (by pod name) that no existing pod
 * of the workload in the target runs yet (`used`: their restored-from annotations), so each checkpoint serves one
 * replica. Only replicas with an image for every container count. None: the pod starts from its image, and why.
 */
export function checkpointFor(i: {
  workload: Pick<Workload, 'kind' | 'name'>;
  pod: string;
  containers: string[];
  replicas: ReplicaStatus[];
  used: ReadonlySet<string>;
}): Assignment {
  const complete = (r: ReplicaStatus) =>
    i.containers.every((c) =>
      r.images?.some((img) => img.containerName === c && img.pushed && byDigest(img)),
    );
  if (i.workload.kind === 'StatefulSet') {
    const n = ordinal(i.pod, i.workload.name);
    if (n === undefined)
      return { none: `pod ${i.pod} is not named like a pod of StatefulSet ${i.workload.name}` };
    const r = i.replicas.find((x) => x.ordinal === n);
    if (!r) return { none: `no checkpoint of ordinal ${n} (${i.workload.name}-${n})` };
    if (!complete(r)) return { none: `the checkpoint of ${r.pod} has no pushed image of every container` };
    return { replica: r };
  }
  const free = [...i.replicas]
    .sort((a, b) => a.pod.localeCompare(b.pod))
    .filter((r) => !i.used.has(r.pod) && complete(r));
  return free[0]
    ? { replica: free[0] }
    : { none: `every checkpoint of Deployment ${i.workload.name} already runs in a pod here` };
}

type JsonPatch = { op: 'add' | 'replace'; path: string; value: unknown }[];

/** A pod as the webhook receives it in an AdmissionReview (a Deployment's has no name yet: generateName). */
export interface AdmittedPod {
  metadata: {
    name?: string;
    generateName?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; controller?: boolean }[];
  };
  spec: {
    containers: { name: string; image: string }[];
    imagePullSecrets?: { name: string }[];
    affinity?: Record<string, unknown>;
    schedulingGates?: { name: string }[];
  };
}

/**
 * The webhook's JSON patch for a pod given a replica's checkpoint: each container's image by digest, the pull
 * secret, the scheduling gate (until the source stopped), a required node affinity on nodes whose runtime restores,
 * and the annotation naming the replica. A pod that already has an affinity keeps it, with the restore term added to
 * each of its required terms (they are ORed; each must also require the label).
 */
export function podPatch(
  pod: AdmittedPod,
  replica: ReplicaStatus,
  pullSecret: string,
  gate: boolean,
  node?: string,
): JsonPatch {
  const ops: JsonPatch = [];
  pod.spec.containers.forEach((c, idx) => {
    const img = replica.images?.find((x) => x.containerName === c.name);
    const ref = img && byDigest(img);
    if (ref) ops.push({ op: 'replace', path: `/spec/containers/${idx}/image`, value: ref });
  });
  const secrets = pod.spec.imagePullSecrets ?? [];
  if (!secrets.some((s) => s.name === pullSecret))
    ops.push({ op: 'add', path: '/spec/imagePullSecrets', value: [...secrets, { name: pullSecret }] });
  if (gate)
    ops.push({
      op: 'add',
      path: '/spec/schedulingGates',
      value: [...(pod.spec.schedulingGates ?? []), { name: SOURCE_STOPPED_GATE }],
    });
  ops.push({ op: 'add', path: '/spec/affinity', value: withRestoreAffinity(pod.spec.affinity, node) });
  ops.push({
    op: 'add',
    path: '/metadata/annotations',
    value: { ...(pod.metadata.annotations ?? {}), [RESTORED_FROM_ANNOTATION]: replica.pod },
  });
  return ops;
}

type Term = { matchExpressions?: Record<string, unknown>[]; [k: string]: unknown };

/** `node`: also that Node, by name (matchFields metadata.name, as a single-pod restore pins it), in every term. */
function withRestoreAffinity(
  affinity: Record<string, unknown> | undefined,
  node?: string,
): Record<string, unknown> {
  const restore = { key: CHECKPOINT_RESTORE_LABEL, operator: 'In', values: [RESTORE_ALLOWED] };
  const nodeAffinity = (affinity?.nodeAffinity ?? {}) as Record<string, unknown>;
  const required = nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution as
    { nodeSelectorTerms?: Term[] } | undefined;
  const terms: Term[] = required?.nodeSelectorTerms?.length ? required.nodeSelectorTerms : [{}];
  return {
    ...affinity,
    nodeAffinity: {
      ...nodeAffinity,
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: terms.map((t) => ({
          ...t,
          matchExpressions: [...(t.matchExpressions ?? []), restore],
          ...(node
            ? {
                matchFields: [
                  ...((t.matchFields as unknown[] | undefined) ?? []),
                  { key: 'metadata.name', operator: 'In', values: [node] },
                ],
              }
            : {}),
        })),
      },
    },
  };
}
