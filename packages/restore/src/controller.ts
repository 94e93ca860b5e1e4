import {
  API_GROUP,
  API_VERSION,
  PLURAL,
  RESTORE_PLURAL,
  isRestoreFinished,
  setCondition,
  type CheckpointBackup,
  type CheckpointRestore,
  type CheckpointRestoreStatus,
  type RestorePhase,
  type SourceStop,
} from '@stateful-migration/api';
import {
  addFinalizer,
  EventRecorder,
  getOrUndefined,
  Informer,
  isAlreadyExists,
  isNotFound,
  restListWatch,
  WorkQueue,
  writeStatus,
  describeError,
  releaseFinalizers,
  statusCode,
  type Logger,
  type RestClient,
  type Result,
} from '@stateful-migration/kube';
import { migrateStep } from './migrate.js';
import { nextPhase, runningAndReady, type ObservedPod, type PodStatus } from './phase.js';
import { editPins, pin, unpin } from './pins.js';
import {
  RESTORE_LABEL,
  handoverLabels,
  pullSecret,
  pullSecretName,
  restoredPod,
  restoreOwners,
  type OwnerReference,
  type PodManifest,
} from './pod.js';
import { backupClusters, type BackupBinding } from './source.js';
import { checkTargetNodes, nodeView, type KubeNode } from './target-nodes.js';
import {
  backupNamespaceRefusal,
  stopPlan,
  stopsOnlyThePod,
  validate,
  type ClusterView,
  type RestorePlan,
} from './validate.js';

export interface RestoreOptions {
  /** A client of the Karmada apiserver. */
  client: RestClient;
  log: Logger;
  /** This replica, for Events. */
  identity: string;
  /** How often a restore in progress looks at the restored pod again. @default 2000 */
  pollMs?: number;
  /** spec.timeoutSeconds when unset. @default 300 */
  defaultTimeoutSeconds?: number;
  /** Told of every phase written; a crash-test hook. */
  afterPhaseWritten?: (phase: string) => void;
}

const GROUP_PATH = `/apis/${API_GROUP}/v1`;
const restorePath = (ns: string, name: string) => `${GROUP_PATH}/namespaces/${ns}/${RESTORE_PLURAL}/${name}`;
const backupPath = (ns: string, name: string) => `${GROUP_PATH}/namespaces/${ns}/${PLURAL}/${name}`;
const bindingPath = (ns: string, name: string) =>
  `/apis/work.karmada.io/v1alpha2/namespaces/${ns}/resourcebindings/${name}`;
const policyPath = (ns: string, name = '') =>
  `/apis/policy.karmada.io/v1alpha1/namespaces/${ns}/propagationpolicies${name ? `/${name}` : ''}`;
const podPath = (ns: string, name = '') => `/api/v1/namespaces/${ns}/pods${name ? `/${name}` : ''}`;
const secretPath = (ns: string, name = '') => `/api/v1/namespaces/${ns}/secrets${name ? `/${name}` : ''}`;
const CLUSTERS_PATH = '/apis/cluster.karmada.io/v1alpha1/clusters';
const proxy = (cluster: string, path: string) => `${CLUSTERS_PATH}/${cluster}/proxy${path}`;
const workloadPath = (ns: string, kind: string, name: string) =>
  `/apis/apps/v1/namespaces/${ns}/${kind.toLowerCase()}s/${name}`;

export const RESTORE_FINALIZER = `restore.${API_GROUP}/unpin`;
/** The label on what the controller creates on the hub (pull secret, policy), naming the restore. */
const OWNER_LABEL = `${API_GROUP}/restore-owner`;

/** Pending while the target's Nodes cannot be read: whether one restores is not known yet. */
const TARGET_NODES_UNKNOWN = 'TargetNodesUnknown';

/** The restore's PropagationPolicy: its pod and pull secret, to the target cluster only. */
export const restorePolicyName = (restore: string): string => `checkpointrestore-${restore}`.slice(0, 253);

type Binding = {
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
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
};
type Meta = {
  metadata: {
    name: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
};

/**
 * Reconciles CheckpointRestores on the Karmada apiserver. Each reconcile reads the object, asks the pure functions
 * what comes next (validate, nextPhase, migrateStep), does one step and records it in status with the
 * resourceVersion, so a restarted controller (or a new leader) resumes from status. The restored pod is a Pod
 * template on the hub, carried to the target cluster by a PropagationPolicy of its own, together with a pull secret
 * made from the backup's registry credentials; its status comes back through the pod's ResourceBinding.
 */
export class RestoreController {
  readonly restores: Informer<CheckpointRestore>;
  readonly queue: WorkQueue<string>;
  readonly #o: Required<Omit<RestoreOptions, 'afterPhaseWritten'>> &
    Pick<RestoreOptions, 'afterPhaseWritten'>;
  readonly #events: EventRecorder;

  constructor(o: RestoreOptions) {
    this.#o = { pollMs: 2000, defaultTimeoutSeconds: 300, ...o };
    const { client, log } = o;
    this.#events = new EventRecorder(client, 'stateful-migration-restore', o.identity, log);
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
  }

  ready(): boolean {
    return this.restores.hasSynced();
  }

  /** Runs until the signal aborts: the hub calls this once it holds the leader Lease. */
  async run(signal: AbortSignal): Promise<void> {
    this.queue.start((key) => this.reconcile(key));
    const informer = this.restores.start();
    await new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    this.restores.stop();
    this.queue.stop();
    await informer.catch(() => undefined);
  }

  async reconcile(key: string): Promise<Result> {
    const [ns, name] = key.split('/') as [string, string];
    const r = await this.#getOrUndefined<CheckpointRestore>(restorePath(ns, name));
    if (!r) return undefined;
    if (r.metadata.deletionTimestamp) return this.#cleanUp(r);
    const mode = r.spec.mode ?? 'Restore';
    const gen = r.metadata.generation ?? 0;
    const phase = r.status?.phase;
    // A Failed restore whose spec changed is tried again; a submitted one keeps what it submitted.
    const retry = phase === 'Failed' && (r.status?.observedGeneration ?? 0) < gen && !r.status?.submittedTime;
    if (!phase || phase === 'Pending' || retry) return this.#start(r);
    if (isRestoreFinished(phase, mode)) return undefined;
    if (phase === 'Restored') return this.#migrate(r);
    return this.#follow(r);
  }

  // ---- Pending -> RestoreSubmitted ----

  async #start(r: CheckpointRestore): Promise<Result> {
    await addFinalizer(
      this.#o.client,
      restorePath(r.metadata.namespace, r.metadata.name),
      r,
      RESTORE_FINALIZER,
    );
    const { plan, backup } = await this.#plan(r);
    if (plan.kind === 'refuse') return this.#fail(r, plan.reason, plan.message);
    if (plan.kind === 'wait') {
      if (r.status?.phase !== 'Pending' || r.status.message !== plan.message)
        await this.#write(r, (s) => ({ ...s, phase: 'Pending', reason: plan.reason, message: plan.message }));
      return { requeueAfterMs: 5000 };
    }
    const p = plan.plan;
    // Before anything is created, and so long before Migrate could stop the source: would Migrate stop only this
    // pod, and can the target restore at all?
    const refused = (await this.#checkStop(r, p)) ?? (await this.#checkTarget(r, p));
    if (refused) return refused.stop;
    const now = new Date().toISOString();
    const message = `restoring ${p.source.namespace}/${p.source.name} from ${p.sourceCluster} into ${p.targetCluster} as ${p.namespace}/${p.podName}`;
    // Intent first: what is submitted is recorded before anything is created, so a restart creates the same pod.
    const updated = await this.#write(r, (s) => ({
      ...s,
      phase: 'RestoreSubmitted',
      reason: 'Submitted',
      message,
      observedGeneration: r.metadata.generation ?? 0,
      sourceCluster: p.sourceCluster,
      restoredPod: {
        cluster: p.targetCluster,
        namespace: p.namespace,
        name: p.podName,
        ...(p.targetNode ? { node: p.targetNode } : {}),
      },
      images: p.images,
      submittedTime: now,
      conditions: setCondition(s.conditions, {
        type: 'Restored',
        status: 'False',
        reason: 'Submitted',
        message,
        observedGeneration: r.metadata.generation ?? 0,
      }),
    }));
    await this.#event(updated, 'Normal', 'RestoreSubmitted', message);
    try {
      const created = await this.#submit(updated, p, backup!);
      return { requeueAfterMs: created ? 0 : this.#o.pollMs };
    } catch (err) {
      if (err instanceof RestoreRefused) return this.#fail(updated, err.reason, err.message);
      throw err;
    }
  }

  /** Validates against the hub's backup (its per-cluster results) and the Karmada clusters. */
  async #plan(
    r: CheckpointRestore,
  ): Promise<{ plan: ReturnType<typeof validate>; backup?: CheckpointBackup }> {
    const ns = r.metadata.namespace;
    const backup = await this.#getOrUndefined<CheckpointBackup>(backupPath(ns, r.spec.backupRef.name));
    const binding = backup
      ? await this.#getOrUndefined<BackupBinding>(bindingPath(ns, `${backup.metadata.name}-checkpointbackup`))
      : undefined;
    const clusters = await this.#o.client.get<{ items: Cluster[] }>(CLUSTERS_PATH);
    const plan = validate({
      restore: r,
      backup,
      sources: backup ? backupClusters(backup, binding) : [],
      clusters: clusters.items.map(clusterView),
    });
    return backup ? { plan, backup } : { plan };
  }

  /**
   * Whether the target cluster has a node whose runtime restores (the targetNode's, if given), from the Nodes read
   * through Karmada's cluster proxy and the label each node's agent publishes (checkTargetNodes). A refusal ends the
   * restore Failed; a list that fails (the member unreachable, a right missing) keeps it Pending and comes back.
   * Returns what to return from the reconcile when the restore must not go on.
   */
  async #checkTarget(r: CheckpointRestore, p: RestorePlan): Promise<{ stop: Result } | undefined> {
    let nodes: KubeNode[];
    try {
      nodes = (await this.#o.client.get<{ items: KubeNode[] }>(proxy(p.targetCluster, '/api/v1/nodes')))
        .items;
    } catch (err) {
      const rights =
        statusCode(err) === 403
          ? " (the hub's identity needs get on clusters/proxy, deploy/hub/restore-rbac.yaml, and list on nodes in " +
            'the member, karmada/restore-member-rbac.yaml)'
          : '';
      const message =
        `cannot list the nodes of ${p.targetCluster} through Karmada's cluster proxy to see which allow restores: ` +
        `${describeError(err)}${rights}; trying again`;
      if (r.status?.phase !== 'Pending' || r.status.message !== message)
        await this.#write(r, (s) => ({ ...s, phase: 'Pending', reason: TARGET_NODES_UNKNOWN, message }));
      return { stop: { requeueAfterMs: 10_000 } };
    }
    const refusal = checkTargetNodes(p, nodes.map(nodeView));
    return refusal ? { stop: await this.#fail(r, refusal.reason, refusal.message) } : undefined;
  }

  /**
   * Creates what the restore needs on the hub, each idempotently: the pull secret, the images pinned on the backup
   * (retention keeps them), the policy that carries the secret and the pod to the target cluster only, and, once the
   * secret is applied there, the pod. The pod comes last and only then, so that the target's kubelet never tries to
   * pull before it has the credentials, and its existence on the hub means everything before it exists too.
   * Returns whether the pod exists.
   */
  async #submit(r: CheckpointRestore, plan: RestorePlan, backup: CheckpointBackup): Promise<boolean> {
    // The restore's own namespace (issue 11): validate refused a backup or checkpoint of any other.
    const ns = plan.namespace;
    const owner = { [OWNER_LABEL]: `${r.metadata.namespace}.${r.metadata.name}` };
    const secretName = pullSecretName(r.metadata.name);
    const pod = restoredPod(
      plan,
      { name: r.metadata.name, namespace: r.metadata.namespace, backup: backup.metadata.name },
      secretName,
    );
    // Owned by the restore until the pod exists (then by both): a restore that fails before takes them along.
    const owners = restoreOwners(restoreRef(r));
    const creds = await this.#registryCredentials(plan);
    await this.#createOrUpdate(
      secretPath(ns),
      secretPath(ns, secretName),
      pullSecret(secretName, ns, plan.registryHost, creds, owner, owners),
    );
    await this.#pinImages(
      backup,
      plan.images.map((i) => i.image),
    );
    await this.#createOrUpdate(policyPath(ns), policyPath(ns, restorePolicyName(r.metadata.name)), {
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
    });
    const secretThere = await this.#getOrUndefined<Binding>(bindingPath(ns, `${secretName}-secret`));
    if (
      !secretThere?.status?.aggregatedStatus?.some((a) => a.clusterName === plan.targetCluster && a.applied)
    )
      return false;
    const created = await this.#createPod(pod, r);
    await this.#adopt(r, ns, created);
    return true;
  }

  /**
   * Makes the restored pod an owner of the pull secret and the policy too, so they live as long as the pod needs
   * them (a restarted container may pull again) and go once both the pod and the restore are gone. Idempotent; also
   * called while following, for a controller that died between creating the pod and this.
   */
  async #adopt(r: CheckpointRestore, ns: string, pod: { name: string; uid: string }): Promise<void> {
    const want = restoreOwners(restoreRef(r), pod);
    for (const path of [
      secretPath(ns, pullSecretName(r.metadata.name)),
      policyPath(ns, restorePolicyName(r.metadata.name)),
    ]) {
      const cur = await this.#getOrUndefined<{ metadata: { ownerReferences?: OwnerReference[] } }>(path);
      if (!cur || sameOwners(cur.metadata.ownerReferences, want)) continue;
      await this.#o.client.request('PATCH', path, { body: { metadata: { ownerReferences: want } } });
    }
  }

  /** The backup's registry credentials, read on the hub at each submit and never logged or cached. */
  async #registryCredentials(plan: RestorePlan): Promise<{ username: string; password: string }> {
    const ref = plan.registrySecret;
    const s = await this.#getOrUndefined<{ data?: Record<string, string> }>(
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
      if (there.metadata.labels?.[RESTORE_LABEL] !== r.metadata.name)
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
  async #createOrUpdate(collection: string, path: string, body: Record<string, unknown>): Promise<void> {
    try {
      await this.#o.client.request('POST', collection, { body });
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      await this.#o.client.request('PATCH', path, { body });
    }
  }

  async #pinImages(backup: CheckpointBackup, images: string[]): Promise<void> {
    await editPins(this.#o.client, backupPath(backup.metadata.namespace, backup.metadata.name), (cur) =>
      pin(cur, images),
    );
  }

  // ---- RestoreSubmitted / RestoreInProgress -> Restored | Failed ----

  async #follow(r: CheckpointRestore): Promise<Result> {
    const s = r.status!;
    const target = s.restoredPod!;
    const onHub = await this.#getOrUndefined<Meta>(podPath(target.namespace, target.name));
    // Just created: make sure the pod owns its pull secret and policy (a controller may have died in between).
    if (onHub && s.phase === 'RestoreSubmitted')
      await this.#adopt(r, target.namespace, { name: onHub.metadata.name, uid: onHub.metadata.uid ?? '' });
    if (!onHub) {
      // Not yet created (waiting for the pull secret in the target), or the controller died before it was:
      // submit the same pod again, with the images and target recorded in status.
      const pinned: CheckpointRestore = {
        ...r,
        spec: { ...r.spec, images: s.images ?? [], targetCluster: target.cluster, placement: undefined },
      };
      const { plan, backup } = await this.#plan(pinned);
      if (plan.kind !== 'ok') return this.#fail(r, plan.reason, plan.message);
      let created: boolean;
      try {
        created = await this.#submit(r, plan.plan, backup!);
      } catch (err) {
        if (err instanceof RestoreRefused) return this.#fail(r, err.reason, err.message);
        throw err;
      }
      if (!created) {
        const timeout = nextPhase({
          status: s,
          pod: undefined,
          now: new Date(),
          timeoutSeconds: this.#timeout(r),
        });
        if (timeout)
          return this.#fail(
            r,
            timeout.reason,
            `${timeout.message}; the pull secret never reached ${target.cluster}`,
          );
        const message = `waiting for the registry pull secret to reach ${target.cluster}`;
        if (s.message !== message) await this.#write(r, (cur) => ({ ...cur, message }));
        return { requeueAfterMs: this.#o.pollMs };
      }
    }
    const observed = await this.#observe(target.namespace, target.name, target.cluster);
    const change = nextPhase({
      status: s,
      pod: observed,
      now: new Date(),
      timeoutSeconds: this.#timeout(r),
    });
    if (!change) return { requeueAfterMs: this.#o.pollMs };
    const node =
      change.phase === 'Restored'
        ? await this.#nodeOf(target.cluster, target.namespace, target.name)
        : undefined;
    const mode = r.spec.mode ?? 'Restore';
    const now = new Date().toISOString();
    const updated = await this.#write(r, (cur) => ({
      ...cur,
      phase: change.phase,
      reason: change.reason,
      message: change.message,
      ...(node ? { restoredPod: { ...cur.restoredPod!, node } } : {}),
      ...(change.phase === 'Restored' ? { restoredTime: now } : {}),
      ...(change.phase === 'Failed' || (change.phase === 'Restored' && mode === 'Restore')
        ? { completionTime: now }
        : {}),
      conditions:
        change.phase === 'RestoreInProgress'
          ? cur.conditions
          : setCondition(cur.conditions, {
              type: 'Restored',
              status: change.phase === 'Restored' ? 'True' : 'False',
              reason: change.reason,
              message: change.message,
              observedGeneration: r.metadata.generation ?? 0,
            }),
    }));
    await this.#event(
      updated,
      change.phase === 'Failed' ? 'Warning' : 'Normal',
      change.phase === 'Failed' ? change.reason : change.phase,
      change.message,
    );
    return change.phase === 'Failed' ? undefined : { requeueAfterMs: 0 };
  }

  #timeout(r: CheckpointRestore): number {
    return r.spec.timeoutSeconds ?? this.#o.defaultTimeoutSeconds;
  }

  /** The restored pod as Karmada reflects it from the target cluster (its ResourceBinding's aggregatedStatus). */
  async #observe(ns: string, pod: string, cluster: string): Promise<ObservedPod | undefined> {
    const rb = await this.#getOrUndefined<Binding>(bindingPath(ns, `${pod}-pod`));
    const item = rb?.status?.aggregatedStatus?.find((a) => a.clusterName === cluster);
    if (!item) return undefined;
    return {
      ...(item.applied !== undefined ? { applied: item.applied } : {}),
      ...(item.appliedMessage ? { appliedMessage: item.appliedMessage } : {}),
      ...(item.status ? { status: item.status } : {}),
    };
  }

  /** The node the member scheduled the restored pod on, through Karmada's cluster proxy (best effort). */
  async #nodeOf(cluster: string, ns: string, pod: string): Promise<string | undefined> {
    try {
      const p = await this.#o.client.get<{ spec?: { nodeName?: string } }>(proxy(cluster, podPath(ns, pod)));
      return p.spec?.nodeName;
    } catch {
      return undefined;
    }
  }

  // ---- Migrate: Restored -> SourceStopped ----

  async #migrate(r: CheckpointRestore): Promise<Result> {
    const s = r.status!;
    const target = s.restoredPod!;
    const backup = await this.#getOrUndefined<CheckpointBackup>(
      backupPath(r.metadata.namespace, r.spec.backupRef.name),
    );
    // A backup edited since the restore began to name another namespace never gets another tenant's workload stopped.
    const cross = backup && !s.sourceStop?.stoppedTime && backupNamespaceRefusal(backup);
    if (cross) return this.#fail(r, cross.reason, cross.message);
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
          : `CheckpointBackup ${r.spec.backupRef.name} is gone; cannot tell how to stop the source`,
      );
    const source = this.#source(r, backup);
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
        const message = `migrated: ${target.namespace}/${target.name} runs in ${target.cluster}; the source was stopped by ${describeStop(s.sourceStop!)} and its labels handed over`;
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
        await this.#event(updated, 'Normal', 'SourceStopped', message);
        return undefined;
      }
    }
  }

  /** The source pod (in the source cluster) and the namespace of its workload. */
  #source(r: CheckpointRestore, backup: CheckpointBackup | undefined) {
    return {
      cluster: r.status!.sourceCluster!,
      // The restore's own namespace: its backup may name no other (issue 11).
      namespace: r.metadata.namespace,
      pod: backup?.spec.podRef.name ?? '',
    };
  }

  /**
   * Whether the source is a template on the hub (act there, or Karmada would undo it) or only in the member; its
   * replicas; and the clusters it runs in (a template's ResourceBinding's; one that lives only in the member runs
   * there alone).
   */
  async #locate(
    source: { cluster: string; namespace: string; pod: string },
    stop: { method: 'DeletePod' } | { method: 'Scale'; workload: { kind: string; name: string } },
  ): Promise<{ onHub: boolean; replicas?: number; clusters: string[] }> {
    const [kind, name] =
      stop.method === 'Scale' ? [stop.workload.kind, stop.workload.name] : ['Pod', source.pod];
    const path =
      stop.method === 'Scale'
        ? workloadPath(source.namespace, kind, name)
        : podPath(source.namespace, source.pod);
    const replicas = (o: { spec?: { replicas?: number } } | undefined) =>
      stop.method === 'Scale' ? { replicas: o?.spec?.replicas ?? 1 } : {};
    const onHub = await this.#getOrUndefined<{ spec?: { replicas?: number } }>(path);
    if (!onHub) {
      const inMember = await this.#getOrUndefined<{ spec?: { replicas?: number } }>(
        proxy(source.cluster, path),
      );
      return { onHub: false, clusters: [source.cluster], ...replicas(inMember) };
    }
    const rb = await this.#getOrUndefined<{ spec?: { clusters?: { name: string }[] } }>(
      bindingPath(source.namespace, `${name}-${kind.toLowerCase()}`),
    );
    const clusters = rb?.spec?.clusters?.map((c) => c.name) ?? [];
    return { onHub: true, clusters: clusters.length ? clusters : [source.cluster], ...replicas(onHub) };
  }

  /** Refuses a Migrate whose stop would reach more than the checkpointed pod (stopsOnlyThePod), before anything. */
  async #checkStop(r: CheckpointRestore, p: RestorePlan): Promise<{ stop: Result } | undefined> {
    if (!p.stop) return undefined;
    const source = { cluster: p.sourceCluster, namespace: p.source.namespace, pod: p.source.name };
    const where = await this.#locate(source, p.stop);
    const refusal = stopsOnlyThePod(p.stop, where, source);
    return refusal ? { stop: await this.#fail(r, refusal.reason, refusal.message) } : undefined;
  }

  async #stopSource(r: CheckpointRestore, stop: SourceStop): Promise<Result> {
    if (stop.method === 'Scale') await this.#scale(stop, 0);
    else {
      const path = podPath(stop.namespace, stop.pod);
      await this.#o.client
        .request('DELETE', stop.onHub ? path : proxy(stop.cluster, path))
        .catch((err: unknown) => {
          if (!isNotFound(err)) throw err;
        });
    }
    const message = `source stopped: ${describeStop(stop)}`;
    const updated = await this.#write(r, (cur) => ({
      ...cur,
      message,
      sourceStop: { ...cur.sourceStop!, stoppedTime: new Date().toISOString() },
    }));
    await this.#event(updated, 'Normal', 'SourceStopping', message);
    return { requeueAfterMs: 0 };
  }

  async #scale(stop: SourceStop, replicas: number): Promise<void> {
    const w = stop.workload!;
    const path = workloadPath(stop.namespace, w.kind, w.name);
    await this.#o.client.request('PATCH', stop.onHub ? path : proxy(stop.cluster, path), {
      body: { spec: { replicas } },
    });
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

  async #fail(r: CheckpointRestore, reason: string, message: string): Promise<Result> {
    const changed = r.status?.phase !== 'Failed' || r.status.message !== message;
    const updated = await this.#write(r, (s) => ({
      ...s,
      phase: 'Failed',
      reason,
      message,
      observedGeneration: r.metadata.generation ?? 0,
      completionTime: new Date().toISOString(),
      conditions: setCondition(s.conditions, {
        type: 'Restored',
        status: 'False',
        reason,
        message,
        observedGeneration: r.metadata.generation ?? 0,
      }),
    }));
    if (changed) await this.#event(updated, 'Warning', reason, message);
    return undefined;
  }

  async #write(
    r: CheckpointRestore,
    next: (s: CheckpointRestoreStatus) => CheckpointRestoreStatus,
  ): Promise<CheckpointRestore> {
    const updated = await writeStatus<CheckpointRestore, CheckpointRestoreStatus>(
      this.#o.client,
      restorePath(r.metadata.namespace, r.metadata.name),
      (cur) => (cur.metadata.uid !== r.metadata.uid ? undefined : next({ ...(cur.status ?? {}) })),
    );
    if (updated.status?.phase) this.#o.afterPhaseWritten?.(updated.status.phase as RestorePhase);
    return updated;
  }

  async #event(
    r: CheckpointRestore,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    await this.#events.emit({ ...r, apiVersion: API_VERSION }, type, reason, message);
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
    const backup = await this.#getOrUndefined<CheckpointBackup>(
      backupPath(r.metadata.namespace, r.spec.backupRef.name),
    );
    const mine = (r.status?.images ?? []).map((i) => i.image);
    if (backup && mine.length) {
      const others = this.restores
        .list()
        .filter(
          (x) =>
            x.metadata.uid !== r.metadata.uid &&
            x.metadata.namespace === r.metadata.namespace &&
            x.spec.backupRef.name === r.spec.backupRef.name,
        )
        .flatMap((x) => (x.status?.images ?? []).map((i) => i.image));
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

/** A refusal found while acting (a missing secret, a taken pod name): ends the restore Failed with the message. */
class RestoreRefused extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** The restore as an owner; the apiserver always returns a uid for a stored object. */
function restoreRef(r: CheckpointRestore): { name: string; uid: string } {
  if (!r.metadata.uid)
    throw new Error(`CheckpointRestore ${r.metadata.namespace}/${r.metadata.name} has no uid`);
  return { name: r.metadata.name, uid: r.metadata.uid };
}

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
  };
}

function describeStop(s: SourceStop): string {
  const where = s.onHub ? 'on the Karmada control plane' : `in ${s.cluster}`;
  return s.method === 'Scale'
    ? `scaling ${s.workload?.kind} ${s.namespace}/${s.workload?.name} to 0 ${where} (it had ${s.workload?.replicas})`
    : `deleting pod ${s.namespace}/${s.pod} ${where}`;
}
