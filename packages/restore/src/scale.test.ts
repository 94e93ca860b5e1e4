import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SourceStop } from '@stateful-migration/api';
import { scalePath, scaleReads, scaleReplicas, scaleRequest } from './scale.js';

const stop = (over: Partial<SourceStop> = {}): SourceStop => ({
  cluster: 'member1',
  namespace: 'shop',
  pod: 'web-1',
  method: 'Scale',
  onHub: true,
  workload: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', replicas: 1 },
  ...over,
});

describe('scaleRequest: Migrate scales through the scale subresource, never by patching the workload', () => {
  it('a template on the hub: a merge patch of the Scale, spec.replicas only', () => {
    assert.deepEqual(scaleRequest(stop(), 0), {
      method: 'PATCH',
      path: '/apis/apps/v1/namespaces/shop/deployments/web/scale',
      contentType: 'application/merge-patch+json',
      body: { spec: { replicas: 0 } },
    });
  });

  it('a workload that lives only in the member: the same request through the cluster proxy', () => {
    const ss = stop({
      onHub: false,
      workload: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db', replicas: 1 },
    });
    assert.deepEqual(scaleRequest(ss, 0), {
      method: 'PATCH',
      path: '/apis/cluster.karmada.io/v1alpha1/clusters/member1/proxy/apis/apps/v1/namespaces/shop/statefulsets/db/scale',
      contentType: 'application/merge-patch+json',
      body: { spec: { replicas: 0 } },
    });
    // A stop recorded before onHub existed is acted on in the member, as before.
    const old: SourceStop = { ...ss };
    delete old.onHub;
    assert.equal(scaleRequest(old, 0).path, scaleRequest(ss, 0).path);
  });

  it('a rollback sets the recorded replicas back the same way', () => {
    const s = stop({ workload: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', replicas: 1 } });
    assert.deepEqual(scaleRequest(s, s.workload!.replicas).body, { spec: { replicas: 1 } });
  });

  it('the body carries nothing but the replicas: no pod template, no metadata', () => {
    assert.deepEqual(Object.keys(scaleRequest(stop(), 0).body), ['spec']);
    assert.deepEqual(Object.keys(scaleRequest(stop(), 0).body.spec), ['replicas']);
  });

  it('refuses what is not a Scale stop, another kind, or a replica count that is not a count', () => {
    assert.throws(
      () => scaleRequest({ ...stop(), method: 'DeletePod', workload: undefined }, 0),
      /not a Scale/,
    );
    assert.throws(
      () =>
        scaleRequest(
          stop({ workload: { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'x', replicas: 1 } }),
          0,
        ),
      /not a DaemonSet/,
    );
    for (const n of [-1, 1.5, NaN]) assert.throws(() => scaleRequest(stop(), n), /cannot scale/);
  });
});

describe('reading a source workload’s replicas', () => {
  it('reads the Scale on the hub first, else in the member through the cluster proxy', () => {
    assert.deepEqual(
      scaleReads({ cluster: 'member2', namespace: 'shop' }, { kind: 'StatefulSet', name: 'db' }),
      {
        hub: '/apis/apps/v1/namespaces/shop/statefulsets/db/scale',
        member:
          '/apis/cluster.karmada.io/v1alpha1/clusters/member2/proxy/apis/apps/v1/namespaces/shop/statefulsets/db/scale',
      },
    );
    assert.equal(
      scalePath('shop', { kind: 'Deployment', name: 'web' }),
      '/apis/apps/v1/namespaces/shop/deployments/web/scale',
    );
  });

  it('an autoscaling/v1 Scale omits replicas when they are 0', () => {
    const scale = { apiVersion: 'autoscaling/v1', kind: 'Scale', metadata: { name: 'web' } };
    assert.equal(scaleReplicas({ ...scale, spec: { replicas: 3 } }), 3);
    assert.equal(scaleReplicas({ ...scale, spec: {} }), 0);
    assert.equal(scaleReplicas(scale), 0);
  });
});
