import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HttpError } from './rest.js';
import { deleteIfExists, getOrUndefined } from './not-found.js';
import { MemoryApi } from './test-support/memory-api.js';

const PATH = '/api/v1/namespaces/shop/secrets/s';

describe('getOrUndefined', () => {
  it('returns the object, or undefined on 404', async () => {
    const api = new MemoryApi();
    assert.equal(await getOrUndefined(api.client(), PATH), undefined);
    api.put(PATH, { metadata: { name: 's' } });
    assert.equal(
      (await getOrUndefined<{ metadata: { name: string } }>(api.client(), PATH))?.metadata.name,
      's',
    );
  });
  it('throws any other failure: "could not ask" is never "not there"', async () => {
    const api = new MemoryApi();
    api.route = () => new HttpError(403, 'HTTP 403: forbidden');
    await assert.rejects(getOrUndefined(api.client(), PATH), /403/);
  });
});

describe('deleteIfExists', () => {
  it('deletes and says so; an object already gone is false', async () => {
    const api = new MemoryApi();
    api.put(PATH, { metadata: { name: 's' } });
    assert.equal(await deleteIfExists(api.client(), PATH), true);
    assert.equal(api.object(PATH), undefined);
    assert.equal(await deleteIfExists(api.client(), PATH), false);
  });
  it('throws any other failure', async () => {
    const api = new MemoryApi();
    api.route = () => new HttpError(500, 'HTTP 500: boom');
    await assert.rejects(deleteIfExists(api.client(), PATH), /500/);
  });
});
