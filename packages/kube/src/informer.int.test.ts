// suite: shares — its own namespace in member1; its proxies are its own
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Informer, restListWatch, type ListWatch } from './informer.js';
import type { KubeObject } from './object.js';
import { clientVia, eventually, fedClient, unique } from './test-support/fed.js';
import { TcpProxy } from './test-support/tcp-proxy.js';

type ConfigMap = KubeObject & { data?: Record<string, string> };

const admin = fedClient('member1');
const ns = unique('informer');
const cmPath = `/api/v1/namespaces/${ns}/configmaps`;

const createCm = (name: string, v = '1') =>
  admin.request('POST', cmPath, {
    body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { v } },
  });

describe('Informer against a real apiserver', () => {
  before(async () => {
    await admin.request('POST', '/api/v1/namespaces', {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
    });
  });
  after(async () => {
    await admin.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => undefined);
  });

  it('lists, then sees adds, updates and deletes through its watch', async () => {
    await createCm('before');
    const inf = new Informer<ConfigMap>(restListWatch(admin, cmPath));
    const events: string[] = [];
    // kube-root-ca.crt: the controller-manager's root-ca-cert-publisher puts one in every new namespace, as in any
    // cluster; it is not this test's object.
    inf.on((e, o) =>
      o.metadata?.name === 'kube-root-ca.crt' ? undefined : events.push(`${e}:${o.metadata?.name}`),
    );
    await inf.start();
    assert.ok(inf.get(`${ns}/before`));
    await createCm('during');
    await admin.request('PATCH', `${cmPath}/during`, { body: { data: { v: '2' } } });
    await admin.request('DELETE', `${cmPath}/before`);
    await eventually(() => events.includes('delete:before') || undefined, 10_000, 'delete event');
    assert.deepEqual(events, ['add:before', 'add:during', 'update:during', 'delete:before']);
    assert.equal(inf.get(`${ns}/during`)?.data?.v, '2');
    inf.stop();
  });

  // kube-apiserver 1.35 does not answer a watch from resourceVersion 1 with 410 here: it holds the request open
  // without a word. Whatever it does, the informer must recover: by the 410 path or by its stall detector.
  it('recovers when its resourceVersion is too old for the apiserver', async () => {
    const real = restListWatch<ConfigMap>(admin, cmPath);
    let lists = 0;
    // The first list claims resourceVersion 1, older than the apiserver's watch window: the watch gets 410.
    const stale: ListWatch<ConfigMap> = {
      list: async (c) => {
        const page = await real.list(c);
        return lists++ === 0 ? { ...page, metadata: { ...page.metadata, resourceVersion: '1' } } : page;
      },
      watch: real.watch,
    };
    const inf = new Informer<ConfigMap>(stale, { watchTimeoutSeconds: 2, stallGraceMs: 1000 });
    await inf.start();
    await createCm('after-stale');
    await eventually(() => inf.get(`${ns}/after-stale`), 20_000, 'the object after the re-list');
    inf.stop();
  });

  it('keeps going after its connections are cut', async () => {
    const proxy = new TcpProxy(Number(new URL(admin.server).port));
    const client = clientVia('member1', await proxy.listen());
    const inf = new Informer<ConfigMap>(restListWatch(client, cmPath), { onError: () => undefined });
    await inf.start();
    proxy.cutAll();
    await createCm('after-cut');
    await eventually(() => inf.get(`${ns}/after-cut`), 20_000, 'the object after the cut');
    inf.stop();
    client.close();
    await proxy.close();
  });

  it('detects a silent watch, cuts it and re-lists', async () => {
    const proxy = new TcpProxy(Number(new URL(admin.server).port));
    const client = clientVia('member1', await proxy.listen());
    const inf = new Informer<ConfigMap>(restListWatch(client, cmPath), {
      watchTimeoutSeconds: 2,
      stallGraceMs: 1000,
      onError: () => undefined,
    });
    await inf.start();
    proxy.freeze();
    await createCm('while-silent');
    await eventually(() => inf.stats.stalled >= 1 || undefined, 15_000, 'stall detection');
    proxy.thaw();
    await eventually(() => inf.get(`${ns}/while-silent`), 45_000, 'the object after the silent watch');
    inf.stop();
    client.close();
    await proxy.close();
  });

  it('resyncs from its cache on its timer without listing again while the watch is healthy', async () => {
    const inf = new Informer<ConfigMap>(restListWatch(admin, cmPath), { resyncMs: 500 });
    const resynced: string[] = [];
    inf.on((e, o, old) => (e === 'update' && o === old ? resynced.push(o.metadata!.name!) : undefined));
    await inf.start();
    await eventually(() => inf.stats.resyncs >= 2 || undefined, 10_000, 'two resyncs');
    assert.ok(resynced.length > 0, 'the cached objects handed to the handlers again');
    assert.equal(inf.stats.lists, 1, 'a resync is not a list');
    inf.stop();
  });

  it('retries after a 403 until it is allowed', async () => {
    const sa = 'informer-reader';
    await admin.request('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, {
      body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa } },
    });
    const tr = await admin.request<{ status: { token: string } }>(
      'POST',
      `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`,
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {} } },
    );
    const { KubeConfig } = await import('@kubernetes/client-node');
    const kc = new KubeConfig();
    const cluster = admin.kc.getCurrentCluster()!;
    kc.loadFromClusterAndUser(cluster, { name: sa, token: tr.status.token });
    const { RestClient } = await import('./rest.js');
    const errors: number[] = [];
    const inf = new Informer<ConfigMap>(restListWatch(new RestClient(kc), cmPath), {
      onError: (e) => errors.push((e as { statusCode?: number }).statusCode ?? 0),
    });
    const synced = inf.start();
    await eventually(() => errors.includes(403) || undefined, 10_000, 'a 403');
    assert.equal(inf.hasSynced(), false);
    await admin.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, {
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'read' },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }],
      },
    });
    await admin.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'read' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read' },
        subjects: [{ kind: 'ServiceAccount', name: sa, namespace: ns }],
      },
    });
    await synced;
    assert.ok(inf.hasSynced());
    inf.stop();
  });
});
