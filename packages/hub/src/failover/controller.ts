import { isDeepStrictEqual } from 'node:util';
import {
  API_VERSION,
  KIND,
  registryCredentials,
  HubWebhookPolicyMissing,
  ownedBy,
  readHubWebhookOwner,
  type CheckpointBackup,
} from '@stateful-migration/api';
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
import { pullSecret, type WebhookEndpoint } from '@stateful-migration/restore';
import { writeBackupCondition } from '../backup-condition.js';
import type { HubCaches } from '../caches.js';
import { clusterHealth, policyPath, proxyPath } from '../karmada.js';
import { isHubOwned, MANAGED_BY } from '../policies.js';
import type { FailoverRecorder } from './record.js';
import {
  coveredWorkload,
  FAILOVER_LABEL,
  failoverPullSecretName,
  failoverWebhookConfiguration,
  failoverWebhookName,
  keepsStateOnFailover,
  moveChanged,
  readyClusters,
} from './webhook.js';

export interface FailoverControllerOptions {
  client: RestClient;
  caches: HubCaches;
  recorder: FailoverRecorder;
  /** For the Warning when the backup's registry secret cannot make a pull secret. */
  events: EventRecorder;
  /** The hub's webhook as members reach it. */
  endpoint: WebhookEndpoint;
  log: Logger;
  /** How long to wait for a member through the cluster proxy. @default 5000 */
  proxyTimeoutMs?: number;
  /** Keys reconciled at once. @default 4 */
  workers?: number;
  /** How often an opted-in backup's configurations are checked again without an event. @default 60000 */
  resyncMs?: number;
}

const WEBHOOKS = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
const key = (b: Pick<CheckpointBackup, 'metadata'>) => `${b.metadata.namespace}/${b.metadata.name}`;
const secretPath = (ns: string, name = '') => `/api/v1/namespaces/${ns}/secrets${name ? `/${name}` : ''}`;

type Problem = { reason: string; message: string };
type Owned = { metadata: { labels?: Record<string, string> } };
type PullPolicy = {
  spec: { priority?: number; placement?: { clusterAffinity?: { clusterNames?: string[] } } };
};

/**
 * The failover pull secret's policy priority: the top one, as the migration's policies have
 * (the restore package's FRESH_CHECKPOINT_PRIORITY, the largest int32), so no tenant's policy outranks it.
 */
const FAILOVER_PULL_POLICY_PRIORITY = 2_147_483_647;

/** A Secret or policy of the pull secret's name that the hub did not create: never overwritten. */
const notOurs = (kind: string, name: string, ns: string): Problem => ({
  reason: 'FailoverPullSecretConflict',
  message: `${kind} ${name} in ${ns} exists and was not created by the hub (no app.kubernetes.io/managed-by=${MANAGED_BY['app.kubernetes.io/managed-by']}): the hub never overwrites it, so no failover pull secret is kept; rename or delete it`,
});

type WebhookConfig = {
  metadata: { resourceVersion?: string; ownerReferences?: { uid?: string }[] };
  webhooks?: Record<string, unknown>[];
};

/**
 * The I/O shell of failover with state (issue 16, docs/adr/0004), one key per opted-in CheckpointBackup
 * (`<ns>/<name>`), level-based: from the caches, (1) when the workload's ResourceBinding has an eviction task that
 * no record answers yet (sameMove), the move is decided once and recorded in status.lastFailover with its Event
 * (FailoverRecorder); (2) the pull secret the restored pods name is kept on Karmada and carried to every cluster;
 * (3) the standing webhook configuration is kept in every Ready member. A backup that no longer opts in (or is gone)
 * has its webhook configurations removed. The record is the whole memory: a restarted hub reads it and decides
 * nothing twice.
 */
export class FailoverController {
  readonly queue: WorkQueue<string>;
  readonly #o: FailoverControllerOptions;

  constructor(o: FailoverControllerOptions) {
    this.#o = o;
    const { caches, log } = o;
    this.queue = new WorkQueue<string>({
      workers: o.workers ?? 4,
      onError: (k, err, retry) =>
        log.warn({ key: k, err: describeError(err), retryInMs: retry }, 'failover reconcile failed'),
    });
    // A backup that opts in, or did (its webhooks then go).
    caches.backups.on((_e, b, old) => {
      if (keepsStateOnFailover(b) || (old && keepsStateOnFailover(old))) this.queue.add(key(b));
    });
    // A workload's binding: Karmada's eviction tasks and where it runs now.
    caches.bindings.on((e, rb, old) => {
      const r = rb.spec.resource;
      if (r.kind !== 'StatefulSet' && r.kind !== 'Deployment') return;
      if (e !== 'delete' && !moveChanged(rb, old)) return;
      for (const b of this.#optedIn()) {
        const w = coveredWorkload(b);
        if (w.kind === r.kind && w.name === r.name && w.namespace === r.namespace) this.queue.add(key(b));
      }
    });
    // A cluster becoming Ready (or a new one) gets the configurations; only readiness matters here.
    caches.clusters.on((_e, c, old) => {
      if (old && clusterHealth(c).ready === clusterHealth(old).ready) return;
      for (const b of this.#optedIn()) this.queue.add(key(b));
    });
  }

  #optedIn(): CheckpointBackup[] {
    return this.#o.caches.backups.list().filter(keepsStateOnFailover);
  }

  /** Starts acting, with every cached opted-in backup: only the leader calls this. */
  start(): void {
    this.queue.start((k) => this.reconcile(k));
    for (const b of this.#optedIn()) this.queue.add(key(b));
  }

  stop(): void {
    this.queue.stop();
  }

  async reconcile(k: string): Promise<Result> {
    const [ns, name] = k.split('/') as [string, string];
    const b = this.#o.caches.backups.get(k);
    if (!b || !keepsStateOnFailover(b)) return this.#removeWebhooks(ns, name);
    const w = coveredWorkload(b);
    const binding = this.#o.caches.bindingOf(w);
    // The move first: it is what a restarted hub must not lose, and what the webhook restores from.
    if (binding?.spec.gracefulEvictionTasks?.length)
      await this.#o.recorder.record(b, binding, readyClusters(this.#o.caches));
    // The pull secret and the webhooks are independent: a registry secret that cannot be read must not keep the
    // configurations (which every pod of the workload passes through) from being written.
    let unreachable = 0;
    try {
      await this.#pullSecretCondition(b, await this.#ensurePullSecret(b));
    } catch (err) {
      unreachable++;
      this.#o.log.warn(
        { backup: k, err: describeError(err) },
        'cannot keep the failover pull secret; retrying',
      );
    }
    const withoutPolicy: string[] = [];
    for (const c of this.#o.caches.clusters.list()) {
      if (!clusterHealth(c).ready) continue;
      await this.#ensureWebhook(b, c.metadata.name).catch((err: unknown) => {
        unreachable++;
        if (err instanceof HubWebhookPolicyMissing) return void withoutPolicy.push(err.cluster);
        this.#o.log.warn(
          { backup: k, cluster: c.metadata.name, err: describeError(err) },
          'cannot write the failover webhook configuration in a member; retrying',
        );
      });
    }
    // A member without the chart's policy gets no configuration: a setup to fix, said where the tenant looks.
    await writeBackupCondition(
      this.#o,
      b,
      'FailoverWebhooks',
      withoutPolicy.length
        ? {
            reason: 'HubWebhookPolicyMissing',
            message: `no failover webhook in ${withoutPolicy.join(', ')}: a pod of the workload recreated there by a failover starts from its image; ${new HubWebhookPolicyMissing(withoutPolicy[0]!).message}`,
          }
        : undefined,
      {
        reason: 'FailoverWebhooksKept',
        message: 'the failover webhook configuration is in every Ready member',
      },
      { writeTrue: 'onlyAfterFalse' },
    );
    // Resynced while it opts in: a configuration deleted in a member (by hand, or by the garbage collector when the
    // chart's policy there was made again under a new uid) comes back without waiting for a backup or Cluster event.
    return { requeueAfterMs: unreachable ? 30_000 : (this.#o.resyncMs ?? 60_000) };
  }

  /** The configuration in one member: created when missing, replaced when it says something else (URL, CA, owner). */
  async #ensureWebhook(b: CheckpointBackup, cluster: string): Promise<void> {
    const opts = { timeoutMs: this.#o.proxyTimeoutMs ?? 5000 };
    const owner = await readHubWebhookOwner(cluster, (p) =>
      getOrUndefined(this.#o.client, proxyPath(cluster, p), opts),
    );
    const body = failoverWebhookConfiguration({ backup: b, cluster, endpoint: this.#o.endpoint, owner });
    const path = proxyPath(cluster, `${WEBHOOKS}/${body.metadata.name}`);
    const there = await getOrUndefined<WebhookConfig>(this.#o.client, path, opts);
    if (!there) {
      await this.#o.client
        .request('POST', proxyPath(cluster, WEBHOOKS), { body, ...opts })
        .catch((err: unknown) => {
          if (!isAlreadyExists(err)) throw err;
        });
      this.#o.log.info({ cluster, name: body.metadata.name }, 'failover webhook configuration created');
      return;
    }
    if (isDeepStrictEqual(there.webhooks?.map(own), body.webhooks.map(own)) && ownedBy(there.metadata, owner))
      return;
    await this.#o.client.request('PUT', path, {
      body: { ...body, metadata: { ...body.metadata, resourceVersion: there.metadata.resourceVersion } },
      ...opts,
    });
  }

  /** Removes a backup's configurations from every Ready member (one not reachable keeps it: it answers unchanged). */
  async #removeWebhooks(ns: string, name: string): Promise<Result> {
    for (const c of this.#o.caches.clusters.list()) {
      if (!clusterHealth(c).ready) continue;
      await deleteIfExists(
        this.#o.client,
        proxyPath(c.metadata.name, `${WEBHOOKS}/${failoverWebhookName(ns, name)}`),
        { timeoutMs: this.#o.proxyTimeoutMs ?? 5000 },
      ).catch((err: unknown) =>
        this.#o.log.warn(
          { backup: `${ns}/${name}`, cluster: c.metadata.name, err: describeError(err) },
          'cannot remove a failover webhook configuration',
        ),
      );
    }
    return undefined;
  }

  /**
   * The dockerconfigjson pull secret `<backup>-failover-pull` on Karmada (from the backup's own registry secret; a
   * backup without one pulls as the nodes can), owned by the backup, so that deleting the backup takes it along, and
   * its PropagationPolicy to every cluster: a replica restored anywhere names it, and it is there before any failover
   * (the pod's image pull does not wait for it). Its contents never reach a log or an Event.
   */
  async #ensurePullSecret(b: CheckpointBackup): Promise<Problem | undefined> {
    const creds = registryCredentials(b, []);
    if (creds.kind !== 'own' || !b.spec.registry) return undefined;
    const ns = b.metadata.namespace;
    const name = failoverPullSecretName(b.metadata.name);
    const src = await getOrUndefined<{ data?: Record<string, string> }>(
      this.#o.client,
      secretPath(creds.secret.namespace, creds.secret.name),
    );
    const dec = (k: string) => Buffer.from(src?.data?.[k] ?? '', 'base64').toString('utf8');
    if (!dec('username') || !dec('password'))
      return {
        reason: 'FailoverPullSecretMissing',
        message: `registry secret ${creds.secret.name} ${src ? 'has no username and password' : 'does not exist'}: no pull secret for failover, a restored replica cannot pull its checkpoint image; create it with username and password`,
      };
    const owners = [
      { apiVersion: API_VERSION, kind: KIND, name: b.metadata.name, uid: b.metadata.uid ?? '' },
    ];
    const labels = { [FAILOVER_LABEL]: 'true', ...MANAGED_BY };
    const body = pullSecret(
      name,
      ns,
      b.spec.registry.url,
      { username: dec('username'), password: dec('password') },
      labels,
      owners,
    ) as { data: Record<string, string> };
    const there = await getOrUndefined<Owned & { data?: Record<string, string> }>(
      this.#o.client,
      secretPath(ns, name),
    );
    if (there && !isHubOwned(there)) return notOurs('Secret', name, ns);
    const stored = await getOrUndefined<Owned & PullPolicy>(this.#o.client, policyPath(ns, name));
    if (stored && !isHubOwned(stored)) return notOurs('PropagationPolicy', name, ns);
    if (!there) await this.#create(secretPath(ns), body);
    else if (!isDeepStrictEqual(there.data, body.data))
      await this.#o.client.request('PATCH', secretPath(ns, name), {
        contentType: 'application/merge-patch+json',
        body: { data: body.data },
      });
    await this.#ensurePullPolicy(ns, name, labels, owners, stored);
    return undefined;
  }

  /**
   * The pull secret's PropagationPolicy to every cluster, at the top priority (FAILOVER_PULL_POLICY_PRIORITY): Karmada
   * applies the matching policy of the highest priority, so a tenant's policy selecting every Secret of the
   * namespace cannot take the pull secret and keep it from the clusters a replica may be restored in.
   */
  async #ensurePullPolicy(
    ns: string,
    name: string,
    labels: Record<string, string>,
    owners: unknown[],
    stored: PullPolicy | undefined,
  ): Promise<void> {
    const clusters = this.#o.caches.clusters
      .list()
      .map((c) => c.metadata.name)
      .sort();
    const spec = {
      priority: FAILOVER_PULL_POLICY_PRIORITY,
      resourceSelectors: [{ apiVersion: 'v1', kind: 'Secret', name }],
      placement: { clusterAffinity: { clusterNames: clusters } },
    };
    const policy = {
      apiVersion: 'policy.karmada.io/v1alpha1',
      kind: 'PropagationPolicy',
      metadata: { name, namespace: ns, labels, ownerReferences: owners },
      spec,
    };
    if (!stored) await this.#create(policyPath(ns, '').replace(/\/$/, ''), policy);
    else if (
      !isDeepStrictEqual(stored.spec.placement?.clusterAffinity?.clusterNames, clusters) ||
      stored.spec.priority !== spec.priority
    )
      await this.#o.client.request('PATCH', policyPath(ns, name), {
        contentType: 'application/merge-patch+json',
        body: { spec: { priority: spec.priority, placement: spec.placement } },
      });
  }

  /**
   * The FailoverPullSecret condition: False with the problem (and a Warning Event when it becomes so), True once the
   * pull secret is kept. Written only when it changes.
   */
  async #pullSecretCondition(b: CheckpointBackup, problem: Problem | undefined): Promise<void> {
    if (!problem && registryCredentials(b, []).kind !== 'own') return;
    await writeBackupCondition(this.#o, b, 'FailoverPullSecret', problem, {
      reason: 'FailoverPullSecretKept',
      message: `pull secret ${failoverPullSecretName(b.metadata.name)} kept and propagated`,
    });
  }

  async #create(path: string, body: unknown): Promise<void> {
    await this.#o.client.request('POST', path, { body }).catch((err: unknown) => {
      if (!isAlreadyExists(err)) throw err;
    });
  }
}

/** The fields of a webhook the hub owns (the apiserver fills in defaults for the rest). */
function own(w: Record<string, unknown> | undefined): unknown[] {
  return ['name', 'clientConfig', 'rules', 'namespaceSelector', 'matchConditions', 'failurePolicy'].map(
    (k) => w?.[k],
  );
}
