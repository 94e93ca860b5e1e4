import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { FedContext } from './context.js';
import { cliVersion, ensureAgentImage, pushAgentImage, type AgentImage } from './agent-image.js';
import { memberNodes } from './members.js';
import { readState, startProcess, stopProcesses, writeState, type FedState } from './procs.js';
import { installChart } from './chart.js';
import { probe } from './probe.js';
import { kubectl } from './kubectl.js';
import { registryInfoPath, type RegistryInfo } from './registry.js';
import { requestedChartHub } from './chart-hub.js';
import type { ContainerStatusView } from './pod-crash.js';
import { runningContainersOfPod } from './runtimes.js';

/**
 * The nodes where the chart's agent DaemonSet runs as a pod from the product image, instead of the local agent
 * process (agents.ts): FED_CHART_PODS=m1-b[,m1-a...] at `fed up` (or `pnpm fed up --chart-pods m1-b`). Opt-in,
 * since the image costs a build on a cold cache and a push on every `fed up`; recorded in the state, so the suite
 * and every later `helm upgrade` (chart.ts) see the same choice.
 */
export const CHART_PODS_ENV = 'FED_CHART_PODS';

/** The node label the federation's values select the agent DaemonSet's nodes by (chart.ts). */
export const AGENT_PODS_LABEL = 'stateful-migration.dcnlab.com/agent-pods';

interface ChartPodsState {
  chartPods?: string[];
  agentImage?: AgentImage;
}

const extra = (state: FedState | undefined): ChartPodsState => (state?.extra ?? {}) as ChartPodsState;

/** The nodes whose agent is the chart's pod, as `fed up` recorded them (none when the option was not given). */
export function chartPodNodes(state = readState()): string[] {
  return extra(state).chartPods ?? [];
}

/** Where `fed up` pushed the agent image, when it runs chart pods. */
export function agentImageOf(state = readState()): AgentImage | undefined {
  return extra(state).agentImage;
}

/** The option's nodes, each checked to be one of the federation's (a typo would silently run the local agent). */
export function requestedChartPods(value = process.env[CHART_PODS_ENV] ?? ''): string[] {
  const all = Object.values(memberNodes).flat();
  const nodes = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = nodes.filter((n) => !all.includes(n));
  if (unknown.length)
    throw new Error(
      `${CHART_PODS_ENV}: no node ${unknown.join(', ')} in the federation (nodes: ${all.join(', ')})`,
    );
  return [...new Set(nodes)];
}

/**
 * With chart pods asked for: the agent image for the working tree (cached by its inputs, built on a miss), pushed
 * to the federation's registry (fresh at every `fed up`), and the choice recorded for chart.ts and agents.ts.
 */
export async function prepareChartPods(ctx: FedContext): Promise<void> {
  const nodes = requestedChartPods();
  // The hub's pod (chart-hub.ts) runs the same image.
  const hub = requestedChartHub();
  if (!nodes.length && !hub) return;
  const info = JSON.parse(readFileSync(registryInfoPath(), 'utf8')) as RegistryInfo;
  const { layout, hash } = await ctx.step('agent-image (build or cache)', () =>
    Promise.resolve(ensureAgentImage()),
  );
  // The tag says which inputs it was built from; the chart pins the digest, so the tag is for people.
  const image = await ctx.step('agent-image (push)', () =>
    Promise.resolve(pushAgentImage(info, layout, `${cliVersion()}-${hash.slice(0, 12)}`)),
  );
  ctx.state.extra = {
    ...ctx.state.extra,
    chartPods: nodes,
    agentImage: image,
    ...(hub ? { chartHub: hub } : {}),
  };
  writeState(ctx.state);
}

export const memberOf = (node: string): string =>
  Object.entries(memberNodes).find(([, nodes]) => nodes.includes(node))![0];

/** Labels the chart-pod nodes, so the DaemonSet Karmada carries schedules its pods there (the values' nodeSelector). */
export async function labelChartPodNodes(ctx: FedContext): Promise<void> {
  for (const node of chartPodNodes(ctx.state))
    await kubectl(memberOf(node), ['label', 'node', node, `${AGENT_PODS_LABEL}=true`, '--overwrite']);
}

export interface AgentPod {
  metadata: { name: string; uid: string };
  spec: { nodeName?: string; containers: { image: string; env?: { name: string; value?: string }[] }[] };
  status?: {
    phase?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: ({
      image: string;
      imageID: string;
      ready: boolean;
      restartCount: number;
      state?: Record<string, { reason?: string; message?: string; startedAt?: string }>;
    } & ContainerStatusView)[];
  };
}

/** The agent DaemonSet's pod on a node, as the member's apiserver has it. */
export async function agentPodOn(node: string): Promise<AgentPod | undefined> {
  const list = JSON.parse(
    await kubectl(memberOf(node), [
      '-n',
      'stateful-migration',
      'get',
      'pods',
      `--field-selector=spec.nodeName=${node}`,
      '-o',
      'json',
    ]),
  ) as { items: AgentPod[] };
  return list.items.find((p) => p.metadata.name.startsWith('checkpoint-backup-controller-'));
}

export const isReady = (p: AgentPod | undefined): boolean =>
  p?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

/**
 * Waits until the chart's agent pod on a node is Ready, as the local agents are waited for: the image pulled, the
 * container started, and its readiness probe (/readyz: the agent's informers synced) passing. A pod that is not
 * fails with its container's state and the last line of its log (`kubectl logs`), which name what stops it.
 */
export async function waitAgentPod(
  node: string,
  until: 'started' | 'ready' = 'ready',
  timeoutMs = 120_000,
): Promise<AgentPod> {
  const deadline = Date.now() + timeoutMs;
  let last: AgentPod | undefined;
  for (;;) {
    last = await agentPodOn(node).catch(() => undefined);
    if ((until === 'ready' ? isReady : isStarted)(last)) return last!;
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new Error(
    `the agent pod on ${node} was not ${until === 'ready' ? 'Ready' : 'started'} after ${timeoutMs / 1000} s; ${await whyNot(node, last)}`,
  );
}

/** What a pod that is not Ready says about it: its container's state and its log's last line (`kubectl logs`). */
async function whyNot(node: string, pod: AgentPod | undefined): Promise<string> {
  if (!pod) return 'the DaemonSet has no pod there (is the node labelled?)';
  const log = await kubectl(memberOf(node), [
    '-n',
    'stateful-migration',
    'logs',
    pod.metadata.name,
    '--tail=1',
  ])
    .then((l) => l.trim())
    .catch((e: Error) => e.message);
  const state = JSON.stringify(pod.status?.containerStatuses?.[0]?.state);
  return `${pod.metadata.name} is ${pod.status?.phase}, its container ${state}; its log's last line: ${log}`;
}

const isStarted = (p: AgentPod | undefined): boolean => !!p?.status?.containerStatuses?.[0]?.state?.running;

export async function waitAgentPods(ctx: FedContext): Promise<void> {
  for (const node of chartPodNodes(ctx.state))
    await ctx.step(`agent pod on ${node}`, () => waitAgentPod(node));
}

/**
 * Makes the chart's DaemonSet pod the agent of `node` on a federation that is up (a test's before()): the image
 * pushed, the node's local agent process stopped (two agents for one node would both act on its backups), the node
 * labelled and the chart upgraded to the image (waitAgentPod waits for its pod). Returns what undoes it, back to
 * the local agent, when this call switched it; a node already running its chart pod is left as it is.
 */
export async function useChartPod(node: string): Promise<() => Promise<void>> {
  const state = readState();
  if (!state) throw new Error('the federation is not up');
  if (chartPodNodes(state).includes(node)) return async () => undefined;
  let image = agentImageOf(state);
  if (!image) {
    const info = JSON.parse(readFileSync(registryInfoPath(), 'utf8')) as RegistryInfo;
    const { layout, hash } = ensureAgentImage();
    image = pushAgentImage(info, layout, `${cliVersion()}-${hash.slice(0, 12)}`);
  }
  const local = state.procs.find((p) => p.name === `agent-${node}`);
  if (local) {
    await stopProcesses([local]);
    state.procs = state.procs.filter((p) => p !== local);
  }
  state.extra = { ...state.extra, chartPods: [...chartPodNodes(state), node], agentImage: image };
  writeState(state);
  await kubectl(memberOf(node), ['label', 'node', node, `${AGENT_PODS_LABEL}=true`, '--overwrite']);
  await installChart();
  return async () => {
    const s = readState()!;
    const rest = chartPodNodes(s).filter((n) => n !== node);
    // With no chart pods left, the values go back to the chart's image, as a federation without them has.
    s.extra = { ...s.extra, chartPods: rest, agentImage: rest.length ? image : undefined };
    writeState(s);
    await kubectl(memberOf(node), ['label', 'node', node, `${AGENT_PODS_LABEL}-`]);
    await installChart();
    for (let t = Date.now(); await agentPodOn(node);) {
      if (Date.now() - t > 120_000) throw new Error(`the agent pod on ${node} is still there after 120 s`);
      await new Promise((r) => setTimeout(r, 1000));
    }
    if (local?.args) {
      const rec = startProcess(s, local.name, local.exe, local.args, local.port ? { port: local.port } : {});
      for (let t = Date.now(); !(await probe(`http://127.0.0.1:${rec.port}/readyz`));) {
        if (Date.now() - t > 60_000)
          throw new Error(`${local.name} was not ready after 60 s (log: ${rec.log})`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  };
}

/**
 * A listener at 127.0.0.1:<port> that accepts connections and never answers (a registry that hangs), in the network
 * namespace of the agent pod of each of `nodes` whose agent is the chart's pod: an agent there dials 127.0.0.1 in its
 * own namespace, where a local agent dials this machine's (on which the test listens itself). The stand-ins forward
 * only the federation's own services into pods (ADR 0011), so a test's server on this machine is not what a pod
 * reaches. Returns what stops the listeners.
 */
export async function hangingListenersInAgentPods(nodes: string[], port: number): Promise<() => void> {
  const script = `require('node:net').createServer(() => {}).listen(Number(process.argv[1]), '127.0.0.1', () => console.log('listening'))`;
  const started: ReturnType<typeof spawn>[] = [];
  const stop = () => started.forEach((c) => c.kill());
  try {
    for (const node of nodes.filter((n) => chartPodNodes().includes(n))) {
      const pod = await agentPodOn(node);
      const pid = pod && runningContainersOfPod(node, pod.metadata.uid)[0]?.pid;
      if (!pid) throw new Error(`no running agent container on ${node}`);
      const child = spawn(
        'nsenter',
        [`--net=/proc/${pid}/ns/net`, process.execPath, '-e', script, String(port)],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      started.push(child);
      await new Promise<void>((resolve, reject) => {
        let err = '';
        child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
        child.stdout!.on('data', (d: Buffer) => d.toString().includes('listening') && resolve());
        child.on('exit', (code) =>
          reject(new Error(`the listener in ${node}'s agent pod exited ${code}: ${err}`)),
        );
      });
    }
  } catch (e) {
    stop();
    throw e;
  }
  return stop;
}
