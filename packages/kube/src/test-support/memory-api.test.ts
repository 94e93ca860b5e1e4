import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Informer, restListWatch } from '../informer.js';
import { MemoryApi } from './memory-api.js';

const ROLES = '/apis/rbac.authorization.k8s.io/v1/roles';
const at = (ns: string, name: string) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/${name}`;
const role = (name: string, labels?: Record<string, string>) => ({
  metadata: { name, namespace: 'shop', ...(labels ? { labels } : {}) },
});
const tick = () => new Promise((r) => setTimeout(r, 0));

// The hub caches only its own Roles by a label selector; a MemoryApi that ignored the selector would let a test pass
// while a tenant's Role of the same name sat in the cache as if it were the hub's.
describe('MemoryApi: a label-selected list and watch, as the apiserver answers them', () => {
  it('lists only the objects the selector matches', async () => {
    const api = new MemoryApi();
    api.put(at('shop', 'ours'), role('ours', { owner: 'hub' }));
    api.put(at('shop', 'theirs'), role('theirs', { owner: 'shop' }));
    api.put(at('shop', 'bare'), role('bare'));
    const names = async (labelSelector: string) =>
      (
        (await api.client().get(ROLES, { query: { labelSelector } })) as {
          items: { metadata: { name: string } }[];
        }
      ).items
        .map((o) => o.metadata.name)
        .sort();
    assert.deepEqual(await names('owner=hub'), ['ours']);
    assert.deepEqual(await names('owner==hub'), ['ours']);
    assert.deepEqual(await names('owner!=hub'), ['bare', 'theirs']);
    assert.deepEqual(await names('owner'), ['ours', 'theirs']);
    assert.deepEqual(await names('!owner'), ['bare']);
    assert.deepEqual(
      await names('!constructor'),
      ['bare', 'ours', 'theirs'],
      'a key is a label, not a property',
    );
    await assert.rejects(names('owner in (hub,shop)'), /set-based label selector .* not supported/);
  });

  it('a watch is told an object that comes to match as added, one that stops matching as deleted, nothing of others', async () => {
    const api = new MemoryApi();
    const informer = new Informer<{ metadata: { name: string; namespace?: string } }>(
      restListWatch(api.client(), ROLES, { labelSelector: 'owner=hub' }),
    );
    const seen: string[] = [];
    informer.on((e, o) => seen.push(`${e} ${o.metadata.name}`));
    await informer.start();
    api.put(at('shop', 'theirs'), role('theirs', { owner: 'shop' }));
    api.put(at('shop', 'r'), role('r', { owner: 'hub' }));
    await tick();
    assert.deepEqual(
      informer.list().map((o) => o.metadata.name),
      ['r'],
    );
    api.put(at('shop', 'r'), role('r', { owner: 'shop' })); // the label taken off
    await tick();
    assert.equal(informer.get('shop/r'), undefined);
    api.put(at('shop', 'theirs'), role('theirs', { owner: 'hub' })); // the label put on
    await tick();
    assert.deepEqual(
      informer.list().map((o) => o.metadata.name),
      ['theirs'],
    );
    await api.request('DELETE', at('shop', 'theirs'));
    await tick();
    informer.stop();
    assert.deepEqual(seen, ['add r', 'delete r', 'add theirs', 'delete theirs']);
  });
});
