import {
  API_VERSION,
  KIND,
  registryCredentials,
  type CheckpointBackup,
  type CheckpointRestore,
  type FreshCheckpoint,
  objectName,
} from '@stateful-migration/api';
import {
  keysObjectData,
  keysObjectName,
  recipientsFrom,
  REASON_KEYS_NOT_FOUND,
  REASON_KEYS_UNREADABLE,
} from '@stateful-migration/ocicrypt';
import { configMapPath, secretPath } from './paths.js';
import { restoreOwners } from './pod.js';
import type { BackupCluster } from './source.js';
import {
  backupRefusal,
  stopPlan,
  targetCluster,
  type ClusterView,
  type Refusal,
  type CheckpointRecord,
  type StopPlan,
  workloadBackupRefusal,
} from './validate.js';

// Migrate's fresh checkpoint (issue 13), as pure functions: what a migration checks before it touches the source,
// the one-off CheckpointBackup that checkpoints the source and stops it right after (schedule "immediately",
// stopPod, placed in the source cluster only), and what its status means for the migration. The restore then runs
// from exactly that checkpoint's images, by digest, through validate() as a Restore does.

/** What a migration will do, decided before anything is created or stopped. */
export interface MigrateIntent {
  namespace: string;
  sourceCluster: string;
  /** The pod checkpointed and stopped: the backup's spec.podRef. */
  sourcePod: string;
  targetCluster: string;
  targetNode?: string;
  stop: StopPlan;
  /**
   * Who can open the checkpoint about to be taken, for an encrypted backup: the recipients of its keys object as it
   * is now on Karmada (which the hub carries to the source, whose agent encrypts for them), per container, so that a
   * target without a key is refused before the source is checkpointed and stopped, not after (checkTargetNodes).
   * A containerName '' stands for every container, when the backup names none and no checkpoint says which.
   */
  checkpoints: CheckpointRecord[];
}

/** An encrypted backup's keys object as the shell read it on Karmada: the object, or why it could not. */
export type KeysObjectRead =
  | { kind: 'read'; object: { data?: Record<string, string>; binaryData?: Record<string, string> } }
  | { kind: 'failed'; status?: number; detail: string };

/**
 * Where a Migrate reads its backup's keys object: the one object spec.encryption.publicKeysRef names, of that kind,
 * in the restore's own namespace. Undefined (nothing is read) for a backup in clear, and for one a restore may not
 * use (another namespace's, or a name that is a path: backupRefusal), or a kind that is neither Secret nor
 * ConfigMap: the restore controller reads no public key material beyond what its own tenant names.
 */
export function keysObjectPath(r: CheckpointRestore, b: CheckpointBackup | undefined): string | undefined {
  const ref = b?.spec.encryption?.publicKeysRef;
  const ns = r.metadata.namespace;
  if (!ref || b.metadata.namespace !== ns || backupRefusal(r, b)) return undefined;
  if (ref.kind === 'Secret') return secretPath(ns, ref.name);
  if (ref.kind === 'ConfigMap') return configMapPath(ns, ref.name);
  return undefined;
}

export type IntentVerdict =
  { kind: 'ok'; intent: MigrateIntent } | { kind: 'wait'; reason: string; message: string } | Refusal;

const refuse = (reason: string, message: string): Refusal => ({ kind: 'refuse', reason, message });

/**
 * The checks of a Migrate before its checkpoint: the backup exists and is the tenant's own; it pushes to a registry
 * with its own secret (the target pulls the checkpoint from there); no spec.images (a migration restores the
 * checkpoint it takes, never an older one); a source Migrate can stop; one source cluster; one Ready target. The
 * target's nodes and what the stop would reach are checked by the shell right after, still before the checkpoint.
 */
export function migrateIntent(i: {
  restore: CheckpointRestore;
  backup: CheckpointBackup | undefined;
  sources: BackupCluster[];
  clusters: ClusterView[];
  /** The backup's keys object, read at keysObjectPath (for an encrypted backup). */
  keys?: KeysObjectRead;
}): IntentVerdict {
  const r = i.restore;
  const backupName = `${r.metadata.namespace}/${r.spec.backupRef.name}`;
  const missing = backupRefusal(r, i.backup);
  if (missing || !i.backup) return missing!;
  if (r.spec.images?.length)
    return refuse(
      'ImagesWithMigrate',
      'spec.images names checkpoint images, but a Migrate restores the fresh checkpoint it takes of the source ' +
        '(an older one would lose what the source did since): remove spec.images, or use mode Restore to copy ' +
        'those images',
    );
  // A backup of a whole workload (no podRef) migrates by its placement (issue 13, item 3), not by this path.
  const whole = workloadBackupRefusal(i.backup);
  if (whole) return whole;
  if (!i.backup.spec.podRef?.name)
    return refuse(
      'NoPodToMigrate',
      `CheckpointBackup ${backupName} names no pod (spec.podRef): this Migrate checkpoints and moves one pod`,
    );
  const stop = stopPlan(i.backup);
  if ('refuse' in stop) return stop.refuse;
  if (!i.backup.spec.registry || registryCredentials(i.backup, []).kind !== 'own')
    return refuse(
      'RegistryRequired',
      `CheckpointBackup ${backupName} keeps its checkpoint images in the node's local containers-storage ` +
        '(localhost/...), which no other node can pull: set its spec.registry (with spec.registry.secretRef) to migrate',
    );
  const source = sourceCluster(i.sources, i.backup, backupName);
  if (source.kind !== 'ok') return source.verdict;
  const target = targetCluster(r, i.clusters);
  if (typeof target !== 'string') return target as Refusal;
  const checkpoints = expectedRecipients(
    i.backup,
    i.sources.find((x) => x.name === source.cluster),
    i.keys,
  );
  if (!Array.isArray(checkpoints)) return checkpoints;
  return {
    kind: 'ok',
    intent: {
      namespace: r.metadata.namespace,
      sourceCluster: source.cluster,
      sourcePod: i.backup.spec.podRef.name,
      targetCluster: target,
      ...(r.spec.targetNode ? { targetNode: r.spec.targetNode } : {}),
      stop,
      checkpoints,
    },
  };
}

/**
 * The recipients each container's checkpoint will be encrypted for: those of the backup's keys object as it is now
 * (the migration's one-off backup copies spec.encryption, and the source's agent encrypts for what that object
 * holds), read with the agent's own reading (recipientsFrom). Never those of an earlier image: after a key is
 * rotated in the object they are not what the new checkpoint is encrypted for. None for a backup in clear; a wait
 * when the object cannot be read or holds no usable key, since nothing may be checkpointed or stopped before it is
 * known that the target can open the checkpoint.
 */
function expectedRecipients(
  b: CheckpointBackup,
  src: BackupCluster | undefined,
  keys: KeysObjectRead | undefined,
): CheckpointRecord[] | IntentVerdict {
  const ref = b.spec.encryption?.publicKeysRef;
  if (!ref) return [];
  const ns = b.metadata.namespace;
  const what = `spec.encryption.publicKeysRef of CheckpointBackup ${ns}/${b.metadata.name}: ${keysObjectName(ref, ns)}`;
  const wait = (reason: string, message: string): IntentVerdict => ({
    kind: 'wait',
    reason,
    message: `${message}; nothing was checkpointed or stopped, and the migration goes on once it can be read`,
  });
  if (!keys) return wait(REASON_KEYS_UNREADABLE, `${what} was not read`);
  if (keys.kind === 'failed') {
    if (keys.status === 404)
      return wait(
        REASON_KEYS_NOT_FOUND,
        `${what} does not exist on the Karmada control plane: create it there (one PEM public key per data key), ` +
          'so that the target can be checked for a private key before the source is stopped',
      );
    if (keys.status === 403)
      return wait(
        REASON_KEYS_UNREADABLE,
        `${what} cannot be read by the restore controller (403 Forbidden): its ClusterRole ` +
          'stateful-migration-hub-restore must grant get on configmaps and secrets (reinstall the chart)',
      );
    return wait(REASON_KEYS_UNREADABLE, `${what} cannot be read (${keys.detail})`);
  }
  const r = recipientsFrom(ref, ns, keysObjectData(ref.kind, keys.object));
  if (!r.ok) return wait(r.reason, r.message);
  const encryptedFor = r.recipients.map((k) => k.fingerprint);
  return containersOf(b, src).map((containerName) => ({ containerName, encryptedFor }));
}

/** The containers a checkpoint of the backup's pod will have images of: spec.containers, else its last checkpoint's. */
function containersOf(b: CheckpointBackup, src: BackupCluster | undefined): string[] {
  const named = b.spec.containers?.map((c) => c.name) ?? [];
  if (named.length) return named;
  const last =
    src?.checkpointedPod?.name === b.spec.podRef?.name ? src?.checkpointedPod?.containers : undefined;
  return last?.length ? last.map((c) => c.name) : [''];
}

/**
 * The cluster that runs the backup's pod: the one of its latest recorded checkpoint of that pod; else the one cluster
 * the hub placed the backup in. Several without a checkpoint cannot be told apart; none yet is a wait.
 */
function sourceCluster(
  sources: BackupCluster[],
  b: CheckpointBackup,
  backupName: string,
): { kind: 'ok'; cluster: string } | { kind: 'no'; verdict: IntentVerdict } {
  const pod = b.spec.podRef?.name;
  const ofPod = sources
    .filter((s) => s.checkpointedPod?.name === pod)
    .sort((x, y) => (y.lastCheckpointTime ?? '').localeCompare(x.lastCheckpointTime ?? ''));
  if (ofPod[0]) return { kind: 'ok', cluster: ofPod[0].name };
  const placed = [
    ...new Set([...(b.status?.placement?.clusters ?? []), ...sources.map((s) => s.name)]),
  ].sort();
  if (placed.length === 1) return { kind: 'ok', cluster: placed[0]! };
  if (!placed.length)
    return {
      kind: 'no',
      verdict: {
        kind: 'wait',
        reason: 'BackupNotPlaced',
        message: `waiting for the hub to place ${backupName} in the cluster that runs pod ${pod}`,
      },
    };
  return {
    kind: 'no',
    verdict: refuse(
      'SourceClusterAmbiguous',
      `${backupName} is placed in ${placed.join(', ')} and has no checkpoint of pod ${pod} yet that says which ` +
        'runs it: set its spec.placement to the one cluster that runs the pod',
    ),
  };
}

/** The name of a migration's one-off CheckpointBackup: one per restore, recorded in status before it is created. */
export const freshBackupName = (restore: string): string => objectName(`${restore}-migrate`);

/** The status.checkpoint a migration records before it creates its CheckpointBackup (intent first). */
export function freshCheckpoint(r: CheckpointRestore, intent: MigrateIntent, now: Date): FreshCheckpoint {
  return {
    backup: freshBackupName(r.metadata.name),
    cluster: intent.sourceCluster,
    pod: intent.sourcePod,
    targetCluster: intent.targetCluster,
    requestedTime: now.toISOString(),
  };
}

/**
 * The one-off CheckpointBackup of a migration: the user's backup's pod, containers, registry, encryption and
 * retention, checkpointed once ("immediately") in the source cluster only, the pod deleted right after its
 * checkpoint (stopPod). Owned by the restore (it goes with it) and labelled with it.
 */
export function freshBackup(
  r: CheckpointRestore,
  from: CheckpointBackup,
  c: FreshCheckpoint,
  ownerLabel: Record<string, string>,
): CheckpointBackup {
  const s = from.spec;
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: {
      name: c.backup,
      namespace: r.metadata.namespace,
      labels: ownerLabel,
      // Goes with the restore (Kubernetes' garbage collector on the Karmada control plane).
      ownerReferences: restoreOwners({ name: r.metadata.name, uid: r.metadata.uid ?? '' }),
    } as CheckpointBackup['metadata'],
    spec: {
      schedule: 'immediately',
      stopPod: true,
      podRef: { name: c.pod },
      resourceRef: s.resourceRef,
      ...(s.containers?.length ? { containers: s.containers } : {}),
      ...(s.registry ? { registry: s.registry } : {}),
      ...(s.encryption ? { encryption: s.encryption } : {}),
      ...(s.retention ? { retention: s.retention } : {}),
      placement: { clusterAffinity: { clusterNames: [c.cluster] } },
    },
  };
}

/**
 * The priority of a migration checkpoint's policy: above any a user gives theirs. Karmada applies to a new resource
 * template the matching policy of the highest priority (a namespace's PropagationPolicy before any
 * ClusterPropagationPolicy), so a user's policy selecting every CheckpointBackup of the namespace (by kind, or by a
 * label) cannot take the one-off backup and carry its stopPod to every cluster it names.
 */
export const FRESH_CHECKPOINT_PRIORITY = 2_147_483_647;

/** The name of that policy: a prefix no restore's own policy (checkpointrestore-<restore>) can take. */
export const freshPolicyName = (restore: string): string => `migration-checkpoint-${restore}`.slice(0, 253);

/**
 * The policy that places the migration's CheckpointBackup in the source cluster only, created before the backup so
 * Karmada finds it when it first sees the backup. The hub sees a policy that is not its own and follows the
 * placement Karmada records from it. Owned by the restore, like the backup.
 */
export function freshBackupPolicy(
  r: CheckpointRestore,
  c: FreshCheckpoint,
  ownerLabel: Record<string, string>,
): {
  apiVersion: string;
  kind: 'PropagationPolicy';
  metadata: Record<string, unknown> & { name: string; namespace: string };
  spec: Record<string, unknown>;
} {
  return {
    apiVersion: 'policy.karmada.io/v1alpha1',
    kind: 'PropagationPolicy',
    metadata: {
      name: freshPolicyName(r.metadata.name),
      namespace: r.metadata.namespace,
      labels: ownerLabel,
      ownerReferences: restoreOwners({ name: r.metadata.name, uid: r.metadata.uid ?? '' }),
    },
    spec: {
      priority: FRESH_CHECKPOINT_PRIORITY,
      resourceSelectors: [{ apiVersion: API_VERSION, kind: KIND, name: c.backup }],
      placement: { clusterAffinity: { clusterNames: [c.cluster] } },
    },
  };
}

export type CheckpointProgress =
  /** Not there yet: create it (again, after a crash between the intent and the create). */
  | { kind: 'create' }
  | { kind: 'wait'; message: string }
  /** Taken, and the source pod deleted right after: restore from it. */
  | { kind: 'taken'; checkpointTime?: string }
  | Refusal;

/**
 * Where the migration's checkpoint is, from its CheckpointBackup on the hub (undefined: not there) and that
 * backup's result in the source cluster. Only a run that ended CompletedPodDeleted is a migration's checkpoint: the
 * state is then the source's last, and nothing runs it any more. A failed checkpoint, or a pod that could not be
 * deleted, ends the migration before anything is restored.
 */
export function checkpointProgress(i: {
  checkpoint: FreshCheckpoint;
  restoreUid: string | undefined;
  backup: CheckpointBackup | undefined;
  sources: BackupCluster[];
}): CheckpointProgress {
  const c = i.checkpoint;
  const what = `pod ${c.pod} in ${c.cluster}`;
  if (!i.backup) return { kind: 'create' };
  const owners = (i.backup.metadata as { ownerReferences?: { uid: string }[] }).ownerReferences ?? [];
  if (!i.restoreUid || !owners.some((o) => o.uid === i.restoreUid))
    return refuse(
      'NameTaken',
      `CheckpointBackup ${i.backup.metadata.namespace}/${c.backup} exists and is not this restore's: it is left ` +
        'alone, and nothing was checkpointed or stopped; delete or rename it, or migrate under another name',
    );
  const here = i.sources.find((s) => s.name === c.cluster);
  const phase = here?.phase;
  if (!here || !phase || phase === 'Pending' || phase === 'Unknown')
    return {
      kind: 'wait',
      message: `checkpointing ${what}: waiting for its agent to start (CheckpointBackup ${c.backup})`,
    };
  const said = here.message ? `: ${here.message}` : '';
  switch (phase) {
    case 'CompletedPodDeleted':
      return here.checkpointedPod
        ? { kind: 'taken', ...(here.lastCheckpointTime ? { checkpointTime: here.lastCheckpointTime } : {}) }
        : { kind: 'wait', message: `checkpointed ${what}; waiting for its record to reach the hub` };
    case 'CompletedWithError':
    case 'Completed':
      return refuse(
        'SourceNotStopped',
        `${what} was checkpointed but not stopped after its checkpoint${said}; nothing was restored, since the ` +
          'source may still be running and changing its state: stop it or fix the cause, then migrate again',
      );
    case 'Failed':
      return refuse(
        'CheckpointFailed',
        `the checkpoint of ${what} failed${said}; nothing was restored (CheckpointBackup ${c.backup} shows the run)`,
      );
    default:
      return {
        kind: 'wait',
        message: `checkpointing ${what}: ${phase} (CheckpointBackup ${c.backup})`,
      };
  }
}

/** The backup a restore reads its checkpoint from: the migration's own once it has one, else spec.backupRef. */
export function checkpointBackupName(r: Pick<CheckpointRestore, 'spec' | 'status'>): string {
  return r.status?.checkpoint?.backup ?? r.spec.backupRef.name;
}
