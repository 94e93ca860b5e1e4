import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  PINNED_IMAGES_ANNOTATION,
  RESTORE_PINNED_IMAGES_ANNOTATION,
  type CheckpointBackup,
} from '@stateful-migration/api';
import { RETENTION_CONDITION, pinsOf, policiesOf, retentionReport, type Done } from './retention-sweep.js';
import { resolveLimit, type Finding } from './retention.js';

const backup = (over: Partial<CheckpointBackup['spec']> = {}, annotations = {}): CheckpointBackup => ({
  apiVersion: 'migration.dcnlab.com/v1',
  kind: 'CheckpointBackup',
  metadata: { name: 'nightly', namespace: 'ops', generation: 3, annotations },
  spec: {
    schedule: '* * * * *',
    podRef: { name: 'db-0', namespace: 'shop' },
    resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' },
    ...over,
  },
});

describe('policiesOf and pinsOf', () => {
  it("an object's spec.retention applies to its pod (podRef's namespace), namespace-wide fields to that namespace", () => {
    const ps = policiesOf({ maxCheckpointsPerContainer: 4 }, [
      backup({ retention: { maxCheckpointsPerContainer: 2, maxTotalSizePerNamespace: '1Gi' } }),
      backup(),
    ]);
    assert.equal(ps.length, 3);
    const at = (ns: string, pod: string) =>
      resolveLimit(ps, 'maxCheckpointsPerContainer', { namespace: ns, pod, container: 'pg' });
    assert.equal(at('shop', 'db-0'), 2);
    assert.equal(at('ops', 'db-0'), 4, 'the object’s own namespace is not the pod’s');
    assert.equal(at('shop', 'db-1'), 4);
    assert.equal(resolveLimit(ps, 'maxTotalSizePerNamespace', { namespace: 'shop' }, 'namespace'), 2 ** 30);
    assert.equal(ps[0]!.source, 'agent flags');
    assert.equal(ps[1]!.source, 'CheckpointBackup ops/nightly');
  });

  it("reads user and restore pins, trimmed, for the object's pod", () => {
    const pins = pinsOf([
      backup(
        {},
        {
          [PINNED_IMAGES_ANNOTATION]: ' reg/x:1, 20261127-080000-000 ,',
          [RESTORE_PINNED_IMAGES_ANNOTATION]: `reg/x@sha256:${'a'.repeat(64)}`,
        },
      ),
    ]);
    assert.deepEqual(
      pins.map((p) => [p.value, p.source, p.namespace, p.pod]),
      [
        ['reg/x:1', 'user', 'shop', 'db-0'],
        ['20261127-080000-000', 'user', 'shop', 'db-0'],
        [`reg/x@sha256:${'a'.repeat(64)}`, 'restore', 'shop', 'db-0'],
      ],
    );
  });
});

describe('retentionReport', () => {
  const finding = (namespace: string, pod?: string): Finding => ({
    namespace,
    ...(pod ? { pod } : {}),
    limit: 'maxCheckpointsPerContainer',
    value: 1,
    pinned: ['reg/x:1'],
    message: `over in ${namespace}/${pod ?? '*'}`,
  });
  const done = (ref: string, pod = 'db-0'): Done => ({
    store: 'registry',
    deletion: {
      item: { id: ref, namespace: 'shop', pod, container: 'pg', size: 1, time: 0, refs: [ref] },
      reason: 'r',
    },
  });

  it('says False once with the findings of its pod and namespace, True otherwise', () => {
    const b = backup();
    const r = retentionReport(
      b,
      [],
      [finding('shop', 'db-0'), finding('shop'), finding('shop', 'db-1')],
      new Map(),
    );
    assert.equal(r.condition.status, 'False');
    assert.equal(r.condition.reason, 'PinnedBeyondLimit');
    assert.equal(r.condition.message, 'over in shop/db-0; over in shop/*');
    assert.ok(r.changed);
    const again = retentionReport(
      { ...b, status: { conditions: [{ ...r.condition, lastTransitionTime: 'x' }] } },
      [],
      [finding('shop', 'db-0'), finding('shop')],
      new Map(),
    );
    assert.ok(!again.changed, 'the same finding is not said twice');
    const ok = retentionReport(b, [], [finding('shop-2', 'db-0')], new Map());
    assert.equal(ok.condition.type, RETENTION_CONDITION);
    assert.equal(ok.condition.status, 'True');
  });

  it('drops builtImages that were deleted or are absent from the listing, never those of a run in progress', () => {
    const img = (tag: string, pushed = true) => ({
      containerName: 'pg',
      imageName: `reg/shop/checkpoint-db-0-pg:${tag}`,
      buildTime: '',
      pushed,
    });
    const b = {
      ...backup(),
      status: {
        phase: 'ImagePushing' as const,
        run: { id: 'r4', startedAt: '', generation: 3, node: 'n', containers: ['pg'] },
        builtImages: [img('r1'), img('r2'), img('r3'), img('r4', false), img('r5', false)],
      },
    };
    const listed = new Map([['reg/shop/checkpoint-db-0-pg', new Set(['r2'])]]);
    const r = retentionReport(b, [done('reg/shop/checkpoint-db-0-pg:r5'), done('other', 'db-1')], [], listed);
    assert.deepEqual([...r.stale].sort(), [
      'reg/shop/checkpoint-db-0-pg:r1',
      'reg/shop/checkpoint-db-0-pg:r3',
      'reg/shop/checkpoint-db-0-pg:r5',
    ]);
    assert.equal(r.deleted.length, 1, 'only deletions of its own pod');
  });
});
