import { isDeepStrictEqual } from 'node:util';
import {
  API_GROUP,
  API_VERSION,
  PLURAL,
  podNamespace,
  refusal,
  registrySecret,
  type CheckpointBackup,
  type CheckpointBackupStatus,
  type Refusal,
} from '@stateful-migration/api';
import {
  addFinalizer,
  deleteIfExists,
  EventRecorder,
  getOrUndefined,
  Informer,
  isAlreadyExists,
  isNotFound,
  releaseFinalizers,
  restListWatch,
  WorkQueue,
  writeStatus,
  type Logger,
  type RestClient,
  type Result,
} from '@stateful-migration/kube';
import { aggregateStatus, unplaceable, worthAnEvent } from './backups/aggregate.js';
import { place, placementStatus, policyName, type Placement } from './backups/placement.js';
import { backupPolicy, ownPolicyOf, selectsBackup } from './backups/policy.js';
import { refusedStatus } from './backups/refused.js';
import {
  BINDINGS_PATH,
  CLUSTER_POLICIES_PATH,
  CLUSTERS_PATH,
  POLICIES_PATH,
  clusterHealth,
  clusterInfo,
  policyPath,
  proxyPath,
  claimedBy,
  resourceKey,
  type Cluster,
  type ResourceBinding,
} from './karmada.js';
import type { HubMetrics } from './metrics.js';
import { isHubOwned, samePolicy, type PropagationPolicy } from './policies.js';
import { secretNeeds, secretOf } from './secrets/needs.js';
import {
  readerBindingCurrent,
  secretPolicy,
  secretPolicyName,
  secretReaderBinding,
  secretReaderName,
  secretReaderRole,
  type ReaderBinding,
} from './secrets/reader.js';

export interface HubOptions {
  client: RestClient;
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

export const HUB_FINALIZER = `hub.${API_GROUP}/cleanup`;
const backupsPath = `/apis/${API_GROUP}/v1/${PLURAL}`;
const objectPath = (ns: string, name: string) => `/apis/${API_GROUP}/v1/namespaces/${ns}/${PLURAL}/${name}`;
const key = (ns: string, name: string) => `${ns}/${name}`;
/** The reader Role or RoleBinding of a registry secret (or their collection), on the Karmada apiserver. */
const rbacPath = (ns: string, kind: 'roles' | 'rolebindings', secret?: string) =>
  `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/${kind}${secret ? `/${secretReaderName(secret)}` : ''}`;

/**
 * The hub controller on the Karmada apiserver. Keys are `backup:<ns>/<name>` (place, write its policy, bring status
 * back) and `secret:<ns>/<name>` (carry a registry secret to exactly the clusters that need it). Everything it
 * decides comes from the informers' caches and the objects' status, so a restarted hub carries on where it stopped.
 */
export class HubController {
  readonly backups: Informer<CheckpointBackup>;
  readonly clusters: Informer<Cluster>;
  readonly bindings: Informer<ResourceBinding>;
  readonly policies: Informer<PropagationPolicy>;
  readonly clusterPolicies: Informer<PropagationPolicy>;
  readonly queue: WorkQueue<string>;
  readonly #o: Required<HubOptions>;
  readonly #events: EventRecorder;
  /** Bindings by the workload they carry, kept in step with the informer. */
  readonly #byResource = new Map<string, ResourceBinding>();

  constructor(o: HubOptions) {
    this.#o = { proxyTimeoutMs: 5000, workers: 8, defaultSecretRegistries: [], ...o };
    const { client, log } = o;
    this.#events = new EventRecorder(client, 'stateful-migration-hub', o.identity, log);
    this.queue = new WorkQueue<string>({
      workers: this.#o.workers,
      onError: (k, err, retry) =>
        log.warn(
          { key: k, err: err instanceof Error ? err.message : String(err), retryInMs: retry },
          'reconcile failed',
        ),
    });
    const informer = <T extends { metadata: { name: string } }>(path: string, what: string) =>
      new Informer<T & { metadata: { name: string; namespace?: string; resourceVersion?: string } }>(
        restListWatch(client, path),
        { onError: (err) => log.warn({ err: String(err) }, `${what} watch failed; retrying`) },
      );
    this.backups = informer<CheckpointBackup>(backupsPath, 'CheckpointBackup') as Informer<CheckpointBackup>;
    this.clusters = informer<Cluster>(CLUSTERS_PATH, 'Cluster') as Informer<Cluster>;
    this.bindings = informer<ResourceBinding>(BINDINGS_PATH, 'ResourceBinding') as Informer<ResourceBinding>;
    this.policies = informer<PropagationPolicy>(
      POLICIES_PATH,
      'PropagationPolicy',
    ) as Informer<PropagationPolicy>;
    this.clusterPolicies = informer<PropagationPolicy>(
      CLUSTER_POLICIES_PATH,
      'ClusterPropagationPolicy',
    ) as Informer<PropagationPolicy>;

    this.backups.on((_e, b, old) => {
      this.queue.add(`backup:${key(b.metadata.namespace, b.metadata.name)}`);
      for (const x of [b, old]) {
        const s = x && registrySecret(x);
        if (s) this.queue.add(`secret:${key(s.namespace!, s.name)}`);
      }
    });
    // Clusters report status every few seconds; only a change of labels or readiness can change a decision.
    this.clusters.on((_e, c, old) => {
      if (
        old &&
        isDeepStrictEqual(clusterInfo(c), clusterInfo(old)) &&
        isDeepStrictEqual(clusterHealth(c), clusterHealth(old))
      )
        return;
      this.#enqueueBackups(() => true);
    });
    this.bindings.on((e, rb) => {
      const r = rb.spec.resource;
      if (e === 'delete') this.#byResource.delete(resourceKey(r));
      else this.#byResource.set(resourceKey(r), rb);
      if (r.kind === 'CheckpointBackup') this.queue.add(`backup:${key(r.namespace ?? '', r.name)}`);
      else if (r.kind === 'Secret') this.queue.add(`secret:${key(r.namespace ?? '', r.name)}`);
      else
        this.#enqueueBackups(
          (b) =>
            b.spec.resourceRef.kind === r.kind &&
            b.spec.resourceRef.name === r.name &&
            (b.spec.resourceRef.namespace || b.metadata.namespace) === r.namespace,
        );
    });
    // A policy event concerns only the backups it selects, before or after the change: with one policy per backup,
    // enqueueing the whole namespace would make every new policy cost a pass over every backup.
    const onPolicy = (kind: PropagationPolicy['kind'], p: PropagationPolicy, old?: PropagationPolicy) => {
      const secret = p.spec.resourceSelectors.find((x) => x.kind === 'Secret');
      if (isHubOwned(p) && secret?.name)
        this.queue.add(`secret:${key(p.metadata.namespace ?? '', secret.name)}`);
      const versions = [p, ...(old ? [old] : [])].map((x) => ({ ...x, kind }));
      this.#enqueueBackups((b) => versions.some((x) => selectsBackup(x, b) || ownPolicyOf(x, b)));
    };
    this.policies.on((_e, p, old) => onPolicy('PropagationPolicy', p, old));
    this.clusterPolicies.on((_e, p, old) => onPolicy('ClusterPropagationPolicy', p, old));
  }

  #enqueueBackups(pred: (b: CheckpointBackup) => boolean): void {
    for (const b of this.backups.list())
      if (pred(b)) this.queue.add(`backup:${key(b.metadata.namespace, b.metadata.name)}`);
  }

  /** Fills the caches; a standby keeps them warm so it can take over at once. */
  async startInformers(): Promise<void> {
    await Promise.all(
      [this.clusters, this.bindings, this.policies, this.clusterPolicies, this.backups].map((i) => i.start()),
    );
  }

  /** Starts acting: only the leader calls this. */
  startWorkers(): void {
    this.queue.start((k) => this.reconcile(k));
    this.#enqueueBackups(() => true);
    setInterval(() => {
      this.#o.metrics.queueDepth.set(this.queue.depth());
      const counts = new Map<string, number>();
      for (const b of this.backups.list()) {
        const p = b.status?.phase ?? 'Pending';
        counts.set(p, (counts.get(p) ?? 0) + 1);
      }
      this.#o.metrics.backups.reset();
      for (const [phase, n] of counts) this.#o.metrics.backups.set({ phase }, n);
    }, 2000).unref();
  }

  stop(): void {
    for (const i of [this.backups, this.clusters, this.bindings, this.policies, this.clusterPolicies])
      i.stop();
    this.queue.stop();
  }

  ready(): boolean {
    return [this.backups, this.clusters, this.bindings, this.policies, this.clusterPolicies].every((i) =>
      i.hasSynced(),
    );
  }

  sinceContactMs(): number {
    return Math.max(...[this.backups, this.clusters, this.bindings].map((i) => i.sinceContactMs()));
  }

  async reconcile(k: string): Promise<Result> {
    const [kind, rest] = k.split(/:(.*)/s) as [string, string];
    const [ns, name] = rest.split('/') as [string, string];
    try {
      const r =
        kind === 'secret' ? await this.#reconcileSecret(ns, name) : await this.#reconcileBackup(ns, name);
      this.#o.metrics.reconciles.inc({ kind, result: 'ok' });
      return r;
    } catch (err) {
      this.#o.metrics.reconciles.inc({ kind, result: 'error' });
      throw err;
    }
  }

  async #reconcileBackup(ns: string, name: string): Promise<Result> {
    // From the cache: a stale copy only costs a 409 on write, then a fresh read; a no-op reconcile costs no request.
    const cached = this.backups.get(key(ns, name));
    if (!cached) return undefined;
    let b: CheckpointBackup = cached;
    if (b.metadata.deletionTimestamp) {
      if (b.metadata.finalizers?.includes(HUB_FINALIZER)) await this.#cleanUp(b);
      return undefined;
    }
    b = await addFinalizer(this.#o.client, objectPath(ns, name), b, HUB_FINALIZER);

    const refused = refusal(b, this.#o.defaultSecretRegistries);
    if (refused) return this.#refuse(b, refused);
    const placement = await this.#place(b);
    const secret = this.#secretOf(b);
    const own = policyName(name);
    const binding = this.#byResource.get(resourceKey({ kind: 'CheckpointBackup', name, namespace: ns }));
    if (placement.kind === 'unplaceable') return this.#unplaceable(b, placement.message, binding);
    if (placement.kind === 'userPolicy') await this.#deletePolicy(ns, own);
    const where = placementStatus(
      placement,
      (binding?.spec.clusters ?? []).map((c) => c.name),
    );
    const placed = where.clusters;
    // Record where it goes before the secret follows, so secret reconciles (and a restarted hub) see the same union.
    if (!isDeepStrictEqual(b.status?.placement, where))
      b = await this.#writeStatus(b, (s) => ({ ...s, placement: where }));
    if (secret) await this.#reconcileSecret(secret.namespace!, secret.name, b);
    if (placement.kind === 'clusters') await this.#ensurePolicy(backupPolicy(own, ns, name, placed), b);

    let before = b.status?.phase;
    const updated = await this.#writeStatus(b, (s) => {
      before = s.phase;
      const agg = aggregateStatus({
        placed,
        reports: binding?.status?.aggregatedStatus ?? [],
        clusters: this.clusters.list().map(clusterHealth),
        previous: s,
        generation: b.metadata.generation ?? 0,
      });
      return { ...s, ...agg, placement: where };
    });
    if (worthAnEvent(before, updated.status?.phase)) await this.#phaseEvent(updated);
    return undefined;
  }

  /**
   * An object that names another namespace, or wants the default secret for a tenant's URL (issue 11): nothing of it
   * goes to any member (the hub's policy and binding are taken back, as for an unplaceable one), no secret travels
   * for it, and status says why, once, with one Warning Event.
   */
  async #refuse(b: CheckpointBackup, r: Refusal): Promise<Result> {
    const { namespace: ns, name } = b.metadata;
    await this.#deletePolicy(ns, policyName(name));
    await this.#withdraw({ kind: 'CheckpointBackup', name, namespace: ns }, policyName(name));
    const before = b.status?.message;
    const updated = await this.#writeStatus(b, (s) => refusedStatus(s, b.metadata.generation ?? 0, r));
    if (updated.status?.message !== before || b.status?.phase !== 'Failed')
      await this.#event(updated, 'Warning', r.reason, r.message);
    // A secret carried for this object before (when its spec was acceptable) is taken back if nothing else needs it.
    const old = registrySecret(b);
    if (old) this.queue.add(`secret:${key(old.namespace!, old.name)}`);
    return undefined;
  }

  /** The registry secret the hub carries for an object, if any (never for a refused one). */
  #secretOf(b: CheckpointBackup) {
    return secretOf(b, this.#o.defaultSecretRegistries);
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
    const { namespace: ns, name } = b.metadata;
    let withdraw = false;
    let before: string | undefined;
    const updated = await this.#writeStatus(b, (s) => {
      before = s.message;
      const d = unplaceable({
        previous: s,
        message,
        reports: binding?.status?.aggregatedStatus ?? [],
        clusters: this.clusters.list().map(clusterHealth),
        generation: b.metadata.generation ?? 0,
      });
      withdraw = d.withdraw;
      return d.status;
    });
    if (updated.status?.message !== before)
      await this.#event(updated, 'Warning', 'Unplaceable', updated.status?.message ?? message);
    if (!withdraw) return undefined;
    // Any binding left is from the hub's own earlier policy (a user's would have won): take it back too.
    const own = policyName(name);
    await this.#deletePolicy(ns, own);
    await this.#withdraw({ kind: 'CheckpointBackup', name, namespace: ns }, own);
    const secret = registrySecret(b);
    if (secret) this.queue.add(`secret:${key(secret.namespace!, secret.name)}`);
    return undefined;
  }

  async #phaseEvent(b: CheckpointBackup): Promise<void> {
    const phase = b.status?.phase;
    const message = b.status?.message ?? '';
    const warning = phase === 'Failed' || phase === 'Unknown' || phase === 'CompletedWithError';
    const reason =
      phase === 'Unknown'
        ? 'ClusterNotReady'
        : phase === 'Failed' && !b.status?.clusters?.length
          ? 'Unplaceable'
          : `Aggregate${phase}`;
    await this.#event(b, warning ? 'Warning' : 'Normal', reason, message);
  }

  async #event(
    b: CheckpointBackup,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    await this.#events.emit({ ...b, apiVersion: API_VERSION }, type, reason, message);
  }

  /** Where a backup goes, from the caches plus, when its workload runs in several clusters, the cluster proxy. */
  async #place(b: CheckpointBackup): Promise<Placement> {
    const userPolicy = [
      ...this.policies.list().map((p) => ({ ...p, kind: 'PropagationPolicy' as const })),
      ...this.clusterPolicies.list().map((p) => ({ ...p, kind: 'ClusterPropagationPolicy' as const })),
    ].find((p) => selectsBackup(p, b));
    const ref = b.spec.resourceRef;
    const workload = this.#byResource.get(
      resourceKey({ kind: ref.kind, name: ref.name, namespace: ref.namespace || b.metadata.namespace }),
    );
    const workloadClusters = (workload?.spec.clusters ?? []).map((c) => c.name);
    const podClusters =
      workloadClusters.length > 1 ? await this.#clustersRunning(b, workloadClusters) : undefined;
    return place({
      ...(userPolicy
        ? {
            userPolicy: `${userPolicy.kind}/${userPolicy.metadata.namespace ? `${userPolicy.metadata.namespace}/` : ''}${userPolicy.metadata.name}`,
          }
        : {}),
      ...(b.spec.placement?.clusterAffinity ? { affinity: b.spec.placement.clusterAffinity } : {}),
      clusters: this.clusters.list().map(clusterInfo),
      workloadClusters,
      ...(podClusters ? { podClusters } : {}),
      workload: `${ref.kind}/${ref.name}`,
    });
  }

  /**
   * Which of these clusters run the pod, asked through Karmada's cluster proxy. Only a 404 means "not there": when a
   * member cannot answer, the last decision stands (or the key is retried), so a hiccup never widens the placement.
   */
  async #clustersRunning(b: CheckpointBackup, clusters: string[]): Promise<string[] | undefined> {
    const path = `/api/v1/namespaces/${podNamespace(b)}/pods/${b.spec.podRef.name}`;
    let unsure = false;
    const found = await Promise.all(
      clusters.map((c) =>
        this.#o.client.get(proxyPath(c, path), { timeoutMs: this.#o.proxyTimeoutMs }).then(
          () => c,
          (err: unknown) => {
            if (!isNotFound(err)) unsure = true;
            return undefined;
          },
        ),
      ),
    );
    const running = found.filter((c): c is string => !!c);
    if (running.length) return running;
    if (!unsure) return undefined;
    const last = b.status?.placement;
    if (last?.by === 'pod' && last.clusters.every((c) => clusters.includes(c))) return last.clusters;
    throw new Error(
      `cannot ask ${clusters.join(', ')} through the cluster proxy which one runs the pod; retrying`,
    );
  }

  /** Creates or updates one of the hub's policies; `b` is the object Events about it go to. */
  async #ensurePolicy(want: PropagationPolicy, b?: CheckpointBackup): Promise<void> {
    const ns = want.metadata.namespace!;
    const cur = this.policies.get(`${ns}/${want.metadata.name}`);
    const stored =
      cur ?? (await getOrUndefined<PropagationPolicy>(this.#o.client, policyPath(ns, want.metadata.name)));
    if (stored && samePolicy(stored, want)) return;
    if (stored && !isHubOwned(stored)) {
      if (b)
        await this.#event(
          b,
          'Warning',
          'PolicyNameTaken',
          `PropagationPolicy ${ns}/${want.metadata.name} exists and is not the hub's; the hub leaves it alone`,
        );
      return;
    }
    // Created meanwhile by a concurrent reconcile: the queue retries with backoff and finds it.
    if (!(await this.#writePolicy(want, stored)))
      throw new Error(`PropagationPolicy ${ns}/${want.metadata.name} was created concurrently; retrying`);
    this.#o.metrics.writes.inc({ what: 'policy' });
    const clusters = want.spec.placement?.clusterAffinity?.clusterNames?.join(', ') ?? '';
    if (b && want.spec.resourceSelectors[0]?.kind === 'CheckpointBackup')
      await this.#event(
        b,
        'Normal',
        'Placed',
        `PropagationPolicy ${want.metadata.name} sends it to ${clusters}`,
      );
    this.#o.log.info(
      { policy: `${ns}/${want.metadata.name}`, clusters },
      stored ? 'policy updated' : 'policy created',
    );
  }

  /** Deletes one of the hub's policies; true when there was one. */
  /** Updates the fields the hub owns, or creates the policy; false when a concurrent reconcile created it first. */
  async #writePolicy(want: PropagationPolicy, stored: PropagationPolicy | undefined): Promise<boolean> {
    const ns = want.metadata.namespace!;
    if (stored) {
      const spec = {
        ...stored.spec,
        resourceSelectors: want.spec.resourceSelectors,
        placement: { ...stored.spec.placement, clusterAffinity: want.spec.placement?.clusterAffinity },
        ...(want.spec.conflictResolution ? { conflictResolution: want.spec.conflictResolution } : {}),
      };
      await this.#o.client.request('PUT', policyPath(ns, want.metadata.name), { body: { ...stored, spec } });
      return true;
    }
    try {
      await this.#o.client.request(
        'POST',
        `/apis/policy.karmada.io/v1alpha1/namespaces/${ns}/propagationpolicies`,
        {
          body: want,
        },
      );
      return true;
    } catch (err) {
      if (!isAlreadyExists(err)) throw err;
      return false;
    }
  }

  async #deletePolicy(ns: string, name: string): Promise<boolean> {
    const cur = this.policies.get(`${ns}/${name}`);
    // A no-op reconcile costs no request: only a cached hub-owned policy is deleted.
    if (!cur || !isHubOwned(cur)) return false;
    if (!(await deleteIfExists(this.#o.client, policyPath(ns, name)))) return false;
    this.#o.metrics.writes.inc({ what: 'policy' });
    this.#o.log.info({ policy: `${ns}/${name}` }, 'policy deleted');
    return true;
  }

  /**
   * Takes an object back from every member. Karmada keeps what a deleted policy propagated, so the hub deletes the
   * object's ResourceBinding too: Karmada then removes its Works, and the members' copies with them. A binding that
   * another policy claims is someone else's and stays.
   */
  async #withdraw(r: { kind: string; name: string; namespace: string }, ownPolicy: string): Promise<void> {
    const name = `${r.name}-${r.kind.toLowerCase()}`;
    const path = `/apis/work.karmada.io/v1alpha2/namespaces/${r.namespace}/resourcebindings/${name}`;
    // The cache may not have it yet (a crash between deleting the policy and this): read it then.
    const rb =
      this.#byResource.get(resourceKey(r)) ?? (await getOrUndefined<ResourceBinding>(this.#o.client, path));
    if (!rb || !claimedBy(rb, ownPolicy)) return;
    if (!(await deleteIfExists(this.#o.client, path))) return;
    this.#o.metrics.writes.inc({ what: 'binding' });
    this.#o.log.info({ binding: `${r.namespace}/${name}` }, 'withdrawn from every member');
  }

  /** A registry secret goes to the union of the clusters recorded in status.placement of the backups using it. */
  async #reconcileSecret(ns: string, name: string, fresh?: CheckpointBackup): Promise<Result> {
    const id = (b: CheckpointBackup) => key(b.metadata.namespace, b.metadata.name);
    // The cache may lag the caller's own status write: its fresh copy stands in for the cached one.
    const backups = [
      ...this.backups.list().filter((b) => !fresh || id(b) !== id(fresh)),
      ...(fresh ? [fresh] : []),
    ];
    const needs = backups
      .filter((b) => !b.metadata.deletionTimestamp || b.metadata.finalizers?.includes(HUB_FINALIZER))
      .flatMap((b) => {
        const s = this.#secretOf(b);
        if (!s || s.namespace !== ns || s.name !== name) return [];
        return [{ secret: { name, namespace: ns }, clusters: b.status?.placement?.clusters ?? [] }];
      });
    const clusters = secretNeeds(needs).get(`${ns}/${name}`)?.clusters ?? [];
    const secret = { name, namespace: ns };
    if (!clusters.length) {
      // The cache may lag a placement another reconcile just recorded: withdraw only what a fresh read agrees on.
      const live = await this.#o.client.get<{ items: CheckpointBackup[] }>(
        `/apis/${API_GROUP}/v1/namespaces/${ns}/${PLURAL}`,
      );
      const stillNeeded = live.items.some((b) => {
        const s = this.#secretOf(b);
        return (
          s?.name === name &&
          s.namespace === ns &&
          (b.status?.placement?.clusters?.length ?? 0) > 0 &&
          !b.metadata.deletionTimestamp
        );
      });
      if (stillNeeded) return { requeueAfterMs: 1000 };
      await this.#deletePolicy(ns, secretPolicyName(name));
      await this.#withdraw({ kind: 'Secret', name, namespace: ns }, secretPolicyName(name));
      // Deleting the hub's Role and RoleBinding deletes their bindings too (Karmada owns them by the template), which
      // takes them out of the members.
      for (const path of [rbacPath(ns, 'roles', name), rbacPath(ns, 'rolebindings', name)])
        await this.#deleteOwn(path);
      return undefined;
    }
    await this.#ensureReader(secret);
    await this.#ensurePolicy(secretPolicy(secret, clusters));
    return undefined;
  }

  /**
   * The Role that may get this one secret, and its RoleBinding to the agents (issue 11: never every secret of the
   * namespace). A RoleBinding an older hub made to the ClusterRole over every secret is replaced: roleRef is
   * immutable. Only objects labelled as the hub's are changed.
   */
  async #ensureReader(secret: { name: string; namespace: string }): Promise<void> {
    const ns = secret.namespace;
    const role = secretReaderRole(secret);
    const storedRole = await getOrUndefined<typeof role>(this.#o.client, rbacPath(ns, 'roles', secret.name));
    if (!storedRole) await this.#create(rbacPath(ns, 'roles'), role, 'role');
    else if (isHubOwned(storedRole) && !isDeepStrictEqual(storedRole.rules, role.rules)) {
      await this.#o.client.request('PUT', rbacPath(ns, 'roles', secret.name), {
        body: { ...storedRole, rules: role.rules },
      });
      this.#o.metrics.writes.inc({ what: 'role' });
    }
    const binding = secretReaderBinding(secret);
    const stored = await getOrUndefined<ReaderBinding>(
      this.#o.client,
      rbacPath(ns, 'rolebindings', secret.name),
    );
    if (stored && isHubOwned(stored) && !readerBindingCurrent(stored, binding)) {
      await this.#deleteOwn(rbacPath(ns, 'rolebindings', secret.name));
      await this.#create(rbacPath(ns, 'rolebindings'), binding, 'rolebinding');
    } else if (!stored) await this.#create(rbacPath(ns, 'rolebindings'), binding, 'rolebinding');
  }

  async #create(collection: string, body: unknown, what: string): Promise<void> {
    await this.#o.client.request('POST', collection, { body }).catch((e: unknown) => {
      if (!isAlreadyExists(e)) throw e;
    });
    this.#o.metrics.writes.inc({ what });
  }

  /** Deletes an object if it exists and carries the hub's label. */
  async #deleteOwn(path: string): Promise<void> {
    const cur = await getOrUndefined<{ metadata: { labels?: Record<string, string> } }>(this.#o.client, path);
    if (!cur || !isHubOwned(cur)) return;
    await deleteIfExists(this.#o.client, path);
  }

  async #cleanUp(b: CheckpointBackup): Promise<void> {
    const { namespace: ns, name } = b.metadata;
    await this.#deletePolicy(ns, policyName(name));
    // Gone: released by an earlier pass the cache had not caught up with.
    if (!(await releaseFinalizers(this.#o.client, objectPath(ns, name), b, [HUB_FINALIZER]))) return;
    const secret = registrySecret(b);
    if (secret) this.queue.add(`secret:${key(secret.namespace!, secret.name)}`);
    this.#o.log.info(
      { backup: `${ns}/${name}` },
      'policy removed; Karmada withdraws the object from its clusters',
    );
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
