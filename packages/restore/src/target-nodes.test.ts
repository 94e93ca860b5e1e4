import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  TARGET_CANNOT_RESTORE,
  TARGET_NODE_NOT_FOUND,
  checkTargetNodes,
  nodesUnknownMessage,
  nodeView,
  type NodeView,
} from './target-nodes.js';

const node = (name: string, setting?: string, over: Partial<NodeView> = {}): NodeView => ({
  name,
  ready: true,
  cordoned: false,
  ...(setting !== undefined ? { setting } : {}),
  ...over,
});
const check = (nodes: NodeView[], targetNode?: string) =>
  checkTargetNodes({ targetCluster: 'member2', ...(targetNode ? { targetNode } : {}) }, nodes);
const refused = (v: ReturnType<typeof check>, reason: string, message: string | RegExp) => {
  assert.ok(v, 'refused');
  assert.equal(v.kind, 'refuse');
  assert.equal(v.reason, reason);
  if (typeof message === 'string') assert.equal(v.message, message);
  else assert.match(v.message, message);
};

describe('checkTargetNodes with spec.targetNode', () => {
  const cluster = [
    node('m2-a', 'checkpoint_restore'),
    node('m2-b', 'checkpoint_only'),
    node('m2-c', 'none'),
    node('m2-d'),
    node('m2-e', 'unknown'),
    node('m2-f', 'yes'),
    node('m2-g', 'checkpoint_restore', { ready: false, cordoned: true }),
  ];

  it('accepts a node whose runtime restores', () => {
    assert.equal(check(cluster, 'm2-a'), undefined);
  });

  it("does not judge the target node's readiness or cordon (the scheduler waits; the timeout covers the rest)", () => {
    assert.equal(check(cluster, 'm2-g'), undefined);
  });

  it('refuses checkpoint_only and none, naming the node, its setting and what to change', () => {
    refused(
      check(cluster, 'm2-b'),
      TARGET_CANNOT_RESTORE,
      `node m2-b's runtime does not allow restores (CRI-O [crio.checkpoint_restore] container_level_enabled = ` +
        `"checkpoint_only"); set it to "checkpoint_restore" on that node, or pick another targetNode`,
    );
    refused(
      check(cluster, 'm2-c'),
      TARGET_CANNOT_RESTORE,
      `node m2-c's runtime does not allow restores (CRI-O [crio.checkpoint_restore] container_level_enabled = ` +
        `"none"); set it to "checkpoint_restore" on that node, or pick another targetNode`,
    );
  });

  it('refuses a node without the label: no agent has published its setting', () => {
    refused(
      check(cluster, 'm2-d'),
      TARGET_CANNOT_RESTORE,
      "node m2-d's runtime setting is unknown: no agent has published it (the Node has no label " +
        "migration.dcnlab.com/checkpoint-restore); run the stateful-migration agent there with CRI-O's " +
        '[crio.checkpoint_restore] container_level_enabled = "checkpoint_restore", or pick another targetNode',
    );
  });

  it('refuses a node whose agent found no CRI-O configuration', () => {
    refused(
      check(cluster, 'm2-e'),
      TARGET_CANNOT_RESTORE,
      "node m2-e's runtime setting is unknown: its agent found no CRI-O configuration it could read (its log says " +
        'why); give CRI-O [crio.checkpoint_restore] container_level_enabled = "checkpoint_restore" on that node (in ' +
        '/etc/crio/crio.conf.d/), or pick another targetNode',
    );
  });

  it('refuses a label that is no setting (set by hand)', () => {
    refused(
      check(cluster, 'm2-f'),
      TARGET_CANNOT_RESTORE,
      /^node m2-f's label migration\.dcnlab\.com\/checkpoint-restore is "yes", not a runtime setting; .*or pick another targetNode$/,
    );
  });

  it('refuses a node that is not in the cluster, listing the nodes', () => {
    refused(
      check(cluster.slice(0, 2), 'm9'),
      TARGET_NODE_NOT_FOUND,
      'target node m9 is not a node of cluster member2 (nodes: m2-a, m2-b); fix spec.targetNode, or leave it out ' +
        'to let the scheduler pick a node that allows restores',
    );
    refused(check([], 'm9'), TARGET_NODE_NOT_FOUND, /\(nodes: none\)/);
  });
});

describe('checkTargetNodes without targetNode', () => {
  it('accepts a cluster with at least one Ready, uncordoned node whose runtime restores', () => {
    assert.equal(check([node('m2-a', 'checkpoint_restore'), node('m2-b', 'checkpoint_only')]), undefined);
    assert.equal(check([node('m2-b', 'none'), node('m2-a', 'checkpoint_restore')]), undefined);
  });

  it('refuses when none does, naming the cluster and every node with its setting and state, sorted', () => {
    refused(
      check([
        node('m2-d', 'yes'),
        node('m2-b', 'checkpoint_restore', { ready: false }),
        node('m2-a', 'checkpoint_only'),
        node('m2-c', 'checkpoint_restore', { cordoned: true }),
        node('m2-e'),
        node('m2-f', 'unknown', { ready: false, cordoned: true }),
        node('m2-g', 'none'),
      ]),
      TARGET_CANNOT_RESTORE,
      'no Ready, schedulable node of cluster member2 allows restores (m2-a (checkpoint_only), ' +
        'm2-b (checkpoint_restore, NotReady), m2-c (checkpoint_restore, cordoned), ' +
        'm2-d (migration.dcnlab.com/checkpoint-restore="yes", not a setting), ' +
        'm2-e (unknown: no agent has published it), ' +
        'm2-f (unknown: its agent found no CRI-O configuration it could read, NotReady, cordoned), ' +
        'm2-g (none)); set CRI-O\'s [crio.checkpoint_restore] container_level_enabled = "checkpoint_restore" on one ' +
        'of them (its agent publishes it as the Node label migration.dcnlab.com/checkpoint-restore within a minute) ' +
        'and create the restore again, or pick another target cluster',
    );
  });

  it('lists ten nodes at most', () => {
    const many = Array.from({ length: 13 }, (_, i) =>
      node(`n${String(i).padStart(2, '0')}`, 'checkpoint_only'),
    );
    refused(
      check(many),
      TARGET_CANNOT_RESTORE,
      /n08 \(checkpoint_only\), n09 \(checkpoint_only\), and 3 more\); set/,
    );
  });

  it('refuses a cluster without nodes', () => {
    refused(
      check([]),
      TARGET_CANNOT_RESTORE,
      'cluster member2 has no nodes to restore on; pick another target cluster',
    );
  });
});

describe('nodeView', () => {
  it('reads the label, the Ready condition and the cordon', () => {
    assert.deepEqual(
      nodeView({
        metadata: {
          name: 'm2-a',
          labels: { 'migration.dcnlab.com/checkpoint-restore': 'checkpoint_restore' },
        },
        spec: { unschedulable: true },
        status: {
          conditions: [
            { type: 'MemoryPressure', status: 'False' },
            { type: 'Ready', status: 'True' },
          ],
        },
      }),
      { name: 'm2-a', ready: true, cordoned: true, setting: 'checkpoint_restore' },
    );
    assert.deepEqual(nodeView({ metadata: { name: 'm2-b' } }), {
      name: 'm2-b',
      ready: false,
      cordoned: false,
    });
    assert.deepEqual(
      nodeView({
        metadata: { name: 'm2-c', labels: {} },
        status: { conditions: [{ type: 'Ready', status: 'Unknown' }] },
      }),
      { name: 'm2-c', ready: false, cordoned: false },
    );
  });
});

describe('nodesUnknownMessage: why a restore waits when the target\u2019s Nodes cannot be listed', () => {
  it('names the cluster and the error, and tries again', () =>
    assert.equal(
      nodesUnknownMessage('member2', 503, 'HTTP 503: unavailable'),
      "cannot list the nodes of member2 through Karmada's cluster proxy to see which allow restores: HTTP 503: unavailable; trying again",
    ));
  it('names the rights to check on a 403', () =>
    assert.match(
      nodesUnknownMessage('member2', 403, 'HTTP 403: forbidden'),
      /forbidden \(the hub's identity needs get on clusters\/proxy, deploy\/hub\/restore-rbac\.yaml, and list on nodes in the member, karmada\/restore-member-rbac\.yaml\); trying again$/,
    ));
});
