import type { CheckpointBackup } from '@stateful-migration/api';
import type { Logger, RestClient } from '@stateful-migration/kube';
import {
  RESTORED_FROM_ANNOTATION,
  restoredInCluster,
  type AdmissionRequest,
  type AdmissionResponse,
} from '@stateful-migration/restore';
import type { HubCaches } from '../caches.js';
import type { FailoverRecorder } from './record.js';
import { answerFailoverPod, coveredWorkload, coveringBackup, readyClusters, rescheduled } from './webhook.js';

export interface FailoverPodsOptions {
  client: RestClient;
  caches: HubCaches;
  recorder: FailoverRecorder;
  log: Logger;
  /** Whether this replica holds the hub's Lease: a Deployment's checkpoints are given by the leader only. */
  leading: () => boolean;
  /** How long an answer's claim on a Deployment checkpoint lasts before its pod must be seen. @default 60000 */
  claimMs?: number;
  /** @default Date.now */
  now?: () => number;
}

/**
 * The `/failover/pods/<cluster>` route (docs/adr/0004): a pod of an opted-in workload created while Karmada's
 * eviction task stands gets its replica's checkpoint from status.lastFailover. When no record answers the move yet
 * (the pods reached the webhook before the controller wrote it), the webhook decides and records it itself with the
 * same function (FailoverRecorder: one record, whoever writes first). Any other pod is allowed unchanged. Like the
 * migration's route, a Deployment's pods take each a checkpoint no pod there runs yet (their restored-from
 * annotation, plus the claims of answers whose pods are not listed yet), one answer per workload at a time.
 */
export class FailoverPods {
  readonly #o: FailoverPodsOptions;
  readonly #claims = new Map<string, Map<string, number>>();
  #chain: Promise<unknown> = Promise.resolve();

  constructor(o: FailoverPodsOptions) {
    this.#o = o;
  }

  readonly handle = async (cluster: string, req: AdmissionRequest): Promise<AdmissionResponse> => {
    const allow: AdmissionResponse = { uid: req.uid, allowed: true };
    if (!this.#o.caches.ready())
      throw new Error('the hub has not read the CheckpointBackups and ResourceBindings yet (just started)');
    // Answered already (a migration's webhook gave it a checkpoint): never a second one.
    if (req.object?.metadata.annotations?.[RESTORED_FROM_ANNOTATION]) return allow;
    const b = coveringBackup(this.#o.caches.backups.list(), req);
    if (!b) return allow;
    const binding = this.#o.caches.bindingOf(coveredWorkload(b));
    if (!binding?.spec.gracefulEvictionTasks?.length) return allow;
    const record = await this.#o.recorder.record(b, binding, readyClusters(this.#o.caches));
    // The pod exists because Karmada placed the workload here: a binding not rescheduled yet is this cache lagging.
    if (!record && !rescheduled(binding))
      throw new Error('Karmada is moving this workload; the hub has not seen where to yet');
    // Not a lost cluster (NotAClusterFailure): the pod starts as Karmada starts it.
    if (!record || record.reason) return allow;
    if (b.spec.resourceRef.kind === 'StatefulSet')
      return this.#log(cluster, req, b, answerFailoverPod(req, b, record, cluster, new Set()));
    if (!this.#o.leading())
      throw new Error("this hub replica is not the leader, which alone gives a Deployment's checkpoints");
    const key = `${cluster}/${b.metadata.namespace}/${b.metadata.name}/${record.time}`;
    const run = this.#chain.then(async () => {
      const used = await this.#used(cluster, key, b);
      const a = answerFailoverPod(req, b, record, cluster, used);
      if (a.assigned) {
        const claims = this.#claims.get(key) ?? new Map<string, number>();
        claims.set(a.assigned, this.#now() + (this.#o.claimMs ?? 60_000));
        this.#claims.set(key, claims);
      }
      return this.#log(cluster, req, b, a);
    });
    this.#chain = run.catch(() => undefined);
    return run;
  };

  #log(
    cluster: string,
    req: AdmissionRequest,
    b: CheckpointBackup,
    a: { response: AdmissionResponse; assigned?: string },
  ): AdmissionResponse {
    this.#o.log.info(
      {
        cluster,
        namespace: req.namespace,
        pod: req.object?.metadata.name || req.object?.metadata.generateName,
        backup: b.metadata.name,
        checkpointOf: a.assigned ?? null,
      },
      a.assigned ? 'failover: pod given its checkpoint' : 'failover: pod starts from its image',
    );
    return a.response;
  }

  /** The replicas whose checkpoint a pod of the workload in `cluster` runs, or an earlier answer claimed. */
  async #used(cluster: string, key: string, b: CheckpointBackup): Promise<Set<string>> {
    const used = await restoredInCluster(this.#o.client, cluster, coveredWorkload(b));
    const claims = this.#claims.get(key);
    for (const [replica, until] of claims ?? []) {
      if (used.has(replica) || until < this.#now()) claims!.delete(replica);
      else used.add(replica);
    }
    return used;
  }

  #now(): number {
    return (this.#o.now ?? Date.now)();
  }
}
