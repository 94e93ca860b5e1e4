import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { labelValue, type BuiltImage, type CheckpointBackup } from '@stateful-migration/api';
import {
  backupClustersOf,
  candidateOf,
  coveringBackup,
  DRAIN_CLUSTER_LABEL,
  DRAIN_OF_LABEL,
  drainCheckpointOf,
  drainObjects,
  drainPolicyName,
  drainPullSecretName,
  gateResponse,
  gateVerdict,
  type EvictedPodRef,
} from './objects.js';
import { ANNOTATION } from './replacement.js';
import { drainCheckpointName, evictionVerdict } from './gate.js';

const backup = (
  over: Partial<CheckpointBackup['spec']> = {},
  meta: Partial<CheckpointBackup['metadata']> = {},
): CheckpointBackup => ({
  apiVersion: 'migration.dcnlab.com/v1',
  kind: 'CheckpointBackup',
  metadata: { name: 'db', namespace: 'shop', uid: 'b-uid', ...meta },
  spec: {
    schedule: '0 0 1 1 *',
    resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' },
    registry: { url: 'reg.example:5000', repository: 'team/cp', secretRef: { name: 'push' } },
    keepState: { eviction: { timeoutSeconds: 60 } },
    ...over,
  },
  status: { placement: { clusters: ['member1'], by: 'workload' } },
});

const sts = { kind: 'StatefulSet' as const, name: 'db' };

describe('coveringBackup: which backup keeps a pod of a workload in a cluster on eviction', () => {
  it('the workload-level backup of the workload, placed in the cluster, with keepState.eviction: its timeout', () => {
    const c = coveringBackup([backup()], 'shop', sts, 'member1');
    assert.equal(c?.backup, 'db');
    assert.equal(c?.timeoutSeconds, 60);
  });

  it('the CRD default timeout (120 s) for an eviction opt-in stored without one', () => {
    assert.equal(
      coveringBackup([backup({ keepState: { eviction: {} } })], 'shop', sts, 'member1')?.timeoutSeconds,
      120,
    );
  });

  it('none: another namespace, workload, kind or cluster; no opt-in; failover only; a pod-level or refused backup; one being deleted; no workload', () => {
    const none = (
      bs: CheckpointBackup[],
      ns = 'shop',
      w: typeof sts | undefined = sts,
      cluster = 'member1',
    ) => assert.equal(coveringBackup(bs, ns, w, cluster), undefined);
    none([backup()], 'other');
    none([backup()], 'shop', { kind: 'StatefulSet', name: 'kv' });
    none([backup()], 'shop', { kind: 'Deployment', name: 'db' } as never);
    none([backup()], 'shop', sts, 'member2');
    none([backup({ keepState: undefined })]);
    none([backup({ keepState: { clusterFailover: {} } })]);
    none([backup({ podRef: { name: 'db-0' } })]);
    none([backup({ registry: undefined })]);
    none([backup({}, { deletionTimestamp: '2026-12-01T00:00:00Z' })]);
    assert.equal(coveringBackup([backup()], 'shop', undefined, 'member1'), undefined);
  });

  it("none when a reference leaves the backup's namespace (stored before the admission policy): never another tenant's secret", () => {
    const none = (over: Partial<CheckpointBackup['spec']>) =>
      assert.equal(coveringBackup([backup(over)], 'shop', sts, 'member1'), undefined);
    none({
      registry: { url: 'reg.example:5000', repository: 'r', secretRef: { name: 'push', namespace: 'bank' } },
    });
    none({
      resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', namespace: 'bank' } as never,
    });
    // A name that is not an object name: a path elsewhere, or CEL the webhook configuration would run.
    const odd = "db')||true||('";
    assert.equal(
      coveringBackup(
        [backup({ resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: odd } })],
        'shop',
        { kind: 'StatefulSet', name: odd },
        'member1',
      ),
      undefined,
    );
  });

  it('several: the first by name, on every call', () => {
    const two = [backup({}, { name: 'zz' }), backup({}, { name: 'aa' })];
    assert.equal(coveringBackup(two, 'shop', sts, 'member1')?.backup, 'aa');
    assert.equal(coveringBackup([...two].reverse(), 'shop', sts, 'member1')?.backup, 'aa');
  });

  it('placed: status.placement, else the clusters that report', () => {
    assert.deepEqual(backupClustersOf({ status: { placement: { clusters: ['a'], by: 'x' } } }), ['a']);
    assert.deepEqual(
      backupClustersOf({ status: { clusters: [{ name: 'b', phase: 'Completed', applied: true }] } }),
      ['b'],
    );
    assert.deepEqual(backupClustersOf({}), []);
  });
});

const pod: EvictedPodRef = {
  namespace: 'shop',
  name: 'db-0',
  uid: '0123abcd-0000-0000-0000-000000000000',
  owner: { kind: 'StatefulSet', name: 'db', uid: 'sts-uid' },
  revision: 'db-7c9d',
  containers: ['db'],
};

describe('drainObjects: the drain checkpoint and its policy', () => {
  const name = drainCheckpointName(pod.name, pod.uid);
  const covering = backup({
    containers: [{ name: 'db' }],
    encryption: { publicKeysRef: { kind: 'Secret', name: 'keys' } },
    retention: { maxCheckpointsPerContainer: 3 },
  });
  const { backup: b, policy } = drainObjects(covering, pod, 'member1', name);

  it('a one-off single-pod backup of the pod with the covering backup registry, containers, encryption and retention', () => {
    assert.equal(b.metadata.name, 'drain-db-0-0123abcd');
    assert.deepEqual(b.spec, {
      schedule: 'immediately',
      podRef: { name: 'db-0' },
      resourceRef: covering.spec.resourceRef,
      containers: [{ name: 'db' }],
      registry: covering.spec.registry,
      encryption: covering.spec.encryption,
      retention: { maxCheckpointsPerContainer: 3 },
      placement: { clusterAffinity: { clusterNames: ['member1'] } },
    });
  });

  it('a covering backup whose name is longer than a label holds: the label is hashed to 63 characters, the owner keeps the name', () => {
    const long = `db-${'x'.repeat(200)}`;
    const c = { ...covering, metadata: { ...covering.metadata, name: long } };
    const made = drainObjects(c, pod, 'member1', name).backup;
    assert.equal(made.metadata.labels[DRAIN_OF_LABEL], labelValue(long));
    assert.ok(made.metadata.labels[DRAIN_OF_LABEL]!.length <= 63);
    assert.equal(made.metadata.ownerReferences[0]!.name, long);
  });

  it('never stopPod (the eviction deletes the pod) nor keepState (a pod-level backup may not keep state)', () => {
    assert.equal('stopPod' in b.spec, false);
    assert.equal('keepState' in b.spec, false);
  });

  it('owned by the covering backup; labelled with it and the cluster; annotated with the pod, its uid and its controller', () => {
    assert.deepEqual(b.metadata.ownerReferences, [
      { apiVersion: 'migration.dcnlab.com/v1', kind: 'CheckpointBackup', name: 'db', uid: 'b-uid' },
    ]);
    assert.deepEqual(b.metadata.labels, { [DRAIN_OF_LABEL]: 'db', [DRAIN_CLUSTER_LABEL]: 'member1' });
    assert.deepEqual(Object.values(b.metadata.annotations ?? {}), [
      'db-0',
      pod.uid,
      'StatefulSet/db/sts-uid',
      'db-7c9d',
    ]);
  });

  it('its policy: that backup and its pull secret, to the cluster only, above any user policy, owned alike', () => {
    assert.equal(policy.metadata.name, drainPolicyName(name));
    assert.equal(policy.spec.priority, 2_147_483_647);
    assert.deepEqual(policy.spec.resourceSelectors, [
      { apiVersion: 'migration.dcnlab.com/v1', kind: 'CheckpointBackup', name },
      { apiVersion: 'v1', kind: 'Secret', name: drainPullSecretName(name) },
    ]);
    assert.deepEqual(policy.spec.placement, { clusterAffinity: { clusterNames: ['member1'] } });
    assert.deepEqual(policy.metadata.ownerReferences, b.metadata.ownerReferences);
  });

  it('a backup without containers, encryption or retention carries none', () => {
    const plain = drainObjects(backup(), pod, 'member1', name).backup.spec;
    assert.deepEqual(Object.keys(plain).sort(), [
      'placement',
      'podRef',
      'registry',
      'resourceRef',
      'schedule',
    ]);
  });
});

const img = (over: Partial<BuiltImage> = {}): BuiltImage => ({
  containerName: 'db',
  imageName: 'reg.example:5000/team/cp/checkpoint-db-0-db:run1',
  digest: 'sha256:aaa',
  buildTime: '2026-12-01T10:00:05Z',
  pushed: true,
  ...over,
});

describe('drainCheckpointOf and the gate: the answer comes from the object status only', () => {
  const name = drainCheckpointName(pod.name, pod.uid);
  const made = {
    ...(drainObjects(backup(), pod, 'member1', name).backup as unknown as CheckpointBackup),
    metadata: {
      ...drainObjects(backup(), pod, 'member1', name).backup.metadata,
      creationTimestamp: '2026-12-01T10:00:00Z',
    },
  } as CheckpointBackup;
  const p = {
    namespace: 'shop',
    name: 'db-0',
    uid: pod.uid,
    phase: 'Running',
    nodeName: 'm1-a',
    deleting: false,
  };
  const opt = { backup: 'db', timeoutSeconds: 60 };
  const at = new Date('2026-12-01T10:00:30Z');
  const view = (phase: string | undefined, images: BuiltImage[] = [], cluster = 'member1') =>
    drainCheckpointOf(
      made,
      [{ name: cluster, ...(phase ? { phase } : {}), builtImages: images }],
      'member1',
      ['db'],
    );

  it('reads the member result of its own cluster: phase, pushed images by digest (tag dropped), creation time, pod uid', () => {
    assert.deepEqual(view('Completed', [img()]), {
      name,
      podUid: pod.uid,
      createdAt: '2026-12-01T10:00:00Z',
      phase: 'Completed',
      pushedImages: [
        { containerName: 'db', image: 'reg.example:5000/team/cp/checkpoint-db-0-db@sha256:aaa' },
      ],
      containers: ['db'],
    });
    assert.equal(view('Completed', [img()], 'member2')!.phase, undefined);
  });

  it('an image not pushed, or without a digest yet, is no image; the newest of a container counts', () => {
    assert.deepEqual(view('ImagePushing', [img({ pushed: false })])!.pushedImages, []);
    assert.deepEqual(view('ImagePushing', [img({ digest: undefined })])!.pushedImages, []);
    const two = view('Completed', [img({ digest: 'sha256:new', buildTime: '2026-12-01T10:01:00Z' }), img()]);
    assert.match(two!.pushedImages[0]!.image, /@sha256:new$/);
  });

  it('no object, or one no gate made, is no drain checkpoint', () => {
    assert.equal(drainCheckpointOf(undefined, [], 'member1', ['db']), undefined);
    assert.equal(drainCheckpointOf(backup(), [], 'member1', ['db']), undefined);
  });

  it("a drain checkpoint another covering backup's gate made is still the pod's (the name says the pod and its uid)", () => {
    const other = {
      ...made,
      metadata: { ...made.metadata, labels: { ...made.metadata.labels, [DRAIN_OF_LABEL]: 'older' } },
    };
    assert.equal(drainCheckpointOf(other, [], 'member1', ['db'])?.name, name);
  });

  it("gateVerdict: a CheckpointBackup of the checkpoint's name that no gate made is never waited for: the eviction proceeds and says why", () => {
    const theirs = backup({}, { name });
    const v = gateVerdict(p, opt, theirs, [], 'member1', ['db'], at);
    assert.equal(v.kind, 'proceedWithout');
    assert.equal(v.kind === 'proceedWithout' && v.reason, 'CheckpointNameTaken');
    assert.match(
      v.message,
      new RegExp(
        `CheckpointBackup ${name}, the name of its drain checkpoint, exists and was not made by the eviction gate`,
      ),
    );
    // Not opted in, or not running: as before, whatever the object.
    assert.equal(gateVerdict(p, undefined, theirs, [], 'member1', ['db'], at).kind, 'allow');
    // Nothing there: start; ours: as its status says.
    assert.equal(gateVerdict(p, opt, undefined, [], 'member1', ['db'], at).kind, 'start');
    assert.equal(
      gateVerdict(p, opt, made, [{ name: 'member1', phase: 'Failed' }], 'member1', ['db'], at).kind,
      'proceedWithout',
    );
  });

  it('the same object status gives the same verdict on every call (a restarted hub answers the same)', () => {
    assert.equal(evictionVerdict(p, opt, undefined, at).kind, 'start');
    assert.equal(evictionVerdict(p, opt, view('ImagePushing'), at).kind, 'wait');
    assert.equal(evictionVerdict(p, opt, view('Completed', [img()]), at).kind, 'allow');
    assert.equal(evictionVerdict(p, opt, view('Failed'), at).kind, 'proceedWithout');
    assert.equal(
      evictionVerdict(p, opt, view('ImagePushing'), new Date('2026-12-01T10:01:00Z')).kind,
      'proceedWithout',
    );
  });
});

describe('candidateOf: a drain checkpoint as the replacement chooses', () => {
  const name = drainCheckpointName(pod.name, pod.uid);
  const obj = {
    ...drainObjects(backup(), pod, 'member1', name).backup,
    metadata: {
      ...drainObjects(backup(), pod, 'member1', name).backup.metadata,
      creationTimestamp: '2026-12-01T10:00:00Z',
    },
  } as unknown as CheckpointBackup;
  const results = [{ name: 'member1', phase: 'Completed', builtImages: [img()] }];

  it('its pod, its controller by uid, its phase and images in its cluster', () => {
    assert.deepEqual(candidateOf(obj, results, 'member1', ANNOTATION.claimedBy), {
      name,
      podName: 'db-0',
      owner: { kind: 'StatefulSet', name: 'db', uid: 'sts-uid' },
      createdAt: '2026-12-01T10:00:00Z',
      revision: 'db-7c9d',
      phase: 'Completed',
      pushedImages: [
        { containerName: 'db', image: 'reg.example:5000/team/cp/checkpoint-db-0-db@sha256:aaa' },
      ],
    });
  });

  it('the claim, once written', () => {
    const claimed = {
      ...obj,
      metadata: {
        ...obj.metadata,
        annotations: { ...obj.metadata.annotations, [ANNOTATION.claimedBy]: 'db-0' },
      },
    };
    assert.equal(candidateOf(claimed, results, 'member1', ANNOTATION.claimedBy)?.claimedBy, 'db-0');
  });

  it('none: another cluster, not a drain checkpoint, or one whose controller annotation is not whole', () => {
    assert.equal(candidateOf(obj, results, 'member2', ANNOTATION.claimedBy), undefined);
    assert.equal(candidateOf(backup(), results, 'member1', ANNOTATION.claimedBy), undefined);
    const broken = {
      ...obj,
      metadata: {
        ...obj.metadata,
        annotations: { ...obj.metadata.annotations, 'migration.dcnlab.com/drain-owner': 'StatefulSet/db' },
      },
    };
    assert.equal(candidateOf(broken, results, 'member1', ANNOTATION.claimedBy), undefined);
  });
});

describe('gateResponse: the Eviction API contract', () => {
  it('start and wait: not allowed, HTTP 429 TooManyRequests with the message and the retry delay', () => {
    for (const kind of ['start', 'wait'] as const)
      assert.deepEqual(gateResponse('u', { kind, message: 'm', retryAfterSeconds: 5 }), {
        uid: 'u',
        allowed: false,
        status: {
          code: 429,
          reason: 'TooManyRequests',
          message: 'stateful-migration: m',
          details: { retryAfterSeconds: 5 },
        },
      });
  });

  it('pushed or not opted in: allowed; failed or timed out: allowed with the message as a warning', () => {
    assert.deepEqual(gateResponse('u', { kind: 'allow', reason: 'CheckpointPushed', message: 'm' }), {
      uid: 'u',
      allowed: true,
    });
    assert.deepEqual(gateResponse('u', { kind: 'allow', reason: 'NotOptedIn', message: 'm' }), {
      uid: 'u',
      allowed: true,
    });
    assert.deepEqual(
      gateResponse('u', { kind: 'proceedWithout', reason: 'CheckpointTimedOut', message: 'm' }),
      {
        uid: 'u',
        allowed: true,
        warnings: ['m'],
      },
    );
  });
});
