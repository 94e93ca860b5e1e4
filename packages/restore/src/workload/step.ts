import { isDeepStrictEqual } from 'node:util';
import {
  PLURAL,
  registryCredentials,
  HubWebhookPolicyMissing,
  ownedBy,
  readHubWebhookOwner,
  setCondition,
  type CheckpointBackup,
  type CheckpointBackupStatus,
  type CheckpointRestore,
  type CheckpointRestoreStatus,
  type ReplicaStatus,
  type WorkloadMigration,
} from '@stateful-migration/api';
import {
  addFinalizer,
  getOrUndefined,
  isAlreadyExists,
  isNotFound,
  type RestClient,
  type Result,
} from '@stateful-migration/kube';
import { freshBackupPolicy } from '../fresh-checkpoint.js';
import {
  backupPath,
  bindingPath,
  GROUP_PATH,
  policyPath,
  proxy,
  restorePath,
  restoresPath,
  secretPath,
} from '../paths.js';
import { editPins, pin } from '../pins.js';
import { pullSecret, pullSecretName, restoreOwners } from '../pod.js';
import type { RestoreRecorder } from '../recorder.js';
import { scaleReads, scaleReplicas, type Scale } from '../scale.js';
import { checkpointRequested, checkpointRequestedStatus } from '../status.js';
import type { Binding } from '../submit.js';
import { OWNER_LABEL, ownerValue, RESTORE_FINALIZER } from '../submit.js';
import type { ClusterView } from '../validate.js';
import { ownerWorkload } from './admission.js';
import { migrationPolicy, SOURCE_STOPPED_GATE } from './migration.js';
import {
  type BindingView,
  deletionWait,
  lostClusters,
  lostVerdict,
  placedInTarget,
  releasePlan,
  targetStays,
} from './lost.js';
import {
  finishedStatus,
  freshWorkloadBackup,
  gated,
  mayRun,
  migrationActive,
  progressMessage,
  replicaFailedMessage,
  replicaProgress,
  rollbackStatus,
  workloadCheckpoint,
  workloadCheckpointProgress,
  workloadIntent,
  workloadRefRefusal,
  type WorkloadPod,
  type WorkloadView,
} from './plan.js';
import {
  webhookConfigName,
  webhookConfiguration,
  WEBHOOKS_PATH,
  type WebhookEndpoint,
} from './webhook-config.js';
import { RESTORED_FROM_ANNOTATION } from './migration.js';

export interface WorkloadStepOptions {
  client: RestClient;
  record: RestoreRecorder;
  pollMs: number;
  defaultTimeoutSeconds: number;
  /** Where the members reach the hub's admission webhook; none: workload migrations are refused, saying so. */
  webhook?: WebhookEndpoint;
  /** The target's nodes (checkTargetNodes), as a single-pod restore checks them; what to return when refused. */
  checkTarget: (
    r: CheckpointRestore,
    p: { targetCluster: string; targetNode?: string; checkpoints: [] },
  ) => Promise<{ stop: Result } | undefined>;
  /** The Karmada clusters, as validate sees them. */
  clusters: () => Promise<ClusterView[]>;
}

type Policy = {
  metadata: { name: string; labels?: Record<string, string> };
  spec?: { priority?: number; resourceSelectors?: { apiVersion?: string; kind?: string; name?: string }[] };
};

/**
 * The restore controller's steps for migrating a whole Deployment or StatefulSet (issue 13 item 3, docs/adr/0007
 * Decision 3), one per reconcile, each recorded in status before the next (intent first):
 *
 *  Pending -> Checkpointing: workloadIntent and the target's nodes (nothing touched before), then status.workload.
 *  Checkpointing: the webhook configurations in source and target (so the replacements stopPod leaves in the source
 *    are held unscheduled), the fresh workload-level CheckpointBackup (stopPod), followed until every replica is
 *    checkpointed and stopped -> RestoreSubmitted with status.replicas (each checkpoint by digest).
 *  RestoreSubmitted: the pull secret in source and target, the pins, then the migration's policy -> RestoreInProgress.
 *  RestoreInProgress: `from` running no pod of the workload -> gates removed in `into`; each replica followed into
 *    status.replicas -> SourceStopped (RolledBack after a rollback), or Failed naming the replica.
 *  spec.rollback: the policy deleted, `into` and `from` swapped, followed the same way.
 */
export class WorkloadMigrationStep {
  readonly #o: WorkloadStepOptions;

  constructor(o: WorkloadStepOptions) {
    this.#o = o;
  }

  // ---- Pending -> Checkpointing ----

  async start(r: CheckpointRestore, backup: CheckpointBackup): Promise<Result> {
    const ns = r.metadata.namespace;
    // Before anything is made in a member: its deletion then lets go of the members first (release).
    await addFinalizer(this.#o.client, restorePath(ns, r.metadata.name), r, RESTORE_FINALIZER);
    if (!this.#o.webhook)
      return this.#o.record.fail(
        r,
        'WebhookNotConfigured',
        'this hub runs without its admission webhook (--webhook-url), which gives each migrated pod its ' +
          'checkpoint: a whole workload cannot be migrated; nothing was created or stopped',
      );
    const early = workloadRefRefusal(r, backup);
    if (early) return this.#o.record.fail(r, early.reason, early.message);
    const intent = workloadIntent({
      restore: r,
      backup,
      workload: await this.#workloadView(ns, backup.spec.resourceRef),
      clusters: await this.#o.clusters(),
    });
    if (intent.kind === 'refuse') return this.#o.record.fail(r, intent.reason, intent.message);
    if (intent.kind === 'wait') {
      if (r.status?.message !== intent.message)
        await this.#o.record.write(r, (s) => ({
          ...s,
          phase: 'Pending',
          reason: intent.reason,
          message: intent.message,
        }));
      return { requeueAfterMs: 5000 };
    }
    const m = intent.migration;
    // One migration of a workload at a time: two would each stop its replicas, and one that failed would let go of
    // the pods the other holds (its release), which would start from their images while the other restores it.
    // Read from the apiserver, not a cache: one started a moment ago has recorded its intent (status.workload).
    const { items } = await this.#o.client.get<{ items: CheckpointRestore[] }>(restoresPath(ns));
    const other = items.find(
      (x) =>
        x.metadata.name !== r.metadata.name &&
        migrationActive(x) &&
        x.status?.workload?.kind === m.kind &&
        x.status.workload.name === m.name,
    );
    if (other)
      return this.#o.record.fail(
        r,
        'WorkloadMigrating',
        `CheckpointRestore ${other.metadata.name} is migrating ${m.kind} ${m.name}; one migration of a workload at ` +
          'a time: nothing was checkpointed or stopped; try again once it has ended',
      );
    const refused = await this.#o.checkTarget(r, {
      targetCluster: m.targetCluster,
      ...(m.targetNode ? { targetNode: m.targetNode } : {}),
      checkpoints: [],
    });
    if (refused) return refused.stop;
    // Both members must have the chart's policy that owns the migration's webhook configurations: without it none
    // can be made there, and a migration that had stopped its replicas would wait for it for ever.
    for (const cluster of [m.sourceCluster, m.targetCluster]) {
      const missing = await readHubWebhookOwner(cluster, (p) => this.#get(proxy(cluster, p))).then(
        () => undefined,
        (err: unknown) => {
          if (err instanceof HubWebhookPolicyMissing) return err;
          throw err;
        },
      );
      if (missing)
        return this.#o.record.fail(
          r,
          missing.reason,
          `${missing.message}. Nothing was checkpointed or stopped; create the restore again once it is there`,
        );
    }
    const generation = r.metadata.generation ?? 0;
    const c = workloadCheckpoint(r, m, new Date());
    const message =
      `migrating ${m.kind} ${ns}/${m.name} (${m.replicas} replicas) from ${m.sourceCluster} to ` +
      `${m.targetCluster}: checkpointing every replica (CheckpointBackup ${c.backup}); each stops right after its checkpoint`;
    const updated = await this.#o.record.write(r, (s) => ({
      ...s,
      phase: 'Checkpointing',
      reason: 'Checkpointing',
      message,
      observedGeneration: generation,
      sourceCluster: m.sourceCluster,
      checkpoint: c,
      workload: m,
      conditions: setCondition(s.conditions, {
        type: 'Restored',
        status: 'False',
        reason: 'Checkpointing',
        message,
        observedGeneration: generation,
      }),
    }));
    this.#o.record.event(updated, 'Normal', 'Checkpointing', message);
    return { requeueAfterMs: 0 };
  }

  /** The workload's template on Karmada: its replicas (its Scale) and the clusters of its ResourceBinding. */
  async #workloadView(ns: string, ref: { kind: string; name: string }): Promise<WorkloadView | undefined> {
    if (ref.kind !== 'Deployment' && ref.kind !== 'StatefulSet') return undefined;
    const scale = await this.#get<Scale>(scaleReads({ cluster: '', namespace: ns }, ref).hub);
    const rb =
      scale &&
      (await this.#get<{ spec?: { clusters?: { name: string }[] } }>(
        bindingPath(ns, `${ref.name}-${ref.kind.toLowerCase()}`),
      ));
    return scale && rb
      ? { replicas: scaleReplicas(scale), clusters: (rb.spec?.clusters ?? []).map((c) => c.name) }
      : undefined;
  }

  // ---- Checkpointing -> RestoreSubmitted ----

  async checkpoint(r: CheckpointRestore): Promise<Result> {
    const m = r.status!.workload!;
    const c = r.status!.checkpoint!;
    const ns = r.metadata.namespace;
    await this.#ensureWebhooks(r);
    const backup = await this.#get<CheckpointBackup>(backupPath(ns, c.backup));
    const progress = workloadCheckpointProgress({
      migration: m,
      checkpoint: c,
      restoreUid: r.metadata.uid,
      backup,
      replicas: backup ? await this.#replicasIn(backup, m.sourceCluster) : undefined,
    });
    switch (progress.kind) {
      case 'create':
        return this.#createCheckpoint(r);
      case 'wait':
        if (r.status?.message !== progress.message || !checkpointRequested(r.status))
          await this.#o.record.write(r, (s) => ({
            ...checkpointRequestedStatus(s),
            message: progress.message,
          }));
        return { requeueAfterMs: this.#o.pollMs };
      case 'refuse':
        return this.fail(r, progress.reason, progress.message);
      case 'taken': {
        const times = progress.replicas
          .map((x) => x.checkpointTime ?? '')
          .filter(Boolean)
          .sort();
        const message =
          `checkpointed ${progress.replicas.length} replicas of ${m.kind} ${m.name} in ${m.sourceCluster} and ` +
          `stopped each right after its checkpoint; placing it in ${m.targetCluster}`;
        const updated = await this.#o.record.write(r, (s) => ({
          ...s,
          phase: 'RestoreSubmitted',
          reason: 'SourceCheckpointed',
          message,
          replicas: progress.replicas,
          submittedTime: new Date().toISOString(),
          checkpoint: {
            ...s.checkpoint!,
            ...(times.length ? { checkpointTime: times.at(-1)! } : {}),
            sourceStoppedTime: s.checkpoint?.sourceStoppedTime ?? new Date().toISOString(),
          },
          conditions: setCondition(s.conditions, {
            type: 'SourceCheckpointed',
            status: 'True',
            reason: 'SourceStopped',
            message,
            observedGeneration: s.observedGeneration ?? 0,
          }),
        }));
        this.#o.record.event(updated, 'Normal', 'SourceCheckpointed', message);
        return { requeueAfterMs: 0 };
      }
    }
  }

  /** The replicas of the migration's backup in the source: the hub's copy, else the binding's member status. */
  async #replicasIn(b: CheckpointBackup, cluster: string): Promise<ReplicaStatus[] | undefined> {
    const fromHub = b.status?.clusters?.find((x) => x.name === cluster)?.replicas;
    if (fromHub?.length) return fromHub;
    const binding = await this.#get<{
      status?: { aggregatedStatus?: { clusterName: string; status?: CheckpointBackupStatus }[] };
    }>(bindingPath(b.metadata.namespace, `${b.metadata.name}-checkpointbackup`));
    return binding?.status?.aggregatedStatus?.find((x) => x.clusterName === cluster)?.status?.replicas;
  }

  /** Created once: one made and gone since may have stopped pods, and a second would checkpoint their replacements. */
  async #createCheckpoint(r: CheckpointRestore): Promise<Result> {
    const c = r.status!.checkpoint!;
    const ns = r.metadata.namespace;
    if (checkpointRequested(r.status))
      return this.fail(
        r,
        'CheckpointBackupGone',
        `CheckpointBackup ${c.backup} was deleted before every replica's checkpoint was seen; replicas may have been ` +
          'stopped, and are not checkpointed again',
      );
    const from = await this.#get<CheckpointBackup>(backupPath(ns, r.spec.backupRef.name));
    if (!from)
      return this.fail(r, 'BackupNotFound', `CheckpointBackup ${ns}/${r.spec.backupRef.name} is gone`);
    const owner = { [OWNER_LABEL]: ownerValue(r) };
    const taken = await this.#createOwned(policyPath(ns), freshBackupPolicy(r, c, owner), r);
    if (taken) return this.fail(r, 'NameTaken', taken);
    try {
      await this.#o.client.request('POST', `${GROUP_PATH}/namespaces/${ns}/${PLURAL}`, {
        body: freshWorkloadBackup(r, from, c, owner),
      });
    } catch (err) {
      if (isAlreadyExists(err)) return { requeueAfterMs: 0 };
      throw err;
    }
    const updated = await this.#o.record.write(r, checkpointRequestedStatus);
    this.#o.record.event(
      updated,
      'Normal',
      'CheckpointRequested',
      `CheckpointBackup ${c.backup} created: checkpoint every replica of ${r.status!.workload!.kind} ` +
        `${r.status!.workload!.name} in ${c.cluster} now, each stopped right after`,
    );
    return { requeueAfterMs: this.#o.pollMs };
  }

  // ---- RestoreSubmitted -> RestoreInProgress: the pull secret, then the policy ----

  async place(r: CheckpointRestore): Promise<Result> {
    const m = r.status!.workload!;
    const ns = r.metadata.namespace;
    await this.#ensureWebhooks(r);
    const secret = pullSecretName(r.metadata.name);
    const made = await this.#pullSecret(r, secret);
    if (made) return this.fail(r, made.reason, made.message);
    await editPins(this.#o.client, backupPath(ns, r.status!.checkpoint!.backup), (cur) =>
      pin(
        cur,
        (r.status!.replicas ?? []).flatMap((x) => x.images.map((i) => i.image)),
      ),
    );
    const there = await this.#get<Binding>(bindingPath(ns, `${secret}-secret`));
    if (!there?.status?.aggregatedStatus?.some((a) => a.clusterName === m.into && a.applied)) {
      const message = `waiting for the pull secret ${secret} to reach ${m.into}`;
      if (r.status?.message !== message) await this.#o.record.write(r, (s) => ({ ...s, message }));
      return { requeueAfterMs: this.#o.pollMs };
    }
    const policies = await this.#o.client.get<{ items: Policy[] }>(policyPath(ns));
    const competing = policies.items
      .filter((p) => p.metadata.name !== m.policy)
      .filter((p) =>
        (p.spec?.resourceSelectors ?? []).some((s) => s.kind === m.kind && (!s.name || s.name === m.name)),
      )
      .map((p) => ({
        name: p.metadata.name,
        ...(p.spec?.priority !== undefined ? { priority: p.spec.priority } : {}),
      }));
    const policy = migrationPolicy({
      restore: { name: r.metadata.name, uid: r.metadata.uid ?? '' },
      workload: { apiVersion: m.apiVersion, kind: m.kind, name: m.name, namespace: ns },
      target: m.targetCluster,
      competing,
    }) as Record<string, unknown> & { metadata: { labels: Record<string, string> } };
    policy.metadata.labels = { ...policy.metadata.labels, [OWNER_LABEL]: ownerValue(r) };
    // Intent first: from the policy's POST on, Karmada may place the workload in the target, so placedTime is
    // recorded before it. A crash or a failed status write after the POST then still counts as placed: a deletion
    // waits for the target to run none of its pods, and a lost target keeps the source's gates (releasePlan).
    if (!m.placedTime)
      r = await this.#o.record.write(r, (s) => ({
        ...s,
        workload: { ...s.workload!, placedTime: new Date().toISOString() },
      }));
    const taken = await this.#createOwned(policyPath(ns), policy, r);
    if (taken) return this.fail(r, 'NameTaken', taken);
    const message =
      `PropagationPolicy ${m.policy} places ${m.kind} ${m.name} in ${m.targetCluster} (above ` +
      `${competing.map((p) => p.name).join(', ') || 'no other policy'}, which ${competing.length === 1 ? 'is' : 'are'} unchanged); ` +
      `its pods there wait, each with its checkpoint, until ${m.sourceCluster} runs none`;
    const updated = await this.#o.record.write(r, (s) => ({
      ...s,
      phase: 'RestoreInProgress',
      reason: 'Placed',
      message,
      workload: { ...s.workload!, placedTime: s.workload!.placedTime ?? new Date().toISOString() },
    }));
    this.#o.record.event(updated, 'Normal', 'Placed', message);
    return { requeueAfterMs: 0 };
  }

  /** The dockerconfigjson pull secret from the backup's own registry secret, carried to source and target. */
  async #pullSecret(
    r: CheckpointRestore,
    name: string,
  ): Promise<{ reason: string; message: string } | undefined> {
    const ns = r.metadata.namespace;
    const m = r.status!.workload!;
    const backup = await this.#get<CheckpointBackup>(backupPath(ns, r.status!.checkpoint!.backup));
    const creds = backup ? registryCredentials(backup, []) : undefined;
    if (!backup?.spec.registry || creds?.kind !== 'own')
      return {
        reason: 'RegistrySecretUnavailable',
        message: `CheckpointBackup ${r.status!.checkpoint!.backup} is gone or has no registry secret of its own`,
      };
    const s = await this.#get<{ data?: Record<string, string> }>(
      secretPath(creds.secret.namespace, creds.secret.name),
    );
    const dec = (k: string) => Buffer.from(s?.data?.[k] ?? '', 'base64').toString('utf8');
    if (!dec('username') || !dec('password'))
      return {
        reason: 'RegistrySecretUnavailable',
        message: `registry secret ${creds.secret.namespace}/${creds.secret.name} is missing or lacks username or password; the migrated pods need it to pull their checkpoints`,
      };
    const owner = { [OWNER_LABEL]: ownerValue(r) };
    const owners = restoreOwners({ name: r.metadata.name, uid: r.metadata.uid ?? '' });
    const body = pullSecret(
      name,
      ns,
      backup.spec.registry.url,
      { username: dec('username'), password: dec('password') },
      owner,
      owners,
    );
    const taken = await this.#createOwned(secretPath(ns), body, r, true);
    if (taken) return { reason: 'NameTaken', message: taken };
    const policy = {
      apiVersion: 'policy.karmada.io/v1alpha1',
      kind: 'PropagationPolicy',
      metadata: {
        name: `${m.policy}-pull`.slice(0, 253),
        namespace: ns,
        labels: owner,
        ownerReferences: owners,
      },
      spec: {
        priority: 2_147_483_647,
        resourceSelectors: [{ apiVersion: 'v1', kind: 'Secret', name }],
        // Both: a rollback brings the pods back in the source from the same checkpoints.
        placement: { clusterAffinity: { clusterNames: [m.sourceCluster, m.targetCluster] } },
      },
    };
    const policyTaken = await this.#createOwned(policyPath(ns), policy, r);
    return policyTaken ? { reason: 'NameTaken', message: policyTaken } : undefined;
  }

  // ---- RestoreInProgress -> SourceStopped | RolledBack | Failed ----

  async follow(r: CheckpointRestore): Promise<Result> {
    const m = r.status!.workload!;
    await this.#ensureWebhooks(r);
    if (m.rollbackTime) await this.#deletePolicy(r);
    const cur = await this.#fromStopped(r);
    if ('wait' in cur) return cur.wait;
    const intoPods = await this.#pods(m.into, r.metadata.namespace, m);
    await this.#letGo(m, intoPods);
    const progress = replicaProgress({
      replicas: cur.r.status!.replicas ?? [],
      pods: intoPods,
      since: m.rollbackTime ?? m.placedTime,
      now: new Date(),
      timeoutSeconds: r.spec.timeoutSeconds ?? this.#o.defaultTimeoutSeconds,
    });
    if (progress.failed) {
      await this.#writeReplicas(cur.r, progress.replicas);
      return this.fail(cur.r, 'ReplicaFailed', replicaFailedMessage(r, progress.failed));
    }
    if (!progress.allRunning) {
      const message = progressMessage(m, progress.replicas);
      if (!isDeepStrictEqual(cur.r.status?.replicas, progress.replicas) || cur.r.status?.message !== message)
        await this.#o.record.write(cur.r, (s) => ({ ...s, message, replicas: progress.replicas }));
      return { requeueAfterMs: this.#o.pollMs };
    }
    // Every replica runs in `into`. The pods the migration held in `from` (replacements of the stopped ones) go when
    // Karmada removes the workload there; letting their gates go before that (release) would start them from their
    // images beside the restored replicas: the workload twice, the copy in `from` empty.
    const held = await this.#pods(m.from, r.metadata.namespace, m);
    if (held.length) {
      const message =
        `every replica runs in ${m.into}; waiting for ${m.from} to delete its held pods of ${m.kind} ${m.name} ` +
        `(${held.map((p) => p.metadata.name).join(', ')}), as Karmada removes the workload there`;
      if (!isDeepStrictEqual(cur.r.status?.replicas, progress.replicas) || cur.r.status?.message !== message)
        await this.#o.record.write(cur.r, (s) => ({ ...s, message, replicas: progress.replicas }));
      return { requeueAfterMs: this.#o.pollMs };
    }
    await this.#release(cur.r);
    const updated = await this.#o.record.write(cur.r, (s) =>
      finishedStatus(s, r, progress.replicas, new Date()),
    );
    this.#o.record.event(updated, 'Normal', updated.status!.phase!, updated.status!.message ?? '');
    return undefined;
  }

  /**
   * Whether `from` runs no pod of the workload (any pod bound to a node may run a process), recorded once seen: the
   * gates in `into` may go from then on. Otherwise the wait, with the pods named.
   */
  async #fromStopped(r: CheckpointRestore): Promise<{ r: CheckpointRestore } | { wait: Result }> {
    const m = r.status!.workload!;
    if (m.fromStoppedTime) return { r };
    const running = (await this.#pods(m.from, r.metadata.namespace, m)).filter(mayRun);
    if (running.length) {
      const message =
        `waiting for ${m.from} to run no pod of ${m.kind} ${m.name} (${running.map((p) => p.metadata.name).join(', ')}); ` +
        `its pods in ${m.into} are held until then`;
      if (r.status?.message !== message) await this.#o.record.write(r, (s) => ({ ...s, message }));
      return { wait: { requeueAfterMs: this.#o.pollMs } };
    }
    return {
      r: await this.#o.record.write(r, (s) => ({
        ...s,
        workload: { ...s.workload!, fromStoppedTime: new Date().toISOString() },
      })),
    };
  }

  /**
   * The gates of `into`'s pods removed. On a rollback, a pod held there before the migration had its checkpoints (no
   * restored-from) is deleted instead: its controller makes it again, and the webhook gives the new one its checkpoint.
   */
  async #letGo(m: WorkloadMigration, intoPods: WorkloadPod[]): Promise<void> {
    for (const p of intoPods.filter(gated)) {
      if (m.rollbackTime && !p.metadata.annotations?.[RESTORED_FROM_ANNOTATION])
        await this.#deletePod(m.into, p);
      else await this.#ungate(m.into, p);
    }
  }

  // ---- spec.rollback ----

  /** Whether the reconcile should start a rollback: asked for, with checkpoints to come back from, not begun yet. */
  static wantsRollback(r: CheckpointRestore): boolean {
    return (
      !!r.spec.rollback &&
      !!r.status?.workload &&
      !r.status.workload.rollbackTime &&
      !r.metadata.deletionTimestamp
    );
  }

  async rollback(r: CheckpointRestore): Promise<Result> {
    const m = r.status!.workload!;
    if (!r.status?.replicas?.length) {
      // Nothing was checkpointed and stopped: the user's policy never lost the workload.
      await this.#deletePolicy(r);
      await this.#release(r);
      const message = `rolled back before any replica was checkpointed: ${m.kind} ${m.name} stays where your policy places it`;
      const updated = await this.#o.record.write(r, (s) => ({
        ...s,
        phase: 'RolledBack',
        reason: 'RolledBack',
        message,
        workload: { ...s.workload!, rollbackTime: new Date().toISOString() },
        completionTime: new Date().toISOString(),
      }));
      this.#o.record.event(updated, 'Normal', 'RolledBack', message);
      return undefined;
    }
    const next = rollbackStatus(m, r.status.replicas, new Date());
    const message =
      `rolling back: PropagationPolicy ${m.policy} deleted, so your policy places ${m.kind} ${m.name} again; its ` +
      `pods in ${m.sourceCluster} come back from the migration's checkpoints once ${m.targetCluster} runs none`;
    const updated = await this.#o.record.write(r, (s): CheckpointRestoreStatus => ({
      ...s,
      phase: 'RestoreInProgress',
      reason: 'RollingBack',
      message,
      observedGeneration: r.metadata.generation ?? 0,
      ...next,
    }));
    await this.#ensureWebhooks(updated);
    await this.#deletePolicy(updated);
    this.#o.record.event(updated, 'Normal', 'RollingBack', message);
    return { requeueAfterMs: 0 };
  }

  // ---- shared ----

  /** Ends the migration Failed, and lets go: no webhook left to wait for, no pod left gated (but in a lost member). */
  async fail(r: CheckpointRestore, reason: string, message: string): Promise<Result> {
    await this.#release(r);
    return this.#o.record.fail(r, reason, message);
  }

  /**
   * A running migration whose source or target Karmada reports lost (lostVerdict): said in status and by a Warning
   * Event while it waits for it, Failed (ClusterLost) once the restore's timeout has passed. Undefined: none lost.
   */
  async whileLost(r: CheckpointRestore): Promise<{ stop: Result } | undefined> {
    const m = r.status!.workload!;
    const v = lostVerdict({
      restore: r,
      lost: lostClusters(m, await this.#o.clusters()),
      now: new Date(),
      timeoutSeconds: r.spec.timeoutSeconds ?? this.#o.defaultTimeoutSeconds,
    });
    if (!v) return undefined;
    if (v.kind === 'fail') return { stop: await this.fail(r, v.reason, v.message) };
    if (r.status?.message !== v.message) {
      const updated = await this.#o.record.write(r, (s) => ({ ...s, message: v.message }));
      this.#o.record.event(updated, 'Warning', 'ClusterLost', v.message);
    }
    return { stop: { requeueAfterMs: Math.max(this.#o.pollMs, 5000) } };
  }

  /**
   * Lets go of the members: the webhook configurations deleted (nothing waits for the hub any more) and the gate
   * removed from every pod of the workload that still carries it. For the end of a migration, a failure, and the
   * deletion of the CheckpointRestore. A member Karmada reports lost is skipped (releasePlan), recorded in
   * status.cleanupSkipped with a Warning Event, so a deletion or a failure always ends. A deletion of a migration
   * under way first gives the workload back to the user's policy and waits until the target runs none of its pods
   * (deletionWait), so the source's held pods never start beside them: a Result to wait, undefined once let go.
   */
  async release(r: CheckpointRestore, o: { deleting?: boolean } = {}): Promise<Result> {
    return this.#release(r, o.deleting);
  }

  async #release(r: CheckpointRestore, deleting = false): Promise<Result> {
    const m = r.status?.workload;
    if (!m) return undefined;
    const ns = r.metadata.namespace;
    const lost = lostClusters(m, await this.#o.clusters());
    let stays: string | undefined;
    if (deleting && placedInTarget(r) && !lost.some((l) => l.cluster === m.targetCluster)) {
      await this.#deletePolicy(r);
      const binding = await this.#binding(ns, m);
      stays = targetStays({ restore: r, binding });
      const wait =
        !stays &&
        deletionWait({
          restore: r,
          lost,
          targetPods: (await this.#pods(m.targetCluster, ns, m)).map((p) => p.metadata.name),
          binding,
        });
      if (wait) {
        if (r.status?.message !== wait) await this.#o.record.write(r, (s) => ({ ...s, message: wait }));
        return { requeueAfterMs: this.#o.pollMs };
      }
      if (stays) this.#o.record.event(r, 'Warning', 'TargetStillPlaced', stays);
    }
    const config = webhookConfigName(ns, r.metadata.name);
    const plan = releasePlan({ migration: m, lost, webhookConfig: config });
    for (const a of plan.actions) {
      if (a.deleteWebhook)
        await this.#o.client
          .request('DELETE', proxy(a.cluster, `${WEBHOOKS}/${config}`))
          .catch((err: unknown) => {
            if (!isNotFound(err)) throw err;
          });
      if (!a.ungate) continue;
      for (const p of (await this.#pods(a.cluster, ns, m)).filter(gated)) {
        // The target keeps the workload (targetStays): the source's held pods are deleted, their webhook
        // configuration gone first, so their controller's new ones are not held and Karmada decides where it runs.
        if (stays && a.cluster === m.sourceCluster) await this.#deletePod(a.cluster, p);
        else await this.#ungate(a.cluster, p);
      }
    }
    if (plan.skipped.length && !isDeepStrictEqual(r.status?.cleanupSkipped, plan.skipped)) {
      const updated = await this.#o.record.write(r, (s) => ({ ...s, cleanupSkipped: plan.skipped }));
      for (const x of plan.skipped)
        this.#o.record.event(updated, 'Warning', 'CleanupSkipped', `${x.cluster}: ${x.message}`);
    }
    return undefined;
  }

  /** The webhook configuration in source and target: created when missing (they carry no state of their own). */
  async #ensureWebhooks(r: CheckpointRestore): Promise<void> {
    const m = r.status!.workload!;
    for (const cluster of [m.sourceCluster, m.targetCluster]) {
      const owner = await readHubWebhookOwner(cluster, (p) => this.#get(proxy(cluster, p)));
      const body = webhookConfiguration({
        namespace: r.metadata.namespace,
        restore: r.metadata.name,
        cluster,
        workload: { kind: m.kind, name: m.name },
        endpoint: this.#o.webhook!,
        ownerLabel: { [OWNER_LABEL]: ownerValue(r) },
        owner,
      });
      const path = proxy(cluster, `${WEBHOOKS}/${body.metadata.name}`);
      const there = await this.#get<{
        metadata: { resourceVersion?: string; ownerReferences?: { uid?: string }[] };
        webhooks?: unknown[];
      }>(path);
      if (!there) {
        await this.#o.client.request('POST', proxy(cluster, WEBHOOKS), { body }).catch((err: unknown) => {
          if (!isAlreadyExists(err)) throw err;
        });
        continue;
      }
      // One of that name that is not this one (left by a deleted restore of the same name whose finalizer was
      // removed by hand, naming another workload; or made before the hub's URL or CA changed) would send the wrong
      // pods, or fail every call of this workload's pods: replaced, with the version read (a 409 re-reads).
      if (sameWebhooks(there.webhooks, body.webhooks as unknown[]) && ownedBy(there.metadata, owner))
        continue;
      await this.#o.client.request('PUT', path, {
        body: { ...body, metadata: { ...body.metadata, resourceVersion: there.metadata.resourceVersion } },
      });
    }
  }

  /** The workload's ResourceBinding as deletionWait and targetStays read it; undefined when there is none. */
  async #binding(ns: string, m: WorkloadMigration): Promise<BindingView | undefined> {
    const rb = await this.#get<{
      metadata: { generation?: number; annotations?: Record<string, string> };
      spec?: { clusters?: { name: string }[] };
      status?: { schedulerObservedGeneration?: number };
    }>(bindingPath(ns, `${m.name}-${m.kind.toLowerCase()}`));
    if (!rb) return undefined;
    const a = rb.metadata.annotations ?? {};
    const cpp = a['clusterpropagationpolicy.karmada.io/name'];
    const claimedBy =
      a['propagationpolicy.karmada.io/name'] ?? (cpp ? `ClusterPropagationPolicy ${cpp}` : undefined);
    return {
      clusters: (rb.spec?.clusters ?? []).map((c) => c.name),
      ...(claimedBy ? { claimedBy } : {}),
      scheduled: rb.status?.schedulerObservedGeneration === rb.metadata.generation,
    };
  }

  /** The pods of the workload in a member (its controller's, by ownerReference), through the cluster proxy. */
  async #pods(cluster: string, ns: string, m: WorkloadMigration): Promise<WorkloadPod[]> {
    const list = await this.#o.client.get<{ items: WorkloadPod[] }>(
      proxy(cluster, `/api/v1/namespaces/${ns}/pods`),
    );
    return list.items.filter((p) => {
      const o = ownerWorkload(p);
      return o?.kind === m.kind && o.name === m.name;
    });
  }

  /** Removes the migration's gate (a JSON patch tested against the gates read, so a concurrent change is a 422). */
  async #ungate(cluster: string, p: WorkloadPod): Promise<void> {
    const gates = p.spec?.schedulingGates ?? [];
    const rest = gates.filter((g) => g.name !== SOURCE_STOPPED_GATE);
    await this.#o.client
      .request(
        'PATCH',
        proxy(cluster, `/api/v1/namespaces/${p.metadata.namespace}/pods/${p.metadata.name}`),
        {
          contentType: 'application/json-patch+json',
          body: [
            { op: 'test', path: '/spec/schedulingGates', value: gates },
            rest.length
              ? { op: 'replace', path: '/spec/schedulingGates', value: rest }
              : { op: 'remove', path: '/spec/schedulingGates' },
          ],
        },
      )
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
  }

  async #deletePod(cluster: string, p: WorkloadPod): Promise<void> {
    await this.#o.client
      .request(
        'DELETE',
        proxy(cluster, `/api/v1/namespaces/${p.metadata.namespace}/pods/${p.metadata.name}`),
        {
          body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: p.metadata.uid } },
        },
      )
      .catch((err: unknown) => {
        if (!isNotFound(err)) throw err;
      });
  }

  /** The migration's policy, deleted when it is this restore's. */
  async #deletePolicy(r: CheckpointRestore): Promise<void> {
    const path = policyPath(r.metadata.namespace, r.status!.workload!.policy);
    const p = await this.#get<Policy>(path);
    if (p?.metadata.labels?.[OWNER_LABEL] !== ownerValue(r)) return;
    await this.#o.client.request('DELETE', path).catch((err: unknown) => {
      if (!isNotFound(err)) throw err;
    });
  }

  async #writeReplicas(r: CheckpointRestore, replicas: CheckpointRestoreStatus['replicas']): Promise<void> {
    if (!isDeepStrictEqual(r.status?.replicas, replicas))
      await this.#o.record.write(r, (s) => ({ ...s, replicas: replicas ?? [] }));
  }

  /**
   * Creates an object this restore makes (owner label), or finds its own; says why not when the name is someone
   * else's. `update`: merge-patch an own one to the body (a pull secret's credentials may have changed).
   */
  async #createOwned(
    collection: string,
    body: Record<string, unknown>,
    r: CheckpointRestore,
    update = false,
  ): Promise<string | undefined> {
    const { kind, metadata } = body as { kind: string; metadata: { name: string; namespace: string } };
    try {
      await this.#o.client.request('POST', collection, { body });
      return undefined;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    const path = `${collection}/${metadata.name}`;
    const there = await this.#o.client.get<{ metadata: { labels?: Record<string, string> } }>(path);
    if (there.metadata.labels?.[OWNER_LABEL] !== ownerValue(r))
      return (
        `${kind} ${metadata.namespace}/${metadata.name} exists and was not made by this restore (no label ` +
        `${OWNER_LABEL}=${ownerValue(r)}): it is left alone; delete or rename it, or migrate under another name`
      );
    if (update) await this.#o.client.request('PATCH', path, { body });
    return undefined;
  }

  #get<T>(path: string): Promise<T | undefined> {
    return getOrUndefined<T>(this.#o.client, path);
  }
}

const WEBHOOKS = WEBHOOKS_PATH;

/** Whether the stored webhooks say what ours say: the fields we set (the apiserver adds defaults to the rest). */
function sameWebhooks(stored: unknown[] | undefined, ours: unknown[]): boolean {
  const keys = ['name', 'clientConfig', 'rules', 'namespaceSelector', 'matchConditions', 'failurePolicy'];
  const pick = (w: unknown) =>
    Object.fromEntries(keys.map((k) => [k, (w as Record<string, unknown> | undefined)?.[k]]));
  return (
    (stored ?? []).length === ours.length &&
    ours.every((w, i) => isDeepStrictEqual(pick(stored![i]), pick(w)))
  );
}
