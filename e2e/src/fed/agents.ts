import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { members } from './control-plane.js';
import { memberNodes, nodeAddressOf } from './members.js';
import { binary, fedDir, nodeRootDir, nodeStorage, repoRoot } from './paths.js';
import { probe } from './probe.js';
import { freePort, isOurs, readState, restartProcess, stopProcesses, writeState } from './procs.js';
import { registryInfoPath, type RegistryInfo } from './registry.js';
import {
  AGENT_PODS_LABEL,
  agentPodOn,
  chartPodNodes,
  isReady,
  memberOf,
  waitAgentPod,
  type AgentPod,
} from './chart-pods.js';
import { chartHealthPorts, installChart } from './chart.js';
import { ensurePki } from './certs.js';
import { FedContext } from './context.js';
import { podHttpGet } from './runtimes.js';
import { kubectl } from './kubectl.js';
import { hasRun, injectedCrash, podEnvValues, rolloutValues, type Started } from './pod-crash.js';
import { CRASH_MARKER_ENV } from '@stateful-migration/kube';
import { eventually } from '@stateful-migration/kube/testing';
import { NODE_KUBELET_ROOT } from '../node/runtime/decisions.js';

/** What the agents need in a member before they start, all carried there by Karmada from the chart. */
const agentApis = [
  '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/checkpointbackups.migration.dcnlab.com',
  '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/checkpointbackups-own-namespace.migration.dcnlab.com',
  '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/checkpoint-backup-agent',
  '/apis/rbac.authorization.k8s.io/v1/namespaces/stateful-migration/rolebindings/checkpoint-backup-registry-credentials',
  '/api/v1/namespaces/stateful-migration/serviceaccounts/checkpoint-backup-sa',
];

/**
 * Waits until Karmada has carried the chart's agent objects (CRD, admission policy, RBAC, ServiceAccount) to the
 * member, as a DaemonSet's pods would wait for them, and returns a token of the agent's ServiceAccount there.
 */
async function installAgentApis(ctx: FedContext, member: string): Promise<string> {
  const client = ctx.client(member);
  const deadline = Date.now() + 180_000;
  for (const path of agentApis)
    while (
      !(await client.get(path).then(
        () => true,
        () => false,
      ))
    ) {
      if (Date.now() > deadline)
        throw new Error(
          `Karmada did not carry ${path} to ${member} within 180 s (see karmada-controller-manager's log)`,
        );
      await new Promise((r) => setTimeout(r, 1000));
    }
  const tr = await client.request<{ status: { token: string } }>(
    'POST',
    '/api/v1/namespaces/stateful-migration/serviceaccounts/checkpoint-backup-sa/token',
    {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 7 * 24 * 3600 },
      },
    },
  );
  return tr.status.token;
}

/** `sh -c` with `set -e` and the script's lines in a private mount namespace, so its mounts go away with the process. */
export function inPrivateMounts(script: string[], args: string[]): { exe: string; args: string[] } {
  const body = ['set -e', ...script].join('\n');
  return { exe: 'unshare', args: ['--mount', '--propagation', 'private', 'sh', '-c', body, 'sh', ...args] };
}

/**
 * A command run as on the node: with the node's kubelet root bound at /var/lib/kubelet, where the kubelet's answers
 * (/var/lib/kubelet/checkpoints/<file>) and the chart's hostPath point. `unshare` and `sh` exec the command, so the
 * recorded PID is the command's. The empty mount point the bind needs is the only trace outside the namespace.
 */
export const onNodeRoot = (node: string, exe: string, args: string[]): { exe: string; args: string[] } =>
  inPrivateMounts(
    ['mkdir -p "$2"', 'mount --rbind "$1" "$2"', 'shift 2', 'exec "$@"'],
    [nodeRootDir(node), NODE_KUBELET_ROOT, exe, ...args],
  );

/**
 * One agent per Node, as a local process against its member apiserver, with the token of the chart's
 * checkpoint-backup-sa (carried by Karmada), so its RBAC is the real one. Each node has its own containers-storage (vfs) under .fed/.
 */
export async function startAgents(ctx: FedContext): Promise<void> {
  for (const member of members) {
    const token = await installAgentApis(ctx, member);
    for (const node of memberNodes[member] ?? []) {
      // That node's agent is the chart's DaemonSet pod (chart-pods.ts): two agents for one node would both act on
      // its CheckpointBackups.
      if (chartPodNodes(ctx.state).includes(node)) continue;
      await startLocalAgent(ctx, member, node, token);
    }
  }
}

/** The local agent process of one node (startAgents), recorded as `agent-<node>`, waited for until ready. */
async function startLocalAgent(ctx: FedContext, member: string, node: string, token: string): Promise<void> {
  // The federation's registry is the platform's: the default secret may go there, and nowhere else (issue 11).
  const platformRegistry = (JSON.parse(readFileSync(registryInfoPath(), 'utf8')) as RegistryInfo).url;
  const server = `https://127.0.0.1:${ctx.port(`${member}-apiserver`)}`;
  const dir = join(fedDir, 'agents', node);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: member, cluster: { server, 'certificate-authority': ctx.pki.ca } }],
      users: [{ name: 'checkpoint-backup-sa', user: { 'token-file': tokenFile } }],
      contexts: [{ name: member, context: { cluster: member, user: 'checkpoint-backup-sa' } }],
      'current-context': member,
    }),
    { mode: 0o600 },
  );
  const health = await freePort(`agent-${node}`);
  ctx.setPort(`agent-${node}`, health);
  const cmd = onNodeRoot(node, process.execPath, [
    join(repoRoot, 'packages/cli/dist/main.js'),
    'agent',
    `--kubeconfig=${kubeconfig}`,
    `--node-name=${node}`,
    `--node-ip=${nodeAddressOf(ctx.state, node)}`,
    `--kubelet-port=${ctx.port(`kubelet-${node}`)}`,
    `--kubelet-ca=${ctx.pki.ca}`,
    `--token-file=${tokenFile}`,
    `--storage-root=${nodeStorage(node).root}`,
    `--storage-runroot=${nodeStorage(node).runroot}`,
    '--storage-driver=vfs',
    // Local images are written by the project's helper, as the agent image's /usr/local/bin/checkpoint-store.
    `--checkpoint-store=${binary('checkpoint-store')}`,
    // The node's path, as the chart's DaemonSet has it: the kubelet answers it (onNodeRoot binds it).
    `--checkpoint-dir=${NODE_KUBELET_ROOT}/checkpoints`,
    `--registry-ca=${ctx.pki.ca}`,
    `--health-port=${health}`,
    // The node's stand-in root: its CRI-O configuration (etc/crio/crio.conf.d/10-checkpoint-restore.conf,
    // written by the node stand-in) is what the agent publishes as the Node's checkpoint-restore label.
    `--host-root=${join(fedDir, 'nodes', node)}`,
    // Short, so e2e sees the periodic retention sweep (default 300 s).
    '--retention-interval=20',
    `--default-secret-registries=${platformRegistry}`,
  ]);
  await ctx.run(`agent-${node}`, cmd.exe, cmd.args, () => probe(`http://127.0.0.1:${health}/readyz`), {
    port: health,
  });
}

/**
 * Makes a local process the agent of `node` on a federation whose agent there is the chart's DaemonSet pod: the
 * inverse of useChartPod (chart-pods.ts), for a case about the local process itself (agent-image runs the image's
 * root filesystem as one). The node's label is taken off, so the DaemonSet's pod there goes (the other nodes' pods
 * stay as they are), and only once it is gone is the local agent started, as `fed up` starts it: two agents for one
 * node would both act on its backups. Returns what undoes it (the local process stopped, the label back, the pod
 * Ready); a node whose agent is already the local process is left as it is.
 */
export async function useLocalAgent(node: string): Promise<() => Promise<void>> {
  const state = readState();
  if (!state) throw new Error('the federation is not up');
  if (!chartPodNodes(state).includes(node)) return async () => undefined;
  const member = memberOf(node);
  await kubectl(member, ['label', 'node', node, `${AGENT_PODS_LABEL}-`]);
  await eventually(
    async () => ((await agentPodOn(node)) ? undefined : true),
    120_000,
    `the agent pod on ${node} gone after its node's ${AGENT_PODS_LABEL} label was taken off`,
  );
  state.extra = { ...state.extra, chartPods: chartPodNodes(state).filter((n) => n !== node) };
  writeState(state);
  const ctx = new FedContext(state, ensurePki(join(fedDir, 'pki')));
  await startLocalAgent(ctx, member, node, await installAgentApis(ctx, member));
  return async () => {
    const s = readState()!;
    await stopProcesses(s.procs.filter((p) => p.name === `agent-${node}`));
    s.procs = s.procs.filter((p) => p.name !== `agent-${node}`);
    s.extra = { ...s.extra, chartPods: [...chartPodNodes(s), node] };
    writeState(s);
    await kubectl(member, ['label', 'node', node, `${AGENT_PODS_LABEL}=true`, '--overwrite']);
    await waitAgentPod(node);
  };
}

/**
 * A GET on a node's agent's health port (/metrics, /readyz), wherever the agent runs: the local process's port on
 * this machine, or the chart's pod's (the chart's agent.healthPort) inside the pod's network namespace (podHttpGet).
 */
export async function agentHttpGet(node: string, path: string): Promise<{ status: number; body: string }> {
  if (!chartPodNodes().includes(node)) {
    const port = readState()!.ports[`agent-${node}`];
    if (port === undefined) throw new Error(`no health port recorded for agent-${node}`);
    const res = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: res.status, body: await res.text() };
  }
  const pod = await agentPodOn(node);
  if (!pod) throw new Error(`no agent pod on ${node}`);
  return podHttpGet(node, pod.metadata.uid, `http://127.0.0.1:${chartHealthPorts().agent}${path}`);
}

/**
 * Restarts a node's agent, wherever it runs, with extra environment (fault injection) or none, and returns what
 * tells when it has died (its injected crash): the local process, stopped and started again; or the chart's
 * DaemonSet pod on the node (chart-pods.ts) replaced. There, with environment (or to take the last one's away),
 * `helm upgrade` of the Karmada release sets it as agent.extraEnv (podEnvValues: a crashed container the kubelet
 * starts again stays down, as the local process the test has not started again); Karmada carries the DaemonSet to
 * the members, whose rollout replaces the agent pod of every chart-pod node, and this node's new pod is waited for
 * until it runs (with environment: it may crash before it is Ready) or is Ready (without). Without environment
 * before or now, the pod is deleted and the DaemonSet's next one waited for until Ready.
 */
export async function restartAgent(node: string, env: NodeJS.ProcessEnv = {}): Promise<Started> {
  const state = readState()!;
  if (!chartPodNodes(state).includes(node)) {
    const rec = await restartProcess(state, `agent-${node}`, env);
    return { exited: () => Promise.resolve(!isOurs(rec)) };
  }
  const old = await agentPodOn(node);
  const fresh = async () => {
    const p = await agentPodOn(node);
    return p && p.metadata.uid !== old?.metadata.uid ? p : undefined;
  };
  const started = { exited: async () => injectedCrash((await fresh())?.status?.containerStatuses?.[0]) };
  const injected = Object.keys(env).length > 0;
  const upgraded = injected || (!!old && withPodEnv(old));
  if (upgraded) await installChart([...podEnvValues('agent', env), ...rolloutValues('agent')]);
  else if (old)
    await kubectl(memberOf(node), [
      '-n',
      'stateful-migration',
      'delete',
      'pod',
      old.metadata.name,
      '--wait=true',
    ]);
  const up = injected
    ? (p: AgentPod | undefined) => hasRun(p?.status?.containerStatuses?.[0])
    : (p: AgentPod | undefined) => isReady(p);
  await eventually(
    async () => (up(await fresh()) ? true : undefined),
    180_000,
    `the agent pod on ${node} ${injected ? `with ${Object.keys(env).join(', ')} running` : 'Ready'}`,
  );
  // Taking the environment away rolled the agent of every chart-pod node, in both members, and an agent elsewhere
  // that met the same crash point is down until its new pod runs: the next case must not start before they are.
  if (upgraded && !injected)
    for (const other of chartPodNodes(state))
      await eventually(
        async () => {
          const p = await agentPodOn(other);
          return p && isReady(p) && !withPodEnv(p) ? true : undefined;
        },
        180_000,
        `the agent pod on ${other} Ready without the test's environment`,
      );
  return started;
}

/** A pod that a test's environment was given to (podEnvValues): a restart without one takes it away. */
const withPodEnv = (p: AgentPod): boolean =>
  p.spec.containers.some((c) => c.env?.some((e) => e.name === CRASH_MARKER_ENV));
