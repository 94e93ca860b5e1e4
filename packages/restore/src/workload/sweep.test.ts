import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckpointRestore, RestorePhase } from '@stateful-migration/api';
import { dbMigration } from '../fixtures.test-support.js';
import { OWNER_LABEL, RESTORE_FINALIZER } from '../submit.js';
import { hubWebhookOwner, labelValue } from '@stateful-migration/api';
import { restoreKeyOf } from '../controller.js';
import { cameBack, restoreRef, sweepVerdict, sweptOwner, type WebhookConfigView } from './sweep.js';
import { webhookConfiguration } from './webhook-config.js';

const made = (ns: string, restore: string): WebhookConfigView => {
  const c = webhookConfiguration({
    namespace: ns,
    restore,
    cluster: 'member1',
    workload: { kind: 'StatefulSet', name: 'db' },
    endpoint: { url: 'https://hub', caBundle: 'ca' },
    ownerLabel: { [OWNER_LABEL]: `${ns}.${restore}` },
    owner: hubWebhookOwner('policy-uid'),
  });
  return { name: c.metadata.name, labels: c.metadata.labels };
};

const restore = (
  phase: RestorePhase | undefined,
  o: { workload?: boolean; deleting?: boolean; finalizer?: boolean; name?: string } = {},
): Pick<CheckpointRestore, 'metadata' | 'status'> => ({
  metadata: {
    name: o.name ?? 'move.v2',
    namespace: 'shop',
    ...(o.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
    ...(o.finalizer !== false ? { finalizers: [RESTORE_FINALIZER] } : {}),
  },
  status: {
    ...(phase ? { phase } : {}),
    ...(o.workload !== false
      ? {
          workload: dbMigration(),
        }
      : {}),
  },
});

const verdict = (c: WebhookConfigView, r: Pick<CheckpointRestore, 'metadata' | 'status'> | undefined) =>
  sweepVerdict(c, r, RESTORE_FINALIZER);

describe('which webhook configurations the hub sweeps from a member', () => {
  const ours = made('shop', 'move.v2');

  it('knows its own by name and label, its restore by the owner label (a restore name may have dots)', () => {
    assert.deepEqual(sweptOwner(ours), { namespace: 'shop', name: 'move.v2' });
    const noOwner = Object.fromEntries(Object.entries(ours.labels!).filter(([k]) => k !== OWNER_LABEL));
    assert.deepEqual(sweptOwner({ ...ours, labels: noOwner }), { namespace: 'shop', name: 'move.v2' });
  });

  it("never touches a configuration that is not the hub's: another name, no managed-by label, another manager", () => {
    const gone = undefined;
    for (const c of [
      { ...ours, name: 'karmada-webhook' },
      { ...ours, name: 'stateful-migrationx.shop.move' },
      { ...ours, labels: { [OWNER_LABEL]: 'shop.move.v2' } },
      { ...ours, labels: { ...ours.labels, 'app.kubernetes.io/managed-by': 'Helm' } },
      {
        name: 'stateful-migration.shop',
        labels: { 'app.kubernetes.io/managed-by': 'stateful-migration-hub' },
      },
    ]) {
      assert.equal(sweptOwner(c), undefined, c.name);
      assert.deepEqual(verdict(c, gone), { sweep: false }, JSON.stringify(c));
    }
  });

  it('sweeps one whose restore is gone', () => {
    assert.deepEqual(verdict(ours, undefined), {
      sweep: true,
      why: 'CheckpointRestore shop/move.v2 is gone',
    });
  });

  it('keeps one whose restore migrates, in every phase of a migration', () => {
    for (const p of ['Checkpointing', 'RestoreSubmitted', 'RestoreInProgress'] as const)
      assert.deepEqual(verdict(ours, restore(p)), { sweep: false }, p);
  });

  it('sweeps one whose restore ended, however it ended', () => {
    for (const p of ['SourceStopped', 'Failed', 'RolledBack'] as const)
      assert.deepEqual(verdict(ours, restore(p)), {
        sweep: true,
        why: `CheckpointRestore shop/move.v2 ended ${p}`,
      });
  });

  it('sweeps one left by an earlier restore of the same name, while the new one has not begun a migration', () => {
    assert.deepEqual(verdict(ours, restore('Pending', { workload: false })), {
      sweep: true,
      why: 'CheckpointRestore shop/move.v2 is not migrating a workload (phase Pending)',
    });
  });

  it("leaves a deleting restore's to its release while the finalizer is held; sweeps it once it is not", () => {
    assert.deepEqual(verdict(ours, restore('RestoreInProgress', { deleting: true })), { sweep: false });
    assert.deepEqual(verdict(ours, restore('RestoreInProgress', { deleting: true, finalizer: false })), {
      sweep: true,
      why: "CheckpointRestore shop/move.v2 is being deleted and no longer holds the hub's finalizer",
    });
  });

  it('never decides on another restore than the one the configuration names', () => {
    assert.deepEqual(verdict(ours, restore('SourceStopped', { name: 'other' })), { sweep: false });
  });
});

describe('a restore name too long for the owner label and the configuration name (labelValue, objectName)', () => {
  const long = `nightly-${'x'.repeat(232)}`; // 240: a valid name, too long for both
  const c = webhookConfiguration({
    namespace: 'shop',
    restore: long,
    cluster: 'member1',
    workload: { kind: 'StatefulSet', name: 'db' },
    endpoint: { url: 'https://hub', caBundle: 'ca' },
    ownerLabel: { [OWNER_LABEL]: labelValue(`shop.${long}`) },
    owner: hubWebhookOwner('policy-uid'),
  });
  const view: WebhookConfigView = {
    name: c.metadata.name,
    labels: c.metadata.labels,
    annotations: c.metadata.annotations,
  };

  it('its owner is read whole from the annotation, so a live migration is never taken for a gone one', () => {
    assert.deepEqual(sweptOwner(view), { namespace: 'shop', name: long });
    assert.deepEqual(verdict(view, restore('RestoreInProgress', { name: long })), { sweep: false });
    assert.ok(c.metadata.name.length <= 253 && c.metadata.labels[OWNER_LABEL]!.length <= 63);
  });

  it("a configuration whose annotation is not `<namespace>/<name>` is not the hub's to sweep", () => {
    for (const bad of ['shop', 'shop/', '/r', 'shop/r/x', 'Shop/r', 'shop/R', `${'n'.repeat(64)}/r`])
      assert.equal(
        sweptOwner({ ...view, annotations: { 'migration.dcnlab.com/restore': bad } }),
        undefined,
        bad,
      );
    assert.deepEqual(restoreRef('shop/move.v2'), { namespace: 'shop', name: 'move.v2' });
  });
});

describe('restoreKeyOf: the restore a restored pod wakes', () => {
  const pod = (annotation?: string) => ({
    metadata: {
      name: 'p',
      namespace: 'shop',
      labels: { 'migration.dcnlab.com/restore': 'r1' },
      ...(annotation !== undefined ? { annotations: { 'migration.dcnlab.com/restore': annotation } } : {}),
    },
  });

  it('one key per restore: an annotation with more after the name is not a key of its own', () => {
    for (const a of ['shop/r1/', 'shop/r1/x', 'shop/r1/status', 'other/r1', 'shop/'])
      assert.equal(restoreKeyOf(pod(a)), 'shop/r1', a);
    assert.equal(restoreKeyOf(pod('shop/r2')), 'shop/r2');
    assert.equal(restoreKeyOf(pod()), 'shop/r1');
  });
});

describe('cameBack: a member Ready again after it was seen not Ready', () => {
  it('only the change from not Ready to Ready, per member; first sight and staying Ready are not', () => {
    const last = new Map<string, boolean>();
    const seen = (name: string, ready: boolean) => cameBack(last, name, ready);
    assert.equal(seen('member1', true), false, 'first seen Ready: nothing to catch up on');
    assert.equal(seen('member2', false), false, 'first seen lost');
    assert.equal(seen('member1', true), false, 'still Ready');
    assert.equal(seen('member1', false), false, 'lost');
    assert.equal(seen('member1', false), false, 'still lost');
    assert.equal(seen('member1', true), true, 'back');
    assert.equal(seen('member1', true), false, 'once');
    assert.equal(seen('member2', true), true, 'the other member, back on its own');
  });
});
