import { isDeepStrictEqual } from 'node:util';
import {
  gateConfiguration,
  KEEP_STATE_WEBHOOKS,
  keepsStateOnEviction,
  keptWorkloads,
  replacementConfiguration,
  type Endpoint,
  type KeptWorkload,
} from '@stateful-migration/drain';
import { HubWebhookPolicyMissing, ownedBy, readHubWebhookOwner } from '@stateful-migration/api';
import {
  deleteIfExists,
  describeError,
  getOrUndefined,
  isAlreadyExists,
  WorkQueue,
  type EventRecorder,
  type Logger,
  type RestClient,
  type Result,
} from '@stateful-migration/kube';
import { writeBackupCondition } from '../backup-condition.js';
import type { HubCaches } from '../caches.js';
import { CLUSTERS_PATH } from '../karmada.js';

/**
 * Keeps the standing webhook configurations of "keep state on eviction" (packages/drain/src/webhooks.ts) in each
 * member: present, and as the backups say, where a workload-level backup with keepState.eviction is placed; deleted
 * where none is. Level-based, one key per cluster, on the leader only: woken by every CheckpointBackup and Cluster
 * change, and every minute (a configuration changed or deleted in the member by hand comes back).
 */

export interface DrainWebhooksOptions {
  client: RestClient;
  caches: HubCaches;
  endpoint: Endpoint;
  log: Logger;
  /** @default 60000 */
  resyncMs?: number;
  /** Bound of a read through Karmada's cluster proxy. @default 5000 */
  proxyTimeoutMs?: number;
  /** For the Warning on a backup whose member lacks the chart's policy (the condition KeepStateWebhooks). */
  events?: EventRecorder;
}

const paths = {
  ValidatingWebhookConfiguration: '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations',
  MutatingWebhookConfiguration: '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
} as const;
const proxy = (cluster: string, path: string) =>
  `${CLUSTERS_PATH}/${encodeURIComponent(cluster)}/proxy${path}`;

export class DrainWebhooks {
  readonly queue: WorkQueue<string>;
  readonly #o: DrainWebhooksOptions;

  constructor(o: DrainWebhooksOptions) {
    this.#o = o;
    this.queue = new WorkQueue<string>({
      onError: (cluster, err) =>
        o.log.warn({ cluster, err: describeError(err) }, 'keep-state webhook configurations: will retry'),
    });
    const all = () => {
      for (const c of o.caches.clusters.list()) this.queue.add(c.metadata.name);
    };
    // Only a backup that keeps state on eviction, before or after the change, can change a configuration: any other
    // backup event would cost a reconcile of every cluster, each over every backup, for nothing.
    o.caches.backups.on((_e, b, old) => {
      if (keepsStateOnEviction(b) || (old && keepsStateOnEviction(old))) all();
    });
    o.caches.clusters.on(all);
  }

  start(): void {
    this.queue.start((cluster) => this.reconcile(cluster));
    for (const c of this.#o.caches.clusters.list()) this.queue.add(c.metadata.name);
  }

  stop(): void {
    this.queue.stop();
  }

  async reconcile(cluster: string): Promise<Result> {
    const resync = { requeueAfterMs: this.#o.resyncMs ?? 60_000 };
    if (!this.#o.caches.clusters.list().some((c) => c.metadata.name === cluster)) return undefined;
    const kept = keptWorkloads(this.#o.caches.backups.list()).get(cluster) ?? [];
    if (!kept.length) {
      for (const path of Object.values(paths))
        if (await deleteIfExists(this.#o.client, proxy(cluster, `${path}/${KEEP_STATE_WEBHOOKS}`)))
          this.#o.log.info(
            { cluster, path },
            'no backup keeps state on eviction here: configuration deleted',
          );
      return resync;
    }
    // Bounded like failover's reads through the proxy: a member that is not Ready must not hold up the others.
    const owner = await readHubWebhookOwner(cluster, (p) =>
      getOrUndefined(this.#o.client, proxy(cluster, p), { timeoutMs: this.#o.proxyTimeoutMs ?? 5000 }),
    ).catch((err: unknown) => {
      if (err instanceof HubWebhookPolicyMissing) return err;
      throw err;
    });
    await this.#say(cluster, kept, owner instanceof HubWebhookPolicyMissing ? owner : undefined);
    if (owner instanceof HubWebhookPolicyMissing) return resync;
    for (const make of [gateConfiguration, replacementConfiguration]) {
      const body = make(cluster, this.#o.endpoint, kept, owner);
      const path = proxy(cluster, `${paths[body.kind as keyof typeof paths]}/${KEEP_STATE_WEBHOOKS}`);
      const there = await getOrUndefined<{
        metadata: { resourceVersion?: string; ownerReferences?: { uid?: string }[] };
        webhooks?: unknown[];
      }>(this.#o.client, path);
      if (!there) {
        await this.#o.client
          .request('POST', proxy(cluster, paths[body.kind as keyof typeof paths]), { body })
          .catch((err: unknown) => {
            if (!isAlreadyExists(err)) throw err;
          });
        this.#o.log.info(
          { cluster, kind: body.kind, webhooks: kept.length },
          'keep-state configuration created',
        );
      } else if (!sameWebhooks(there.webhooks, body.webhooks) || !ownedBy(there.metadata, owner)) {
        await this.#o.client.request('PUT', path, {
          body: { ...body, metadata: { ...body.metadata, resourceVersion: there.metadata.resourceVersion } },
        });
        this.#o.log.info(
          { cluster, kind: body.kind, webhooks: kept.length },
          'keep-state configuration updated',
        );
      }
    }
    return resync;
  }

  /**
   * The condition KeepStateWebhooks of each backup kept in `cluster`: False while the member lacks the chart's policy
   * (its pods leave on eviction without their state), True again once it has it (written only after a False).
   */
  async #say(
    cluster: string,
    kept: KeptWorkload[],
    missing: HubWebhookPolicyMissing | undefined,
  ): Promise<void> {
    if (!this.#o.events) return;
    for (const w of kept) {
      const b = this.#o.caches.backups.get(`${w.namespace}/${w.backup}`);
      if (!b) continue;
      await writeBackupCondition(
        { client: this.#o.client, events: this.#o.events },
        b,
        'KeepStateWebhooks',
        missing && {
          reason: missing.reason,
          message: `no eviction gate in ${cluster}: a pod of the workload evicted there leaves without its state; ${missing.message}`,
        },
        {
          reason: 'KeepStateWebhooksKept',
          message: 'the eviction gate is in every member the backup is placed in',
        },
        { writeTrue: 'onlyAfterFalse' },
      );
    }
  }
}

/** Whether the stored webhooks say what ours say (the apiserver adds defaults: compare only the fields we set). */
function sameWebhooks(stored: unknown[] | undefined, ours: Record<string, unknown>[]): boolean {
  if (!stored || stored.length !== ours.length) return false;
  return ours.every((w, i) => {
    const s = stored[i] as Record<string, unknown>;
    return Object.keys(w).every((k) => isDeepStrictEqual(s[k], w[k]));
  });
}
