// suite: shares — own namespace and the ClusterPropagationPolicy named after it
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { kubectl } from '../fed/kubectl.js';
import { memberNodes } from '../fed/members.js';
import { eventually, unique } from './support.js';

const deployment = (name: string, ns: string): string => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: ${ns}}
spec:
  replicas: 1
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      containers: [{name: web, image: registry.local/web:1}]
`;

const policy = (name: string, ns: string, affinity: string): string => `apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: ${name}, namespace: ${ns}}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment, name: ${name}}]
  placement:
    clusterAffinity: ${affinity}
`;

const namespace = (ns: string): string => `apiVersion: v1
kind: Namespace
metadata: {name: ${ns}}
---
apiVersion: policy.karmada.io/v1alpha1
kind: ClusterPropagationPolicy
metadata: {name: ${ns}}
spec:
  resourceSelectors: [{apiVersion: v1, kind: Namespace, name: ${ns}}]
  placement: {clusterAffinity: {clusterNames: [member1, member2]}}
`;

const get = async (cluster: string, args: string[]): Promise<Record<string, unknown> | undefined> => {
  try {
    return JSON.parse(await kubectl(cluster, ['get', ...args, '-o', 'json'])) as Record<string, unknown>;
  } catch (err) {
    if (/NotFound|not found/.test(String(err))) return undefined;
    throw err;
  }
};

type Pod = { spec: { nodeName?: string }; status: { phase?: string } };

async function runningPods(cluster: string, ns: string, app: string): Promise<Pod[] | undefined> {
  const list = (await get(cluster, ['pods', '-n', ns, '-l', `app=${app}`])) as { items: Pod[] } | undefined;
  const running = list?.items.filter((p) => p.status.phase === 'Running') ?? [];
  return running.length > 0 ? running : undefined;
}

describe('propagation on the local federation', () => {
  const ns = unique('prop');
  after(async () => {
    await kubectl('karmada', ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it('carries a Deployment selected by cluster name to member1 only, where a member1 node runs its pod', async () => {
    await kubectl('karmada', ['apply', '-f', '-'], namespace(ns));
    await kubectl(
      'karmada',
      ['apply', '-f', '-'],
      deployment('by-name', ns) + '---\n' + policy('by-name', ns, '{clusterNames: [member1]}'),
    );
    const pods = await eventually(
      () => runningPods('member1', ns, 'by-name'),
      60_000,
      'a Running pod in member1',
    );
    assert.ok(
      memberNodes.member1?.includes(pods[0]!.spec.nodeName ?? ''),
      `pod on ${pods[0]!.spec.nodeName}`,
    );
    assert.equal(await get('member2', ['deployment', 'by-name', '-n', ns]), undefined, 'not in member2');
  });

  it('brings the member status back to the hub: ResourceBinding aggregatedStatus and the Deployment status', async () => {
    type Rb = {
      status?: {
        aggregatedStatus?: { clusterName: string; applied: boolean; status?: { readyReplicas?: number } }[];
      };
    };
    const rb = await eventually(
      async () => {
        const b = (await get('karmada', ['resourcebinding', 'by-name-deployment', '-n', ns])) as
          Rb | undefined;
        const s = b?.status?.aggregatedStatus?.find((x) => x.clusterName === 'member1');
        return s?.applied && s.status?.readyReplicas === 1 ? b : undefined;
      },
      60_000,
      'aggregatedStatus from member1',
    );
    assert.deepEqual(
      rb.status?.aggregatedStatus?.map((s) => s.clusterName),
      ['member1'],
    );
    const d = await eventually(
      async () => {
        const dep = (await get('karmada', ['deployment', 'by-name', '-n', ns])) as
          { status?: { readyReplicas?: number } } | undefined;
        return dep?.status?.readyReplicas === 1 ? dep : undefined;
      },
      60_000,
      'the hub Deployment status',
    );
    assert.equal(d.status?.readyReplicas, 1);
  });

  it('selects members by label: region=us-east lands in member2 only', async () => {
    await kubectl(
      'karmada',
      ['apply', '-f', '-'],
      deployment('by-label', ns) +
        '---\n' +
        policy('by-label', ns, '{labelSelector: {matchLabels: {region: us-east}}}'),
    );
    const pods = await eventually(
      () => runningPods('member2', ns, 'by-label'),
      60_000,
      'a Running pod in member2',
    );
    assert.ok(memberNodes.member2?.includes(pods[0]!.spec.nodeName ?? ''));
    assert.equal(await get('member1', ['deployment', 'by-label', '-n', ns]), undefined, 'not in member1');
  });

  it('removes the Deployment and its pods from the member when the template is deleted', async () => {
    await kubectl('karmada', ['delete', 'deployment', 'by-name', '-n', ns]);
    await eventually(
      async () =>
        (await get('member1', ['deployment', 'by-name', '-n', ns])) === undefined ? true : undefined,
      60_000,
      'the member Deployment to go',
    );
    await eventually(
      async () => ((await runningPods('member1', ns, 'by-name')) === undefined ? true : undefined),
      60_000,
      'its pods to go',
    );
  });
});
