import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ownNamespaceAdmissionPolicy } from './admission-policy.js';
import type { CheckpointBackup } from './checkpoint-backup.js';
import { checkpointBackupCrd } from './crd.js';
import { FRESH_REASONS, failoverReplicasInto, type FailoverRecord } from './failover.js';
import {
  FAILOVER_NEEDS_SCHEDULE,
  KEEP_STATE_LIMITS,
  KEEP_STATE_MESSAGES,
  KEEP_STATE_NEEDS_REGISTRY,
  KEEP_STATE_NEEDS_WORKLOAD,
  keepStateCelRules,
  keepStateRefusal,
  keepStateSettings,
} from './keep-state.js';
import { refusal } from './tenancy.js';
import { POD_REF_REQUIRED } from './workload.js';

type Spec = CheckpointBackup['spec'];
const spec = (s: Partial<Spec>): Pick<CheckpointBackup, 'spec' | 'metadata'> => ({
  metadata: { name: 'b', namespace: 'shop' },
  spec: {
    schedule: '*/5 * * * *',
    resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' },
    registry: { url: 'reg.example.com', repository: 'shop/cp', secretRef: { name: 's' } },
    keepState: { clusterFailover: { maxAgeSeconds: 600 }, eviction: { timeoutSeconds: 60 } },
    ...s,
  },
});

describe('spec.keepState: which specs are served', () => {
  const cases: [string, Partial<Spec>, string | undefined][] = [
    ['a scheduled workload-level backup with a registry', {}, undefined],
    ['no keepState at all, even on a single pod without registry', { keepState: undefined }, undefined],
    [
      'eviction only, with "immediately"',
      { schedule: 'immediately', keepState: { eviction: {} } },
      undefined,
    ],
    ['a single pod (podRef)', { podRef: { name: 'db-0' } }, KEEP_STATE_NEEDS_WORKLOAD],
    ['no registry', { registry: undefined }, KEEP_STATE_NEEDS_REGISTRY],
    ['clusterFailover with "immediately"', { schedule: 'immediately' }, FAILOVER_NEEDS_SCHEDULE],
    [
      'clusterFailover with " immediately " (the agents trim it)',
      { schedule: ' immediately ' },
      FAILOVER_NEEDS_SCHEDULE,
    ],
    [
      'a single pod without registry: the first rule names the pod',
      { podRef: { name: 'db-0' }, registry: undefined },
      KEEP_STATE_NEEDS_WORKLOAD,
    ],
  ];
  for (const [what, s, reason] of cases)
    it(`${what}: ${reason ?? 'served'}`, () => {
      const b = spec(s);
      if (s.keepState === undefined && 'keepState' in s) delete b.spec.keepState;
      if (s.registry === undefined && 'registry' in s) delete b.spec.registry;
      assert.equal(keepStateRefusal(b)?.reason, reason);
      // refusal() (agent, hub, restore) says the same, with the same words.
      assert.equal(refusal(b, [])?.reason, reason);
      if (reason) assert.equal(refusal(b, [])?.message, keepStateRefusal(b)?.message);
    });

  it('the workload rules come first: a DaemonSet without podRef is refused as such, not for keepState', () => {
    const b = spec({ resourceRef: { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'x' } });
    assert.equal(keepStateRefusal(b), undefined);
    assert.equal(refusal(b, [])?.reason, POD_REF_REQUIRED);
  });

  it('defaults: what the CRD defaults, for objects stored before it did', () => {
    assert.deepEqual(keepStateSettings(spec({ keepState: { eviction: {}, clusterFailover: {} } })), {
      eviction: { timeoutSeconds: 120 },
      clusterFailover: { maxAgeSeconds: 900 },
    });
    assert.deepEqual(keepStateSettings(spec({ keepState: { clusterFailover: { maxAgeSeconds: 61 } } })), {
      clusterFailover: { maxAgeSeconds: 61 },
    });
    const none = spec({});
    delete none.spec.keepState;
    assert.deepEqual(keepStateSettings(none), {});
  });
});

type Props = Record<string, { minimum?: number; maximum?: number; default?: number; properties?: Props }>;
const crdSpec = () =>
  (
    checkpointBackupCrd() as {
      spec: {
        versions: {
          additionalPrinterColumns: { name: string; jsonPath: string; priority?: number }[];
          schema: { openAPIV3Schema: { properties: { spec: unknown; status: { properties: Props } } } };
        }[];
      };
    }
  ).spec.versions[0]!;

describe('spec.keepState in the CRD and the admission policy', () => {
  it('bounds and defaults are in the schema, and an empty keepState is refused (minProperties)', () => {
    const s = crdSpec().schema.openAPIV3Schema.properties.spec as {
      properties: { keepState: { minProperties: number; properties: Props } };
    };
    const k = s.properties.keepState;
    assert.equal(k.minProperties, 1);
    const t = k.properties.eviction!.properties!.timeoutSeconds!;
    const m = k.properties.clusterFailover!.properties!.maxAgeSeconds!;
    assert.deepEqual([t.minimum, t.maximum, t.default], [10, 3600, 120]);
    assert.deepEqual([m.minimum, m.maximum, m.default], [60, 604800, 900]);
    assert.deepEqual(
      [t.default, m.default],
      [KEEP_STATE_LIMITS.timeoutSeconds.default, KEEP_STATE_LIMITS.maxAgeSeconds.default],
    );
  });

  it("the CRD and the policy carry the three rules with the controllers' messages", () => {
    const s = crdSpec().schema.openAPIV3Schema.properties.spec as {
      'x-kubernetes-validations': { rule: string; message: string }[];
    };
    for (const r of keepStateCelRules('self'))
      assert.ok(
        s['x-kubernetes-validations'].some((x) => x.rule === r.expression && x.message === r.message),
      );
    const policy = ownNamespaceAdmissionPolicy()[0] as {
      spec: { validations: { expression: string; message: string; reason: string }[] };
    };
    for (const r of keepStateCelRules('object.spec'))
      assert.ok(
        policy.spec.validations.some(
          (x) => x.expression === r.expression && x.message === r.message && x.reason === 'Invalid',
        ),
      );
    assert.deepEqual(
      keepStateCelRules('self').map((r) => r.message),
      [
        KEEP_STATE_MESSAGES.needsWorkload,
        KEEP_STATE_MESSAGES.needsRegistry,
        KEEP_STATE_MESSAGES.failoverNeedsSchedule,
      ],
    );
  });

  it('the rules, as CEL text: guarded with has(), and "immediately" matched as the agents trim it', () => {
    assert.deepEqual(
      keepStateCelRules('self').map((r) => r.expression),
      [
        '!has(self.keepState) || !has(self.podRef)',
        '!has(self.keepState) || has(self.registry)',
        "!has(self.keepState) || !has(self.keepState.clusterFailover) || !self.schedule.matches('^\\\\s*immediately\\\\s*$')",
      ],
    );
    // The regex the CEL string literal holds (its \\ is one backslash) matches what parseSchedule reads as immediately.
    const re = new RegExp('^\\s*immediately\\s*$');
    assert.ok(re.test(' immediately\t') && re.test('immediately') && !re.test('*/5 * * * *'));
  });

  it('status.lastFailover is in the schema with the reasons the hub writes; wide columns show the opt-in and the last failover', () => {
    const v = crdSpec();
    const lf = v.schema.openAPIV3Schema.properties.status.properties.lastFailover as unknown as {
      properties: { replicas: { items: { properties: { reason: { enum: string[] } } } } };
    };
    assert.deepEqual(lf.properties.replicas.items.properties.reason.enum, [...FRESH_REASONS]);
    const cols = v.additionalPrinterColumns.filter((c) => c.priority === 1).map((c) => [c.name, c.jsonPath]);
    assert.deepEqual(cols.slice(-2), [
      ['Failover Max Age', '.spec.keepState.clusterFailover.maxAgeSeconds'],
      ['Last Failover', '.status.lastFailover.time'],
    ]);
  });
});

describe('failoverReplicasInto: what the webhook restores in one cluster', () => {
  const image = {
    containerName: 'c',
    imageName: 'reg/cp/x:r1',
    digest: 'sha256:1',
    buildTime: 't',
    pushed: true,
  };
  const record: FailoverRecord = {
    time: 't0',
    decidedAt: 't1',
    fromClusters: ['member1'],
    toClusters: ['member2', 'member3'],
    replicas: [
      {
        pod: 'db-0',
        ordinal: 0,
        fromCluster: 'member1',
        backup: 'b-db-0',
        toCluster: 'member2',
        images: [image],
        checkpointTime: 'tc',
        stateAgeSeconds: 5,
      },
      {
        pod: 'db-1',
        ordinal: 1,
        fromCluster: 'member1',
        backup: 'b-db-1',
        toCluster: 'member2',
        reason: 'TooOld',
        message: 'old',
      },
      {
        pod: 'db-2',
        ordinal: 2,
        fromCluster: 'member1',
        backup: 'b-db-2',
        toCluster: 'member3',
        images: [image],
      },
      {
        pod: 'db-3',
        ordinal: 3,
        fromCluster: 'member1',
        backup: 'b-db-3',
        reason: 'NotRecreated',
        message: 'no',
      },
    ],
    restored: 2,
    startedFresh: 1,
    message: 'm',
  };
  it('only the restored replicas headed there, as ReplicaStatus entries', () => {
    assert.deepEqual(failoverReplicasInto(record, 'member2'), [
      {
        pod: 'db-0',
        backup: 'b-db-0',
        ordinal: 0,
        phase: 'Completed',
        present: false,
        lastCheckpointTime: 'tc',
        images: [image],
      },
    ]);
    assert.deepEqual(
      failoverReplicasInto(record, 'member3').map((r) => r.pod),
      ['db-2'],
    );
    assert.deepEqual(failoverReplicasInto(record, 'member1'), []);
    assert.deepEqual(failoverReplicasInto(undefined, 'member2'), []);
  });
});
