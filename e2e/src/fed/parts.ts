import type { FedContext } from './context.js';
import {
  clusters,
  members,
  startApiserver,
  startControllerManager,
  startEtcd,
  startScheduler,
} from './control-plane.js';
import {
  enableClusterFailover,
  installKarmadaApis,
  startAggregatedApiserver,
  startKarmadaControllers,
  startWebhook,
} from './karmada.js';
import { joinMember, startNodes, waitMembersReady } from './members.js';
import { startRegistry } from './registry.js';
import { startAgents } from './agents.js';
import { startHub } from './hub.js';
import { chartHubNode, startHubPod } from './chart-hub.js';
import { installChart } from './chart.js';
import { freePort } from './procs.js';
import { labelChartPodNodes, prepareChartPods, waitAgentPods } from './chart-pods.js';

/** One piece of the federation that `fed up` brings up, in order. Later features append their own. */
export interface FedPart {
  name: string;
  up(ctx: FedContext): Promise<void>;
}

const memberControllers =
  // root-ca-cert-publisher: kube-root-ca.crt in every namespace, which the default token volume projects.
  'deployment,replicaset,daemonset,statefulset,job,namespace,garbagecollector,serviceaccount,serviceaccount-token,nodelifecycle,podgc,root-ca-cert-publisher';

export const parts: FedPart[] = [
  { name: 'etcd', up: startEtcd },
  {
    name: 'apiservers',
    up: async (ctx) => void (await Promise.all(clusters.map((c) => startApiserver(ctx, c)))),
  },
  { name: 'karmada-apis', up: installKarmadaApis },
  { name: 'karmada-aggregated-apiserver', up: startAggregatedApiserver },
  { name: 'karmada-webhook', up: startWebhook },
  {
    name: 'controllers',
    up: async (ctx) => {
      await Promise.all([
        startKarmadaControllers(ctx),
        startControllerManager(ctx, 'karmada', 'namespace,garbagecollector'),
        ...members.flatMap((m) => [
          startControllerManager(ctx, m, memberControllers),
          startScheduler(ctx, m),
        ]),
      ]);
    },
  },
  // The registry before the nodes: every node forwards its pods to the registry's port, which must be bound by then
  // (a port picked early and bound after the nodes are Ready can be taken by another process in between).
  { name: 'registry', up: startRegistry },
  // Only with FED_CHART_PODS: the product image, built or taken from the cache, pushed to the registry.
  { name: 'agent-image', up: prepareChartPods },
  { name: 'nodes', up: startNodes },
  {
    name: 'members',
    up: async (ctx) => {
      for (const m of members) await joinMember(ctx, m);
      await waitMembersReady(ctx);
    },
  },
  { name: 'cluster-failover', up: enableClusterFailover },
  // The chart on the Karmada apiserver (helm install): Karmada carries the agent's objects to the members.
  // The hub's webhook port is chosen first: the chart's member policy names the hub's URL (hub.webhook.url).
  {
    name: 'chart',
    up: async (ctx) => {
      if (ctx.state.ports['hub-webhook'] === undefined)
        ctx.setPort('hub-webhook', await freePort('hub-webhook'));
      await labelChartPodNodes(ctx);
      await installChart();
    },
  },
  { name: 'agents', up: startAgents },
  { name: 'agent-pods', up: waitAgentPods },
  // FED_CHART_HUB: the hub as the chart's Deployment on a member (chart-hub.ts), else the local process.
  { name: 'hub', up: (ctx) => (chartHubNode(ctx.state) ? startHubPod(ctx) : startHub(ctx)) },
];
