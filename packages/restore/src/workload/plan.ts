import {
  registryCredentials,
  setCondition,
  type CheckpointRestoreStatus,
  type CheckpointBackup,
  type CheckpointRestore,
  type FreshCheckpoint,
  type ReplicaStatus,
  type RestoredReplica,
  type WorkloadMigration,
} from '@stateful-migration/api';
import { freshBackup, freshBackupName } from '../fresh-checkpoint.js';
import { describe as describePod, podFailure, runningAndReady, type PodStatus } from '../phase.js';
import { backupRefusal, byDigest, targetCluster, type ClusterView, type Refusal } from '../validate.js';
import { migrationPolicyName, RESTORED_FROM_ANNOTATION, SOURCE_STOPPED_GATE } from './migration.js';

// The restore controller's decisions for migrating a whole workload (issue 13 item 3; docs/adr/0007 Decision 3), as
// pure functions over what it read: whether a migration may begin (before anything is created or stopped), the
// fresh workload-level checkpoint it asks for, what that checkpoint's status means, and where each replica is.

const refuse = (reason: string, message: string): Refusal => ({ kind: 'refuse', reason, message });

export type WorkloadIntent =
  { kind: 'ok'; migration: WorkloadMigration } | { kind: 'wait'; reason: string; message: string } | Refusal;

/**
 * A Kubernetes object name (DNS-1123 subdomain, at most 253): one path segment, never `..`. A name from a spec goes
 * into request paths only when it is one, so `../../other/statefulsets/x` never reads another namespace's object.
 */
export const isObjectName = (name: string): boolean =>
  name.length <= 253 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name);

/** What a workload migration refuses before it reads anything the backup names: another namespace, or a path. */
export function workloadRefRefusal(r: CheckpointRestore, b: CheckpointBackup): Refusal | undefined {
  const missing = backupRefusal(r, b);
  if (missing) return missing;
  const name = b.spec.resourceRef.name;
  return isObjectName(name)
    ? undefined
    : refuse(
        'InvalidReferenceName',
        `spec.resourceRef.name "${name}" is not an object name (a DNS-1123 subdomain) in CheckpointBackup ` +
          `${b.metadata.namespace}/${b.metadata.name}: nothing was read or touched`,
      );
}

/** The workload's template on Karmada, as far as a migration reads it: its replicas, and where Karmada runs it. */
export interface WorkloadView {
  replicas: number;
  /** The clusters of its ResourceBinding. */
  clusters: string[];
}

/**
 * The checks of a workload migration, before anything: the backup exists, is the tenant's and covers a whole
 * Deployment or StatefulSet; Migrate (a copy of a whole workload beside itself is not a thing Karmada can place);
 * no spec.images or podName (each replica gets its own checkpoint, in a pod its controller names);
 * unencrypted (the webhook does not yet steer pods to the nodes holding keys); a registry with the backup's own
 * secret; the workload is a template on Karmada that runs in exactly one cluster, with at least one replica; one
 * Ready target that is not that cluster. The target's nodes are checked by the shell right after.
 */
export function workloadIntent(i: {
  restore: CheckpointRestore;
  backup: CheckpointBackup | undefined;
  workload: WorkloadView | undefined;
  clusters: ClusterView[];
}): WorkloadIntent {
  const r = i.restore;
  const missing = backupRefusal(r, i.backup);
  if (missing || !i.backup) return missing!;
  const b = i.backup;
  const ref = b.spec.resourceRef;
  const what = `${ref.kind} ${r.metadata.namespace}/${ref.name}`;
  const unfit = unfitForWorkload(r, b);
  if (unfit) return unfit;
  if (!i.workload)
    return refuse(
      'WorkloadNotOnKarmada',
      `${what} is not a template on the Karmada control plane placed by Karmada (no ResourceBinding): a workload ` +
        'migrates by changing where Karmada places it; nothing was created or stopped',
    );
  const target = targetCluster(r, i.clusters);
  if (typeof target !== 'string') return target;
  if (i.workload.clusters.length !== 1)
    return i.workload.clusters.length
      ? refuse(
          'SourceClusterAmbiguous',
          `${what} runs in ${i.workload.clusters.join(', ')}: a migration moves a workload out of one cluster; ` +
            'nothing was created or stopped',
        )
      : { kind: 'wait', reason: 'WorkloadNotPlaced', message: `waiting for Karmada to place ${what}` };
  const source = i.workload.clusters[0]!;
  if (source === target)
    return refuse('AlreadyThere', `${what} runs in ${target} already; nothing to migrate`);
  if (i.workload.replicas < 1)
    return refuse('NoReplicas', `${what} has no replicas: nothing to checkpoint or migrate`);
  return {
    kind: 'ok',
    migration: {
      apiVersion: ref.apiVersion || 'apps/v1',
      kind: ref.kind as WorkloadMigration['kind'],
      name: ref.name,
      sourceCluster: source,
      targetCluster: target,
      replicas: i.workload.replicas,
      policy: migrationPolicyName(r.metadata.name),
      into: target,
      from: source,
      ...(r.spec.targetNode ? { targetNode: r.spec.targetNode } : {}),
    },
  };
}

/** What a workload migration refuses of the restore's spec and the backup, before looking at the workload. */
function unfitForWorkload(r: CheckpointRestore, b: CheckpointBackup): Refusal | undefined {
  const ref = b.spec.resourceRef;
  const name = `${b.metadata.namespace}/${b.metadata.name}`;
  const what = `${ref.kind} ${r.metadata.namespace}/${ref.name}`;
  if ((r.spec.mode ?? 'Restore') !== 'Migrate')
    return refuse(
      'WorkloadRestoreNotSupported',
      `CheckpointBackup ${name} covers all of ${what} (no spec.podRef): a whole workload is moved with mode ` +
        'Migrate (its placement changes); a copy beside the source is not supported; nothing was created. Restore ' +
        'one replica from a CheckpointBackup with spec.podRef naming it',
    );
  const unused = [r.spec.images?.length ? 'images' : '', r.spec.podName ? 'podName' : ''].filter(Boolean);
  if (unused.length)
    return refuse(
      'NotForWorkload',
      `spec.${unused.join(', spec.')} ${unused.length > 1 ? 'are' : 'is'} for a single pod: migrating ${what} gives ` +
        'each replica its own fresh checkpoint, in a pod its own controller makes; remove it',
    );
  if (b.spec.encryption)
    return refuse(
      'EncryptedWorkloadNotSupported',
      `CheckpointBackup ${name} encrypts its checkpoints: migrating a whole workload from encrypted images is not ` +
        'supported yet (its pods are not steered to the nodes holding the keys); nothing was created or stopped',
    );
  if (!b.spec.registry || registryCredentials(b, []).kind !== 'own')
    return refuse(
      'RegistryRequired',
      `CheckpointBackup ${name} has no spec.registry with its own spec.registry.secretRef: the target pulls each ` +
        "replica's checkpoint from a registry; set them to migrate",
    );
  return undefined;
}

/** The status.checkpoint a workload migration records before it creates its CheckpointBackup. */
export function workloadCheckpoint(r: CheckpointRestore, m: WorkloadMigration, now: Date): FreshCheckpoint {
  return {
    backup: freshBackupName(r.metadata.name),
    cluster: m.sourceCluster,
    pod: `${m.kind}/${m.name}`,
    targetCluster: m.targetCluster,
    requestedTime: now.toISOString(),
  };
}

/**
 * The migration's fresh checkpoint: a workload-level CheckpointBackup of the user's backup's workload, containers,
 * registry and retention, run once ("immediately") in the source cluster only, each pod deleted right after its
 * checkpoint (stopPod, allowed on a workload-level object only with the restore-owner label it carries: the
 * migration's webhook holds the replacements its controller makes unscheduled). Owned by the restore.
 */
export function freshWorkloadBackup(
  r: CheckpointRestore,
  from: CheckpointBackup,
  c: FreshCheckpoint,
  ownerLabel: Record<string, string>,
): CheckpointBackup {
  // A single pod's fresh checkpoint (ADR 0006) without its podRef: every pod of the resourceRef's workload.
  const b = freshBackup(r, from, c, ownerLabel);
  delete b.spec.podRef;
  return b;
}

export type WorkloadCheckpointProgress =
  | { kind: 'create' }
  | { kind: 'wait'; message: string }
  | { kind: 'taken'; replicas: RestoredReplica[] }
  | Refusal;

/**
 * Where the fresh checkpoints are, from the migration's CheckpointBackup on the hub and its replicas in the source
 * cluster: every replica the workload had must have run to CompletedPodDeleted (checkpointed, pushed, its pod
 * deleted right after), each with a pushed image of every container by digest. A replica that failed, or was
 * checkpointed and not stopped, ends the migration before anything is placed (named).
 */
export function workloadCheckpointProgress(i: {
  migration: WorkloadMigration;
  checkpoint: FreshCheckpoint;
  restoreUid: string | undefined;
  backup: CheckpointBackup | undefined;
  replicas: ReplicaStatus[] | undefined;
}): WorkloadCheckpointProgress {
  const c = i.checkpoint;
  const m = i.migration;
  const what = `${m.kind} ${m.name} in ${m.sourceCluster}`;
  if (!i.backup) return { kind: 'create' };
  const owners = (i.backup.metadata as { ownerReferences?: { uid: string }[] }).ownerReferences ?? [];
  if (!i.restoreUid || !owners.some((o) => o.uid === i.restoreUid))
    return refuse(
      'NameTaken',
      `CheckpointBackup ${i.backup.metadata.namespace}/${c.backup} exists and is not this restore's: it is left ` +
        'alone, and nothing was checkpointed or stopped; delete or rename it, or migrate under another name',
    );
  const rs = i.replicas ?? [];
  const failed = rs.find((x) => x.phase === 'Failed');
  if (failed)
    return refuse(
      'CheckpointFailed',
      `the checkpoint of replica ${failed.pod} of ${what} failed${failed.message ? `: ${failed.message}` : ''}; ` +
        `nothing was placed in ${m.targetCluster} (CheckpointBackup ${c.backup} shows each replica)`,
    );
  const notStopped = rs.find((x) => x.phase === 'Completed' || x.phase === 'CompletedWithError');
  if (notStopped)
    return refuse(
      'SourceNotStopped',
      `replica ${notStopped.pod} of ${what} was checkpointed but not stopped after its checkpoint` +
        `${notStopped.message ? `: ${notStopped.message}` : ''}; nothing was placed in ${m.targetCluster}`,
    );
  const taken = rs.filter((x) => x.phase === 'CompletedPodDeleted' && x.checkpointedPod && complete(x));
  if (taken.length < m.replicas)
    return {
      kind: 'wait',
      message:
        `checkpointing ${what}: ${taken.length}/${m.replicas} replicas checkpointed and stopped` +
        ` (CheckpointBackup ${c.backup})`,
    };
  return {
    kind: 'taken',
    replicas: taken
      .map((x) => ({
        name: x.pod,
        ...(x.ordinal !== undefined ? { ordinal: x.ordinal } : {}),
        images: (x.images ?? []).map((img) => ({ containerName: img.containerName, image: byDigest(img)! })),
        ...(x.lastCheckpointTime ? { checkpointTime: x.lastCheckpointTime } : {}),
        phase: 'Pending' as const,
      }))
      .sort((a, b) => (a.ordinal ?? 0) - (b.ordinal ?? 0) || a.name.localeCompare(b.name)),
  };
}

/** Every container the pod had has a pushed image by digest. */
function complete(x: ReplicaStatus): boolean {
  const containers = x.checkpointedPod?.containers?.map((c) => c.name) ?? [];
  const pushed = (name: string) =>
    (x.images ?? []).some((img) => img.containerName === name && img.pushed && byDigest(img));
  return !!x.images?.length && containers.every(pushed) && x.images.every((img) => pushed(img.containerName));
}

/** The checkpoints as the webhook's pure answer (admitPod) takes them. */
export function asReplicaStatus(r: RestoredReplica): ReplicaStatus {
  return {
    pod: r.name,
    backup: '',
    phase: 'CompletedPodDeleted',
    present: false,
    ...(r.ordinal !== undefined ? { ordinal: r.ordinal } : {}),
    images: r.images.map((img) => {
      const at = img.image.lastIndexOf('@');
      return {
        containerName: img.containerName,
        imageName: img.image.slice(0, at),
        digest: img.image.slice(at + 1),
        buildTime: '',
        pushed: true,
      };
    }),
  };
}

/** A pod of the workload in a member, as the controller and the webhook read it. */
export interface WorkloadPod {
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; controller?: boolean }[];
    deletionTimestamp?: string;
  };
  spec?: { nodeName?: string; schedulingGates?: { name: string }[] };
  status?: PodStatus;
}

/** Whether a pod still may run a process: it was bound to a node (a gated or unscheduled pod never ran). */
export const mayRun = (p: WorkloadPod): boolean => !!p.spec?.nodeName;

/** Whether the pod waits on the migration's gate. */
export const gated = (p: WorkloadPod): boolean =>
  !!p.spec?.schedulingGates?.some((g) => g.name === SOURCE_STOPPED_GATE);

export interface ReplicaProgress {
  replicas: RestoredReplica[];
  /** Every replica Running and Ready. */
  allRunning: boolean;
  /** The first replica that failed (named in the message), if any. */
  failed?: RestoredReplica;
}

/**
 * Where each replica is in `into`: the pod that carries its name in the webhook's annotation restored-from, and
 * that pod's state (Running and Ready; Failed with the kubelet's reason; Restoring otherwise, or Pending while no
 * pod runs it). A replica not Running within timeoutSeconds of `since` (the placement, or the rollback) fails.
 */
export function replicaProgress(i: {
  replicas: RestoredReplica[];
  pods: WorkloadPod[];
  since: string | undefined;
  now: Date;
  timeoutSeconds: number;
}): ReplicaProgress {
  const started = Date.parse(i.since ?? '');
  const late = Number.isFinite(started) && i.now.getTime() - started > i.timeoutSeconds * 1000;
  const replicas = i.replicas.map((r) =>
    replicaAt(
      r,
      i.pods.find(
        (p) => !p.metadata.deletionTimestamp && p.metadata.annotations?.[RESTORED_FROM_ANNOTATION] === r.name,
      ),
      late,
      i.timeoutSeconds,
    ),
  );
  const failed = replicas.find((r) => r.phase === 'Failed');
  return {
    replicas,
    allRunning: replicas.length > 0 && replicas.every((r) => r.phase === 'Running'),
    ...(failed ? { failed } : {}),
  };
}

/** One replica, from the pod that carries its checkpoint (if any) and whether its time is up. */
function replicaAt(
  r: RestoredReplica,
  pod: WorkloadPod | undefined,
  late: boolean,
  timeoutSeconds: number,
): RestoredReplica {
  const base: RestoredReplica = {
    name: r.name,
    ...(r.ordinal !== undefined ? { ordinal: r.ordinal } : {}),
    images: r.images,
    ...(r.checkpointTime ? { checkpointTime: r.checkpointTime } : {}),
    ...(pod ? { pod: pod.metadata.name } : {}),
    ...(pod?.spec?.nodeName ? { node: pod.spec.nodeName } : {}),
    phase: 'Pending',
  };
  if (!pod)
    return late
      ? {
          ...base,
          phase: 'Failed',
          reason: 'Timeout',
          message: `no pod was given this checkpoint within ${timeoutSeconds}s`,
        }
      : { ...base, message: 'no pod runs this checkpoint yet' };
  if (runningAndReady(pod.status)) return { ...base, phase: 'Running' };
  const failure = podFailure(pod.status);
  if (failure) return { ...base, phase: 'Failed', ...failure };
  const seen = `${describePod({ status: pod.status ?? {} })}${gated(pod) ? ', gated' : ''}`;
  if (late)
    return {
      ...base,
      phase: 'Failed',
      reason: 'Timeout',
      message: `pod ${pod.metadata.name} did not run within ${timeoutSeconds}s (${seen})`,
    };
  return {
    ...base,
    phase: 'Restoring',
    message: gated(pod)
      ? `pod ${pod.metadata.name} waits for the source to run no pod of the workload`
      : `pod ${pod.metadata.name}: ${seen}`,
  };
}

/** A line of the replicas for messages: `db-0 Running on m2-a, db-1 Restoring`. */
export function replicasLine(rs: RestoredReplica[]): string {
  return rs
    .map(
      (r) =>
        `${r.name} ${r.phase}${r.pod && r.pod !== r.name ? ` as ${r.pod}` : ''}${r.node ? ` on ${r.node}` : ''}`,
    )
    .join(', ');
}

/** Whether a migration's webhook acts for it: its workload is moving (not finished, failed or rolled back). */
export function migrationActive(r: Pick<CheckpointRestore, 'status' | 'metadata'>): boolean {
  const p = r.status?.phase;
  return (
    !!r.status?.workload &&
    !r.metadata.deletionTimestamp &&
    p !== 'SourceStopped' &&
    p !== 'Failed' &&
    p !== 'RolledBack'
  );
}

/** The status of a rollback as it begins: `into` and `from` swapped, the replicas waiting for their pods again. */
export function rollbackStatus(m: WorkloadMigration, replicas: RestoredReplica[], now: Date) {
  const workload: WorkloadMigration = {
    ...m,
    into: m.sourceCluster,
    from: m.targetCluster,
    rollbackTime: now.toISOString(),
  };
  delete workload.fromStoppedTime;
  return {
    workload,
    replicas: replicas.map((r) => ({
      name: r.name,
      ...(r.ordinal !== undefined ? { ordinal: r.ordinal } : {}),
      images: r.images,
      ...(r.checkpointTime ? { checkpointTime: r.checkpointTime } : {}),
      phase: 'Pending' as const,
    })),
  };
}

/** The Failed message of a replica that did not come up: which, where, why, where its state is, what to do. */
export function replicaFailedMessage(r: CheckpointRestore, f: RestoredReplica): string {
  const m = r.status!.workload!;
  return (
    `replica ${f.name}${f.pod && f.pod !== f.name ? ` (pod ${f.pod})` : ''} of ${m.kind} ${m.name} failed in ` +
    `${m.into}: ${f.reason}: ${f.message}; its checkpoint is in CheckpointBackup ${r.status!.checkpoint!.backup}` +
    (m.rollbackTime
      ? ''
      : '; set spec.rollback: true to bring the workload back to the source from the same checkpoints')
  );
}

/** The message while the replicas come up. */
export function progressMessage(m: WorkloadMigration, replicas: RestoredReplica[]): string {
  return `${m.rollbackTime ? 'rolling back' : 'migrating'} ${m.kind} ${m.name} into ${m.into}: ${replicasLine(replicas)}`;
}

/** Every replica runs: SourceStopped (Migrated), or RolledBack after a rollback, with what the user has now. */
export function finishedStatus(
  s: CheckpointRestoreStatus,
  r: Pick<CheckpointRestore, 'metadata'>,
  replicas: RestoredReplica[],
  now: Date,
): CheckpointRestoreStatus {
  const m = s.workload!;
  const ns = r.metadata.namespace;
  const rolledBack = !!m.rollbackTime;
  const message = rolledBack
    ? `rolled back: ${m.kind} ${ns}/${m.name} runs in ${m.into} again under the user's policy, every replica from ` +
      `its checkpoint of the migration (${replicasLine(replicas)})`
    : `migrated: ${m.kind} ${ns}/${m.name} runs only in ${m.into}, owned by its controller, every replica from its ` +
      `own checkpoint with the state it had when it stopped (${replicasLine(replicas)}); ` +
      `PropagationPolicy ${m.policy} places it; delete this CheckpointRestore, or set spec.rollback, to give it back to your policy`;
  const phase = rolledBack ? 'RolledBack' : 'SourceStopped';
  return {
    ...s,
    phase,
    reason: rolledBack ? 'RolledBack' : 'Migrated',
    message,
    replicas,
    restoredTime: now.toISOString(),
    completionTime: now.toISOString(),
    conditions: setCondition(s.conditions, {
      type: rolledBack ? 'RolledBack' : 'Migrated',
      status: 'True',
      reason: phase,
      message,
      observedGeneration: r.metadata.generation ?? 0,
    }),
  };
}
