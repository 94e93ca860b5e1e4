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
      hub.stop();
      restoring.abort();
      // Free the Lease only once running reconciles end (10 s at most), so a successor never acts beside them.
      void (async () => {
        for (const until = Date.now() + 10_000; hub.queue.inFlight() > 0 && Date.now() < until;)
          await new Promise((r) => setTimeout(r, 50));
        await elector?.stop();
      })().finally(() => process.exit(0));
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
