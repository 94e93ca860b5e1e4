import {
  API_GROUP,
  API_VERSION,
  crossNamespaceRef,
  KIND,
  keepStateRefusal,
  keepStateSettings,
  labelValue,
  type BuiltImage,
  type CheckpointBackup,
} from '@stateful-migration/api';
import {
  evictionVerdict,
  type DrainCheckpoint,
  type EvictedPod,
  type EvictionOptIn,
  type GateVerdict,
} from './gate.js';
import type { Candidate, Owner } from './replacement.js';

/**
 * The objects a drain is made of on the Karmada control plane (docs/adr/0004, "Drain: an eviction gate", as built),
 * and how the hub's webhooks read them back. Pure: the shells in packages/hub/src/drain read and write them.
 *
 * A drain checkpoint is a one-off single-pod CheckpointBackup on Karmada (schedule "immediately", podRef the evicted
 * pod, the covering backup's registry, secret, containers and encryption, no stopPod: the eviction deletes the pod),
 * placed in the pod's cluster only by a PropagationPolicy of its own (as Migrate's one-off backup is, ADR 0006), and
 * owned by the covering backup, so deleting the backup takes its drain checkpoints along. Its labels and annotations
 * say whose pod it saved (the pod's controller by uid: a replacement restores only from its own controller's), and
 * its aggregated status, which the hub copies from the member, is the whole record the gate answers from.
 */

/** On a drain checkpoint: the covering backup (label value: its name). */
export const DRAIN_OF_LABEL = `${API_GROUP}/drain-of`;
/** On a drain checkpoint: the cluster of the evicted pod. */
export const DRAIN_CLUSTER_LABEL = `${API_GROUP}/drain-cluster`;
/** On a drain checkpoint: the evicted pod's name, uid and controller (`<kind>/<name>/<uid>`). */
export const DRAIN_POD_ANNOTATION = `${API_GROUP}/drain-pod`;
export const DRAIN_POD_UID_ANNOTATION = `${API_GROUP}/drain-pod-uid`;
export const DRAIN_OWNER_ANNOTATION = `${API_GROUP}/drain-owner`;
/**
 * On a drain checkpoint: the evicted pod's template revision (a StatefulSet's `controller-revision-hash`, a
 * ReplicaSet's `pod-template-hash` label). A replacement restores only on the same revision: after a rollout the
 * StatefulSet keeps its uid and maybe its container names, and restoring the old state would undo the rollout.
 */
export const DRAIN_REVISION_ANNOTATION = `${API_GROUP}/drain-revision`;

/** The pod template revision of a pod, by its controller's kind; undefined when the label is missing. */
export function podRevision(
  ownerKind: string | undefined,
  labels: Record<string, string> | undefined,
): string | undefined {
  const key =
    ownerKind === 'StatefulSet'
      ? 'controller-revision-hash'
      : ownerKind === 'ReplicaSet'
        ? 'pod-template-hash'
        : undefined;
  return (key && labels?.[key]) || undefined;
}

/**
 * The priority of a drain checkpoint's policy: above any a user gives theirs, as a Migrate's checkpoint policy, so
 * that a user's policy selecting every CheckpointBackup of the namespace cannot carry it to other clusters.
 */
export const DRAIN_POLICY_PRIORITY = 2_147_483_647;

export const drainPolicyName = (checkpoint: string): string => `migration-${checkpoint}`.slice(0, 253);
/** The dockerconfigjson pull secret the replacement pod pulls its checkpoint image with. */
export const drainPullSecretName = (checkpoint: string): string => `${checkpoint}-pull`.slice(0, 253);

/** The workload a pod's controller belongs to (a StatefulSet, or the Deployment of a ReplicaSet). */
export interface PodWorkload {
  kind: 'Deployment' | 'StatefulSet';
  name: string;
}

/** The clusters a backup is placed in, as the hub recorded it (status.placement), else those reporting. */
export function backupClustersOf(b: Pick<CheckpointBackup, 'status'>): string[] {
  return b.status?.placement?.clusters ?? (b.status?.clusters ?? []).map((c) => c.name);
}

/**
 * The CheckpointBackup that keeps a pod's state on eviction: a workload-level backup of the pod's workload, in the
 * pod's namespace, placed in the pod's cluster, with spec.keepState.eviction, that no rule refuses, not being
 * deleted. Several: the first by name (the same answer on every call and every hub replica). A backup whose
 * references leave its namespace (crossNamespaceRef: stored before the admission policy, or with it off) never
 * covers: the gate would copy another namespace's registry secret into this one's drain pull secret, and a name that
 * is not an object name would be written into the webhook configuration's CEL.
 */
export function coveringBackup(
  backups: CheckpointBackup[],
  namespace: string,
  workload: PodWorkload | undefined,
  cluster: string,
): (EvictionOptIn & { object: CheckpointBackup }) | undefined {
  if (!workload) return undefined;
  const b = backups
    .filter(
      (x) =>
        x.metadata.namespace === namespace &&
        !x.spec.podRef &&
        x.spec.resourceRef.apiVersion === 'apps/v1' &&
        x.spec.resourceRef.kind === workload.kind &&
        x.spec.resourceRef.name === workload.name &&
        !!x.spec.keepState?.eviction &&
        !keepStateRefusal(x) &&
        !crossNamespaceRef(x) &&
        !x.metadata.deletionTimestamp &&
        backupClustersOf(x).includes(cluster),
    )
    .sort((x, y) => x.metadata.name.localeCompare(y.metadata.name))[0];
  if (!b) return undefined;
  return {
    backup: b.metadata.name,
    timeoutSeconds: keepStateSettings(b).eviction!.timeoutSeconds,
    object: b,
  };
}

export interface EvictedPodRef {
  namespace: string;
  name: string;
  uid: string;
  /** The pod's controller ownerReference (its StatefulSet or ReplicaSet, by uid). */
  owner: Owner;
  /** The pod's template revision (podRevision); a checkpoint without one restores no pod. */
  revision?: string;
  /** The pod's container names (the checkpoint's, when the backup names none). */
  containers: string[];
}

type OwnedObject<K extends string> = {
  apiVersion: string;
  kind: K;
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences: { apiVersion: string; kind: string; name: string; uid: string }[];
  };
  spec: Record<string, unknown>;
};

/** The drain checkpoint of a pod and the policy that places it in the pod's cluster only. */
export function drainObjects(
  covering: CheckpointBackup,
  pod: EvictedPodRef,
  cluster: string,
  checkpointName: string,
): { backup: OwnedObject<typeof KIND>; policy: OwnedObject<'PropagationPolicy'> } {
  const s = covering.spec;
  const owners = [
    { apiVersion: API_VERSION, kind: KIND, name: covering.metadata.name, uid: covering.metadata.uid ?? '' },
  ];
  // A backup's name may be longer than a label value holds (63): labelValue hashes it to fit. Only the label's
  // presence is read back (isDrainCheckpoint); the ownerReference names the covering backup exactly.
  const labels = { [DRAIN_OF_LABEL]: labelValue(covering.metadata.name), [DRAIN_CLUSTER_LABEL]: cluster };
  const placement = { clusterAffinity: { clusterNames: [cluster] } };
  return {
    backup: {
      apiVersion: API_VERSION,
      kind: KIND,
      metadata: {
        name: checkpointName,
        namespace: pod.namespace,
        labels,
        annotations: {
          [DRAIN_POD_ANNOTATION]: pod.name,
          [DRAIN_POD_UID_ANNOTATION]: pod.uid,
          [DRAIN_OWNER_ANNOTATION]: `${pod.owner.kind}/${pod.owner.name}/${pod.owner.uid}`,
          ...(pod.revision ? { [DRAIN_REVISION_ANNOTATION]: pod.revision } : {}),
        },
        ownerReferences: owners,
      },
      spec: {
        schedule: 'immediately',
        podRef: { name: pod.name },
        resourceRef: s.resourceRef,
        ...(s.containers?.length ? { containers: s.containers } : {}),
        ...(s.registry ? { registry: s.registry } : {}),
        ...(s.encryption ? { encryption: s.encryption } : {}),
        ...(s.retention ? { retention: s.retention } : {}),
        placement,
      },
    },
    policy: {
      apiVersion: 'policy.karmada.io/v1alpha1',
      kind: 'PropagationPolicy',
      metadata: {
        name: drainPolicyName(checkpointName),
        namespace: pod.namespace,
        labels,
        ownerReferences: owners,
      },
      spec: {
        priority: DRAIN_POLICY_PRIORITY,
        resourceSelectors: [
          { apiVersion: API_VERSION, kind: KIND, name: checkpointName },
          { apiVersion: 'v1', kind: 'Secret', name: drainPullSecretName(checkpointName) },
        ],
        placement,
      },
    },
  };
}

/** One member's result for a drain checkpoint, as the hub or Karmada's aggregated status carries it. */
export interface MemberResult {
  name: string;
  phase?: string;
  message?: string;
  builtImages?: BuiltImage[];
}

/** `<image>@<digest>` of a pushed image (the tag dropped), or undefined before its digest is known. */
function pushedByDigest(i: BuiltImage): string | undefined {
  if (!i.pushed || !i.digest) return undefined;
  const name = i.imageName.split('@')[0]!;
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  return `${colon > slash ? name.slice(0, colon) : name}@${i.digest}`;
}

/** The newest pushed image of each container, by digest. */
function pushedImages(images: BuiltImage[] | undefined): { containerName: string; image: string }[] {
  const newest = new Map<string, BuiltImage>();
  for (const i of images ?? [])
    if (pushedByDigest(i) && (newest.get(i.containerName)?.buildTime ?? '') <= i.buildTime)
      newest.set(i.containerName, i);
  return [...newest.values()].map((i) => ({ containerName: i.containerName, image: pushedByDigest(i)! }));
}

/** What the gate needs of a drain checkpoint: undefined when there is none, or the object is not one a gate made. */
export function drainCheckpointOf(
  obj: CheckpointBackup | undefined,
  results: MemberResult[],
  cluster: string,
  containers: string[],
): DrainCheckpoint | undefined {
  if (!obj?.metadata.labels?.[DRAIN_OF_LABEL]) return undefined;
  const here = results.find((r) => r.name === cluster);
  return {
    name: obj.metadata.name,
    podUid: obj.metadata.annotations?.[DRAIN_POD_UID_ANNOTATION] ?? '',
    createdAt: obj.metadata.creationTimestamp ?? '',
    ...(here?.phase ? { phase: here.phase } : {}),
    ...(here?.message ? { message: here.message } : {}),
    pushedImages: pushedImages(here?.builtImages),
    containers: obj.spec.containers?.length ? obj.spec.containers.map((c) => c.name) : containers,
  };
}

/**
 * The gate's whole answer for an eviction, from the objects as read: the pod, the backup that covers it, and the
 * CheckpointBackup of the drain checkpoint's name with its members' results. A CheckpointBackup of that name that no
 * gate made (someone else's) is never written over nor waited for: the eviction proceeds without state and says why,
 * since waiting would hold the drain for nothing until the client gives up.
 */
export function gateVerdict(
  pod: EvictedPod,
  optIn: EvictionOptIn | undefined,
  obj: CheckpointBackup | undefined,
  results: MemberResult[],
  cluster: string,
  containers: string[],
  now: Date,
): GateVerdict {
  const verdict = evictionVerdict(pod, optIn, drainCheckpointOf(obj, results, cluster, containers), now);
  if (verdict.kind !== 'start' || !obj) return verdict;
  return {
    kind: 'proceedWithout',
    reason: 'CheckpointNameTaken',
    message: `pod ${pod.namespace}/${pod.name} evicted without its state: CheckpointBackup ${obj.metadata.name}, the name of its drain checkpoint, exists and was not made by the eviction gate; delete or rename it`,
  };
}

/** A drain checkpoint as the replacement webhook chooses among them; undefined when it is not one. */
export function candidateOf(
  obj: CheckpointBackup,
  results: MemberResult[],
  cluster: string,
  claimAnnotation: string,
): Candidate | undefined {
  const a = obj.metadata.annotations ?? {};
  const [kind, name, uid] = (a[DRAIN_OWNER_ANNOTATION] ?? '').split('/');
  if (!obj.metadata.labels?.[DRAIN_OF_LABEL] || obj.metadata.labels[DRAIN_CLUSTER_LABEL] !== cluster)
    return undefined;
  if (!kind || !name || !uid || !a[DRAIN_POD_ANNOTATION]) return undefined;
  const here = results.find((r) => r.name === cluster);
  return {
    name: obj.metadata.name,
    podName: a[DRAIN_POD_ANNOTATION],
    owner: { kind, name, uid },
    createdAt: obj.metadata.creationTimestamp ?? '',
    ...(a[DRAIN_REVISION_ANNOTATION] ? { revision: a[DRAIN_REVISION_ANNOTATION] } : {}),
    ...(here?.phase ? { phase: here.phase } : {}),
    pushedImages: pushedImages(here?.builtImages),
    ...(a[claimAnnotation] ? { claimedBy: a[claimAnnotation] } : {}),
  };
}

/** An admission response to an eviction: allowed, or the Eviction API's "not yet" (429), as a PDB answers. */
export type GateResponse =
  | { uid: string; allowed: true; warnings?: string[] }
  | {
      uid: string;
      allowed: false;
      status: {
        code: 429;
        reason: 'TooManyRequests';
        message: string;
        details: { retryAfterSeconds: number };
      };
    };

export function gateResponse(uid: string, verdict: GateVerdict): GateResponse {
  if (verdict.kind === 'start' || verdict.kind === 'wait')
    return {
      uid,
      allowed: false,
      status: {
        code: 429,
        reason: 'TooManyRequests',
        message: `stateful-migration: ${verdict.message}`,
        details: { retryAfterSeconds: verdict.retryAfterSeconds },
      },
    };
  if (verdict.kind === 'proceedWithout') return { uid, allowed: true, warnings: [verdict.message] };
  return { uid, allowed: true };
}
