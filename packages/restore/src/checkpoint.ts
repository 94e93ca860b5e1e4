import { PLURAL, type CheckpointBackup, type CheckpointRestore } from '@stateful-migration/api';
import { getOrUndefined, isAlreadyExists, type RestClient, type Result } from '@stateful-migration/kube';
import type { Meta } from './submit.js';
import { checkpointProgress, freshBackup, freshBackupPolicy } from './fresh-checkpoint.js';
import { backupPath, bindingPath, GROUP_PATH, policyPath } from './paths.js';
import type { RestoreRecorder } from './recorder.js';
import { backupClusters, type BackupBinding } from './source.js';
import { checkpointRequested, checkpointRequestedStatus, checkpointTakenStatus } from './status.js';
import { OWNER_LABEL, ownerValue, type SubmitStep } from './submit.js';
import { tenancyRefusal } from './validate.js';

export interface FreshCheckpointStepOptions {
  client: RestClient;
  record: RestoreRecorder;
  submit: SubmitStep;
  /** How often a migration waiting for its checkpoint looks again. */
  pollMs: number;
}

/**
 * Checkpointing -> RestoreSubmitted | Failed, for Migrate: the one-off CheckpointBackup named in status.checkpoint
 * is created (again, after a crash between the intent and the create), followed through the hub's status until
 * its agent has checkpointed the source pod and deleted it (checkpointProgress), and then the restore is submitted
 * from exactly that checkpoint's images (SubmitStep.afterCheckpoint). The agent does the checkpoint and the stop,
 * as for any backup with stopPod: the hub never reaches into the node.
 */
export class FreshCheckpointStep {
  readonly #o: FreshCheckpointStepOptions;

  constructor(o: FreshCheckpointStepOptions) {
    this.#o = o;
  }

  async run(r: CheckpointRestore): Promise<Result> {
    const c = r.status!.checkpoint!;
    const ns = r.metadata.namespace;
    const backup = await getOrUndefined<CheckpointBackup>(this.#o.client, backupPath(ns, c.backup));
    // The hub's status.clusters when it has them, else the binding's aggregatedStatus (backupClusters).
    const binding =
      backup && !backupClusters(backup).length
        ? await getOrUndefined<BackupBinding>(this.#o.client, bindingPath(ns, `${c.backup}-checkpointbackup`))
        : undefined;
    const progress = checkpointProgress({
      checkpoint: c,
      restoreUid: r.metadata.uid,
      backup,
      sources: backup ? backupClusters(backup, binding) : [],
    });
    switch (progress.kind) {
      case 'create':
        return this.#createOnce(r);
      case 'wait':
        return this.#waiting(r, progress.message);
      case 'refuse':
        return this.#o.record.fail(r, progress.reason, progress.message);
      case 'taken': {
        const updated = await this.#o.record.write(r, (s) =>
          checkpointTakenStatus(s, progress.checkpointTime, new Date()),
        );
        this.#o.record.event(updated, 'Normal', 'SourceCheckpointed', updated.status?.message ?? '');
        return this.#o.submit.afterCheckpoint(updated);
      }
    }
  }

  /** The backup is there and at work: its message, written once, and that it exists (after a crash, recorded now). */
  async #waiting(r: CheckpointRestore, message: string): Promise<Result> {
    if (r.status?.message !== message || !checkpointRequested(r.status))
      await this.#o.record.write(r, (s) => ({ ...checkpointRequestedStatus(s), message }));
    return { requeueAfterMs: this.#o.pollMs };
  }

  /**
   * Made once, and gone since (deleted by hand): its agent may have checkpointed and stopped the source, and a second
   * one would checkpoint whatever runs under that pod's name now (a StatefulSet's fresh replacement).
   */
  async #createOnce(r: CheckpointRestore): Promise<Result> {
    const c = r.status!.checkpoint!;
    if (!checkpointRequested(r.status)) return this.#create(r);
    return this.#o.record.fail(
      r,
      'CheckpointBackupGone',
      `CheckpointBackup ${c.backup} was deleted before its checkpoint of pod ${c.pod} in ${c.cluster} was ` +
        'seen; that pod may have been stopped, and is not checkpointed again (its node may still hold the ' +
        'archive): migrate again with a new CheckpointRestore once the pod runs as it should',
    );
  }

  /**
   * Creates the migration's CheckpointBackup from the user's backup as it is now (re-checked for tenancy: it may
   * have been edited since the restore began). One that exists already is judged on the next pass.
   */
  async #create(r: CheckpointRestore): Promise<Result> {
    const c = r.status!.checkpoint!;
    const ns = r.metadata.namespace;
    const from = await getOrUndefined<CheckpointBackup>(
      this.#o.client,
      backupPath(ns, r.spec.backupRef.name),
    );
    const untouched = 'nothing was checkpointed or stopped';
    if (!from)
      return this.#o.record.fail(
        r,
        'BackupNotFound',
        `CheckpointBackup ${ns}/${r.spec.backupRef.name} is gone; ${untouched}`,
      );
    const refused = tenancyRefusal(from, ns);
    if (refused) return this.#o.record.fail(r, refused.reason, `${refused.message}; ${untouched}`);
    // Its placement first: a user's policy selecting every CheckpointBackup here would otherwise take it, and its
    // stopPod would delete a pod of that name in every cluster that policy names.
    const taken = await this.#ensurePolicy(r);
    if (taken) return this.#o.record.fail(r, 'NameTaken', `${taken}; ${untouched}`);
    try {
      await this.#o.client.request('POST', `${GROUP_PATH}/namespaces/${ns}/${PLURAL}`, {
        body: freshBackup(r, from, c, { [OWNER_LABEL]: ownerValue(r) }),
      });
    } catch (err) {
      if (isAlreadyExists(err)) return { requeueAfterMs: 0 };
      throw err;
    }
    // Right after the create (a crash in between: the next pass that finds it records it, in 'wait').
    const updated = await this.#o.record.write(r, checkpointRequestedStatus);
    this.#o.record.event(
      updated,
      'Normal',
      'CheckpointRequested',
      `CheckpointBackup ${c.backup} created: checkpoint pod ${c.pod} in ${c.cluster} now, then stop it`,
    );
    return { requeueAfterMs: this.#o.pollMs };
  }

  /** Creates the checkpoint's policy, or finds this restore's; says why not when the name is someone else's. */
  async #ensurePolicy(r: CheckpointRestore): Promise<string | undefined> {
    const policy = freshBackupPolicy(r, r.status!.checkpoint!, { [OWNER_LABEL]: ownerValue(r) });
    const { name, namespace } = policy.metadata;
    try {
      await this.#o.client.request('POST', policyPath(namespace), { body: policy });
      return undefined;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
    }
    const there = await this.#o.client.get<Meta>(policyPath(namespace, name));
    if (there.metadata.labels?.[OWNER_LABEL] === ownerValue(r)) return undefined;
    return (
      `PropagationPolicy ${namespace}/${name} exists and was not made by this restore (no label ` +
      `${OWNER_LABEL}=${ownerValue(r)}): it is left alone; delete or rename it, or migrate under another name`
    );
  }
}
