import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { parseRegistryHosts } from '@stateful-migration/api';
import { LeaderElector, RestClient, rootLogger, serveHealth } from '@stateful-migration/kube';
import { RestoreController } from '@stateful-migration/restore';
import { HubController } from './controller.js';
import { HubMetrics } from './metrics.js';

export interface HubFlags {
  kubeconfig?: string;
  healthPort: number;
  leaderElect: boolean;
  leaderElectNamespace: string;
  leaderElectName: string;
  identity?: string;
  workers?: number;
  /** Comma-separated registry hosts the platform's default secret is for (the agents' list); empty: never used. */
  defaultSecretRegistries?: string;
}

/**
 * Runs the hub until SIGTERM. Caches fill on every replica; only the Lease holder reconciles, and a leader that
 * loses its Lease exits so that its supervisor restarts it as a standby (as controller-runtime does).
 */
export async function runHub(f: HubFlags): Promise<void> {
  const identity = f.identity ?? `${hostname()}-${process.pid}`;
  const log = rootLogger('stateful-migration-hub').child({ identity });
  const kc = new KubeConfig();
  if (f.kubeconfig) kc.loadFromFile(f.kubeconfig);
  else kc.loadFromCluster();
  const client = new RestClient(kc);
  const metrics = new HubMetrics();
  const hub = new HubController({
    client,
    log,
    metrics,
    identity,
    ...(f.workers ? { workers: f.workers } : {}),
    defaultSecretRegistries: parseRegistryHosts(f.defaultSecretRegistries),
  });
  // CheckpointRestores are reconciled by the same leader (issue 5); it starts watching them when it leads.
  const crashAt = process.env.STATEFUL_MIGRATION_CRASH_AFTER; // fault injection for e2e crash tests only
  if (crashAt) log.warn(`fault injection: exiting after the restore phase ${crashAt} is recorded`);
  const restore = new RestoreController({
    client,
    log: log.child({ controller: 'restore' }),
    identity,
    ...(crashAt
      ? { afterPhaseWritten: (phase: string) => (phase === crashAt ? process.exit(99) : undefined) }
      : {}),
  });
  const restoring = new AbortController();
  await serveHealth({
    port: f.healthPort,
    healthy: () => hub.sinceContactMs() < 10 * 60_000 || !hub.ready(),
    ready: () => hub.ready(),
    metrics: () => metrics.registry.metrics(),
  });
  await hub.startInformers();
  log.info('caches synced');
  const elector = f.leaderElect
    ? new LeaderElector(client, { namespace: f.leaderElectNamespace, name: f.leaderElectName, identity })
    : undefined;
  for (const sig of ['SIGTERM', 'SIGINT'] as const)
    process.once(sig, () => {
      void stepDown({
        stop: () => {
          hub.stop();
          restoring.abort();
        },
        queues: { hub: hub.queue, restore: restore.queue },
        release: () => elector?.stop() ?? Promise.resolve(),
      }).finally(() => process.exit(0));
    });
  const lead = () => {
    metrics.leader.set(1);
    log.info('leading: reconciling CheckpointBackups');
    hub.startWorkers();
    void restore.run(restoring.signal);
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

export interface StepDownOptions {
  /** Stops taking work: informers and queues. */
  stop: () => void;
  /** Every queue whose reconciles act under the Lease. */
  queues: Record<string, { inFlight(): number }>;
  /** Frees the Lease. */
  release: () => Promise<void>;
  /** @default 10000 */
  timeoutMs?: number;
  /** @default 50 */
  pollMs?: number;
}

/**
 * How the hub leaves on SIGTERM: it stops taking work, waits for the reconciles still running in every queue that
 * acts under the Lease (the backups' and the restores': a restore reconcile may be creating a pod or scaling a
 * source), at most timeoutMs, and only then frees the Lease, so that a successor never acts beside them. A reconcile
 * that outlasts the wait is cut short by the exit that follows.
 */
export async function stepDown(o: StepDownOptions): Promise<void> {
  o.stop();
  const busy = () => Object.values(o.queues).some((q) => q.inFlight() > 0);
  for (const until = Date.now() + (o.timeoutMs ?? 10_000); busy() && Date.now() < until;)
    await new Promise((r) => setTimeout(r, o.pollMs ?? 50));
  await o.release();
}
