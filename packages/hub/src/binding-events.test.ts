import assert from 'node:assert/strict';
import { setImmediate } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import type { CheckpointBackup } from '@stateful-migration/api';
import { MemoryApi } from '@stateful-migration/kube/testing';
import { HUB_FINALIZER } from './policies.js';
import { hubRecordingBackupKeys } from './queue-recorder.test-support.js';

// A ResourceBinding event wakes the backups of the workload it places (where it runs decides placement). The hub
// itself makes bindings of Secrets, ConfigMaps, Roles and RoleBindings (registry secrets, keys objects and their
// readers), none of them a workload: their events must not scan every backup of the federation for a match.

const GROUP = '/apis/migration.dcnlab.com/v1';
const BINDINGS = '/apis/work.karmada.io/v1alpha2/namespaces/shop/resourcebindings';

function backup(name: string, kind: string): CheckpointBackup {
  return {
    apiVersion: 'migration.dcnlab.com/v1',
    kind: 'CheckpointBackup',
    metadata: { name, namespace: 'shop', uid: `${name}-uid`, generation: 1, finalizers: [HUB_FINALIZER] },
    spec: {
      schedule: 'immediately',
      podRef: { name: 'web-0' },
      // A resourceRef naming the object of the binding, so a scan would match it.
      resourceRef: { apiVersion: kind === 'Deployment' ? 'apps/v1' : 'v1', kind, name: 'web' },
      placement: { clusterAffinity: { clusterNames: ['member1'] } },
    },
  };
}

const stops: (() => void)[] = [];
after(() => stops.forEach((s) => s()));

async function karmada(kinds: string[]) {
  const api = new MemoryApi();
  for (const k of kinds)
    api.put(`${GROUP}/namespaces/shop/checkpointbackups/${k.toLowerCase()}`, backup(k.toLowerCase(), k));
  const { hub, queued, stop } = await hubRecordingBackupKeys(api);
  stops.push(stop);
  let scans = 0;
  const list = hub.caches.backups.list.bind(hub.caches.backups);
  hub.caches.backups.list = () => (scans++, list());
  const bind = async (kind: string, apiVersion: string) => {
    api.put(`${BINDINGS}/web-${kind.toLowerCase()}`, {
      metadata: { name: `web-${kind.toLowerCase()}`, namespace: 'shop' },
      spec: {
        resource: { apiVersion, kind, name: 'web', namespace: 'shop' },
        clusters: [{ name: 'member1' }],
      },
    });
    await setImmediate();
    await hub.backups.queue.idle();
  };
  return { queued, bind, scans: () => scans };
}

describe('binding events: only a workload kind wakes backups by their workload', () => {
  for (const [kind, apiVersion] of [
    ['ConfigMap', 'v1'],
    ['Role', 'rbac.authorization.k8s.io/v1'],
    ['RoleBinding', 'rbac.authorization.k8s.io/v1'],
    ['Secret', 'v1'],
  ] as const)
    it(`a ${kind}'s binding reads no backup and queues none`, async () => {
      const k = await karmada([kind, 'Deployment']);
      await k.bind(kind, apiVersion);
      assert.equal(k.scans(), 0, 'no scan of the backups');
      assert.deepEqual(k.queued, []);
    });
  it("a Deployment's binding queues the backups of that Deployment (and only those)", async () => {
    const k = await karmada(['ConfigMap', 'Deployment']);
    await k.bind('Deployment', 'apps/v1');
    assert.deepEqual(k.queued, ['shop/deployment']);
  });
});
