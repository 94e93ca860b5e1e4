import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { isFinished, PHASES, type CheckpointBackup, type FreshCheckpoint } from '@stateful-migration/api';
import {
  checkpointBackupName,
  checkpointProgress,
  freshBackup,
  freshCheckpoint,
  keysObjectPath,
  migrateIntent,
  type KeysObjectRead,
} from './fresh-checkpoint.js';
import { backup, clusters, img, restore, source } from './fixtures.test-support.js';
import { changedStatus, checkpointTakenStatus, restoreStep } from './status.js';
import { keyFingerprint } from '@stateful-migration/ocicrypt';

/** A recipient's public key as a keys object holds it, and its thumbprint (what nodes publish). */
function publicPem(): { pem: string; fp: string } {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), fp: keyFingerprint(publicKey) };
}

/** A migration's checkpoint as status records it. */
const c: FreshCheckpoint = {
  backup: 'r1-migrate',
  cluster: 'member1',
  pod: 'web-1',
  targetCluster: 'member2',
  requestedTime: '2026-12-01T10:00:00Z',
};
const migrate = (spec: Parameters<typeof restore>[0] = {}) => restore({ mode: 'Migrate', ...spec });
const intentOf = (over: Partial<Parameters<typeof migrateIntent>[0]> = {}) =>
  migrateIntent({ restore: migrate(), backup: backup(), sources: [source()], clusters: clusters(), ...over });

describe('migrateIntent: what a Migrate checks before it checkpoints or stops anything', () => {
  it('a backup of one Deployment pod in member1, into member2: scale the workload, checkpoint web-1 there', () => {
    assert.deepEqual(intentOf(), {
      kind: 'ok',
      intent: {
        namespace: 'shop',
        sourceCluster: 'member1',
        sourcePod: 'web-1',
        targetCluster: 'member2',
        stop: { method: 'Scale', workload: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' } },
        checkpoints: [],
      },
    });
  });

  describe('an encrypted backup: the recipients are those of its keys object on Karmada now, not of an older image', () => {
    const [A, B] = [publicPem(), publicPem()];
    const keysRef = { kind: 'ConfigMap' as const, name: 'keys' };
    const enc = backup({ encryption: { publicKeysRef: keysRef } });
    const read = (data: Record<string, string>): KeysObjectRead => ({ kind: 'read', object: { data } });
    // Images pushed for key A, before the user swapped A for B in the keys object.
    const pushedForA = source({
      builtImages: [img('app', 't1', { encryptedFor: [A.fp] }), img('side', 't1', { encryptedFor: [A.fp] })],
    });

    it('each container of the pod is expected encrypted for the keys the object holds now (B), never A', () => {
      const v = intentOf({ backup: enc, sources: [pushedForA], keys: read({ b: B.pem }) });
      assert.deepEqual(v.kind === 'ok' && v.intent.checkpoints, [
        { containerName: 'app', encryptedFor: [B.fp] },
        { containerName: 'side', encryptedFor: [B.fp] },
      ]);
      const both = intentOf({ backup: enc, sources: [pushedForA], keys: read({ a: A.pem, b: B.pem }) });
      assert.deepEqual(both.kind === 'ok' && both.intent.checkpoints[0]!.encryptedFor, [A.fp, B.fp]);
    });

    it("spec.containers names the images; a backup that never ran needs no earlier push (the object's keys suffice)", () => {
      const some = intentOf({
        backup: backup({ encryption: { publicKeysRef: keysRef }, containers: [{ name: 'app' }] }),
        sources: [pushedForA],
        keys: read({ b: B.pem }),
      });
      assert.deepEqual(some.kind === 'ok' && some.intent.checkpoints, [
        { containerName: 'app', encryptedFor: [B.fp] },
      ]);
      const never = intentOf({
        backup: { ...enc, status: { placement: { clusters: ['member1'], by: 'policy' } } },
        sources: [],
        keys: read({ b: B.pem }),
      });
      assert.deepEqual(never.kind === 'ok' && never.intent.checkpoints, [
        { containerName: '', encryptedFor: [B.fp] },
      ]);
    });

    const waits: [string, KeysObjectRead | undefined, string, RegExp][] = [
      [
        'missing on Karmada',
        { kind: 'failed', status: 404, detail: 'not found' },
        'EncryptionKeysNotFound',
        /ConfigMap shop\/keys does not exist on the Karmada control plane: create it.*nothing was checkpointed or stopped/,
      ],
      [
        'not readable by the restore controller',
        { kind: 'failed', status: 403, detail: 'forbidden' },
        'EncryptionKeysUnreadable',
        /cannot be read by the restore controller \(403 Forbidden\).*stateful-migration-hub-restore.*nothing was checkpointed/,
      ],
      [
        'unreachable',
        { kind: 'failed', status: 503, detail: 'connection refused' },
        'EncryptionKeysUnreadable',
        /cannot be read \(connection refused\).*nothing was checkpointed/,
      ],
      [
        'holding no public key',
        read({ key: 'not a key' }),
        'EncryptionKeysInvalid',
        /data key "key", is not a public key to encrypt for: it holds no PEM block.*nothing was checkpointed/,
      ],
      ['not read at all', undefined, 'EncryptionKeysUnreadable', /not read.*nothing was checkpointed/],
    ];
    for (const [what, keys, reason, message] of waits)
      it(`a keys object ${what}: a wait (${reason}) that names it and what to do, before the source is touched`, () => {
        const v = intentOf({ backup: enc, sources: [pushedForA], ...(keys ? { keys } : {}) });
        assert.equal(v.kind, 'wait');
        assert.equal(v.kind === 'wait' && v.reason, reason);
        assert.match(v.kind === 'wait' ? v.message : '', message);
        const said = v.kind === 'wait' ? v.message : '';
        assert.ok(![A.pem, B.pem, 'not a key'].some((x) => said.includes(x)), 'never what the object holds');
      });

    it("the keys object it reads: the one the backup names, in the restore's namespace, of its own kind only", () => {
      const r = migrate();
      assert.equal(keysObjectPath(r, enc), '/api/v1/namespaces/shop/configmaps/keys');
      assert.equal(
        keysObjectPath(r, backup({ encryption: { publicKeysRef: { kind: 'Secret', name: 'keys' } } })),
        '/api/v1/namespaces/shop/secrets/keys',
      );
      assert.equal(keysObjectPath(r, backup()), undefined, 'in clear: nothing to read');
      // A name that is a path, a backup of another namespace, a kind that is neither: nothing is read.
      for (const b of [
        backup({
          encryption: { publicKeysRef: { kind: 'ConfigMap', name: '../../kube-system/configmaps/x' } },
        }),
        { ...enc, metadata: { ...enc.metadata, namespace: 'other' } },
        backup({ encryption: { publicKeysRef: { kind: 'Pod' as 'Secret', name: 'keys' } } }),
      ])
        assert.equal(keysObjectPath(r, b), undefined, JSON.stringify(b.spec.encryption));
    });
  });

  it('needs no earlier checkpoint: a backup placed in one cluster that never ran is enough', () => {
    const v = intentOf({
      backup: { ...backup(), status: { placement: { clusters: ['member1'], by: 'policy' } } },
      sources: [],
    });
    assert.equal(v.kind, 'ok');
    assert.equal(v.kind === 'ok' && v.intent.sourceCluster, 'member1');
  });

  it('the source cluster is the one of the latest checkpoint of that pod, not of another pod', () => {
    const older = source({ name: 'member2', lastCheckpointTime: '2026-11-27T09:00:00Z' });
    const other = source({
      name: 'member3',
      lastCheckpointTime: '2026-11-28T00:00:00Z',
      checkpointedPod: { ...source().checkpointedPod!, name: 'web-2' },
    });
    const v = intentOf({ sources: [source(), older, other] });
    assert.equal(v.kind === 'ok' && v.intent.sourceCluster, 'member2');
  });

  const refusals: [string, Partial<Parameters<typeof migrateIntent>[0]>, string, RegExp][] = [
    ['no backup', { backup: undefined }, 'BackupNotFound', /web-now does not exist/],
    [
      'spec.images: an older checkpoint would lose what the source did since',
      { restore: migrate({ images: [{ containerName: 'app', image: 'x@sha256:1' }] }) },
      'ImagesWithMigrate',
      /remove spec.images, or use mode Restore/,
    ],
    [
      'a backup that names no pod (a whole workload: migrated by its placement, not here)',
      { backup: backup({ podRef: undefined as unknown as CheckpointBackup['spec']['podRef'] }) },
      'WorkloadRestoreNotSupported',
      /covers all of Deployment web \(no spec.podRef\).*not supported yet/,
    ],
    [
      'a workload kind Migrate cannot stop',
      { backup: backup({ resourceRef: { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'd' } }) },
      'CannotStopSource',
      /DaemonSet d/,
    ],
    [
      'no registry: the target could not pull the checkpoint',
      { backup: backup({ registry: undefined }) },
      'RegistryRequired',
      /set its spec.registry/,
    ],
    [
      "the platform's default secret",
      { backup: backup({ registry: { url: 'reg.example:5000', repository: 'cp' } }) },
      'DefaultSecretNotCopied',
      /secretRef/,
    ],
    [
      'a backup naming another namespace',
      { backup: backup({ podRef: { name: 'web-1', namespace: 'other' } }) },
      'CrossNamespaceReference',
      /other/,
    ],
    [
      'placed in two clusters with no checkpoint of the pod',
      {
        sources: [
          source({ checkpointedPod: undefined }),
          source({ name: 'member2', checkpointedPod: undefined }),
        ],
      },
      'SourceClusterAmbiguous',
      /member1, member2/,
    ],
    [
      'a target that is not Ready',
      { clusters: clusters({ member2: { ready: false, message: 'down' } }) },
      'TargetClusterNotReady',
      /member2 is not Ready \(down\)/,
    ],
    [
      'an unknown target',
      { restore: migrate({ targetCluster: 'member9' }) },
      'TargetClusterNotFound',
      /member9/,
    ],
  ];
  for (const [name, over, reason, message] of refusals)
    it(`refused: ${name}`, () => {
      const v = intentOf(over);
      assert.equal(v.kind, 'refuse', JSON.stringify(v));
      assert.equal(v.kind === 'refuse' && v.reason, reason);
      assert.match(v.kind === 'refuse' ? v.message : '', message);
    });

  it('a backup the hub has not placed yet: wait', () => {
    const v = intentOf({ sources: [] });
    assert.equal(v.kind, 'wait');
    assert.equal(v.kind === 'wait' && v.reason, 'BackupNotPlaced');
  });
});

describe('freshBackup: the one-off CheckpointBackup of a migration', () => {
  const r = { ...migrate(), metadata: { ...migrate().metadata, uid: 'r-uid' } };
  const made: FreshCheckpoint = freshCheckpoint(
    r,
    {
      namespace: 'shop',
      sourceCluster: 'member1',
      sourcePod: 'web-1',
      targetCluster: 'member2',
      stop: { method: 'DeletePod' },
      checkpoints: [],
    },
    new Date('2026-12-01T10:00:00Z'),
  );

  it('is named after the restore, recorded with the source, target and time', () => {
    assert.deepEqual(made, {
      backup: 'r1-migrate',
      cluster: 'member1',
      pod: 'web-1',
      targetCluster: 'member2',
      requestedTime: '2026-12-01T10:00:00.000Z',
    });
  });

  it("keeps the user's containers, registry, encryption and retention; once, stopPod, in the source only; owned", () => {
    const from = backup({
      schedule: '*/5 * * * *',
      containers: [{ name: 'app' }],
      encryption: {
        publicKeysRef: { kind: 'Secret', name: 'keys' },
      } as CheckpointBackup['spec']['encryption'],
      retention: { maxCheckpointsPerContainer: 3 },
      placement: { clusterAffinity: { clusterNames: ['member1', 'member2'] } },
    });
    const b = freshBackup(r, from, made, { owner: 'shop.r1' });
    assert.deepEqual(b.metadata, {
      name: 'r1-migrate',
      namespace: 'shop',
      labels: { owner: 'shop.r1' },
      ownerReferences: [
        { apiVersion: 'migration.dcnlab.com/v1', kind: 'CheckpointRestore', name: 'r1', uid: 'r-uid' },
      ],
    });
    assert.deepEqual(b.spec, {
      schedule: 'immediately',
      stopPod: true,
      podRef: { name: 'web-1' },
      resourceRef: from.spec.resourceRef,
      containers: [{ name: 'app' }],
      registry: from.spec.registry,
      encryption: from.spec.encryption,
      retention: { maxCheckpointsPerContainer: 3 },
      placement: { clusterAffinity: { clusterNames: ['member1'] } },
    });
  });
});

describe('checkpointProgress: what the migration backup says', () => {
  const mine = {
    ...backup(),
    metadata: { name: 'r1-migrate', namespace: 'shop', ownerReferences: [{ uid: 'r-uid' }] },
  } as CheckpointBackup;
  const at = (over: Parameters<typeof source>[0] | undefined) =>
    checkpointProgress({
      checkpoint: c,
      restoreUid: 'r-uid',
      backup: mine,
      sources: over === undefined ? [] : [source(over)],
    });

  it('not there: create it', () =>
    assert.deepEqual(
      checkpointProgress({ checkpoint: c, restoreUid: 'r-uid', backup: undefined, sources: [] }),
      { kind: 'create' },
    ));

  it("someone else's object of that name: refused, never used", () => {
    for (const b of [{ ...mine, metadata: { name: 'r1-migrate', namespace: 'shop' } }, mine])
      assert.equal(
        checkpointProgress({
          checkpoint: c,
          restoreUid: b === mine ? 'other' : 'r-uid',
          backup: b,
          sources: [],
        }).kind,
        'refuse',
      );
  });

  it('no result from the source cluster yet, or Pending / Unknown: wait for its agent', () => {
    assert.match((at(undefined) as { message: string }).message, /waiting for its agent/);
    for (const phase of ['Pending', 'Unknown'])
      assert.match((at({ phase }) as { message: string }).message, /waiting for its agent/);
    assert.equal(
      checkpointProgress({
        checkpoint: c,
        restoreUid: 'r-uid',
        backup: mine,
        sources: [source({ name: 'member2', phase: 'CompletedPodDeleted' })],
      }).kind,
      'wait',
      "another cluster's result is not the source's",
    );
  });

  for (const phase of PHASES.filter((p) => !isFinished(p)))
    it(`${phase}: wait, saying so`, () =>
      assert.deepEqual(at({ phase }), {
        kind: 'wait',
        message: `checkpointing pod web-1 in member1: ${phase} (CheckpointBackup r1-migrate)`,
      }));

  it('CompletedPodDeleted: taken, at the time the agent recorded', () =>
    assert.deepEqual(at({ phase: 'CompletedPodDeleted', lastCheckpointTime: '2026-12-01T10:00:01Z' }), {
      kind: 'taken',
      checkpointTime: '2026-12-01T10:00:01Z',
    }));

  it('CompletedPodDeleted before its record of the pod reached the hub: wait', () =>
    assert.equal(at({ phase: 'CompletedPodDeleted', checkpointedPod: undefined }).kind, 'wait'));

  for (const phase of ['Completed', 'CompletedWithError'])
    it(`${phase}: the source was not stopped, nothing restored`, () => {
      const p = at({ phase, message: 'deleting the pod failed: forbidden' });
      assert.equal(p.kind === 'refuse' && p.reason, 'SourceNotStopped');
      assert.match(
        p.kind === 'refuse' ? p.message : '',
        /not stopped .*: deleting the pod failed: forbidden/,
      );
    });

  it('Failed: the migration fails with the agent’s message', () => {
    const p = at({ phase: 'Failed', message: 'kubelet said no' });
    assert.equal(p.kind === 'refuse' && p.reason, 'CheckpointFailed');
    assert.match(p.kind === 'refuse' ? p.message : '', /failed: kubelet said no; nothing was restored/);
  });
});

describe('a migration in the phases of a restore', () => {
  const at = (status: object, generation = 1) => ({
    ...migrate(),
    metadata: { ...migrate().metadata, generation },
    status,
  });

  it('Checkpointing is the checkpoint step', () =>
    assert.equal(restoreStep(at({ phase: 'Checkpointing', checkpoint: c })), 'checkpoint'));

  it('a Failed migration that asked for its checkpoint is not started again by a spec change', () => {
    assert.equal(
      restoreStep(at({ phase: 'Failed', observedGeneration: 1, checkpoint: c }, 2)),
      'done',
      'its source may be stopped already',
    );
    assert.equal(restoreStep(at({ phase: 'Failed', observedGeneration: 1 }, 2)), 'start');
  });

  it("reads its checkpoint from its own backup once it has one, else from spec.backupRef's", () => {
    assert.equal(checkpointBackupName(at({ checkpoint: c })), 'r1-migrate');
    assert.equal(checkpointBackupName(at({})), 'web-now');
  });

  it('status says what state each mode restores: Restored of a Restore, Restored of a Migrate, the checkpoint taken', () => {
    const restored = {
      phase: 'Restored' as const,
      reason: 'Restored',
      message: 'the restored pod is Running and Ready',
    };
    const now = new Date('2026-12-01T10:00:05Z');
    assert.equal(
      changedStatus({}, restored, { mode: 'Restore', generation: 1, now }).message,
      "the restored pod is Running and Ready, with the state of the backup's checkpoint; the source keeps running",
    );
    const taken = checkpointTakenStatus(
      { checkpoint: c, observedGeneration: 1 },
      '2026-12-01T10:00:01Z',
      now,
    );
    assert.equal(taken.checkpoint?.sourceStoppedTime, '2026-12-01T10:00:05.000Z');
    const cond = taken.conditions?.find((x) => x.type === 'SourceCheckpointed');
    assert.equal(cond?.status, 'True');
    assert.match(
      cond?.message ?? '',
      /^checkpointed pod web-1 in member1 at 2026-12-01T10:00:01Z and stopped it; restoring into member2: the restored pod will have the state the source had when it stopped/,
    );
    assert.equal(
      changedStatus(taken, restored, { mode: 'Migrate', generation: 1, now }).message,
      'the restored pod is Running and Ready, with the state the source had when it stopped, right after its checkpoint at 2026-12-01T10:00:01Z',
    );
  });
});
