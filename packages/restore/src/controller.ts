import {
  isRestoreFinished,
  isWorkloadBackup,
  RESTORE_PLURAL,
  setCondition,
  type CheckpointBackup,
  type CheckpointedPod,
  type CheckpointRestore,
  type CheckpointRestoreStatus,
  type SourceStop,
} from '@stateful-migration/api';
import {
  describeError,
  EventRecorder,
  getOrUndefined,
  Informer,
  isConflict,
  isNotFound,
  releaseFinalizers,
  restListWatch,
  WorkQueue,
  type Logger,
  type RestClient,
  type Result,
} from '@stateful-migration/kube';
import { FreshCheckpointStep } from './checkpoint.js';
import { FollowStep } from './follow.js';
import { checkpointBackupName } from './fresh-checkpoint.js';
import { migrateStep } from './migrate.js';
import { scaleReads, scaleReplicas, scaleRequest, type Scale } from './scale.js';
import { backupPath, bindingPath, GROUP_PATH, podPath, proxy, restorePath, restoresPath } from './paths.js';
import { runningAndReady, type ObservedPod } from './phase.js';
import { editPins, unpin } from './pins.js';
import { ANNOTATION, handoverLabels, RESTORE_LABEL } from './pod.js';
import { RestoreRecorder } from './recorder.js';
import { backupClusters, type BackupBinding } from './source.js';
import { checkpointRequested, restoreStep, stateGuarantee } from './status.js';
import { notMine, RESTORE_FINALIZER, SubmitStep, type Meta, type SourceToStop } from './submit.js';
import { backupNamespaceRefusal, stopPlan, stopsOnlyThePod } from './validate.js';
import { isObjectName, migrationActive } from './workload/plan.js';
import { cameBack, restoreRef } from './workload/sweep.js';
import { WorkloadMigrationStep } from './workload/step.js';
import { WebhookSweeper } from './workload/sweeper.js';
import type { WebhookEndpoint } from './workload/webhook-config.js';

export { RESTORE_FINALIZER, restorePolicyName } from './submit.js';

export interface RestoreOptions {
  /** A client of the Karmada apiserver. */
  client: RestClient;
  log: Logger;
  /** This replica, for Events. */
  identity: string;
  /** How often a restore waiting for its pull secret in the target looks again. @default 2000 */
  pollMs?: number;
  /**
   * How long a restore whose pod has not changed waits before looking again anyway; its pod's changes wake it at
   * once (the restored pods' informer). @default 30000
   */
  followMs?: number;
  /** spec.timeoutSeconds when unset. @default 300 */
  defaultTimeoutSeconds?: number;
  /** Told of every phase written; a crash-test hook. */
  afterPhaseWritten?: (phase: string) => void;
  /** Where the members reach the hub's admission webhook; without it, workload migrations are refused. */
  webhook?: WebhookEndpoint;
  /**
   * How often the members' webhook configurations are looked at for ones no migration needs any more (sweep.ts).
   * @default 30000
   */
  sweepMs?: number;
}

/**
 * Reconciles CheckpointRestores on the Karmada apiserver. Each reconcile reads the object, takes the step its phase
 * calls for (restoreStep), asks the pure functions what comes next (validate, nextPhase, migrateStep), does one step
 * and records it in status with the resourceVersion, so a restarted controller (or a new leader) resumes from
 * status. The steps: Pending -> RestoreSubmitted (Restore) or Checkpointing (Migrate) in submit.ts; Migrate's
 * Checkpointing -> RestoreSubmitted in checkpoint.ts (a fresh checkpoint, the source pod deleted right after it);
 * RestoreSubmitted/InProgress -> Restored | Failed in follow.ts; Migrate's Restored -> SourceStopped here (its
 * workload scaled to 0, the labels handed over); deletion here. The restored pod is a Pod template on the hub,
 * carried to the target cluster by a PropagationPolicy of its own, together with a pull secret made from the
 * backup's registry credentials; its status comes back through the pod's ResourceBinding.
 */
type RestoredPodMeta = {
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
};

export class RestoreController {
  readonly restores: Informer<CheckpointRestore>;
  /**
   * The restored pods on the hub (label migration.dcnlab.com/restore): Karmada writes the target cluster's pod status
   * into each (its status aggregation), so every change of a restored pod wakes its restore.
   */
  readonly restoredPods: Informer<RestoredPodMeta>;
  readonly queue: WorkQueue<string>;
  readonly #o: Required<Omit<RestoreOptions, 'afterPhaseWritten' | 'webhook'>> &
    Pick<RestoreOptions, 'afterPhaseWritten' | 'webhook'>;
  readonly #record: RestoreRecorder;
  readonly #submit: SubmitStep;
  readonly #follow: FollowStep;
  readonly #checkpoint: FreshCheckpointStep;
  readonly #workload: WorkloadMigrationStep;
  readonly #sweeper: WebhookSweeper;
  /** Each member's Ready as last told (memberSeen), and whether run() is on: this replica leads. */
  readonly #membersReady = new Map<string, boolean>();
  #running = false;

  constructor(o: RestoreOptions) {
    this.#o = { pollMs: 2000, followMs: 30_000, defaultTimeoutSeconds: 300, sweepMs: 30_000, ...o };
    const { client, log } = o;
    this.#record = new RestoreRecorder({
      client,
      events: new EventRecorder(client, 'stateful-migration-restore', o.identity, log),
      ...(o.afterPhaseWritten ? { afterPhaseWritten: o.afterPhaseWritten } : {}),
    });
    const steps = { client, record: this.#record, pollMs: this.#o.pollMs };
    this.#submit = new SubmitStep({ ...steps, checkStop: (r, p) => this.#checkStop(r, p) });
    this.#checkpoint = new FreshCheckpointStep({ ...steps, submit: this.#submit });
    this.#workload = new WorkloadMigrationStep({
      ...steps,
      defaultTimeoutSeconds: this.#o.defaultTimeoutSeconds,
      ...(o.webhook ? { webhook: o.webhook } : {}),
      checkTarget: (r, p) => this.#submit.checkTarget(r, p),
      clusters: () => this.#submit.clusterViews(),
    });
    this.#follow = new FollowStep({
      ...steps,
      submit: this.#submit,
      followMs: this.#o.followMs,
      defaultTimeoutSeconds: this.#o.defaultTimeoutSeconds,
    });
    this.queue = new WorkQueue<string>({
      workers: 2,
      onError: (key, err, retry) =>
        log.warn({ key, err: describeError(err), retryInMs: retry }, 'restore reconcile failed'),
    });
    this.restores = new Informer<CheckpointRestore>(
      restListWatch(client, `${GROUP_PATH}/${RESTORE_PLURAL}`),
      {
        onError: (err) => log.warn({ err: String(err) }, 'CheckpointRestore watch failed; retrying'),
      },
    );
    this.restores.on((_e, r) => this.queue.add(`${r.metadata.namespace}/${r.metadata.name}`));
    this.#sweeper = new WebhookSweeper({
      client,
      log,
      record: this.#record,
      clusters: () => this.#submit.clusterViews(),
      cached: (key) => this.restores.get(key),
      enqueue: (key) => this.queue.add(key),
    });
    this.restoredPods = new Informer<RestoredPodMeta>(
      restListWatch(client, '/api/v1/pods', { labelSelector: RESTORE_LABEL }),
      {
        onError: (err) => log.warn({ err: String(err) }, 'restored pods watch failed; retrying'),
      },
    );
    // A restored pod lives in its restore's namespace and names it (restoredPod, pod.ts).
    this.restoredPods.on((_e, p) => {
      const key = restoreKeyOf(p);
      if (key) this.queue.add(key);
    });
  }

  ready(): boolean {
    return this.restores.hasSynced() && this.restoredPods.hasSynced();
  }

  /** Runs until the signal aborts: the hub calls this once it holds the leader Lease. */
  async run(signal: AbortSignal): Promise<void> {
    this.queue.start((key) => this.reconcile(key));
    const informers = Promise.all([this.restores.start(), this.restoredPods.start()]);
    // The sweep picks from the cache: not before it is filled (every restore would look gone).
    const sweeping = setInterval(() => {
      if (this.ready())
        this.sweepWebhooks().catch((err: unknown) =>
          this.#o.log.warn({ err: describeError(err) }, 'webhook sweep failed; trying again'),
        );
    }, this.#o.sweepMs);
    sweeping.unref();
    this.#running = true;
    await new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    clearInterval(sweeping);
    this.#running = false;
    this.restores.stop();
    this.restoredPods.stop();
    this.queue.stop();
    await informers.catch(() => undefined);
  }

  /** Queues the restores of the members' webhook configurations that no migration needs any more (sweep.ts). */
  sweepWebhooks(): Promise<void> {
    return this.#sweeper.scan();
  }

  /**
   * Told each member's Ready as the hub's cache of Karmada's Clusters sees it: a member back after an outage is swept
   * at once (cameBack), while this replica leads and its cache is filled, not up to sweepMs later.
   */
  memberSeen(name: string, ready: boolean): void {
    if (cameBack(this.#membersReady, name, ready) && this.#running && this.ready())
      this.sweepWebhooks().catch((err: unknown) =>
        this.#o.log.warn({ err: describeError(err), cluster: name }, 'webhook sweep failed; trying again'),
      );
  }

  /** get -> one step for its phase (restoreStep); first, the sweep of its left-over webhook configurations, if any. */
  async reconcile(key: string): Promise<Result> {
    const [ns, name] = key.split('/') as [string, string];
    const r = await this.#getOrUndefined<CheckpointRestore>(restorePath(ns, name));
    await this.#sweeper.sweep(key, r);
    if (!r) return undefined;
    if (r.status?.workload) return this.#reconcileWorkload(r).catch((err) => this.#retrying(r, err));
    return this.#reconcilePod(r).catch((err) => this.#retrying(r, err));
  }

  /** A single pod's restore (no status.workload): one step for its phase (restoreStep). */
  async #reconcilePod(r: CheckpointRestore): Promise<Result> {
    switch (restoreStep(r)) {
      case 'cleanUp':
        return this.#cleanUp(r);
      case 'start': {
        const whole = await this.#workloadBackup(r);
        return whole ? this.#workload.start(r, whole) : this.#submit.start(r);
      }
      case 'checkpoint':
        return this.#checkpoint.run(r);
      case 'follow':
        return this.#follow.run(r);
      case 'migrate':
        return this.#migrate(r);
      case 'done':
        return this.#keepCheckpoint(r);
    }
  }

  /** The backup of a restore when it covers a whole workload (no podRef): then the workload steps take it. */
  async #workloadBackup(r: CheckpointRestore): Promise<CheckpointBackup | undefined> {
    // A name that is not one (a path) is refused by the single-pod start, which reads nothing with it.
    if (!isObjectName(r.spec.backupRef.name)) return undefined;
    const b = await this.#getOrUndefined<CheckpointBackup>(
      backupPath(r.metadata.namespace, r.spec.backupRef.name),
    );
    return b && isWorkloadBackup(b) && !backupNamespaceRefusal(b) ? b : undefined;
  }

  /**
   * A step that threw (Karmada or a member unreachable through the cluster proxy, a 409), of a workload migration or
   * a single pod's restore: said in status and by a Warning Event when it says something new (the user sees why it
   * does not go on; the log alone told only the operator), then thrown again for the queue's backoff. Not for a
   * restore that ended or is being deleted, whose status says how it ended.
   */
  async #retrying(r: CheckpointRestore, err: unknown): Promise<never> {
    const message = `retrying: ${describeError(err)}`;
    const going = r.status?.workload
      ? migrationActive(r)
      : !r.metadata.deletionTimestamp && !isRestoreFinished(r.status?.phase, r.spec.mode ?? 'Restore');
    if (going && r.status?.message !== message) {
      const updated = await this.#record.write(r, (s) => ({ ...s, message })).catch(() => undefined); // a 409 re-reads on the retry
      if (updated) this.#record.event(updated, 'Warning', 'Retrying', message);
    }
    throw err;
  }

  /** A workload migration (status.workload recorded): its steps, by phase (workload/step.ts). */
  async #reconcileWorkload(r: CheckpointRestore): Promise<Result> {
    if (r.metadata.deletionTimestamp) {
      if (r.metadata.finalizers?.includes(RESTORE_FINALIZER)) {
        const waiting = await this.#workload.release(r, { deleting: true });
        if (waiting) return waiting;
      }
      return this.#cleanUp(r);
    }
    if (migrationActive(r)) {
      const lost = await this.#workload.whileLost(r);
      if (lost) return lost.stop;
    }
    if (WorkloadMigrationStep.wantsRollback(r)) return this.#workload.rollback(r);
    switch (r.status?.phase) {
      case 'Checkpointing':
        return this.#workload.checkpoint(r);
      case 'RestoreSubmitted':
        return this.#workload.place(r);
      case 'RestoreInProgress':
        return this.#workload.follow(r);
      case 'Failed':
        return this.#keepCheckpoint(r);
      default:
        return undefined;
    }
  }

  /**
   * A migration that failed after its checkpoint stopped the source: its CheckpointBackup's images are the only
   * record of that state (the Failed message says a Restore from it brings it back), so it no longer goes with the
   * restore: its ownerReference to the restore is dropped (merge patch, with the resourceVersion read), and deleting
   * the Failed restore leaves it. Nothing for any other finished restore.
   */
  async #keepCheckpoint(r: CheckpointRestore): Promise<Result> {
    const c = r.status?.checkpoint;
    // A workload migration's replicas are stopped one by one as each is checkpointed: once its backup was made.
    const stopped = !!c?.sourceStoppedTime || (!!r.status?.workload && checkpointRequested(r.status));
    if (r.status?.phase !== 'Failed' || !c || !stopped || !r.metadata.uid) return undefined;
    const path = backupPath(r.metadata.namespace, c.backup);
    const b = await this.#getOrUndefined<
      CheckpointBackup & { metadata: { ownerReferences?: { uid: string }[] } }
    >(path);
    const owners = b?.metadata.ownerReferences ?? [];
    if (!b || !owners.some((o) => o.uid === r.metadata.uid)) return undefined;
    await this.#o.client.request('PATCH', path, {
      body: {
        metadata: {
          resourceVersion: b.metadata.resourceVersion,
          ownerReferences: owners.filter((o) => o.uid !== r.metadata.uid),
        },
      },
    });
    this.#record.event(
      r,
      'Normal',
      'CheckpointKept',
      `CheckpointBackup ${c.backup} holds the state ${r.status?.workload ? `the replicas of ${c.pod}` : `pod ${c.pod}`} had when ${r.status?.workload ? 'they' : 'it'} stopped: it stays when this restore is deleted`,
    );
    return undefined;
  }

  // ---- Migrate: Restored -> SourceStopped ----

  async #migrate(r: CheckpointRestore): Promise<Result> {
    const s = r.status!;
    const target = s.restoredPod!;
    // The backup of the checkpoint restored: the migration's own, which recorded the pod it stopped.
    const backup = await this.#getOrUndefined<CheckpointBackup>(
      backupPath(r.metadata.namespace, checkpointBackupName(r)),
    );
    // A backup edited since the restore began to name another namespace never gets another tenant's workload stopped.
    const cross = backup && !s.sourceStop?.stoppedTime && backupNamespaceRefusal(backup);
    if (cross) return this.#fail(r, cross.reason, cross.message);
    const taken = await this.#podTaken(r);
    if (taken) return taken.stop;
    const stop = s.sourceStop
      ? s.sourceStop.method === 'Scale'
        ? { method: 'Scale' as const, workload: s.sourceStop.workload! }
        : { method: 'DeletePod' as const }
      : backup && stopPlan(backup);
    if (!stop || 'refuse' in stop)
      return this.#fail(
        r,
        'CannotStopSource',
        stop
          ? stop.refuse.message
          : `CheckpointBackup ${checkpointBackupName(r)} is gone; cannot tell how to stop the source`,
      );
    const source = this.#source(r, backup, s.sourceStop ? undefined : await this.#checkpointed(r, backup));
    const observed = await this.#observe(target.namespace, target.name, target.cluster);
    const where = s.sourceStop ? undefined : await this.#locate(source, stop);
    const step = migrateStep({
      status: s,
      stop,
      restoredReady: runningAndReady(observed?.status),
      source,
      ...(where?.replicas !== undefined ? { currentReplicas: where.replicas } : {}),
      ...(where ? { workloadClusters: where.clusters } : {}),
    });
    switch (step.kind) {
      case 'wait':
        if (s.message !== step.message) await this.#write(r, (cur) => ({ ...cur, message: step.message }));
        return { requeueAfterMs: this.#o.pollMs };
      case 'recordStop':
        await this.#write(r, (cur) => ({
          ...cur,
          message: `stopping the source by ${describeStop(step.stop)}`,
          sourceStop: { ...step.stop, onHub: where!.onHub },
        }));
        return { requeueAfterMs: 0 };
      case 'stopSource':
        return this.#stopSource(r, s.sourceStop!);
      case 'handOverLabels':
        return this.#handOver(r, backup);
      case 'refuse':
        return this.#fail(
          r,
          step.reason,
          `${step.message}; the restored pod keeps running beside the source`,
        );
      case 'restartSource':
        await this.#scale(s.sourceStop!, s.sourceStop!.workload!.replicas);
        return this.#fail(r, 'RestoredPodLost', step.message);
      case 'finish': {
        const message = `migrated: ${target.namespace}/${target.name} runs in ${target.cluster} with ${stateGuarantee('Migrate', s.checkpoint?.checkpointTime)}; the source workload was stopped by ${describeStop(s.sourceStop!)} and its labels handed over`;
        const updated = await this.#write(r, (cur) => ({
          ...cur,
          phase: 'SourceStopped',
          reason: 'Migrated',
          message,
          completionTime: new Date().toISOString(),
          conditions: setCondition(cur.conditions, {
            type: 'Migrated',
            status: 'True',
            reason: 'SourceStopped',
            message,
            observedGeneration: r.metadata.generation ?? 0,
          }),
        }));
        this.#event(updated, 'Normal', 'SourceStopped', message);
        return undefined;
      }
    }
  }

  /**
   * Nothing is stopped, and no label handed over, for a pod that is not the one this restore created (notMine): Failed
   * PodNameTaken, and a source scaled down for the one it created is scaled back, as when that pod is lost. Returns
   * what to return from the reconcile then.
   */
  async #podTaken(r: CheckpointRestore): Promise<{ stop: Result } | undefined> {
    const s = r.status!;
    const target = s.restoredPod!;
    if (s.sourceStop?.labelsHandedOverTime) return undefined;
    const onHub = await this.#getOrUndefined<Meta>(podPath(target.namespace, target.name));
    const taken = onHub && notMine(r, onHub);
    if (!taken) return undefined;
    const stopped = s.sourceStop?.stoppedTime && s.sourceStop.method === 'Scale' ? s.sourceStop : undefined;
    if (stopped) await this.#scale(stopped, stopped.workload!.replicas);
    const message = stopped
      ? `${taken}; ${stopped.workload!.kind} ${stopped.namespace}/${stopped.workload!.name} scaled back to ${stopped.workload!.replicas}`
      : taken;
    return { stop: await this.#fail(r, 'PodNameTaken', message) };
  }

  /**
   * The source pod (in the source cluster) and the namespace of its workload: the pod that was checkpointed, by the
   * name and uid its agent recorded, not whatever the backup's spec.podRef names now.
   */
  #source(
    r: CheckpointRestore,
    backup: CheckpointBackup | undefined,
    checkpointed: CheckpointedPod | undefined,
  ) {
    return {
      cluster: r.status!.sourceCluster!,
      // The restore's own namespace: its backup may name no other (issue 11).
      namespace: r.metadata.namespace,
      pod: checkpointed?.name ?? backup?.spec.podRef?.name ?? '',
      ...(checkpointed?.uid ? { podUid: checkpointed.uid } : {}),
    };
  }

  /** The pod the backup's agent recorded in the restore's source cluster (status.checkpointedPod). */
  async #checkpointed(
    r: CheckpointRestore,
    backup: CheckpointBackup | undefined,
  ): Promise<CheckpointedPod | undefined> {
    if (!backup) return undefined;
    // The hub's status.clusters when it has them, else the binding's aggregatedStatus (backupClusters).
    const binding = backupClusters(backup).length
      ? undefined
      : await this.#getOrUndefined<BackupBinding>(
          bindingPath(backup.metadata.namespace, `${backup.metadata.name}-checkpointbackup`),
        );
    return backupClusters(backup, binding).find((c) => c.name === r.status?.sourceCluster)?.checkpointedPod;
  }

  /**
   * Whether the source is a template on the hub (act there, or Karmada would undo it) or only in the member; its
   * replicas, from the workload's scale subresource; and the clusters it runs in (a template's ResourceBinding's;
   * one that lives only in the member runs there alone).
   */
  async #locate(
    source: { cluster: string; namespace: string; pod: string },
    stop: { method: 'DeletePod' } | { method: 'Scale'; workload: { kind: string; name: string } },
  ): Promise<{ onHub: boolean; replicas?: number; clusters: string[] }> {
    const [kind, name] =
      stop.method === 'Scale' ? [stop.workload.kind, stop.workload.name] : ['Pod', source.pod];
    const paths =
      stop.method === 'Scale'
        ? scaleReads(source, stop.workload)
        : {
            hub: podPath(source.namespace, source.pod),
            member: proxy(source.cluster, podPath(source.namespace, source.pod)),
          };
    const replicas = (o: Scale | undefined) =>
      stop.method === 'Scale' && o ? { replicas: scaleReplicas(o) } : {};
    const onHub = await this.#getOrUndefined<Scale>(paths.hub);
    if (!onHub)
      return {
        onHub: false,
        clusters: [source.cluster],
        ...replicas(await this.#getOrUndefined<Scale>(paths.member)),
      };
    const rb = await this.#getOrUndefined<{ spec?: { clusters?: { name: string }[] } }>(
      bindingPath(source.namespace, `${name}-${kind.toLowerCase()}`),
    );
    const clusters = rb?.spec?.clusters?.map((c) => c.name) ?? [];
    return { onHub: true, clusters: clusters.length ? clusters : [source.cluster], ...replicas(onHub) };
  }

  /** Refuses a Migrate whose stop would reach more than the checkpointed pod (stopsOnlyThePod), before anything. */
  async #checkStop(r: CheckpointRestore, s: SourceToStop): Promise<{ stop: Result } | undefined> {
    const source = { cluster: s.sourceCluster, namespace: s.namespace, pod: s.pod };
    const where = await this.#locate(source, s.stop);
    const refusal = stopsOnlyThePod(s.stop, where, source);
    return refusal ? { stop: await this.#fail(r, refusal.reason, refusal.message) } : undefined;
  }

  async #stopSource(r: CheckpointRestore, stop: SourceStop): Promise<Result> {
    if (stop.method === 'Scale') await this.#scale(stop, 0);
    else {
      const pod = `pod ${stop.namespace}/${stop.pod}`;
      const beside = 'the restored pod keeps running beside it';
      if (!stop.podUid)
        return this.#fail(
          r,
          'CannotStopSource',
          `the stop of ${pod} was recorded without its uid, so it cannot be told from a replacement of the same ` +
            `name: it is not deleted; delete it yourself; ${beside}`,
        );
      const replaced =
        (await this.#deleteSourcePod(stop, stop.podUid, !!r.status?.checkpoint?.sourceStoppedTime)) ===
        'replaced';
      if (replaced)
        return this.#fail(
          r,
          'SourcePodReplaced',
          `${pod} is no longer the pod that was checkpointed (uid ${stop.podUid}): another pod of that name ` +
            `replaced it, which is left alone; ${beside}`,
        );
    }
    const message = `source stopped: ${describeStop(stop)}`;
    const updated = await this.#write(r, (cur) => ({
      ...cur,
      message,
      sourceStop: { ...cur.sourceStop!, stoppedTime: new Date().toISOString() },
    }));
    this.#event(updated, 'Normal', 'SourceStopping', message);
    return { requeueAfterMs: 0 };
  }

  /**
   * Deletes the checkpointed pod, and only it: a DELETE with a uid precondition, so a pod made under the same name
   * since gets a 409. The agent recorded the member pod's uid; a template on Karmada has its own, so there the member
   * pod is checked first and the template is deleted by the uid read. After a migration's own checkpoint its agent
   * has deleted the checkpointed pod already, and a member pod of that name is Karmada's re-creation from the
   * template (`stoppedAfterCheckpoint`): then the template goes, whatever the member pod's uid.
   */
  async #deleteSourcePod(
    stop: SourceStop,
    uid: string,
    stoppedAfterCheckpoint: boolean,
  ): Promise<'deleted' | 'gone' | 'replaced'> {
    const path = podPath(stop.namespace, stop.pod);
    let precondition = uid;
    if (stop.onHub) {
      const inMember = await this.#getOrUndefined<Meta>(proxy(stop.cluster, path));
      if (inMember && inMember.metadata.uid !== uid && !stoppedAfterCheckpoint) return 'replaced';
      const template = await this.#getOrUndefined<Meta>(path);
      if (!template?.metadata.uid) return 'gone';
      precondition = template.metadata.uid;
    }
    return this.#o.client
      .request('DELETE', stop.onHub ? path : proxy(stop.cluster, path), {
        body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { uid: precondition } },
      })
      .then(
        () => 'deleted' as const,
        (err: unknown) => {
          if (isConflict(err)) return 'replaced' as const;
          if (isNotFound(err)) return 'gone' as const;
          throw err;
        },
      );
  }

  /** Sets the source workload's replicas through its scale subresource (scaleRequest). */
  async #scale(stop: SourceStop, replicas: number): Promise<void> {
    const q = scaleRequest(stop, replicas);
    await this.#o.client.request(q.method, q.path, { body: q.body, contentType: q.contentType });
  }

  async #handOver(r: CheckpointRestore, backup: CheckpointBackup | undefined): Promise<Result> {
    const target = r.status!.restoredPod!;
    const sources = backup
      ? backupClusters(
          backup,
          await this.#getOrUndefined<BackupBinding>(
            bindingPath(backup.metadata.namespace, `${backup.metadata.name}-checkpointbackup`),
          ),
        )
      : [];
    const labels = handoverLabels(
      sources.find((c) => c.name === r.status?.sourceCluster)?.checkpointedPod?.labels,
    );
    await this.#o.client.request('PATCH', podPath(target.namespace, target.name), {
      body: { metadata: { labels } },
    });
    const message = `labels ${
      Object.entries(labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ') || '(none)'
    } handed over to ${target.name}`;
    await this.#write(r, (cur) => ({
      ...cur,
      message,
      sourceStop: { ...cur.sourceStop!, labelsHandedOverTime: new Date().toISOString() },
    }));
    return { requeueAfterMs: 0 };
  }

  // ---- shared ----

  #fail(r: CheckpointRestore, reason: string, message: string): Promise<Result> {
    return this.#record.fail(r, reason, message);
  }

  #write(
    r: CheckpointRestore,
    next: (s: CheckpointRestoreStatus) => CheckpointRestoreStatus,
  ): Promise<CheckpointRestore> {
    return this.#record.write(r, next);
  }

  #event(r: CheckpointRestore, type: 'Normal' | 'Warning', reason: string, message: string): void {
    this.#record.event(r, type, reason, message);
  }

  #observe(ns: string, pod: string, cluster: string): Promise<ObservedPod | undefined> {
    return this.#follow.observe(ns, pod, cluster);
  }

  #getOrUndefined<T>(path: string): Promise<T | undefined> {
    return getOrUndefined<T>(this.#o.client, path);
  }

  /**
   * On deletion: unpin this restore's images (those no other restore of the backup uses), then let it go. The
   * restored pod stays: after a migration it is the workload, and deleting it is the user's call.
   */
  async #cleanUp(r: CheckpointRestore): Promise<Result> {
    if (!r.metadata.finalizers?.includes(RESTORE_FINALIZER)) return undefined;
    // The pins are on the backup whose images the restore runs: the migration's own, or spec.backupRef's.
    const pinnedOn = checkpointBackupName(r);
    const backup = await this.#getOrUndefined<CheckpointBackup>(backupPath(r.metadata.namespace, pinnedOn));
    const imagesOf = (x: CheckpointRestore) => [
      ...(x.status?.images ?? []).map((i) => i.image),
      ...(x.status?.replicas ?? []).flatMap((rep) => rep.images.map((i) => i.image)),
    ];
    const mine = imagesOf(r);
    if (backup && mine.length) {
      // Read from the apiserver, not the informer: a restore of the same backup created a moment ago has recorded its
      // images (intent first) before pinning them, but the cache may not show it yet, and unpinning its images would
      // let retention delete what it is about to pull.
      const { items } = await this.#o.client.get<{ items: CheckpointRestore[] }>(
        restoresPath(r.metadata.namespace),
      );
      const others = items
        .filter(
          (x) =>
            x.metadata.uid !== r.metadata.uid &&
            x.metadata.namespace === r.metadata.namespace &&
            checkpointBackupName(x) === pinnedOn,
        )
        .flatMap(imagesOf);
      await editPins(this.#o.client, backupPath(backup.metadata.namespace, backup.metadata.name), (cur) =>
        unpin(cur, mine, others),
      );
    }
    await releaseFinalizers(this.#o.client, restorePath(r.metadata.namespace, r.metadata.name), r, [
      RESTORE_FINALIZER,
    ]);
    return undefined;
  }
}

function describeStop(s: SourceStop): string {
  const where = s.onHub ? 'on the Karmada control plane' : `in ${s.cluster}`;
  return s.method === 'Scale'
    ? `scaling ${s.workload?.kind} ${s.namespace}/${s.workload?.name} to 0 ${where} (it had ${s.workload?.replicas})`
    : `deleting pod ${s.namespace}/${s.pod} ${where}`;
}

/**
 * The key of the restore a restored pod belongs to. The label holds the restore's name only while it fits in 63
 * characters (labelValue hashes longer ones), so the annotation `<namespace>/<name>` is read first; it must name the
 * pod's own namespace, since a pod can only wake a restore of its namespace. A pod without the annotation (made by a
 * version before it) is mapped by its label.
 */
export function restoreKeyOf(p: RestoredPodMeta): string | undefined {
  const ns = p.metadata.namespace;
  if (!ns) return undefined;
  const annotated = p.metadata.annotations?.[ANNOTATION.restore];
  // Only a valid name of this namespace: `shop/r1/` or `shop/r1/x` would be keys of their own for the one restore
  // shop/r1, which the queue would then run beside itself.
  const ref = annotated === undefined ? undefined : restoreRef(annotated);
  if (ref?.namespace === ns) return `${ns}/${ref.name}`;
  const label = p.metadata.labels?.[RESTORE_LABEL];
  return label && isObjectName(label) ? `${ns}/${label}` : undefined;
}
