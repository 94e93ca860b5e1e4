import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { hubWebhookOwner, type CheckpointBackup } from '@stateful-migration/api';
import {
  DRAIN_PODS_ROUTE,
  EVICT_ROUTE,
  gateConfiguration,
  KEEP_STATE_WEBHOOKS,
  keptWorkloads,
  replacementConfiguration,
  type KeptWorkload,
} from './webhooks.js';

const backup = (
  name: string,
  kind: string,
  clusters: string[],
  over: Partial<CheckpointBackup['spec']> = {},
  ns = 'shop',
): CheckpointBackup => ({
  apiVersion: 'migration.dcnlab.com/v1',
  kind: 'CheckpointBackup',
  metadata: { name, namespace: ns },
  spec: {
    schedule: 'immediately',
    resourceRef: { apiVersion: 'apps/v1', kind, name },
    registry: { url: 'reg:5000', repository: 'r' },
    keepState: { eviction: {} },
    ...over,
  },
  status: { placement: { clusters, by: 'workload' } },
});

describe('keptWorkloads: where the keep-state webhooks must be', () => {
  it('per cluster of placement, each workload of an opted-in workload-level backup, sorted', () => {
    const m = keptWorkloads([
      backup('web', 'Deployment', ['member1', 'member2']),
      backup('db', 'StatefulSet', ['member1']),
      backup('db', 'StatefulSet', ['member2'], {}, 'alpha'),
    ]);
    assert.deepEqual([...m.keys()].sort(), ['member1', 'member2']);
    assert.deepEqual(
      m.get('member1')!.map((w) => `${w.namespace}/${w.backup}/${w.kind}/${w.name}`),
      ['shop/db/StatefulSet/db', 'shop/web/Deployment/web'],
    );
    assert.deepEqual(
      m.get('member2')!.map((w) => `${w.namespace}/${w.backup}`),
      ['alpha/db', 'shop/web'],
    );
  });

  it('nothing for a backup without the opt-in, of a pod, failover only, refused, with a cross-namespace reference, or of another kind', () => {
    const m = keptWorkloads([
      backup('a', 'StatefulSet', ['member1'], { keepState: undefined }),
      backup('b', 'StatefulSet', ['member1'], { podRef: { name: 'b-0' } }),
      backup('c', 'StatefulSet', ['member1'], { keepState: { clusterFailover: {} }, schedule: '* * * * *' }),
      backup('d', 'StatefulSet', ['member1'], { registry: undefined }),
      backup('e', 'Pod', ['member1']),
      // Stored before the admission policy: a reference into another namespace, a name that is CEL.
      backup('f', 'StatefulSet', ['member1'], {
        registry: { url: 'reg:5000', repository: 'r', secretRef: { name: 's', namespace: 'bank' } },
      }),
      backup('g', 'StatefulSet', ['member1'], {
        resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: "g')||true||('" },
      }),
    ]);
    assert.equal(m.size, 0);
  });

  it('backups that do not opt in change nothing, however many: the answer is that of the opted-in ones alone', () => {
    const opted = [
      backup('web', 'Deployment', ['member1']),
      backup('db', 'StatefulSet', ['member1', 'member2']),
    ];
    const others = Array.from({ length: 500 }, (_, i) =>
      backup(i % 2 ? 'web' : `w${i}`, i % 3 ? 'Deployment' : 'StatefulSet', ['member1'], {
        keepState: undefined,
      }),
    );
    assert.deepEqual(keptWorkloads([...others, ...opted]), keptWorkloads(opted));
    assert.deepEqual(
      keptWorkloads([...others, ...opted])
        .get('member1')!
        .map((w) => w.backup),
      ['db', 'web'],
    );
  });

  it('two backups of one workload: one webhook, for the backup the gate answers by (the first by name)', () => {
    const one = { ...backup('zz', 'StatefulSet', ['member1']) };
    one.spec = { ...one.spec, resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' } };
    const other = backup('aa', 'StatefulSet', ['member1']);
    other.spec = { ...other.spec, resourceRef: { apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'db' } };
    assert.deepEqual(
      keptWorkloads([one, other])
        .get('member1')!
        .map((w) => w.backup),
      ['aa'],
    );
  });
});

const hash16 = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16);

describe('webhook names: fixed length, one per namespace and backup, valid for any backup name', () => {
  // One configuration holds every tenant's webhooks in a member: one invalid or duplicate name breaks them all.
  const dns = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
  const y = 'y'.repeat(251);
  const kept = (backup: string, namespace = 'shop'): KeptWorkload => ({
    namespace,
    backup,
    kind: 'StatefulSet',
    name: 'db',
  });
  const names = (ws: KeptWorkload[]) =>
    [gateConfiguration, replacementConfiguration].flatMap((f) =>
      f('m1', endpoint, ws, owner).webhooks.map((w) => w.name as string),
    );

  it('a 252- or 253-character backup name: a valid DNS subdomain of at most 253 characters', () => {
    for (const n of names([kept('z'.repeat(252)), kept('z'.repeat(253))])) {
      assert.match(n, dns);
      assert.ok(n.length <= 253, n);
    }
  });

  it('Y and Y.s, or a and b in namespaces whose names run together: distinct names', () => {
    const all = names([kept(y), kept(`${y}.s`), kept('a.b', 'c'), kept('a', 'b.c')]);
    assert.equal(new Set(all).size, all.length);
  });
});

const endpoint = { url: 'https://hub.example:8443', caBundle: 'PEM' };
const owner = hubWebhookOwner('policy-uid');
const db: KeptWorkload = { namespace: 'shop', backup: 'db', kind: 'StatefulSet', name: 'db' };
const web: KeptWorkload = { namespace: 'shop', backup: 'web', kind: 'Deployment', name: 'web' };

describe('gateConfiguration: the eviction gate in one member', () => {
  const c = gateConfiguration('member 1', endpoint, [db, web], owner);
  const [w] = c.webhooks as Record<string, unknown>[];

  it('named stateful-migration.keep-state (no second dot: never a migration configuration name)', () => {
    assert.equal(c.kind, 'ValidatingWebhookConfiguration');
    assert.equal(c.metadata.name, KEEP_STATE_WEBHOOKS);
    assert.equal(KEEP_STATE_WEBHOOKS.split('.').length, 2);
  });

  it("owned by the member's hub webhook policy, so the chart's uninstall takes it along", () => {
    assert.deepEqual(c.metadata.ownerReferences, [
      {
        apiVersion: 'admissionregistration.k8s.io/v1',
        kind: 'ValidatingAdmissionPolicy',
        name: 'hub-webhook-configurations.migration.dcnlab.com',
        uid: 'policy-uid',
      },
    ]);
  });

  it('one webhook per workload, calling the gate route with its cluster, percent-encoded', () => {
    assert.equal(c.webhooks.length, 2);
    assert.deepEqual(w!.clientConfig, {
      url: `https://hub.example:8443${EVICT_ROUTE}member%201`,
      caBundle: Buffer.from('PEM').toString('base64'),
    });
    assert.equal(w!.name, `${hash16('shop/db')}.evict.migration.dcnlab.com`);
  });

  it('pods/eviction CREATE in the namespace only; fails open; no side effect on a dry run', () => {
    assert.deepEqual(w!.rules, [
      {
        apiGroups: [''],
        apiVersions: ['v1'],
        operations: ['CREATE'],
        resources: ['pods/eviction'],
        scope: 'Namespaced',
      },
    ]);
    assert.deepEqual(w!.namespaceSelector, { matchLabels: { 'kubernetes.io/metadata.name': 'shop' } });
    assert.equal(w!.failurePolicy, 'Ignore');
    assert.equal(w!.sideEffects, 'NoneOnDryRun');
  });

  it("only the workload's pods by name: a StatefulSet's ordinals exactly, a Deployment's prefix", () => {
    const exprs = (c.webhooks as { matchConditions: { expression: string }[] }[]).map(
      (x) => x.matchConditions[0]!.expression,
    );
    assert.deepEqual(exprs, ["request.name.matches('^db-[0-9]+$')", "request.name.startsWith('web-')"]);
  });

  it('none kept: no webhook (the shell deletes the configuration)', () => {
    assert.deepEqual(gateConfiguration('member1', endpoint, [], owner).webhooks, []);
  });
});

describe('replacementConfiguration: the replacement in one member', () => {
  const c = replacementConfiguration('member1', endpoint, [db, web], owner);
  const ws = c.webhooks as Record<string, unknown>[];

  it('a mutating configuration of the same name, pod CREATE in the namespace, failing open, reinvoked never', () => {
    assert.equal(c.kind, 'MutatingWebhookConfiguration');
    assert.equal(c.metadata.name, KEEP_STATE_WEBHOOKS);
    assert.deepEqual(c.metadata.ownerReferences, [owner]);
    assert.equal(
      (ws[0]!.clientConfig as { url: string }).url,
      `https://hub.example:8443${DRAIN_PODS_ROUTE}member1`,
    );
    assert.deepEqual(ws[0]!.rules, [
      {
        apiGroups: [''],
        apiVersions: ['v1'],
        operations: ['CREATE'],
        resources: ['pods'],
        scope: 'Namespaced',
      },
    ]);
    assert.equal(ws[0]!.failurePolicy, 'Ignore');
    assert.equal(ws[0]!.sideEffects, 'NoneOnDryRun');
    assert.equal(ws[0]!.reinvocationPolicy, 'Never');
    assert.equal(ws[0]!.name, `${hash16('shop/db')}.replace.migration.dcnlab.com`);
  });

  it("only pods whose controller is the workload's StatefulSet, or a ReplicaSet named after the Deployment and the pod's hash", () => {
    const [s, d] = ws.map((w) => (w.matchConditions as { expression: string }[])[0]!.expression);
    assert.match(s!, /o\.controller && o\.kind == 'StatefulSet' && o\.name == 'db'\)$/);
    assert.match(d!, /o\.name == 'web-' \+ object\.metadata\.labels\['pod-template-hash'\]\)$/);
  });
});
