import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { FakeApiserver, type FakeReply, type FakeRequest } from '@stateful-migration/kube/testing';
import { deleteCheckpointedPod } from './stop-pod.js';

/** Pods by name in memory; DELETE honours DeleteOptions.preconditions.uid as the apiserver does (409 on mismatch). */
function pods(initial: Record<string, string>) {
  const uids = new Map(Object.entries(initial));
  const handle = (r: FakeRequest): FakeReply => {
    const m = /^\/api\/v1\/namespaces\/shop\/pods\/([^/]+)$/.exec(r.path);
    if (!m || r.method !== 'DELETE') return { status: 405, body: { message: 'not here' } };
    const uid = uids.get(m[1]!);
    if (!uid) return { status: 404, body: { reason: 'NotFound', message: `pods "${m[1]}" not found` } };
    const want = (r.body as { preconditions?: { uid?: string } } | undefined)?.preconditions?.uid;
    if (want !== undefined && want !== uid)
      return {
        status: 409,
        body: {
          reason: 'Conflict',
          message: `Precondition failed: UID in precondition: ${want}, UID in object meta: ${uid}`,
        },
      };
    uids.delete(m[1]!);
    return { status: 200, body: { kind: 'Status', status: 'Success' } };
  };
  return { handle, uids };
}

describe('deleteCheckpointedPod (stopPod)', () => {
  const servers: FakeApiserver[] = [];
  after(async () => {
    for (const s of servers) await s.close();
  });
  const setup = async (initial: Record<string, string>) => {
    const store = pods(initial);
    const api = new FakeApiserver(store.handle);
    servers.push(api);
    await api.listen();
    return { store, api, client: api.client() };
  };

  it('deletes the checkpointed pod, with its uid as precondition', async () => {
    const { store, api, client } = await setup({ 'web-0': 'uid-1' });
    const d = await deleteCheckpointedPod(client, { namespace: 'shop', name: 'web-0', uid: 'uid-1' });
    assert.deepEqual(d, { kind: 'deleted' });
    assert.equal(store.uids.size, 0);
    assert.deepEqual((api.requests[0]?.body as { preconditions?: unknown }).preconditions, { uid: 'uid-1' });
  });

  it('never deletes the replacement a controller made under the same name', async () => {
    const { store, client } = await setup({ 'web-0': 'uid-2' });
    const d = await deleteCheckpointedPod(client, { namespace: 'shop', name: 'web-0', uid: 'uid-1' });
    assert.deepEqual(d, { kind: 'replaced' });
    assert.equal(store.uids.get('web-0'), 'uid-2', 'the replacement still runs');
  });

  it('a pod already gone is gone', async () => {
    const { client } = await setup({});
    assert.deepEqual(
      await deleteCheckpointedPod(client, { namespace: 'shop', name: 'web-0', uid: 'uid-1' }),
      {
        kind: 'gone',
      },
    );
  });

  it('without a recorded uid, deletes nothing: it cannot tell the pod from a replacement', async () => {
    const { store, api, client } = await setup({ 'web-0': 'uid-2' });
    assert.deepEqual(await deleteCheckpointedPod(client, { namespace: 'shop', name: 'web-0' }), {
      kind: 'unknownUid',
    });
    assert.equal(api.requests.length, 0);
    assert.equal(store.uids.size, 1);
  });
});
