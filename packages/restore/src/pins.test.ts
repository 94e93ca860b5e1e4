import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { RESTORE_PINNED_IMAGES_ANNOTATION } from '@stateful-migration/api';
import { FakeApiserver, type FakeReply, type FakeRequest } from '@stateful-migration/kube/testing';
import { editPins, pin, unpin } from './pins.js';

it('pin adds images once, sorted', () => {
  assert.equal(pin(undefined, ['b@1', 'a@1']), 'a@1,b@1');
  assert.equal(pin('a@1, c@1', ['a@1', 'b@1']), 'a@1,b@1,c@1');
  assert.equal(pin('', []), '');
});

it('unpin removes images except those another restore still uses; nothing left gives undefined', () => {
  assert.equal(unpin('a@1,b@1,c@1', ['a@1', 'b@1'], ['b@1']), 'b@1,c@1');
  assert.equal(unpin('a@1', ['a@1'], []), undefined);
  assert.equal(unpin(undefined, ['a@1'], []), undefined);
});

interface Obj {
  metadata: { name: string; resourceVersion: string; annotations?: Record<string, string | null> };
}

/**
 * One CheckpointBackup on an apiserver in memory: GET, and merge PATCH that, like the apiserver, refuses (409) a
 * metadata.resourceVersion other than the current one. GETs are answered after a pause so that concurrent callers
 * read the same version, as two restores reconciled at once do.
 */
function backupStore(annotations?: Record<string, string>) {
  let obj: Obj = { metadata: { name: 'web', resourceVersion: '1', ...(annotations ? { annotations } : {}) } };
  const handle = async (r: FakeRequest): Promise<FakeReply> => {
    if (r.method === 'GET') {
      const snapshot = structuredClone(obj);
      await new Promise((res) => setTimeout(res, 30));
      return { status: 200, body: snapshot };
    }
    if (r.method !== 'PATCH') return { status: 405, body: { message: 'no' } };
    const m = (r.body as Partial<Obj>).metadata ?? ({} as Partial<Obj['metadata']>);
    if (m.resourceVersion !== undefined && m.resourceVersion !== obj.metadata.resourceVersion)
      return { status: 409, body: { reason: 'Conflict', message: 'the object has been modified' } };
    const merged: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...obj.metadata.annotations, ...m.annotations }))
      if (v !== null && v !== undefined) merged[k] = v;
    obj = {
      metadata: {
        ...obj.metadata,
        annotations: merged,
        resourceVersion: String(Number(obj.metadata.resourceVersion) + 1),
      },
    };
    return { status: 200, body: obj };
  };
  return { handle, pins: () => obj.metadata.annotations?.[RESTORE_PINNED_IMAGES_ANNOTATION] };
}

describe('editPins: restore pins written with optimistic concurrency', () => {
  const servers: FakeApiserver[] = [];
  after(async () => {
    for (const s of servers) await s.close();
  });
  const setup = async (annotations?: Record<string, string>) => {
    const store = backupStore(annotations);
    const api = new FakeApiserver(store.handle);
    servers.push(api);
    await api.listen();
    return { store, api, client: api.client() };
  };
  const path = '/apis/migration.dcnlab.com/v1/namespaces/shop/checkpointbackups/web';

  it('two restores of one backup pinning at once both keep their pins', async () => {
    const { store, client } = await setup();
    await Promise.all([
      editPins(client, path, (cur) => pin(cur, ['reg/a@sha256:1'])),
      editPins(client, path, (cur) => pin(cur, ['reg/b@sha256:2'])),
    ]);
    assert.equal(store.pins(), 'reg/a@sha256:1,reg/b@sha256:2');
  });

  it('a restore unpinning while another pins loses neither change', async () => {
    const { store, client } = await setup({ [RESTORE_PINNED_IMAGES_ANNOTATION]: 'reg/a@sha256:1' });
    await Promise.all([
      editPins(client, path, (cur) => unpin(cur, ['reg/a@sha256:1'], [])),
      editPins(client, path, (cur) => pin(cur, ['reg/b@sha256:2'])),
    ]);
    assert.equal(store.pins(), 'reg/b@sha256:2');
  });

  it('writes nothing when the pins are already as wanted', async () => {
    const { api, client } = await setup({ [RESTORE_PINNED_IMAGES_ANNOTATION]: 'reg/a@sha256:1' });
    await editPins(client, path, (cur) => pin(cur, ['reg/a@sha256:1']));
    assert.equal(api.requests.filter((r) => r.method === 'PATCH').length, 0);
  });

  it('removes the annotation when nothing is left pinned', async () => {
    const { store, client } = await setup({ [RESTORE_PINNED_IMAGES_ANNOTATION]: 'reg/a@sha256:1' });
    await editPins(client, path, (cur) => unpin(cur, ['reg/a@sha256:1'], []));
    assert.equal(store.pins(), undefined);
  });
});
