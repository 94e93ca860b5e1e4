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
  OwnWrites,
  releaseFinalizers,
  WorkQueue,
  writeStatus,
  type Logger,
  type RestClient,
  type Result,
} from '@stateful-migration/kube';
import type { HubCaches } from '../caches.js';
import { clusterHealth, clusterInfo, proxyPath, workReport, type ResourceBinding } from '../karmada.js';
import type { HubMetrics } from '../metrics.js';
import { HUB_FINALIZER, isHubOwned, policyRef, type PropagationPolicy } from '../policies.js';
import type { PolicyWriter } from '../policy-writer.js';
import { aggregateStatus, phaseEvent, reportUnseen, unplaceable, worthAnEvent } from './aggregate.js';
import { place, placementStatus, runningClusters, type Placement } from './placement.js';
import { legacyPolicyOf, selectsBackup } from './policy.js';
import {
  isSharedPolicy,
  legacyPolicyName,
  membershipPatch,
  policyInUse,
  POLICY_LABEL,
  awaitsPlacement,
  sharedPolicy,
  wantedPolicy,
} from './sharing.js';
import { refusedStatus } from './refused.js';
import { coveredWorkload, evictedFrom, keepsStateOnFailover } from '../failover/webhook.js';

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
/** The key of a shared policy's clean-up in the same queue (a namespace never holds a colon). */
const POLICY_KEY = 'policy:';
const policyKey = (ns: string, name: string) => `${POLICY_KEY}${ns}/${name}`;
/** Kinds whose bindings are never a workload's: what the hub and the restore controller carry besides pods. */
const CARRIED_KINDS: ReadonlySet<string> = new Set(['Secret', 'ConfigMap', 'Role', 'RoleBinding']);
/** The shared policies an object carries or belongs in. */
const sharedOf = (b: CheckpointBackup) =>
  [b.metadata.labels?.[POLICY_LABEL], wantedPolicy(b)].filter((p): p is string => !!p);
/** The queue's priority of an object not yet placed (awaitsPlacement): ahead of status bookkeeping (0). */
const PLACING = 1;
/**
 * The queue's priority of an object whose member finished a run its status does not show (reportUnseen): ahead of
 * placements too. One status write per run and cluster, at the pace members finish, and the answer a user waits on;
 * behind a burst of placements it waited a minute (ADR 0019).
 */
const REPORTED = 2;
/**
 * Workers kept for REPORTED keys beyond `workers`: an answer starts as soon as one of these is free instead of waiting
 * for one of the ordinary workers, which a burst keeps busy with placements and bookkeeping (at 3000 objects, a 50 ms
 * mean wait on the path a user waits on). Its status write comes first in its reconcile (#sync), usually with nothing
 * to read but the caches; a workload in several clusters asks the member proxy first (up to proxyTimeoutMs), which
 * can hold both for that long while a member is away.
 */
const ANSWER_WORKERS = 2;

/**
 * Places CheckpointBackups on the Karmada apiserver, each in the PropagationPolicy its namespace shares for its
 * clusters (sharing.ts), and brings the members' status back. Keys are `<ns>/<name>` for an object and
 * `policy:<ns>/<name>` for a shared policy that may no longer be needed. Everything it decides comes from the caches
 * and the objects' status and labels (place, membershipPatch, policyInUse, aggregateStatus, unplaceable: pure), so a
 * restarted hub carries on where it stopped.
 */
export class BackupController {
  readonly queue: WorkQueue<string>;
  readonly #o: Required<BackupControllerOptions>;
  readonly #events: EventRecorder;
  /**
   * The objects as this controller last wrote them (status, membership, finalizer), until the informer delivers
   * them: a member's reports often come in quick succession, and the reconcile of the second would otherwise start
   * from the copy before the first write and pay a 409 and a re-read on the path a user waits on.
   */
  readonly #own = new OwnWrites<CheckpointBackup>();

  constructor(o: BackupControllerOptions) {
    this.#o = { proxyTimeoutMs: 5000, workers: 8, defaultSecretRegistries: [], ...o };
    const { caches, client, log } = o;
    this.#events = new EventRecorder(client, 'stateful-migration-hub', o.identity, log);
    this.queue = new WorkQueue<string>({
      workers: this.#o.workers,
      reserved: { priority: REPORTED, workers: ANSWER_WORKERS },
      onError: (k, err, retry) =>
        log.warn({ key: k, err: describeError(err), retryInMs: retry }, 'reconcile failed'),
      onStart: (_k, waited, priority) =>
        o.metrics.queueWait.observe({ queue: 'backups', priority: String(priority) }, waited / 1000),
    });
    caches.backups.on((e, b, old) => {
      this.#own.seen(key(b), e === 'delete' ? undefined : b);
      this.#add(b);
      // An object leaving a shared policy (moved, withdrawn, deleted) may have been its last: look at the policy.
      const now = e === 'delete' || b.metadata.deletionTimestamp ? [] : sharedOf(b);
      for (const p of [...(old ? sharedOf(old) : []), ...(e === 'delete' ? sharedOf(b) : [])])
        if (!now.includes(p)) this.queue.add(policyKey(b.metadata.namespace, p));
    });
    // Clusters report status every few seconds; only a change of labels or readiness can change a decision.
    caches.clusters.on((_e, c, old) => {
      const same =
        old &&
        isDeepStrictEqual(clusterInfo(c), clusterInfo(old)) &&
        isDeepStrictEqual(clusterHealth(c), clusterHealth(old));
      if (!same) this.#enqueue(() => true);
    });
    // A workload's binding (where it runs) concerns the backups of that workload; the bindings of what the hub and
    // the restore controller carry (registry and pull secrets, keys objects, their reader Roles and RoleBindings)
    // concern none, and would cost a scan of every backup each.
    caches.bindings.on((_e, rb) => {
      const r = rb.spec.resource;
      if (r.kind === 'CheckpointBackup') this.requeue({ name: r.name, namespace: r.namespace ?? '' });
      else if (!CARRIED_KINDS.has(r.kind)) this.#enqueue((b) => sameWorkload(b, r));
    });
    // A member's report reaches its Work before the binding (HubCaches.works): the object it reports on, when the
    // report changed (Karmada also rewrites a Work for its other conditions) or the Work went.
    caches.works.on((e, w, old) => {
      const r = workReport(w, API_GROUP);
      const was = old && old !== w ? workReport(old, API_GROUP) : undefined;
      if (e !== 'delete' && was && isDeepStrictEqual(r, was)) return;
      for (const x of [r, was]) if (x) this.requeue(x.backup);
    });
    // A policy event concerns only the backups it selects, before or after the change, or, for a shared policy of
    // the hub's, those that carry its label or belong in it (deleted under one joining it: it is written again).
    const onPolicy = (kind: PropagationPolicy['kind'], p: PropagationPolicy, old?: PropagationPolicy) => {
      const versions = [p, ...(old ? [old] : [])].map((x) => ({ ...x, kind }));
      const shared = versions.some(isSharedPolicy) ? p.metadata.name : undefined;
      this.#enqueue(
        (b) =>
          (shared !== undefined &&
            b.metadata.namespace === p.metadata.namespace &&
            sharedOf(b).includes(shared)) ||
          versions.some((x) => selectsBackup(x, b) || legacyPolicyOf(x, b)),
      );
      if (shared) this.queue.add(policyKey(p.metadata.namespace!, shared));
    };
    caches.policies.on((_e, p, old) => onPolicy('PropagationPolicy', p, old));
    caches.clusterPolicies.on((_e, p, old) => onPolicy('ClusterPropagationPolicy', p, old));
  }

  #enqueue(pred: (b: CheckpointBackup) => boolean): void {
    for (const b of this.#o.caches.backups.list()) if (pred(b)) this.#add(b);
  }

  #add(b: CheckpointBackup): void {
    this.queue.add(key(b), this.#priority(b));
  }

  /** What the user waits on first (ADR 0019): a member's answer not shown yet, then an object not yet placed. */
  #priority(cached: CheckpointBackup): number {
    if (cached.metadata.deletionTimestamp) return 0;
    const b = this.#own.freshest(key(cached), cached) ?? cached;
    if (awaitsPlacement(b)) return PLACING;
    const { name, namespace } = b.metadata;
    const reports = this.#o.caches.reportsOf({ name, namespace });
    // Every add of every object comes here (a cluster's change adds them all): the clusters' health is read only for
    // an object with reports to compare.
    if (!reports?.length) return 0;
    const clusters = this.#o.caches.clusters.list().map(clusterHealth);
    return reportUnseen(b.status, reports, clusters) ? REPORTED : 0;
  }

  /** Queues an object again (its binding, or its registry secret, changed), at the priority its cached copy earns. */
  requeue(ref: { name: string; namespace: string }): void {
    const cached = this.#o.caches.backups.get(`${ref.namespace}/${ref.name}`);
    if (cached) this.#add(cached);
    else this.queue.add(`${ref.namespace}/${ref.name}`);
  }

  /** Starts acting, with every cached object: only the leader calls this. */
  start(): void {
    // Everything queued first, then the workers: the first ones start on the highest priority, not on cache order.
    this.#enqueue(() => true);
    for (const p of this.#o.caches.policies.list())
      if (isSharedPolicy({ ...p, kind: 'PropagationPolicy' }))
        this.queue.add(policyKey(p.metadata.namespace!, p.metadata.name));
    this.queue.start((k) => this.reconcile(k));
  }

  stop(): void {
    this.queue.stop();
  }

  async reconcile(k: string): Promise<Result> {
    try {
      const r = k.startsWith(POLICY_KEY)
        ? await this.#collect(k.slice(POLICY_KEY.length))
        : await this.#reconcile(k);
      this.#o.metrics.reconciles.inc({ kind: 'backup', result: 'ok' });
      return r;
    } catch (err) {
      this.#o.metrics.reconciles.inc({ kind: 'backup', result: 'error' });
      throw err;
    }
  }

  /** get (from the cache) -> deleting? -> refused (also: its secret's reader taken)? -> place -> sync or withdraw -> status. */
  async #reconcile(k: string): Promise<Result> {
    // From the cache (or this controller's own later write): a stale copy only costs a 409 on write, then a fresh
    // read; a no-op reconcile costs no request.
    const cached = this.#own.freshest(k, this.#o.caches.backups.get(k));
    if (!cached) return undefined;
    const { namespace: ns, name } = cached.metadata;
    if (cached.metadata.deletionTimestamp) {
      if (cached.metadata.finalizers?.includes(HUB_FINALIZER)) await this.#cleanUp(cached);
      return undefined;
    }
    // An object the hub places gets its finalizer in the write that joins it to its policy (one write, one pass of
    // Karmada's detector); a refused or unplaceable one gets it first; one a user's policy places gets none: it is in
    // no policy of the hub's, which is what the finalizer cleans up (ADR 0009, amended).
    const finalized = async () => {
      const b = await addFinalizer(this.#o.client, objectPath(ns, name), cached, HUB_FINALIZER);
      return b === cached ? b : this.#wrote(b);
    };
    const refused = refusal(cached, this.#o.defaultSecretRegistries);
    if (refused) return this.#refuse(await finalized(), refused);
    // Before anything is placed: the secret's reader RBAC would travel by name (Overwrite) with it.
    const taken = await this.#o.secrets.refusal(cached);
    if (taken) {
      await this.#refuse(await finalized(), taken);
      // Nothing watches Roles: look again later, so removing the object lets the backup go on by itself.
      return { requeueAfterMs: 60_000 };
    }
    const placement = await this.#place(cached);
    const binding = this.#o.caches.bindingOf({ kind: 'CheckpointBackup', name, namespace: ns });
    if (placement.kind === 'unplaceable') return this.#unplaceable(await finalized(), placement.message);
    return this.#sync(cached, placement, binding);
  }

  /**
   * Records where the object goes, with the aggregate, before acting (so secret reconciles, a restarted hub, and the
   * clean-up of shared policies see it), then brings its registry secret there, then the shared policy of its
   * clusters and its label (unless a user's policy places it: then it leaves the hub's).
   */
  async #sync(
    cached: CheckpointBackup,
    placement: Exclude<Placement, { kind: 'unplaceable' }>,
    binding: ResourceBinding | undefined,
  ): Promise<Result> {
    const { namespace: ns, name } = cached.metadata;
    const where = placementStatus(
      placement,
      (binding?.spec.clusters ?? []).map((c) => c.name),
    );
    // One status write: the placement (recorded before acting) with the aggregate, which reads only the caches (the
    // binding, and the Works' reports: HubCaches.reportsOf).
    let before = cached.status?.phase;
    let b = await this.#writeStatus(cached, (s) => {
      before = s.phase;
      const agg = aggregateStatus({
        // A cluster Karmada is evicting the workload from keeps its replicas' last record while the move lasts:
        // the failover decision (failover/) restores from it.
        placed: [...where.clusters, ...(keepsStateOnFailover(cached) ? this.#evicted(cached) : [])],
        reports: this.#o.caches.reportsOf({ namespace: ns, name }),
        clusters: this.#o.caches.clusters.list().map(clusterHealth),
        previous: s,
        generation: cached.metadata.generation ?? 0,
      });
      return { ...s, ...agg, placement: where };
    });
    await this.#o.secrets.syncFor(b);
    const policy = placement.kind === 'clusters' ? await this.#ensurePolicy(b, where.clusters) : undefined;
    b = await this.#join(b, policy);
    // A policy of this object alone, from a hub before sharing: it goes once the object is in its shared one.
    await this.#o.policies.delete(ns, legacyPolicyName(name));
    if (worthAnEvent(before, b.status?.phase)) {
      const e = phaseEvent(b.status);
      this.#event(b, e.type, e.reason, e.message);
    }
    return undefined;
  }

  /**
   * The namespace's shared policy for these clusters, written if missing: its name, or undefined (with a Warning)
   * when a policy of that name is not the hub's.
   */
  async #ensurePolicy(b: CheckpointBackup, clusters: string[]): Promise<string | undefined> {
    const want = sharedPolicy(b.metadata.namespace, clusters);
    if ((await this.#o.policies.ensure(want)) !== 'notHubs') return want.metadata.name;
    this.#event(
      b,
      'Warning',
      'PolicyNameTaken',
      `PropagationPolicy ${b.metadata.namespace}/${want.metadata.name} exists and is not the hub's; the hub leaves it alone`,
    );
    return undefined;
  }

  /**
   * Puts the object in the shared policy it belongs in, or in none (membershipPatch): one merge patch of its labels,
   * Karmada's claim when it was a policy of the hub's, and the finalizer, carrying the resourceVersion read (a 409
   * goes back to the queue). An Event says where it goes when it joins.
   */
  async #join(b: CheckpointBackup, policy: string | undefined): Promise<CheckpointBackup> {
    const { namespace: ns, name } = b.metadata;
    const patch = membershipPatch({
      object: b,
      want: policy,
      hubPolicy: (p) => this.#hubPolicy(ns, p),
      finalizer: HUB_FINALIZER,
    });
    if (!patch) return b;
    const joined = await this.#o.client.request<CheckpointBackup>('PATCH', objectPath(ns, name), {
      body: { metadata: { ...patch, resourceVersion: b.metadata.resourceVersion } },
    });
    this.#o.metrics.writes.inc({ what: 'membership' });
    this.#wrote(joined);
    if (policy && patch.labels?.[POLICY_LABEL] === policy) {
      const clusters = b.status?.placement?.clusters.join(', ') ?? '';
      this.#event(joined, 'Normal', 'Placed', `PropagationPolicy ${policy} sends it to ${clusters}`);
    }
    return joined;
  }

  #hubPolicy(ns: string, name: string): boolean {
    const p = this.#o.caches.policies.get(`${ns}/${name}`);
    return !!p && isHubOwned(p);
  }

  /**
   * A shared policy no object carries or belongs in any more is deleted. The caches say so first; a fresh list of
   * the namespace's objects confirms it (one may be joining: its placement is recorded before its label). One that
   * joins after the list finds the policy gone by its delete event and writes it again (converging, never
   * withdrawing: Karmada keeps bindings when their policy goes).
   */
  async #collect(k: string): Promise<Result> {
    const [ns, name] = k.split('/') as [string, string];
    const p = this.#o.caches.policies.get(k);
    if (!p || !isSharedPolicy({ ...p, kind: 'PropagationPolicy' })) return undefined;
    if (policyInUse({ namespace: ns, name }, this.#o.caches.backups.list())) return undefined;
    const fresh = await this.#o.client.get<{ items: CheckpointBackup[] }>(
      `/apis/${API_GROUP}/v1/namespaces/${ns}/${PLURAL}`,
    );
    if (policyInUse({ namespace: ns, name }, fresh.items)) return undefined;
    await this.#o.policies.delete(ns, name);
    return undefined;
  }

  /**
   * An object that names another namespace, or wants the default secret for a tenant's URL (issue 11), or whose
   * registry secret's reader Role or RoleBinding name is taken by someone else's object: nothing of it goes to any
   * member (the hub's policy and binding are taken back, as for an unplaceable one), no secret travels
   * for it, and status says why, once, with one Warning Event.
   */
  async #refuse(found: CheckpointBackup, r: Refusal): Promise<Result> {
    const b = await this.#takeBack(found);
    const before = b.status?.message;
    const updated = await this.#writeStatus(b, (s) => refusedStatus(s, b.metadata.generation ?? 0, r));
    if (updated.status?.message !== before || b.status?.phase !== 'Failed')
      this.#event(updated, 'Warning', r.reason, r.message);
    // A secret carried for this object before (when its spec was acceptable) is taken back if nothing else needs it.
    this.#o.secrets.recheck(b);
    return undefined;
  }

  /**
   * An object that cannot be placed (any more). Recorded first (status.clusters, the record a restore needs, is
   * kept), then withdrawn, unless a member still runs a checkpoint: then nothing is withdrawn until it finishes (its
   * status changes bring the key back).
   */
  async #unplaceable(b: CheckpointBackup, message: string): Promise<Result> {
    let withdraw = false;
    let before: string | undefined;
    const updated = await this.#writeStatus(b, (s) => {
      before = s.message;
      const d = unplaceable({
        previous: s,
        message,
        reports: this.#o.caches.reportsOf(b.metadata),
        clusters: this.#o.caches.clusters.list().map(clusterHealth),
        generation: b.metadata.generation ?? 0,
      });
      withdraw = d.withdraw;
      return d.status;
    });
    if (updated.status?.message !== before)
      this.#event(updated, 'Warning', 'Unplaceable', updated.status?.message ?? message);
    if (!withdraw) return undefined;
    // Any binding left is from the hub's own earlier policy (a user's would have won): take it back too.
    await this.#takeBack(updated);
    this.#o.secrets.recheck(b);
    return undefined;
  }

  /**
   * Takes the object out of the hub's policies (its label, and Karmada's claim by one of them) and withdraws its
   * binding from every member; the shared policy itself goes once no object needs it (#collect, from the label's
   * change). Returns the object as stored.
   */
  async #takeBack(found: CheckpointBackup): Promise<CheckpointBackup> {
    const { namespace: ns, name } = found.metadata;
    const was = found.metadata.labels?.[POLICY_LABEL];
    const b = await this.#join(found, undefined);
    const legacy = legacyPolicyName(name);
    await this.#o.policies.delete(ns, legacy);
    await this.#o.policies.withdraw(
      { kind: 'CheckpointBackup', name, namespace: ns },
      (claim) => claim === was || claim === legacy || this.#hubPolicy(ns, claim),
    );
    return b;
  }

  /**
   * On deletion: the shared policy goes if this was its last object (Karmada's garbage collector withdraws the
   * object's own binding, and with it its copies, once the object is gone), then the finalizer.
   */
  async #cleanUp(b: CheckpointBackup): Promise<void> {
    const { namespace: ns, name } = b.metadata;
    for (const p of new Set(sharedOf(b))) await this.#collect(`${ns}/${p}`);
    await this.#o.policies.delete(ns, legacyPolicyName(name));
    // Gone: released by an earlier pass the cache had not caught up with.
    if (!(await releaseFinalizers(this.#o.client, objectPath(ns, name), b, [HUB_FINALIZER]))) return;
    this.#o.secrets.recheck(b);
    this.#o.log.info(
      { backup: `${ns}/${name}` },
      'finalizer released; Karmada withdraws the object from its clusters',
    );
  }

  /** The clusters Karmada is evicting an opted-in backup's workload from (while its eviction tasks stand). */
  #evicted(b: CheckpointBackup): string[] {
    return evictedFrom(this.#o.caches.bindingOf(coveredWorkload(b)));
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

  #event(b: CheckpointBackup, type: 'Normal' | 'Warning', reason: string, message: string): void {
    // In the background (EventRecorder.emit): a reconcile never waits on its Events.
    this.#events.emit({ ...b, apiVersion: API_VERSION }, type, reason, message);
  }

  /** Remembers an object as a write of this controller answered it (read-your-writes, #own); returns it. */
  #wrote(b: CheckpointBackup): CheckpointBackup {
    this.#own.wrote(key(b), b, this.#o.caches.backups.get(key(b)) ?? null);
    return b;
  }

  async #writeStatus(
    b: CheckpointBackup,
    next: (s: CheckpointBackupStatus) => CheckpointBackupStatus,
  ): Promise<CheckpointBackup> {
    const updated = await writeStatus<CheckpointBackup, CheckpointBackupStatus>(
      this.#o.client,
      objectPath(b.metadata.namespace, b.metadata.name),
      (cur) => {
        if (cur.metadata.uid !== b.metadata.uid || cur.metadata.deletionTimestamp) return undefined;
        const want = next({ ...(cur.status ?? {}) });
        if (isDeepStrictEqual(want, cur.status ?? {})) return undefined;
        this.#o.metrics.writes.inc({ what: 'status' });
        return want;
      },
      { current: b, onConflict: () => this.#o.metrics.statusConflicts.inc() },
    );
    // Written (or read again after a 409), and of the same object: remembered; the copy at hand is the cache's.
    return updated !== b && updated.metadata.uid === b.metadata.uid ? this.#wrote(updated) : updated;
  }
}

/** Whether a binding's resource is the workload a backup's resourceRef names. */
function sameWorkload(b: CheckpointBackup, r: { kind: string; name: string; namespace?: string }): boolean {
  const ref = b.spec.resourceRef;
  return (
    ref.kind === r.kind && ref.name === r.name && (ref.namespace || b.metadata.namespace) === r.namespace
  );
}
