import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addFinalizer, releaseFinalizers } from './finalizers.js';
import type { KubeObject } from './object.js';
import { MemoryApi } from './test-support/memory-api.js';

const PATH = '/apis/migration.dcnlab.com/v1/namespaces/shop/checkpointbackups/web';
const F = 'hub.migration.dcnlab.com/cleanup';

function stored(finalizers?: string[]) {
  const api = new MemoryApi();
  api.put(PATH, { metadata: { name: 'web', namespace: 'shop', ...(finalizers ? { finalizers } : {}) } });
  return { api, read: () => api.object<KubeObject>(PATH)! };
}

describe('addFinalizer', () => {
  it('adds it after the others, with the resourceVersion read, and returns the object as stored', async () => {
    const { api, read } = stored(['other']);
    const before = read();
    const after = await addFinalizer(api.client(), PATH, before, F);
    assert.deepEqual(after.metadata?.finalizers, ['other', F]);
    assert.notEqual(after.metadata?.resourceVersion, before.metadata?.resourceVersion);
    assert.deepEqual(
      api.calls.map((c) => c.body),
      [{ metadata: { finalizers: ['other', F], resourceVersion: before.metadata?.resourceVersion } }],
    );
  });
  it('makes no request when the object has it', async () => {
    const { api, read } = stored([F]);
    const obj = read();
    assert.equal(await addFinalizer(api.client(), PATH, obj, F), obj);
    assert.deepEqual(api.calls, []);
  });
  it('throws the 409 of an object changed since it was read, losing nothing', async () => {
    const { api, read } = stored();
    const stale = read();
    await addFinalizer(api.client(), PATH, read(), 'other');
    await assert.rejects(addFinalizer(api.client(), PATH, stale, F), /409/);
    assert.deepEqual(read().metadata?.finalizers, ['other']);
  });
});

describe('releaseFinalizers', () => {
  it('removes those released and keeps the rest', async () => {
    const { api, read } = stored(['a', F, 'b']);
    assert.equal(await releaseFinalizers(api.client(), PATH, read(), [F, 'b']), true);
    assert.deepEqual(read().metadata?.finalizers, ['a']);
  });
  it('makes no request when it holds none of them', async () => {
    const { api, read } = stored(['a']);
    assert.equal(await releaseFinalizers(api.client(), PATH, read(), [F]), true);
    assert.deepEqual(api.calls, []);
  });
  it('is false for an object already gone (its last finalizer released by an earlier pass)', async () => {
    const { api, read } = stored([F]);
    const obj = read();
    await api.request('DELETE', PATH);
    await releaseFinalizers(api.client(), PATH, read(), [F]);
    assert.equal(api.object(PATH), undefined);
    assert.equal(await releaseFinalizers(api.client(), PATH, obj, [F]), false);
  });
  it('throws the 409 of an object changed since it was read', async () => {
    const { api, read } = stored([F, 'a']);
    const stale = read();
    await releaseFinalizers(api.client(), PATH, read(), ['a']);
    await assert.rejects(releaseFinalizers(api.client(), PATH, stale, [F]), /409/);
    assert.deepEqual(read().metadata?.finalizers, [F]);
  });
});
