// suite: shares — its own CRD group and namespace in member1
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isConflict } from './errors.js';
import type { KubeObject } from './object.js';
import { writeStatus } from './status.js';
import { eventually, fedClient, unique } from './test-support/fed.js';

type Counter = KubeObject & {
  spec?: Record<string, unknown>;
  status?: { count?: number; writers?: string[] };
};

const admin = fedClient('member1');
const group = 'kube-runtime.test.stateful-migration.dev';
const ns = unique('status');
const path = `/apis/${group}/v1/namespaces/${ns}/counters`;

describe('writeStatus against a real apiserver', () => {
  before(async () => {
    await admin
      .request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
        body: {
          apiVersion: 'apiextensions.k8s.io/v1',
          kind: 'CustomResourceDefinition',
          metadata: { name: `counters.${group}` },
          spec: {
            group,
            scope: 'Namespaced',
            names: { plural: 'counters', singular: 'counter', kind: 'Counter' },
            versions: [
              {
                name: 'v1',
                served: true,
                storage: true,
                subresources: { status: {} },
                schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
              },
            ],
          },
        },
      })
      .catch((e: unknown) => {
        if (!isConflict(e)) throw e;
      });
    await admin.request('POST', '/api/v1/namespaces', {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
    });
    await eventually(() => admin.get(path).then(() => true), 20_000, 'the CRD to serve');
    await admin.request('POST', path, {
      body: { apiVersion: `${group}/v1`, kind: 'Counter', metadata: { name: 'c' }, spec: {} },
    });
  });
  after(async () => {
    await admin.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => undefined);
  });

  it('loses no update when many writers race: each 409 re-reads and retries', async () => {
    let asked = 0;
    let conflicts = 0;
    const writers = Array.from({ length: 8 }, (_, i) =>
      writeStatus<Counter, Counter['status']>(
        admin,
        `${path}/c`,
        (cur) => {
          asked++;
          return { count: (cur.status?.count ?? 0) + 1, writers: [...(cur.status?.writers ?? []), `w${i}`] };
        },
        { onConflict: () => conflicts++ },
      ),
    );
    await Promise.all(writers);
    const final = await admin.get<Counter>(`${path}/c`);
    assert.equal(final.status?.count, 8);
    assert.equal(new Set(final.status?.writers).size, 8);
    assert.ok(asked > 8, `conflicts must have happened (next() was asked ${asked} times)`);
    assert.equal(conflicts, asked - 8, 'each 409 is told, once, before its re-read');
  });

  it('a stale copy at hand costs one 409 (told), then writes from a fresh read', async () => {
    const stale = await admin.get<Counter>(`${path}/c`);
    await writeStatus<Counter, Counter['status']>(admin, `${path}/c`, () => ({ count: 500 }));
    let conflicts = 0;
    const got = await writeStatus<Counter, Counter['status']>(
      admin,
      `${path}/c`,
      (c) => ({ count: (c.status?.count ?? 0) + 1 }),
      { current: stale, onConflict: () => conflicts++ },
    );
    assert.equal(got.status?.count, 501);
    assert.equal(conflicts, 1);
  });

  it('sends the resourceVersion it read, so a stale write is refused by the apiserver', async () => {
    const cur = await admin.get<Counter>(`${path}/c`);
    await admin.request('PUT', `${path}/c/status`, { body: { ...cur, status: { count: 100 } } });
    await assert.rejects(
      admin.request('PUT', `${path}/c/status`, { body: { ...cur, status: { count: 0 } } }),
      (e: unknown) => isConflict(e),
    );
    const after = await writeStatus<Counter, Counter['status']>(admin, `${path}/c`, (c) => ({
      count: (c.status?.count ?? 0) + 1,
    }));
    assert.equal(after.status?.count, 101);
  });

  it('writes nothing when next() says nothing changed', async () => {
    const before = await admin.get<Counter>(`${path}/c`);
    const got = await writeStatus<Counter, Counter['status']>(admin, `${path}/c`, () => undefined);
    assert.equal(got.metadata?.resourceVersion, before.metadata?.resourceVersion);
  });
});
