import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KubeObject } from './object.js';
import { OwnWrites } from './own-writes.js';

const at = (rv: string, uid = 'u1'): KubeObject => ({ metadata: { name: 'a', uid, resourceVersion: rv } });

describe('OwnWrites', () => {
  it('gives its own write while the informer still has the copy before it, and forgets it once delivered', () => {
    const own = new OwnWrites<KubeObject>();
    const [c9, w10] = [at('9'), at('10')];
    assert.equal(own.freshest('ns/a', c9), c9, 'nothing written: the cache');
    own.wrote('ns/a', w10);
    assert.equal(own.freshest('ns/a', c9), w10, 'the watch has not delivered the write yet');
    own.seen('ns/a', c9); // an older event (another change before ours) changes nothing
    assert.equal(own.freshest('ns/a', c9), w10);
    assert.equal(own.size, 1);
    own.seen('ns/a', at('10'));
    assert.equal(own.size, 0, 'delivered: forgotten');
    assert.equal(own.freshest('ns/a', c9), c9);
  });

  it('forgets a write the cache has moved past, or whose object went', () => {
    const own = new OwnWrites<KubeObject>();
    own.wrote('ns/a', at('10'));
    const c12 = at('12');
    own.seen('ns/a', c12);
    assert.equal(own.size, 0);
    assert.equal(own.freshest('ns/a', c12), c12);
    own.wrote('ns/a', at('13'));
    own.seen('ns/a', undefined);
    assert.equal(own.size, 0, 'deleted: nothing of it is kept');
    assert.equal(own.freshest('ns/a', undefined), undefined, 'no cached copy: gone, whatever was written');
  });

  it('keeps the later of two writes, and a write of an object made again under the same name', () => {
    const own = new OwnWrites<KubeObject>();
    own.wrote('ns/a', at('11'));
    own.wrote('ns/a', at('10')); // an answer that arrived late
    assert.equal(own.freshest('ns/a', at('9'))?.metadata?.resourceVersion, '11');
    own.wrote('ns/a', at('5', 'u2')); // another object of the same name: the one just written
    assert.equal(own.freshest('ns/a', at('4', 'u2'))?.metadata?.resourceVersion, '5');
    // The recreated object's informer copy, later than anything written of it, wins.
    assert.equal(own.freshest('ns/a', at('20', 'u2'))?.metadata?.resourceVersion, '20');
  });

  it('keeps nothing the informer already has, or of an object it no longer has (answers after their events)', () => {
    const own = new OwnWrites<KubeObject>();
    own.wrote('ns/a', at('10'), at('10')); // the watch event came before the answer
    assert.equal(own.size, 0);
    own.wrote('ns/a', at('10'), at('11')); // the cache moved on meanwhile
    assert.equal(own.size, 0);
    own.wrote('ns/a', at('10'), null); // deleted before the answer came
    assert.equal(own.size, 0);
    own.wrote('ns/a', at('10'), at('9')); // ahead of the cache: kept
    assert.equal(own.size, 1);
    own.wrote('ns/a', at('11'), null); // and a delete drops what was kept
    assert.equal(own.size, 0);
  });

  it('keys are independent', () => {
    const own = new OwnWrites<KubeObject>();
    own.wrote('ns/a', at('10'));
    const b = at('3');
    assert.equal(own.freshest('ns/b', b), b);
  });
});
