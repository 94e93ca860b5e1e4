import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  matches,
  place,
  placementStatus,
  runningClusters,
  type ClusterInfo,
  type PlacementInput,
} from './placement.js';

const clusters: ClusterInfo[] = [
  { name: 'member1', labels: { region: 'eu-west', tier: 'gold' } },
  { name: 'member2', labels: { region: 'us-east' } },
  { name: 'member3', labels: { region: 'eu-west' } },
];
const base: PlacementInput = { clusters, workload: 'Deployment/web' };

describe('matches', () => {
  const cases: [Parameters<typeof matches>[0], boolean][] = [
    [{}, true],
    [{ matchLabels: { region: 'eu-west' } }, true],
    [{ matchLabels: { region: 'us-east' } }, false],
    [{ matchExpressions: [{ key: 'region', operator: 'In', values: ['eu-west', 'x'] }] }, true],
    [{ matchExpressions: [{ key: 'region', operator: 'NotIn', values: ['eu-west'] }] }, false],
    [{ matchExpressions: [{ key: 'tier', operator: 'Exists' }] }, true],
    [{ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }, true],
    [{ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, true],
    [
      { matchLabels: { region: 'eu-west' }, matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] },
      false,
    ],
  ];
  for (const [sel, want] of cases)
    it(JSON.stringify(sel), () => assert.equal(matches(sel, clusters[0]!.labels), want));
});

describe('place', () => {
  it('a user-written PropagationPolicy wins', () =>
    assert.deepEqual(place({ ...base, userPolicy: 'mine', affinity: { clusterNames: ['member2'] } }), {
      kind: 'userPolicy',
      policy: 'mine',
    }));
  it('spec.placement by name', () =>
    assert.deepEqual(place({ ...base, affinity: { clusterNames: ['member2', 'member1'] } }), {
      kind: 'clusters',
      clusters: ['member1', 'member2'],
      by: 'placement',
    }));
  it('spec.placement by label selector', () =>
    assert.deepEqual(
      place({ ...base, affinity: { labelSelector: { matchLabels: { region: 'eu-west' } } } }),
      {
        kind: 'clusters',
        clusters: ['member1', 'member3'],
        by: 'placement',
      },
    ));
  it('names and labels together narrow each other', () =>
    assert.deepEqual(
      place({
        ...base,
        affinity: {
          clusterNames: ['member2', 'member3'],
          labelSelector: { matchLabels: { region: 'eu-west' } },
        },
      }),
      {
        kind: 'clusters',
        clusters: ['member3'],
        by: 'placement',
      },
    ));
  it('a placement that selects nothing says so, listing the clusters', () => {
    const p = place({ ...base, affinity: { clusterNames: ['nope'] } });
    assert.deepEqual(p, {
      kind: 'unplaceable',
      message: 'spec.placement.clusterAffinity selects no cluster (clusters: member1, member2, member3)',
    });
  });
  it("otherwise the workload's clusters", () =>
    assert.deepEqual(place({ ...base, workloadClusters: ['member2', 'member1', 'member2'] }), {
      kind: 'clusters',
      clusters: ['member1', 'member2'],
      by: 'workload',
    }));
  it('narrowed to the cluster that runs the pod, when known', () =>
    assert.deepEqual(place({ ...base, workloadClusters: ['member1', 'member2'], podClusters: ['member2'] }), {
      kind: 'clusters',
      clusters: ['member2'],
      by: 'pod',
    }));
  it('a pod cluster outside the workload placement is ignored', () =>
    assert.deepEqual(place({ ...base, workloadClusters: ['member1'], podClusters: ['member3'] }), {
      kind: 'clusters',
      clusters: ['member1'],
      by: 'workload',
    }));
  it('nothing to go on: Failed, saying what to add', () => {
    const p = place(base);
    assert.equal(p.kind, 'unplaceable');
    assert.match(
      (p as { message: string }).message,
      /Deployment\/web is not propagated by Karmada; add spec\.placement\.clusterAffinity/,
    );
  });
});

describe('placementStatus', () => {
  it('records the chosen clusters and why', () =>
    assert.deepEqual(placementStatus({ kind: 'clusters', clusters: ['member1'], by: 'pod' }, ['x']), {
      clusters: ['member1'],
      by: 'pod',
    }));
  it("under a user's policy, records where Karmada scheduled it", () =>
    assert.deepEqual(
      placementStatus({ kind: 'userPolicy', policy: 'PropagationPolicy/ns/p' }, ['member2', 'member1']),
      {
        clusters: ['member1', 'member2'],
        by: 'policy',
        policy: 'PropagationPolicy/ns/p',
      },
    ));
});

describe('runningClusters: which clusters run the pod, from the cluster proxy', () => {
  const asked = (a: Record<string, boolean | undefined>) => new Map(Object.entries(a));
  it('the clusters that have it, in the order asked', () =>
    assert.deepEqual(runningClusters(asked({ m1: false, m2: true, m3: true }), undefined), ['m2', 'm3']));
  it('one that has it wins over one that could not answer', () =>
    assert.deepEqual(runningClusters(asked({ m1: undefined, m2: true }), undefined), ['m2']));
  it('none, when every cluster says 404', () =>
    assert.equal(runningClusters(asked({ m1: false, m2: false }), undefined), undefined));
  it('a cluster that cannot answer keeps the last decision by pod, if it is still among them', () =>
    assert.deepEqual(runningClusters(asked({ m1: undefined, m2: false }), { by: 'pod', clusters: ['m1'] }), [
      'm1',
    ]));
  it('otherwise it cannot tell, and says so (the key is retried): never a wider placement', () => {
    assert.throws(
      () => runningClusters(asked({ m1: undefined, m2: false }), { by: 'workload', clusters: ['m1', 'm2'] }),
      /cannot ask m1, m2 through the cluster proxy which one runs the pod; retrying/,
    );
    assert.throws(() =>
      runningClusters(asked({ m1: undefined, m2: false }), { by: 'pod', clusters: ['m3'] }),
    );
    assert.throws(() => runningClusters(asked({ m1: undefined }), undefined));
  });
});
