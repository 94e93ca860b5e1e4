import type { CheckpointRestore } from '@stateful-migration/api';
import {
  describeError,
  isConflict,
  isNotFound,
  type Logger,
  type RestClient,
} from '@stateful-migration/kube';
import { proxy } from '../paths.js';
import type { RestoreRecorder } from '../recorder.js';
import { RESTORE_FINALIZER } from '../submit.js';
import type { ClusterView } from '../validate.js';
import { sweepVerdict, sweptOwner, type WebhookConfigView } from './sweep.js';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE, WEBHOOKS_PATH } from './webhook-config.js';

export interface WebhookSweeperOptions {
  client: RestClient;
  log: Logger;
  record: RestoreRecorder;
  /** The Karmada clusters: only the Ready ones are looked at (a lost one is swept when it is back). */
  clusters: () => Promise<ClusterView[]>;
  /** The restore of a key, from the informer's cache: only to pick which keys to queue. */
  cached: (key: string) => CheckpointRestore | undefined;
  /** Queues a restore's key: the sweep of its configurations runs in its reconcile, never beside its steps. */
  enqueue: (key: string) => void;
}

type Found = { cluster: string; config: WebhookConfigView };

/**
 * The shell of the webhook sweep (sweep.ts decides): `scan` lists the hub's webhook configurations in every Ready
 * member and queues the restore of each one the cache says may go; `sweep`, called from that restore's reconcile
 * (so no step of the same restore runs at once, and nothing makes a configuration between the read and the delete),
 * decides again on the restore read there and deletes with the resourceVersion listed (one replaced since is kept).
 */
export class WebhookSweeper {
  readonly #o: WebhookSweeperOptions;
  readonly #pending = new Map<string, Found[]>();

  constructor(o: WebhookSweeperOptions) {
    this.#o = o;
  }

  async scan(): Promise<void> {
    const clusters = (await this.#o.clusters()).filter((c) => c.ready);
    for (const c of clusters) {
      let items: {
        metadata: {
          name: string;
          labels?: Record<string, string>;
          annotations?: Record<string, string>;
          resourceVersion?: string;
        };
      }[];
      try {
        ({ items } = await this.#o.client.get<{ items: typeof items }>(proxy(c.name, WEBHOOKS_PATH), {
          query: { labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}` },
          timeoutMs: 10_000,
        }));
      } catch (err) {
        this.#o.log.warn(
          { cluster: c.name, err: describeError(err) },
          'webhook sweep: cannot list the webhook configurations; trying again at the next sweep',
        );
        continue;
      }
      for (const m of items) {
        const config: WebhookConfigView = {
          name: m.metadata.name,
          ...(m.metadata.labels ? { labels: m.metadata.labels } : {}),
          ...(m.metadata.annotations ? { annotations: m.metadata.annotations } : {}),
          ...(m.metadata.resourceVersion ? { resourceVersion: m.metadata.resourceVersion } : {}),
        };
        const owner = sweptOwner(config);
        if (!owner) continue;
        const key = `${owner.namespace}/${owner.name}`;
        if (!sweepVerdict(config, this.#o.cached(key), RESTORE_FINALIZER).sweep) continue;
        const found = this.#pending.get(key) ?? [];
        if (!found.some((f) => f.cluster === c.name && f.config.name === config.name))
          found.push({ cluster: c.name, config });
        this.#pending.set(key, found);
        this.#o.enqueue(key);
      }
    }
  }

  /** In the reconcile of `key`: the configurations scanned for it, deleted if they still may go. */
  async sweep(key: string, r: CheckpointRestore | undefined): Promise<void> {
    const found = this.#pending.get(key);
    if (!found) return;
    this.#pending.delete(key);
    for (const { cluster, config } of found) {
      const v = sweepVerdict(config, r, RESTORE_FINALIZER);
      if (!v.sweep) continue;
      try {
        await this.#o.client.request('DELETE', proxy(cluster, `${WEBHOOKS_PATH}/${config.name}`), {
          body: {
            apiVersion: 'v1',
            kind: 'DeleteOptions',
            ...(config.resourceVersion ? { preconditions: { resourceVersion: config.resourceVersion } } : {}),
          },
        });
      } catch (err) {
        // Gone already, or replaced since it was listed (by a migration of that name that began): left as it is.
        if (isNotFound(err) || isConflict(err)) continue;
        this.#o.log.warn(
          { cluster, config: config.name, err: describeError(err) },
          'webhook sweep: cannot delete; trying again at the next sweep',
        );
        continue;
      }
      const message =
        `removed the webhook configuration ${config.name} from ${cluster}: ${v.why}, and it would make every new ` +
        "pod of the workload there wait for the hub's webhook";
      this.#o.log.info({ cluster, config: config.name }, message);
      if (r) await this.#o.record.event(r, 'Normal', 'WebhookConfigurationSwept', message);
    }
  }
}
