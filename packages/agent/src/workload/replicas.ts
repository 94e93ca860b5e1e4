import { createHash } from 'node:crypto';
import {
  API_VERSION,
  KIND,
  PINNED_IMAGES_ANNOTATION,
  RESTORE_PINNED_IMAGES_ANNOTATION,
  WORKLOAD_BACKUP_LABEL,
  isFinished,
  isPhase,
  phaseRank,
  setCondition,
  type AggregatePhase,
  type BuiltImage,
  type CheckpointBackup,
  type CheckpointBackupSpec,
  type CheckpointBackupStatus,
  type ReplicaStatus,
} from '@stateful-migration/api';

/**
 * Pure decisions of workload-level backups in one member cluster: which pods belong to the workload, the child
 * CheckpointBackup of each pod, what a child must change to follow its parent, the parent's status from its
 * children, and which children of gone pods go. The shell (controller.ts) reads the world and performs them.
 */

/** What the agent's caches hold of a pod. */
export interface MemberPod {
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    labels?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
    deletionTimestamp?: string;
  };
  spec: { nodeName?: string };
}

/** The StatefulSet controller's label of a pod's ordinal (Kubernetes 1.28+). */
export const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';
const POD_TEMPLATE_HASH = 'pod-template-hash';

/**
 * Whether a pod is one of the workload's: its controller is the StatefulSet itself, or, for a Deployment, one of its
 * ReplicaSets. The Deployment controller names each ReplicaSet `<deployment>-<pod-template-hash>` and gives its pods
 * that hash as a label, so the pod's own ownerReference and label say whose it is without reading ReplicaSets (one
 * more cluster-wide right for the agent). The namespace is the object's own (tenancy).
 */
export function belongsTo(
  pod: MemberPod,
  workload: { kind: string; name: string; namespace: string },
): boolean {
  if (pod.metadata.namespace !== workload.namespace) return false;
  const owner = (pod.metadata.ownerReferences ?? []).find((o) => o.controller);
  if (!owner) return false;
  if (workload.kind === 'StatefulSet') return owner.kind === 'StatefulSet' && owner.name === workload.name;
  if (workload.kind === 'Deployment') {
    const hash = pod.metadata.labels?.[POD_TEMPLATE_HASH];
    return !!hash && owner.kind === 'ReplicaSet' && owner.name === `${workload.name}-${hash}`;
  }
  return false;
}

/** A StatefulSet pod's ordinal: its pod-index label, else the number its name ends with after `<sts>-`. */
export function ordinalOf(
  pod: { name: string; labels?: Record<string, string> },
  sts: string,
): number | undefined {
  const label = pod.labels?.[POD_INDEX_LABEL];
  if (label !== undefined && /^\d+$/.test(label)) return Number(label);
  const m = /^(\d+)$/.exec(pod.name.startsWith(`${sts}-`) ? pod.name.slice(sts.length + 1) : '');
  return m ? Number(m[1]) : undefined;
}

const MAX_NAME = 253;
const trimEnd = (s: string) => s.replace(/[.-]+$/, '');

/**
 * The child's name: `<parent>-<pod>`, deterministic so that every agent (and a restarted one) finds the same object;
 * when that is longer than a name may be, shortened parts and a hash of both keep it unique and valid.
 */
export function childName(parent: string, pod: string): string {
  const plain = `${parent}-${pod}`;
  if (plain.length <= MAX_NAME) return plain;
  const hash = createHash('sha256').update(`${parent}/${pod}`).digest('hex').slice(0, 10);
  return `${trimEnd(parent.slice(0, 100))}-${trimEnd(pod.slice(0, 120))}-${hash}`;
}

/** Whether a CheckpointBackup is a child of this parent (by uid: a name can be reused). */
export function isChildOf(
  child: Pick<CheckpointBackup, 'metadata'>,
  parent: Pick<CheckpointBackup, 'metadata'>,
): boolean {
  return (child.metadata.ownerReferences ?? []).some((o) => o.kind === KIND && o.uid === parent.metadata.uid);
}

/** The parent a child names, if any: `<ns>/<name>` of its CheckpointBackup owner. */
export function parentKey(child: Pick<CheckpointBackup, 'metadata'>): string | undefined {
  const o = (child.metadata.ownerReferences ?? []).find((x) => x.kind === KIND && x.controller);
  return o ? `${child.metadata.namespace}/${o.name}` : undefined;
}

/**
 * The child's spec: the parent's, for one pod. Placement is the hub's business, and keepState the workload's (the
 * hub's failover and the drain gate read it on the parent): the CRD refuses keepState beside podRef, so a child
 * carrying it could never be created, and the workload would never be checkpointed.
 */
export function childSpec(parent: CheckpointBackup, pod: string): CheckpointBackupSpec {
  const spec: CheckpointBackupSpec = { ...parent.spec, podRef: { name: pod } };
  delete spec.placement;
  delete spec.keepState;
  return spec;
}

/** The pins travel to the children: retention there keeps what a user or a restore pinned on the workload. */
function childAnnotations(parent: CheckpointBackup): Record<string, string> {
  const a = parent.metadata.annotations ?? {};
  const out: Record<string, string> = {};
  for (const k of [PINNED_IMAGES_ANNOTATION, RESTORE_PINNED_IMAGES_ANNOTATION]) if (a[k]) out[k] = a[k];
  return out;
}

/** The child CheckpointBackup for one pod of the workload, owned by the parent (deleting it deletes the children). */
export function desiredChild(parent: CheckpointBackup, pod: string): CheckpointBackup {
  const { name, namespace, uid } = parent.metadata;
  const annotations = childAnnotations(parent);
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: {
      name: childName(name, pod),
      namespace,
      // A label value is at most 63 characters; the ownerReference is what counts, the label is for `-l`.
      ...(name.length <= 63 ? { labels: { [WORKLOAD_BACKUP_LABEL]: name } } : {}),
      ...(Object.keys(annotations).length ? { annotations } : {}),
      ownerReferences: [{ apiVersion: API_VERSION, kind: KIND, name, uid: uid ?? '', controller: true }],
    },
    spec: childSpec(parent, pod),
  };
}

type Patch = { metadata?: { annotations: Record<string, string | null> }; spec?: Record<string, unknown> };

/**
 * The JSON merge patch that makes a child follow its parent's spec and pins, or undefined when it does. A field the
 * parent dropped is null (merge patch's delete); each changed top-level spec field is sent whole.
 */
export function childDrift(child: CheckpointBackup, parent: CheckpointBackup): Patch | undefined {
  const want = childSpec(parent, child.spec.podRef?.name ?? '');
  const have = child.spec as unknown as Record<string, unknown>;
  const wantRec = want as unknown as Record<string, unknown>;
  const spec: Record<string, unknown> = {};
  for (const k of new Set([...Object.keys(have), ...Object.keys(wantRec)]))
    if (JSON.stringify(have[k]) !== JSON.stringify(wantRec[k])) spec[k] = wantRec[k] ?? null;
  const wantA = childAnnotations(parent);
  const haveA = child.metadata.annotations ?? {};
  const annotations: Record<string, string | null> = {};
  for (const k of [PINNED_IMAGES_ANNOTATION, RESTORE_PINNED_IMAGES_ANNOTATION])
    if ((haveA[k] ?? undefined) !== wantA[k]) annotations[k] = wantA[k] ?? null;
  const patch: Patch = {
    ...(Object.keys(annotations).length ? { metadata: { annotations } } : {}),
    ...(Object.keys(spec).length ? { spec } : {}),
  };
  return Object.keys(patch).length ? patch : undefined;
}

/** The newest image of each container: what this replica would be restored from. */
function newestImages(s: CheckpointBackupStatus): BuiltImage[] {
  const newest = new Map<string, BuiltImage>();
  for (const i of s.builtImages ?? []) newest.set(i.containerName, i);
  return [...newest.values()].sort((a, b) => a.containerName.localeCompare(b.containerName));
}

/** One replica's entry, from its child and the pod as the cluster has it now (undefined: gone). */
export function replicaStatus(
  child: CheckpointBackup,
  pod: MemberPod | undefined,
  workload: { kind: string; name: string },
): ReplicaStatus {
  const s = child.status ?? {};
  const name = child.spec.podRef?.name ?? '';
  const node = pod?.spec.nodeName ?? s.run?.node ?? s.checkpointedPod?.node;
  const ordinal =
    workload.kind === 'StatefulSet'
      ? ordinalOf({ name, ...(pod?.metadata.labels ? { labels: pod.metadata.labels } : {}) }, workload.name)
      : undefined;
  const images = newestImages(s);
  return {
    pod: name,
    backup: child.metadata.name,
    ...(node ? { node } : {}),
    ...(ordinal !== undefined ? { ordinal } : {}),
    phase: isPhase(s.phase) ? s.phase : 'Pending',
    ...(s.message ? { message: s.message } : {}),
    present: !!pod && !pod.metadata.deletionTimestamp,
    ...(s.lastCheckpointTime ? { lastCheckpointTime: s.lastCheckpointTime } : {}),
    ...(images.length ? { images } : {}),
    ...(s.checkpointedPod ? { checkpointedPod: s.checkpointedPod } : {}),
  };
}

const SUCCESS: readonly string[] = ['Completed', 'CompletedPodDeleted', 'CompletedWithError'];
const rank = (p: AggregatePhase) => (p === 'Pending' || p === 'Unknown' ? -1 : phaseRank(p));

/** StatefulSet ordinals in order, then pod names. */
function byReplica(a: ReplicaStatus, b: ReplicaStatus): number {
  return (a.ordinal ?? Infinity) - (b.ordinal ?? Infinity) || a.pod.localeCompare(b.pod);
}

export interface WorkloadStatusInput {
  parent: CheckpointBackup;
  children: CheckpointBackup[];
  /** The workload's pods in this cluster now, by name. */
  pods: ReadonlyMap<string, MemberPod>;
  now?: Date;
}

/**
 * The member parent's status: every child as a replica (gone pods' last records kept, marked not present), and over
 * the present ones the phase: none yet Pending; any Failed Failed, naming the pods; all finished well the weakest
 * success; otherwise the least advanced. replicasCompleted counts present replicas whose last run completed.
 */
export function workloadStatus(i: WorkloadStatusInput): CheckpointBackupStatus {
  const { parent } = i;
  const ref = parent.spec.resourceRef;
  const workload = `${ref.kind}/${ref.name}`;
  const replicas = i.children
    .map((c) => replicaStatus(c, i.pods.get(c.spec.podRef?.name ?? ''), ref))
    .sort(byReplica);
  const present = replicas.filter((r) => r.present);
  const done = present.filter((r) => SUCCESS.includes(r.phase));
  const failed = present.filter((r) => r.phase === 'Failed');
  const describe = (rs: ReplicaStatus[]) => rs.map((r) => `${r.pod}: ${r.message ?? r.phase}`).join('; ');
  let phase: AggregatePhase;
  let message: string;
  if (!present.length) {
    phase = 'Pending';
    message = i.pods.size
      ? `${i.pods.size} pod(s) of ${workload} here, none checkpointed yet`
      : `no pod of ${workload} runs in this cluster`;
  } else if (failed.length) {
    phase = 'Failed';
    message = `${failed.length}/${present.length} replicas failed: ${describe(failed)}`;
  } else if (done.length === present.length) {
    phase = present.some((r) => r.phase === 'CompletedWithError') ? 'CompletedWithError' : 'Completed';
    message = `${done.length}/${present.length} replicas of ${workload} checkpointed`;
  } else {
    const behind = present.filter((r) => !isFinished(r.phase));
    phase = behind.reduce((a, r) => (rank(r.phase) < rank(a) ? r.phase : a), behind[0]!.phase);
    message = `${done.length}/${present.length} replicas done; ${describe(behind.filter((r) => r.phase === phase))}`;
  }
  const times = (pick: (s: CheckpointBackupStatus) => string | undefined) =>
    i.children
      .map((c) => pick(c.status ?? {}))
      .filter((t): t is string => !!t)
      .sort();
  const last = times((s) => s.lastCheckpointTime).at(-1);
  const next = times((s) => s.nextScheduledTime)[0];
  const generation = parent.metadata.generation ?? 0;
  const completed = SUCCESS.includes(phase);
  return {
    phase,
    message,
    observedGeneration: generation,
    ...(last ? { lastCheckpointTime: last } : {}),
    ...(next ? { nextScheduledTime: next } : {}),
    replicas,
    replicasCompleted: `${done.length}/${present.length}`,
    conditions: setCondition(
      parent.status?.conditions,
      {
        type: 'Completed',
        status: completed ? 'True' : 'False',
        reason: completed ? 'AllReplicasCompleted' : phase,
        message,
        observedGeneration: generation,
      },
      i.now,
    ),
  };
}

/** How many gone replicas' children (and so their last records) a cluster keeps, newest checkpoint first. */
export const KEEP_GONE_REPLICAS = 5;

/**
 * Children whose pod is gone that go: those that never checkpointed (nothing to keep), and beyond the newest
 * KEEP_GONE_REPLICAS by last checkpoint. A run in progress is never cut. A StatefulSet pod that returns under its
 * name finds its child again, so only Deployment churn (rollouts, rescheduling) grows this list.
 */
export function staleChildren(
  children: CheckpointBackup[],
  pods: ReadonlyMap<string, MemberPod>,
  keep = KEEP_GONE_REPLICAS,
): CheckpointBackup[] {
  const running = (c: CheckpointBackup) => !!c.status?.run && !isFinished(c.status.phase);
  const gone = children.filter((c) => !pods.has(c.spec.podRef?.name ?? '') && !running(c));
  const never = gone.filter((c) => !c.status?.lastCheckpointTime);
  const kept = gone
    .filter((c) => c.status?.lastCheckpointTime)
    .sort((a, b) => b.status!.lastCheckpointTime!.localeCompare(a.status!.lastCheckpointTime!));
  return [...never, ...kept.slice(keep)];
}
