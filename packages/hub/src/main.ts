import { hostname } from 'node:os';
import { KubeConfig } from '@kubernetes/client-node';
import { LeaderElector, RestClient, rootLogger, serveHealth } from '@stateful-migration/kube';
import { HubController } from './controller.js';
import { HubMetrics } from './metrics.js';

export interface HubFlags {
  kubeconfig?: string;
  healthPort: number;
  leaderElect: boolean;
  leaderElectNamespace: string;
  leaderElectName: string;
  identity?: string;
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
  const hub = new HubController({ client, log, metrics, identity });
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
      void (elector?.stop() ?? Promise.resolve()).finally(() => process.exit(0));
    });
  const lead = () => {
    metrics.leader.set(1);
    log.info('leading: reconciling CheckpointBackups');
    hub.startWorkers();
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
