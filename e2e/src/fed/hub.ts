import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { FedContext } from './context.js';
import { fedDir, repoRoot } from './paths.js';
import { probe } from './probe.js';
import { freePort, readState, restartProcess } from './procs.js';
import { chartHubNode, HUB_NAMESPACE, hubPods, waitHubPods } from './chart-hub.js';
import { memberOf } from './chart-pods.js';
import { kubectl } from './kubectl.js';
import { registryInfoPath, type RegistryInfo } from './registry.js';

/** A kubeconfig for the hub's ServiceAccount on the Karmada apiserver, so the hub runs with deploy/hub's RBAC. */
export async function hubKubeconfig(ctx: FedContext): Promise<string> {
  const tr = await ctx
    .client('karmada')
    .request<{ status: { token: string } }>(
      'POST',
      '/api/v1/namespaces/karmada-system/serviceaccounts/stateful-migration-hub/token',
      {
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { expirationSeconds: 7 * 24 * 3600 },
        },
      },
    );
  const dir = join(fedDir, 'hub');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, tr.status.token, { mode: 0o600 });
  const kubeconfig = join(dir, 'kubeconfig');
  const server = `https://127.0.0.1:${ctx.port('karmada-apiserver')}`;
  writeFileSync(
    kubeconfig,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'karmada', cluster: { server, 'certificate-authority': ctx.pki.ca } }],
      users: [{ name: 'stateful-migration-hub', user: { 'token-file': tokenFile } }],
      contexts: [{ name: 'karmada', context: { cluster: 'karmada', user: 'stateful-migration-hub' } }],
      'current-context': 'karmada',
    }),
    { mode: 0o600 },
  );
  return kubeconfig;
}

/** Arguments of a hub replica; tests start a second one with another identity. */
export function hubArgs(kubeconfig: string, healthPort: number, identity: string): string[] {
  // The federation's registry is the platform's, as the agents have it (agents.ts): the default secret goes there only.
  const platformRegistry = (JSON.parse(readFileSync(registryInfoPath(), 'utf8')) as RegistryInfo).url;
  return [
    join(repoRoot, 'packages/cli/dist/main.js'),
    'hub',
    `--kubeconfig=${kubeconfig}`,
    `--health-port=${healthPort}`,
    `--identity=${identity}`,
    `--default-secret-registries=${platformRegistry}`,
  ];
}

/**
 * The hub controller as a local process against the Karmada apiserver, with leader election on, as the chart's
 * ServiceAccount (the part `chart` installed it, with its RBAC).
 */
export async function startHub(ctx: FedContext): Promise<void> {
  const kubeconfig = await hubKubeconfig(ctx);
  const health = await freePort('hub');
  ctx.setPort('hub', health);
  // The admission webhook of workload migrations: the members' apiservers call it by URL, as they call
  // karmada-webhook, trusting the federation's CA (the serving certificate names 127.0.0.1).
  const webhook = ctx.state.ports['hub-webhook'] ?? (await freePort('hub-webhook'));
  ctx.setPort('hub-webhook', webhook);
  await ctx.run(
    'hub',
    process.execPath,
    [
      ...hubArgs(kubeconfig, health, 'hub-0'),
      `--webhook-port=${webhook}`,
      `--webhook-url=https://127.0.0.1:${webhook}`,
      `--webhook-cert=${ctx.pki.servingCert}`,
      `--webhook-key=${ctx.pki.servingKey}`,
      `--webhook-ca=${ctx.pki.ca}`,
      // Only the members' apiservers (their AdmissionConfiguration's client certificate) are answered.
      `--webhook-client-ca=${ctx.pki.ca}`,
    ],
    () => probe(`http://127.0.0.1:${health}/readyz`),
    { port: health },
  );
}

/**
 * Restarts the hub, wherever it runs: the local process (stopped and started with extra environment, for fault
 * injection), or, on a federation whose hub is the chart's Deployment (chart-hub.ts), its pod deleted and the
 * Deployment's next one waited for until Ready, as an operator's `kubectl delete pod` does. A pod has no way to
 * take a test's environment: fault injection needs the local process.
 */
export async function restartHub(env: NodeJS.ProcessEnv = {}): Promise<void> {
  const state = readState()!;
  const node = chartHubNode(state);
  if (!node) {
    await restartProcess(state, 'hub', env);
    return;
  }
  if (Object.keys(env).length)
    throw new Error(
      `the hub is the chart's pod on ${node}: it cannot be restarted with ${Object.keys(env).join(', ')}`,
    );
  const old = await hubPods(state);
  await kubectl(memberOf(node), [
    '-n',
    HUB_NAMESPACE,
    'delete',
    'pod',
    ...old.map((p) => p.metadata.name),
    '--wait=true',
  ]);
  await waitHubPods(old.length || 1);
}

/** The hub's log: the local process's file, or `kubectl logs` of each of the hub Deployment's pods. */
export async function hubLogs(): Promise<string> {
  const state = readState();
  const node = chartHubNode(state);
  if (!node) return readFileSync(join(fedDir, 'logs', 'hub.log'), 'utf8');
  const logs = await Promise.all(
    (await hubPods(state)).map((p) =>
      kubectl(memberOf(node), ['-n', HUB_NAMESPACE, 'logs', p.metadata.name]),
    ),
  );
  return logs.join('');
}
