import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { restoredPod } from './pod.js';
import { nodesWithKeys, nodeView, checkTargetNodes } from './target-nodes.js';
import { backup, clusters, restore, source } from './fixtures.test-support.js';
import { validate, type RestorePlan } from './validate.js';

// The target check and nodesWithKeys judge Nodes by metadata.name (the Node list), so the restored pod must be pinned
// by that same name. The kubernetes.io/hostname label is the kubelet's hostname, which differs from the Node's name
// wherever --hostname-override or a cloud provider names the Node (e.g. ip-10-0-0-1.ec2.internal vs ip-10-0-0-1):
// pinned by hostname, the pod the check approved would stay Pending forever (no node matches).

type Term = {
  matchExpressions?: { key: string; operator: string; values: string[] }[];
  matchFields?: { key: string; operator: string; values: string[] }[];
};

/** The scheduler's required node affinity, as kube-scheduler evaluates it for one Node. */
function schedulable(
  pod: ReturnType<typeof restoredPod>,
  node: { name: string; labels: Record<string, string> },
): boolean {
  const terms = (
    pod.spec as unknown as {
      affinity: {
        nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: Term[] } };
      };
    }
  ).affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
  return terms.some(
    (t) =>
      (t.matchExpressions ?? []).every(
        (e) => e.operator === 'In' && e.values.includes(node.labels[e.key] ?? '\0'),
      ) &&
      (t.matchFields ?? []).every(
        (f) => f.key === 'metadata.name' && f.operator === 'In' && f.values.includes(node.name),
      ),
  );
}

const node = {
  metadata: {
    name: 'ip-10-0-0-1.ec2.internal',
    labels: {
      'kubernetes.io/hostname': 'ip-10-0-0-1',
      'migration.dcnlab.com/checkpoint-restore': 'checkpoint_restore',
    },
    annotations: { 'migration.dcnlab.com/decryption-keys': 'sha256:k1' },
  },
  status: { conditions: [{ type: 'Ready', status: 'True' }] },
};

function plan(spec: Parameters<typeof restore>[0]): RestorePlan {
  const v = validate({ restore: restore(spec), backup: backup(), sources: [source()], clusters: clusters() });
  assert.equal(v.kind, 'ok');
  const p = (v as { plan: RestorePlan }).plan;
  // As an encrypted backup's plan: every container's image encrypted for k1, which the node holds.
  return { ...p, checkpoints: p.checkpoints.map((c) => ({ ...c, encryptedFor: ['sha256:k1'] })) };
}

describe('restored pod node pinning: by Node name, not hostname label', () => {
  it('a targetNode the check accepted is a node the pod can be scheduled to', () => {
    const p = plan({ targetCluster: 'member2', targetNode: node.metadata.name });
    assert.equal(checkTargetNodes(p, [nodeView(node)]), undefined);
    const pod = restoredPod(p, { name: 'r1', namespace: 'shop', backup: 'web' }, 's');
    assert.ok(schedulable(pod, { name: node.metadata.name, labels: node.metadata.labels }));
  });

  it('the key-holding nodes nodesWithKeys names are nodes the pod can be scheduled to', () => {
    const p = plan({ targetCluster: 'member2' });
    const keyNodes = nodesWithKeys(p, [nodeView(node)]);
    assert.deepEqual(keyNodes, [node.metadata.name]);
    const pod = restoredPod(p, { name: 'r1', namespace: 'shop', backup: 'web' }, 's', keyNodes);
    assert.ok(schedulable(pod, { name: node.metadata.name, labels: node.metadata.labels }));
    assert.ok(!schedulable(pod, { name: 'other', labels: node.metadata.labels }));
  });
});
