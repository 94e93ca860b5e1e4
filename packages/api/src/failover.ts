import type { BuiltImage } from './checkpoint-backup.js';
import type { ReplicaStatus } from './workload.js';

/**
 * The record of a cluster failover with state (issue 16, docs/adr/0004): written by the hub into the workload-level
 * CheckpointBackup's `status.lastFailover` on the Karmada control plane when Karmada moves the workload off a lost
 * cluster, and read by the mutating webhook (served by the hub, docs/adr/0007 Decision 3) when the workload's
 * controller creates the replacement pods in the target. One record is both what the webhook restores from and what
 * status and the status view show, so they cannot disagree; it lives on the hub object, never only in a member, so
 * losing a cluster or restarting the hub never loses it.
 */

/** Why a replica of the lost cluster starts without its state (or is not recreated at all). */
export const FRESH_REASONS = [
  /** No pushed image by digest of every container in its record. */
  'NoCheckpoint',
  /** Its latest checkpoint is older than keepState.clusterFailover.maxAgeSeconds. */
  'TooOld',
  /** The target's nodes cannot restore (CRI-O setting, or no key for an encrypted image). */
  'TargetCannotRestore',
  /** The target's nodes could not be read when the move was decided. */
  'TargetNodesUnknown',
  /** The only cluster that recreates it is the one its checkpoint came from: state never runs twice. */
  'SameCluster',
  /** No cluster Karmada chose recreates this replica (fewer replicas, or its ordinal is not created anywhere). */
  'NotRecreated',
] as const;
export type FreshReason = (typeof FRESH_REASONS)[number];

/** One replica of a lost cluster: restored from its checkpoint into toCluster, or why not. */
export interface FailoverReplica {
  /** The pod that ran in fromCluster. */
  pod: string;
  /** Its StatefulSet ordinal: ordinal N only ever restores into ordinal N. */
  ordinal?: number;
  fromCluster: string;
  /** The member CheckpointBackup that checkpointed it (its child), for pins and messages. */
  backup: string;
  /** Where its replacement is created; absent when none is (NotRecreated). */
  toCluster?: string;
  /** Restored: the image of each container, by digest (the webhook sets these). */
  images?: BuiltImage[];
  /** Restored: when the state was taken (the older of the run's start and the images' build). */
  checkpointTime?: string;
  /** Restored: how old that state was when the move was decided. */
  stateAgeSeconds?: number;
  /** Not restored: why, and in words. */
  reason?: FreshReason;
  message?: string;
}

export interface FailoverRecord {
  /** When Karmada evicted the workload (the eviction task's creationTimestamp), else when the hub saw it. */
  time: string;
  /** When the hub decided; ages are measured at this instant. */
  decidedAt: string;
  /**
   * The lost clusters Karmada evicted it from: a task of the taint manager for an untolerated taint
   * (TaintUntolerated) while the cluster is not Ready. Only their replicas are restored.
   */
  fromClusters: string[];
  /**
   * Clusters Karmada evicted it from that were not lost (an application failover, a NoExecute taint on a cluster
   * still Ready): their pods run until Karmada removes them, so none of their replicas is restored anywhere.
   */
  notLostClusters?: string[];
  /** Set when no evicted cluster was lost: the eviction was not treated as a failover, pods start as Karmada starts them. */
  reason?: 'NotAClusterFailure';
  /** Where Karmada runs it now (the binding's spec.clusters without the evicted ones). */
  toClusters: string[];
  /** Karmada's reason for the eviction, e.g. TaintUntolerated. */
  evictionReason?: string;
  /** Every replica that ran in the lost clusters. */
  replicas: FailoverReplica[];
  /** Replicas restored from a checkpoint. */
  restored: number;
  /** Replicas recreated without their state. */
  startedFresh: number;
  /** The oldest state restored, in seconds: the work lost by the failover is at most this (plus detection). */
  stateAgeSeconds?: number;
  /** One line for people and for the Event. */
  message: string;
}

/**
 * What the webhook restores in `cluster`: the record's restored replicas headed there, shaped as the migration
 * webhook's input (ReplicaStatus, docs/adr/0007), so one `checkpointFor` serves migration and failover.
 */
export function failoverReplicasInto(record: FailoverRecord | undefined, cluster: string): ReplicaStatus[] {
  return (record?.replicas ?? [])
    .filter((r) => r.toCluster === cluster && r.images?.length)
    .map((r) => ({
      pod: r.pod,
      backup: r.backup,
      ...(r.ordinal !== undefined ? { ordinal: r.ordinal } : {}),
      phase: 'Completed' as const,
      present: false,
      ...(r.checkpointTime ? { lastCheckpointTime: r.checkpointTime } : {}),
      images: r.images!,
    }));
}
