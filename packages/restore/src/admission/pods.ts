import type { CheckpointRestore } from '@stateful-migration/api';
import type { Logger, RestClient } from '@stateful-migration/kube';
import { proxy } from '../paths.js';
import {
  admitPod,
  holdPod,
  ownerWorkload,
  roleOf,
  type AdmissionRequest,
  type AdmissionResponse,
  type AdmittedPod,
} from '../workload/admission.js';
import { RESTORED_FROM_ANNOTATION } from '../workload/migration.js';

export interface PodMutationsOptions {
  /** A client of the Karmada apiserver (the cluster proxy reaches the members). */
  client: RestClient;
  log: Logger;
  /** The CheckpointRestores, from an informer's cache. */
  restores: () => CheckpointRestore[];
  /**
   * Whether that cache has been filled: until then no answer is given (a refusal the pod's controller retries),
   * since a pod let through by a hub that has not read the migrations yet would run without its gate.
   * @default always
   */
  synced?: () => boolean;
  /**
   * Whether this replica holds the hub's Lease. A Deployment's checkpoints are given by the Lease holder only: the
   * claims are in its memory, and a standby answering at the same instant could give the same checkpoint to a
   * second pod (the refusal sends the pod's controller back, and the Service to a replica that may lead). Answers
   * that need no claim (a StatefulSet's pod, a pod held in the source) come from any replica. @default always
   */
  leading?: () => boolean;
  /** How long an answer's claim on a Deployment checkpoint lasts before its pod must be seen. @default 60000 */
  claimMs?: number;
  /** @default Date.now */
  now?: () => number;
}

/**
 * The `/mutate/pods/<cluster>` route: a pod of a workload under migration gets its replica's checkpoint (into) or
 * is held (from); any other pod is allowed unchanged (roleOf, admitPod, holdPod are the pure answer). StatefulSet
 * pods need nothing more: the name says the ordinal. A Deployment's pods have no name yet when admitted, so each
 * answer takes a checkpoint no pod of the workload in that cluster runs yet: the pods there are listed (their
 * annotation restored-from; so a restarted hub derives the same), and the checkpoints given by answers whose pods
 * are not listed yet are remembered for claimMs. Answers for one workload are serialised, so two pods made at once
 * never get the same checkpoint.
 */
export class PodMutations {
  readonly #o: PodMutationsOptions;
  /** Per `<cluster>/<namespace>/<restore>`: replica -> until when its claim holds. */
  readonly #claims = new Map<string, Map<string, number>>();
  readonly #chains = new Map<string, Promise<unknown>>();

  constructor(o: PodMutationsOptions) {
    this.#o = o;
  }

  readonly handle = async (cluster: string, req: AdmissionRequest): Promise<AdmissionResponse> => {
    if (this.#o.synced && !this.#o.synced())
      throw new Error('the hub has not read the CheckpointRestores yet (just started)');
    const role = roleOf(cluster, req, this.#o.restores());
    if (!role) return { uid: req.uid, allowed: true };
    if (role.role === 'from') return holdPod(req, role.restore);
    if (role.kind === 'StatefulSet') return this.#answer(cluster, req, role.migration, new Set());
    if (this.#o.leading && !this.#o.leading())
      throw new Error("this hub replica is not the leader, which alone gives a Deployment's checkpoints");
    const key = `${cluster}/${role.migration.workload.namespace}/${role.migration.restore}`;
    return this.#serial(key, async () => {
      const used = await this.#used(cluster, key, role.migration.workload);
      return this.#answer(cluster, req, role.migration, used, key);
    });
  };

  #answer(
    cluster: string,
    req: AdmissionRequest,
    m: Parameters<typeof admitPod>[1][number],
    used: ReadonlySet<string>,
    claimKey?: string,
  ): AdmissionResponse {
    const { response, assigned } = admitPod(req, [m], used);
    if (assigned && claimKey) {
      const claims = this.#claims.get(claimKey) ?? new Map<string, number>();
      claims.set(assigned, this.#now() + (this.#o.claimMs ?? 60_000));
      this.#claims.set(claimKey, claims);
    }
    this.#o.log.info(
      {
        cluster,
        namespace: req.namespace,
        pod: req.object?.metadata.name || req.object?.metadata.generateName,
        restore: m.restore,
        checkpointOf: assigned ?? null,
      },
      assigned ? 'pod given its checkpoint' : 'pod of a migrating workload starts from its image',
    );
    return response;
  }

  /** The replicas whose checkpoint a pod of the workload in `cluster` runs, or an earlier answer claimed. */
  async #used(
    cluster: string,
    key: string,
    w: { kind: string; name: string; namespace: string },
  ): Promise<Set<string>> {
    const used = await restoredInCluster(this.#o.client, cluster, w);
    const claims = this.#claims.get(key);
    for (const [replica, until] of claims ?? []) {
      if (used.has(replica) || until < this.#now()) claims!.delete(replica);
      else used.add(replica);
    }
    return used;
  }

  #serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#chains.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.#chains.set(key, tail);
    void tail.then(() => {
      if (this.#chains.get(key) === tail) this.#chains.delete(key);
    });
    return next;
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }
}

/**
 * The replicas whose checkpoints the pods of a workload in a member already run (their restored-from annotation),
 * listed through the cluster proxy: a restarted hub derives the same. Shared with failover's webhook (the hub).
 */
export async function restoredInCluster(
  client: RestClient,
  cluster: string,
  w: { kind: string; name: string; namespace: string },
): Promise<Set<string>> {
  const list = await client.get<{ items: AdmittedPod[] }>(
    proxy(cluster, `/api/v1/namespaces/${w.namespace}/pods`),
    { timeoutMs: 5000 },
  );
  const used = new Set<string>();
  for (const p of list.items) {
    const o = ownerWorkload(p);
    const from = p.metadata.annotations?.[RESTORED_FROM_ANNOTATION];
    if (from && o?.kind === w.kind && o.name === w.name) used.add(from);
  }
  return used;
}
