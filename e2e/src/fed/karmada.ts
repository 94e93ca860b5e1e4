import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { FedContext } from './context.js';
import { apply, kubectl } from './kubectl.js';
import { binary, fedDir, karmadaSourceDir, kubeconfigPath } from './paths.js';
import { probe } from './probe.js';
import { freePort } from './procs.js';

const karmadaConfig = (): string => kubeconfigPath('karmada');

/** Namespaces and Karmada's CRDs, as listed by the chart's kustomization in the Karmada module. */
export async function installKarmadaApis(ctx: FedContext): Promise<void> {
  await ctx.step('karmada-crds', async () => {
    await apply(
      'karmada',
      ['karmada-system', 'karmada-cluster']
        .map((n) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${n}\n`)
        .join('---\n'),
    );
    const crds = join(karmadaSourceDir(), 'charts/karmada/_crds');
    const kustomization = parse(readFileSync(join(crds, 'kustomization.yaml'), 'utf8')) as {
      resources: string[];
    };
    const docs = kustomization.resources.map((r) => readFileSync(join(crds, r), 'utf8'));
    await apply('karmada', docs.join('\n---\n'));
    await kubectl('karmada', ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  });
}

/** karmada-aggregated-apiserver, reached through an ExternalName Service to 127.0.0.1 and an APIService. */
export async function startAggregatedApiserver(ctx: FedContext): Promise<void> {
  const port = await freePort('karmada-aggregated-apiserver');
  ctx.setPort('karmada-aggregated-apiserver', port);
  const kc = karmadaConfig();
  await ctx.run(
    'karmada-aggregated-apiserver',
    binary('karmada-aggregated-apiserver'),
    [
      `--kubeconfig=${kc}`,
      `--authentication-kubeconfig=${kc}`,
      `--authorization-kubeconfig=${kc}`,
      `--etcd-servers=http://127.0.0.1:${ctx.port('etcd')}`,
      '--etcd-prefix=/karmada-aggregated',
      `--tls-cert-file=${ctx.pki.servingCert}`,
      `--tls-private-key-file=${ctx.pki.servingKey}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${port}`,
      '--audit-log-path=-',
      '--audit-log-maxage=0',
      '--audit-log-maxbackup=0',
    ],
    () => probe(`https://127.0.0.1:${port}/readyz`, ctx.pki),
    { port },
  );
  const caBundle = readFileSync(ctx.pki.ca).toString('base64');
  await ctx.step('karmada-apiservice', async () => {
    await apply(
      'karmada',
      `apiVersion: v1
kind: Service
metadata: {name: karmada-aggregated-apiserver, namespace: karmada-system}
spec: {type: ExternalName, externalName: 127.0.0.1, ports: [{port: ${port}, protocol: TCP}]}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1alpha1.cluster.karmada.io}
spec:
  caBundle: ${caBundle}
  group: cluster.karmada.io
  groupPriorityMinimum: 2000
  version: v1alpha1
  versionPriority: 10
  service: {name: karmada-aggregated-apiserver, namespace: karmada-system, port: ${port}}
`,
    );
    await kubectl('karmada', [
      'wait',
      '--for=condition=Available',
      '--timeout=60s',
      'apiservice/v1alpha1.cluster.karmada.io',
    ]);
  });
}

/** karmada-webhook and its configurations, pointed at https://127.0.0.1:<port>/ by URL. */
export async function startWebhook(ctx: FedContext): Promise<void> {
  const port = await freePort('karmada-webhook');
  const health = await freePort('karmada-webhook-health');
  ctx.setPort('karmada-webhook', port);
  const certDir = join(fedDir, 'pki', 'webhook');
  mkdirSync(certDir, { recursive: true });
  copyFileSync(ctx.pki.servingCert, join(certDir, 'tls.crt'));
  copyFileSync(ctx.pki.servingKey, join(certDir, 'tls.key'));
  await ctx.run(
    'karmada-webhook',
    binary('karmada-webhook'),
    [
      `--kubeconfig=${karmadaConfig()}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${port}`,
      `--cert-dir=${certDir}`,
      '--metrics-bind-address=0',
      `--health-probe-bind-address=127.0.0.1:${health}`,
      // Cluster failover (enableClusterFailover): a ClusterTaintPolicy may add NoExecute taints only with this.
      '--allow-no-execute-taint-policy=true',
    ],
    () => probe(`https://127.0.0.1:${port}/readyz/`, ctx.pki),
    { port },
  );
  const caBundle = readFileSync(ctx.pki.ca).toString('base64');
  const config = readFileSync(join(karmadaSourceDir(), 'artifacts/deploy/webhook-configuration.yaml'), 'utf8')
    .replaceAll('https://karmada-webhook.karmada-system.svc:443/', `https://127.0.0.1:${port}/`)
    .replaceAll('{{caBundle}}', caBundle);
  await ctx.step('karmada-webhook-config', () => apply('karmada', config));
}

/** karmada-controller-manager, karmada-scheduler and a kube-controller-manager for namespaces and GC. */
export async function startKarmadaControllers(ctx: FedContext): Promise<void> {
  const kc = karmadaConfig();
  for (const c of ['controller-manager', 'scheduler'] as const) {
    const name = `karmada-${c}`;
    const health = await freePort(`${name}-health`);
    ctx.setPort(`${name}-health`, health);
    // Karmada's default client limits (40 QPS) make propagating hundreds of objects crawl; a real control plane
    // raises them the same way.
    const limits = ['--kube-api-qps=200', '--kube-api-burst=400'];
    const extra =
      c === 'controller-manager'
        ? [
            '--cluster-status-update-frequency=5s',
            '--cluster-monitor-grace-period=20s',
            // Test-only: a healed member is Ready again after 5 s of successful health checks, not Karmada's 30 s
            // default (which guards production against a flapping network; `fed heal` is no flap). Each case that
            // heals a member waited those 25 s. Failure detection keeps the defaults (--cluster-failure-threshold 30 s
            // over the member client's 32 s timeout): the outage timings in docs/benchmarks.md are Karmada's own.
            '--cluster-success-threshold=5s',
            // Cluster failover as a user enables it (Karmada's failover guide): the Failover gate starts the taint
            // manager and the ClusterTaintPolicy controller; NoExecute eviction is opt-in. The federation's
            // ClusterTaintPolicy (clusterTaintPolicy below) turns a member's lost Ready into a NoExecute taint.
            // A workload migrates by a higher-priority PropagationPolicy that preempts the user's (docs/adr/0007); the
            // preemption gate is alpha in Karmada 1.18, enabled as a user enables it.
            '--feature-gates=Failover=true,PropagationPolicyPreemption=true',
            '--enable-no-execute-taint-eviction=true',
            '--cluster-api-qps=200',
            '--cluster-api-burst=400',
            ...limits,
          ]
        : limits;
    await ctx.run(
      name,
      binary(name),
      [
        `--kubeconfig=${kc}`,
        '--metrics-bind-address=0',
        `--health-probe-bind-address=127.0.0.1:${health}`,
        '--leader-elect=false',
        ...extra,
      ],
      () => probe(`http://127.0.0.1:${health}/healthz`),
    );
  }
}

/**
 * The ClusterTaintPolicy a platform team adds to turn on cluster failover (Karmada v1.14+ no longer taints a failed
 * cluster NoExecute by itself): a member whose Ready condition is not True gets `cluster.karmada.io/not-ready:NoExecute`,
 * and the taint manager evicts what does not tolerate it; the taint comes off once Ready is True again.
 */
export const clusterTaintPolicy = `apiVersion: policy.karmada.io/v1alpha1
kind: ClusterTaintPolicy
metadata:
  name: not-ready-no-execute
spec:
  addOnConditions:
    - conditionType: Ready
      operator: NotIn
      statusValues: ['True']
  removeOnConditions:
    - conditionType: Ready
      operator: In
      statusValues: ['True']
  taints:
    - key: cluster.karmada.io/not-ready
      effect: NoExecute
`;

export async function enableClusterFailover(ctx: FedContext): Promise<void> {
  await ctx.step('cluster-taint-policy', () => apply('karmada', clusterTaintPolicy));
}
