import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { cliVersion, ensureAgentImage, pushAgentImage } from './agent-image.js';
import { ensurePki } from './certs.js';
import { FedContext } from './context.js';
import { CHART, helm, imageValues } from './chart.js';
import { agentImageOf, chartPodNodes, memberOf } from './chart-pods.js';
import { apply, kubectl } from './kubectl.js';
import { memberNodes } from './members.js';
import type { ContainerStatusView } from './pod-crash.js';
import { fedDir, repoRoot } from './paths.js';
import { probe } from './probe.js';
import { eventually } from '@stateful-migration/kube/testing';
import {
  freePort,
  portTaken,
  readState,
  startProcess,
  stopProcesses,
  writeState,
  type FedState,
} from './procs.js';
import { registryInfoPath, type RegistryInfo } from './registry.js';

/**
 * The node whose member cluster hosts the hub as the chart's Deployment (installMode=host), in a pod from the
 * product image, instead of the local hub process (hub.ts): FED_CHART_HUB=m1-a at `fed up` (or `pnpm fed up
 * --chart-hub m1-a`). The member plays the cluster that hosts Karmada's controllers; the pod reaches the Karmada
 * apiserver through its node's forwarder (ADR 0011), with the kubeconfig from a Secret, as docs/install.md says.
 * Recorded in the state, so the suite's helpers (restartHub, hubLogs in hub.ts) act on the pod.
 */
export const CHART_HUB_ENV = 'FED_CHART_HUB';

/** The hub's release on the host cluster; the Karmada release (chart.ts) is another, as Karmada's own charts split. */
export const HUB_RELEASE = 'stateful-migration-hub';
export const HUB_NAMESPACE = 'karmada-system';

/** The node label the hub release's nodeSelector uses: the hub's pods land on the node the option named. */
export const HUB_POD_LABEL = 'stateful-migration.dcnlab.com/hub-pod';

const extra = (state: FedState | undefined): { chartHub?: string } =>
  (state?.extra ?? {}) as { chartHub?: string };

/** The node the hub's pod runs on, as `fed up` recorded it; undefined when the hub is the local process. */
export function chartHubNode(state = readState()): string | undefined {
  return extra(state).chartHub;
}

/** The option's node, checked to be one of the federation's (a typo would silently run the local hub). */
export function requestedChartHub(value = process.env[CHART_HUB_ENV] ?? ''): string | undefined {
  const node = value.trim();
  if (!node) return undefined;
  const all = Object.values(memberNodes).flat();
  if (!all.includes(node))
    throw new Error(`${CHART_HUB_ENV}: no node ${node} in the federation (nodes: ${all.join(', ')})`);
  return node;
}

export interface HubPod {
  metadata: { name: string; uid: string; deletionTimestamp?: string };
  spec: {
    nodeName?: string;
    containers: { image: string; args?: string[]; env?: { name: string; value?: string }[] }[];
  };
  status?: {
    phase?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: ({
      image: string;
      imageID: string;
      ready: boolean;
      restartCount: number;
    } & ContainerStatusView)[];
  };
}

const hubSelector = `app.kubernetes.io/instance=${HUB_RELEASE},app.kubernetes.io/component=hub`;

/** The hub Deployment's pods on the host member, as its apiserver has them. */
export async function hubPods(state = readState()): Promise<HubPod[]> {
  const node = chartHubNode(state);
  return node ? hubPodsIn(memberOf(node)) : [];
}

async function hubPodsIn(member: string): Promise<HubPod[]> {
  const list = JSON.parse(
    await kubectl(member, ['-n', HUB_NAMESPACE, 'get', 'pods', '-l', hubSelector, '-o', 'json']),
  ) as { items: HubPod[] };
  return list.items;
}

/** Who holds the hub's leader Lease on the Karmada apiserver: a local hub's --identity, or a pod's name. */
export const hubLeaseHolder = async (): Promise<string> =>
  (
    await kubectl('karmada', [
      '-n',
      HUB_NAMESPACE,
      'get',
      'lease',
      'stateful-migration-hub',
      '-o',
      'jsonpath={.spec.holderIdentity}',
    ])
  ).trim();

export const isReadyPod = (p: HubPod): boolean =>
  !p.metadata.deletionTimestamp &&
  (p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false);

/**
 * Waits until `count` hub pods are Ready and no other hub pod is left (a rolled or deleted one gone): the image
 * pulled, the container started and its readiness probe (/readyz) passing. Returns the Ready pods. A timeout names
 * each pod's phase and its log's last line (`kubectl logs`).
 */
export async function waitHubPods(count = 1, timeoutMs = 180_000): Promise<HubPod[]> {
  const node = chartHubNode();
  if (!node) throw new Error('the hub is not a pod on this federation (fed up without --chart-hub)');
  const deadline = Date.now() + timeoutMs;
  let last: HubPod[] = [];
  for (;;) {
    last = await hubPods().catch(() => []);
    const ready = last.filter(isReadyPod);
    if (ready.length === count && last.length === count) return ready;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const why = await Promise.all(
    last.map(async (p) => {
      const log = await kubectl(memberOf(node), ['-n', HUB_NAMESPACE, 'logs', p.metadata.name, '--tail=1'])
        .then((l) => l.trim())
        .catch((e: Error) => e.message);
      return `${p.metadata.name} is ${p.status?.phase} (${JSON.stringify(p.status?.conditions)}); its log's last line: ${log}`;
    }),
  );
  throw new Error(
    `${count} Ready hub pod(s) were not there after ${timeoutMs / 1000} s: ${why.join('; ') || 'no hub pod'}`,
  );
}

/**
 * The hub release's values on the host member: installMode=host, the product image by digest, one replica (the
 * Lease is held all the same; a test scales to two), the pods on the node labelled for them, the platform's registry
 * as the default secret's; the webhook at the relay's address (webhook-relay.ts), with the members' apiservers'
 * client CA.
 */
export function hubValues(): string[] {
  const image = agentImageOf();
  if (!image) throw new Error('no product image pushed: fed up --chart-hub pushes it');
  const registry = (JSON.parse(readFileSync(registryInfoPath(), 'utf8')) as RegistryInfo).url;
  const webhook = readState()?.ports['hub-webhook'];
  return [
    '--set',
    'installMode=host',
    '--set',
    `defaultSecretRegistries={${registry}}`,
    '--set',
    'hub.replicas=1',
    '--set-string',
    `hub.nodeSelector.${HUB_POD_LABEL.replace(/\./g, '\\.')}=true`,
    // The members' apiservers call the webhook where the relay (webhook-relay.ts) listens, as they call the local
    // hub's; the chart's member admission policy (chart.ts) names that same URL.
    ...(webhook
      ? [
          '--set',
          `hub.webhook.url=https://127.0.0.1:${webhook}`,
          '--set',
          `hub.webhook.clientCASecretName=${WEBHOOK_CLIENT_CA_SECRET}`,
        ]
      : []),
    ...imageValues(image),
  ];
}

/** `helm upgrade --install` of the hub release on the host member. */
export async function installHubChart(extraArgs: string[] = []): Promise<string> {
  const node = chartHubNode();
  if (!node) throw new Error('the hub is not a pod on this federation (fed up without --chart-hub)');
  return helm(
    [
      'upgrade',
      '--install',
      HUB_RELEASE,
      CHART,
      '--namespace',
      HUB_NAMESPACE,
      '--create-namespace',
      ...hubValues(),
      ...extraArgs,
    ],
    memberOf(node),
  );
}

/**
 * The Secret the hub's Deployment mounts at /etc/karmada (hub.kubeconfigSecret): a kubeconfig for the
 * ServiceAccount stateful-migration-hub on the Karmada apiserver (a TokenRequest, as docs/install.md makes it) at
 * the address the pod's forwarder listens on. Applied from stdin, so the token is in no argv.
 */
export async function applyHubKubeconfigSecret(ctx: FedContext, member: string): Promise<void> {
  const tr = await ctx
    .client('karmada')
    .request<{ status: { token: string } }>(
      'POST',
      `/api/v1/namespaces/${HUB_NAMESPACE}/serviceaccounts/stateful-migration-hub/token`,
      {
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { expirationSeconds: 7 * 24 * 3600 },
        },
      },
    );
  const kubeconfig = stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'karmada',
        cluster: {
          server: `https://127.0.0.1:${ctx.port('karmada-apiserver')}`,
          'certificate-authority-data': readFileSync(ctx.pki.ca).toString('base64'),
        },
      },
    ],
    users: [{ name: 'stateful-migration-hub', user: { token: tr.status.token } }],
    contexts: [{ name: 'karmada', context: { cluster: 'karmada', user: 'stateful-migration-hub' } }],
    'current-context': 'karmada',
  });
  await kubectl(member, ['create', 'namespace', HUB_NAMESPACE]).catch((e: Error) => {
    if (!/AlreadyExists/.test(e.message)) throw e;
  });
  await apply(
    member,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'stateful-migration-hub-kubeconfig', namespace: HUB_NAMESPACE },
      type: 'Opaque',
      data: { kubeconfig: Buffer.from(kubeconfig).toString('base64') },
    }),
  );
}

/**
 * The hub pod's kubeconfig Secret made again, from a new token (a test that deleted and recreated the Karmada
 * release deleted the ServiceAccount, and with it every token of the old one): what an operator does after
 * reinstalling, as docs/install.md makes it. The pod reads it at start: restart it (restartHub) after this.
 */
export async function renewHubKubeconfig(): Promise<void> {
  const node = chartHubNode();
  if (!node) throw new Error('the hub is not a pod on this federation (fed up without --chart-hub)');
  await applyHubKubeconfigSecret(
    new FedContext(readState()!, ensurePki(join(fedDir, 'pki'))),
    memberOf(node),
  );
}

/**
 * The Secrets of the hub's webhook (hub.webhook.secretName, clientCASecretName) on the host member: the
 * federation's serving certificate (it names 127.0.0.1, where the relay listens) and CA, and the CA of the members'
 * apiservers' client certificates (their AdmissionConfiguration), so the pod answers them only, as the local hub.
 */
async function applyHubWebhookSecrets(ctx: FedContext, member: string): Promise<void> {
  const b64 = (f: string): string => readFileSync(f).toString('base64');
  const secret = (name: string, data: Record<string, string>) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: HUB_NAMESPACE },
    data,
  });
  await apply(
    member,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        secret('stateful-migration-hub-webhook', {
          'tls.crt': b64(ctx.pki.servingCert),
          'tls.key': b64(ctx.pki.servingKey),
          'ca.crt': b64(ctx.pki.ca),
        }),
        secret(WEBHOOK_CLIENT_CA_SECRET, { 'ca.crt': b64(ctx.pki.ca) }),
      ],
    }),
  );
}

const WEBHOOK_CLIENT_CA_SECRET = 'stateful-migration-hub-webhook-client-ca';

/** The relay that carries the members' apiservers' calls into the hub's pod (webhook-relay.ts). */
async function startWebhookRelay(ctx: FedContext): Promise<void> {
  const port = ctx.state.ports['hub-webhook'] ?? (await freePort('hub-webhook'));
  ctx.setPort('hub-webhook', port);
  await ctx.run(
    'hub-webhook-relay',
    process.execPath,
    [join(repoRoot, 'e2e/dist/fed/webhook-relay.js'), `127.0.0.1:${port}`, String(HUB_WEBHOOK_POD_PORT)],
    () => portTaken(port),
    { port },
  );
}

/** The chart's default hub.webhook.port: where the hub serves in its pod. */
const HUB_WEBHOOK_POD_PORT = 8443;

/** The hub as the chart's Deployment on the host member: the kubeconfig Secret, the node labelled, the release. */
export async function startHubPod(ctx: FedContext): Promise<void> {
  const node = chartHubNode(ctx.state)!;
  const member = memberOf(node);
  await ctx.step('hub kubeconfig secret', () => applyHubKubeconfigSecret(ctx, member));
  await ctx.step('hub webhook secrets', () => applyHubWebhookSecrets(ctx, member));
  await startWebhookRelay(ctx);
  await kubectl(member, ['label', 'node', node, `${HUB_POD_LABEL}=true`, '--overwrite']);
  await ctx.step('hub chart (installMode=host)', () => installHubChart());
  await ctx.step(`hub pod on ${node}`, () => waitHubPods(1));
}

/**
 * Makes the chart's Deployment the hub on a federation that is up (a test's before()), on `node`: the image pushed
 * if `fed up` did not, the local hub process stopped (two hubs would each hold their own view of the Lease's
 * holder, but a standby local hub would take over when the pod stops: the test would not see the pod's work), the
 * release installed and its pod Ready. Returns what undoes it, back to the local process, when this call switched;
 * a federation already running the hub's pod is left as it is.
 */
export async function useChartHub(node: string): Promise<() => Promise<void>> {
  const state = readState();
  if (!state) throw new Error('the federation is not up');
  if (chartHubNode(state)) return async () => undefined;
  let image = agentImageOf(state);
  if (!image) {
    const info = JSON.parse(readFileSync(registryInfoPath(), 'utf8')) as RegistryInfo;
    const { layout, hash } = ensureAgentImage();
    image = pushAgentImage(info, layout, `${cliVersion()}-${hash.slice(0, 12)}`);
  }
  const local = state.procs.find((p) => p.name === 'hub');
  if (local) {
    await stopProcesses([local]);
    state.procs = state.procs.filter((p) => p !== local);
  }
  state.extra = { ...state.extra, chartHub: node, agentImage: image };
  writeState(state);
  await startHubPod(new FedContext(state, ensurePki(join(fedDir, 'pki'))));
  return async () => {
    const member = memberOf(node);
    await helm(['uninstall', HUB_RELEASE, '--namespace', HUB_NAMESPACE, '--wait'], member);
    await kubectl(member, ['label', 'node', node, `${HUB_POD_LABEL}-`]);
    const relay = readState()!.procs.filter((p) => p.name === 'hub-webhook-relay');
    await stopProcesses(relay);
    for (let t = Date.now(); (await hubPods()).length;) {
      if (Date.now() - t > 120_000)
        throw new Error(`the hub's pods are still there 120 s after helm uninstall`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    const s = readState()!;
    s.procs = s.procs.filter((p) => p.name !== 'hub-webhook-relay');
    const rest = { ...extra(s) } as Record<string, unknown>;
    delete rest.chartHub;
    s.extra = { ...rest, ...(chartPodNodes(s).length ? {} : { agentImage: undefined }) };
    writeState(s);
    if (local?.args) {
      const rec = startProcess(s, local.name, local.exe, local.args, local.port ? { port: local.port } : {});
      for (let t = Date.now(); !(await probe(`http://127.0.0.1:${rec.port}/readyz`));) {
        if (Date.now() - t > 60_000) throw new Error(`the hub was not ready after 60 s (log: ${rec.log})`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };
}

/**
 * Keeps the hub's pod out of `member` while a case takes that member, or its nodes, away: drain cordons and drains
 * member1's nodes (evicting a hub pod there, whose replacement then has nowhere to go, while the drain waits on the
 * hub's eviction gate), `fed fail` freezes every container of the member, the hub's with them. Where the hub is the
 * chart's pod in that member, it is moved to the last node of another member (that member plays the host of Karmada's
 * controllers meanwhile: the hub needs only its kubeconfig Secret there, docs/install.md step 3) and its Lease waited
 * for; returns what moves it back. A local hub process, or a pod elsewhere already, is left as it is.
 */
export async function hubPodAwayFrom(member: string): Promise<() => Promise<void>> {
  const from = chartHubNode();
  if (!from || memberOf(from) !== member) return async () => undefined;
  const to = Object.entries(memberNodes)
    .filter(([m]) => m !== member)
    .flatMap(([, nodes]) => nodes)
    .at(-1);
  if (!to) throw new Error(`no member other than ${member} to move the hub's pod to`);
  await moveHubPod(from, to);
  return () => moveHubPod(to, from);
}

/**
 * The hub release uninstalled where it runs (its pods gone: two hubs never act at once beyond the Lease) and
 * installed again with its pod on `to`, as an operator moves the hub to another host cluster: the kubeconfig and
 * webhook Secrets there, the node labelled. The webhook relay follows the new pod by itself (it reads the state).
 * Done when the new pod is Ready and holds the Lease.
 */
async function moveHubPod(from: string, to: string): Promise<void> {
  const src = memberOf(from);
  await helm(['uninstall', HUB_RELEASE, '--namespace', HUB_NAMESPACE, '--wait'], src);
  await kubectl(src, ['label', 'node', from, `${HUB_POD_LABEL}-`]);
  await eventually(
    async () => ((await hubPodsIn(src)).length === 0 ? true : undefined),
    120_000,
    `the hub's pods gone from ${src} after helm uninstall`,
  );
  const state = readState()!;
  state.extra = { ...state.extra, chartHub: to };
  writeState(state);
  const ctx = new FedContext(state, ensurePki(join(fedDir, 'pki')));
  const dst = memberOf(to);
  await applyHubKubeconfigSecret(ctx, dst);
  await applyHubWebhookSecrets(ctx, dst);
  await kubectl(dst, ['label', 'node', to, `${HUB_POD_LABEL}=true`, '--overwrite']);
  await installHubChart();
  const [pod] = await waitHubPods(1);
  await eventually(
    async () => ((await hubLeaseHolder()) === pod!.metadata.name ? true : undefined),
    90_000,
    `the hub's Lease held by its pod ${pod!.metadata.name} on ${to}`,
  );
}
