import { API_GROUP, PLURAL, type CheckpointBackup } from '@stateful-migration/api';
import {
  ANNOTATION,
  candidateOf,
  chooseCheckpoint,
  coveringBackup,
  DRAIN_CLUSTER_LABEL,
  drainPullSecretName,
  podRevision,
  REPLACEMENT_MARGIN_SECONDS,
  replacementPatch,
  type NewPod,
} from '@stateful-migration/drain';
import { isConflict, type EventRecorder, type Logger, type RestClient } from '@stateful-migration/kube';
import { backupClusters, ownerWorkload, type AdmittedPod } from '@stateful-migration/restore';
import type { HubCaches } from '../caches.js';

/**
 * The replacement's I/O shell (docs/adr/0004, "Replacement"): the `/drain/pods/<cluster>` route. A pod created by a
 * StatefulSet or ReplicaSet in a cluster where one of its controller's pods was evicted with a drain checkpoint gets
 * that checkpoint (chooseCheckpoint, replacementPatch). A checkpoint restores one pod: before answering, the webhook
 * claims it on the Karmada control plane (an annotation written with the resourceVersion read; a 409 means another
 * replacement took it, so it lists and chooses again), so a restarted hub or another replica never gives it twice.
 */

export interface PodRequest {
  uid: string;
  operation: string;
  namespace?: string;
  dryRun?: boolean;
  kind: { group: string; kind: string };
  object?: AdmittedPod;
}

export interface ReplacementResponse {
  uid: string;
  allowed: true;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
}

export interface DrainReplacementsOptions {
  client: RestClient;
  caches: HubCaches;
  events: EventRecorder;
  log: Logger;
  /** Claims tried before giving up (each 409 is another replacement taking a checkpoint). @default 5 */
  attempts?: number;
  /** @default () => new Date() */
  now?: () => Date;
}

const group = `/apis/${API_GROUP}/v1`;

export class DrainReplacements {
  readonly #o: DrainReplacementsOptions;

  constructor(o: DrainReplacementsOptions) {
    this.#o = o;
  }

  readonly handle = async (cluster: string, req: PodRequest): Promise<ReplacementResponse> => {
    const allow: ReplacementResponse = { uid: req.uid, allowed: true };
    const ours = this.#ours(cluster, req);
    if (!ours) return allow;
    const { pod, covering, claim, maxAgeSeconds } = ours;
    const encode = (ops: unknown[]) => Buffer.from(JSON.stringify(ops)).toString('base64');
    for (let attempt = 0; attempt < (this.#o.attempts ?? 5); attempt++) {
      const { verdict, chosen } = await this.#choose(cluster, pod, maxAgeSeconds);
      if (verdict.kind === 'none') return allow;
      if (verdict.kind === 'fresh') {
        const message = `pod ${claim} in ${cluster} ${verdict.message}`;
        if (!req.dryRun) this.#o.events.emit(covering, 'Warning', 'ReplacementStartedFresh', message);
        const patch = encode(replacementPatch(pod, verdict));
        return { ...allow, patchType: 'JSONPatch', patch, warnings: [verdict.message] };
      }
      if (!req.dryRun && !(await this.#claim(chosen!, claim))) continue;
      const images = [...verdict.images.values()].join(', ');
      const message = `pod ${claim} of ${pod.owner!.kind} ${pod.owner!.name} in ${cluster} restores from drain checkpoint ${chosen!.metadata.name} (${images})`;
      this.#o.log.info(
        { cluster, namespace: pod.namespace, checkpoint: chosen!.metadata.name, dryRun: !!req.dryRun },
        message,
      );
      if (!req.dryRun) this.#o.events.emit(covering, 'Normal', 'RestoredAfterEviction', message);
      const patch = encode(replacementPatch(pod, verdict, drainPullSecretName(chosen!.metadata.name)));
      return { ...allow, patchType: 'JSONPatch', patch };
    }
    throw new Error(
      `the drain checkpoints of ${pod.owner!.kind} ${pod.owner!.name} kept being claimed by other pods; try again`,
    );
  };

  /**
   * The pod as the pure choice reads it, the backup that keeps its workload's state on eviction, and the claim it
   * would write; undefined for a pod that is none of this webhook's business.
   */
  #ours(
    cluster: string,
    req: PodRequest,
  ): { pod: NewPod; covering: CheckpointBackup; claim: string; maxAgeSeconds: number } | undefined {
    const p = req.object;
    const ns = req.namespace ?? p?.metadata.namespace;
    if (req.operation !== 'CREATE' || req.kind.kind !== 'Pod' || req.kind.group !== '' || !p || !ns)
      return undefined;
    // A pod a migration already gave a checkpoint (or this webhook, on a reinvocation) never gets a second.
    const a = p.metadata.annotations ?? {};
    if (a[ANNOTATION.restoredFrom] || a[`${API_GROUP}/restored-from`]) return undefined;
    // The ownerReference as the apiserver sends it (with the controller's uid, which AdmittedPod does not type).
    const refs = (p.metadata.ownerReferences ?? []) as {
      kind: string;
      name: string;
      uid?: string;
      controller?: boolean;
    }[];
    const o = refs.find((x) => x.controller);
    if (!o?.uid || (o.kind !== 'StatefulSet' && o.kind !== 'ReplicaSet')) return undefined;
    if (!this.#o.caches.ready())
      throw new Error('the hub has not read the CheckpointBackups yet (just started)');
    const covering = coveringBackup(this.#o.caches.backups.list(), ns, ownerWorkload(p), cluster);
    if (!covering) return undefined;
    const pod: NewPod = {
      namespace: ns,
      name: p.metadata.name ?? '',
      owner: { kind: o.kind, name: o.name, uid: o.uid },
      ...(podRevision(o.kind, p.metadata.labels)
        ? { revision: podRevision(o.kind, p.metadata.labels)! }
        : {}),
      containers: p.spec.containers,
      ...(p.spec.affinity ? { affinity: p.spec.affinity as NewPod['affinity'] } : {}),
      annotations: a,
      ...(p.spec.imagePullSecrets ? { imagePullSecrets: p.spec.imagePullSecrets } : {}),
    };
    // The claim names the pod, or for a ReplicaSet's (named after admission) the admission request.
    const claim = pod.name || `${p.metadata.generateName ?? ''}(admission ${req.uid})`;
    // A checkpoint older than the eviction's wait plus the time a replacement takes to appear is not this eviction's.
    return {
      pod,
      covering: covering.object,
      claim,
      maxAgeSeconds: covering.timeoutSeconds + REPLACEMENT_MARGIN_SECONDS,
    };
  }

  /** The drain checkpoints of the cluster, listed fresh from the Karmada apiserver, and the one the pod gets. */
  async #choose(
    cluster: string,
    pod: NewPod,
    maxAgeSeconds: number,
  ): Promise<{ verdict: ReturnType<typeof chooseCheckpoint>; chosen?: CheckpointBackup }> {
    const ns = pod.namespace;
    const list = await this.#o.client.get<{ items: CheckpointBackup[] }>(
      `${group}/namespaces/${ns}/${PLURAL}`,
      {
        query: { labelSelector: `${DRAIN_CLUSTER_LABEL}=${cluster}` },
        timeoutMs: 5000,
      },
    );
    const binding = (name: string) =>
      this.#o.caches.bindingOf({ kind: 'CheckpointBackup', name, namespace: ns });
    const candidates = list.items.flatMap((b) => {
      const c = candidateOf(b, backupClusters(b, binding(b.metadata.name)), cluster, ANNOTATION.claimedBy);
      return c ? [c] : [];
    });
    const verdict = chooseCheckpoint(pod, candidates, (this.#o.now ?? (() => new Date()))(), maxAgeSeconds);
    const chosen =
      verdict.kind === 'restore'
        ? list.items.find((b) => b.metadata.name === verdict.checkpoint.name)
        : undefined;
    return { verdict, ...(chosen ? { chosen } : {}) };
  }

  /** Claims a checkpoint with the resourceVersion read: false when another pod took it first (409). */
  async #claim(chosen: CheckpointBackup, claim: string): Promise<boolean> {
    try {
      await this.#o.client.request(
        'PATCH',
        `${group}/namespaces/${chosen.metadata.namespace}/${PLURAL}/${chosen.metadata.name}`,
        {
          body: {
            metadata: {
              resourceVersion: chosen.metadata.resourceVersion,
              annotations: { [ANNOTATION.claimedBy]: claim },
            },
          },
        },
      );
      return true;
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
  }
}
