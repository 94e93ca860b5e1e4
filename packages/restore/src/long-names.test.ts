import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { labelValue, type CheckpointRestore } from '@stateful-migration/api';
import { restoreKeyOf } from './controller.js';
import { backup, restore, source } from './fixtures.test-support.js';
import { BINDINGS, memoryWorld, PODS, POLICIES, SECRETS } from './memory-world.test-support.js';
import { pullSecretName, RESTORE_LABEL } from './pod.js';
import { OWNER_LABEL } from './submit.js';

// A restore's name goes up to 253 characters, and its namespace adds up to 63, but a label value holds 63. The labels
// that name a restore (on the restored pod, and the owner label on its pull secret, policies and one-off backup) are
// hashed to fit (labelValue). Written as they were, the apiserver refused every object with 422 and the restore
// retried forever; MemoryApi refuses invalid label values as the apiserver does.

// 243 characters: `<name>-registry-pull` and `<name>-migrate` cut at 253 ended in `-`, which no name may.
const longName = `nightly-${'x'.repeat(227)}-restore`;

const world = (mode: CheckpointRestore['spec']['mode']) => {
  const r = restore({ mode });
  r.metadata.name = longName;
  return memoryWorld({
    restore: r,
    backup: { ...backup(), status: { phase: 'Completed', clusters: [source()] } },
    workload: { kind: 'Deployment', name: 'web', replicas: 1 },
  });
};

const labelled = (o: { metadata?: { labels?: Record<string, string> } } | undefined, label: string) =>
  o?.metadata?.labels?.[label];

describe('a restore whose name is too long for a label', () => {
  it('Restore: submitted with every label fitting, the pod labelled with the hashed name and mapped back to its restore', async () => {
    const { api, step, status } = world('Restore');
    await step(); // RestoreSubmitted
    await step(); // the pull secret and the policy
    assert.equal(status().message, 'waiting for the registry pull secret to reach member2');
    // Karmada applied the pull secret in the target: the pod is created.
    const secretBinding = `${pullSecretName(longName)}-secret`;
    api.put(`${BINDINGS}/${secretBinding}`, {
      metadata: { name: secretBinding },
      status: { aggregatedStatus: [{ clusterName: 'member2', applied: true }] },
    });
    await step();

    const pod = api.object<{
      metadata: {
        name: string;
        namespace: string;
        labels: Record<string, string>;
        annotations: Record<string, string>;
      };
    }>(`${PODS}/${status().restoredPod!.name}`)!;
    assert.equal(labelled(pod, RESTORE_LABEL), labelValue(longName));
    assert.ok(labelled(pod, RESTORE_LABEL)!.length <= 63);
    // The pod wakes its restore by the annotation, since the label no longer holds the whole name.
    assert.equal(restoreKeyOf(pod), `shop/${longName}`);

    const owned = api
      .paths()
      .filter((p) => p.startsWith(SECRETS) || p.startsWith(POLICIES))
      .map((p) => labelled(api.object(p), OWNER_LABEL))
      .filter(Boolean);
    assert.ok(owned.length >= 2, `the pull secret and the policy carry the owner label: ${owned.join(', ')}`);
    for (const v of owned) assert.equal(v, labelValue(`shop.${longName}`));
  });

  it('Migrate: the one-off checkpoint and its policy are created (labelled within 63 characters), not refused forever', async () => {
    const { api, step, status } = world('Migrate');
    await step(); // Checkpointing
    await step(); // the policy, then the backup
    const backups = api.paths().filter((p) => p.includes('/checkpointbackups/') && !p.endsWith('/web-now'));
    assert.equal(backups.length, 1, `one one-off CheckpointBackup: ${api.paths().join(', ')}`);
    assert.equal(labelled(api.object(backups[0]!), OWNER_LABEL), labelValue(`shop.${longName}`));
    assert.notEqual(status().phase, 'Failed', status().message);
  });

  it('a pod of an older version (label only, no annotation) is still mapped by its label; an annotation naming another namespace is not followed', () => {
    assert.equal(
      restoreKeyOf({ metadata: { name: 'p', namespace: 'shop', labels: { [RESTORE_LABEL]: 'r1' } } }),
      'shop/r1',
    );
    assert.equal(
      restoreKeyOf({
        metadata: {
          name: 'p',
          namespace: 'shop',
          labels: { [RESTORE_LABEL]: 'r1' },
          annotations: { 'migration.dcnlab.com/restore': 'other/theirs' },
        },
      }),
      'shop/r1',
    );
    assert.equal(restoreKeyOf({ metadata: { name: 'p', labels: { [RESTORE_LABEL]: 'r1' } } }), undefined);
  });
});
