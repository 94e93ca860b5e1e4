import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ANNOTATION,
  chooseCheckpoint,
  replacementPatch,
  type Candidate,
  type NewPod,
} from './replacement.js';

const sts = { kind: 'StatefulSet', name: 'db', uid: 'sts-uid' };
const rs = { kind: 'ReplicaSet', name: 'web-5d9f', uid: 'rs-uid' };
const newPod = (over: Partial<NewPod> = {}): NewPod => ({
  namespace: 'shop',
  name: 'db-1',
  owner: sts,
  containers: [{ name: 'db', image: 'registry.local/db:1' }],
  revision: 'db-v1',
  annotations: {},
  ...over,
});
const cand = (over: Partial<Candidate> = {}): Candidate => ({
  name: 'drain-db-1-aaaa',
  podName: 'db-1',
  owner: sts,
  createdAt: '2026-12-01T10:00:00Z',
  revision: 'db-v1',
  phase: 'Completed',
  pushedImages: [{ containerName: 'db', image: 'reg/cp/db@sha256:1' }],
  ...over,
});

const NOW = new Date('2026-12-01T10:01:00Z');
/** Fresh enough for the tests that are not about age (a ReplicaSet's older checkpoint is an hour old). */
const choose = (p: NewPod, cs: Candidate[]) => chooseCheckpoint(p, cs, NOW, 86_400);

describe('chooseCheckpoint: which drain checkpoint a new pod restores from', () => {
  it('a StatefulSet pod takes the checkpoint of the same ordinal, never another', () => {
    const v = choose(newPod(), [cand({ name: 'drain-db-0', podName: 'db-0' }), cand()]);
    assert.equal(v.kind, 'restore');
    assert.equal(v.kind === 'restore' && v.checkpoint.name, 'drain-db-1-aaaa');
    assert.equal(choose(newPod({ name: 'db-2' }), [cand()]).kind, 'none');
  });

  it('a ReplicaSet pod takes the oldest unclaimed checkpoint of its ReplicaSet', () => {
    const older = cand({
      name: 'drain-web-a',
      podName: 'web-5d9f-a',
      owner: rs,
      createdAt: '2026-12-01T09:00:00Z',
    });
    const newer = cand({ name: 'drain-web-b', podName: 'web-5d9f-b', owner: rs });
    const v = choose(newPod({ name: '', owner: rs }), [newer, older]);
    assert.equal(v.kind === 'restore' && v.checkpoint.name, 'drain-web-a');
    const next = choose(newPod({ name: '', owner: rs }), [newer, { ...older, claimedBy: 'web-5d9f-x' }]);
    assert.equal(next.kind === 'restore' && next.checkpoint.name, 'drain-web-b');
  });

  it('nothing to take: no owner, another kind of owner, another owner (same name, new uid), unfinished, claimed', () => {
    const none = (p: NewPod, cs: Candidate[]) => assert.equal(choose(p, cs).kind, 'none');
    none(newPod({ owner: undefined }), [cand()]);
    none(newPod({ owner: { kind: 'Job', name: 'db', uid: 'sts-uid' } }), [cand()]);
    none(newPod({ owner: { ...sts, uid: 'recreated' } }), [cand()]);
    for (const phase of [undefined, 'Running', 'Failed']) none(newPod(), [cand({ phase })]);
    none(newPod(), [cand({ claimedBy: 'db-1' })]);
    none(newPod(), []);
  });

  it('another revision of the pod template (a rollout since, same controller, same containers): never restored', () => {
    assert.equal(chooseCheckpoint(newPod({ revision: 'db-v2' }), [cand()], NOW, 300).kind, 'none');
    assert.equal(chooseCheckpoint(newPod({ revision: undefined }), [cand()], NOW, 300).kind, 'none');
    assert.equal(chooseCheckpoint(newPod(), [cand({ revision: undefined })], NOW, 300).kind, 'none');
  });

  it('older than maxAgeSeconds: never chosen, however unclaimed', () => {
    const old = (s: number) => new Date(Date.parse('2026-12-01T10:00:00Z') + s * 1000);
    assert.equal(chooseCheckpoint(newPod(), [cand()], old(299), 300).kind, 'restore');
    assert.equal(chooseCheckpoint(newPod(), [cand()], old(300), 300).kind, 'none');
    assert.equal(chooseCheckpoint(newPod(), [cand()], old(30 * 86400), 300).kind, 'none');
  });

  it('containers that differ from the checkpoint’s (the template changed): starts fresh, saying why', () => {
    const v = choose(
      newPod({
        containers: [
          { name: 'db', image: 'x' },
          { name: 'side', image: 'y' },
        ],
      }),
      [cand()],
    );
    assert.deepEqual(v, {
      kind: 'fresh',
      message: 'starts without state: drain checkpoint drain-db-1-aaaa has containers db, this pod db, side',
    });
    const fewer = choose(newPod(), [
      cand({ pushedImages: [...cand().pushedImages, { containerName: 'side', image: 'reg/side@sha256:2' }] }),
    ]);
    assert.equal(fewer.kind, 'fresh');
  });
});

describe('replacementPatch: the admission response’s JSON patch', () => {
  const restoreOf = (p: NewPod) => choose(p, [cand()]);
  const nodeRule = {
    key: 'migration.dcnlab.com/checkpoint-restore',
    operator: 'In',
    values: ['checkpoint_restore'],
  };

  it('none: no patch', () => {
    assert.deepEqual(replacementPatch(newPod(), { kind: 'none' }), []);
  });

  it('restore, pod without annotations or affinity: annotations made, image by digest, restoring nodes only', () => {
    assert.deepEqual(replacementPatch(newPod(), restoreOf(newPod())), [
      { op: 'add', path: '/metadata/annotations', value: {} },
      {
        op: 'add',
        path: '/metadata/annotations/migration.dcnlab.com~1restored-from-drain',
        value: 'drain-db-1-aaaa',
      },
      { op: 'replace', path: '/spec/containers/0/image', value: 'reg/cp/db@sha256:1' },
      {
        op: 'add',
        path: '/spec/affinity',
        value: {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [nodeRule] }],
            },
          },
        },
      },
    ]);
    assert.equal(ANNOTATION.restoredFrom, 'migration.dcnlab.com/restored-from-drain');
  });

  it('keeps what the pod asks of nodes and adds the rule to each of its terms', () => {
    const withTerms = newPod({
      annotations: { a: 'b' },
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone' }] }, {}],
          },
        },
      },
    });
    const ops = replacementPatch(withTerms, restoreOf(withTerms));
    assert.deepEqual(ops.slice(-2), [
      {
        op: 'add',
        path: '/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchExpressions/-',
        value: nodeRule,
      },
      {
        op: 'add',
        path: '/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/1/matchExpressions',
        value: [nodeRule],
      },
    ]);
    assert.ok(
      !ops.some((o) => o.path === '/metadata/annotations'),
      'existing annotations are added to, not replaced',
    );
  });

  it('affinity without nodeAffinity, or nodeAffinity without required terms: adds only the missing part', () => {
    const anti = newPod({ affinity: {} });
    assert.equal(replacementPatch(anti, restoreOf(anti)).at(-1)!.path, '/spec/affinity/nodeAffinity');
    const preferredOnly = newPod({ affinity: { nodeAffinity: {} } });
    assert.equal(
      replacementPatch(preferredOnly, restoreOf(preferredOnly)).at(-1)!.path,
      '/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution',
    );
  });

  it('fresh: only the annotation saying why', () => {
    const p = newPod({ annotations: { a: 'b' } });
    assert.deepEqual(replacementPatch(p, { kind: 'fresh', message: 'why' }), [
      { op: 'add', path: '/metadata/annotations/migration.dcnlab.com~1started-fresh', value: 'why' },
    ]);
  });
});

describe('replacementPatch: the pull secret of the drain checkpoint', () => {
  const restore = choose(newPod(), [cand()]);

  it("added to the pod's own pull secrets", () => {
    const ops = replacementPatch(
      newPod({ imagePullSecrets: [{ name: 'own' }] }),
      restore,
      'drain-db-1-aaaa-pull',
    );
    assert.deepEqual(
      ops.find((o) => o.path === '/spec/imagePullSecrets'),
      {
        op: 'add',
        path: '/spec/imagePullSecrets',
        value: [{ name: 'own' }, { name: 'drain-db-1-aaaa-pull' }],
      },
    );
  });

  it('not twice, and none without one or for a pod that starts fresh', () => {
    const has = (ops: { path: string }[]) => ops.some((o) => o.path === '/spec/imagePullSecrets');
    assert.equal(has(replacementPatch(newPod({ imagePullSecrets: [{ name: 'p' }] }), restore, 'p')), false);
    assert.equal(has(replacementPatch(newPod(), restore)), false);
    assert.equal(has(replacementPatch(newPod(), { kind: 'fresh', message: 'm' }, 'p')), false);
  });
});
