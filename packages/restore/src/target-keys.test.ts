import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ARCHIVE_DIGESTS_ANNOTATION, DECRYPTION_KEYS_ANNOTATION } from '@stateful-migration/api';
import { backup, clusters, restore, source } from './fixtures.test-support.js';
import { restoredPod } from './pod.js';
import {
  TARGET_CANNOT_DECRYPT,
  TARGET_CANNOT_RESTORE,
  checkTargetNodes,
  nodesWithKeys,
  nodeView,
  type NodeView,
} from './target-nodes.js';
import { validate, type CheckpointRecord, type RestorePlan } from './validate.js';

// Issue 14: a restore of encrypted checkpoint images goes only where the runtime holds a private key for each.

const K1 = `sha256:${'1'.repeat(64)}`;
const K2 = `sha256:${'2'.repeat(64)}`;
const node = (name: string, keys: string[] | undefined, over: Partial<NodeView> = {}): NodeView => ({
  name,
  ready: true,
  cordoned: false,
  setting: 'checkpoint_restore',
  ...(keys ? { keys } : {}),
  ...over,
});
const app: CheckpointRecord = { containerName: 'app', encryptedFor: [K1, K2] };
const db: CheckpointRecord = { containerName: 'db', encryptedFor: [K2] };
const check = (checkpoints: CheckpointRecord[], nodes: NodeView[], targetNode?: string) =>
  checkTargetNodes({ targetCluster: 'member1', checkpoints, ...(targetNode ? { targetNode } : {}) }, nodes);

describe('checkTargetNodes: the keys of encrypted checkpoint images', () => {
  it('nodeView reads the published thumbprints; an empty annotation is "no keys", none is "unknown"', () => {
    const kube = (a?: string) => ({
      metadata: {
        name: 'n',
        ...(a !== undefined ? { annotations: { [DECRYPTION_KEYS_ANNOTATION]: a } } : {}),
      },
    });
    assert.deepEqual(nodeView(kube(`${K1},${K2}`)).keys, [K1, K2]);
    assert.deepEqual(nodeView(kube('')).keys, []);
    assert.equal(nodeView(kube()).keys, undefined);
  });

  it('images in clear need no key', () => {
    assert.equal(check([{ containerName: 'app' }], [node('m1-b', [])]), undefined);
  });

  it('a targetNode holding one recipient key of every encrypted image is accepted', () => {
    assert.equal(check([app, db], [node('m1-a', [K2])], 'm1-a'), undefined);
  });

  it('a targetNode missing a key is refused, naming the container, the recipients, its keys and what to do', () => {
    const v = check([app, db], [node('m1-b', [K1])], 'm1-b');
    assert.equal(v?.reason, TARGET_CANNOT_DECRYPT);
    assert.equal(
      v?.message,
      `node m1-b holds no private key for the encrypted checkpoint image of container db (encrypted for ${K2}) ` +
        `(its keys: ${K1}); place one of the recipients' private keys in the node runtime's decryption keys ` +
        "directory (CRI-O's [crio.image] decryption_keys_path, default /etc/crio/keys; its agent publishes it as " +
        `the Node annotation ${DECRYPTION_KEYS_ANNOTATION} within a minute) and create the restore again, or pick ` +
        'another targetNode',
    );
    assert.match(check([app], [node('m1-b', undefined)], 'm1-b')!.message, /its keys: unknown: no agent/);
  });

  it('a targetNode that cannot restore at all says so first', () => {
    assert.equal(
      check([app], [node('m2-b', [K1], { setting: 'checkpoint_only' })], 'm2-b')?.reason,
      TARGET_CANNOT_RESTORE,
    );
  });

  it('without targetNode: some restoring, Ready, uncordoned node must hold the keys; else every candidate is listed', () => {
    assert.equal(check([app], [node('m1-a', [K1]), node('m1-b', [])]), undefined);
    const v = check(
      [app],
      [
        node('m1-a', [K1], { ready: false }),
        node('m1-b', []),
        node('m1-c', [K1], { setting: 'checkpoint_only' }),
      ],
    );
    assert.equal(v?.reason, TARGET_CANNOT_DECRYPT);
    assert.match(
      v!.message,
      /^no node of cluster member1 that can restore holds a private key for the encrypted checkpoint image of container app .*\(m1-b \(keys: none\)\); place one/,
    );
  });

  it('nodesWithKeys: the nodes a pod of encrypted images may go to; undefined in clear or with a targetNode', () => {
    const nodes = [node('m1-b', []), node('m1-a', [K1]), node('m1-c', [K2], { cordoned: true })];
    assert.deepEqual(nodesWithKeys({ checkpoints: [app] }, nodes), ['m1-a']);
    assert.deepEqual(nodesWithKeys({ checkpoints: [app, db] }, nodes), []);
    assert.equal(nodesWithKeys({ checkpoints: [{ containerName: 'app' }] }, nodes), undefined);
    assert.equal(nodesWithKeys({ checkpoints: [app], targetNode: 'm1-b' }, nodes), undefined);
  });
});

describe('the restored pod of recorded, encrypted checkpoints', () => {
  const digest = `sha256:${'a'.repeat(64)}`;
  const planOf = (): RestorePlan => {
    const src = source();
    src.builtImages = src.builtImages!.map((b) => ({ ...b, encryptedFor: [K1], archiveDigest: digest }));
    const v = validate({ restore: restore(), backup: backup(), sources: [src], clusters: clusters() });
    assert.equal(v.kind, 'ok', JSON.stringify(v));
    return (v as { plan: RestorePlan }).plan;
  };

  it("validate carries each chosen image's recipients and archive digest", () => {
    const p = planOf();
    assert.ok(p.checkpoints.length > 0);
    for (const c of p.checkpoints)
      assert.deepEqual(c, { containerName: c.containerName, encryptedFor: [K1], archiveDigest: digest });
  });

  it('carries the archive digests in an annotation and requires the key-holding nodes by name', () => {
    const p = planOf();
    const pod = restoredPod(p, { name: 'r1', namespace: 'shop', backup: 'web-now' }, 's', ['m1-a']);
    assert.equal(
      pod.metadata.annotations[ARCHIVE_DIGESTS_ANNOTATION],
      p.checkpoints
        .map((c) => `${c.containerName}=${digest}`)
        .sort()
        .join(','),
    );
    const terms = (
      pod.spec as unknown as {
        affinity: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: { matchFields?: { key: string; values: string[] }[] }[];
            };
          };
        };
      }
    ).affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
    assert.equal(terms.length, 1);
    assert.deepEqual(terms[0]!.matchFields?.find((e) => e.key === 'metadata.name')?.values, ['m1-a']);
  });
});
