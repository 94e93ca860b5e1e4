import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backup, clusters, restore, source } from './fixtures.test-support.js';
import {
  ANNOTATION,
  handoverLabels,
  pullSecret,
  pullSecretName,
  RESTORE_LABEL,
  restoredPod,
  restoreOwners,
} from './pod.js';
import { validate, type RestorePlan } from './validate.js';

const planOf = (spec: Parameters<typeof restore>[0] = {}): RestorePlan => {
  const v = validate({ restore: restore(spec), backup: backup(), sources: [source()], clusters: clusters() });
  assert.equal(v.kind, 'ok');
  return (v as { plan: RestorePlan }).plan;
};
const ref = { name: 'r1', namespace: 'shop', backup: 'web-now' };

describe('restoredPod', () => {
  it('same container names, images by digest, same mounts, ports, env (references kept) and securityContext', () => {
    const p = planOf();
    const pod = restoredPod(p, ref, 'r1-registry-pull');
    assert.deepEqual(
      pod.spec.containers.map((c) => [c.name, c.image]),
      p.images.map((i) => [i.containerName, i.image]),
    );
    const app = pod.spec.containers[0]!;
    assert.deepEqual(app.volumeMounts, [{ name: 'data', mountPath: '/data' }]);
    assert.deepEqual(app.ports, [{ containerPort: 8080 }]);
    assert.deepEqual(app.env, [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } }]);
    assert.equal(pod.metadata.annotations[ANNOTATION.envFromCheckpoint], undefined);
    assert.deepEqual(app.securityContext, { runAsUser: 1000 });
    assert.deepEqual(pod.spec.volumes, [{ name: 'data', emptyDir: {} }]);
    assert.deepEqual(pod.spec.containers[1], {
      name: 'side',
      image: p.images[1]!.image,
      imagePullPolicy: 'IfNotPresent',
    });
  });

  it("carries none of the source's labels, so no Service selects both pods; only the restore's own label", () => {
    const pod = restoredPod(planOf(), ref, 's');
    assert.deepEqual(pod.metadata.labels, { [RESTORE_LABEL]: 'r1' });
  });

  it('names the source cluster, pod and backup in annotations; lives in the source namespace', () => {
    const pod = restoredPod(planOf(), ref, 's');
    assert.deepEqual(pod.metadata.annotations, {
      [ANNOTATION.sourceCluster]: 'member1',
      [ANNOTATION.sourcePod]: 'shop/web-1',
      [ANNOTATION.backup]: 'shop/web-now',
      [ANNOTATION.restore]: 'shop/r1',
    });
    assert.equal(pod.metadata.namespace, 'shop');
    assert.equal(pod.metadata.name, 'web-1-restored');
  });

  it('requires a node whose runtime restores, and targetNode, in one nodeSelectorTerm (both must hold)', () => {
    const pinned = restoredPod(planOf({ targetNode: 'm2-a' }), ref, 's');
    assert.deepEqual(pinned.spec.affinity, {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            {
              matchExpressions: [
                {
                  key: 'migration.dcnlab.com/checkpoint-restore',
                  operator: 'In',
                  values: ['checkpoint_restore'],
                },
              ],
              matchFields: [{ key: 'metadata.name', operator: 'In', values: ['m2-a'] }],
            },
          ],
        },
      },
    });
  });

  it('without targetNode, still only nodes whose runtime restores; no node pinned by name', () => {
    assert.deepEqual(restoredPod(planOf(), ref, 's').spec.affinity, {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [
            {
              matchExpressions: [
                {
                  key: 'migration.dcnlab.com/checkpoint-restore',
                  operator: 'In',
                  values: ['checkpoint_restore'],
                },
              ],
            },
          ],
        },
      },
    });
  });

  it("runs as the source's ServiceAccount (its token volume needs it), default when none was recorded", () => {
    assert.equal(restoredPod(planOf(), ref, 's').spec.serviceAccountName, 'default');
    const p = planOf();
    p.source.serviceAccountName = 'web-sa';
    assert.equal(restoredPod(p, ref, 's').spec.serviceAccountName, 'web-sa');
  });

  it('pulls with the registry pull secret', () => {
    assert.deepEqual(restoredPod(planOf(), ref, 'r1-registry-pull').spec.imagePullSecrets, [
      { name: 'r1-registry-pull' },
    ]);
    assert.equal(pullSecretName('r1'), 'r1-registry-pull');
  });
});

describe('restoredPod: env without literal values (issue 11)', () => {
  it('keeps valueFrom references; a variable the record names without a value is listed in an annotation', () => {
    const p = planOf();
    p.source.containers[0]!.env = [
      { name: 'MODE' },
      { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
      { name: 'LEVEL' },
    ];
    p.source.containers[1]!.env = [{ name: 'SIDE_MODE' }];
    const pod = restoredPod(p, ref, 's');
    assert.deepEqual(pod.spec.containers[0]!.env, [
      { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
    ]);
    assert.equal(pod.spec.containers[1]!.env, undefined);
    assert.equal(pod.metadata.annotations[ANNOTATION.envFromCheckpoint], 'app=MODE,LEVEL;side=SIDE_MODE');
  });
  it('drops a literal value even from a record an older agent wrote with one', () => {
    const p = planOf();
    p.source.containers[0]!.env = [{ name: 'DB_PASSWORD', value: 's3cret' }];
    const pod = restoredPod(p, ref, 's');
    assert.ok(!JSON.stringify(pod).includes('s3cret'));
    assert.equal(pod.metadata.annotations[ANNOTATION.envFromCheckpoint], 'app=DB_PASSWORD');
  });
});

describe("the restore's own namespace and ownership (issue 11)", () => {
  it("creates the pod in the restore's namespace (the plan's), whatever namespace the record names", () => {
    const p = planOf();
    p.source.namespace = 'elsewhere';
    const pod = restoredPod(p, ref, 's');
    assert.equal(pod.metadata.namespace, 'shop');
    assert.equal(pod.metadata.annotations[ANNOTATION.sourcePod], 'elsewhere/web-1');
  });
  it('the pull secret and policy are owned by the restore, and by the restored pod once it exists', () => {
    const r = { name: 'r1', uid: 'u-r1' };
    assert.deepEqual(restoreOwners(r), [
      { apiVersion: 'migration.dcnlab.com/v1', kind: 'CheckpointRestore', name: 'r1', uid: 'u-r1' },
    ]);
    assert.deepEqual(restoreOwners(r, { name: 'web-1-restored', uid: 'u-p' }), [
      { apiVersion: 'migration.dcnlab.com/v1', kind: 'CheckpointRestore', name: 'r1', uid: 'u-r1' },
      { apiVersion: 'v1', kind: 'Pod', name: 'web-1-restored', uid: 'u-p' },
    ]);
  });
  it('the pull secret carries its owners', () => {
    const owners = restoreOwners({ name: 'r1', uid: 'u-r1' });
    const s = pullSecret('p', 'shop', 'reg:5000', { username: 'a', password: 'b' }, {}, owners) as {
      metadata: { ownerReferences?: unknown };
    };
    assert.deepEqual(s.metadata.ownerReferences, owners);
  });
});

describe('pullSecret', () => {
  it('is a dockerconfigjson for exactly the registry, with the credentials a kubelet sends', () => {
    const s = pullSecret('p', 'shop', 'reg:5000', { username: 'alice', password: 'pw' }, { a: 'b' }) as {
      type: string;
      metadata: unknown;
      data: Record<string, string>;
    };
    assert.equal(s.type, 'kubernetes.io/dockerconfigjson');
    assert.deepEqual(s.metadata, { name: 'p', namespace: 'shop', labels: { a: 'b' } });
    const config = JSON.parse(Buffer.from(s.data['.dockerconfigjson']!, 'base64').toString()) as {
      auths: Record<string, { auth: string; username: string }>;
    };
    assert.deepEqual(Object.keys(config.auths), ['reg:5000']);
    assert.equal(Buffer.from(config.auths['reg:5000']!.auth, 'base64').toString(), 'alice:pw');
  });
});

describe('handoverLabels', () => {
  it("hands over the workload's labels but none that would let the source's ReplicaSet or StatefulSet adopt the pod", () => {
    assert.deepEqual(
      handoverLabels({
        app: 'web',
        tier: 'front',
        'pod-template-hash': 'abc',
        'controller-revision-hash': 'r1',
        'statefulset.kubernetes.io/pod-name': 'db-0',
        'apps.kubernetes.io/pod-index': '0',
      }),
      { app: 'web', tier: 'front' },
    );
    assert.deepEqual(handoverLabels(undefined), {});
  });

  it('never the label of the restore a migrated source itself came from: the restored pod keeps its own', () => {
    assert.deepEqual(handoverLabels({ app: 'web', [RESTORE_LABEL]: 'an-earlier-restore' }), { app: 'web' });
  });
});
