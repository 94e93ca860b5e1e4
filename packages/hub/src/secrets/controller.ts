import {
  API_GROUP,
  DEFAULT_REGISTRY_SECRET,
  PLURAL,
  registrySecret,
  type CheckpointBackup,
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
import type { HubCaches, RbacObject } from '../caches.js';
import type { HubMetrics } from '../metrics.js';
import { claimedBy, policyPath } from '../karmada.js';
import { isHubOwned, type PropagationPolicy } from '../policies.js';
import type { PolicyWriter } from '../policy-writer.js';
import {
  carriedBy,
  carriedKey,
  clustersNeeding,
  isKeysObject,
  keysOf,
  mayHoldAny,
  parseCarriedKey,
  sameCarried,
  stillNeeded,
  withFresh,
  type Carried,
  type Held,
} from './needs.js';
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

/** The uses an object may be carried for: a Secret as a registry secret and as a keys object; a ConfigMap as keys. */
const usesOf = (o: { kind: 'Secret' | 'ConfigMap'; name: string; namespace: string }): Carried[] => [
  ...(o.kind === 'Secret' ? [{ namespace: o.namespace, name: o.name }] : []),
  { ...o, purpose: 'keys' as const },
];

/** The reader Role or RoleBinding of a carried object (or their collection), on the Karmada apiserver. */
const rbacPath = (ns: string, kind: 'roles' | 'rolebindings', carried?: Carried) =>
  `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/${kind}${carried ? `/${secretReaderName(carried)}` : ''}`;

/**
 * Carries each registry secret, and each public keys object of spec.encryption (issue 14), to exactly the clusters
 * whose CheckpointBackups need it (the union of their status.placement), with a Role that may get that one object
 * and its RoleBinding to the agents; takes all three back when nothing needs them. Keys are `<ns>/<secret>` and
 * `keys:<Kind>:<ns>/<name>` (carriedKey). The backups controller also brings an object's secret and keys along
 * inline (syncFor), before the object's own policy, so a member has them before the object.
 */
export class SecretController {
  readonly queue: WorkQueue<string>;
  readonly #o: Required<SecretControllerOptions>;
  /**
   * `<ns>/<reader name>` to the keys of the carried objects whose reader Role and RoleBinding bear that name, from
   * every object seen: a reader's event (its own, or its binding's) finds its keys without a scan of every backup.
   * Entries are never removed: one left by an object that names the secret no more only queues a key that finds
   * nothing to do.
   */
  readonly #readers = new Map<string, Set<string>>();
  /**
   * The hub's reader Roles and RoleBindings it deleted itself, until the cache sees them go: a backup that needs the
   * secret again in between must not take the cached copy for one that exists.
   */
  readonly #deleted = new Set<string>();

  constructor(o: SecretControllerOptions) {
    this.#o = { workers: 8, defaultSecretRegistries: [], requeueBackup: () => undefined, ...o };
    const { caches, log } = o;
    this.queue = new WorkQueue<string>({
      workers: this.#o.workers,
      onError: (key, err, retry) =>
        log.warn({ key, err: describeError(err), retryInMs: retry }, 'reconcile failed'),
      onStart: (_k, waited, priority) =>
        this.#o.metrics.queueWait.observe({ queue: 'secrets', priority: String(priority) }, waited / 1000),
    });
    // The secret an object names, before and after a change: one it no longer names may no longer be needed.
    caches.backups.on((_e, b, old) => {
      for (const x of [b, old]) if (x) this.recheck(x);
      for (const c of carriedBy(b, this.#o.defaultSecretRegistries)) {
        const at = `${c.namespace}/${secretReaderName(c)}`;
        const keys = this.#readers.get(at) ?? new Set<string>();
        keys.add(carriedKey(c));
        this.#readers.set(at, keys);
      }
    });
    // A binding of a Secret is a registry secret's, unless the keys policy claims it (public-keys-secret-<name>);
    // a ConfigMap's is a keys object's. One that nothing uses ends with nothing to do.
    caches.bindings.on((_e, rb) => {
      const r = rb.spec.resource;
      // A binding of a Role or RoleBinding named as a reader: Karmada carries one of that name, which may be a
      // tenant's that took the name after the hub last looked (the label-selected cache cannot see it).
      if (r.kind === 'Role' || r.kind === 'RoleBinding')
        return this.#readerChanged(r.namespace ?? '', r.name);
      if (r.kind !== 'Secret' && r.kind !== 'ConfigMap') return;
      const at = { namespace: r.namespace ?? '', name: r.name };
      const keys: Carried = { ...at, kind: r.kind, purpose: 'keys' };
      const claim = rb.metadata.annotations?.['propagationpolicy.karmada.io/name'];
      this.queue.add(carriedKey(r.kind === 'ConfigMap' || claim === secretPolicyName(keys) ? keys : at));
    });
    const onPolicy = (p: PropagationPolicy, deleted: boolean) => {
      const object = p.spec.resourceSelectors.find((x) => x.kind === 'Secret' || x.kind === 'ConfigMap');
      if (!isHubOwned(p) || !object?.name) return;
      const at = { namespace: p.metadata.namespace ?? '', name: object.name };
      const keys: Carried = { ...at, kind: object.kind as 'Secret' | 'ConfigMap', purpose: 'keys' };
      // A deleted policy: every use of its object, since one that ended earlier left the binding to it
      // (#stopCarrying). Otherwise the policy's name tells which: public-keys-<kind>-<name> or registry-secret-<name>.
      if (deleted) for (const u of usesOf({ ...at, kind: keys.kind! })) this.queue.add(carriedKey(u));
      else this.queue.add(carriedKey(p.metadata.name === secretPolicyName(keys) ? keys : at));
    };
    // The hub's reader Role or RoleBinding changed, was deleted, or lost its label (a tenant may do any of it in
    // their namespace): the objects it reads for are looked at again.
    const onReader = (kind: 'roles' | 'rolebindings', e: string, r: RbacObject) => {
      const ns = r.metadata.namespace ?? '';
      // Seen gone, or made again: the cache is past the hub's own delete.
      if (e !== 'update') this.#deleted.delete(`${kind}:${ns}/${r.metadata.name}`);
      this.#readerChanged(ns, r.metadata.name);
    };
    caches.readerRoles.on((e, r) => onReader('roles', e, r));
    caches.readerBindings.on((e, r) => onReader('rolebindings', e, r));
    caches.policies.on((e, p) => onPolicy(p, e === 'delete'));
    caches.clusterPolicies.on((e, p) => onPolicy(p, e === 'delete'));
  }

  #readerChanged(namespace: string, name: string): void {
    for (const k of this.#readers.get(`${namespace}/${name}`) ?? []) this.queue.add(k);
  }

  /** Starts acting: only the leader calls this. */
  start(): void {
    this.queue.start((k) => this.reconcile(k));
  }

  stop(): void {
    this.queue.stop();
  }

  /** Looks again at the registry secret and keys object an object names (they may no longer be needed). */
  recheck(b: CheckpointBackup): void {
    const s = registrySecret(b);
    if (s) this.queue.add(carriedKey({ namespace: s.namespace!, name: s.name }));
    const k = keysOf(b);
    if (k) this.queue.add(carriedKey(k));
  }

  /**
   * Brings an object's registry secret to where its status.placement says, now: the backups controller calls this
   * with its fresh copy (the cache may lag its own status write) before it writes the object's own policy.
   */
  async syncFor(b: CheckpointBackup): Promise<void> {
    for (const c of carriedBy(b, this.#o.defaultSecretRegistries)) await this.#sync(c, b);
  }

  /**
   * Why the object's registry secret may not be carried, if it may not: its reader Role or RoleBinding's name is
   * taken by an object that is not the hub's (readerTaken). The backups controller asks before it places the object.
   */
  async refusal(b: CheckpointBackup): Promise<Refusal | undefined> {
    for (const c of carriedBy(b, this.#o.defaultSecretRegistries)) {
      const taken = await this.#readerTaken(c);
      if (taken) return taken;
    }
    return undefined;
  }

  async reconcile(key: string): Promise<Result> {
    try {
      const r = await this.#sync(parseCarriedKey(key));
      this.#o.metrics.reconciles.inc({ kind: 'secret', result: 'ok' });
      return r;
    } catch (err) {
      this.#o.metrics.reconciles.inc({ kind: 'secret', result: 'error' });
      throw err;
    }
  }

  /** An object goes to the union of the clusters recorded in status.placement of the backups using it. */
  async #sync(secret: Carried, fresh?: CheckpointBackup): Promise<Result> {
    const backups = withFresh(this.#o.caches.backups.list(), fresh);
    const clusters = clustersNeeding(secret, backups, this.#o.defaultSecretRegistries);
    // A reader Role or RoleBinding name taken by someone else's object: nothing is carried; the backups using the
    // secret are refused (their reconcile says why), which leaves none that needs it. A backup's reconcile (`fresh`)
    // has just checked.
    const taken = !fresh && clusters.length > 0 && (await this.#readerTaken(secret));
    if (taken) {
      for (const b of backups)
        if (carriedBy(b, this.#o.defaultSecretRegistries).some((c) => sameCarried(c, secret)))
          this.#o.requeueBackup(b);
      await this.#stopCarrying(secret);
      return undefined;
    }
    if (!clusters.length) return this.#withdraw(secret);
    // A name a tenant took between the check above and the hub's create: carried nowhere, as if it had been seen.
    // A backup's reconcile (`fresh`) stops here, before its own policy, and is retried: its refusal says why.
    const lost = await this.#ensureReader(secret);
    if (lost) {
      if (fresh) throw new Error(`${lost.message} (taken while the hub carried it); retrying`);
      for (const b of backups)
        if (carriedBy(b, this.#o.defaultSecretRegistries).some((c) => sameCarried(c, secret)))
          this.#o.requeueBackup(b);
      await this.#stopCarrying(secret);
      return undefined;
    }
    await this.#o.policies.ensure(secretPolicy(secret, clusters));
    return undefined;
  }

  /**
   * Takes the secret, its Role and RoleBinding back from every member, once a fresh read agrees nothing needs it; at
   * once, with no request, when the caches show nothing of the hub's for it (mayHoldAny).
   */
  async #withdraw(secret: Carried): Promise<Result> {
    // Nothing of the hub's in the caches: nothing to take back, and no request (most objects here were never the
    // hub's: every binding event of every Secret and ConfigMap comes here). What the hub made that the caches have not
    // seen yet is queued again by its own event when it arrives (constructor): a policy of the hub's always, its
    // binding always, a reader Role or RoleBinding through #readers (the keys of the backups seen naming it).
    if (!mayHoldAny(this.#held(secret))) return undefined;
    // A secret's users are in its namespace, but the platform's default secret's are in every tenant namespace.
    const platform =
      !isKeysObject(secret) &&
      secret.namespace === DEFAULT_REGISTRY_SECRET.namespace &&
      secret.name === DEFAULT_REGISTRY_SECRET.name;
    const live = await this.#o.client.get<{ items: CheckpointBackup[] }>(
      `/apis/${API_GROUP}/v1/${platform ? '' : `namespaces/${secret.namespace}/`}${PLURAL}`,
    );
    if (stillNeeded(secret, live.items, this.#o.defaultSecretRegistries)) return { requeueAfterMs: 1000 };
    await this.#stopCarrying(secret);
    return undefined;
  }

  /**
   * What the caches show of the hub's things for an object: its policies, the bindings they claim, its reader RBAC.
   * A binding no policy claims is not counted: a tenant's whose own policy was deleted is one (Karmada keeps it,
   * unclaimed), and the hub's own, unclaimed once #stopCarrying deleted the policy, still has the reader Role and
   * RoleBinding beside it, deleted last. The reader RBAC is read from the caches as they are, not as #cached shows it:
   * one the hub is deleting may still be there (its DELETE may have failed), so it counts.
   */
  #held(secret: Carried): Held {
    const { caches } = this.#o;
    const { namespace, name } = secret;
    const ours = new Set(usesOf({ kind: secret.kind ?? 'Secret', name, namespace }).map(secretPolicyName));
    const reader = secretReaderName(secret);
    const bindings = [
      caches.bindingOf({ kind: secret.kind ?? 'Secret', name, namespace }),
      caches.bindingOf({ kind: 'Role', name: reader, namespace }),
      caches.bindingOf({ kind: 'RoleBinding', name: reader, namespace }),
    ];
    const listed = caches.readerRoles.hasSynced() && caches.readerBindings.hasSynced();
    return {
      policy: [...ours].some((p) => {
        const cached = caches.policies.get(`${namespace}/${p}`);
        return !!cached && isHubOwned(cached);
      }),
      claimedBinding: bindings.some((rb) => !!rb && claimedBy(rb, (p) => ours.has(p), false)),
      reader: listed
        ? !!(caches.readerRole(namespace, reader) ?? caches.readerBinding(namespace, reader))
        : undefined,
    };
  }

  /**
   * Takes a carried object, and its reader Role and RoleBinding, back from every member. A Secret that is also
   * carried for its other use (registry secret and keys object: two policies, one binding) stays: deleting the binding
   * would take it out of the members until Karmada gave it to the other policy, and Karmada hands it over by itself
   * (it drops a deleted policy's claim and matches the Secret again) while the binding and its Works stay. The last
   * use to end takes it back; the deletion of either policy looks at both uses again (constructor), so the first to
   * end, having left the binding, sees the other's end too.
   */
  async #stopCarrying(c: Carried): Promise<void> {
    const { name, namespace: ns } = c;
    const kind = c.kind ?? 'Secret';
    const uses = usesOf({ kind, name, namespace: ns });
    // Read before anything is deleted: whether a binding no policy claims is the hub's to take (ADR 0024).
    const wasOurs = await this.#heldFresh(ns, uses);
    await this.#o.policies.delete(ns, secretPolicyName(c));
    const otherUse = uses.find((u) => !sameCarried(u, c));
    // Read fresh: the cache may not have a policy just made for the other use yet, or may still show one the hub
    // has just deleted as it was. One being deleted (Karmada's finalizer holds it) carries nothing any more: leaving
    // the binding to it would leave it to no one once Karmada drops its claim.
    const otherPolicy =
      otherUse &&
      (await getOrUndefined<PropagationPolicy>(this.#o.client, policyPath(ns, secretPolicyName(otherUse))));
    const stillCarried = !!otherPolicy && isHubOwned(otherPolicy) && !otherPolicy.metadata.deletionTimestamp;
    const ours = new Set(uses.map(secretPolicyName));
    if (!stillCarried)
      // Either of the hub's policies of this object may still hold Karmada's claim: neither carries it any more.
      await this.#o.policies.withdraw({ kind, name, namespace: ns }, (p) => ours.has(p), {
        unclaimedIsOurs: wasOurs,
      });
    // The Role and RoleBinding too: one that is not the hub's stays on Karmada, so its binding is taken back here.
    for (const k of ['Role', 'RoleBinding'])
      await this.#o.policies.withdraw(
        { kind: k, name: secretReaderName(c), namespace: ns },
        secretPolicyName(c),
        { unclaimedIsOurs: wasOurs },
      );
    // Deleting the hub's Role and RoleBinding deletes their bindings too (Karmada owns them by the template), which
    // takes them out of the members. Last: until then they show a retry that the object was the hub's.
    for (const path of [rbacPath(ns, 'roles', c), rbacPath(ns, 'rolebindings', c)])
      await this.#deleteOwn(path);
  }

  /**
   * Whether the hub holds the object for either use: a policy, reader Role or RoleBinding of its. From the caches
   * when they show one; otherwise read, since they may not have listed (a hub just started, or one that may not list
   * Roles). Karmada leaves a deleted policy's binding unclaimed, the hub's and a tenant's alike: this tells them apart.
   */
  async #heldFresh(ns: string, uses: Carried[]): Promise<boolean> {
    const { caches, client } = this.#o;
    for (const u of uses) {
      const policy = caches.policies.get(`${ns}/${secretPolicyName(u)}`);
      const reader = secretReaderName(u);
      if ((policy && isHubOwned(policy)) || caches.readerRole(ns, reader) || caches.readerBinding(ns, reader))
        return true;
    }
    for (const u of uses)
      for (const path of [
        policyPath(ns, secretPolicyName(u)),
        rbacPath(ns, 'roles', u),
        rbacPath(ns, 'rolebindings', u),
      ]) {
        const o = await getOrUndefined<{ metadata: { labels?: Record<string, string> } }>(client, path);
        if (o && isHubOwned(o)) return true;
      }
    return false;
  }

  /** The first of the reader Role and RoleBinding whose name an object that is not the hub's has taken (readerTaken). */
  async #readerTaken(secret: Carried): Promise<Refusal | undefined> {
    for (const [kind, what] of [
      ['roles', 'Role'],
      ['rolebindings', 'RoleBinding'],
    ] as const) {
      // The hub's own, cached, is not taken; any other name is read (absent, or someone else's).
      if (this.#cached(kind, secret)) continue;
      const refused = readerTaken(what, await this.#read(kind, secret), secret);
      if (refused) return refused;
    }
    return undefined;
  }

  /**
   * The hub's own reader Role or RoleBinding of a carried object, as cached (HubCaches.readerRole); undefined when
   * the cache has not listed, or the hub deleted it and the cache has not seen that yet.
   */
  #cached(kind: 'roles' | 'rolebindings', secret: Carried): RbacObject | undefined {
    const name = secretReaderName(secret);
    if (this.#deleted.has(`${kind}:${secret.namespace}/${name}`)) return undefined;
    const c = this.#o.caches;
    return kind === 'roles' ? c.readerRole(secret.namespace, name) : c.readerBinding(secret.namespace, name);
  }

  #read<T>(kind: 'roles' | 'rolebindings', secret: Carried): Promise<T | undefined> {
    return getOrUndefined<T>(this.#o.client, rbacPath(secret.namespace, kind, secret));
  }

  /**
   * The Role that may get this one secret, and its RoleBinding to the agents (issue 11: never every secret of the
   * namespace). A RoleBinding an older hub made to the ClusterRole over every secret is replaced: roleRef is
   * immutable. Only objects labelled as the hub's are changed. The cached copies answer when nothing is to be done
   * (every reconcile of an object with a secret comes here); anything to write is decided again from a fresh read.
   */
  async #ensureReader(secret: Carried): Promise<Refusal | undefined> {
    const { namespace: ns } = secret;
    const role = secretReaderRole(secret);
    type StoredRole = typeof role;
    const cachedRole = this.#cached('roles', secret) as StoredRole | undefined;
    if (!cachedRole || roleChange(cachedRole, role) !== 'keep') {
      let storedRole = await this.#read<StoredRole>('roles', secret);
      // Taken since the backup's reconcile checked (a tenant's, made in between): nothing is carried.
      const taken = readerTaken('Role', storedRole, secret);
      if (taken) return taken;
      const rc = roleChange(storedRole, role);
      if (rc === 'create') storedRole = await this.#create('roles', secret, role, 'role');
      else if (rc === 'update') {
        await this.#o.client.request('PUT', rbacPath(ns, 'roles', secret), {
          body: { ...storedRole, rules: role.rules },
        });
        this.#o.metrics.writes.inc({ what: 'role' });
      }
      const lost = readerTaken('Role', storedRole, secret);
      if (lost) return lost;
    }
    const binding = secretReaderBinding(secret);
    const cachedBinding = this.#cached('rolebindings', secret) as ReaderBinding | undefined;
    if (cachedBinding && bindingChange(cachedBinding, binding) === 'keep') return undefined;
    let stored = await this.#read<ReaderBinding>('rolebindings', secret);
    const taken = readerTaken('RoleBinding', stored, secret);
    if (taken) return taken;
    const bc = bindingChange(stored, binding);
    if (bc === 'replace') await this.#deleteOwn(rbacPath(ns, 'rolebindings', secret));
    if (bc !== 'keep') stored = await this.#create('rolebindings', secret, binding, 'rolebinding');
    return readerTaken('RoleBinding', stored, secret);
  }

  /**
   * Creates the hub's reader Role or RoleBinding and returns it as stored. One that exists already (made meanwhile:
   * by another reconcile, or by a tenant racing the hub for the name) is read, so the caller sees whose it is.
   */
  async #create<T>(
    kind: 'roles' | 'rolebindings',
    secret: Carried,
    body: T,
    what: string,
  ): Promise<T | undefined> {
    try {
      const made = await this.#o.client.request<T>('POST', rbacPath(secret.namespace, kind), { body });
      this.#o.metrics.writes.inc({ what });
      return made;
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
      return this.#read<T>(kind, secret);
    }
  }

  /**
   * Deletes an object if it exists and carries the hub's label. A reader Role or RoleBinding deleted here is not
   * taken from the cache again until the cache has seen it go (#cached).
   */
  async #deleteOwn(path: string): Promise<void> {
    const cur = await getOrUndefined<{ metadata: { labels?: Record<string, string> } }>(this.#o.client, path);
    if (!cur || !isHubOwned(cur)) return;
    const reader = /\/namespaces\/([^/]+)\/(roles|rolebindings)\/([^/]+)$/.exec(path);
    if (reader) this.#deleted.add(`${reader[2]}:${reader[1]}/${reader[3]}`);
    await deleteIfExists(this.#o.client, path);
  }
}
