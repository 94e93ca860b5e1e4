import assert from 'node:assert/strict';
import { it } from 'node:test';
import { parseImageRef } from './images.js';

it('parseImageRef splits host, repository and tag or digest', () => {
  assert.deepEqual(parseImageRef('127.0.0.1:5000/e2e/ns/cp-app:20261127'), {
    host: '127.0.0.1:5000',
    repository: 'e2e/ns/cp-app',
    reference: '20261127',
  });
  assert.deepEqual(parseImageRef(`reg:5000/a/b@sha256:${'a'.repeat(64)}`), {
    host: 'reg:5000',
    repository: 'a/b',
    reference: `sha256:${'a'.repeat(64)}`,
  });
  assert.deepEqual(parseImageRef('reg/a'), { host: 'reg', repository: 'a', reference: 'latest' });
  assert.equal(parseImageRef('busybox'), undefined);
});
