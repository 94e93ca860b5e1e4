import {
  API_GROUP,
  MIGRATION_OWNER_LABEL,
  labelValue,
  type CheckpointBackup,
  type CheckpointRestore,
  objectName,
} from '@stateful-migration/api';
import {
  addFinalizer,
  describeError,
  getOrUndefined,
  isAlreadyExists,
  statusCode,
  type RestClient,
  type Result,
} from '@stateful-migration/kube';
import {
  backupPath,
  bindingPath,
  CLUSTERS_PATH,
  podPath,
  policyPath,
  proxy,
  restorePath,
  secretPath,
} from './paths.js';
import type { PodStatus } from './phase.js';
import { editPins, pin } from './pins.js';
import {
  ANNOTATION,
  RESTORE_LABEL,
  pullSecret,
  pullSecretName,
  restoredPod,
  restoreOwners,
  type OwnerReference,
  type PodManifest,
} from './pod.js';
import type { RestoreRecorder } from './recorder.js';
import { backupClusters, type BackupBinding, type BackupCluster } from './source.js';
import { alreadySays, checkpointingStatus, submitMessage, submittedStatus } from './status.js';
import {
  checkTargetNodes,
  nodesWithKeys,
  TARGET_CANNOT_DECRYPT,
  nodesUnknownMessage,
  nodeView,
  TARGET_NODES_UNKNOWN,
  type KubeNode,
} from './target-nodes.js';
import {
  checkpointBackupName,
  freshCheckpoint,
  keysObjectPath,
  migrateIntent,
  type KeysObjectRead,
} from './fresh-checkpoint.js';
import {
  TARGET_CLUSTER_NOT_READY,
  restoreNameRefusal,
  validate,
  type ClusterView,
  type RestorePlan,
  type StopPlan,
  type Verdict,
} from './validate.js';

export const RESTORE_FINALIZER = `restore.${API_GROUP}/unpin`;
/** The label on what the controller creates on the hub (pull secret, policy), naming the restore. */
export const OWNER_LABEL = MIGRATION_OWNER_LABEL;

/** The restore's PropagationPolicy: its pod and pull secret, to the target cluster only. */
export const restorePolicyName = (restore: string): string => objectName(`checkpointrestore-${restore}`);

/** A ResourceBinding's per-cluster status, as the restore controller reads it. */
export type Binding = {
  status?: {
    aggregatedStatus?: {
      clusterName: string;
      applied?: boolean;
      appliedMessage?: string;
      status?: PodStatus;
    }[];
  };
};
type Cluster = {
  metadata: { name: string; labels?: Record<string, string> };
  status?: {
    conditions?: {
      type: string;
      status: string;
      reason?: string;
      message?: string;
      lastTransitionTime?: string;
    }[];
  };
};
export type Meta = {
  metadata: {
    name: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
};

/** What a Migrate would stop: the pod, its workload's stop, and where. */
export interface SourceToStop {
  stop: StopPlan;
  sourceCluster: string;
  namespace: string;
  pod: string;
}

/** What a migration failing after its checkpoint says of the source, which is stopped by then. */
export function sourceStoppedNote(r: Pick<CheckpointRestore, 'status'>): string {
  const c = r.status?.checkpoint;
  return c
    ? `pod ${c.pod} in ${c.cluster} was stopped after its checkpoint; its state is in the images of CheckpointBackup ` +
        `${c.backup} (a Restore from it brings that state back)`
    : 'the source was not touched';
}

/** A refusal found while acting (a missing secret, a taken pod name): ends the restore Failed with the message. */
export class RestoreRefused extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export interface SubmitStepOptions {
  client: RestClient;
  record: RestoreRecorder;
  /** How often a restore waiting for its pull secret looks again. */
  pollMs: number;
  /** Migrate's check that stopping the source stops only the checkpointed pod: what to return when it does not. */
  checkStop: (r: CheckpointRestore, s: SourceToStop) => Promise<{ stop: Result } | undefined>;
}

/**
 * Pending -> RestoreSubmitted: validate against the hub's backup and the Karmada clusters, check that the target
 * can restore (and, for Migrate, that the stop would reach only the pod), record the intent, then create what the
 * restore needs on the hub. Also what following a restore calls to submit the same objects again.
 */
export class SubmitStep {
  readonly #o: SubmitStepOptions;

  constructor(o: SubmitStepOptions) {
    this.#o = o;
  }

  async start(r: CheckpointRestore): Promise<Result> {
    await addFinalizer(
      this.#o.client,
      restorePath(r.metadata.namespace, r.metadata.name),
      r,
      RESTORE_FINALIZER,
    );
    // Before anything is read: a name that is a path would read another namespace's backup.
    const badName = restoreNameRefusal(r);
    if (badName) return this.#notYet(r, badName);
    if ((r.spec.mode ?? 'Restore') === 'Migrate') return this.#startMigrate(r);
    const { plan, backup } = await this.plan(r);
    if (plan.kind !== 'ok') return this.#notYet(r, plan);
    const p = plan.plan;
    // Before anything is created: can the target restore at all?
    const refused = await this.#checkTarget(r, p);
    if (refused) return refused.stop;
    return this.#submitPlan(r, p, backup!);
  }

  /**
   * A Migrate's first step: the checks that need no checkpoint (migrateIntent), what the stop would reach and the
   * target's nodes, all before the source is touched; then Checkpointing, with the name of the one-off
   * CheckpointBackup that takes the fresh checkpoint (created by the next step, FreshCheckpointStep).
   */
  async #startMigrate(r: CheckpointRestore): Promise<Result> {
    const read = await this.#read(r, r.spec.backupRef.name);
    const keys = await this.#readKeys(r, read.backup);
    const verdict = migrateIntent({ restore: r, ...read, ...(keys ? { keys } : {}) });
    // A keys object that cannot be used holds the migration before its checkpoint: said by an Event too, since the
    // user has something to fix (create or repair the object) and nothing else will tell them.
    if (verdict.kind === 'wait' && verdict.reason.startsWith('EncryptionKeys'))
      return this.#notYet(r, verdict, true);
    if (verdict.kind !== 'ok') return this.#notYet(r, verdict);
    const i = verdict.intent;
    const refused =
      (await this.#o.checkStop(r, {
        stop: i.stop,
        sourceCluster: i.sourceCluster,
        namespace: i.namespace,
        pod: i.sourcePod,
      })) ?? (await this.#checkTarget(r, i));
    if (refused) return refused.stop;
    const generation = r.metadata.generation ?? 0;
    const c = freshCheckpoint(r, i, new Date());
    const updated = await this.#o.record.write(r, (s) => checkpointingStatus(s, c, generation));
    await this.#o.record.event(updated, 'Normal', 'Checkpointing', updated.status?.message ?? '');
    return { requeueAfterMs: 0 };
  }

  /**
   * A Migrate whose fresh checkpoint is taken (and its source stopped): validate against that checkpoint's own
   * backup, which gives exactly its images by digest, then submit as a Restore does.
   */
  async afterCheckpoint(r: CheckpointRestore): Promise<Result> {
    const { plan, backup } = await this.plan(r);
    if (plan.kind === 'wait') return { requeueAfterMs: this.#o.pollMs };
    // The source is stopped: a target that is not Ready right now (an outage, Karmada's health check) is waited
    // for, not a reason to give up on the only copy of the state; the user can still delete the restore.
    if (plan.kind === 'refuse' && plan.reason === TARGET_CLUSTER_NOT_READY) {
      const message = `${plan.message}; ${sourceStoppedNote(r)}; waiting for it`;
      if (r.status?.message !== message)
        await this.#o.record.write(r, (s) => ({ ...s, reason: plan.reason, message }));
      return { requeueAfterMs: 10_000 };
    }
    if (plan.kind === 'refuse')
      return this.#o.record.fail(r, plan.reason, `${plan.message}; ${sourceStoppedNote(r)}`);
    // Checked before the checkpoint with the keys object's recipients; again with the checkpoint's own (the object's
    // copy in the source cluster may have lagged, or nodes changed meanwhile), so a pod that could never start is a
    // Failed restore, not a Pending pod.
    const refused = await this.#checkTarget(r, plan.plan, `; ${sourceStoppedNote(r)}`);
    if (refused) return refused.stop;
    return this.#submitPlan(r, plan.plan, backup!);
  }

  /** Failed for a refusal; Pending (written once, with a Warning Event if `warn`) for a wait, back in 5 s. */
  async #notYet(
    r: CheckpointRestore,
    v: { kind: 'wait' | 'refuse'; reason: string; message: string },
    warn = false,
  ): Promise<Result> {
    if (v.kind === 'refuse') return this.#o.record.fail(r, v.reason, v.message);
    if (!alreadySays(r.status, 'Pending', v.message)) {
      const updated = await this.#o.record.write(r, (s) => ({
        ...s,
        phase: 'Pending',
        reason: v.reason,
        message: v.message,
      }));
      if (warn) await this.#o.record.event(updated, 'Warning', v.reason, v.message);
    }
    return { requeueAfterMs: 5000 };
  }

  /**
   * An encrypted backup's keys object, read on Karmada at each look (keysObjectPath: only the one the backup names,
   * in the restore's namespace). Its contents are public keys, but still never logged: they go to migrateIntent only.
   */
  async #readKeys(
    r: CheckpointRestore,
    b: CheckpointBackup | undefined,
  ): Promise<KeysObjectRead | undefined> {
    const path = keysObjectPath(r, b);
    if (!path) return undefined;
    try {
      return { kind: 'read', object: await this.#o.client.get(path) };
    } catch (err) {
      return { kind: 'failed', status: statusCode(err), detail: describeError(err) };
    }
  }

  /** Intent first: what is submitted is recorded before anything is created, so a restart creates the same pod. */
  async #submitPlan(r: CheckpointRestore, p: RestorePlan, backup: CheckpointBackup): Promise<Result> {
    const generation = r.metadata.generation ?? 0;
    const updated = await this.#o.record.write(r, (s) => submittedStatus(s, p, generation, new Date()));
    await this.#o.record.event(updated, 'Normal', 'RestoreSubmitted', submitMessage(p));
    try {
      const created = await this.submit(updated, p, backup);
      return { requeueAfterMs: created ? 0 : this.#o.pollMs };
    } catch (err) {
      if (err instanceof RestoreRefused) return this.#o.record.fail(updated, err.reason, err.message);
      throw err;
    }
  }

  /**
   * Validates against the hub's backup (its per-cluster results) and the Karmada clusters: the migration's own
   * backup once it has one (its checkpoint, into the target chosen when the migration began), else spec.backupRef.
   */
  async plan(r: CheckpointRestore): Promise<{ plan: Verdict; backup?: CheckpointBackup }> {
    const c = r.status?.checkpoint;
    const restore: CheckpointRestore = c
      ? { ...r, spec: { ...r.spec, targetCluster: c.targetCluster, placement: undefined } }
      : r;
    const read = await this.#read(r, checkpointBackupName(r));
    const plan = validate({ restore, ...read });
    return read.backup ? { plan, backup: read.backup } : { plan };
  }

  /** A backup on the hub, its per-cluster results (backupClusters), and the Karmada clusters. */
  async #read(
    r: CheckpointRestore,
    name: string,
  ): Promise<{ backup: CheckpointBackup | undefined; sources: BackupCluster[]; clusters: ClusterView[] }> {
    const ns = r.metadata.namespace;
    const backup = await getOrUndefined<CheckpointBackup>(this.#o.client, backupPath(ns, name));
    const binding = backup
      ? await getOrUndefined<BackupBinding>(
          this.#o.client,
          bindingPath(ns, `${backup.metadata.name}-checkpointbackup`),
        )
      : undefined;
    const clusters = await this.#o.client.get<{ items: Cluster[] }>(CLUSTERS_PATH);
    return {
      backup,
      sources: backup ? backupClusters(backup, binding) : [],
      clusters: clusters.items.map(clusterView),
    };
  }

  /**
   * Whether the target cluster has a node whose runtime restores (the targetNode's, if given), from the Nodes read
   * through Karmada's cluster proxy and the label each node's agent publishes (checkTargetNodes). A refusal ends the
   * restore Failed; a list that fails (the member unreachable, a right missing) keeps it Pending and comes back.
   * Returns what to return from the reconcile when the restore must not go on.
   */
  checkTarget(
    r: CheckpointRestore,
    p: Pick<RestorePlan, 'targetCluster' | 'targetNode' | 'checkpoints'>,
    note = '',
  ): Promise<{ stop: Result } | undefined> {
    return this.#checkTarget(r, p, note);
  }

  /** The Karmada clusters, as validate sees them. */
  async clusterViews(): Promise<ClusterView[]> {
    const clusters = await this.#o.client.get<{ items: Cluster[] }>(CLUSTERS_PATH);
    return clusters.items.map(clusterView);
  }

  async #checkTarget(
    r: CheckpointRestore,
    p: Pick<RestorePlan, 'targetCluster' | 'targetNode' | 'checkpoints'>,
    note = '',
  ): Promise<{ stop: Result } | undefined> {
    let nodes: KubeNode[];
    try {
      nodes = await this.#targetNodes(p);
    } catch (err) {
      const message = nodesUnknownMessage(p.targetCluster, statusCode(err), describeError(err));
      // A migration past its checkpoint stays Checkpointing (its source is stopped): Pending would mean untouched.
      const phase = r.status?.checkpoint ? (r.status.phase ?? 'Pending') : 'Pending';
      if (!alreadySays(r.status, phase, message))
        await this.#o.record.write(r, (s) => ({
          ...s,
          phase,
          reason: TARGET_NODES_UNKNOWN,
          message,
        }));
      return { stop: { requeueAfterMs: 10_000 } };
    }
    const refusal = checkTargetNodes(p, nodes.map(nodeView));
    return refusal
      ? { stop: await this.#o.record.fail(r, refusal.reason, `${refusal.message}${note}`) }
      : undefined;
  }

  /** The target cluster's Nodes, through Karmada's cluster proxy. */
  async #targetNodes(p: Pick<RestorePlan, 'targetCluster'>): Promise<KubeNode[]> {
    return (await this.#o.client.get<{ items: KubeNode[] }>(proxy(p.targetCluster, '/api/v1/nodes'))).items;
  }

  /**
   * For encrypted images without a targetNode: the nodes that hold a key for each (read again at each submit, so a
   * pod submitted again after a restart goes where the keys are now); none left is a refusal.
   */
  async #keyNodes(p: RestorePlan): Promise<string[] | undefined> {
    if (p.targetNode || !p.checkpoints.some((c) => c.encryptedFor?.length)) return undefined;
    const views = (await this.#targetNodes(p)).map(nodeView);
    const names = nodesWithKeys(p, views);
    if (names && !names.length) {
      const refusal = checkTargetNodes(p, views);
      throw new RestoreRefused(
        refusal?.reason ?? TARGET_CANNOT_DECRYPT,
        refusal?.message ?? `no node of cluster ${p.targetCluster} can decrypt the checkpoint images`,
      );
    }
    return names;
  }

  /**
   * Creates what the restore needs on the hub, each idempotently: the pull secret, the images pinned on the backup
   * (retention keeps them), the policy that carries the secret and the pod to the target cluster only, and, once the
   * secret is applied there, the pod. The pod comes last and only then, so that the target's kubelet never tries to
   * pull before it has the credentials, and its existence on the hub means everything before it exists too.
   * Returns whether the pod exists.
   */
  async submit(r: CheckpointRestore, plan: RestorePlan, backup: CheckpointBackup): Promise<boolean> {
    // The restore's own namespace (issue 11): validate refused a backup or checkpoint of any other.
    const ns = plan.namespace;
    const owner = { [OWNER_LABEL]: ownerValue(r) };
    const secretName = pullSecretName(r.metadata.name);
    const pod = restoredPod(
      plan,
      { name: r.metadata.name, namespace: r.metadata.namespace, backup: backup.metadata.name },
      secretName,
      await this.#keyNodes(plan),
    );
    // Owned by the restore until the pod exists (then by both): a restore that fails before takes them along.
    const owners = restoreOwners(restoreRef(r));
    const creds = await this.#registryCredentials(plan);
    await this.#createOrUpdate(
      secretPath(ns),
      secretPath(ns, secretName),
      pullSecret(secretName, ns, plan.registryHost, creds, owner, owners),
      r,
    );
    await editPins(this.#o.client, backupPath(backup.metadata.namespace, backup.metadata.name), (cur) =>
      pin(
        cur,
        plan.images.map((i) => i.image),
      ),
    );
    await this.#createOrUpdate(
      policyPath(ns),
      policyPath(ns, restorePolicyName(r.metadata.name)),
      {
        apiVersion: 'policy.karmada.io/v1alpha1',
        kind: 'PropagationPolicy',
        metadata: {
          name: restorePolicyName(r.metadata.name),
          namespace: ns,
          labels: owner,
          ownerReferences: owners,
        },
        spec: {
          resourceSelectors: [
            { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name },
            { apiVersion: 'v1', kind: 'Secret', name: secretName },
          ],
          placement: { clusterAffinity: { clusterNames: [plan.targetCluster] } },
        },
      },
      r,
    );
    const secretThere = await getOrUndefined<Binding>(
      this.#o.client,
      bindingPath(ns, `${secretName}-secret`),
    );
    if (
      !secretThere?.status?.aggregatedStatus?.some((a) => a.clusterName === plan.targetCluster && a.applied)
    )
      return false;
    const created = await this.#createPod(pod, r);
    await this.adopt(r, ns, created);
    await this.recordPodUid(r, created.uid);
    return true;
  }

  /**
   * Records the uid of the pod this restore created (status.restoredPod.uid): a pod of that name with another is not
   * its. Also called while following, for a controller that died between creating the pod and this.
   */
  async recordPodUid(r: CheckpointRestore, uid: string): Promise<void> {
    if (!uid || r.status?.restoredPod?.uid === uid) return;
    await this.#o.record.write(r, (cur) =>
      cur.restoredPod ? { ...cur, restoredPod: { ...cur.restoredPod, uid } } : cur,
    );
  }

  /**
   * Makes the restored pod an owner of the pull secret and the policy too, so they live as long as the pod needs
   * them (a restarted container may pull again) and go once both the pod and the restore are gone. Idempotent; also
   * called while following, for a controller that died between creating the pod and this.
   */
  async adopt(r: CheckpointRestore, ns: string, pod: { name: string; uid: string }): Promise<void> {
    const want = restoreOwners(restoreRef(r), pod);
    for (const path of [
      secretPath(ns, pullSecretName(r.metadata.name)),
      policyPath(ns, restorePolicyName(r.metadata.name)),
    ]) {
      const cur = await getOrUndefined<{
        metadata: { ownerReferences?: OwnerReference[]; labels?: Record<string, string> };
      }>(this.#o.client, path);
      // Never someone else's object of that name: owners would have the garbage collector delete it with the pod.
      if (!cur || cur.metadata.labels?.[OWNER_LABEL] !== ownerValue(r)) continue;
      if (sameOwners(cur.metadata.ownerReferences, want)) continue;
      await this.#o.client.request('PATCH', path, { body: { metadata: { ownerReferences: want } } });
    }
  }

  /** The backup's registry credentials, read on the hub at each submit and never logged or cached. */
  async #registryCredentials(plan: RestorePlan): Promise<{ username: string; password: string }> {
    const ref = plan.registrySecret;
    const s = await getOrUndefined<{ data?: Record<string, string> }>(
      this.#o.client,
      secretPath(ref.namespace!, ref.name),
    );
    const dec = (k: string) => Buffer.from(s?.data?.[k] ?? '', 'base64').toString('utf8');
    if (!s || !dec('username') || !dec('password'))
      throw new RestoreRefused(
        'RegistrySecretUnavailable',
        `registry secret ${ref.namespace}/${ref.name} ${s ? 'lacks username or password' : 'does not exist on the Karmada control plane'}; the restored pod needs it to pull its images`,
      );
    return { username: dec('username'), password: dec('password') };
  }

  /** Creates the restored pod on the hub (or finds this restore's own); returns its name and uid. */
  async #createPod(pod: PodManifest, r: CheckpointRestore): Promise<{ name: string; uid: string }> {
    try {
      const made = await this.#o.client.request<Meta>('POST', podPath(pod.metadata.namespace), { body: pod });
      return { name: made.metadata.name, uid: made.metadata.uid ?? '' };
    } catch (err) {
      // The apiserver's refusal of the pod (invalid, namespace missing) will not change by retrying.
      if (statusCode(err) === 422 || statusCode(err) === 404)
        throw new RestoreRefused(
          'PodRejected',
          `the Karmada apiserver refused the restored pod ${pod.metadata.namespace}/${pod.metadata.name}: ${describeError(err)}`,
        );
      if (!isAlreadyExists(err)) throw err;
      const there = await this.#o.client.get<Meta>(podPath(pod.metadata.namespace, pod.metadata.name));
      if (there.metadata.labels?.[RESTORE_LABEL] !== labelValue(r.metadata.name))
        throw new RestoreRefused(
          'PodNameTaken',
          `pod ${pod.metadata.namespace}/${pod.metadata.name} already exists and is not this restore's; set spec.podName`,
        );
      return { name: there.metadata.name, uid: there.metadata.uid ?? '' };
    }
  }

  /**
   * Creates the object, or merge-patches an existing one to the same content: a merge keeps the labels the system
   * added (Karmada's webhook refuses a policy update that drops its permanent-id label).
   */
  async #createOrUpdate(
    collection: string,
    path: string,
    body: Record<string, unknown>,
    r: CheckpointRestore,
  ): Promise<void> {
    try {
      await this.#o.client.request('POST', collection, { body });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      // Only what this restore made (its owner label): a user's object of that name is never overwritten, nor given
      // the owners that would have the garbage collector delete it.
      const there = await this.#o.client.get<Meta>(path);
      if (there.metadata.labels?.[OWNER_LABEL] !== ownerValue(r)) {
        const { kind, metadata } = body as { kind: string; metadata: { name: string; namespace: string } };
        throw new RestoreRefused(
          'NameTaken',
          `${kind} ${metadata.namespace}/${metadata.name} exists and was not made by this restore (no label ` +
            `${OWNER_LABEL}=${ownerValue(r)}): it is left alone; delete or rename it, or restore under another name`,
        );
      }
      await this.#o.client.request('PATCH', path, { body });
    }
  }
}

/** The restore as an owner; the apiserver always returns a uid for a stored object. */
function restoreRef(r: CheckpointRestore): { name: string; uid: string } {
  if (!r.metadata.uid)
    throw new Error(`CheckpointRestore ${r.metadata.namespace}/${r.metadata.name} has no uid`);
  return { name: r.metadata.name, uid: r.metadata.uid };
}

/**
 * Why the pod found under the restored pod's name is not the one this restore created, if it is not: it must carry
 * this restore's label and, once recorded, the uid. Such a pod is never adopted, observed, or given labels.
 */
export function notMine(r: CheckpointRestore, pod: Meta): string | undefined {
  const target = r.status!.restoredPod!;
  const owner = pod.metadata.labels?.[RESTORE_LABEL];
  // The label holds a long name hashed (labelValue): the pod's restore annotation names it whole.
  const named = pod.metadata.annotations?.[ANNOTATION.restore]?.split('/')[1];
  const whose = owner
    ? `it belongs to CheckpointRestore ${named && labelValue(named) === owner ? named : owner}`
    : `it has no label ${RESTORE_LABEL}`;
  const why =
    owner !== labelValue(r.metadata.name)
      ? whose
      : target.uid && pod.metadata.uid !== target.uid
        ? `it has uid ${pod.metadata.uid ?? '(none)'}, not ${target.uid}, the one this restore created`
        : undefined;
  return (
    why &&
    `pod ${target.namespace}/${target.name} is not the one this restore created: ${why}; it is left alone ` +
      '(delete it, or restore again with another spec.podName)'
  );
}

/**
 * The value of the owner label on what a restore makes on the hub: `<namespace>.<name>`, hashed to 63 characters
 * when longer (labelValue), since a namespace and a name together can exceed what a label holds.
 */
export const ownerValue = (r: CheckpointRestore): string =>
  labelValue(`${r.metadata.namespace}.${r.metadata.name}`);

/** Whether stored ownerReferences are these (by uid, in order; the apiserver keeps what was written). */
function sameOwners(stored: OwnerReference[] | undefined, want: OwnerReference[]): boolean {
  return (stored ?? []).map((o) => o.uid).join(',') === want.map((o) => o.uid).join(',');
}

function clusterView(c: Cluster): ClusterView {
  const ready = c.status?.conditions?.find((x) => x.type === 'Ready');
  const message = [ready?.reason, ready?.message].filter(Boolean).join(': ');
  return {
    name: c.metadata.name,
    labels: c.metadata.labels ?? {},
    ready: ready?.status === 'True',
    ...(ready?.status !== 'True' ? { message: message || 'no Ready condition reported yet' } : {}),
    ...(ready?.status !== 'True' && ready?.lastTransitionTime ? { since: ready.lastTransitionTime } : {}),
  };
}
