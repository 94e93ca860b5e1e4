import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { requestKind, type RestClient } from './rest.js';
import { FakeApiserver, type FakeReply, type FakeRequest } from './test-support/fake-apiserver.js';

describe('RestClient call deadlines', () => {
  const servers: FakeApiserver[] = [];
  after(async () => {
    for (const s of servers) await s.close();
  });
  const start = async (reply: (r: FakeRequest) => FakeReply) => {
    const api = new FakeApiserver(reply);
    servers.push(api);
    await api.listen();
    return api;
  };
  const elapsed = async (f: () => Promise<unknown>): Promise<{ ms: number; err: unknown }> => {
    const t0 = Date.now();
    try {
      await f();
      return { ms: Date.now() - t0, err: undefined };
    } catch (err) {
      return { ms: Date.now() - t0, err };
    }
  };

  it('ends a call to a silent apiserver at timeoutMs, whatever the call', async () => {
    const api = await start(() => ({ status: 200, body: {} }));
    api.freeze();
    const client = api.client();
    for (const call of [
      () => client.get('/api/v1/namespaces/a/pods/p', { timeoutMs: 300 }),
      () => client.request('PUT', '/api/v1/namespaces/a/pods/p', { body: {}, timeoutMs: 300 }),
    ]) {
      const { ms, err } = await elapsed(call);
      assert.match(String(err), /no answer within 300 ms/);
      assert.ok(ms >= 290 && ms < 10_000, `took ${ms} ms`); // the apiserver never answers
    }
    client.close();
  });

  it('counts reading the answer in the deadline: headers then silence still ends at timeoutMs', async () => {
    const api = await start(() => ({ status: 200, stallAfterHeaders: true }));
    const client = api.client();
    const { ms, err } = await elapsed(() => client.get('/x', { timeoutMs: 300 }));
    assert.match(String(err), /no answer within 300 ms/);
    assert.ok(ms < 10_000, `took ${ms} ms`); // the answer never ends
    client.close();
  });

  it("ends a call when the caller's signal aborts, before its timeout", async () => {
    const api = await start(() => ({ status: 200, body: {} }));
    api.freeze();
    const client = api.client();
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('caller gave up')), 100);
    const { ms, err } = await elapsed(() => client.get('/x', { signal: ac.signal, timeoutMs: 60_000 }));
    assert.match(String(err), /caller gave up/);
    assert.ok(ms < 10_000, `took ${ms} ms`); // its own timeout is a minute
    client.close();
  });

  it('sends the query, and only the query, in the URL', async () => {
    const api = await start(() => ({ status: 200, body: { items: [] } }));
    const client = api.client();
    await client.get('/api/v1/pods', {
      query: { limit: 5, labelSelector: 'a=b', continue: undefined },
      // A call option beside the query, which must stay out of the URL; long, since the unit tests run at the lowest
      // CPU priority beside the cluster stage (900 ms ran out there once on Node 26).
      timeoutMs: 30_000,
    });
    assert.equal(api.requests.at(-1)?.query.toString(), 'limit=5&labelSelector=a%3Db');
    client.close();
  });

  it('refuses call options where a query belongs, and a query where options belong (compile time)', () => {
    const typeChecks = (client: RestClient) => {
      // @ts-expect-error a query parameter is not a call option
      void client.get('/x', { limit: 1 });
      // @ts-expect-error timeoutMs is a call option, never a query parameter
      void client.get('/x', { query: { timeoutMs: 1000 } });
      // @ts-expect-error signal is a call option, never a query parameter
      void client.request('GET', '/x', { query: { signal: 'x' } });
      void client.get('/x', { timeoutMs: 1000, query: { limit: 1 } });
    };
    assert.equal(typeof typeChecks, 'function');
  });
});

describe('requestKind', () => {
  it('names requests as the apiserver counts them', () => {
    const cases: [string, string, boolean, string, string][] = [
      ['GET', '/api/v1/pods', false, 'list', 'pods'],
      ['GET', '/api/v1/pods', true, 'watch', 'pods'],
      ['GET', '/api/v1/namespaces/a/pods/p', false, 'get', 'pods'],
      [
        'PUT',
        '/apis/migration.dcnlab.com/v1/namespaces/a/checkpointbackups/b/status',
        false,
        'update',
        'checkpointbackups/status',
      ],
      [
        'PATCH',
        '/apis/migration.dcnlab.com/v1/namespaces/a/checkpointbackups/b',
        false,
        'patch',
        'checkpointbackups',
      ],
      ['POST', '/api/v1/namespaces/a/events', false, 'create', 'events'],
      ['DELETE', '/api/v1/namespaces/a/pods/p', false, 'delete', 'pods'],
      ['GET', '/api/v1/nodes', false, 'list', 'nodes'],
      ['GET', '/api/v1/nodes/n1', false, 'get', 'nodes'],
      ['GET', '/api/v1/namespaces/a', false, 'get', 'namespaces'],
      ['PUT', '/api/v1/namespaces/a/finalize', false, 'update', 'namespaces/finalize'],
      ['GET', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1', false, 'get', 'leases'],
    ];
    for (const [method, path, watch, verb, resource] of cases)
      assert.deepEqual(requestKind(method, path, watch), { verb, resource }, `${method} ${path}`);
  });
});

describe('RestClient: a path is sent as written, never resolved into another', () => {
  const servers: FakeApiserver[] = [];
  after(async () => {
    for (const s of servers) await s.close();
  });

  // Paths are built from names in users' specs (`/namespaces/<own>/secrets/<name>`); the URL parser resolves dot
  // segments, encoded or not, and treats `\` as `/`, so a name like `../../other/secrets/x` would reach another
  // namespace's object. The client refuses such a path before sending anything.
  it('refuses dot segments (plain or percent-encoded) and backslashes, sending nothing', async () => {
    const api = new FakeApiserver(() => ({ status: 200, body: {} }));
    servers.push(api);
    await api.listen();
    const client = api.client();
    for (const path of [
      '/api/v1/namespaces/a/secrets/../../stateful-migration/secrets/registry-credentials',
      '/api/v1/namespaces/a/secrets/%2e%2e/%2E%2e/b/secrets/x',
      '/api/v1/namespaces/a/secrets/./x',
      '/api/v1/namespaces/a/secrets/..\\..\\b\\secrets\\x',
      '/api/v1/namespaces/a/secrets/..',
    ]) {
      await assert.rejects(client.get(path), /not a path the client sends/, path);
      await assert.rejects(client.request('PATCH', path, { body: {} }), /not a path the client sends/, path);
    }
    assert.equal(api.requests.length, 0);
    // Dots inside a name are names, not segments.
    await client.get('/api/v1/namespaces/a/configmaps/web.v2..x?watch=false&x=../y');
    assert.deepEqual(
      api.requests.map((r) => r.path),
      ['/api/v1/namespaces/a/configmaps/web.v2..x'],
    );
    client.close();
  });
});
