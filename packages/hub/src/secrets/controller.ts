import {
  API_GROUP,
  DEFAULT_REGISTRY_SECRET,
  PLURAL,
  registrySecret,
  type CheckpointBackup,
  type ObjectRef,
  type Refusal,
} from '@stateful-migration/api';
import {
  deleteIfExists,
  describeError,
  getOrUndefined,
  isAlreadyExists,
  WorkQueue,
  type Logger,
  type RestClient,
  type Result,
} from '@stateful-migration/kube';
import type { HubCaches } from '../caches.js';
import type { HubMetrics } from '../metrics.js';
import { isHubOwned, type PropagationPolicy } from '../policies.js';
import type { PolicyWriter } from '../policy-writer.js';
import { clustersNeeding, secretOf, stillNeeded, withFresh } from './needs.js';
import {
  bindingChange,
  readerTaken,
  roleChange,
  secretPolicy,
  secretPolicyName,
  secretReaderBinding,
  secretReaderName,
  secretReaderRole,
  type ReaderBinding,
} from './reader.js';

export interface SecretControllerOptions {
  client: RestClient;
  caches: HubCaches;
  policies: PolicyWriter;
  log: Logger;
  metrics: HubMetrics;
  /** Keys reconciled at once. @default 8 */
  workers?: number;
  /** The registry hosts the platform's default secret is for (--default-secret-registries). @default [] */
  defaultSecretRegistries?: string[];
  /** Asks the backups controller to look at an object again: one whose secret the hub stopped carrying. */
  requeueBackup?: (b: CheckpointBackup) => void;
}

type Secret = Required<ObjectRef>;

/** The reader Role or RoleBinding of a registry secret (or their collection), on the Karmada apiserver. */
const rbacPath = (ns: string, kind: 'roles' | 'rolebindings', secret?: string) =>
  `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/${kind}${secret ? `/${secretReaderName(secret)}` : ''}`;

/**
 * Carries each registry secret to exactly the clusters whose CheckpointBackups need it (the union of their
 * status.placement), with a Role that may get that one secret and its RoleBinding to the agents; takes all three
 * back when nothing needs them. Keys are `<ns>/<secret>`. The backups controller also brings an object's secret
 * along inline (syncFor), before the object's own policy, so a member has the credentials before the object.
 */
export class SecretController {
  readonly queue: WorkQueue<string>;
  readonly #o: Required<SecretControllerOptions>;

  constructor(o: SecretControllerOptions) {
    this.#o = { workers: 8, defaultSecretRegistries: [], requeueBackup: () => undefined, ...o };
    const { caches, log } = o;
    this.queue = new WorkQueue<string>({
      workers: this.#o.workers,
      onError: (key, err, retry) =>
        log.warn({ key, err: describeError(err), retryInMs: retry }, 'reconcile failed'),
    });
    // The secret an object names, before and after a change: one it no longer names may no longer be needed.
    caches.backups.on((_e, b, old) => {
      for (const x of [b, old]) if (x) this.recheck(x);
    });
    caches.bindings.on((_e, rb) => {
      const r = rb.spec.resource;
      if (r.kind === 'Secret') this.queue.add(`${r.namespace ?? ''}/${r.name}`);
    });
    const onPolicy = (p: PropagationPolicy) => {
      const secret = p.spec.resourceSelectors.find((x) => x.kind === 'Secret');
      if (isHubOwned(p) && secret?.name) this.queue.add(`${p.metadata.namespace ?? ''}/${secret.name}`);
    };
    caches.policies.on((_e, p) => onPolicy(p));
    caches.clusterPolicies.on((_e, p) => onPolicy(p));
  }

  /** Starts acting: only the leader calls this. */
  start(): void {
    this.queue.start((k) => this.reconcile(k));
  }

  stop(): void {
    this.queue.stop();
  }

  /** Looks again at the registry secret an object names (it may no longer be needed). */
  recheck(b: CheckpointBackup): void {
    const s = registrySecret(b);
    if (s) this.queue.add(`${s.namespace!}/${s.name}`);
  }

  /**
   * Brings an object's registry secret to where its status.placement says, now: the backups controller calls this
   * with its fresh copy (the cache may lag its own status write) before it writes the object's own policy.
   */
  async syncFor(b: CheckpointBackup): Promise<void> {
    const s = secretOf(b, this.#o.defaultSecretRegistries);
    if (s) await this.#sync(s, b);
  }

  /**
   * Why the object's registry secret may not be carried, if it may not: its reader Role or RoleBinding's name is
   * taken by an object that is not the hub's (readerTaken). The backups controller asks before it places the object.
   */
  async refusal(b: CheckpointBackup): Promise<Refusal | undefined> {
    const s = secretOf(b, this.#o.defaultSecretRegistries);
    return s && this.#readerTaken(s);
  }

  async reconcile(key: string): Promise<Result> {
    const [namespace, name] = key.split('/') as [string, string];
    try {
      const r = await this.#sync({ namespace, name });
      this.#o.metrics.reconciles.inc({ kind: 'secret', result: 'ok' });
      return r;
    } catch (err) {
      this.#o.metrics.reconciles.inc({ kind: 'secret', result: 'error' });
      throw err;
    }
  }

  /** A registry secret goes to the union of the clusters recorded in status.placement of the backups using it. */
  async #sync(secret: Secret, fresh?: CheckpointBackup): Promise<Result> {
    const backups = withFresh(this.#o.caches.backups.list(), fresh);
    const clusters = clustersNeeding(secret, backups, this.#o.defaultSecretRegistries);
    // A reader Role or RoleBinding name taken by someone else's object: nothing is carried; the backups using the
    // secret are refused (their reconcile says why), which leaves none that needs it. A backup's reconcile (`fresh`)
    // has just checked.
    const taken = !fresh && clusters.length > 0 && (await this.#readerTaken(secret));
    if (taken) {
      for (const b of backups) {
        const s = secretOf(b, this.#o.defaultSecretRegistries);
        if (s?.namespace === secret.namespace && s.name === secret.name) this.#o.requeueBackup(b);
      }
      await this.#stopCarrying(secret);
      return undefined;
    }
    if (!clusters.length) return this.#withdraw(secret);
    await this.#ensureReader(secret);
    await this.#o.policies.ensure(secretPolicy(secret, clusters));
    return undefined;
  }

  /** Takes the secret, its Role and RoleBinding back from every member, once a fresh read agrees nothing needs it. */
  async #withdraw(secret: Secret): Promise<Result> {
    // A secret's users are in its namespace, but the platform's default secret's are in every tenant namespace.
    const platform =
      secret.namespace === DEFAULT_REGISTRY_SECRET.namespace && secret.name === DEFAULT_REGISTRY_SECRET.name;
    const live = await this.#o.client.get<{ items: CheckpointBackup[] }>(
      `/apis/${API_GROUP}/v1/${platform ? '' : `namespaces/${secret.namespace}/`}${PLURAL}`,
    );
    if (stillNeeded(secret, live.items, this.#o.defaultSecretRegistries)) return { requeueAfterMs: 1000 };
    await this.#stopCarrying(secret);
    return undefined;
  }

  /** Takes a registry secret, and its reader Role and RoleBinding, back from every member. */
  async #stopCarrying({ name, namespace: ns }: Secret): Promise<void> {
    await this.#o.policies.delete(ns, secretPolicyName(name));
    // The Role and RoleBinding too: one that is not the hub's stays on Karmada, so its binding is taken back here.
    for (const kind of ['Secret', 'Role', 'RoleBinding'])
      await this.#o.policies.withdraw(
        { kind, name: kind === 'Secret' ? name : secretReaderName(name), namespace: ns },
        secretPolicyName(name),
      );
    // Deleting the hub's Role and RoleBinding deletes their bindings too (Karmada owns them by the template), which
    // takes them out of the members.
    for (const path of [rbacPath(ns, 'roles', name), rbacPath(ns, 'rolebindings', name)])
      await this.#deleteOwn(path);
  }

  /** The first of the reader Role and RoleBinding whose name an object that is not the hub's has taken (readerTaken). */
  async #readerTaken(secret: Secret): Promise<Refusal | undefined> {
    for (const [kind, what] of [
      ['roles', 'Role'],
      ['rolebindings', 'RoleBinding'],
    ] as const) {
      const stored = await getOrUndefined<{ metadata: { labels?: Record<string, string> } }>(
        this.#o.client,
        rbacPath(secret.namespace, kind, secret.name),
      );
      const refused = readerTaken(what, stored, secret);
      if (refused) return refused;
    }
    return undefined;
  }

  /**
   * The Role that may get this one secret, and its RoleBinding to the agents (issue 11: never every secret of the
   * namespace). A RoleBinding an older hub made to the ClusterRole over every secret is replaced: roleRef is
   * immutable. Only objects labelled as the hub's are changed.
   */
  async #ensureReader(secret: Secret): Promise<void> {
    const { namespace: ns, name } = secret;
    const role = secretReaderRole(secret);
    const storedRole = await getOrUndefined<typeof role>(this.#o.client, rbacPath(ns, 'roles', name));
    const rc = roleChange(storedRole, role);
    if (rc === 'create') await this.#create(rbacPath(ns, 'roles'), role, 'role');
    else if (rc === 'update') {
      await this.#o.client.request('PUT', rbacPath(ns, 'roles', name), {
        body: { ...storedRole, rules: role.rules },
      });
      this.#o.metrics.writes.inc({ what: 'role' });
    }
    const binding = secretReaderBinding(secret);
    const stored = await getOrUndefined<ReaderBinding>(this.#o.client, rbacPath(ns, 'rolebindings', name));
    const bc = bindingChange(stored, binding);
    if (bc === 'replace') await this.#deleteOwn(rbacPath(ns, 'rolebindings', name));
    if (bc !== 'keep') await this.#create(rbacPath(ns, 'rolebindings'), binding, 'rolebinding');
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
}
