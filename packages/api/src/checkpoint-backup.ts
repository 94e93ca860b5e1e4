import type { FailoverRecord } from './failover.js';
import type { KeepState } from './keep-state.js';
import type { AggregatePhase } from './phases.js';
import type { ReplicaStatus } from './workload.js';

export const API_GROUP = 'migration.dcnlab.com';
export const API_VERSION = `${API_GROUP}/v1`;
export const KIND = 'CheckpointBackup';
export const PLURAL = 'checkpointbackups';
export const SHORT_NAME = 'cpb';

/** Where the agent and its defaults live (seed 002). */
export const SYSTEM_NAMESPACE = 'stateful-migration';
export const DEFAULT_REGISTRY_SECRET = { name: 'registry-credentials', namespace: SYSTEM_NAMESPACE } as const;

export interface ObjectRef {
  name: string;
  namespace?: string;
}

export interface ResourceRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

export interface ContainerRef {
  name: string;
  image?: string;
}

export interface Registry {
  /** Registry host (and port), e.g. registry.example.com or 127.0.0.1:5000. */
  url: string;
  /** Repository under the registry, e.g. team/checkpoints. */
  repository: string;
  secretRef?: ObjectRef;
}

/**
 * Where the recipients' public keys are: a Secret or ConfigMap in the object's own namespace (there is no namespace
 * field: keys of another namespace cannot be named). Each data key holds one PEM public key.
 */
export interface PublicKeysRef {
  kind: 'Secret' | 'ConfigMap';
  name: string;
}

/** OCI image encryption (ocicrypt's JWE scheme) of the checkpoint images pushed to spec.registry (issue 14). */
export interface Encryption {
  publicKeysRef: PublicKeysRef;
}

/** A Kubernetes label selector, as in a PropagationPolicy's clusterAffinity. */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: {
    key: string;
    operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
    values?: string[];
  }[];
}

/** Member clusters by name and/or labels, shaped like a PropagationPolicy's clusterAffinity. */
export interface ClusterAffinity {
  clusterNames?: string[];
  labelSelector?: LabelSelector;
}

/** Where the hub sends a CheckpointBackup; without it, to where its workload runs. */
export interface BackupPlacement {
  clusterAffinity?: ClusterAffinity;
}

export interface CheckpointBackupSpec {
  /** "immediately" or a 5-field cron expression. */
  schedule: string;
  /** IANA time zone for the cron schedule. @default UTC */
  timeZone?: string;
  /**
   * The pod to checkpoint. Omitted only when resourceRef is a Deployment or StatefulSet: then every pod of that
   * workload, in every cluster where it runs (workload.ts).
   */
  podRef?: ObjectRef;
  resourceRef: ResourceRef;
  /** Empty means every container of the pod. */
  containers?: ContainerRef[];
  /** Without it, images stay in the node's containers-storage under localhost/. */
  registry?: Registry;
  /** Delete the pod after a successful checkpoint. @default false */
  stopPod?: boolean;
  /** Member clusters to act in (hub only). */
  placement?: BackupPlacement;
  /** Retention of this pod's checkpoints; wins over the agent-wide defaults (issue 6). */
  retention?: RetentionPolicy;
  /**
   * Push the checkpoint images encrypted for these recipients (needs registry): the registry never receives the
   * archive in clear. Without it images are pushed as they are.
   */
  encryption?: Encryption;
  /**
   * A workload-level backup with a registry: its pods come back from their checkpoints after a drain's eviction or
   * a cluster failover (keep-state.ts, docs/adr/0004).
   */
  keepState?: KeepState;
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface CheckpointFile {
  containerName: string;
  filePath: string;
  checkpointTime: string;
}

export interface BuiltImage {
  containerName: string;
  imageName: string;
  /** The manifest digest; for an encrypted image known only once pushed (its layer key is random). */
  digest?: string;
  buildTime: string;
  pushed: boolean;
  /**
   * An encrypted image's recipients: sha256:<hex> of each public key's SubjectPublicKeyInfo. Only holders of one of
   * the private keys can read the image. Absent for an image in clear.
   */
  encryptedFor?: string[];
  /**
   * sha256:<hex> of the checkpoint archive as the kubelet wrote it (the image's layer before any encryption, the
   * config's diff_id). A restore carries it to the node, which checks the archive it unpacks against it.
   */
  archiveDigest?: string;
}

/** The run in progress, or the last one: what a restarted agent resumes from. */
export interface RunStatus {
  /** Unique per run; the tag of the run's images. */
  id: string;
  startedAt: string;
  /** The spec generation the run serves. */
  generation: number;
  /** The node whose agent runs it. */
  node: string;
  /** The cron tick it serves, for cron schedules. */
  tick?: string;
  containers: string[];
  /** Failed attempts at this generation (immediately) so far. */
  failures?: number;
}

/** One member cluster's part of a hub object's status, brought back by the hub controller. */
export interface ClusterStatus {
  name: string;
  /** The member's phase; Pending before its agent reports, Unknown while the cluster is not Ready. */
  phase: AggregatePhase;
  message?: string;
  lastCheckpointTime?: string;
  builtImages?: BuiltImage[];
  /** The member's builtImagesDropped. */
  builtImagesDropped?: number;
  /** Whether Karmada applied the object in the member. */
  applied: boolean;
  /** The node and pod of the member's last run. */
  node?: string;
  pod?: string;
  /** What the agent recorded of the pod at checkpoint time (for restores). */
  checkpointedPod?: CheckpointedPod;
  /** A workload-level backup: each pod of the workload in this cluster. */
  replicas?: ReplicaStatus[];
  /** A workload-level backup: replicas whose last run completed over present replicas, e.g. 2/2. */
  replicasCompleted?: string;
}

export interface CheckpointBackupStatus {
  /** Members write a run phase; the hub writes the aggregate, which adds Pending and Unknown. */
  phase?: AggregatePhase;
  run?: RunStatus;
  message?: string;
  observedGeneration?: number;
  lastCheckpointTime?: string;
  nextScheduledTime?: string;
  conditions?: Condition[];
  checkpointFiles?: CheckpointFile[];
  /** The newest MAX_BUILT_IMAGES_PER_CONTAINER per container, newest run last (built-images.ts). */
  builtImages?: BuiltImage[];
  /** Entries dropped from builtImages over time to keep status small; their images were not deleted. */
  builtImagesDropped?: number;
  /** What the agent recorded of the pod at checkpoint time (for restores). */
  checkpointedPod?: CheckpointedPod;
  /** A workload-level backup (members): each pod of the workload in this cluster, from the children's status. */
  replicas?: ReplicaStatus[];
  /** A workload-level backup: replicas whose last run completed over present replicas (over all clusters on the hub). */
  replicasCompleted?: string;
  /** Hub only: each placed cluster's status. */
  clusters?: ClusterStatus[];
  /** Hub only: finished clusters over placed clusters, e.g. 1/2 (a printer column). */
  clustersReady?: string;
  /** Hub only: where the hub placed the object, and why. */
  placement?: { clusters: string[]; by: string; policy?: string };
  /** Hub only, keepState.clusterFailover: the last time Karmada moved the workload off a lost cluster (failover.ts). */
  lastFailover?: FailoverRecord;
}

export interface CheckpointBackup {
  apiVersion: typeof API_VERSION;
  kind: typeof KIND;
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
    finalizers?: string[];
    deletionTimestamp?: string;
    creationTimestamp?: string;
  };
  spec: CheckpointBackupSpec;
  status?: CheckpointBackupStatus;
}

/** The pod's namespace: podRef.namespace, else the object's own. */
export function podNamespace(b: Pick<CheckpointBackup, 'metadata' | 'spec'>): string {
  return b.spec.podRef?.namespace || b.metadata.namespace;
}

/** The registry secret of an object: its own secretRef (namespace defaulting to the object's), else the default. */
export function registrySecret(b: Pick<CheckpointBackup, 'metadata' | 'spec'>): ObjectRef | undefined {
  const r = b.spec.registry;
  if (!r) return undefined;
  if (!r.secretRef) return { ...DEFAULT_REGISTRY_SECRET };
  return { name: r.secretRef.name, namespace: r.secretRef.namespace || b.metadata.namespace };
}

// --- What restore needs, recorded by the agent at checkpoint time (issue 5) ---

/** A container of the checkpointed pod, as its spec had it: restore rebuilds the pod from this. */
export interface CheckpointedContainer {
  name: string;
  /** The original image; CRI-O restores on top of it, so the target node must be able to pull it. */
  image: string;
  ports?: Record<string, unknown>[];
  /**
   * Each variable's name, and its valueFrom reference if it has one; never a literal value (issue 11): status
   * travels to the Karmada control plane and into its ResourceBindings. Never resolved values either.
   */
  env?: Record<string, unknown>[];
  /** CRI-O requires every checkpointed bind mount at the same path in the restored container. */
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
  securityContext?: Record<string, unknown>;
}

export interface CheckpointedPod {
  name: string;
  namespace: string;
  uid?: string;
  node?: string;
  labels?: Record<string, string>;
  /** The projected token volume the pod had needs the same ServiceAccount name. */
  serviceAccountName?: string;
  containers: CheckpointedContainer[];
  volumes?: Record<string, unknown>[];
}

// --- Retention (issue 6) ---

/**
 * User pins on a CheckpointBackup: comma-separated image references (by tag, e.g. reg/repo/checkpoint-db-0-pg:TAG, or
 * by digest, reg/repo/checkpoint-db-0-pg@sha256:...) or run ids (the tag of every image of that run of this object).
 * Retention never deletes a pinned image, nor the archive it was built from.
 */
export const PINNED_IMAGES_ANNOTATION = `${API_GROUP}/pinned-images`;
/** Written on the hub object by the restore controller (propagated to members by Karmada); same format as the user's. */
export const RESTORE_PINNED_IMAGES_ANNOTATION = `${API_GROUP}/restore-pinned-images`;

/**
 * Retention limits, named as in checkpoint-restore-operator. Every limit applies to each store separately: the
 * checkpoint archives on a node, the checkpoint images in a node's containers-storage, and the tags in a registry.
 * 0 means unlimited. Sizes are Kubernetes quantities ("512Mi", "2Gi") or integers in MiB (the operator's "MB").
 */
export interface RetentionPolicy {
  /** Checkpoints kept per namespace/pod/container, newest first. @default 10 */
  maxCheckpointsPerContainer?: number;
  /** Checkpoints kept per pod. @default 0 (unlimited) */
  maxCheckpointsPerPod?: number;
  /** Checkpoints kept per namespace. @default 0 (unlimited) */
  maxCheckpointsPerNamespace?: number;
  /** A checkpoint larger than this is deleted. @default 0 (unlimited) */
  maxCheckpointSize?: number | string;
  /** Oldest checkpoints are deleted until the container's total is within this. @default 0 (unlimited) */
  maxTotalSizePerContainer?: number | string;
  /** @default 0 (unlimited) */
  maxTotalSizePerPod?: number | string;
  /** @default 0 (unlimited) */
  maxTotalSizePerNamespace?: number | string;
  /**
   * Keep the archives and local images of pods that no longer exist (orphans). false deletes them. Registry images are
   * never treated as orphans: they are what a restore of a lost pod needs. @default true
   */
  retainOrphans?: boolean;
}

/** The pins of an object, user's and restore's, in the order written. */
export function pinnedImages(
  b: Pick<CheckpointBackup, 'metadata'>,
): { value: string; source: 'user' | 'restore' }[] {
  const a = b.metadata.annotations ?? {};
  const split = (v: string | undefined) =>
    (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  return [
    ...split(a[PINNED_IMAGES_ANNOTATION]).map((value) => ({ value, source: 'user' as const })),
    ...split(a[RESTORE_PINNED_IMAGES_ANNOTATION]).map((value) => ({ value, source: 'restore' as const })),
  ];
}

/**
 * A size limit in bytes: a Kubernetes quantity ("512Mi", "1G", "1.5Gi") or an integer number of MiB; 0 or absent is
 * unlimited (0). Undefined for a value that is neither.
 */
export function parseSize(v: number | string | undefined): number | undefined {
  if (v === undefined || v === '') return 0;
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? Math.round(v * 2 ** 20) : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(Ki|Mi|Gi|Ti|k|M|G|T)?\s*$/.exec(v);
  if (!m) return undefined;
  const unit = m[2] ?? '';
  const mult: Record<string, number> = {
    '': 1,
    Ki: 2 ** 10,
    Mi: 2 ** 20,
    Gi: 2 ** 30,
    Ti: 2 ** 40,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
  };
  return Math.round(Number(m[1]) * mult[unit]!);
}
