// suite: shares — SubjectAccessReviews only
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { kubectl } from '../fed/kubectl.js';
import { eventually } from './support.js';

/**
 * Issue 11, RBAC as narrow as the code allows: the rights `pnpm fed up` installed from the chart (deploy/, karmada/; the hub's
 * on Karmada, the hub's identity in the members through Karmada's propagation, the agents' in the members), asked
 * of each apiserver with SubjectAccessReviews. Every rule is checked against the code by packages/cli's rbac.test.ts;
 * this shows the narrowed ones as the apiservers see them: Migrate may change a workload's replicas, never the
 * workload, and the verbs no code uses are gone.
 */

const HUB = 'system:serviceaccount:karmada-system:stateful-migration-hub';
const AGENT = 'system:serviceaccount:stateful-migration:checkpoint-backup-sa';
const saGroups = (ns: string) => [
  'system:serviceaccounts',
  `system:serviceaccounts:${ns}`,
  'system:authenticated',
];

interface Ask {
  verb: string;
  group?: string;
  resource: string;
  subresource?: string;
  namespace?: string;
}

async function may(cluster: string, user: string, a: Ask): Promise<boolean> {
  const sar = {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SubjectAccessReview',
    spec: {
      user,
      // Karmada's cluster proxy impersonates the hub by its user name; in the members the binding is to that user.
      groups: user === HUB ? saGroups('karmada-system') : saGroups('stateful-migration'),
      resourceAttributes: { namespace: 'default', group: '', ...a },
    },
  };
  const out = await kubectl(
    cluster,
    ['create', '-f', '-', '-o', 'jsonpath={.status.allowed}'],
    JSON.stringify(sar),
  );
  return out.trim() === 'true';
}

const show = (a: Ask) =>
  `${a.verb} ${a.group || 'core'}/${a.resource}${a.subresource ? `/${a.subresource}` : ''}`;

async function expect(cluster: string, user: string, allowed: Ask[], denied: Ask[]): Promise<void> {
  // The members' roles come through Karmada's propagation: wait for the allowed ones, then the rest must be denied.
  for (const a of allowed)
    await eventually(() => may(cluster, user, a), 60_000, `${user} may ${show(a)} in ${cluster}`);
  for (const a of denied)
    assert.equal(await may(cluster, user, a), false, `${user} may ${show(a)} in ${cluster}`);
}

const scale = (verb: string, resource: string): Ask => ({
  verb,
  group: 'apps',
  resource,
  subresource: 'scale',
});
const workload = (verb: string, resource: string): Ask => ({ verb, group: 'apps', resource });

describe('RBAC as narrow as the code allows (issue 11)', () => {
  it('Migrate: the hub may read and patch deployments/scale and statefulsets/scale, on Karmada and in members, and no workload itself', async () => {
    const allowed = ['deployments', 'statefulsets'].flatMap((r) => [scale('get', r), scale('patch', r)]);
    const denied = ['deployments', 'statefulsets'].flatMap((r) => [
      workload('get', r),
      workload('patch', r),
      workload('update', r),
      scale('update', r),
    ]);
    await expect('karmada', HUB, allowed, denied);
    await expect('member1', HUB, allowed, denied);
  });

  it('the hub may patch Events (their count), and has no get on Clusters, nor any status or finalizers right it never uses', async () => {
    const mig = 'migration.dcnlab.com';
    await expect(
      'karmada',
      HUB,
      [
        { verb: 'patch', resource: 'events' },
        { verb: 'list', group: 'cluster.karmada.io', resource: 'clusters', namespace: '' },
        { verb: 'update', group: mig, resource: 'checkpointrestores', subresource: 'status' },
      ],
      [
        { verb: 'get', group: 'cluster.karmada.io', resource: 'clusters', namespace: '' },
        { verb: 'patch', group: mig, resource: 'checkpointrestores', subresource: 'status' },
        { verb: 'get', group: mig, resource: 'checkpointrestores', subresource: 'status' },
        { verb: 'update', group: mig, resource: 'checkpointrestores', subresource: 'finalizers' },
        { verb: 'update', group: mig, resource: 'checkpointrestores' },
      ],
    );
    await expect(
      'member1',
      HUB,
      [{ verb: 'list', resource: 'nodes', namespace: '' }],
      [{ verb: 'get', resource: 'nodes', namespace: '' }],
    );
  });

  it('the agents keep what they use and lose update on CheckpointBackups, get/patch on their status, and finalizers', async () => {
    const mig = 'migration.dcnlab.com';
    await expect(
      'member1',
      AGENT,
      [
        { verb: 'patch', group: mig, resource: 'checkpointbackups' },
        { verb: 'update', group: mig, resource: 'checkpointbackups', subresource: 'status' },
        { verb: 'patch', resource: 'events' },
      ],
      [
        { verb: 'update', group: mig, resource: 'checkpointbackups' },
        { verb: 'get', group: mig, resource: 'checkpointbackups', subresource: 'status' },
        { verb: 'patch', group: mig, resource: 'checkpointbackups', subresource: 'status' },
        { verb: 'update', group: mig, resource: 'checkpointbackups', subresource: 'finalizers' },
      ],
    );
  });
});
