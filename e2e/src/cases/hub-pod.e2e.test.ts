// suite: alone — moves the hub into the chart's pod, upgrades the chart, cordons the hub's node
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CheckpointBackup } from '@stateful-migration/api';
import { pushAgentImage, ensureAgentImage } from '../fed/agent-image.js';
import { agentImageOf } from '../fed/chart-pods.js';
import {
  chartHubNode,
  HUB_NAMESPACE,
  hubLeaseHolder,
  hubPods,
  installHubChart,
  useChartHub,
  waitHubPods,
  type HubPod,
} from '../fed/chart-hub.js';
import { kubectl } from '../fed/kubectl.js';
import { podHttpGet } from '../fed/runtimes.js';
import { readState } from '../fed/procs.js';
import { getBackup, registryInfo, registrySecretYaml, runningPod } from './agent-support.js';
import { eventually, unique } from './support.js';

// Issue 15: the hub is the chart's Deployment (installMode=host) in a pod from the product image, on a member that
// plays the cluster hosting Karmada's controllers. On a federation brought up without --chart-hub the case
// switches the hub to the pod on m1-a itself, and back to the local process afterwards.
const node = chartHubNode() ?? 'm1-a';
const member = node.startsWith('m1-') ? 'member1' : 'member2';
const ns = unique('hubpod');
const hub = (args: string[], input?: string) => kubectl('karmada', args, input);

/** GET of a URL from inside the pod's network namespace (as a Prometheus in the pod network would scrape it). */
const fromPodNetwork = (uid: string, url: string): string => podHttpGet(node, uid, url).body;

const holder = hubLeaseHolder;

function backup(name: string, pod: string, workload = 'web'): string {
  const { url } = registryInfo();
  return `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: ${name}, namespace: ${ns}}
spec:
  schedule: immediately
  podRef: {name: ${pod}}
  resourceRef: {apiVersion: apps/v1, kind: Deployment, name: ${workload}}
  registry: {url: "${url}", repository: hubpod/${ns}, secretRef: {name: push-creds}}
`;
}

const memberPhase = (b: CheckpointBackup): string | undefined =>
  b.status?.clusters?.find((c) => c.name === 'member1')?.phase;

function waitCompleted(name: string): Promise<CheckpointBackup> {
  return eventually(
    async () => {
      const b = await getBackup('karmada', ns, name);
      return ['Completed', 'Failed'].includes(memberPhase(b) ?? '') ? b : undefined;
    },
    180_000,
    `${name}: member1's part Completed or Failed on the Karmada object`,
  );
}

describe(`the chart's hub Deployment in a pod on ${node} (installMode=host, issue 15)`, () => {
  let undo: (() => Promise<void>) | undefined;
  let webPod = '';
  let slowPod = '';
  before(async () => {
    undo = await useChartHub(node);
    const user = registryInfo().users[0]!;
    await hub(['create', 'namespace', ns]);
    await hub(
      ['apply', '-f', '-'],
      `${registrySecretYaml(ns, 'push-creds', user.username, user.password)}---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${ns}}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {kubernetes.io/hostname: m1-b}
      containers: [{name: app, image: "registry.local/app:1"}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: slow, namespace: ${ns}}
spec:
  replicas: 1
  selector: {matchLabels: {app: slow}}
  template:
    metadata:
      labels: {app: slow}
      # Its checkpoints take 45 s at the kubelet: a run still in progress while the hub's pod rolls.
      annotations: {standin.stateful-migration.dev/checkpoint-latency-ms: "45000"}
    spec:
      nodeSelector: {kubernetes.io/hostname: m1-b}
      containers: [{name: app, image: "registry.local/app:1"}]
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: web, namespace: ${ns}}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment, name: web}, {apiVersion: apps/v1, kind: Deployment, name: slow}]
  placement: {clusterAffinity: {clusterNames: [member1]}}
`,
    );
    webPod = await runningPod('member1', ns, 'web');
    slowPod = await runningPod('member1', ns, 'slow');
  });
  after(async () => {
    await hub(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
    await undo?.();
  });

  it('runs Ready from the product image by digest, with the kubeconfig only in its mounted Secret; it holds the Lease', async () => {
    const [pod] = await waitHubPods(1);
    const image = agentImageOf()!;
    assert.equal(pod!.spec.nodeName, node);
    assert.equal(pod!.spec.containers[0]!.image, `${image.repository}:${image.tag}@${image.digest}`);
    assert.equal(pod!.status!.containerStatuses![0]!.imageID, `${image.repository}@${image.digest}`);
    assert.equal(pod!.status!.containerStatuses![0]!.ready, true);
    // The token reaches the pod only as the Secret's file: not in its spec (argv, env), nor in its log.
    const secret = JSON.parse(
      await kubectl(member, [
        '-n',
        HUB_NAMESPACE,
        'get',
        'secret',
        'stateful-migration-hub-kubeconfig',
        '-o',
        'json',
      ]),
    ) as { data: { kubeconfig: string } };
    const token = /token: (\S+)/.exec(Buffer.from(secret.data.kubeconfig, 'base64').toString())![1]!;
    const spec = await kubectl(member, ['-n', HUB_NAMESPACE, 'get', 'pod', pod!.metadata.name, '-o', 'json']);
    assert.ok(!spec.includes(token), 'the token is not in the pod spec');
    const log = await kubectl(member, ['-n', HUB_NAMESPACE, 'logs', pod!.metadata.name]);
    assert.ok(!log.includes(token), "the token is not in the hub's log");
    // The leader Lease on the Karmada apiserver names the pod (--identity=$(POD_NAME)).
    await eventually(
      async () => (await holder()) === pod!.metadata.name || undefined,
      60_000,
      'the Lease held by the pod',
    );
    // Its health and metrics endpoints answer on the pod's network (the probes the stand-in runs there passed too).
    assert.equal(fromPodNetwork(pod!.metadata.uid, 'http://127.0.0.1:8082/healthz').trim(), 'ok');
    assert.match(fromPodNetwork(pod!.metadata.uid, 'http://127.0.0.1:8082/metrics'), /^# (HELP|TYPE) /m);
  });

  it('carries a CheckpointBackup applied on Karmada to Completed', async () => {
    await hub(['apply', '-f', '-'], backup('first', webPod));
    const b = await waitCompleted('first');
    assert.equal(memberPhase(b), 'Completed', JSON.stringify(b.status));
    // The member's copy is the hub's work: Karmada carried it there because the hub placed it.
    const copy = await getBackup('member1', ns, 'first');
    assert.equal(copy.status?.phase, 'Completed', copy.status?.message);
    // The pod did it: no local hub process runs beside it, and the leader Lease, which alone lets a hub act, is
    // the pod's.
    assert.equal(
      readState()!.procs.some((p) => p.name === 'hub'),
      false,
    );
    const [pod] = await waitHubPods(1);
    assert.equal(await holder(), pod!.metadata.name);
  });

  it('helm upgrade with a new tag rolls the hub pod; a CheckpointBackup applied just before completes once', async () => {
    const [old] = await waitHubPods(1);
    const image = agentImageOf()!;
    const tag = `${image.tag}-rolled`;
    pushAgentImage(registryInfo(), ensureAgentImage().layout, tag);
    await hub(['apply', '-f', '-'], backup('during', slowPod, 'slow'));
    // In progress when the upgrade begins: placed in member1, where the agent has begun and not finished.
    await eventually(
      async () => {
        const c = await getBackup('member1', ns, 'during').catch(() => undefined);
        return c?.status?.phase && c.status.phase !== 'Completed' && c.status.phase !== 'Failed'
          ? c
          : undefined;
      },
      60_000,
      "during: member1's copy begun",
    );
    await installHubChart(['--set', `image.tag=${tag}`]);
    const next: HubPod = await eventually(
      async () => {
        const ready = (await hubPods()).filter(
          (p) => p.metadata.uid !== old!.metadata.uid && p.spec.containers[0]!.image.includes(`:${tag}@`),
        );
        return ready.length === 1 && (await waitHubPods(1, 5_000).catch(() => undefined))
          ? ready[0]
          : undefined;
      },
      240_000,
      'the new hub pod Ready on the new tag, the old one gone',
    );
    assert.equal(next.spec.containers[0]!.image, `${image.repository}:${tag}@${image.digest}`);
    await eventually(
      async () => (await holder()) === next.metadata.name || undefined,
      90_000,
      'the Lease moved to the new pod',
    );
    const b = await waitCompleted('during');
    assert.equal(memberPhase(b), 'Completed', JSON.stringify(b.status));
    const copy = await getBackup('member1', ns, 'during');
    assert.equal(copy.status?.phase, 'Completed', copy.status?.message);
    // One run: one image per container, not a second checkpoint started by the new replica.
    assert.equal(copy.status?.builtImages?.length, 1, JSON.stringify(copy.status?.builtImages));
    // Back to the federation's tag.
    await installHubChart();
    await eventually(
      async () =>
        (await hubPods()).every((p) => p.spec.containers[0]!.image.includes(`:${image.tag}@`)) &&
        (await waitHubPods(1, 5_000).catch(() => undefined))
          ? true
          : undefined,
      240_000,
      "the hub pod back on the federation's tag",
    );
    assert.ok(readState(), 'the federation is still up');
  });

  it('two replicas: one holds the Lease; deleting its pod, the standby takes over and carries the next backup', async () => {
    await installHubChart(['--set', 'hub.replicas=2']);
    const pods = await waitHubPods(2);
    const names = pods.map((p) => p.metadata.name);
    const leader = await eventually(
      async () => {
        const h = await holder();
        return names.includes(h) ? h : undefined;
      },
      60_000,
      'the Lease held by one of the two pods',
    );
    const standby = names.find((n) => n !== leader)!;
    // The node is cordoned first, so the leader's replacement stays Pending: the Lease can then only move to the
    // standby, which was already up and waiting for it. Without this the replacement, started by the ReplicaSet the
    // moment the leader's pod is deleted, races the standby for the released Lease and may win; either is correct
    // leader election, but only the standby shows what a second replica is for.
    await kubectl(member, ['cordon', node]);
    try {
      await kubectl(member, ['-n', HUB_NAMESPACE, 'delete', 'pod', leader, '--wait=true']);
      let last = '';
      await eventually(
        async () => (last = await holder()) === standby || undefined,
        90_000,
        `the Lease taken by ${standby}`,
      ).catch((e: Error) => {
        throw new Error(`${e.message}; it is held by ${last || 'no one'}`);
      });
      await hub(['apply', '-f', '-'], backup('after-failover', webPod));
      const b = await waitCompleted('after-failover');
      assert.equal(memberPhase(b), 'Completed', JSON.stringify(b.status));
      // The replacement never ran: the standby alone carried the backup.
      const pending = (await hubPods()).filter((p) => p.metadata.name !== standby);
      assert.equal(pending.length, 1, 'the replacement of the deleted leader exists');
      assert.ok(
        pending.every((p) => p.status?.phase === 'Pending'),
        JSON.stringify(pending.map((p) => p.status)),
      );
    } finally {
      await kubectl(member, ['uncordon', node]);
    }
    await installHubChart();
    await waitHubPods(1);
  });
});
