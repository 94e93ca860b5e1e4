import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckpointBackup } from './checkpoint-backup.js';
import { checkpointBackupCrd } from './crd.js';
import { refusal } from './tenancy.js';
import {
  POD_REF_REQUIRED,
  STOP_POD_OF_WORKLOAD,
  MIGRATION_OWNER_LABEL,
  WORKLOAD_MESSAGES,
  isWorkloadBackup,
  podName,
  workloadCelRules,
  workloadRefusal,
} from './workload.js';

type Spec = CheckpointBackup['spec'];
const spec = (s: Partial<Spec>): Pick<CheckpointBackup, 'spec' | 'metadata'> => ({
  metadata: { name: 'b', namespace: 'shop' },
  spec: {
    schedule: 'immediately',
    resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' },
    ...s,
  },
});

describe('workload-level backups: which specs without podRef are served', () => {
  const cases: [string, Partial<Spec>, string | undefined][] = [
    ['a StatefulSet', {}, undefined],
    ['a Deployment', { resourceRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' } }, undefined],
    [
      'a Deployment without apiVersion',
      { resourceRef: { kind: 'Deployment', name: 'web' } as never },
      undefined,
    ],
    [
      'a DaemonSet',
      { resourceRef: { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'x' } },
      POD_REF_REQUIRED,
    ],
    ['a Job', { resourceRef: { apiVersion: 'batch/v1', kind: 'Job', name: 'x' } }, POD_REF_REQUIRED],
    ['a Pod', { resourceRef: { apiVersion: 'v1', kind: 'Pod', name: 'x' } }, POD_REF_REQUIRED],
    [
      'a Deployment of another group',
      { resourceRef: { apiVersion: 'example.com/v1', kind: 'Deployment', name: 'x' } },
      POD_REF_REQUIRED,
    ],
    ['stopPod: true', { stopPod: true }, STOP_POD_OF_WORKLOAD],
    ['stopPod: false', { stopPod: false }, undefined],
  ];
  for (const [what, s, reason] of cases)
    it(`${what}: ${reason ?? 'served'}`, () => {
      const b = spec(s);
      assert.equal(isWorkloadBackup(b), true);
      assert.equal(workloadRefusal(b)?.reason, reason);
      // refusal() says the same, after the namespace rules.
      assert.equal(refusal(b, [])?.reason, reason);
    });

  it('a spec with podRef is never refused by these rules, whatever its resourceRef or stopPod (the seeds)', () => {
    for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'Pod'])
      for (const stopPod of [true, false, undefined]) {
        const b = spec({
          podRef: { name: 'my-pod' },
          resourceRef: { apiVersion: 'apps/v1', kind, name: 'x' },
          ...(stopPod === undefined ? {} : { stopPod }),
        });
        assert.equal(isWorkloadBackup(b), false);
        assert.equal(workloadRefusal(b), undefined);
        assert.equal(podName(b), 'my-pod');
      }
    assert.equal(podName(spec({})), '');
  });

  it("the CRD and the admission policy carry the same rules, with the controllers' messages", () => {
    const crd = checkpointBackupCrd() as {
      spec: {
        versions: { schema: { openAPIV3Schema: { properties: { spec: Record<string, unknown> } } } }[];
      };
    };
    const s = crd.spec.versions[0]!.schema.openAPIV3Schema.properties.spec as {
      required: string[];
      'x-kubernetes-validations': { rule: string; message: string }[];
    };
    assert.deepEqual(s.required, ['schedule', 'resourceRef']);
    const rules = s['x-kubernetes-validations'];
    for (const r of workloadCelRules('self'))
      assert.ok(rules.some((x) => x.rule === r.expression && x.message === r.message));
    // The CRD's spec rule cannot see labels: the stopPod rule (a migration's own checkpoint may stop pods) is the
    // admission policy's, over the metadata.
    assert.deepEqual(
      workloadCelRules('self').map((r) => r.message),
      [WORKLOAD_MESSAGES.podRefRequired],
    );
    assert.deepEqual(
      workloadCelRules('object.spec', 'object.metadata').map((r) => r.message),
      [WORKLOAD_MESSAGES.podRefRequired, WORKLOAD_MESSAGES.stopPod],
    );
    assert.match(workloadCelRules('object.spec')[0]!.expression, /^has\(object\.spec\.podRef\) \|\|/);
    assert.match(
      workloadCelRules('object.spec', 'object.metadata')[1]!.expression,
      /\(has\(object\.metadata\.labels\) && 'migration\.dcnlab\.com\/restore-owner' in object\.metadata\.labels\)$/,
    );
  });

  it("stopPod without podRef is served on a migration's own checkpoint (labelled restore-owner), refused otherwise", () => {
    const b = { ...spec({ stopPod: true }), metadata: { labels: { [MIGRATION_OWNER_LABEL]: 'shop.move' } } };
    assert.equal(workloadRefusal(b), undefined);
    assert.equal(
      workloadRefusal({ ...b, metadata: { labels: { other: 'x' } } })?.reason,
      STOP_POD_OF_WORKLOAD,
    );
  });
});
