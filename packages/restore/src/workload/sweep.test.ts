import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckpointRestore, RestorePhase } from '@stateful-migration/api';
import { dbMigration } from '../fixtures.test-support.js';
import { OWNER_LABEL, RESTORE_FINALIZER } from '../submit.js';
import { sweepVerdict, sweptOwner, type WebhookConfigView } from './sweep.js';
import { webhookConfiguration } from './webhook-config.js';

const made = (ns: string, restore: string): WebhookConfigView => {
  const c = webhookConfiguration({
    namespace: ns,
    restore,
    cluster: 'member1',
    workload: { kind: 'StatefulSet', name: 'db' },
    endpoint: { url: 'https://hub', caBundle: 'ca' },
    ownerLabel: { [OWNER_LABEL]: `${ns}.${restore}` },
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
