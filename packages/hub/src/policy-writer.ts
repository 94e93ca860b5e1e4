import {
  deleteIfExists,
  getOrUndefined,
  isAlreadyExists,
  type Logger,
  type RestClient,
} from '@stateful-migration/kube';
import type { HubCaches } from './caches.js';
import { claimedBy, policyPath, type ResourceBinding } from './karmada.js';
import type { HubMetrics } from './metrics.js';
import {
  isHubOwned,
  policyChange,
  updatedPolicy,
  type PolicyChange,
  type PropagationPolicy,
} from './policies.js';

export interface PolicyWriterOptions {
  client: RestClient;
  /** Where cached policies and bindings are read first. */
  caches: HubCaches;
  metrics: HubMetrics;
  log: Logger;
}

/** What ensure() did: nothing, nothing because the name is taken by a policy not the hub's, or a write. */
export type PolicyWritten = Exclude<PolicyChange, 'create' | 'update'> | 'created' | 'updated';

/**
 * The hub's writes of PropagationPolicies and their ResourceBindings on the Karmada apiserver, shared by the backups
 * and the secrets controllers. It decides nothing about whether a policy should exist (its callers do) and never
 * touches a policy without the hub's label.
 */
export class PolicyWriter {
  readonly #o: PolicyWriterOptions;

  constructor(o: PolicyWriterOptions) {
    this.#o = o;
  }

  /** Creates or updates one of the hub's policies (policyChange); the caller makes its Events of the outcome. */
  async ensure(want: PropagationPolicy): Promise<PolicyWritten> {
    const ns = want.metadata.namespace!;
    const name = want.metadata.name;
    const stored =
      this.#o.caches.policies.get(`${ns}/${name}`) ??
      (await getOrUndefined<PropagationPolicy>(this.#o.client, policyPath(ns, name)));
    const change = policyChange(stored, want);
    if (change === 'none' || change === 'notHubs') return change;
    if (stored)
      await this.#o.client.request('PUT', policyPath(ns, name), { body: updatedPolicy(stored, want) });
    // Created meanwhile by a concurrent reconcile: the queue retries with backoff and finds it.
    else if (!(await this.#create(want)))
      throw new Error(`PropagationPolicy ${ns}/${name} was created concurrently; retrying`);
    this.#o.metrics.writes.inc({ what: 'policy' });
    const clusters = want.spec.placement?.clusterAffinity?.clusterNames?.join(', ') ?? '';
    this.#o.log.info({ policy: `${ns}/${name}`, clusters }, stored ? 'policy updated' : 'policy created');
    return stored ? 'updated' : 'created';
  }

  /** False when a concurrent reconcile created it first. */
  async #create(want: PropagationPolicy): Promise<boolean> {
    const ns = want.metadata.namespace!;
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

  /** Deletes one of the hub's policies; true when there was one. */
  async delete(ns: string, name: string): Promise<boolean> {
    const cur = this.#o.caches.policies.get(`${ns}/${name}`);
    // A no-op reconcile costs no request: only a cached hub-owned policy is deleted, and only once (Karmada's finalizer
    // keeps a deleted one, marked, until it has let go of what it propagated).
    if (!cur || !isHubOwned(cur) || cur.metadata.deletionTimestamp) return false;
    if (!(await deleteIfExists(this.#o.client, policyPath(ns, name)))) return false;
    this.#o.metrics.writes.inc({ what: 'policy' });
    this.#o.log.info({ policy: `${ns}/${name}` }, 'policy deleted');
    return true;
  }

  /**
   * Takes an object back from every member. Karmada keeps what a deleted policy propagated, so the hub deletes the
   * object's ResourceBinding too: Karmada then removes its Works, and the members' copies with them. A binding that
   * another policy claims is someone else's and stays. One no policy claims is the caller's unless it says it is not
   * (`unclaimedIsOurs: false`): Karmada leaves the binding of any deleted policy unclaimed, a tenant's as well.
   */
  async withdraw(
    r: { kind: string; name: string; namespace: string },
    ownPolicy: string | ((policy: string) => boolean),
    { unclaimedIsOurs = true }: { unclaimedIsOurs?: boolean } = {},
  ): Promise<void> {
    const name = `${r.name}-${r.kind.toLowerCase()}`;
    const path = `/apis/work.karmada.io/v1alpha2/namespaces/${r.namespace}/resourcebindings/${name}`;
    // The cache may not have it yet (a crash between deleting the policy and this): read it then.
    const rb = this.#o.caches.bindingOf(r) ?? (await getOrUndefined<ResourceBinding>(this.#o.client, path));
    if (!rb || !claimedBy(rb, ownPolicy, unclaimedIsOurs)) return;
    if (!(await deleteIfExists(this.#o.client, path))) return;
    this.#o.metrics.writes.inc({ what: 'binding' });
    this.#o.log.info({ binding: `${r.namespace}/${name}` }, 'withdrawn from every member');
  }
}
