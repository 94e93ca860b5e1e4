import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fresher, type KubeObject } from './object.js';

const at = (rv: string): KubeObject => ({ metadata: { name: 'a', resourceVersion: rv } });

describe('fresher', () => {
  it('takes the copy with the later resourceVersion, compared as integers', () => {
    const [c9, w10] = [at('9'), at('10')];
    assert.equal(fresher(c9, w10), w10, 'our write the watch has not delivered yet');
    assert.equal(fresher(w10, c9), w10, 'the cache has caught up and moved on');
    assert.equal(fresher(c9, at('9')), c9, 'equal: the cache');
    assert.equal(
      fresher(at('18446744073709551617'), at('18446744073709551616'))?.metadata?.resourceVersion,
      '18446744073709551617',
    );
  });
  it('trusts the cache when a resourceVersion is opaque, or when nothing is cached', () => {
    const c = at('abc');
    assert.equal(fresher(c, at('10')), c);
    assert.equal(fresher(undefined, at('10')), undefined);
    assert.equal(fresher(c, undefined), c);
  });
});
