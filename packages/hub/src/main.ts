import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { parseRegistryHosts, RESTORE_PLURAL, type CheckpointRestore } from '@stateful-migration/api';
import {
  crashInjection,
  Informer,
  EventRecorder,
  LeaderElector,
  RestClient,
  restListWatch,
  rootLogger,
  serveHealth,
  type Logger,
} from '@stateful-migration/kube';
import {
  AdmissionServer,
  PODS_ROUTE,
  type AdmissionHandler,
  PodMutations,
  RestoreController,
  type WebhookEndpoint,
} from '@stateful-migration/restore';
import { BackupController } from './backups/controller.js';
import { HubCaches } from './caches.js';
import { clusterHealth } from './karmada.js';
import { failoverParts } from './failover/parts.js';
import { keepStateRoutes, keepStateWebhooks } from './drain/routes.js';
import { HubMetrics } from './metrics.js';
import { PolicyWriter } from './policy-writer.js';
import { SecretController } from './secrets/controller.js';

export interface HubFlags {
  kubeconfig?: string;
  healthPort: number;
  leaderElect: boolean;
  leaderElectNamespace: string;
  leaderElectName: string;
  /** How long a standby waits after the last renewal it saw (whole seconds, the Lease's unit). @default 15000 */
  leaderElectLeaseDuration?: number;
  /** How long the leader tries to renew before it steps down and exits. @default 10000 */
  leaderElectRenewDeadline?: number;
  /** Between attempts to take or renew the Lease. @default 2000 */
  leaderElectRetryPeriod?: number;
  identity?: string;
  workers?: number;
  /** Comma-separated registry hosts the platform's default secret is for (the agents' list); empty: never used. */
  defaultSecretRegistries?: string;
  /** The admission webhook's port (0: no webhook, and no workload migration). */
  webhookPort?: number;
  webhookCert?: string;
  webhookKey?: string;
  /** The webhook's base URL as the members' apiservers reach it. */
  webhookUrl?: string;
  /** PEM file of the CA that signed the webhook's certificate (the members' caBundle). */
  webhookCa?: string;
  /** PEM file of the CA of the client certificates the members' apiservers present; set: required of every caller. */
  webhookClientCa?: string;
  /** Binds each caller to its own cluster's path: its certificate's CN, or a SAN URI karmada-cluster://<name>. */
  webhookClientClusterFrom?: 'cn' | 'uri';
}

/**
 * The admission webhook of workload migrations (docs/adr/0007), on every replica: members call whichever the
 * Service picks (a Deployment's checkpoints only on the leader). Its own informer of CheckpointRestores (the restore
 * controller's runs on the leader only).
 * Undefined without --webhook-port and --webhook-url.
 */
async function startWebhook(
  f: HubFlags,
  client: RestClient,
  log: Logger,
  leading: () => boolean,
  caches: HubCaches,
  more: Record<string, AdmissionHandler> = {},
): Promise<{ endpoint: WebhookEndpoint; stop: () => void } | undefined> {
  if (!f.webhookPort || !f.webhookUrl) return undefined;
  if (!f.webhookCert || !f.webhookKey || !f.webhookCa)
    throw new Error('--webhook-port needs --webhook-cert, --webhook-key and --webhook-ca');
  const restores = new Informer<CheckpointRestore>(
    restListWatch(client, `/apis/migration.dcnlab.com/v1/${RESTORE_PLURAL}`),
    { onError: (err) => log.warn({ err: String(err) }, 'CheckpointRestore watch failed; retrying') },
  );
  void restores.start();
  const pods = new PodMutations({
    client,
    log,
    restores: () => restores.list(),
    synced: () => restores.hasSynced(),
    leading,
  });
  const server = new AdmissionServer({
    port: f.webhookPort,
    certFile: f.webhookCert,
    keyFile: f.webhookKey,
    ...(f.webhookClientCa ? { clientCaFile: f.webhookClientCa } : {}),
    ...(f.webhookClientClusterFrom ? { clientClusterFrom: f.webhookClientClusterFrom } : {}),
    log,
    routes: { [PODS_ROUTE]: pods.handle, ...keepStateRoutes({ client, caches, log }), ...more },
  });
  const port = await server.start();
  log.info({ port, url: f.webhookUrl, clientCertificates: !!f.webhookClientCa }, 'admission webhook serving');
  if (!f.webhookClientCa)
    log.warn(
      'admission webhook: no --webhook-client-ca, so callers are not authenticated; anyone who reaches its URL can ' +
        "use up a Deployment's checkpoints (docs/security.md)",
    );
  return {
    endpoint: { url: f.webhookUrl.replace(/\/+$/, ''), caBundle: readFileSync(f.webhookCa, 'utf8') },
    stop: () => {
      restores.stop();
      void server.stop();
    },
  };
}

export interface HubOptions {
  client: RestClient;
  log: Logger;
  metrics: HubMetrics;
  /** Identity for Events. */
  identity: string;
  /** How long to wait for a member through the cluster proxy. @default 5000 */
  proxyTimeoutMs?: number;
  /** Keys reconciled at once, by each controller. @default 8 */
  workers?: number;
  /** The registry hosts the platform's default secret is for (--default-secret-registries). @default [] */
  defaultSecretRegistries?: string[];
}

/** The hub's controllers over one set of caches: each with its own queue, and the handlers that feed it. */
export interface Hub {
  caches: HubCaches;
  backups: BackupController;
  secrets: SecretController;
}

/** Builds the caches and the backups and secrets controllers on them; nothing runs until they are started. */
export function hubControllers(o: HubOptions): Hub {
  const { client, log, metrics } = o;
  const caches = new HubCaches(client, log);
  const policies = new PolicyWriter({ client, caches, metrics, log });
  const shared = {
    client,
    caches,
    policies,
    metrics,
    ...(o.workers ? { workers: o.workers } : {}),
    ...(o.defaultSecretRegistries ? { defaultSecretRegistries: o.defaultSecretRegistries } : {}),
  };
  const secrets = new SecretController({
    ...shared,
    log: log.child({ controller: 'secrets' }),
    // The backups controller is made next; a secret reconcile only runs once both are started.
    requeueBackup: (b) => backups.requeue(b.metadata),
  });
  const backups = new BackupController({
    ...shared,
    secrets,
    log: log.child({ controller: 'backups' }),
    identity: o.identity,
    ...(o.proxyTimeoutMs ? { proxyTimeoutMs: o.proxyTimeoutMs } : {}),
  });
  return { caches, backups, secrets };
}

/**
 * Runs the hub until SIGTERM. Caches fill on every replica; only the Lease holder reconciles, and a leader that
 * loses its Lease exits so that its supervisor restarts it as a standby (as controller-runtime does).
 */
export async function runHub(f: HubFlags): Promise<void> {
  const identity = f.identity ?? `${hostname()}-${process.pid}`;
  const log = rootLogger('stateful-migration-hub').child({ identity });
  // Fault injection for e2e crash tests only: first, so a hub kept down after its crash does nothing at all.
  const crash = crashInjection(log);
  const kc = new KubeConfig();
  if (f.kubeconfig) kc.loadFromFile(f.kubeconfig);
  else kc.loadFromCluster();
  const client = new RestClient(kc);
  const metrics = new HubMetrics();
  const { caches, backups, secrets } = hubControllers({
    client,
    log,
    metrics,
    identity,
    ...(f.workers ? { workers: f.workers } : {}),
    defaultSecretRegistries: parseRegistryHosts(f.defaultSecretRegistries),
  });
  // CheckpointRestores are reconciled by the same leader (issue 5); it starts watching them when it leads.
  // Set once this replica leads (it exits when it stops): the webhook gives a Deployment's checkpoints only then.
  let leading = false;
  // Failover with state (docs/adr/0004): its pod route in the webhook, its controller on the leader.
  const failover = failoverParts({
    client,
    caches,
    log: log.child({ controller: 'failover' }),
    identity,
    leading: () => leading,
  });
  const webhook = await startWebhook(
    f,
    client,
    log.child({ controller: 'admission' }),
    () => leading,
    caches,
    failover.routes,
  );
  const failovers = webhook ? failover.controller(webhook.endpoint) : undefined;
  const drainWebhooks = webhook && keepStateWebhooks({ client, caches, endpoint: webhook.endpoint, log });
  const restore = new RestoreController({
    client,
    log: log.child({ controller: 'restore' }),
    identity,
    ...(webhook ? { webhook: webhook.endpoint } : {}),
    ...crash,
  });
  // A member back after an outage gets the webhook configurations it kept swept at once (RestoreController.memberSeen).
  caches.clusters.on((_e, c) => {
    const h = clusterHealth(c);
    restore.memberSeen(h.name, h.ready);
  });
  const restoring = new AbortController();
  await serveHealth({
    port: f.healthPort,
    healthy: () => caches.sinceContactMs() < 10 * 60_000 || !caches.ready(),
    ready: () => caches.ready(),
    metrics: () => metrics.registry.metrics(),
  });
  await caches.start();
  log.info('caches synced');
  const elector = f.leaderElect
    ? new LeaderElector(client, {
        namespace: f.leaderElectNamespace,
        name: f.leaderElectName,
        identity,
        ...(f.leaderElectLeaseDuration ? { leaseDurationSeconds: f.leaderElectLeaseDuration / 1000 } : {}),
        ...(f.leaderElectRenewDeadline ? { renewDeadlineMs: f.leaderElectRenewDeadline } : {}),
        ...(f.leaderElectRetryPeriod ? { retryPeriodMs: f.leaderElectRetryPeriod } : {}),
      })
    : undefined;
  for (const sig of ['SIGTERM', 'SIGINT'] as const)
    process.once(sig, () => {
      void stepDown({
        stop: () => {
          caches.stop();
          backups.stop();
          secrets.stop();
          failovers?.stop();
          restoring.abort();
          webhook?.stop();
          drainWebhooks?.stop();
        },
        queues: leaseQueues({
          backups: backups.queue,
          secrets: secrets.queue,
          restore: restore.queue,
          ...(failovers ? { failover: failovers.queue } : {}),
          ...(drainWebhooks ? { keepStateWebhooks: drainWebhooks.queue } : {}),
        }),
        release: () => elector?.stop() ?? Promise.resolve(),
      }).finally(() => process.exit(0));
    });
  const lead = () => {
    leading = true;
    metrics.leader.set(1);
    log.info('leading: reconciling CheckpointBackups');
    secrets.start();
    backups.start();
    failovers?.start();
    setInterval(
      () => metrics.observe(backups.queue.depth() + secrets.queue.depth(), caches.backups.list()),
      2000,
    ).unref();
    void restore.run(restoring.signal);
    drainWebhooks?.start();
  };
  if (!elector) return lead();
  metrics.leader.set(0);
  log.info({ lease: `${f.leaderElectNamespace}/${f.leaderElectName}` }, 'standing by for the leader Lease');
  await elector.run(lead, () => {
    metrics.leader.set(0);
    log.error('lost the leader Lease; exiting so that only one hub acts');
    process.exit(1);
  });
}

type InFlight = { inFlight(): number };

/**
 * Every queue whose reconciles act under the Lease, for stepDown: the backups', the secrets', the restores' and, with
 * the admission server, the keep-state webhook configurations' (a reconcile may be writing a member's configuration).
 */
export function leaseQueues(q: {
  backups: InFlight;
  secrets: InFlight;
  restore: InFlight;
  keepStateWebhooks?: InFlight;
}): Record<string, InFlight> {
  return { ...q };
}

export interface StepDownOptions {
  /** Stops taking work: informers and queues. */
  stop: () => void;
  /** Every queue whose reconciles act under the Lease. */
  queues: Record<string, { inFlight(): number }>;
  /** Frees the Lease. */
  release: () => Promise<void>;
  /** Writes the Events the finished reconciles emitted, at most this long. @default EventRecorder.flushAll */
  flushEvents?: (timeoutMs: number) => Promise<void>;
  /** @default 10000 */
  timeoutMs?: number;
  /** @default 50 */
  pollMs?: number;
}

/**
 * How the hub leaves on SIGTERM: it stops taking work, waits for the reconciles still running in every queue that
 * acts under the Lease (leaseQueues: a restore reconcile may be creating a pod or scaling a source, a keep-state one
 * writing a member's webhook configuration), at most timeoutMs, and only then frees the Lease, so that a successor never acts beside them. A reconcile
 * that outlasts the wait is cut short by the exit that follows.
 */
export async function stepDown(o: StepDownOptions): Promise<void> {
  o.stop();
  const busy = () => Object.values(o.queues).some((q) => q.inFlight() > 0);
  const until = Date.now() + (o.timeoutMs ?? 10_000);
  while (busy() && Date.now() < until) await new Promise((r) => setTimeout(r, o.pollMs ?? 50));
  // Their Events are written in the background (EventRecorder.emit): written before the exit, or lost for good.
  await (o.flushEvents ?? ((ms) => EventRecorder.flushAll(ms)))(Math.max(1_000, until - Date.now()));
  await o.release();
}
