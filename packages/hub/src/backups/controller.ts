import { isDeepStrictEqual } from 'node:util';
import {
  API_GROUP,
  API_VERSION,
  PLURAL,
  isWorkloadBackup,
  podNamespace,
  refusal,
  type CheckpointBackup,
  type CheckpointBackupStatus,
  type Refusal,
  podName,
} from '@stateful-migration/api';
import {
  addFinalizer,
  describeError,
  EventRecorder,
  isNotFound,
  releaseFinalizers,
  WorkQueue,
  writeStatus,
  type Logger,
  type RestClient,
  type Result,
} from '@stateful-migration/kube';
import type { HubCaches } from '../caches.js';
import { clusterHealth, clusterInfo, proxyPath, type ResourceBinding } from '../karmada.js';
import type { HubMetrics } from '../metrics.js';
import { HUB_FINALIZER, policyRef, type PropagationPolicy } from '../policies.js';
import type { PolicyWriter } from '../policy-writer.js';
import { aggregateStatus, phaseEvent, unplaceable, worthAnEvent } from './aggregate.js';
import { place, placementStatus, policyName, runningClusters, type Placement } from './placement.js';
import { backupPolicy, ownPolicyOf, selectsBackup } from './policy.js';
import { refusedStatus } from './refused.js';

/** What the backups controller asks of the secrets controller. */
export interface RegistrySecrets {
  /** Carries the object's registry secret to where its status.placement says, now. */
  syncFor(b: CheckpointBackup): Promise<void>;
  /** Looks again at the registry secret the object names (it may no longer be needed). */
  recheck(b: CheckpointBackup): void;
  /** Why the object's registry secret may not be carried (its reader RBAC's name is taken), if it may not. */
  refusal(b: CheckpointBackup): Promise<Refusal | undefined>;
}

export interface BackupControllerOptions {
  client: RestClient;
  caches: HubCaches;
  policies: PolicyWriter;
  secrets: RegistrySecrets;
  log: Logger;
  metrics: HubMetrics;
  /** Identity for Events. */
  identity: string;
  /** How long to wait for a member through the cluster proxy. @default 5000 */
  proxyTimeoutMs?: number;
  /** Keys reconciled at once. @default 8 */
  workers?: number;
  /**
   * The registry hosts the platform's default secret (stateful-migration/registry-credentials) is for, as the
   * agents' --default-secret-registries; an object without secretRef that pushes elsewhere is refused. @default []
   */
  defaultSecretRegistries?: string[];
}

const objectPath = (ns: string, name: string) => `/apis/${API_GROUP}/v1/namespaces/${ns}/${PLURAL}/${name}`;
const key = (b: CheckpointBackup) => `${b.metadata.namespace}/${b.metadata.name}`;

/**
 * Places CheckpointBackups on the Karmada apiserver, writes each one's PropagationPolicy, and brings the members'
 * status back. Keys are `<ns>/<name>`. Everything it decides comes from the caches and the objects' status
 * (place, aggregateStatus, unplaceable: pure), so a restarted hub carries on where it stopped.
 */
export class BackupController {
  readonly queue: WorkQueue<string>;
  readonly #o: Required<BackupControllerOptions>;
  readonly #events: EventRecorder;

  constructor(o: BackupControllerOptions) {
    this.#o = { proxyTimeoutMs: 5000, workers: 8, defaultSecretRegistries: [], ...o };
    const { caches, client, log } = o;
    this.#events = new EventRecorder(client, 'stateful-migration-hub', o.identity, log);
    this.queue = new WorkQueue<string>({
      workers: this.#o.workers,
      onError: (k, err, retry) =>
        log.warn({ key: k, err: describeError(err), retryInMs: retry }, 'reconcile failed'),
    });
    caches.backups.on((_e, b) => this.queue.add(key(b)));
    // Clusters report status every few seconds; only a change of labels or readiness can change a decision.
    caches.clusters.on((_e, c, old) => {
      const same =
        old &&
        isDeepStrictEqual(clusterInfo(c), clusterInfo(old)) &&
        isDeepStrictEqual(clusterHealth(c), clusterHealth(old));
      if (!same) this.#enqueue(() => true);
    });
    caches.bindings.on((_e, rb) => {
      const r = rb.spec.resource;
      if (r.kind === 'CheckpointBackup') this.queue.add(`${r.namespace ?? ''}/${r.name}`);
      else if (r.kind !== 'Secret') this.#enqueue((b) => sameWorkload(b, r));
    });
    // A policy event concerns only the backups it selects, before or after the change: with one policy per backup,
    // enqueueing the whole namespace would make every new policy cost a pass over every backup.
    const onPolicy = (kind: PropagationPolicy['kind'], p: PropagationPolicy, old?: PropagationPolicy) => {
      const versions = [p, ...(old ? [old] : [])].map((x) => ({ ...x, kind }));
      this.#enqueue((b) => versions.some((x) => selectsBackup(x, b) || ownPolicyOf(x, b)));
    };
    caches.policies.on((_e, p, old) => onPolicy('PropagationPolicy', p, old));
    caches.clusterPolicies.on((_e, p, old) => onPolicy('ClusterPropagationPolicy', p, old));
  }

  #enqueue(pred: (b: CheckpointBackup) => boolean): void {
    for (const b of this.#o.caches.backups.list()) if (pred(b)) this.queue.add(key(b));
  }

  /** Starts acting, with every cached object: only the leader calls this. */
  start(): void {
    this.queue.start((k) => this.reconcile(k));
    this.#enqueue(() => true);
  }

  stop(): void {
    this.queue.stop();
  }

  async reconcile(k: string): Promise<Result> {
    try {
      const r = await this.#reconcile(k);
      this.#o.metrics.reconciles.inc({ kind: 'backup', result: 'ok' });
      return r;
    } catch (err) {
      this.#o.metrics.reconciles.inc({ kind: 'backup', result: 'error' });
      throw err;
    }
  }

  /** get (from the cache) -> deleting? -> refused (also: its secret's reader taken)? -> place -> sync or withdraw -> status. */
  async #reconcile(k: string): Promise<Result> {
    // From the cache: a stale copy only costs a 409 on write, then a fresh read; a no-op reconcile costs no request.
    const cached = this.#o.caches.backups.get(k);
    if (!cached) return undefined;
    const { namespace: ns, name } = cached.metadata;
    if (cached.metadata.deletionTimestamp) {
      if (cached.metadata.finalizers?.includes(HUB_FINALIZER)) await this.#cleanUp(cached);
      return undefined;
    }
    const b = await addFinalizer(this.#o.client, objectPath(ns, name), cached, HUB_FINALIZER);
    const refused = refusal(b, this.#o.defaultSecretRegistries);
    if (refused) return this.#refuse(b, refused);
    // Before anything is placed: the secret's reader RBAC would travel by name (Overwrite) with it.
    const taken = await this.#o.secrets.refusal(b);
    if (taken) {
      await this.#refuse(b, taken);
      // Nothing watches Roles: look again later, so removing the object lets the backup go on by itself.
      return { requeueAfterMs: 60_000 };
    }
    const placement = await this.#place(b);
    const binding = this.#o.caches.bindingOf({ kind: 'CheckpointBackup', name, namespace: ns });
    if (placement.kind === 'unplaceable') return this.#unplaceable(b, placement.message, binding);
    return this.#sync(b, placement, binding);
  }

  /**
   * Records where the object goes before acting (so secret reconciles, and a restarted hub, see the same union), then
   * brings its registry secret there, then its own policy (unless a user's places it), then the aggregate.
   */
  async #sync(
    cached: CheckpointBackup,
    placement: Exclude<Placement, { kind: 'unplaceable' }>,
    binding: ResourceBinding | undefined,
  ): Promise<Result> {
    const { namespace: ns, name } = cached.metadata;
    let b = cached;
    if (placement.kind === 'userPolicy') await this.#o.policies.delete(ns, policyName(name));
    const where = placementStatus(
      placement,
      (binding?.spec.clusters ?? []).map((c) => c.name),
    );
    if (!isDeepStrictEqual(b.status?.placement, where))
      b = await this.#writeStatus(b, (s) => ({ ...s, placement: where }));
    await this.#o.secrets.syncFor(b);
    if (placement.kind === 'clusters') await this.#ensurePolicy(b, where.clusters);
    let before = b.status?.phase;
    const updated = await this.#writeStatus(b, (s) => {
      before = s.phase;
      const agg = aggregateStatus({
        placed: where.clusters,
        reports: binding?.status?.aggregatedStatus ?? [],
        clusters: this.#o.caches.clusters.list().map(clusterHealth),
        previous: s,
        generation: b.metadata.generation ?? 0,
      });
      return { ...s, ...agg, placement: where };
    });
    if (worthAnEvent(before, updated.status?.phase)) {
      const e = phaseEvent(updated.status);
      await this.#event(updated, e.type, e.reason, e.message);
    }
    return undefined;
  }

  /** The object's own policy, to exactly these clusters; Events say where it goes, or that the name is taken. */
  async #ensurePolicy(b: CheckpointBackup, clusters: string[]): Promise<void> {
    const { namespace: ns, name } = b.metadata;
    const want = backupPolicy(policyName(name), ns, name, clusters);
    const written = await this.#o.policies.ensure(want);
    if (written === 'notHubs')
      await this.#event(
        b,
        'Warning',
        'PolicyNameTaken',
        `PropagationPolicy ${ns}/${want.metadata.name} exists and is not the hub's; the hub leaves it alone`,
      );
    else if (written !== 'none')
      await this.#event(
        b,
        'Normal',
        'Placed',
        `PropagationPolicy ${want.metadata.name} sends it to ${want.spec.placement?.clusterAffinity?.clusterNames?.join(', ') ?? ''}`,
      );
  }

  /**
   * An object that names another namespace, or wants the default secret for a tenant's URL (issue 11), or whose
   * registry secret's reader Role or RoleBinding name is taken by someone else's object: nothing of it goes to any
   * member (the hub's policy and binding are taken back, as for an unplaceable one), no secret travels
   * for it, and status says why, once, with one Warning Event.
   */
  async #refuse(b: CheckpointBackup, r: Refusal): Promise<Result> {
    await this.#takeBack(b);
    const before = b.status?.message;
    const updated = await this.#writeStatus(b, (s) => refusedStatus(s, b.metadata.generation ?? 0, r));
    if (updated.status?.message !== before || b.status?.phase !== 'Failed')
      await this.#event(updated, 'Warning', r.reason, r.message);
    // A secret carried for this object before (when its spec was acceptable) is taken back if nothing else needs it.
    this.#o.secrets.recheck(b);
    return undefined;
  }

  /**
   * An object that cannot be placed (any more). Recorded first (status.clusters, the record a restore needs, is
   * kept), then withdrawn, unless a member still runs a checkpoint: then nothing is withdrawn until it finishes (its
   * status changes bring the key back).
   */
  async #unplaceable(
    b: CheckpointBackup,
    message: string,
    binding: ResourceBinding | undefined,
  ): Promise<Result> {
    let withdraw = false;
    let before: string | undefined;
    const updated = await this.#writeStatus(b, (s) => {
      before = s.message;
      const d = unplaceable({
        previous: s,
        message,
        reports: binding?.status?.aggregatedStatus ?? [],
        clusters: this.#o.caches.clusters.list().map(clusterHealth),
        generation: b.metadata.generation ?? 0,
      });
      withdraw = d.withdraw;
      return d.status;
    });
    if (updated.status?.message !== before)
      await this.#event(updated, 'Warning', 'Unplaceable', updated.status?.message ?? message);
    if (!withdraw) return undefined;
    // Any binding left is from the hub's own earlier policy (a user's would have won): take it back too.
    await this.#takeBack(b);
    this.#o.secrets.recheck(b);
    return undefined;
  }

  /** Deletes the hub's policy for the object and withdraws its binding from every member. */
  async #takeBack(b: CheckpointBackup): Promise<void> {
    const { namespace: ns, name } = b.metadata;
    await this.#o.policies.delete(ns, policyName(name));
    await this.#o.policies.withdraw({ kind: 'CheckpointBackup', name, namespace: ns }, policyName(name));
  }

  /** On deletion: the hub's policy goes (Karmada withdraws the object from its clusters), then the finalizer. */
  async #cleanUp(b: CheckpointBackup): Promise<void> {
    const { namespace: ns, name } = b.metadata;
    await this.#o.policies.delete(ns, policyName(name));
    // Gone: released by an earlier pass the cache had not caught up with.
    if (!(await releaseFinalizers(this.#o.client, objectPath(ns, name), b, [HUB_FINALIZER]))) return;
    this.#o.secrets.recheck(b);
    this.#o.log.info(
      { backup: `${ns}/${name}` },
      'policy removed; Karmada withdraws the object from its clusters',
    );
  }

  /** Where a backup goes, from the caches plus, when its workload runs in several clusters, the cluster proxy. */
  async #place(b: CheckpointBackup): Promise<Placement> {
    const userPolicy = this.#o.caches.allPolicies().find((p) => selectsBackup(p, b));
    const ref = b.spec.resourceRef;
    const workload = this.#o.caches.bindingOf({
      kind: ref.kind,
      name: ref.name,
      namespace: ref.namespace || b.metadata.namespace,
    });
    const workloadClusters = (workload?.spec.clusters ?? []).map((c) => c.name);
    // A workload-level object (no podRef) goes wherever the workload runs: every pod of it, in every cluster.
    const podClusters =
      workloadClusters.length > 1 && !isWorkloadBackup(b)
        ? await this.#clustersRunning(b, workloadClusters)
        : undefined;
    return place({
      ...(userPolicy ? { userPolicy: policyRef(userPolicy) } : {}),
      ...(b.spec.placement?.clusterAffinity ? { affinity: b.spec.placement.clusterAffinity } : {}),
      clusters: this.#o.caches.clusters.list().map(clusterInfo),
      workloadClusters,
      ...(podClusters ? { podClusters } : {}),
      workload: `${ref.kind}/${ref.name}`,
    });
  }

  /** Which of these clusters run the pod, asked through Karmada's cluster proxy (runningClusters decides). */
  async #clustersRunning(b: CheckpointBackup, clusters: string[]): Promise<string[] | undefined> {
    const path = `/api/v1/namespaces/${podNamespace(b)}/pods/${podName(b)}`;
    const answers = await Promise.all(
      clusters.map((c) =>
        this.#o.client.get(proxyPath(c, path), { timeoutMs: this.#o.proxyTimeoutMs }).then(
          () => [c, true] as const,
          (err: unknown) => [c, isNotFound(err) ? false : undefined] as const,
        ),
      ),
    );
    return runningClusters(new Map(answers), b.status?.placement);
  }

  async #event(
    b: CheckpointBackup,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    await this.#events.emit({ ...b, apiVersion: API_VERSION }, type, reason, message);
  }

  async #writeStatus(
    b: CheckpointBackup,
    next: (s: CheckpointBackupStatus) => CheckpointBackupStatus,
  ): Promise<CheckpointBackup> {
    return writeStatus<CheckpointBackup, CheckpointBackupStatus>(
      this.#o.client,
      objectPath(b.metadata.namespace, b.metadata.name),
      (cur) => {
        if (cur.metadata.uid !== b.metadata.uid || cur.metadata.deletionTimestamp) return undefined;
        const want = next({ ...(cur.status ?? {}) });
        if (isDeepStrictEqual(want, cur.status ?? {})) return undefined;
        this.#o.metrics.writes.inc({ what: 'status' });
        return want;
      },
      { current: b },
    );
  }
}

/** Whether a binding's resource is the workload a backup's resourceRef names. */
function sameWorkload(b: CheckpointBackup, r: { kind: string; name: string; namespace?: string }): boolean {
  const ref = b.spec.resourceRef;
  return (
    ref.kind === r.kind && ref.name === r.name && (ref.namespace || b.metadata.namespace) === r.namespace
  );
}
