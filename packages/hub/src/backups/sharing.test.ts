import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { secretPolicy } from '../secrets/reader.js';
import {
  awaitsPlacement,
  CLAIM,
  isSharedPolicy,
  legacyPolicyName,
  membershipPatch,
  policyInUse,
  POLICY_LABEL,
  sharedPolicy,
  sharedPolicyName,
  wantedPolicy,
  type Member,
  type MembershipInput,
} from './sharing.js';

const FIN = 'hub.migration.dcnlab.com/cleanup';
const P1 = sharedPolicyName(['member1']);
const P2 = sharedPolicyName(['member2']);

describe('sharedPolicyName', () => {
  it('is readable, and the same for the same set whatever the order or repeats', () => {
    assert.match(P1, /^checkpointbackups-member1-[0-9a-f]{12}$/);
    assert.equal(sharedPolicyName(['b', 'a', 'b']), sharedPolicyName(['a', 'b']));
    assert.match(sharedPolicyName(['b', 'a']), /^checkpointbackups-a-and-1-more-[0-9a-f]{12}$/);
  });
  it('differs for every different set, even with the same first cluster and count', () => {
    const sets = [['a'], ['b'], ['a', 'b'], ['a', 'c'], ['a', 'b', 'c'], ['ab'], ['a', 'bc'], ['a,b']];
    assert.equal(new Set(sets.map(sharedPolicyName)).size, sets.length);
  });
  it('is a valid policy name and label value however long the names and the set', () => {
    const long = 'c'.repeat(48);
    const many = Array.from({ length: 5000 }, (_, i) => `${long.slice(0, 40)}-${i}`);
    for (const set of [[long], many, ['x']]) {
      const n = sharedPolicyName(set);
      assert.ok(n.length <= 63, n);
      assert.match(n, /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
  });
  it('refuses an empty set', () => assert.throws(() => sharedPolicyName([])));
});

describe('sharedPolicy and isSharedPolicy', () => {
  const p = sharedPolicy('shop', ['member2', 'member1', 'member2']);
  it('selects CheckpointBackups labelled with its own name, to exactly its clusters', () => {
    assert.equal(p.metadata.name, sharedPolicyName(['member1', 'member2']));
    assert.equal(p.metadata.namespace, 'shop');
    assert.deepEqual(p.spec.resourceSelectors, [
      {
        apiVersion: 'migration.dcnlab.com/v1',
        kind: 'CheckpointBackup',
        labelSelector: { matchLabels: { [POLICY_LABEL]: p.metadata.name } },
      },
    ]);
    assert.deepEqual(p.spec.placement?.clusterAffinity?.clusterNames, ['member1', 'member2']);
  });
  const cases: [string, Parameters<typeof isSharedPolicy>[0], boolean][] = [
    ['the hub’s shared policy', p, true],
    [
      'the same, without the hub’s label (a user’s copy)',
      { ...p, metadata: { ...p.metadata, labels: {} } },
      false,
    ],
    ['the same, renamed (selects another name)', { ...p, metadata: { ...p.metadata, name: 'other' } }, false],
    ['a ClusterPropagationPolicy', { ...p, kind: 'ClusterPropagationPolicy' }, false],
    ['the hub’s secret policy', secretPolicy({ name: 'creds', namespace: 'shop' }, ['member1']), false],
  ];
  for (const [name, policy, want] of cases) it(name, () => assert.equal(isSharedPolicy(policy), want));
  it('the policy of one object from before sharing keeps its old name', () =>
    assert.equal(legacyPolicyName('web'), 'checkpointbackup-web'));
});

const member = (
  m: Partial<Member['metadata']> = {},
  placement?: { clusters: string[]; by: string },
): Member => ({
  metadata: { name: 'web', namespace: 'shop', ...m },
  ...(placement ? { status: { placement } } : {}),
});

describe('wantedPolicy: the shared policy an object belongs in, from status.placement', () => {
  const cases: [string, Member, string | undefined][] = [
    ['placed by spec.placement', member({}, { clusters: ['member1'], by: 'placement' }), P1],
    ['placed by its workload', member({}, { clusters: ['member1'], by: 'workload' }), P1],
    ['placed by its pod', member({}, { clusters: ['member2'], by: 'pod' }), P2],
    ['under a user’s policy', member({}, { clusters: ['member1'], by: 'policy' }), undefined],
    ['no clusters recorded', member({}, { clusters: [], by: 'placement' }), undefined],
    ['nothing recorded (new, refused, withdrawn)', member(), undefined],
  ];
  for (const [name, b, want] of cases) it(name, () => assert.equal(wantedPolicy(b), want));
});

describe('awaitsPlacement: an object whose spec the hub has not acted on goes ahead in its queue', () => {
  const acted = (m: Partial<Member['metadata']>, placement?: { clusters: string[]; by: string }): Member => ({
    metadata: { name: 'web', namespace: 'shop', generation: 2, ...m },
    status: { observedGeneration: 2, ...(placement ? { placement } : {}) },
  });
  const cases: [string, Member, boolean][] = [
    ['new: no status at all', { metadata: { name: 'web', namespace: 'shop', generation: 1 } }, true],
    [
      'its spec changed since the hub acted',
      { ...acted({}), metadata: { ...acted({}).metadata, generation: 3 } },
      true,
    ],
    // The status write and the label are one reconcile: a label that lags is that reconcile's failure, retried at its
    // priority by the queue; otherwise it lags for good (its policy's name is taken) and must not stay ahead.
    [
      'placement recorded, label not written yet',
      acted({}, { clusters: ['member1'], by: 'placement' }),
      false,
    ],
    [
      'placement recorded, label of another policy',
      acted({ labels: { [POLICY_LABEL]: P2 } }, { clusters: ['member1'], by: 'placement' }),
      false,
    ],
    [
      'placed: label as recorded',
      acted({ labels: { [POLICY_LABEL]: P1 } }, { clusters: ['member1'], by: 'placement' }),
      false,
    ],
    ['under a user’s policy, acted on', acted({}, { clusters: ['member1'], by: 'policy' }), false],
    ['refused or unplaceable, acted on (no placement)', acted({}), false],
    [
      'being deleted, even if never placed',
      {
        metadata: {
          name: 'web',
          namespace: 'shop',
          generation: 1,
          deletionTimestamp: '2026-12-02T00:00:00Z',
        },
      },
      false,
    ],
  ];
  for (const [name, b, want] of cases) it(name, () => assert.equal(awaitsPlacement(b), want));
});

describe('policyInUse: whether a shared policy must stay', () => {
  const policy = { name: P1, namespace: 'shop' };
  const deleting = { deletionTimestamp: '2026-01-01T00:00:00Z' };
  const cases: [string, Member[], boolean][] = [
    ['no objects', [], false],
    ['one carries its label', [member({ labels: { [POLICY_LABEL]: P1 } })], true],
    [
      'one is on its way in (placement recorded, no label yet)',
      [member({}, { clusters: ['member1'], by: 'placement' })],
      true,
    ],
    [
      'the only one carrying it is being deleted',
      [member({ labels: { [POLICY_LABEL]: P1 }, ...deleting })],
      false,
    ],
    [
      'the only one on its way in is being deleted',
      [member({ ...deleting }, { clusters: ['member1'], by: 'placement' })],
      false,
    ],
    ['one carries another policy', [member({ labels: { [POLICY_LABEL]: P2 } })], false],
    [
      'one has moved away (label and placement elsewhere)',
      [member({ labels: { [POLICY_LABEL]: P2 } }, { clusters: ['member2'], by: 'placement' })],
      false,
    ],
    [
      'one still carries it, placement already elsewhere',
      [member({ labels: { [POLICY_LABEL]: P1 } }, { clusters: ['member2'], by: 'placement' })],
      true,
    ],
    [
      'one under a user’s policy, to the same cluster',
      [member({}, { clusters: ['member1'], by: 'policy' })],
      false,
    ],
    [
      'one in another namespace with the same label',
      [member({ namespace: 'other', labels: { [POLICY_LABEL]: P1 } })],
      false,
    ],
    [
      'one leaving, one staying',
      [
        member({ labels: { [POLICY_LABEL]: P1 }, ...deleting }),
        member({ name: 'db', labels: { [POLICY_LABEL]: P1 } }),
      ],
      true,
    ],
  ];
  for (const [name, backups, want] of cases) it(name, () => assert.equal(policyInUse(policy, backups), want));
});

describe('membershipPatch: the one write that puts an object where it belongs', () => {
  const hub = new Set([P1, P2, 'checkpointbackup-web']);
  const input = (m: Partial<Member['metadata']>, want: string | undefined): MembershipInput => ({
    object: member(m),
    want,
    hubPolicy: (n) => hub.has(n),
    finalizer: FIN,
  });
  const claimedBy = (name: string, namespace = 'shop') => ({
    labels: { [CLAIM.id]: 'some-uid' },
    annotations: { [CLAIM.name]: name, [CLAIM.namespace]: namespace },
  });
  const release = {
    labels: { [CLAIM.id]: null },
    annotations: { [CLAIM.name]: null, [CLAIM.namespace]: null },
  };
  const cases: [string, MembershipInput, ReturnType<typeof membershipPatch>][] = [
    [
      'new: label and finalizer in one write',
      input({}, P1),
      { labels: { [POLICY_LABEL]: P1 }, finalizers: [FIN] },
    ],
    [
      'new, with another controller’s finalizer: both kept',
      input({ finalizers: ['x/y'] }, P1),
      { labels: { [POLICY_LABEL]: P1 }, finalizers: ['x/y', FIN] },
    ],
    ['in place, unclaimed yet', input({ labels: { [POLICY_LABEL]: P1 }, finalizers: [FIN] }, P1), undefined],
    [
      'in place and claimed by its policy',
      input({ ...claimedBy(P1), labels: { [POLICY_LABEL]: P1, [CLAIM.id]: 'u' }, finalizers: [FIN] }, P1),
      undefined,
    ],
    [
      'label removed by hand: set again',
      input({ finalizers: [FIN] }, P1),
      { labels: { [POLICY_LABEL]: P1 } },
    ],
    [
      'moved: new label, and the old shared policy’s claim released',
      input({ ...claimedBy(P1), labels: { [POLICY_LABEL]: P1, [CLAIM.id]: 'u' }, finalizers: [FIN] }, P2),
      { labels: { [POLICY_LABEL]: P2, [CLAIM.id]: null }, annotations: release.annotations },
    ],
    [
      'moved before Karmada claimed it for the old one: the label only',
      input({ labels: { [POLICY_LABEL]: P1 }, finalizers: [FIN] }, P2),
      { labels: { [POLICY_LABEL]: P2 } },
    ],
    [
      'moved, and Karmada already claimed it for the new one',
      input({ ...claimedBy(P2), labels: { [POLICY_LABEL]: P1, [CLAIM.id]: 'u' }, finalizers: [FIN] }, P2),
      { labels: { [POLICY_LABEL]: P2 } },
    ],
    [
      'upgraded from a per-object policy: joins, and that policy’s claim is released',
      input({ ...claimedBy('checkpointbackup-web'), finalizers: [FIN] }, P1),
      { labels: { [POLICY_LABEL]: P1, [CLAIM.id]: null }, annotations: release.annotations },
    ],
    [
      'a user’s policy now places it: it leaves, the hub’s claim is released',
      input(
        { ...claimedBy(P1), labels: { [POLICY_LABEL]: P1, [CLAIM.id]: 'u' }, finalizers: [FIN] },
        undefined,
      ),
      { labels: { [POLICY_LABEL]: null, [CLAIM.id]: null }, annotations: release.annotations },
    ],
    [
      'a user’s policy has claimed it: the label goes, the user’s claim stays',
      input(
        { ...claimedBy('users-own'), labels: { [POLICY_LABEL]: P1, [CLAIM.id]: 'u' }, finalizers: [FIN] },
        undefined,
      ),
      { labels: { [POLICY_LABEL]: null } },
    ],
    [
      'claimed by a user’s policy, and the hub places it: the user’s claim is never touched',
      input({ ...claimedBy('users-own'), finalizers: [FIN] }, P1),
      { labels: { [POLICY_LABEL]: P1 } },
    ],
    [
      'a claim naming a policy of the same name in another namespace is not the hub’s',
      input({ ...claimedBy(P1, 'elsewhere'), finalizers: [FIN] }, P2),
      { labels: { [POLICY_LABEL]: P2 } },
    ],
    [
      'a claim by a policy no longer cached (deleted): Karmada cleans it up itself',
      input({ ...claimedBy('gone'), finalizers: [FIN] }, P1),
      { labels: { [POLICY_LABEL]: P1 } },
    ],
    ['withdrawn, never joined: nothing to write, no finalizer added', input({}, undefined), undefined],
    [
      'withdrawn: the label goes, the finalizer stays',
      input({ labels: { [POLICY_LABEL]: P1, team: 'a' }, finalizers: [FIN] }, undefined),
      { labels: { [POLICY_LABEL]: null } },
    ],
  ];
  for (const [name, i, want] of cases) it(name, () => assert.deepEqual(membershipPatch(i), want));
  it('without a finalizer to add, only labels and claims are written', () =>
    assert.deepEqual(membershipPatch({ ...input({}, P1), finalizer: undefined } as MembershipInput), {
      labels: { [POLICY_LABEL]: P1 },
    }));
});
