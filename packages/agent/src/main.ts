import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { parseRegistryHosts, type RetentionPolicy } from '@stateful-migration/api';
import { crashInjection, EventRecorder, RestClient, rootLogger, serveHealth } from '@stateful-migration/kube';
import { normalHost } from '@stateful-migration/registry';
import { AgentController } from './controller.js';
import { resolveCheckpointStore } from './image.js';
import { KubeletClient, fileToken } from './kubelet.js';
import { AgentMetrics } from './metrics.js';
import { readNodeDecryptionKeys } from './node-keys.js';
import { RuntimePublisher } from './runtime-publisher.js';

export interface AgentFlags {
  kubeconfig?: string;
  nodeName: string;
  nodeIp: string;
  kubeletPort: number;
  kubeletCa?: string;
  kubeletInsecureSkipTlsVerify: boolean;
  tokenFile: string;
  storageRoot?: string;
  storageRunroot?: string;
  storageDriver?: string;
  /** The checkpoint-store helper, a path or a name in PATH; local images fall back to skopeo where it is absent. */
  checkpointStore: string;
  registryCa?: string;
  /** registry=host pairs: a token realm on that host may receive that registry's credentials. */
  registryTokenHost?: string[];
  nodeConcurrency: number;
  checkpointTimeout: number;
  /** Seconds a buildah step may take (add and commit get more per byte). */
  buildahTimeout: number;
  /** Seconds a registry request may wait for its complete answer. */
  registryTimeout: number;
  /** Seconds a registry connection may stay silent (a streamed upload lives as long as bytes flow). */
  registryIdleTimeout: number;
  healthPort: number;
  checkpointDir: string;
  /** Agent-wide retention defaults (issue 6); sizes are quantities or MiB, 0 is unlimited. */
  maxCheckpointsPerContainer: number;
  maxCheckpointsPerPod: number;
  maxCheckpointsPerNamespace: number;
  maxCheckpointSize: string;
  maxTotalSizePerContainer: string;
  maxTotalSizePerPod: string;
  maxTotalSizePerNamespace: string;
  retainOrphans: boolean;
  /** Seconds between retention sweeps. */
  retentionInterval: number;
  /** The node's root, mounted read-only: where the agent reads the runtime's configuration (etc/crio). */
  hostRoot: string;
  /** Comma-separated registry hosts the platform's default secret is for; empty: never used. */
  defaultSecretRegistries?: string;
}

/** The agent-wide retention policy from the flags; a size as a bare integer is MiB, as in spec.retention. */
export function retentionFromFlags(f: AgentFlags): RetentionPolicy {
  const size = (v: string) => (/^\d+$/.test(v.trim()) ? Number(v) : v);
  return {
    maxCheckpointsPerContainer: f.maxCheckpointsPerContainer,
    maxCheckpointsPerPod: f.maxCheckpointsPerPod,
    maxCheckpointsPerNamespace: f.maxCheckpointsPerNamespace,
    maxCheckpointSize: size(f.maxCheckpointSize),
    maxTotalSizePerContainer: size(f.maxTotalSizePerContainer),
    maxTotalSizePerPod: size(f.maxTotalSizePerPod),
    maxTotalSizePerNamespace: size(f.maxTotalSizePerNamespace),
    retainOrphans: f.retainOrphans,
  };
}

/**
 * --registry-token-host values (registry=host, repeatable) as a map from registry host to the hosts of its token
 * service; the registry client sends credentials to no other host (packages/registry/src/origin.ts). Throws on a
 * value that is not registry=host.
 */
export function tokenHostsFromFlags(values: readonly string[] = []): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const v of values) {
    const m = /^([^=\s/]+)=([^=\s/]+)$/.exec(v.trim());
    if (!m)
      throw new Error(
        `--registry-token-host "${v}" is not registry=host (e.g. registry.gitlab.com=gitlab.com)`,
      );
    const registry = normalHost(m[1]!);
    out[registry] = [...(out[registry] ?? []), normalHost(m[2]!)];
  }
  return out;
}

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Runs the agent until SIGTERM. */
export async function runAgent(f: AgentFlags): Promise<void> {
  const log = rootLogger('checkpoint-agent').child({ node: f.nodeName });
  // Fault injection for e2e crash tests only: first, so an agent kept down after its crash does nothing at all.
  const crash = crashInjection(log);
  const kc = new KubeConfig();
  if (f.kubeconfig) kc.loadFromFile(f.kubeconfig);
  else kc.loadFromCluster();
  if (f.kubeletInsecureSkipTlsVerify) {
    log.warn(
      'kubelet TLS verification is OFF (--kubelet-insecure-skip-tls-verify): the agent cannot tell the kubelet from an impostor',
    );
  }
  const kubelet = new KubeletClient(
    {
      address: f.nodeIp,
      port: f.kubeletPort,
      token: fileToken(f.tokenFile),
      ...(f.kubeletCa ? { caFile: f.kubeletCa } : {}),
      insecureSkipVerify: f.kubeletInsecureSkipTlsVerify,
    },
    f.nodeName,
  );
  const checkpointStore = resolveCheckpointStore(f.checkpointStore, process.env.PATH, isExecutableFile);
  if (checkpointStore)
    log.info({ checkpointStore }, 'local checkpoint images are written by checkpoint-store');
  else
    log.warn(
      { checkpointStore: f.checkpointStore },
      'checkpoint-store not found (--checkpoint-store): local checkpoint images are written with skopeo, which reads each archive three times',
    );
  const metrics = new AgentMetrics();
  const client = new RestClient(kc);
  client.onRequest = (verb, resource) => metrics.apiRequests.inc({ verb, resource });
  const agent = new AgentController({
    node: f.nodeName,
    client,
    kubelet,
    log,
    metrics,
    storage: {
      ...(f.storageRoot ? { root: f.storageRoot } : {}),
      ...(f.storageRunroot ? { runroot: f.storageRunroot } : {}),
      ...(f.storageDriver ? { driver: f.storageDriver } : {}),
      ...(checkpointStore ? { checkpointStore } : {}),
      timeoutMs: f.buildahTimeout * 1000,
    },
    registryTimeouts: { requestMs: f.registryTimeout * 1000, idleMs: f.registryIdleTimeout * 1000 },
    ...(f.registryCa ? { registryCa: readFileSync(f.registryCa) } : {}),
    registryTokenHosts: tokenHostsFromFlags(f.registryTokenHost),
    nodeConcurrency: f.nodeConcurrency,
    checkpointTimeoutSeconds: f.checkpointTimeout,
    checkpointDir: f.checkpointDir,
    retention: retentionFromFlags(f),
    retentionIntervalMs: f.retentionInterval * 1000,
    defaultSecretRegistries: parseRegistryHosts(f.defaultSecretRegistries),
    ...crash,
  });
  await serveHealth({
    port: f.healthPort,
    healthy: () => agent.backups.sinceContactMs() < 10 * 60_000 || !agent.ready(),
    ready: () => agent.ready(),
    metrics: () => metrics.registry.metrics(),
  });
  await agent.start();
  // What this node's runtime allows (checkpoint, restore), as a Node label the restore controller reads.
  const publisher = new RuntimePublisher({
    client,
    node: f.nodeName,
    log,
    hostRoot: f.hostRoot,
    nodes: agent.nodes,
    readKeys: readNodeDecryptionKeys,
  });
  publisher.start();
  log.info('agent ready');
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      publisher.stop();
      agent.stop();
      kubelet.close();
      // The Events of the last reconciles are written in the background: written before the exit, or lost.
      void EventRecorder.flushAll(5_000).then(() => process.exit(0));
    });
  }
}
