import { API_GROUP, CHECKPOINT_RESTORE_LABEL, RESTORE_ALLOWED } from '@stateful-migration/api';

/**
 * Which drain checkpoint a newly created pod restores from, and the patch that makes it do so. The pod is created by
 * its own controller (the StatefulSet or ReplicaSet that lost a pod to an eviction), so it keeps its owner, labels
 * and revision; the mutating webhook only swaps each container's image for its checkpoint image by digest (CRI-O
 * restores a container whose image is a checkpoint image) and keeps the pod to nodes whose runtime restores. Pure.
 */

export interface Owner {
  kind: string;
  name: string;
  uid: string;
}

export interface NewPod {
  namespace: string;
  /** Empty for a pod named by generateName (a ReplicaSet's), set for a StatefulSet's. */
  name: string;
  owner?: Owner;
  /** The pod's template revision (objects.ts podRevision). */
  revision?: string;
  containers: { name: string; image: string }[];
  affinity?: {
    nodeAffinity?: {
      requiredDuringSchedulingIgnoredDuringExecution?: {
        nodeSelectorTerms?: { matchExpressions?: unknown[] }[];
      };
    };
  };
  annotations: Record<string, string>;
  imagePullSecrets?: { name: string }[];
}

/** A drain checkpoint as the webhook sees it: whose pod it saved, and what it pushed. */
export interface Candidate {
  name: string;
  podName: string;
  owner: Owner;
  createdAt: string;
  /** The evicted pod's template revision. */
  revision?: string;
  phase?: string;
  pushedImages: { containerName: string; image: string }[];
  /** Set once a replacement took it: one checkpoint restores one pod. */
  claimedBy?: string;
}

export const ANNOTATION = {
  /** On a restored replacement: the drain checkpoint it came from. */
  restoredFrom: `${API_GROUP}/restored-from-drain`,
  /** On a drain checkpoint: the pod that restored from it (the claim). */
  claimedBy: `${API_GROUP}/claimed-by`,
  /** On a replacement that could not restore: why it starts fresh. */
  startedFresh: `${API_GROUP}/started-fresh`,
} as const;

export type ReplacementVerdict =
  | { kind: 'restore'; checkpoint: Candidate; images: Map<string, string> }
  | { kind: 'fresh'; message: string }
  | { kind: 'none' };

/**
 * How much older than the eviction's timeoutSeconds a drain checkpoint may be for a replacement to restore it: the
 * gate's own margin, then the evicted pod's termination (terminationGracePeriodSeconds, 30 s by default) and its
 * controller creating the replacement. An older unclaimed checkpoint is one no eviction followed at once (or one from
 * before a rollout): never restored.
 */
export const REPLACEMENT_MARGIN_SECONDS = 600;

/**
 * `now` and `maxAgeSeconds` (the covering backup's timeoutSeconds + REPLACEMENT_MARGIN_SECONDS, in the shell): a
 * checkpoint created that long ago or more is never chosen. Only a checkpoint of the pod's own template revision is.
 */
export function chooseCheckpoint(
  pod: NewPod,
  candidates: Candidate[],
  now: Date,
  maxAgeSeconds: number,
): ReplacementVerdict {
  const owner = pod.owner;
  if (!owner || (owner.kind !== 'StatefulSet' && owner.kind !== 'ReplicaSet')) return { kind: 'none' };
  const fresh = (c: Candidate) => now.getTime() - Date.parse(c.createdAt) < maxAgeSeconds * 1000;
  const ours = candidates.filter(
    (c) =>
      c.owner.uid === owner.uid &&
      c.owner.kind === owner.kind &&
      c.phase === 'Completed' &&
      !c.claimedBy &&
      !!c.revision &&
      c.revision === pod.revision &&
      fresh(c),
  );
  // A StatefulSet's pod has its identity in its name: ordinal N only ever comes back from ordinal N's checkpoint.
  const pick =
    owner.kind === 'StatefulSet'
      ? ours.find((c) => c.podName === pod.name)
      : ours.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.name.localeCompare(b.name))[0];
  if (!pick) return { kind: 'none' };
  const images = new Map(pick.pushedImages.map((i) => [i.containerName, i.image]));
  const missing = pod.containers.filter((c) => !images.has(c.name)).map((c) => c.name);
  const extra = [...images.keys()].filter((n) => !pod.containers.some((c) => c.name === n));
  if (missing.length || extra.length)
    return {
      kind: 'fresh',
      message: `starts without state: drain checkpoint ${pick.name} has containers ${[...images.keys()].join(', ')}, this pod ${pod.containers.map((c) => c.name).join(', ')}`,
    };
  return { kind: 'restore', checkpoint: pick, images };
}

type PatchOp = { op: 'add' | 'replace'; path: string; value: unknown };

const escape = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');

/**
 * The JSON patch (RFC 6902) an admission response carries for a verdict. `pullSecret`: the dockerconfigjson secret
 * the checkpoint image is pulled with (the drain checkpoint's, in the pod's namespace), added to the pod's own.
 */
export function replacementPatch(pod: NewPod, verdict: ReplacementVerdict, pullSecret?: string): PatchOp[] {
  if (verdict.kind === 'none') return [];
  const ops: PatchOp[] = [];
  if (Object.keys(pod.annotations).length === 0)
    ops.push({ op: 'add', path: '/metadata/annotations', value: {} });
  if (verdict.kind === 'fresh') {
    ops.push({
      op: 'add',
      path: `/metadata/annotations/${escape(ANNOTATION.startedFresh)}`,
      value: verdict.message,
    });
    return ops;
  }
  ops.push({
    op: 'add',
    path: `/metadata/annotations/${escape(ANNOTATION.restoredFrom)}`,
    value: verdict.checkpoint.name,
  });
  pod.containers.forEach((c, i) =>
    ops.push({ op: 'replace', path: `/spec/containers/${i}/image`, value: verdict.images.get(c.name)! }),
  );
  const secrets = pod.imagePullSecrets ?? [];
  if (pullSecret && !secrets.some((s) => s.name === pullSecret))
    ops.push({ op: 'add', path: '/spec/imagePullSecrets', value: [...secrets, { name: pullSecret }] });
  // Only nodes whose runtime restores: elsewhere CRI-O refuses a checkpoint image and the pod would never start.
  // Added to what the pod already asks for (each OR-ed term gets it), never in place of it.
  ops.push(...restoringNodesOnly(pod.affinity));
  return ops;
}

const restoring = { key: CHECKPOINT_RESTORE_LABEL, operator: 'In', values: [RESTORE_ALLOWED] };
const REQUIRED = '/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution';

function restoringNodesOnly(affinity: NewPod['affinity']): PatchOp[] {
  const required = { nodeSelectorTerms: [{ matchExpressions: [restoring] }] };
  if (!affinity)
    return [
      {
        op: 'add',
        path: '/spec/affinity',
        value: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: required } },
      },
    ];
  if (!affinity.nodeAffinity)
    return [
      {
        op: 'add',
        path: '/spec/affinity/nodeAffinity',
        value: { requiredDuringSchedulingIgnoredDuringExecution: required },
      },
    ];
  const terms = affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (!terms?.length) return [{ op: 'add', path: REQUIRED, value: required }];
  return terms.map((t, i) =>
    t.matchExpressions
      ? {
          op: 'add' as const,
          path: `${REQUIRED}/nodeSelectorTerms/${i}/matchExpressions/-`,
          value: restoring,
        }
      : {
          op: 'add' as const,
          path: `${REQUIRED}/nodeSelectorTerms/${i}/matchExpressions`,
          value: [restoring],
        },
  );
}
