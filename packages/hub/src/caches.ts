import { API_GROUP, PLURAL, type CheckpointBackup } from '@stateful-migration/api';
import {
  Informer,
  restListWatch,
  statusCode,
  type ListWatch,
  type Logger,
  type RestClient,
} from '@stateful-migration/kube';
import type { MemberReport } from './backups/aggregate.js';
import {
  BINDINGS_PATH,
  fresherReport,
  slimWork,
  workReport,
  WORKS_PATH,
  type Work,
  CLUSTER_POLICIES_PATH,
  CLUSTERS_PATH,
  POLICIES_PATH,
  resourceKey,
  type Cluster,
  type ResourceBinding,
} from './karmada.js';
import { MANAGED_BY, type PropagationPolicy } from './policies.js';

/** A Work's report of a CheckpointBackup in one cluster, with the binding Karmada made the Work from. */
interface FromWork {
  binding: { namespace: string; name: string };
  report: MemberReport;
}

const BACKUPS_PATH = `/apis/${API_GROUP}/v1/${PLURAL}`;
const RBAC = '/apis/rbac.authorization.k8s.io/v1';

/** A Role or RoleBinding as the caches keep it: what the hub compares before it writes its own. */
export interface RbacObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
  rules?: unknown[];
  roleRef?: { apiGroup: string; kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

/**
 * The hub's view of the Karmada apiserver, shared by its controllers: one informer per kind they read, and the
 * ResourceBindings indexed by the object they carry. Each controller adds its own handlers (which only map an event
 * to its keys); the caches fill on every replica, so a standby can take over at once.
 */
export class HubCaches {
  readonly backups: Informer<CheckpointBackup>;
  readonly clusters: Informer<Cluster>;
  readonly bindings: Informer<ResourceBinding>;
  readonly policies: Informer<PropagationPolicy>;
  readonly clusterPolicies: Informer<PropagationPolicy>;
  /**
   * The hub's own reader Roles and RoleBindings (label app.kubernetes.io/managed-by=stateful-migration-hub), so a
   * reconcile of an object with a registry secret or keys object does not read them from the apiserver each time. A
   * name missing here is read (it may be absent, or someone else's); one that loses the label leaves the cache, as
   * the apiserver tells a label-selected watch.
   */
  readonly readerRoles: Informer<RbacObject>;
  readonly readerBindings: Informer<RbacObject>;
  /**
   * The Works in the members' execution namespaces, without their manifests (slimWork): a member's report of a
   * CheckpointBackup reaches the Work first and the binding's aggregatedStatus only after Karmada's binding-status
   * controller has copied it there, one more write on the same apiserver. Reading it from the Work puts the hub's
   * status write beside that copy instead of after it (ADR 0023). Optional: a hub whose RBAC may not list Works reads
   * the bindings alone.
   */
  readonly works: Informer<Work>;
  /** Bindings by the object they carry, kept in step with the informer (its handler runs before the others). */
  readonly #byResource = new Map<string, ResourceBinding>();
  /** Each CheckpointBackup's reports from its Works, by Work (`<ns>/<name>` -> Work's `<ns>/<name>` -> report). */
  readonly #fromWorks = new Map<string, Map<string, FromWork>>();
  /** Which CheckpointBackup each Work reported for, so its deletion takes the report away. */
  readonly #workOf = new Map<string, string>();

  constructor(client: RestClient, log: Logger) {
    const informer = <T extends { metadata: { name: string } }>(path: string, what: string) =>
      new Informer<T & { metadata: { name: string; namespace?: string; resourceVersion?: string } }>(
        restListWatch(client, path),
        { onError: (err) => log.warn({ err: String(err) }, `${what} watch failed; retrying`) },
      );
    this.backups = informer<CheckpointBackup>(BACKUPS_PATH, 'CheckpointBackup') as Informer<CheckpointBackup>;
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
    const hubOwned = {
      labelSelector: `app.kubernetes.io/managed-by=${MANAGED_BY['app.kubernetes.io/managed-by']}`,
    };
    // Optional: a hub whose RBAC has no list and watch of Roles (an install whose Karmada release is older than its
    // host release) reads each Role instead, as hubs before this cache did, and says once what to upgrade.
    const forbidden = new Set<string>();
    const readerInformer = (kind: 'roles' | 'rolebindings') =>
      new Informer<RbacObject>(restListWatch(client, `${RBAC}/${kind}`, hubOwned), {
        onError: (err) => {
          if (statusCode(err) !== 403)
            return log.warn({ err: String(err) }, `${kind} watch failed; retrying`);
          if (forbidden.has(kind)) return;
          forbidden.add(kind);
          log.warn(
            { err: String(err) },
            `the hub may not list and watch ${kind} (its RBAC is older than this hub: upgrade the chart's ` +
              `installMode=karmada release, or apply deploy/hub/rbac.yaml); until then it reads each of its ${kind} ` +
              'by name',
          );
        },
      });
    this.readerRoles = readerInformer('roles');
    this.readerBindings = readerInformer('rolebindings');
    this.works = new Informer<Work>(slimWorks(restListWatch<Work>(client, WORKS_PATH)), {
      onError: (err) => {
        if (statusCode(err) !== 403) return log.warn({ err: String(err) }, 'Work watch failed; retrying');
        // What the Works said before stays: it may fall behind, and a binding that has got further wins
        // (fresherReport), so it is never worse than the bindings alone.
        if (forbidden.has('works')) return;
        forbidden.add('works');
        log.warn(
          { err: String(err) },
          'the hub may not list and watch Works (its RBAC is older than this hub, or leaves them out); it reads ' +
            "members' reports from the ResourceBindings, one write later than from the Works",
        );
      },
    });
    this.works.on((e, w) => {
      const key = `${w.metadata.namespace}/${w.metadata.name}`;
      const was = this.#workOf.get(key);
      if (was) this.#forget(was, key);
      const r = e === 'delete' ? undefined : workReport(w, API_GROUP);
      if (!r) return;
      const backup = `${r.backup.namespace}/${r.backup.name}`;
      this.#workOf.set(key, backup);
      const byWork = this.#fromWorks.get(backup) ?? new Map<string, FromWork>();
      byWork.set(key, { binding: r.binding, report: r.report });
      this.#fromWorks.set(backup, byWork);
    });
    this.bindings.on((e, rb) => {
      const r = rb.spec.resource;
      if (e === 'delete') this.#byResource.delete(resourceKey(r));
      else this.#byResource.set(resourceKey(r), rb);
    });
  }

  /** The ResourceBinding that carries an object (a workload, a CheckpointBackup, a Secret), if cached. */
  bindingOf(r: { kind: string; name: string; namespace?: string }): ResourceBinding | undefined {
    return this.#byResource.get(resourceKey(r));
  }

  /**
   * The members' reports of a CheckpointBackup: its binding's aggregatedStatus, each cluster's entry replaced by what
   * that cluster's Work says where the Work has got further (fresherReport; on a tie, the binding's). Only a Work
   * Karmada made from this object's binding, for a cluster the binding lists, counts.
   */
  reportsOf(backup: { namespace: string; name: string }): MemberReport[] {
    const rb = this.bindingOf({ kind: 'CheckpointBackup', ...backup });
    const fromBinding = rb?.status?.aggregatedStatus ?? [];
    const fromWorks = this.#fromWorks.get(`${backup.namespace}/${backup.name}`);
    if (!rb || !fromWorks) return fromBinding;
    const listed = new Set([
      ...(rb.spec.clusters ?? []).map((c) => c.name),
      ...fromBinding.map((r) => r.clusterName),
    ]);
    const merged = new Map(fromBinding.map((r) => [r.clusterName, r as MemberReport]));
    for (const w of fromWorks.values()) {
      const cluster = w.report.clusterName;
      const ours = w.binding.namespace === rb.metadata.namespace && w.binding.name === rb.metadata.name;
      if (ours && listed.has(cluster)) merged.set(cluster, fresherReport(merged.get(cluster), w.report));
    }
    return [...merged.values()];
  }

  /** How many CheckpointBackups have a report from a Work (for tests: entries go with their Works). */
  worksReporting(): number {
    return this.#fromWorks.size;
  }

  /** Takes a Work's report away, and the object's entry with its last one. */
  #forget(backup: string, work: string): void {
    this.#workOf.delete(work);
    const byWork = this.#fromWorks.get(backup);
    byWork?.delete(work);
    if (byWork && !byWork.size) this.#fromWorks.delete(backup);
  }

  /** Every cached PropagationPolicy and ClusterPropagationPolicy, each with its kind set. */
  allPolicies(): PropagationPolicy[] {
    return [
      ...this.policies.list().map((p) => ({ ...p, kind: 'PropagationPolicy' as const })),
      ...this.clusterPolicies.list().map((p) => ({ ...p, kind: 'ClusterPropagationPolicy' as const })),
    ];
  }

  /**
   * Fills the caches; resolves once each the controllers need has listed. The reader Roles and RoleBindings start
   * too, and are used once they have listed (readerRole, readerBinding): until then, or for good when the hub may
   * not list them, each is read by name, so neither holds readiness back.
   */
  async start(): Promise<void> {
    for (const i of this.#optional()) void i.start().catch(() => undefined);
    await Promise.all(this.#all().map((i) => i.start()));
  }

  /** The hub's own reader Role of this name once the cache of them has listed; undefined: read it. */
  readerRole(namespace: string, name: string): RbacObject | undefined {
    return this.readerRoles.hasSynced() ? this.readerRoles.get(`${namespace}/${name}`) : undefined;
  }

  /** The hub's own reader RoleBinding of this name once the cache of them has listed; undefined: read it. */
  readerBinding(namespace: string, name: string): RbacObject | undefined {
    return this.readerBindings.hasSynced() ? this.readerBindings.get(`${namespace}/${name}`) : undefined;
  }

  stop(): void {
    for (const i of [...this.#all(), ...this.#optional()]) i.stop();
  }

  ready(): boolean {
    return this.#all().every((i) => i.hasSynced());
  }

  /** Milliseconds since the least recently heard of the informers that matter for health last heard anything. */
  sinceContactMs(): number {
    return Math.max(...[this.backups, this.clusters, this.bindings].map((i) => i.sinceContactMs()));
  }

  #all() {
    return [this.clusters, this.bindings, this.policies, this.clusterPolicies, this.backups] as const;
  }

  #optional() {
    return [this.readerRoles, this.readerBindings, this.works] as const;
  }
}

/**
 * Works as the hub caches them (slimWork) from a list-watch of full ones. Only objects are slimmed: a watch's ERROR
 * (a Status, whose code 410 tells the informer to list again) and BOOKMARK events pass as they came.
 */
export function slimWorks(source: ListWatch<Work>): ListWatch<Work> {
  return {
    list: async (cont) => {
      const l = await source.list(cont);
      return { ...l, items: l.items.map(slimWork) };
    },
    watch: (rv, timeout, onEvent, signal) =>
      source.watch(
        rv,
        timeout,
        (e) =>
          onEvent(e.type === 'ERROR' || e.type === 'BOOKMARK' ? e : { ...e, object: slimWork(e.object) }),
        signal,
      ),
  };
}
