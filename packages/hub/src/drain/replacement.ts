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
    const p = req.object;
    const ns = req.namespace ?? p?.metadata.namespace;
    if (req.operation !== 'CREATE' || req.kind.kind !== 'Pod' || req.kind.group !== '' || !p || !ns)
      return allow;
    // A pod a migration already gave a checkpoint (or this webhook, on a reinvocation) never gets a second.
    if (
      p.metadata.annotations?.[ANNOTATION.restoredFrom] ||
      p.metadata.annotations?.[`${API_GROUP}/restored-from`]
    )
      return allow;
    // The ownerReference as the apiserver sends it (with the controller's uid, which AdmittedPod does not type).
    const refs = p.metadata.ownerReferences as {
      kind: string;
      name: string;
      uid?: string;
      controller?: boolean;
    }[];
    const o = (refs ?? []).find((x) => x.controller);
    if (!o?.uid || (o.kind !== 'StatefulSet' && o.kind !== 'ReplicaSet')) return allow;
    if (!this.#o.caches.ready())
      throw new Error('the hub has not read the CheckpointBackups yet (just started)');
    const covering = coveringBackup(this.#o.caches.backups.list(), ns, ownerWorkload(p), cluster);
    if (!covering) return allow;
    const pod: NewPod = {
      namespace: ns,
      name: p.metadata.name ?? '',
      owner: { kind: o.kind, name: o.name, uid: o.uid },
      ...(podRevision(o.kind, p.metadata.labels)
        ? { revision: podRevision(o.kind, p.metadata.labels)! }
        : {}),
      containers: p.spec.containers,
      ...(p.spec.affinity ? { affinity: p.spec.affinity as NewPod['affinity'] } : {}),
      annotations: p.metadata.annotations ?? {},
      ...(p.spec.imagePullSecrets ? { imagePullSecrets: p.spec.imagePullSecrets } : {}),
    };
    // The claim names the pod, or for a ReplicaSet's (named after admission) the admission request.
    const claim = pod.name || `${p.metadata.generateName ?? ''}(admission ${req.uid})`;
    for (let attempt = 0; attempt < (this.#o.attempts ?? 5); attempt++) {
      const list = await this.#o.client.get<{ items: CheckpointBackup[] }>(
        `${group}/namespaces/${ns}/${PLURAL}`,
        {
          query: { labelSelector: `${DRAIN_CLUSTER_LABEL}=${cluster}` },
          timeoutMs: 5000,
        },
      );
      const byName = new Map(list.items.map((b) => [b.metadata.name, b]));
      const candidates = list.items.flatMap((b) => {
        const c = candidateOf(
          b,
          backupClusters(
            b,
            this.#o.caches.bindingOf({ kind: 'CheckpointBackup', name: b.metadata.name, namespace: ns }),
          ),
          cluster,
          ANNOTATION.claimedBy,
        );
        return c ? [c] : [];
      });
      const verdict = chooseCheckpoint(
        pod,
        candidates,
        (this.#o.now ?? (() => new Date()))(),
        covering.timeoutSeconds + REPLACEMENT_MARGIN_SECONDS,
      );
      if (verdict.kind === 'none') return allow;
      const encode = (ops: unknown[]) => Buffer.from(JSON.stringify(ops)).toString('base64');
      if (verdict.kind === 'fresh') {
        await this.#o.events.emit(
          covering.object,
          'Warning',
          'ReplacementStartedFresh',
          `pod ${claim} in ${cluster} ${verdict.message}`,
        );
        return {
          ...allow,
          patchType: 'JSONPatch',
          patch: encode(replacementPatch(pod, verdict)),
          warnings: [verdict.message],
        };
      }
      const chosen = byName.get(verdict.checkpoint.name)!;
      if (!req.dryRun) {
        try {
          await this.#o.client.request(
            'PATCH',
            `${group}/namespaces/${ns}/${PLURAL}/${chosen.metadata.name}`,
            {
              body: {
                metadata: {
                  resourceVersion: chosen.metadata.resourceVersion,
                  annotations: { [ANNOTATION.claimedBy]: claim },
                },
              },
            },
          );
        } catch (err) {
          if (isConflict(err)) continue;
          throw err;
        }
      }
      const images = [...verdict.images.values()].join(', ');
      const message = `pod ${claim} of ${o.kind} ${o.name} in ${cluster} restores from drain checkpoint ${chosen.metadata.name} (${images})`;
      this.#o.log.info(
        { cluster, namespace: ns, checkpoint: chosen.metadata.name, dryRun: !!req.dryRun },
        message,
      );
      if (!req.dryRun) await this.#o.events.emit(covering.object, 'Normal', 'RestoredAfterEviction', message);
      return {
        ...allow,
        patchType: 'JSONPatch',
        patch: encode(replacementPatch(pod, verdict, drainPullSecretName(chosen.metadata.name))),
      };
    }
    throw new Error(
      `the drain checkpoints of ${o.kind} ${o.name} kept being claimed by other pods; try again`,
    );
  };
}
