// suite: alone — its renew deadline (2 s) and lease (3 s) are timings a concurrent file's load could break
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { LeaderElector, microTime } from './leader.js';
import { eventually, fedClient, unique } from './test-support/fed.js';

const admin = fedClient('member1');
const ns = unique('leader');
const fast = { leaseDurationSeconds: 3, renewDeadlineMs: 2000, retryPeriodMs: 300 };

describe('LeaderElector against a real apiserver', () => {
  before(async () => {
    await admin.request('POST', '/api/v1/namespaces', {
      body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } },
    });
  });
  after(async () => {
    await admin.request('DELETE', `/api/v1/namespaces/${ns}`).catch(() => undefined);
  });

  it('lets exactly one of two candidates lead, and hands over when the leader stops', async () => {
    const a = new LeaderElector(admin, { namespace: ns, name: 'l1', identity: 'a', ...fast });
    const b = new LeaderElector(admin, { namespace: ns, name: 'l1', identity: 'b', ...fast });
    const started: string[] = [];
    void a.run(
      () => started.push('a'),
      () => undefined,
    );
    await eventually(() => a.isLeader() || undefined, 10_000, 'a to lead');
    void b.run(
      () => started.push('b'),
      () => undefined,
    );
    await new Promise((r) => setTimeout(r, 4000));
    assert.deepEqual(started, ['a'], 'b must not lead while a renews');
    await a.stop();
    await eventually(() => b.isLeader() || undefined, 10_000, 'b to take over');
    const lease = await admin.get<{ spec: { holderIdentity: string; leaseTransitions: number } }>(b.path);
    assert.equal(lease.spec.holderIdentity, 'b');
    assert.equal(lease.spec.leaseTransitions, 1);
    await b.stop();
  });

  it('takes over a lease whose holder died without releasing it, only after the lease duration', async () => {
    const now = microTime(Date.now());
    await admin.request('POST', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases`, {
      body: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: 'l2' },
        spec: { holderIdentity: 'crashed', leaseDurationSeconds: 3, acquireTime: now, renewTime: now },
      },
    });
    const t0 = Date.now();
    const c = new LeaderElector(admin, { namespace: ns, name: 'l2', identity: 'c', ...fast });
    void c.run(
      () => undefined,
      () => undefined,
    );
    await eventually(() => c.isLeader() || undefined, 15_000, 'c to take over');
    assert.ok(Date.now() - t0 >= 2900, `took over after ${Date.now() - t0} ms, before the lease expired`);
    await c.stop();
  });

  it('steps down when it cannot renew within the renew deadline', async () => {
    const x = new LeaderElector(admin, { namespace: ns, name: 'l3', identity: 'x', ...fast });
    let stopped = false;
    void x.run(
      () => undefined,
      () => (stopped = true),
    );
    await eventually(() => x.isLeader() || undefined, 10_000, 'x to lead');
    // Another holder keeps writing the lease, so every renewal of x is refused.
    const intruder = setInterval(() => {
      void admin
        .get<{ spec: Record<string, unknown> }>(x.path)
        .then((l) =>
          admin.request('PUT', x.path, {
            body: { ...l, spec: { ...l.spec, holderIdentity: 'intruder', renewTime: microTime(Date.now()) } },
          }),
        )
        .catch(() => undefined);
    }, 100);
    await eventually(() => stopped || undefined, 10_000, 'x to step down');
    clearInterval(intruder);
    assert.equal(x.isLeader(), false);
  });
});
