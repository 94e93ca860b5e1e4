import type { AggregatePhase } from './phases.js';

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
  podRef: ObjectRef;
  resourceRef: ResourceRef;
  /** Empty means every container of the pod. */
  containers?: ContainerRef[];
  /** Without it, images stay in the node's containers-storage under localhost/. */
  registry?: Registry;
  /** Delete the pod after a successful checkpoint. @default false */
  stopPod?: boolean;
  /** Member clusters to act in (hub only). */
  placement?: BackupPlacement;
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
  digest?: string;
  buildTime: string;
  pushed: boolean;
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
  /** Whether Karmada applied the object in the member. */
  applied: boolean;
  /** The node and pod of the member's last run. */
  node?: string;
  pod?: string;
  /** What the agent recorded of the pod at checkpoint time (for restores). */
  checkpointedPod?: Record<string, unknown>;
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
  builtImages?: BuiltImage[];
  /** What the agent recorded of the pod at checkpoint time (for restores). */
  checkpointedPod?: Record<string, unknown>;
  /** Hub only: each placed cluster's status. */
  clusters?: ClusterStatus[];
  /** Hub only: finished clusters over placed clusters, e.g. 1/2 (a printer column). */
  clustersReady?: string;
  /** Hub only: where the hub placed the object, and why. */
  placement?: { clusters: string[]; by: string; policy?: string };
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
    finalizers?: string[];
    deletionTimestamp?: string;
    creationTimestamp?: string;
  };
  spec: CheckpointBackupSpec;
  status?: CheckpointBackupStatus;
}

/** The pod's namespace: podRef.namespace, else the object's own. */
export function podNamespace(b: Pick<CheckpointBackup, 'metadata' | 'spec'>): string {
  return b.spec.podRef.namespace || b.metadata.namespace;
}

/** The registry secret of an object: its own secretRef (namespace defaulting to the object's), else the default. */
export function registrySecret(b: Pick<CheckpointBackup, 'metadata' | 'spec'>): ObjectRef | undefined {
  const r = b.spec.registry;
  if (!r) return undefined;
  if (!r.secretRef) return { ...DEFAULT_REGISTRY_SECRET };
  return { name: r.secretRef.name, namespace: r.secretRef.namespace || b.metadata.namespace };
}
