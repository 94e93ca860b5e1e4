import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { slimWorks } from './caches.js';
import { claimedBy, fresherReport, slimWork, workReport, type Work } from './karmada.js';

// What the hub takes from a Karmada Work (ADR 0023): the member's report of a CheckpointBackup, as the binding's
// aggregatedStatus will show it one write later, and nothing of the manifest the Work carries.

const GROUP = 'migration.dcnlab.com';
const identifier = { group: GROUP, version: 'v1', kind: 'CheckpointBackup', namespace: 'shop', name: 'web' };
const link = {
  'resourcebinding.karmada.io/namespace': 'shop',
  'resourcebinding.karmada.io/name': 'web-checkpointbackup',
};
const work = (over: Partial<Work> & { namespace?: string } = {}): Work => ({
  metadata: {
    name: 'web-6b9f',
    namespace: over.namespace ?? 'karmada-es-member1',
    resourceVersion: '7',
    annotations: link,
  },
  status: {
    conditions: [{ type: 'Applied', status: 'True', message: 'Manifest has been successfully applied' }],
    manifestStatuses: [{ identifier, status: { phase: 'Completed' } }],
  },
  ...over,
});

describe('workReport: a member report from a Work', () => {
  it("reads the CheckpointBackup's status and the Applied condition, with the cluster from the execution namespace", () => {
    assert.deepEqual(workReport(work(), GROUP), {
      backup: { namespace: 'shop', name: 'web' },
      binding: { namespace: 'shop', name: 'web-checkpointbackup' },
      report: { clusterName: 'member1', status: { phase: 'Completed' }, applied: true },
    });
  });

  it('an apply Karmada has not done yet: not applied, with its message, and no status (Karmada copies none)', () => {
    const w = work({
      status: {
        conditions: [{ type: 'Applied', status: 'False', message: 'namespaces "shop" not found' }],
        manifestStatuses: [{ identifier, status: { phase: 'Checkpointing' } }],
      },
    });
    assert.deepEqual(workReport(w, GROUP)?.report, {
      clusterName: 'member1',
      applied: false,
      appliedMessage: 'namespaces "shop" not found',
    });
    const noCondition = work({
      status: { manifestStatuses: [{ identifier, status: { phase: 'Pending' } }] },
    });
    assert.deepEqual(workReport(noCondition, GROUP)?.report, {
      clusterName: 'member1',
      applied: false,
    });
  });

  it('says nothing of a Work of anything else, outside an execution namespace, or before its status names the object', () => {
    const deployment = { ...identifier, group: 'apps', kind: 'Deployment' };
    assert.equal(
      workReport(work({ status: { manifestStatuses: [{ identifier: deployment }] } }), GROUP),
      undefined,
    );
    const otherGroup = { ...identifier, group: 'example.com' };
    assert.equal(
      workReport(work({ status: { manifestStatuses: [{ identifier: otherGroup }] } }), GROUP),
      undefined,
    );
    assert.equal(workReport(work({ namespace: 'shop' }), GROUP), undefined);
    assert.equal(workReport(work({ status: {} }), GROUP), undefined);
    assert.equal(workReport(work({ status: undefined }), GROUP), undefined);
  });

  it('says nothing of a Work being deleted, one without its link to a binding, or one naming another namespace', () => {
    const deleting = work();
    deleting.metadata.deletionTimestamp = '2026-12-03T09:00:00Z';
    assert.equal(workReport(deleting, GROUP), undefined);
    const unlinked = work();
    delete unlinked.metadata.annotations;
    assert.equal(workReport(unlinked, GROUP), undefined);
    const elsewhere = { ...identifier, namespace: 'bank' };
    assert.equal(
      workReport(work({ status: { manifestStatuses: [{ identifier: elsewhere }] } }), GROUP),
      undefined,
    );
  });
});

describe('slimWork: what the hub caches of a Work', () => {
  it('keeps its name, place and status, and drops the manifest (a Secret, say) and the rest of its metadata', () => {
    const full = {
      ...work(),
      metadata: { ...work().metadata, labels: { a: 'b' }, annotations: { ...link, c: 'd' } },
      spec: { workload: { manifests: [{ kind: 'Secret', data: { password: 'c2VjcmV0' } }] } },
    } as Work;
    const slim = slimWork(full);
    assert.deepEqual(slim, {
      metadata: {
        name: 'web-6b9f',
        namespace: 'karmada-es-member1',
        resourceVersion: '7',
        annotations: link,
      },
      status: work().status,
    });
    assert.doesNotMatch(JSON.stringify(slim), /c2VjcmV0|Secret/);
  });
});

describe('slimWorks: the list-watch the Work cache reads', () => {
  it('slims listed and watched Works, and passes a watch ERROR (410: list again) and a BOOKMARK as they came', async () => {
    const full = {
      ...work(),
      spec: { workload: { manifests: [{ kind: 'Secret', data: { password: 'c2VjcmV0' } }] } },
    } as Work;
    const expired = { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' };
    const bookmark = { metadata: { resourceVersion: '99' } };
    const lw = slimWorks({
      list: async () => ({ metadata: { resourceVersion: '1' }, items: [full] }),
      watch: async (_rv, _t, onEvent) => {
        onEvent({ type: 'MODIFIED', object: full });
        onEvent({ type: 'ERROR', object: expired as unknown as Work });
        onEvent({ type: 'BOOKMARK', object: bookmark as unknown as Work });
      },
    });
    const listed = await lw.list(undefined);
    assert.deepEqual(listed.items, [slimWork(full)]);
    const seen: unknown[] = [];
    await lw.watch('1', 60, (e) => seen.push(e), new AbortController().signal);
    assert.deepEqual(seen, [
      { type: 'MODIFIED', object: slimWork(full) },
      { type: 'ERROR', object: expired },
      { type: 'BOOKMARK', object: bookmark },
    ]);
  });
});

describe("fresherReport: the binding's entry or the Work's, whichever has got further", () => {
  const r = (status?: Record<string, unknown>, applied = true) => ({
    clusterName: 'member1',
    applied,
    ...(status ? { status } : {}),
  });
  const run = (startedAt: string) => ({
    id: startedAt,
    startedAt,
    generation: 1,
    node: 'n',
    containers: ['c'],
  });
  const cases: [string, ReturnType<typeof r> | undefined, ReturnType<typeof r>, 'binding' | 'work'][] = [
    ['no entry in the binding yet', undefined, r({ phase: 'Failed' }), 'work'],
    [
      'the Work finished the run the binding shows in progress',
      r({ phase: 'Checkpointing', run: run('t1') }),
      r({ phase: 'Completed', run: run('t1') }),
      'work',
    ],
    [
      'the binding shows the run finished, the Work (seen late) in progress',
      r({ phase: 'Completed', run: run('t1') }),
      r({ phase: 'Checkpointing', run: run('t1') }),
      'binding',
    ],
    [
      'the Work has started a newer run',
      r({ phase: 'Completed', run: run('t1') }),
      r({ phase: 'Checkpointing', run: run('t2') }),
      'work',
    ],
    [
      'the binding shows a newer run than the Work',
      r({ phase: 'Checkpointing', run: run('t2') }),
      r({ phase: 'Completed', run: run('t1') }),
      'binding',
    ],
    [
      'a later step of the same run in the Work',
      r({ phase: 'Checkpointing', run: run('t1') }),
      r({ phase: 'ImageBuilding', run: run('t1') }),
      'work',
    ],
    [
      'a newer generation in the binding',
      r({ phase: 'Pending', observedGeneration: 2 }),
      r({ phase: 'Completed', observedGeneration: 1 }),
      'binding',
    ],
    [
      'a Work not applied any more (no status): the binding until it catches up',
      r({ phase: 'Completed', run: run('t1') }),
      r(undefined, false),
      'binding',
    ],
    [
      'the same progress: the binding (the Work seen may be late; a change it leaves out shows one write later)',
      r({ phase: 'Completed', run: run('t1') }),
      r({ phase: 'Completed', run: run('t1'), builtImages: [] }),
      'binding',
    ],
    [
      'retention dropped images since the Work seen: the binding',
      r({ phase: 'Completed', run: run('t1'), builtImagesDropped: 1 }),
      r({ phase: 'Completed', run: run('t1') }),
      'binding',
    ],
    [
      'a workload-level object (no run): the Work on its next tick',
      r({ phase: 'Checkpointing', lastCheckpointTime: '2026-12-03T08:00:00Z' }),
      r({ phase: 'Checkpointing', lastCheckpointTime: '2026-12-03T09:00:00Z' }),
      'work',
    ],
    [
      'a workload-level object: its last tick finished in the binding, the next one started in the Work',
      r({ phase: 'Completed', lastCheckpointTime: '2026-12-03T09:00:00Z' }),
      r({ phase: 'Checkpointing', lastCheckpointTime: '2026-12-03T09:00:00Z' }),
      'binding',
    ],
  ];
  for (const [what, binding, fromWork, want] of cases)
    it(what, () => assert.equal(fresherReport(binding, fromWork), want === 'work' ? fromWork : binding));
});

describe('claimedBy: whether a binding is free to take back for a policy of the hub', () => {
  const rb = (annotations?: Record<string, string>) => ({
    metadata: { name: 'x-configmap', namespace: 'shop', ...(annotations ? { annotations } : {}) },
  });
  const pp = (name: string) => ({ 'propagationpolicy.karmada.io/name': name });
  it('its own policy, by name or test; never another policy or a ClusterPropagationPolicy', () => {
    assert.equal(claimedBy(rb(pp('mine')), 'mine'), true);
    assert.equal(
      claimedBy(rb(pp('mine')), (p) => p === 'mine', false),
      true,
    );
    assert.equal(claimedBy(rb(pp('tenant')), 'mine'), false);
    assert.equal(claimedBy(rb({ 'clusterpropagationpolicy.karmada.io/name': 'mine' }), 'mine'), false);
  });
  it("unclaimed: the caller's, unless it cannot tell its own from a tenant's", () => {
    assert.equal(claimedBy(rb(), 'mine'), true);
    assert.equal(claimedBy(rb(), 'mine', false), false);
  });
});
