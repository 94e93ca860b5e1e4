import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FedContext } from './context.js';
import { writeAdminKubeconfig } from './kubeconfig.js';
import { binary, fedDir, kubeconfigPath } from './paths.js';
import { probe } from './probe.js';
import { freePort } from './procs.js';

export const clusters = ['karmada', 'member1', 'member2'] as const;
export type ClusterName = (typeof clusters)[number];
export const members = ['member1', 'member2'] as const;

const serviceRanges: Record<ClusterName, string> = {
  karmada: '10.100.0.0/16',
  member1: '10.96.0.0/16',
  member2: '10.97.0.0/16',
};

/** The `kubernetes` Service's ClusterIP: the first address of the cluster's service range, as the apiserver gives it. */
export function kubernetesServiceIP(cluster: ClusterName): string {
  const [a, b, c] = serviceRanges[cluster].split('/')[0]!.split('.');
  return `${a}.${b}.${c}.1`;
}

/** One etcd for every apiserver; each keeps its own key prefix. */
export async function startEtcd(ctx: FedContext): Promise<void> {
  const port = await freePort('etcd');
  const peer = await freePort('etcd-peer');
  ctx.setPort('etcd', port);
  const data = join(fedDir, 'etcd');
  mkdirSync(data, { recursive: true, mode: 0o700 });
  await ctx.run(
    'etcd',
    binary('etcd'),
    [
      '--name=fed',
      `--data-dir=${data}`,
      `--listen-client-urls=http://127.0.0.1:${port}`,
      `--advertise-client-urls=http://127.0.0.1:${port}`,
      `--listen-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
      `--initial-cluster=fed=http://127.0.0.1:${peer}`,
      '--unsafe-no-fsync',
      '--log-level=warn',
      '--quota-backend-bytes=4294967296',
    ],
    () => probe(`http://127.0.0.1:${port}/health`),
    { port },
  );
}

/** A kube-apiserver for the Karmada control plane or a member, RBAC-authorized, on loopback. */
export async function startApiserver(ctx: FedContext, cluster: ClusterName): Promise<void> {
  const port = await freePort(`${cluster}-apiserver`);
  ctx.setPort(`${cluster}-apiserver`, port);
  const { pki } = ctx;
  const args = [
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${port}`,
    `--etcd-servers=http://127.0.0.1:${ctx.port('etcd')}`,
    `--etcd-prefix=/${cluster}`,
    `--tls-cert-file=${pki.servingCert}`,
    `--tls-private-key-file=${pki.servingKey}`,
    `--client-ca-file=${pki.ca}`,
    `--service-account-issuer=https://${cluster}.fed.local`,
    `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`,
    `--service-cluster-ip-range=${serviceRanges[cluster]}`,
    '--authorization-mode=RBAC',
    '--endpoint-reconciler-type=none',
    '--allow-privileged=true',
    '--enable-priority-and-fairness=false',
    '--profiling=false',
    '--event-ttl=2h',
  ];
  if (cluster !== 'karmada') {
    // kubectl logs: the apiserver reaches each node's kubelet endpoint with a client certificate, verifying its own.
    args.push(
      `--kubelet-client-certificate=${pki.adminCert}`,
      `--kubelet-client-key=${pki.adminKey}`,
      `--kubelet-certificate-authority=${pki.ca}`,
      '--kubelet-preferred-address-types=InternalIP',
      `--admission-control-config-file=${webhookAdmissionConfig(pki)}`,
    );
  }
  if (cluster === 'karmada') {
    // Karmada has no ServiceAccount controller of its own; the aggregation flags serve cluster.karmada.io.
    args.push(
      '--disable-admission-plugins=ServiceAccount',
      `--proxy-client-cert-file=${pki.frontProxyCert}`,
      `--proxy-client-key-file=${pki.frontProxyKey}`,
      `--requestheader-client-ca-file=${pki.ca}`,
      '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-username-headers=X-Remote-User',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
    );
  }
  const server = `https://127.0.0.1:${port}`;
  writeAdminKubeconfig(kubeconfigPath(cluster), cluster, server, pki);
  await ctx.run(
    `${cluster}-apiserver`,
    binary('kube-apiserver'),
    args,
    () => probe(`${server}/readyz`, pki),
    {
      port,
    },
  );
}

/** Flags shared by kube-controller-manager and kube-scheduler: serve health on a loopback port. */
async function servingArgs(
  ctx: FedContext,
  name: string,
  kubeconfig: string,
): Promise<{ port: number; args: string[] }> {
  const port = await freePort(name);
  ctx.setPort(name, port);
  return {
    port,
    args: [
      `--kubeconfig=${kubeconfig}`,
      `--authentication-kubeconfig=${kubeconfig}`,
      `--authorization-kubeconfig=${kubeconfig}`,
      '--bind-address=127.0.0.1',
      `--secure-port=${port}`,
      `--tls-cert-file=${ctx.pki.servingCert}`,
      `--tls-private-key-file=${ctx.pki.servingKey}`,
      '--leader-elect=false',
    ],
  };
}

export async function startControllerManager(
  ctx: FedContext,
  cluster: ClusterName,
  controllers: string,
): Promise<void> {
  const name = `${cluster}-kube-controller-manager`;
  const { port, args } = await servingArgs(ctx, name, kubeconfigPath(cluster));
  await ctx.run(
    name,
    binary('kube-controller-manager'),
    [
      ...args,
      `--controllers=${controllers}`,
      `--service-account-private-key-file=${ctx.pki.saKey}`,
      `--root-ca-file=${ctx.pki.ca}`,
      '--use-service-account-credentials=false',
      '--concurrent-deployment-syncs=5',
      '--node-monitor-grace-period=60s',
    ],
    () => probe(`https://127.0.0.1:${port}/healthz`, ctx.pki),
    { port },
  );
}

export async function startScheduler(ctx: FedContext, cluster: ClusterName): Promise<void> {
  const name = `${cluster}-kube-scheduler`;
  const { port, args } = await servingArgs(ctx, name, kubeconfigPath(cluster));
  await ctx.run(
    name,
    binary('kube-scheduler'),
    args,
    () => probe(`https://127.0.0.1:${port}/healthz`, ctx.pki),
    {
      port,
    },
  );
}

/**
 * The members' AdmissionConfiguration: their apiservers present a client certificate to admission webhooks, as an
 * operator configures a real member for the hub's webhook (docs/install.md). The kubeconfig's user is chosen by the
 * webhook's `host:port` (exact, then `*.domain`, then `*`); the hub's port is picked after the members start, so the
 * fed names it `*` (a member here calls no other webhook); a real cluster names the hub's host:port.
 */
function webhookAdmissionConfig(pki: FedContext['pki']): string {
  const kubeconfig = join(pki.dir, 'webhook-client.kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      users: [
        {
          name: '*',
          user: { 'client-certificate': pki.webhookClientCert, 'client-key': pki.webhookClientKey },
        },
      ],
    }),
  );
  const config = join(pki.dir, 'admission-config.yaml');
  const plugin = (name: string) => ({
    name,
    configuration: {
      apiVersion: 'apiserver.config.k8s.io/v1',
      kind: 'WebhookAdmissionConfiguration',
      kubeConfigFile: kubeconfig,
    },
  });
  writeFileSync(
    config,
    JSON.stringify({
      apiVersion: 'apiserver.config.k8s.io/v1',
      kind: 'AdmissionConfiguration',
      plugins: [plugin('MutatingAdmissionWebhook'), plugin('ValidatingAdmissionWebhook')],
    }),
  );
  return config;
}
