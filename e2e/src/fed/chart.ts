import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { binary, kubeconfigPath, repoRoot } from './paths.js';
import { readState } from './procs.js';
import { registryInfoPath, type RegistryInfo } from './registry.js';
import { agentImageOf } from './chart-pods.js';
import type { AgentImage } from './agent-image.js';

export const RELEASE = 'stateful-migration';
export const RELEASE_NAMESPACE = 'karmada-system';
export const CHART = 'charts/stateful-migration';

/**
 * The ports the chart's pods serve /healthz, /readyz and /metrics on: its values' defaults, which the federation's
 * values (federationValues, hubValues in chart-hub.ts) leave as they are. Read from values.yaml, so a test that reads
 * a pod's metrics follows a change of the chart.
 */
export function chartHealthPorts(): { agent: number; hub: number } {
  const v = parse(readFileSync(join(repoRoot, CHART, 'values.yaml'), 'utf8')) as {
    agent: { healthPort: number };
    hub: { healthPort: number };
  };
  return { agent: v.agent.healthPort, hub: v.hub.healthPort };
}

/** Runs the federation's helm against the Karmada apiserver (or another of its clusters); rejects with helm's stderr. */
export function helm(args: string[], cluster = 'karmada'): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      binary('helm'),
      [`--kubeconfig=${kubeconfigPath(cluster)}`, ...args],
      { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`helm ${args.slice(0, 2).join(' ')}: ${stderr.trim() || err.message}`));
        else resolve(stdout);
      },
    );
  });
}

/**
 * The federation's values: its registry is the platform's (the default secret goes there only), retention sweeps
 * every 20 s (e2e sees them), vfs storage. The carried DaemonSet selects only the nodes labelled
 * stateful-migration.dcnlab.com/agent-pods=true: those `fed up` was asked to run chart pods on (chart-pods.ts), whose
 * agent is then the DaemonSet's pod from the product image in the federation's registry, pinned by digest; the
 * other nodes keep the local agent process (agents.ts). Without chart pods the image stays the chart's default,
 * which no node can pull (docs/architecture.md, "Chart pods").
 */
export function federationValues(): string[] {
  const state = readState();
  const hubWebhook = state?.ports['hub-webhook'];
  const image = agentImageOf(state);
  const registry = (JSON.parse(readFileSync(registryInfoPath(), 'utf8')) as RegistryInfo).url;
  return [
    '--set',
    `defaultSecretRegistries={${registry}}`,
    '--set',
    'agent.storageDriver=vfs',
    '--set',
    'agent.retention.intervalSeconds=20',
    '--set-string',
    'agent.nodeSelector.stateful-migration\\.dcnlab\\.com/agent-pods=true',
    // The members' policy lets the hub make webhook configurations that call this URL only (the hub's, hub.ts).
    ...(hubWebhook ? ['--set', `hub.webhook.url=https://127.0.0.1:${hubWebhook}`] : []),
    ...(image
      ? [
          ...imageValues(image),
          // The registry's serving certificate is signed by the federation's CA, which the pod already mounts as
          // the kubelets' CA; the local agents get the same file as --registry-ca.
          '--set-json',
          'agent.extraArgs=["--registry-ca=/etc/kubernetes/pki/ca.crt"]',
        ]
      : []),
  ];
}

/** The chart's image values for the product image the federation pushed, pinned by its digest. */
export function imageValues(image: AgentImage): string[] {
  return [
    '--set',
    `image.repository=${image.repository}`,
    // --set, not --set-string: helm applies every --set-string after every --set, so a caller's later
    // `--set image.tag=...` (a helm upgrade to a new tag) would lose to it. The tag (version-hash) is a string.
    '--set',
    `image.tag=${image.tag}`,
    '--set',
    `image.digest=${image.digest}`,
  ];
}

/** `helm upgrade --install` of the chart on the Karmada apiserver, waiting for nothing Karmada cannot report. */
export async function installChart(extra: string[] = []): Promise<string> {
  return helm([
    'upgrade',
    '--install',
    RELEASE,
    CHART,
    '--namespace',
    RELEASE_NAMESPACE,
    ...federationValues(),
    ...extra,
  ]);
}
