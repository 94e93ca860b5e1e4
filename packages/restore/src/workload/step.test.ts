import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CHECKPOINT_RESTORE_LABEL,
  HUB_WEBHOOK_POLICY_PATH,
  type CheckpointBackup,
} from '@stateful-migration/api';
import {
  b64,
  BINDINGS,
  CLUSTERS,
  G,
  inMember,
  memoryWorld,
  PODS,
  POLICIES,
  ready,
  SECRETS,
} from '../memory-world.test-support.js';
import { RESTORE_FINALIZER } from '../controller.js';
import { RESTORED_FROM_ANNOTATION, SOURCE_STOPPED_GATE } from './migration.js';

// The workload migration's steps against an apiserver in memory: which objects each reconcile writes, in which order
// (intent first), and that a reconcile repeated on the same state makes nothing twice.

const RESTORE = `${G}/checkpointrestores/move`;
const FRESH = `${G}/checkpointbackups/move-migrate`;
const MWC = '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations';
const digest = (n: string) => `sha256:${n.repeat(64)}`;

const world = () =>
  memoryWorld({
    backup: {
      apiVersion: 'migration.dcnlab.com/v1',
      kind: 'CheckpointBackup',
      metadata: { name: 'db', namespace: 'shop' },
      spec: {
        schedule: '0 3 * * *',
        resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' },
        registry: { url: 'reg.example', repository: 'shop/cp', secretRef: { name: 'creds' } },
      },
    },
    workload: { kind: 'StatefulSet', name: 'db', replicas: 2 },
    more: (api) => {
      api.put(`${POLICIES}/users`, {
        metadata: { name: 'users' },
        spec: {
          priority: 5,
          resourceSelectors: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' }],
        },
      });
      // A JSON patch removing the gate (MemoryApi merges): applied by hand, recorded as a write.
      api.route = (method, path, body) => {
        if (method !== 'PATCH' || !path.includes('/pods/')) return undefined;
        const pod = api.object<{ spec: { schedulingGates?: unknown } }>(path)!;
        const ops = body as { op: string; value?: unknown }[];
        const last = ops.at(-1)!;
        if (last.op === 'remove') delete pod.spec.schedulingGates;
        else pod.spec.schedulingGates = last.value;
        api.put(path, pod);
        return pod;
      };
    },
    restore: {
      apiVersion: 'migration.dcnlab.com/v1',
      kind: 'CheckpointRestore',
      metadata: { name: 'move', namespace: 'shop', generation: 1 },
      spec: { backupRef: { name: 'db' }, targetCluster: 'member2', mode: 'Migrate' },
    },
    controller: { webhook: { url: 'https://hub.example:8443', caBundle: 'PEM' } },
  });

/** status.workload of restore `name` migrating StatefulSet db from member1 to member2. */
const dbToMember2 = (name: string) => ({
  apiVersion: 'apps/v1',
  kind: 'StatefulSet' as const,
  name: 'db',
  sourceCluster: 'member1',
  targetCluster: 'member2',
  replicas: 2,
  policy: `checkpointrestore-${name}`,
  into: 'member2',
  from: 'member1',
});

const replica = (pod: string, ordinal: number) => ({
  pod,
  backup: `move-migrate-${pod}`,
  ordinal,
  phase: 'CompletedPodDeleted',
  present: false,
  lastCheckpointTime: `2026-12-01T10:00:0${ordinal}Z`,
  images: [
    {
      containerName: 'counter',
      imageName: `reg.example/shop/cp/checkpoint-${pod}-counter:r1`,
      digest: digest(String(ordinal)),
      buildTime: 't',
      pushed: true,
    },
  ],
  checkpointedPod: { name: pod, namespace: 'shop', containers: [{ name: 'counter', image: 'counter:1' }] },
});

const memberPod = (
  name: string,
  extra: { node?: string; gated?: boolean; from?: string; ready?: boolean },
) => ({
  metadata: {
    name,
    namespace: 'shop',
    ...(extra.from ? { annotations: { [RESTORED_FROM_ANNOTATION]: extra.from } } : {}),
    ownerReferences: [{ kind: 'StatefulSet', name: 'db', controller: true }],
  },
  spec: {
    ...(extra.node ? { nodeName: extra.node } : {}),
    ...(extra.gated ? { schedulingGates: [{ name: SOURCE_STOPPED_GATE }] } : {}),
  },
  status: extra.ready ? { phase: 'Running', ...ready } : { phase: 'Pending' },
});

describe('a workload migration, one reconcile at a time', () => {
  it('checkpoints every replica, places the workload above the user policy, lets the target start once the source runs none, and lets go', async () => {
    const { api, step, status } = world();

    // Pending: the checks, then the intent, before anything is made anywhere.
    assert.deepEqual(await step(), { requeueAfterMs: 0 });
    assert.deepEqual(api.writes(), [`PATCH ${RESTORE}`, `PUT ${RESTORE}/status`]);
    assert.equal(status().phase, 'Checkpointing');
    assert.deepEqual({ ...status().workload }, dbToMember2('move'));

    // Checkpointing: the webhook configurations in both members first (the source's replacements are held), then
    // the checkpoint's policy and the workload-level backup with stopPod, then that it exists.
    assert.deepEqual(await step(), { requeueAfterMs: 7 });
    assert.deepEqual(api.writes(), [
      `POST ${inMember('member1', MWC)}`,
      `POST ${inMember('member2', MWC)}`,
      `POST ${POLICIES}`,
      `POST ${G}/checkpointbackups`,
      `PUT ${RESTORE}/status`,
    ]);
    const mwc = api.object<{ webhooks: { clientConfig: { url: string } }[] }>(
      inMember('member1', `${MWC}/stateful-migration.shop.move`),
    )!;
    assert.equal(mwc.webhooks[0]!.clientConfig.url, 'https://hub.example:8443/mutate/pods/member1');
    const fresh = api.object<CheckpointBackup>(FRESH)!;
    assert.equal(fresh.spec.podRef, undefined);
    assert.equal(fresh.spec.stopPod, true);
    assert.equal(fresh.metadata.labels?.['migration.dcnlab.com/restore-owner'], 'shop.move');

    // Again on the same state: nothing made twice; the wait is said once, then nothing is written.
    assert.deepEqual(await step(), { requeueAfterMs: 7 });
    assert.deepEqual(api.writes(), [`PUT ${RESTORE}/status`]);
    assert.match(status().message!, /0\/2 replicas checkpointed and stopped/);
    assert.deepEqual(await step(), { requeueAfterMs: 7 });
    assert.deepEqual(api.writes(), []);

    // Every replica checkpointed and stopped: their checkpoints recorded, by digest, before anything else.
    api.put(FRESH, {
      ...fresh,
      status: { clusters: [{ name: 'member1', replicas: [replica('db-1', 1), replica('db-0', 0)] }] },
    });
    assert.deepEqual(await step(), { requeueAfterMs: 0 });
    assert.deepEqual(api.writes(), [`PUT ${RESTORE}/status`]);
    assert.equal(status().phase, 'RestoreSubmitted');
    assert.deepEqual(
      status().replicas!.map((r) => [r.name, r.images[0]!.image]),
      [
        ['db-0', `reg.example/shop/cp/checkpoint-db-0-counter@${digest('0')}`],
        ['db-1', `reg.example/shop/cp/checkpoint-db-1-counter@${digest('1')}`],
      ],
    );

    // RestoreSubmitted: the pull secret (to source and target), the pins; the policy only once the secret is there.
    assert.deepEqual(await step(), { requeueAfterMs: 7 });
    assert.deepEqual(api.writes(), [
      `POST ${SECRETS}`,
      `POST ${POLICIES}`,
      `PATCH ${FRESH}`,
      `PUT ${RESTORE}/status`,
    ]);
    assert.deepEqual(
      api.object<{ spec: { placement: unknown } }>(`${POLICIES}/checkpointrestore-move-pull`)!.spec.placement,
      { clusterAffinity: { clusterNames: ['member1', 'member2'] } },
    );
    api.put(`${BINDINGS}/move-registry-pull-secret`, {
      metadata: { name: 'move-registry-pull-secret' },
      status: { aggregatedStatus: [{ clusterName: 'member2', applied: true }] },
    });
    assert.deepEqual(await step(), { requeueAfterMs: 0 });
    const policy = api.object<{ spec: { priority: number; preemption: string } }>(
      `${POLICIES}/checkpointrestore-move`,
    )!;
    assert.equal(policy.spec.priority, 6, "one above the user's");
    assert.equal(policy.spec.preemption, 'Always');
    assert.ok(!api.writes().some((w) => w.endsWith('/users')), "the user's policy never written");
    assert.equal(status().phase, 'RestoreInProgress');

    // The source still runs db-1: the target's pods stay gated.
    api.put(inMember('member1', `${PODS}/db-1`), memberPod('db-1', { node: 'm1-a' }));
    api.put(inMember('member2', `${PODS}/db-0`), memberPod('db-0', { gated: true, from: 'db-0' }));
    assert.deepEqual(await step(), { requeueAfterMs: 7 });
    assert.match(status().message!, /^waiting for member1 to run no pod of StatefulSet db \(db-1\)/);
    assert.equal(
      api.writes().some((w) => w.includes('/pods/')),
      false,
    );

    // The source runs none (its replacement is gated): recorded, then the gate goes.
    api.put(inMember('member1', `${PODS}/db-1`), memberPod('db-1', { gated: true }));
    assert.deepEqual(await step(), { requeueAfterMs: 7 });
    assert.ok(status().workload!.fromStoppedTime);
    assert.ok(api.writes().includes(`PATCH ${inMember('member2', `${PODS}/db-0`)}`));
    assert.equal(
      api.object<{ spec: { schedulingGates?: unknown } }>(inMember('member2', `${PODS}/db-0`))!.spec
        .schedulingGates,
      undefined,
    );
    assert.deepEqual(
      status().replicas!.map((r) => [r.name, r.phase]),
      [
        ['db-0', 'Restoring'],
        ['db-1', 'Pending'],
      ],
    );

    // Both run: once the source holds no pod of the workload, the webhook configurations deleted, SourceStopped.
    api.put(
      inMember('member2', `${PODS}/db-0`),
      memberPod('db-0', { node: 'm2-a', from: 'db-0', ready: true }),
    );
    api.put(
      inMember('member2', `${PODS}/db-1`),
      memberPod('db-1', { node: 'm2-a', from: 'db-1', ready: true }),
    );
    // The held replacement is still in the source (Karmada has not removed the StatefulSet there yet): letting its
    // gate go would run db-1 in member1 from its image beside db-1 in member2. The migration waits, saying so.
    assert.deepEqual(await step(), { requeueAfterMs: 7 });
    assert.notEqual(status().phase, 'SourceStopped');
    assert.match(status().message!, /waiting for member1 to delete .*db-1/);
    assert.ok(
      !api.writes().includes(`PATCH ${inMember('member1', `${PODS}/db-1`)}`),
      'never let go in the source',
    );
    assert.deepEqual(
      api.object<{ spec: { schedulingGates?: unknown } }>(inMember('member1', `${PODS}/db-1`))!.spec
        .schedulingGates,
      [{ name: SOURCE_STOPPED_GATE }],
    );
    await api.client().request('DELETE', inMember('member1', `${PODS}/db-1`));
    assert.equal(await step(), undefined);
    assert.equal(status().phase, 'SourceStopped');
    assert.equal(status().reason, 'Migrated');
    assert.deepEqual(
      status().replicas!.map((r) => [r.name, r.phase, r.pod, r.node]),
      [
        ['db-0', 'Running', 'db-0', 'm2-a'],
        ['db-1', 'Running', 'db-1', 'm2-a'],
      ],
    );
    const writes = api.writes();
    assert.ok(writes.includes(`DELETE ${inMember('member1', `${MWC}/stateful-migration.shop.move`)}`));
    assert.ok(writes.includes(`DELETE ${inMember('member2', `${MWC}/stateful-migration.shop.move`)}`));
    assert.ok(api.events().some((e) => e.startsWith('Normal SourceStopped: migrated: StatefulSet shop/db')));
  });

  it('a webhook configuration of that name left by an earlier restore (another workload, an old CA) is replaced, not reused', async () => {
    const { api, step } = world();
    await step(); // Pending -> Checkpointing
    // Left in member1 by a deleted restore of the same name whose finalizer was removed by hand: it sends another
    // workload's pods, with a CA the hub no longer serves under. Reused, db's pods would never be held or restored.
    api.put(inMember('member1', `${MWC}/stateful-migration.shop.move`), {
      metadata: {
        name: 'stateful-migration.shop.move',
        labels: { 'migration.dcnlab.com/restore-owner': 'shop.move' },
      },
      webhooks: [
        {
          name: 'move.shop.pods.migration.dcnlab.com',
          clientConfig: { url: 'https://old-hub:8443/mutate/pods/member1', caBundle: b64('OLD') },
          matchConditions: [{ name: 'controlled-by-the-workload', expression: "o.name == 'web'" }],
        },
      ],
    });
    await step();
    const mwc = api.object<{
      metadata: { labels: Record<string, string> };
      webhooks: {
        clientConfig: { url: string; caBundle: string };
        matchConditions: { expression: string }[];
      }[];
    }>(inMember('member1', `${MWC}/stateful-migration.shop.move`))!;
    assert.equal(mwc.webhooks[0]!.clientConfig.url, 'https://hub.example:8443/mutate/pods/member1');
    assert.equal(mwc.webhooks[0]!.clientConfig.caBundle, b64('PEM'));
    assert.match(
      mwc.webhooks[0]!.matchConditions[0]!.expression,
      /o.kind == 'StatefulSet' && o.name == 'db'/,
    );
    // On the same state again: left as it is.
    await step();
    assert.ok(!api.writes().some((w) => w.includes(MWC)));
  });

  it('a member it cannot reach is said in status and by a Warning Event, once, while the reconcile retries', async () => {
    const { api, step, status } = world();
    await step(); // Pending -> Checkpointing
    const route = api.route!;
    api.route = (method, path, body) =>
      path.includes('/clusters/member2/proxy/')
        ? new Error('member2: connection refused')
        : route(method, path, body);
    await assert.rejects(step(), /connection refused/);
    assert.equal(status().phase, 'Checkpointing');
    assert.match(status().message!, /retrying: .*member2: connection refused/);
    assert.deepEqual(api.events().filter((e) => e.startsWith('Warning')).length, 1, api.events().join('\n'));
    await assert.rejects(step(), /connection refused/);
    assert.deepEqual(api.writes(), [], 'said once');
  });

  it("each member's webhook configuration is owned by that member's hub webhook policy (gone with the chart)", async () => {
    const { api, step } = world();
    const mwc = (c: string) =>
      api.object<{ metadata: { ownerReferences?: { uid: string }[] } }>(
        inMember(c, `${MWC}/stateful-migration.shop.move`),
      );
    for (let i = 0; i < 5 && !(mwc('member1') && mwc('member2')); i++) await step();
    for (const c of ['member1', 'member2'])
      assert.deepEqual(
        mwc(c)?.metadata.ownerReferences?.map((o) => o.uid),
        [`policy-${c}`],
        `${c}: ${JSON.stringify(mwc(c))}`,
      );
  });

  it('a target without the policy (the chart not installed there) is refused before anything is checkpointed or stopped', async () => {
    const { api, step, status } = world();
    await api.client().request('DELETE', inMember('member2', HUB_WEBHOOK_POLICY_PATH));
    for (let i = 0; i < 3 && status().phase !== 'Failed'; i++) await step();
    assert.equal(status().phase, 'Failed');
    assert.equal(status().reason, 'HubWebhookPolicyMissing');
    assert.match(status().message!, /member member2 has no ValidatingAdmissionPolicy .*install the chart/);
    assert.match(status().message!, /Nothing was checkpointed or stopped/);
    assert.equal(status().checkpoint, undefined, 'no checkpoint asked for');
    assert.equal(api.object(inMember('member2', `${MWC}/stateful-migration.shop.move`)), undefined);
    assert.equal(api.object(inMember('member1', `${MWC}/stateful-migration.shop.move`)), undefined);
    assert.ok(
      api.events().some((e) => e.startsWith('Warning HubWebhookPolicyMissing')),
      api.events().join('\n'),
    );
  });

  it('a configuration made before owners were set (the same webhooks) is replaced with its owner', async () => {
    const { api, step } = world();
    const path = inMember('member1', `${MWC}/stateful-migration.shop.move`);
    type Stored = { metadata: { ownerReferences?: { uid: string }[] } };
    for (let i = 0; i < 5 && !api.object(path); i++) await step();
    const there = api.object<Stored>(path)!;
    delete there.metadata.ownerReferences;
    api.put(path, there);
    await step();
    assert.deepEqual(
      api.object<Stored>(path)?.metadata.ownerReferences?.map((o) => o.uid),
      ['policy-member1'],
    );
  });

  it('a second migration of a workload another one is migrating is refused before anything is made', async () => {
    // Both would stop the replicas (two checkpoints each), and when one failed, its release would let go of the pods
    // the other holds in the source: they would start from their images while the other restores the workload.
    const { api, step, status } = world();
    api.put(`${G}/checkpointrestores/first`, {
      apiVersion: 'migration.dcnlab.com/v1',
      kind: 'CheckpointRestore',
      metadata: { name: 'first', namespace: 'shop', uid: 'u-first' },
      spec: { backupRef: { name: 'db' }, targetCluster: 'member2', mode: 'Migrate' },
      status: {
        phase: 'Checkpointing',
        workload: { ...dbToMember2('first') },
      },
    });
    assert.equal(await step(), undefined);
    assert.equal(status().phase, 'Failed');
    assert.equal(status().reason, 'WorkloadMigrating');
    assert.match(status().message!, /CheckpointRestore first is migrating StatefulSet db/);
    assert.deepEqual(
      api.writes().filter((w) => !w.startsWith(`PATCH ${RESTORE}`) && !w.startsWith(`PUT ${RESTORE}`)),
      [],
      'nothing but its own status',
    );
  });

  it('a target with no node that restores is refused before anything is made', async () => {
    const { api, step, status } = world();
    api.put(inMember('member2', '/api/v1/nodes/m2-a'), {
      metadata: { name: 'm2-a', labels: { [CHECKPOINT_RESTORE_LABEL]: 'checkpoint_only' } },
      status: ready,
    });
    assert.equal(await step(), undefined);
    assert.equal(status().phase, 'Failed');
    assert.equal(status().reason, 'TargetCannotRestore');
    assert.deepEqual(
      api.writes().filter((w) => !w.startsWith(`PATCH ${RESTORE}`) && !w.startsWith(`PUT ${RESTORE}`)),
      [],
      'nothing but its own status',
    );
  });

  it('sweeps the webhook configurations of restores gone or ended from every Ready member, and only those', async () => {
    const { api, ctl } = world();
    const config = (name: string, owner: string | undefined, managed = true) => ({
      metadata: {
        name,
        labels: {
          ...(managed ? { 'app.kubernetes.io/managed-by': 'stateful-migration-hub' } : {}),
          ...(owner ? { 'migration.dcnlab.com/restore-owner': owner } : {}),
        },
      },
      webhooks: [{ name: 'w', failurePolicy: 'Fail' }],
    });
    // move migrates; old ended; gone is gone; the user's shares the prefix only.
    api.put(RESTORE, {
      ...api.object(RESTORE),
      metadata: { name: 'move', namespace: 'shop', finalizers: [RESTORE_FINALIZER] },
      status: { phase: 'RestoreInProgress', workload: dbToMember2('move') },
    });
    api.put(`${G}/checkpointrestores/old`, {
      metadata: { name: 'old', namespace: 'shop' },
      spec: {},
      status: { phase: 'SourceStopped', workload: dbToMember2('old') },
    });
    for (const c of ['member1', 'member2']) {
      api.put(
        inMember(c, `${MWC}/stateful-migration.shop.move`),
        config('stateful-migration.shop.move', 'shop.move'),
      );
      api.put(
        inMember(c, `${MWC}/stateful-migration.shop.old`),
        config('stateful-migration.shop.old', 'shop.old'),
      );
      api.put(
        inMember(c, `${MWC}/stateful-migration.shop.gone`),
        config('stateful-migration.shop.gone', undefined),
      );
      api.put(
        inMember(c, `${MWC}/stateful-migration.users`),
        config('stateful-migration.users', undefined, false),
      );
    }
    // member2 is lost: nothing is asked of it (its configurations are swept once it is back).
    api.put(`${CLUSTERS}/member2`, {
      metadata: { name: 'member2' },
      status: { conditions: [{ type: 'Ready', status: 'Unknown' }] },
    });
    api.resetCalls();
    await ctl.sweepWebhooks();
    assert.ok(!api.calls.some((c) => c.path.includes('/member2/proxy')), 'the lost member is left alone');
    for (const key of ['shop/move', 'shop/old', 'shop/gone']) await ctl.reconcile(key).catch(() => undefined);
    const deleted = api.writes().filter((w) => w.startsWith('DELETE'));
    assert.deepEqual(deleted.sort(), [
      `DELETE ${inMember('member1', `${MWC}/stateful-migration.shop.gone`)}`,
      `DELETE ${inMember('member1', `${MWC}/stateful-migration.shop.old`)}`,
    ]);
    assert.ok(api.object(inMember('member1', `${MWC}/stateful-migration.users`)), "the user's stays");
    assert.ok(
      api
        .events()
        .some((e) =>
          /^Normal WebhookConfigurationSwept: removed .*shop\.old from member1: CheckpointRestore shop\/old ended SourceStopped/.test(
            e,
          ),
        ),
      api.events().join('\n'),
    );
  });

  it('keeps a configuration whose restore began a migration between the scan and the sweep', async () => {
    const { api, ctl } = world();
    api.put(inMember('member1', `${MWC}/stateful-migration.shop.move`), {
      metadata: {
        name: 'stateful-migration.shop.move',
        labels: {
          'app.kubernetes.io/managed-by': 'stateful-migration-hub',
          'migration.dcnlab.com/restore-owner': 'shop.move',
        },
      },
    });
    await ctl.sweepWebhooks(); // move is Pending, not migrating: its configuration may go
    api.put(RESTORE, {
      ...api.object(RESTORE),
      status: { phase: 'Checkpointing', workload: dbToMember2('move') },
    });
    api.resetCalls();
    await ctl.reconcile('shop/move').catch(() => undefined);
    assert.ok(!api.writes().includes(`DELETE ${inMember('member1', `${MWC}/stateful-migration.shop.move`)}`));
  });

  /** The restore `move` mid-migration: placed in member2, db-0 restored there (gated), db-1's replacement held in member1. */
  function midMigration() {
    const w = world();
    const { api } = w;
    api.put(RESTORE, {
      ...api.object(RESTORE),
      metadata: {
        name: 'move',
        namespace: 'shop',
        generation: 1,
        finalizers: [RESTORE_FINALIZER],
      },
      status: {
        phase: 'RestoreInProgress',
        checkpoint: { backup: 'move-migrate', cluster: 'member1', pod: 'StatefulSet/db', requestedTime: 't' },
        workload: { ...dbToMember2('move'), placedTime: '2026-12-01T10:00:00Z' },
        replicas: [],
      },
    });
    api.put(`${POLICIES}/checkpointrestore-move`, {
      metadata: {
        name: 'checkpointrestore-move',
        labels: { 'migration.dcnlab.com/restore-owner': 'shop.move' },
      },
    });
    for (const c of ['member1', 'member2'])
      api.put(inMember(c, `${MWC}/stateful-migration.shop.move`), {
        metadata: { name: 'stateful-migration.shop.move' },
      });
    api.put(inMember('member1', `${PODS}/db-1`), memberPod('db-1', { gated: true }));
    api.put(inMember('member2', `${PODS}/db-0`), memberPod('db-0', { gated: true, from: 'db-0' }));
    return w;
  }
  const gatesOf = (api: ReturnType<typeof world>['api'], c: string, pod: string) =>
    api.object<{ spec: { schedulingGates?: unknown } }>(inMember(c, `${PODS}/${pod}`))!.spec.schedulingGates;
  /** db-1's replacement still held in member1, db-0 still gated in member2: db runs in neither. */
  const bothHeld = (api: ReturnType<typeof world>['api']) => {
    assert.deepEqual(
      gatesOf(api, 'member1', 'db-1'),
      [{ name: SOURCE_STOPPED_GATE }],
      'still held in the source',
    );
    assert.deepEqual(
      gatesOf(api, 'member2', 'db-0'),
      [{ name: SOURCE_STOPPED_GATE }],
      'never let go in the target',
    );
  };

  it("deleted mid-migration: the policy goes first, and the source's held pods are let go only once the target runs none", async () => {
    const { api, step, status } = midMigration();
    await api.client().request('DELETE', RESTORE);
    assert.deepEqual(await step(), { requeueAfterMs: 7 });
    assert.ok(
      api.writes().includes(`DELETE ${POLICIES}/checkpointrestore-move`),
      'Karmada gives it back to the user',
    );
    bothHeld(api);
    assert.match(
      status().message!,
      /^deleting: waiting for member2 to delete the pods of StatefulSet db \(db-0\)/,
    );
    assert.ok(api.object(RESTORE), 'the finalizer is held');

    // Karmada removed the StatefulSet from member2: now the source's pods go, and the restore with them.
    await api.client().request('DELETE', inMember('member2', `${PODS}/db-0`));
    assert.equal(await step(), undefined);
    assert.equal(gatesOf(api, 'member1', 'db-1'), undefined);
    assert.equal(api.object(inMember('member1', `${MWC}/stateful-migration.shop.move`)), undefined);
    assert.equal(api.object(inMember('member2', `${MWC}/stateful-migration.shop.move`)), undefined);
    assert.equal(api.object(RESTORE), undefined);
  });

  it('a lost target: the migration waits, then fails ClusterLost; nothing is asked of it, and deleting ends', async () => {
    const { api, step, status } = midMigration();
    const lostSince = (t: string) =>
      api.put(`${CLUSTERS}/member2`, {
        metadata: { name: 'member2' },
        status: {
          conditions: [
            { type: 'Ready', status: 'Unknown', reason: 'ClusterNotReachable', lastTransitionTime: t },
          ],
        },
      });
    // Any call to member2 fails, as the cluster proxy does when the member does not answer.
    const route = api.route;
    api.route = (method, path, body) =>
      path.includes('/member2/proxy')
        ? new Error('HTTP 503: member2 unreachable')
        : route?.(method, path, body);
    lostSince(new Date().toISOString());
    assert.deepEqual(await step(), { requeueAfterMs: 5000 });
    assert.match(
      status().message!,
      /^waiting for member2 \(member2: Karmada reports it not Ready \(ClusterNotReachable\)\)/,
    );
    assert.ok(api.events().some((e) => e.startsWith('Warning ClusterLost: waiting for member2')));

    lostSince('2026-01-01T00:00:00Z');
    assert.equal(await step(), undefined);
    assert.equal(status().phase, 'Failed');
    assert.equal(status().reason, 'ClusterLost');
    assert.deepEqual(
      status().cleanupSkipped!.map((x) => [x.cluster, x.reason]),
      [
        ['member1', 'GatesKept'],
        ['member2', 'ClusterLost'],
      ],
    );
    assert.deepEqual(gatesOf(api, 'member1', 'db-1'), [{ name: SOURCE_STOPPED_GATE }], 'member2 may run it');
    assert.equal(api.object(inMember('member1', `${MWC}/stateful-migration.shop.move`)), undefined);
    assert.ok(
      api.events().some((e) => e.startsWith('Warning CleanupSkipped: member2: Karmada reports it not Ready')),
    );
    assert.ok(!api.writes().some((w) => w.includes('/member2/proxy')), 'nothing was asked of member2');

    await api.client().request('DELETE', RESTORE);
    assert.equal(await step(), undefined);
    assert.equal(api.object(RESTORE), undefined, 'the deletion ends');
  });

  it('failed ClusterLost, the target back, then deleted: the held pods are let go only once the target runs none', async () => {
    const { api, step } = midMigration();
    const route = api.route;
    api.route = (method, path, body) =>
      path.includes('/member2/proxy')
        ? new Error('HTTP 503: member2 unreachable')
        : route?.(method, path, body);
    api.put(`${CLUSTERS}/member2`, {
      metadata: { name: 'member2' },
      status: {
        conditions: [
          {
            type: 'Ready',
            status: 'Unknown',
            reason: 'ClusterNotReachable',
            lastTransitionTime: '2026-01-01T00:00:00Z',
          },
        ],
      },
    });
    await step(); // Failed ClusterLost: db-1 keeps its gate in member1 (GatesKept), member2 may run db
    assert.deepEqual(gatesOf(api, 'member1', 'db-1'), [{ name: SOURCE_STOPPED_GATE }]);
    // member2 is back, still running db-0 (the migration's policy still places db there); the user deletes the
    // restore to clean up.
    api.route = route;
    api.put(`${CLUSTERS}/member2`, { metadata: { name: 'member2' }, status: ready });
    await api.client().request('DELETE', RESTORE);
    await step();
    assert.deepEqual(
      gatesOf(api, 'member1', 'db-1'),
      [{ name: SOURCE_STOPPED_GATE }],
      'db-1 is not let go in member1 while member2 has db-0: db would run in both',
    );
    assert.deepEqual(gatesOf(api, 'member2', 'db-0'), [{ name: SOURCE_STOPPED_GATE }], 'nor db-0 in member2');
    assert.ok(api.writes().includes(`DELETE ${POLICIES}/checkpointrestore-move`), 'the policy goes first');
    // Karmada removed the StatefulSet from member2: the source's pod goes on, and the deletion ends.
    await api.client().request('DELETE', inMember('member2', `${PODS}/db-0`));
    assert.equal(await step(), undefined);
    assert.equal(gatesOf(api, 'member1', 'db-1'), undefined);
    assert.equal(api.object(RESTORE), undefined);
  });

  it('the status write after the policy is created fails, then the restore is deleted: no gate is lifted while the target may run pods', async () => {
    const { api, step, status } = world();
    await step(); // Pending -> Checkpointing
    await step(); // the fresh backup
    api.put(FRESH, {
      ...api.object(FRESH),
      status: { clusters: [{ name: 'member1', replicas: [replica('db-1', 1), replica('db-0', 0)] }] },
    });
    await step(); // RestoreSubmitted
    await step(); // the pull secret
    api.put(`${BINDINGS}/move-registry-pull-secret`, {
      metadata: { name: 'move-registry-pull-secret' },
      status: { aggregatedStatus: [{ clusterName: 'member2', applied: true }] },
    });
    // The hub's status write fails once the migration's policy exists (a crash at that line does the same).
    const route = api.route;
    api.route = (method, path, body) =>
      method === 'PUT' && path === `${RESTORE}/status` && api.object(`${POLICIES}/checkpointrestore-move`)
        ? new Error('HTTP 500: etcd timeout')
        : route?.(method, path, body);
    await assert.rejects(step());
    assert.ok(api.object(`${POLICIES}/checkpointrestore-move`), 'the policy was created');
    api.route = route;
    // Karmada is placing db in member2 (db-0 restored there, gated); db-1's replacement is held in member1.
    api.put(inMember('member1', `${PODS}/db-1`), memberPod('db-1', { gated: true }));
    api.put(inMember('member2', `${PODS}/db-0`), memberPod('db-0', { gated: true, from: 'db-0' }));
    await api.client().request('DELETE', RESTORE);
    assert.deepEqual(await step(), { requeueAfterMs: 7 });
    bothHeld(api);
    assert.ok(!api.object(`${POLICIES}/checkpointrestore-move`), 'Karmada gives it back to the user');
    assert.match(
      status().message!,
      /^deleting: waiting for member2 to delete the pods of StatefulSet db \(db-0\)/,
    );
    // Karmada removed db from member2: the source's held pod goes on, and the deletion ends.
    await api.client().request('DELETE', inMember('member2', `${PODS}/db-0`));
    assert.equal(await step(), undefined);
    assert.equal(gatesOf(api, 'member1', 'db-1'), undefined);
    assert.equal(api.object(RESTORE), undefined);
  });

  it("deleted mid-migration while the user's own policy also places db in the target: the target keeps it, the source's held pods go", async () => {
    const { api, step } = midMigration();
    // The user's policy places db in member2 too: once the migration's policy is gone, Karmada keeps it there.
    api.put(`${BINDINGS}/db-statefulset`, {
      metadata: {
        name: 'db-statefulset',
        generation: 3,
        annotations: { 'propagationpolicy.karmada.io/name': 'users' },
      },
      spec: { clusters: [{ name: 'member2', replicas: 2 }] },
      status: { schedulerObservedGeneration: 3 },
    });
    await api.client().request('DELETE', RESTORE);
    assert.equal(await step(), undefined, 'the deletion ends: it does not wait for member2 forever');
    assert.equal(gatesOf(api, 'member2', 'db-0'), undefined, 'db-0 runs in member2, where db stays');
    assert.equal(
      api.object(inMember('member1', `${PODS}/db-1`)),
      undefined,
      "db-1's held replacement is deleted in member1, not let go beside member2's",
    );
    assert.ok(api.events().some((e) => e.startsWith('Warning TargetStillPlaced: PropagationPolicy users')));
    assert.equal(api.object(RESTORE), undefined);
  });
});
