import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  backup,
  clusters,
  DIGEST_APP,
  DIGEST_SIDE,
  img,
  REG,
  restore,
  source,
} from './fixtures.test-support.js';
import {
  byDigest,
  restoreNameRefusal,
  stopsOnlyThePod,
  validate,
  type ValidateInput,
  type Verdict,
} from './validate.js';

const input = (over: Partial<ValidateInput> = {}): ValidateInput => ({
  restore: restore(),
  backup: backup(),
  sources: [source()],
  clusters: clusters(),
  ...over,
});

const refused = (v: Verdict, reason: string, ...words: RegExp[]) => {
  assert.equal(v.kind, 'refuse', JSON.stringify(v));
  if (v.kind !== 'refuse') return;
  assert.equal(v.reason, reason);
  for (const w of words) assert.match(v.message, w);
};

const plan = (v: Verdict) => {
  assert.equal(v.kind, 'ok', JSON.stringify(v));
  return (v as Extract<Verdict, { kind: 'ok' }>).plan;
};

describe('validate', () => {
  it('a good restore: every container by digest, the target, the default pod name, the registry secret', () => {
    const p = plan(validate(input()));
    assert.deepEqual(p.images, [
      { containerName: 'app', image: `${REG}/cp/checkpoint-web-1-app@${DIGEST_APP}` },
      { containerName: 'side', image: `${REG}/cp/checkpoint-web-1-side@${DIGEST_SIDE}` },
    ]);
    assert.equal(p.sourceCluster, 'member1');
    assert.equal(p.targetCluster, 'member2');
    assert.equal(p.podName, 'web-1-restored');
    assert.equal(p.mode, 'Restore');
    assert.equal(p.stop, undefined);
    assert.deepEqual(p.registrySecret, { name: 'creds', namespace: 'shop' });
    assert.equal(p.registryHost, REG);
    assert.equal(p.targetNode, undefined);
  });

  it('takes the newest pushed image of each container, skipping unpushed ones', () => {
    const s = source({
      builtImages: [
        img('app', 't1'),
        img('app', 't3', { pushed: false, digest: 'sha256:unpushed' }),
        img('app', 't2', { digest: 'sha256:newer' }),
        img('side', 't1'),
      ],
    });
    assert.equal(
      plan(validate(input({ sources: [s] }))).images[0]!.image,
      `${REG}/cp/checkpoint-web-1-app@sha256:newer`,
    );
  });

  it('spec.images: a digest of this backup is used as given, a tag of this backup is turned into its digest', () => {
    const p = plan(
      validate(
        input({
          restore: restore({
            images: [
              { containerName: 'app', image: `${REG}/cp/checkpoint-web-1-app@${DIGEST_APP}` },
              { containerName: 'side', image: img('side', 't1').imageName },
            ],
          }),
        }),
      ),
    );
    assert.deepEqual(
      p.images.map((i) => i.image),
      [`${REG}/cp/checkpoint-web-1-app@${DIGEST_APP}`, `${REG}/cp/checkpoint-web-1-side@${DIGEST_SIDE}`],
    );
  });

  it('spec.images: a digest that is not of an image this backup pushed is refused (ImageNotOfBackup), naming it', () => {
    for (const image of [
      `docker.io/library/busybox@sha256:${'c'.repeat(64)}`,
      // the digest of one of its images, in another repository
      `other.example/x@${DIGEST_APP}`,
      // its repository, another digest
      `${REG}/cp/checkpoint-web-1-app@sha256:${'d'.repeat(64)}`,
    ]) {
      const v = validate(input({ restore: restore({ images: [{ containerName: 'app', image }] }) }));
      refused(v, 'ImageNotOfBackup');
      assert.equal(
        (v as { message: string }).message,
        `image ${image} of container app is not a checkpoint image that shop/web-now pushed: give one of its ` +
          'status.builtImages, by name or by digest',
      );
    }
    const unpushed = source({ builtImages: [img('app', 't1', { pushed: false }), img('side', 't1')] });
    refused(
      validate(
        input({
          sources: [unpushed],
          restore: restore({
            images: [{ containerName: 'app', image: `${REG}/cp/checkpoint-web-1-app@${DIGEST_APP}` }],
          }),
        }),
      ),
      'ImageNotPushed',
      /never pushed/,
    );
  });

  it("spec.images: another container's checkpoint image of the same backup stays allowed (CRI-O refuses it at restore)", () => {
    const side = `${REG}/cp/checkpoint-web-1-side@${DIGEST_SIDE}`;
    const p = plan(
      validate(input({ restore: restore({ images: [{ containerName: 'app', image: side }] }) })),
    );
    assert.equal(p.images[0]!.image, side);
  });

  it('spec.images that cannot be restored are refused, naming the container', () => {
    refused(
      validate(input({ restore: restore({ images: [{ containerName: 'nope', image: 'x@sha256:1' }] }) })),
      'UnknownContainer',
      /nope/,
      /containers: app, side/,
    );
    refused(
      validate(
        input({ restore: restore({ images: [{ containerName: 'app', image: 'other.example/x:1' }] }) }),
      ),
      'ImageNotOfBackup',
      /container app/,
    );
    const s = source({ builtImages: [img('app', 't1', { pushed: false }), img('side', 't1')] });
    refused(
      validate(
        input({
          sources: [s],
          restore: restore({ images: [{ containerName: 'app', image: img('app', 't1').imageName }] }),
        }),
      ),
      'ImageNotPushed',
      /never pushed/,
    );
    refused(
      validate(
        input({
          restore: restore({
            images: [{ containerName: 'app', image: 'localhost/checkpoint-web-1-app:t1' }],
          }),
        }),
      ),
      'RegistryRequired',
      /registry is needed/,
    );
  });

  it('a backup without a registry (localhost images) is refused: the message says a registry is needed', () => {
    const local = source({
      builtImages: [
        img('app', 't1', { imageName: 'localhost/checkpoint-web-1-app:t1', pushed: false }),
        img('side', 't1', { imageName: 'localhost/checkpoint-web-1-side:t1', pushed: false }),
      ],
    });
    const noRegistry = backup();
    delete noRegistry.spec.registry;
    refused(
      validate(input({ backup: noRegistry, sources: [local] })),
      'RegistryRequired',
      /registry is needed/,
      /m1-a/,
      /spec\.registry/,
    );
    // A registry set later does not make earlier localhost images travel.
    refused(
      validate(input({ sources: [local] })),
      'RegistryRequired',
      /localhost\/checkpoint-web-1-app/,
      /registry is needed/,
    );
  });

  it('a container without a pushed image is refused, naming it and what to do', () => {
    refused(
      validate(input({ sources: [source({ builtImages: [img('app', 't1')] })] })),
      'MissingImage',
      /container side/,
      /images for: app/,
      /spec\.containers/,
    );
    refused(validate(input({ sources: [source({ builtImages: [] })] })), 'MissingImage', /images for: none/);
    refused(
      validate(
        input({
          sources: [source({ builtImages: [img('app', 't1'), img('side', 't1', { digest: undefined })] })],
        }),
      ),
      'ImageNotByDigest',
      /no recorded digest/,
    );
  });

  it('a missing backup is refused; a running or not yet reported one is waited for', () => {
    refused(validate(input({ backup: undefined })), 'BackupNotFound', /shop\/web-now/, /spec\.backupRef/);
    const w = validate(input({ sources: [source({ phase: 'ImagePushing', checkpointedPod: undefined })] }));
    assert.deepEqual(w, {
      kind: 'wait',
      reason: 'BackupNotReady',
      message: 'waiting for shop/web-now to finish a checkpoint (member1: ImagePushing)',
    });
    assert.equal(validate(input({ sources: [] })).kind, 'wait');
    refused(
      validate(
        input({
          sources: [source({ phase: 'Failed', message: 'pod not found', checkpointedPod: undefined })],
        }),
      ),
      'NoCheckpoint',
      /member1: Failed \(pod not found\)/,
    );
  });

  it('a workload-level backup (no podRef) is refused in both modes, saying so and that nothing was touched', () => {
    const whole = backup();
    delete whole.spec.podRef;
    whole.spec.resourceRef = { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' };
    for (const mode of ['Restore', 'Migrate'] as const)
      refused(
        validate(input({ backup: whole, restore: { ...restore(), spec: { ...restore().spec, mode } } })),
        'WorkloadRestoreNotSupported',
        /covers all of StatefulSet db \(no spec\.podRef\)/,
        /nothing was created or stopped/,
      );
  });

  it('with checkpoints in several clusters, the newest is the source', () => {
    const older = source({ name: 'member2', lastCheckpointTime: '2026-11-27T07:00:00Z' });
    assert.equal(plan(validate(input({ sources: [older, source()] }))).sourceCluster, 'member1');
  });

  it('the target: it must exist and be Ready', () => {
    refused(
      validate(input({ restore: restore({ targetCluster: 'member9' }) })),
      'TargetClusterNotFound',
      /member9/,
      /member1, member2/,
    );
    refused(
      validate(
        input({ clusters: clusters({ member2: { ready: false, message: 'cluster is not reachable' } }) }),
      ),
      'TargetClusterNotReady',
      /member2 is not Ready \(cluster is not reachable\)/,
    );
  });

  it('placement must pick exactly one cluster, by name or by labels', () => {
    const byLabels = restore({
      targetCluster: undefined,
      placement: { clusterAffinity: { labelSelector: { matchLabels: { region: 'us' } } } },
    });
    assert.equal(plan(validate(input({ restore: byLabels }))).targetCluster, 'member2');
    const byName = restore({
      targetCluster: undefined,
      placement: { clusterAffinity: { clusterNames: ['member1'] } },
    });
    assert.equal(plan(validate(input({ restore: byName }))).targetCluster, 'member1');
    const both = restore({
      targetCluster: undefined,
      placement: {
        clusterAffinity: { labelSelector: { matchExpressions: [{ key: 'region', operator: 'Exists' }] } },
      },
    });
    refused(
      validate(input({ restore: both })),
      'TargetClusterAmbiguous',
      /exactly one/,
      /picks member1, member2/,
    );
    const none = restore({
      targetCluster: undefined,
      placement: { clusterAffinity: { clusterNames: ['x'] } },
    });
    refused(validate(input({ restore: none })), 'TargetClusterAmbiguous', /picks none/);
    refused(
      validate(input({ restore: restore({ targetCluster: undefined }) })),
      'NoTargetCluster',
      /spec\.targetCluster/,
    );
    const notReady = restore({
      targetCluster: undefined,
      placement: { clusterAffinity: { clusterNames: ['member2'] } },
    });
    refused(
      validate(input({ restore: notReady, clusters: clusters({ member2: { ready: false } }) })),
      'TargetClusterNotReady',
    );
  });

  it('targetNode and podName are carried over', () => {
    const p = plan(validate(input({ restore: restore({ targetNode: 'm2-a', podName: 'web-copy' }) })));
    assert.equal(p.targetNode, 'm2-a');
    assert.equal(p.podName, 'web-copy');
  });

  it('Migrate: a Deployment or StatefulSet is scaled, a bare pod deleted, anything else refused', () => {
    const mig = restore({ mode: 'Migrate' });
    assert.deepEqual(plan(validate(input({ restore: mig }))).stop, {
      method: 'Scale',
      workload: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
    });
    const sts = backup({ resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' } });
    assert.equal(plan(validate(input({ restore: mig, backup: sts }))).stop?.method, 'Scale');
    const bare = backup({ resourceRef: { apiVersion: 'v1', kind: 'Pod', name: 'web-1' } });
    assert.deepEqual(plan(validate(input({ restore: mig, backup: bare }))).stop, { method: 'DeletePod' });
    const ds = backup({ resourceRef: { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'agent' } });
    refused(
      validate(input({ restore: mig, backup: ds })),
      'CannotStopSource',
      /DaemonSet agent/,
      /mode Restore/,
    );
    // Restore mode never stops anything, so any workload is fine.
    assert.equal(validate(input({ backup: ds })).kind, 'ok');
  });

  it('byDigest replaces the tag (even with a registry port) and needs a digest', () => {
    assert.equal(byDigest(img('app', 't1')), `${REG}/cp/checkpoint-web-1-app@${DIGEST_APP}`);
    assert.equal(byDigest(img('app', 't1', { imageName: 'reg:5000/repo' })), `reg:5000/repo@${DIGEST_APP}`);
    assert.equal(byDigest(img('app', 't1', { digest: undefined })), undefined);
  });

  describe('a CheckpointRestore acts only in its own namespace (issue 11)', () => {
    it('refuses a backup that names another namespace (one stored before the admission policy), naming the field', () => {
      refused(
        validate(input({ backup: backup({ podRef: { name: 'web-1', namespace: 'other' } }) })),
        'CrossNamespaceReference',
        /^CheckpointBackup shop\/web-now cannot be restored: spec\.podRef\.namespace "other" is not this object's namespace "shop": a CheckpointBackup acts only in its own namespace$/,
      );
      refused(
        validate(
          input({
            backup: backup({
              resourceRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: 'other' },
            }),
            restore: restore({ mode: 'Migrate' }),
          }),
        ),
        'CrossNamespaceReference',
        /spec\.resourceRef\.namespace "other"/,
      );
    });

    it('refuses a checkpoint whose recorded pod is of another namespace', () => {
      const s = source();
      s.checkpointedPod!.namespace = 'other';
      refused(
        validate(input({ sources: [s] })),
        'CrossNamespaceReference',
        /^the checkpoint of CheckpointBackup shop\/web-now is of pod other\/web-1, not of a pod in namespace "shop": a CheckpointRestore acts only in its own namespace$/,
      );
    });

    it("never makes a pull secret of the platform's default secret in a tenant's namespace, even before the backup ran", () => {
      for (const sources of [[source()], []])
        refused(
          validate(input({ backup: backup({ registry: { url: REG, repository: 'cp' } }), sources })),
          'DefaultSecretNotCopied',
          /^CheckpointBackup shop\/web-now pushes with the platform's default registry secret stateful-migration\/registry-credentials, which a restore never copies into namespace "shop" as a pull secret; set the backup's spec\.registry\.secretRef to a secret of namespace "shop" that may pull from reg\.example:5000$/,
        );
    });

    it("refuses a backup whose names would lead a request into another namespace (a pull secret of another's credentials, another's workload scaled to 0)", () => {
      refused(
        validate(
          input({
            backup: backup({
              registry: {
                url: REG,
                repository: 'cp',
                secretRef: { name: '../../stateful-migration/secrets/registry-credentials' },
              },
            }),
          }),
        ),
        'InvalidReferenceName',
        /^CheckpointBackup shop\/web-now cannot be restored: spec\.registry\.secretRef\.name "\.\.\/\.\.\/stateful-migration/,
      );
      refused(
        validate(
          input({
            backup: backup({
              resourceRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: '../../other/deployments/web' },
            }),
            restore: restore({ mode: 'Migrate' }),
          }),
        ),
        'InvalidReferenceName',
        /spec\.resourceRef\.name "\.\.\/\.\.\/other\/deployments\/web" is not the name of an object/,
      );
    });

    it('refuses a restore whose own names are not object names, before any is read or made', () => {
      for (const [spec, field] of [
        [{ backupRef: { name: '../../other/checkpointbackups/db' } }, 'spec.backupRef.name'],
        [{ podName: '../../other/pods/db-0' }, 'spec.podName'],
        [{ targetNode: 'm2-a/../../x' }, 'spec.targetNode'],
      ] as const) {
        const r = restore(spec);
        const expected = new RegExp(`^${field.replace(/\./g, '\\.')} ".*" is not the name of an object`);
        refused(validate(input({ restore: r })), 'InvalidReferenceName', expected);
        assert.equal(restoreNameRefusal(r)?.reason, 'InvalidReferenceName');
      }
      assert.equal(restoreNameRefusal(restore({ podName: 'web-1.copy', targetNode: 'm2-a' })), undefined);
    });

    it("the pull secret comes from the backup's own secret, in the restore's namespace", () => {
      const p = plan(
        validate(
          input({
            backup: backup({
              registry: { url: REG, repository: 'cp', secretRef: { name: 'creds', namespace: 'shop' } },
            }),
          }),
        ),
      );
      assert.deepEqual(p.registrySecret, { name: 'creds', namespace: 'shop' });
      assert.equal(p.namespace, 'shop');
    });
  });
});

describe('stopsOnlyThePod: Migrate never stops pods it did not restore', () => {
  const scale = {
    method: 'Scale' as const,
    workload: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
  };
  const src = { namespace: 'shop', pod: 'web-1', cluster: 'member1' };
  const cases: [
    string,
    Parameters<typeof stopsOnlyThePod>[0],
    Parameters<typeof stopsOnlyThePod>[1],
    RegExp?,
  ][] = [
    ['one replica in one cluster', scale, { replicas: 1, clusters: ['member1'] }],
    ['replicas unset (1) in one cluster', scale, { clusters: ['member1'] }],
    ['0 replicas (already stopped elsewhere)', scale, { replicas: 0, clusters: ['member1'] }],
    ['the same cluster listed twice', scale, { replicas: 1, clusters: ['member1', 'member1'] }],
    [
      '3 replicas',
      scale,
      { replicas: 3, clusters: ['member1'] },
      /scaling Deployment shop\/web to 0 would stop all 3/,
    ],
    [
      '2 clusters',
      scale,
      { replicas: 1, clusters: ['member2', 'member1'] },
      /runs Deployment shop\/web in member1, member2/,
    ],
    ['a bare pod in one cluster', { method: 'DeletePod' }, { clusters: ['member1'] }],
    [
      'a bare pod template in 2 clusters',
      { method: 'DeletePod' },
      { clusters: ['member1', 'member2'] },
      /pod shop\/web-1 in member1, member2/,
    ],
  ];
  for (const [name, stop, w, refused] of cases)
    it(`${name}: ${refused ? 'refused' : 'allowed'}`, () => {
      const r = stopsOnlyThePod(stop, w, src);
      if (!refused) return assert.equal(r, undefined);
      assert.equal(r?.reason, 'MigrateWouldStopOtherPods');
      assert.match(r?.message ?? '', refused);
      assert.match(r?.message ?? '', /mode Restore/);
    });
});
