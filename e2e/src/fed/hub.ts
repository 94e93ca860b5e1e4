import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { FedContext } from './context.js';
import { fedDir, repoRoot } from './paths.js';
import { probe } from './probe.js';
import { eventually } from '@stateful-migration/kube/testing';
import { CRASH_MARKER_ENV } from '@stateful-migration/kube';
import { freePort, isOurs, readState, restartProcess } from './procs.js';
import {
  chartHubNode,
  HUB_NAMESPACE,
  hubPods,
  installHubChart,
  waitHubPods,
  type HubPod,
} from './chart-hub.js';
import { hasRun, injectedCrash, podEnvValues, rolloutValues, type Started } from './pod-crash.js';
import { memberOf } from './chart-pods.js';
import { kubectl } from './kubectl.js';
import { chartHealthPorts } from './chart.js';
import { podHttpGet } from './runtimes.js';
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
 * Restarts the hub, wherever it runs, with extra environment (fault injection) or none, and returns what tells
 * when it has died (its injected crash): the local process, stopped and started again; or, on a federation whose
 * hub is the chart's Deployment (chart-hub.ts), its pods replaced. There, with environment (or to take the last
 * one's away), `helm upgrade` sets it as hub.extraEnv (podEnvValues: a crashed container the kubelet starts again
 * stays down, as the local process the test has not started again) and the rolled Deployment's pod is waited for
 * until it runs (it may crash before it is Ready); without, the pods are deleted and the Deployment's next ones
 * waited for until Ready, as an operator's `kubectl delete pod` does.
 */
export async function restartHub(env: NodeJS.ProcessEnv = {}): Promise<Started> {
  const state = readState()!;
  const node = chartHubNode(state);
  if (!node) {
    const rec = await restartProcess(state, 'hub', env);
    return { exited: () => Promise.resolve(!isOurs(rec)) };
  }
  const old = await hubPods(state);
  const gone = new Set(old.map((p) => p.metadata.uid));
  const fresh = async () => (await hubPods()).filter((p) => !gone.has(p.metadata.uid));
  const started = {
    exited: async () => (await fresh()).some((p) => injectedCrash(p.status?.containerStatuses?.[0])),
  };
  const injected = Object.keys(env).length > 0;
  if (injected || old.some(withPodEnv)) {
    await installHubChart([...podEnvValues('hub', env), ...rolloutValues('hub')]);
    // The rolled pods, not the ones before them (a Ready one of those would pass for the restarted hub).
    await eventually(
      async () => {
        const pods = await hubPods();
        const rolled = pods.filter(
          (p) => !gone.has(p.metadata.uid) && hasRun(p.status?.containerStatuses?.[0]),
        );
        return rolled.length > 0 && rolled.length === pods.length ? true : undefined;
      },
      180_000,
      `the hub's pods rolled by helm upgrade (${Object.keys(env).join(', ') || 'no test environment'}) running, the ones before them gone`,
    );
    if (injected) return started;
  } else
    await kubectl(memberOf(node), [
      '-n',
      HUB_NAMESPACE,
      'delete',
      'pod',
      ...old.map((p) => p.metadata.name),
      '--wait=true',
    ]);
  await waitHubPods(old.length || 1);
  return started;
}

/** A pod that a test's environment was given to (podEnvValues): a restart without one takes it away. */
const withPodEnv = (p: HubPod): boolean =>
  p.spec.containers.some((c) => c.env?.some((e) => e.name === CRASH_MARKER_ENV));

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

/** A GET on a hub pod's health port (the chart's hub.healthPort: /metrics, /readyz) inside its network namespace. */
export function hubPodHttpGet(pod: HubPod, path: string): { status: number; body: string } {
  return podHttpGet(
    pod.spec.nodeName!,
    pod.metadata.uid,
    `http://127.0.0.1:${chartHealthPorts().hub}${path}`,
  );
}
