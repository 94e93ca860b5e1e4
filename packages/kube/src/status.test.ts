import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isConflict } from './errors.js';
import { HttpError } from './rest.js';
import { writeStatus } from './status.js';
import { MemoryApi } from './test-support/memory-api.js';

describe('writeStatus: conflicts told', () => {
  it('tells every 409, the one it gives up on too', async () => {
    const api = new MemoryApi();
    const path = '/apis/x.test/v1/namespaces/ns/checkpointbackups/a';
    api.put(path, { metadata: { name: 'a' } });
    api.route = (method) =>
      method === 'PUT' ? new HttpError(409, 'HTTP 409: modified', 'Conflict') : undefined;
    let conflicts = 0;
    await assert.rejects(
      writeStatus(api.client(), path, () => ({ n: 1 }), { attempts: 2, onConflict: () => conflicts++ }),
      isConflict,
    );
    assert.equal(conflicts, 2);
  });
});
