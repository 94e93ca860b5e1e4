import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkpointKey,
  decideRetention,
  pinMatches,
  resolveLimit,
  type RetentionInput,
  type RetentionItem,
  type ScopedPolicy,
} from './retention.js';

const MiB = 2 ** 20;
let seq = 0;
/** An item of ns/pod/container taken at minute `t`. */
const item = (ns: string, pod: string, container: string, t: number, extra: Partial<RetentionItem> = {}) => ({
  id: `/cp/${ns}-${pod}-${container}-${t}-${seq++}.tar`,
  namespace: ns,
  pod,
  container,
  size: MiB,
  time: t * 60_000,
  ...extra,
});
const decide = (i: Partial<RetentionInput> & Pick<RetentionInput, 'items'>) =>
  decideRetention({ store: 'archives', policies: [], pins: [], ...i });
const deletedIds = (d: ReturnType<typeof decide>) => d.delete.map((x) => x.item.id).sort();
const global = (policy: ScopedPolicy['policy']): ScopedPolicy => ({ policy, source: 'flags' });

describe('resolveLimit: the most specific policy wins, field by field', () => {
  const policies: ScopedPolicy[] = [
    global({ maxCheckpointsPerContainer: 7, maxTotalSizePerPod: '1Gi' }),
    { namespace: 'a', policy: { maxCheckpointsPerContainer: 5 }, source: 'ns a' },
    { namespace: 'a', pod: 'p', policy: { maxCheckpointsPerContainer: 3 }, source: 'pod a/p' },
    { namespace: 'a', pod: 'p', container: 'c', policy: { maxCheckpointsPerContainer: 1 }, source: 'c' },
  ];
  const at = (ns: string, pod: string, c: string) =>
    resolveLimit(policies, 'maxCheckpointsPerContainer', { namespace: ns, pod, container: c });

  it('container > pod > namespace > global > built-in default', () => {
    assert.equal(at('a', 'p', 'c'), 1);
    assert.equal(at('a', 'p', 'd'), 3);
    assert.equal(at('a', 'q', 'c'), 5);
    assert.equal(at('b', 'p', 'c'), 7);
    assert.equal(resolveLimit([], 'maxCheckpointsPerContainer', { namespace: 'b' }), 10);
  });

  it('a field a specific policy leaves unset falls through to the next one that sets it', () => {
    assert.equal(resolveLimit(policies, 'maxTotalSizePerPod', { namespace: 'a', pod: 'p' }, 'pod'), 2 ** 30);
    assert.equal(resolveLimit(policies, 'retainOrphans', { namespace: 'a', pod: 'p', container: 'c' }), true);
  });

  it('namespace a never matches a-b, nor a pod named like a prefix', () => {
    assert.equal(at('a-b', 'p', 'c'), 7);
    assert.equal(at('a', 'p-2', 'c'), 5);
    assert.equal(at('a', 'p', 'c-d'), 3);
  });

  it('pod-wide limits ignore container policies; namespace-wide ones ignore pod policies', () => {
    const ps: ScopedPolicy[] = [
      { namespace: 'a', policy: { maxTotalSizePerNamespace: 100 }, source: 'ns' },
      {
        namespace: 'a',
        pod: 'p',
        policy: { maxTotalSizePerNamespace: 1, maxTotalSizePerPod: 50 },
        source: 'p',
      },
      { namespace: 'a', pod: 'p', container: 'c', policy: { maxTotalSizePerPod: 1 }, source: 'c' },
    ];
    assert.equal(resolveLimit(ps, 'maxTotalSizePerNamespace', { namespace: 'a' }, 'namespace'), 100 * MiB);
    assert.equal(resolveLimit(ps, 'maxTotalSizePerPod', { namespace: 'a', pod: 'p' }, 'pod'), 50 * MiB);
  });

  it('equally specific policies (two objects for one pod) yield the more permissive value; 0 is unlimited', () => {
    const two = (a: number, b: number): ScopedPolicy[] => [
      { namespace: 'a', pod: 'p', policy: { maxCheckpointsPerContainer: a }, source: 'x' },
      { namespace: 'a', pod: 'p', policy: { maxCheckpointsPerContainer: b }, source: 'y' },
    ];
    const r = (ps: ScopedPolicy[]) =>
      resolveLimit(ps, 'maxCheckpointsPerContainer', { namespace: 'a', pod: 'p', container: 'c' });
    assert.equal(r(two(2, 4)), 4);
    assert.equal(r(two(4, 2)), 4);
    assert.equal(r(two(0, 2)), 0);
    const orphans: ScopedPolicy[] = [
      { namespace: 'a', pod: 'p', policy: { retainOrphans: false }, source: 'x' },
      { namespace: 'a', pod: 'p', policy: { retainOrphans: true }, source: 'y' },
    ];
    assert.equal(resolveLimit(orphans, 'retainOrphans', { namespace: 'a', pod: 'p', container: 'c' }), true);
  });

  it('sizes: integers are MiB (as the operator), strings are quantities; an unparsable one is ignored', () => {
    const r = (v: number | string) =>
      resolveLimit([global({ maxCheckpointSize: v })], 'maxCheckpointSize', { namespace: 'a' });
    assert.equal(r(6), 6 * MiB);
    assert.equal(r('512Ki'), 512 * 1024);
    assert.equal(r('1.5Gi'), 1.5 * 2 ** 30);
    assert.equal(r('2M'), 2e6);
    assert.equal(r('lots'), 0);
  });
});

describe('decideRetention', () => {
  it('keeps the newest maxCheckpointsPerContainer per container, whatever the listing order', () => {
    const items = [5, 1, 4, 2, 3].map((t) => item('a', 'p', 'c', t));
    const d = decide({ items, policies: [global({ maxCheckpointsPerContainer: 2 })] });
    assert.deepEqual(d.delete.map((x) => x.item.time / 60_000).sort(), [1, 2, 3]);
    assert.match(d.delete[0]!.reason, /^maxCheckpointsPerContainer 2 for a\/p\/c$/);
    assert.deepEqual(d.findings, []);
  });

  it('defaults to 10 per container; 0 means unlimited', () => {
    const items = Array.from({ length: 12 }, (_, t) => item('a', 'p', 'c', t));
    assert.equal(decide({ items }).delete.length, 2);
    assert.equal(decide({ items, policies: [global({ maxCheckpointsPerContainer: 0 })] }).delete.length, 0);
  });

  it('namespaces a and a-b are separate groups', () => {
    const a = [1, 2, 3].map((t) => item('a', 'x', 'b-c', t));
    const ab = [1, 2, 3].map((t) => item('a-b', 'x', 'c', t));
    const d = decide({
      items: [...a, ...ab],
      policies: [{ namespace: 'a', policy: { maxCheckpointsPerContainer: 1 }, source: 'a' }],
    });
    assert.deepEqual(deletedIds(d), [a[0]!.id, a[1]!.id].sort());
    const ns = decide({
      items: [...a, ...ab],
      policies: [{ namespace: 'a', policy: { maxCheckpointsPerNamespace: 2 }, source: 'a' }],
    });
    assert.deepEqual(deletedIds(ns), [a[0]!.id]);
  });

  it('per pod and per namespace counts take the oldest across containers and pods', () => {
    const items = [
      item('a', 'p', 'c1', 1),
      item('a', 'p', 'c2', 2),
      item('a', 'q', 'c1', 3),
      item('a', 'p', 'c1', 4),
    ];
    const pod = decide({ items, policies: [global({ maxCheckpointsPerPod: 2 })] });
    assert.deepEqual(deletedIds(pod), [items[0]!.id]);
    const ns = decide({ items, policies: [global({ maxCheckpointsPerNamespace: 1 })] });
    assert.deepEqual(deletedIds(ns), [items[0]!.id, items[1]!.id, items[2]!.id].sort());
  });

  it('total size limits delete the oldest until the total fits, at container, pod and namespace level', () => {
    const items = [1, 2, 3, 4].map((t) => item('a', 'p', 'c', t));
    const c = decide({ items, policies: [global({ maxTotalSizePerContainer: '2.5Mi' })] });
    assert.deepEqual(deletedIds(c), [items[0]!.id, items[1]!.id].sort());
    assert.match(c.delete[0]!.reason, /maxTotalSizePerContainer 2.5Mi for a\/p\/c/);
    const p = decide({ items, policies: [global({ maxTotalSizePerPod: 3 })] });
    assert.deepEqual(deletedIds(p), [items[0]!.id]);
    const n = decide({ items, policies: [global({ maxTotalSizePerNamespace: '1Mi' })] });
    assert.equal(n.delete.length, 3);
  });

  it('deletes a checkpoint larger than maxCheckpointSize, even the newest', () => {
    const big = item('a', 'p', 'c', 9, { size: 5 * MiB });
    const d = decide({ items: [item('a', 'p', 'c', 1), big], policies: [global({ maxCheckpointSize: 2 })] });
    assert.deepEqual(deletedIds(d), [big.id]);
    assert.match(d.delete[0]!.reason, /5Mi is larger than maxCheckpointSize 2Mi/);
  });

  it('orphans go only when retainOrphans is false, never in the registry, never when live pods are unknown', () => {
    const gone = [1, 2].map((t) => item('a', 'gone', 'c', t));
    const live = item('a', 'live', 'c', 1);
    const items = [...gone, live];
    const livePods = new Set(['a/live']);
    assert.deepEqual(decide({ items, livePods }).delete, []);
    const off: ScopedPolicy = { namespace: 'a', pod: 'gone', policy: { retainOrphans: false }, source: 'x' };
    const d = decide({ items, livePods, policies: [off] });
    assert.deepEqual(deletedIds(d), gone.map((g) => g.id).sort());
    assert.match(d.delete[0]!.reason, /pod a\/gone no longer exists and retainOrphans is false/);
    assert.deepEqual(decide({ items, policies: [off] }).delete, []);
    assert.deepEqual(decide({ items, livePods, policies: [off], store: 'registry' }).delete, []);
    assert.deepEqual(
      decide({ items, livePods, policies: [global({ retainOrphans: false })], store: 'images' }).delete
        .length,
      2,
    );
  });

  it('orphans still count towards limits when kept', () => {
    const items = [1, 2, 3].map((t) => item('a', 'gone', 'c', t));
    const d = decide({ items, livePods: new Set(), policies: [global({ maxCheckpointsPerContainer: 1 })] });
    assert.equal(d.delete.length, 2);
  });

  it('pinned images are never deleted and never push out the newest; a limit they keep exceeded is one finding', () => {
    const imgs = [1, 2, 3].map((t) =>
      item('a', 'p', 'c', t, {
        id: `repo@sha256:${String(t).repeat(64)}`,
        refs: [`reg/repo:run${t}`, `reg/repo@sha256:${String(t).repeat(64)}`],
        tags: [`run${t}`],
        digest: `sha256:${String(t).repeat(64)}`,
      }),
    );
    const policies = [global({ maxCheckpointsPerContainer: 1 })];
    const byTag = decide({
      items: imgs,
      policies,
      pins: [{ value: 'reg/repo:run1', source: 'user', namespace: 'a', pod: 'p' }],
      store: 'registry',
    });
    assert.deepEqual(deletedIds(byTag), [imgs[1]!.id]);
    assert.equal(byTag.findings.length, 1);
    assert.equal(byTag.findings[0]!.limit, 'maxCheckpointsPerContainer');
    assert.match(
      byTag.findings[0]!.message,
      /maxCheckpointsPerContainer 1 for a\/p\/c cannot be met in the checkpoint images in the registry \(2 kept\): pinned reg\/repo:run1; unpin or raise the limit/,
    );
    const byDigest = decide({
      items: imgs,
      policies,
      pins: [{ value: `reg/repo@sha256:${'2'.repeat(64)}`, source: 'restore', namespace: 'a', pod: 'p' }],
    });
    assert.deepEqual(deletedIds(byDigest), [imgs[0]!.id]);
    const bare = decide({
      items: imgs,
      policies,
      pins: [{ value: `sha256:${'1'.repeat(64)}`, source: 'user', namespace: 'z', pod: 'z' }],
    });
    assert.deepEqual(deletedIds(bare), [imgs[1]!.id]);
    const runId = decide({
      items: imgs,
      policies,
      pins: [{ value: 'run2', source: 'user', namespace: 'a', pod: 'p' }],
    });
    assert.deepEqual(deletedIds(runId), [imgs[0]!.id]);
    assert.deepEqual(
      runId.pinned.map((i) => i.id),
      [imgs[1]!.id],
    );
    // A run id pins only the images of the pinning object's own pod.
    const otherPod = decide({
      items: imgs,
      policies,
      pins: [{ value: 'run2', source: 'user', namespace: 'a', pod: 'q' }],
    });
    assert.equal(otherPod.delete.length, 2);
  });

  it('a pin beyond a size limit is reported; the newest unpinned one stays; a too-large pinned one stays silently', () => {
    const items = [0, 1, 2, 3].map((t) => item('a', 'p', 'c', t, { tags: [`r${t}`] }));
    const pins = [
      { value: 'r1', source: 'user' as const, namespace: 'a', pod: 'p' },
      { value: 'r2', source: 'user' as const, namespace: 'a', pod: 'p' },
    ];
    const d = decide({ items, pins, policies: [global({ maxTotalSizePerContainer: 1 })] });
    assert.deepEqual(deletedIds(d), [items[0]!.id]);
    assert.equal(d.findings.length, 1);
    assert.match(d.findings[0]!.message, /maxTotalSizePerContainer 1Mi .* \(3Mi kept\)/);
    const big = decide({
      items: [item('a', 'p', 'c', 1, { size: 9 * MiB, tags: ['r1'] })],
      pins,
      policies: [global({ maxCheckpointSize: 1 })],
    });
    assert.deepEqual(big.delete, []);
    assert.deepEqual(big.findings, []);
  });

  it('.keep files and archives of pinned images are pinned; in-use items are kept and never reported', () => {
    const keep = item('a', 'p', 'c', 1, { keep: true });
    const ofPinned = item('a', 'p', 'c', 2, { checkpointedTime: '2026-11-27T08:00:00Z' });
    const inUse = item('a', 'p', 'c', 3, { inUse: true });
    const plain = item('a', 'p', 'c', 0);
    const key = checkpointKey({
      namespace: 'a',
      pod: 'p',
      container: 'c',
      checkpointedTime: '2026-11-27T08:00:00Z',
    })!;
    const d = decide({
      items: [keep, ofPinned, inUse, plain],
      pinnedCheckpoints: new Set([key]),
      policies: [global({ maxCheckpointsPerContainer: 1 })],
    });
    assert.deepEqual(deletedIds(d), [plain.id]);
    assert.equal(d.findings.length, 1);
    assert.deepEqual(d.findings[0]!.pinned.sort(), [keep.id, ofPinned.id].sort());
    const onlyInUse = decide({
      items: [inUse, item('a', 'p', 'c', 9, { inUse: true })],
      policies: [global({ maxCheckpointsPerContainer: 1 })],
    });
    assert.deepEqual(onlyInUse.delete, []);
    assert.deepEqual(onlyInUse.findings, []);
  });

  it('never touches what it cannot identify (an archive of another runtime without pod annotations)', () => {
    const d = decide({
      items: [item('', '', '', 1), item('a', '', 'c', 2), item('a', 'p', 'c', 3)],
      policies: [
        global({ maxCheckpointsPerContainer: 0, maxCheckpointsPerNamespace: 1, maxCheckpointSize: '1' }),
      ],
    });
    assert.deepEqual(
      d.delete.map((x) => x.item.time),
      [3 * 60_000],
    );
  });

  it('is idempotent: deciding again over what is left deletes nothing more', () => {
    const items = [1, 2, 3, 4, 5].map((t) => item('a', 'p', String(t % 2), t, { size: t * MiB }));
    const policies = [global({ maxCheckpointsPerContainer: 2, maxTotalSizePerPod: 8 })];
    const first = decide({ items, policies });
    const left = items.filter((i) => !first.delete.some((d) => d.item.id === i.id));
    assert.ok(first.delete.length > 0);
    assert.deepEqual(decide({ items: left, policies }).delete, []);
  });
});

describe('pinMatches', () => {
  const img = item('a', 'p', 'c', 1, {
    refs: ['reg:5000/team/checkpoint-p-c:20261127-080000-000'],
    tags: ['20261127-080000-000'],
    digest: `sha256:${'a'.repeat(64)}`,
  });
  const pin = (value: string) => ({ value, source: 'user' as const, namespace: 'a', pod: 'p' });
  it('matches exact references, digests and run ids only', () => {
    assert.ok(pinMatches(pin('reg:5000/team/checkpoint-p-c:20261127-080000-000'), img));
    assert.ok(pinMatches(pin('20261127-080000-000'), img));
    assert.ok(pinMatches(pin(`sha256:${'a'.repeat(64)}`), img));
    assert.ok(!pinMatches(pin('reg:5000/team/checkpoint-p-c:20261127-080000'), img));
    assert.ok(!pinMatches(pin('20261127-080000'), img));
    assert.ok(!pinMatches(pin('team/checkpoint-p-c:20261127-080000-000'), img));
  });
});
