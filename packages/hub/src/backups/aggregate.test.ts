import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AggregatePhase, CheckpointBackupStatus } from '@stateful-migration/api';
import {
  aggregateStatus,
  clusterStatus,
  unplaceable,
  worthAnEvent,
  type ClusterHealth,
  type MemberReport,
  phaseEvent,
  reportUnseen,
} from './aggregate.js';

const ready: ClusterHealth[] = [
  { name: 'member1', ready: true },
  { name: 'member2', ready: true },
];
const report = (clusterName: string, status?: CheckpointBackupStatus): MemberReport => ({
  clusterName,
  applied: true,
  ...(status ? { status } : {}),
});
const now = new Date('2026-11-27T10:00:00Z');

describe('clusterStatus', () => {
  it('reads the member status', () => {
    const c = clusterStatus(
      'member1',
      report('member1', {
        phase: 'Completed',
        message: 'done',
        lastCheckpointTime: '2026-11-27T09:00:00Z',
        run: { id: 'r', startedAt: 'x', generation: 1, node: 'm1-a', containers: ['app'] },
        builtImages: [{ containerName: 'app', imageName: 'r/x:1', buildTime: 't', pushed: true }],
      }),
      ready[0],
    );
    assert.deepEqual(c, {
      name: 'member1',
      phase: 'Completed',
      message: 'done',
      applied: true,
      lastCheckpointTime: '2026-11-27T09:00:00Z',
      node: 'm1-a',
      builtImages: [{ containerName: 'app', imageName: 'r/x:1', buildTime: 't', pushed: true }],
    });
  });
  it('copies at most the newest 100 images per container, and the count of dropped ones', () => {
    const many = Array.from({ length: 130 }, (_, i) => ({
      containerName: 'app',
      imageName: `r/x:${i}`,
      buildTime: 't',
      pushed: true,
    }));
    const c = clusterStatus(
      'member1',
      report('member1', { phase: 'Completed', builtImages: many, builtImagesDropped: 5 }),
      ready[0],
    );
    assert.equal(c.builtImages?.length, 100);
    assert.equal(c.builtImages?.[0]?.imageName, 'r/x:30');
    assert.equal(c.builtImagesDropped, 35);
    const few = clusterStatus(
      'member1',
      report('member1', { phase: 'Completed', builtImages: many.slice(0, 3) }),
      ready[0],
    );
    assert.equal(few.builtImages?.length, 3);
    assert.equal(few.builtImagesDropped, undefined);
  });
  it('is Unknown, keeping the last known state, while the cluster is not Ready', () => {
    const c = clusterStatus('member2', report('member2', { phase: 'Completed', lastCheckpointTime: 't1' }), {
      name: 'member2',
      ready: false,
      reason: 'cluster is not reachable',
    });
    assert.equal(c.phase, 'Unknown');
    assert.match(c.message!, /member2 is not Ready: cluster is not reachable/);
    assert.equal(c.lastCheckpointTime, 't1');
  });
  it('is Unknown for a cluster Karmada does not know', () =>
    assert.equal(clusterStatus('nope', undefined, undefined).phase, 'Unknown'));
  it('is Pending before Karmada places it', () => {
    const c = clusterStatus('member1', undefined, ready[0]);
    assert.deepEqual([c.phase, c.applied], ['Pending', false]);
  });
  it("is Pending while not applied, with Karmada's reason when it gives one", () => {
    assert.equal(
      clusterStatus('member1', { clusterName: 'member1', applied: false }, ready[0]).phase,
      'Pending',
    );
    const f = clusterStatus(
      'member1',
      { clusterName: 'member1', applied: false, appliedMessage: 'no matches for kind "CheckpointBackup"' },
      ready[0],
    );
    assert.equal(f.phase, 'Pending');
    assert.match(f.message!, /has not applied it yet: no matches for kind/);
  });
  it('is Pending while the agent has not reported, saying when the next tick is', () => {
    assert.equal(clusterStatus('member1', report('member1'), ready[0]).message, 'waiting for the agent');
    const c = clusterStatus(
      'member1',
      report('member1', { nextScheduledTime: '2026-11-27T10:01:00Z' }),
      ready[0],
    );
    assert.deepEqual([c.phase, c.message], ['Pending', 'next checkpoint at 2026-11-27T10:01:00Z']);
  });
});

describe('aggregateStatus', () => {
  const agg = (phases: Record<string, AggregatePhase | undefined>, clusters = ready) =>
    aggregateStatus({
      placed: Object.keys(phases),
      reports: Object.entries(phases)
        .filter(([, p]) => p !== undefined)
        .map(([n, p]) =>
          report(
            n,
            p === 'Pending' ? {} : { phase: p as CheckpointBackupStatus['phase'], message: `${p} msg` },
          ),
        ),
      clusters,
      generation: 3,
      now,
    });

  const table: [Record<string, AggregatePhase | undefined>, AggregatePhase, string][] = [
    [{}, 'Pending', '0/0'],
    [{ member1: 'Completed' }, 'Completed', '1/1'],
    [{ member1: 'Completed', member2: 'Completed' }, 'Completed', '2/2'],
    [{ member1: 'Completed', member2: 'CompletedPodDeleted' }, 'Completed', '2/2'],
    [{ member1: 'CompletedPodDeleted', member2: 'CompletedPodDeleted' }, 'CompletedPodDeleted', '2/2'],
    [{ member1: 'Completed', member2: 'CompletedWithError' }, 'CompletedWithError', '2/2'],
    [{ member1: 'Completed', member2: 'Failed' }, 'Failed', '1/2'],
    [{ member1: 'Checkpointing', member2: 'Failed' }, 'Failed', '0/2'],
    [{ member1: 'Completed', member2: 'ImagePushing' }, 'ImagePushing', '1/2'],
    [{ member1: 'ImageBuilt', member2: 'Checkpointing' }, 'Checkpointing', '0/2'],
    [{ member1: 'Completed', member2: undefined }, 'Pending', '1/2'],
    [{ member1: 'Checkpointing', member2: 'Pending' }, 'Pending', '0/2'],
  ];
  for (const [phases, want, ready] of table)
    it(`${JSON.stringify(phases)} -> ${want} ${ready}`, () => {
      const s = agg(phases);
      assert.equal(s.phase, want);
      assert.equal(s.clustersReady, ready);
    });

  it('with no cluster placed, Propagated is False (NotPlaced), and a second pass writes nothing new', () => {
    const first = agg({});
    const p = first.conditions!.find((c) => c.type === 'Propagated')!;
    assert.deepEqual([p.status, p.reason], ['False', 'NotPlaced']);
    const again = aggregateStatus({
      placed: [],
      reports: [],
      clusters: ready,
      generation: 3,
      previous: first,
      now: new Date('2026-11-27T12:00:00Z'),
    });
    assert.deepEqual(again, first);
  });

  it('names the failed clusters and their messages', () => {
    const s = agg({ member1: 'Failed', member2: 'Failed' });
    assert.equal(s.message, 'failed in member1: Failed msg; member2: Failed msg');
    const c = s.conditions!.find((x) => x.type === 'Completed')!;
    assert.deepEqual([c.status, c.reason], ['False', 'Failed']);
  });

  it('is Unknown while a placed cluster is not Ready, and the others still show their own phase', () => {
    const s = agg({ member1: 'Completed', member2: 'Checkpointing' }, [
      { name: 'member1', ready: true },
      { name: 'member2', ready: false, reason: 'cluster is not reachable' },
    ]);
    assert.equal(s.phase, 'Unknown');
    assert.match(s.message!, /^member2: cluster member2 is not Ready/);
    assert.deepEqual(
      s.clusters!.map((c) => [c.name, c.phase]),
      [
        ['member1', 'Completed'],
        ['member2', 'Unknown'],
      ],
    );
    assert.equal(s.clustersReady, '1/2');
  });

  it('a Failed cluster outranks an Unknown one', () =>
    assert.equal(
      agg({ member1: 'Failed', member2: 'Completed' }, [
        { name: 'member1', ready: true },
        { name: 'member2', ready: false },
      ]).phase,
      'Failed',
    ));

  it('takes the newest checkpoint time over the clusters', () => {
    const s = aggregateStatus({
      placed: ['member1', 'member2'],
      reports: [
        report('member1', { phase: 'Completed', lastCheckpointTime: '2026-11-27T09:00:00Z' }),
        report('member2', { phase: 'Completed', lastCheckpointTime: '2026-11-27T09:05:00Z' }),
      ],
      clusters: ready,
      generation: 1,
      now,
    });
    assert.equal(s.lastCheckpointTime, '2026-11-27T09:05:00Z');
  });

  it('sets Propagated from what Karmada applied', () => {
    const s = aggregateStatus({
      placed: ['member1', 'member2'],
      reports: [report('member1', { phase: 'Completed' })],
      clusters: ready,
      generation: 1,
      now,
    });
    const p = s.conditions!.find((c) => c.type === 'Propagated')!;
    assert.deepEqual([p.status, p.reason, p.message], ['False', 'NotApplied', 'not applied in member2']);
    const all = agg({ member1: 'Completed', member2: 'Completed' });
    assert.equal(all.conditions!.find((c) => c.type === 'Propagated')!.status, 'True');
    assert.equal(all.conditions!.find((c) => c.type === 'Completed')!.status, 'True');
  });

  it('keeps transition times of conditions that did not change', () => {
    const first = agg({ member1: 'Completed' });
    const later = aggregateStatus({
      placed: ['member1'],
      reports: [report('member1', { phase: 'Completed' })],
      clusters: ready,
      generation: 3,
      previous: first,
      now: new Date('2026-11-27T11:00:00Z'),
    });
    assert.deepEqual(later.conditions, first.conditions);
  });

  it('ignores duplicate placed names and sorts clusters', () => {
    const s = aggregateStatus({
      placed: ['member2', 'member1', 'member2'],
      reports: [],
      clusters: ready,
      generation: 1,
    });
    assert.deepEqual(
      s.clusters!.map((c) => c.name),
      ['member1', 'member2'],
    );
  });
});

describe('phaseEvent: the Event of an outcome', () => {
  const cases: [CheckpointBackupStatus, ReturnType<typeof phaseEvent>][] = [
    [
      {
        phase: 'Completed',
        message: 'Completed in member1',
        clusters: [{ name: 'member1', phase: 'Completed', applied: true }],
      },
      { type: 'Normal', reason: 'AggregateCompleted', message: 'Completed in member1' },
    ],
    [
      {
        phase: 'CompletedPodDeleted',
        message: 'm',
        clusters: [{ name: 'member1', phase: 'CompletedPodDeleted', applied: true }],
      },
      { type: 'Normal', reason: 'AggregateCompletedPodDeleted', message: 'm' },
    ],
    [
      {
        phase: 'CompletedWithError',
        message: 'm',
        clusters: [{ name: 'member1', phase: 'CompletedWithError', applied: true }],
      },
      { type: 'Warning', reason: 'AggregateCompletedWithError', message: 'm' },
    ],
    [
      {
        phase: 'Failed',
        message: 'failed in member1: x',
        clusters: [{ name: 'member1', phase: 'Failed', applied: true }],
      },
      { type: 'Warning', reason: 'AggregateFailed', message: 'failed in member1: x' },
    ],
    [
      { phase: 'Failed', message: 'nowhere' },
      { type: 'Warning', reason: 'Unplaceable', message: 'nowhere' },
    ],
    [{ phase: 'Unknown' }, { type: 'Warning', reason: 'ClusterNotReady', message: '' }],
  ];
  for (const [s, want] of cases)
    it(`${s.phase}${s.clusters ? '' : ' (no cluster)'}: ${want.type} ${want.reason}`, () =>
      assert.deepEqual(phaseEvent(s), want));
});

describe('reportUnseen: a member finished and the hub does not show it yet', () => {
  const shown = (...c: [string, AggregatePhase][]): CheckpointBackupStatus => ({
    clusters: c.map(([name, phase]) => ({ name, phase, applied: true })),
  });
  // One cluster, member1: [what, the phase shown, what it reports (a phase, or the report), Ready, unseen?]
  const one: [string, AggregatePhase, string | MemberReport | undefined, boolean, boolean][] = [
    ['an outcome not shown', 'Pending', 'Failed', true, true],
    ['a success not shown', 'ImagePushing', 'Completed', true, true],
    ['the outcome shown', 'Failed', 'Failed', true, false],
    ['a step of a run (not finished)', 'Checkpointing', 'ImageBuilding', true, false],
    ['no phase reported yet (applied only)', 'Pending', undefined, true, false],
    ['a cluster not Ready (shown Unknown)', 'Unknown', 'Completed', false, false],
    ['a cluster not Ready, shown as it was', 'Checkpointing', 'Completed', false, false],
    [
      'a report not applied (shown Pending)',
      'Pending',
      { clusterName: 'member1', status: { phase: 'Completed' } },
      true,
      false,
    ],
  ];
  for (const [what, now, r, isReady, want] of one)
    it(`${what}: ${want}`, () => {
      const rep =
        typeof r === 'object' ? r : report('member1', r ? { phase: r as AggregatePhase } : undefined);
      assert.equal(reportUnseen(shown(['member1', now]), [rep], [{ name: 'member1', ready: isReady }]), want);
    });
  const cases: [string, CheckpointBackupStatus | undefined, MemberReport[], boolean][] = [
    [
      'one of two clusters behind',
      shown(['member1', 'Completed'], ['member2', 'Checkpointing']),
      [report('member1', { phase: 'Completed' }), report('member2', { phase: 'Completed' })],
      true,
    ],
    [
      'a cluster the status does not list',
      shown(['member1', 'Pending']),
      [report('member2', { phase: 'Completed' })],
      false,
    ],
    ['no status at all', undefined, [report('member1', { phase: 'Completed' })], false],
    ['no reports', shown(['member1', 'Pending']), [], false],
  ];
  for (const [what, status, reports, want] of cases)
    it(`${what}: ${want}`, () => assert.equal(reportUnseen(status, reports, ready), want));

  it('a status the aggregate has just made is never behind its reports, whatever they say', () => {
    const phases = [
      undefined,
      'Pending',
      'Checkpointing',
      'ImagePushing',
      'Completed',
      'Failed',
      'Verifying',
    ];
    for (const phase of phases)
      for (const applied of [true, false])
        for (const isReady of [true, false]) {
          const reports: MemberReport[] = [
            {
              clusterName: 'member1',
              applied,
              ...(phase ? { status: { phase } as CheckpointBackupStatus } : {}),
            },
          ];
          const clusters = [{ name: 'member1', ready: isReady }];
          const s = aggregateStatus({ placed: ['member1'], reports, clusters, generation: 1 });
          assert.equal(
            reportUnseen(s, reports, clusters),
            false,
            `${phase} applied=${applied} ready=${isReady}`,
          );
        }
  });
});

describe('worthAnEvent', () => {
  const cases: [string | undefined, string | undefined, boolean][] = [
    [undefined, 'Pending', false],
    ['Pending', 'Checkpointing', false],
    ['Checkpointing', 'ImagePushing', false],
    ['ImagePushing', 'Completed', true],
    ['Completed', 'Completed', false],
    ['Completed', 'Unknown', true],
    ['Unknown', 'Failed', true],
    ['Failed', 'CompletedWithError', true],
    ['Completed', undefined, false],
  ];
  for (const [before, after, want] of cases)
    it(`${before} -> ${after}: ${want}`, () => assert.equal(worthAnEvent(before, after), want));
});

describe('unplaceable: the workload lost its binding', () => {
  const images = [
    { containerName: 'app', imageName: 'reg/x:r1', digest: 'sha256:1', buildTime: 't', pushed: true },
  ];
  const pod = { name: 'web-1', namespace: 'shop', containers: [{ name: 'app', image: 'app:1' }] };
  const message = 'cannot tell which cluster runs the pod: Deployment/web is not propagated by Karmada; ...';
  const completed: CheckpointBackupStatus = {
    phase: 'Completed',
    message: 'Completed in member1',
    observedGeneration: 1,
    placement: { clusters: ['member1'], by: 'workload' },
    lastCheckpointTime: '2026-11-27T09:00:00Z',
    clustersReady: '1/1',
    clusters: [
      {
        name: 'member1',
        phase: 'Completed',
        applied: true,
        lastCheckpointTime: '2026-11-27T09:00:00Z',
        builtImages: images,
        checkpointedPod: pod,
        node: 'm1-a',
      },
    ],
  };
  const memberDone = report('member1', {
    phase: 'Completed',
    lastCheckpointTime: '2026-11-27T09:00:00Z',
    run: { id: 'r1', startedAt: 't', generation: 1, node: 'm1-a', containers: ['app'] },
    builtImages: images,
    checkpointedPod: pod,
  });
  const base = { message, clusters: ready, generation: 1, now };

  it('with nothing in flight: withdraws, keeps status.clusters (builtImages, checkpointedPod) for restores', () => {
    const d = unplaceable({ ...base, previous: completed, reports: [memberDone] });
    assert.equal(d.withdraw, true);
    assert.equal(d.status.phase, 'Failed');
    assert.equal(d.status.message, message);
    assert.equal(d.status.placement, undefined, 'placed nowhere: the registry secret follows');
    assert.equal(d.status.clusters?.length, 1);
    assert.deepEqual(d.status.clusters?.[0]?.builtImages, images);
    assert.deepEqual(d.status.clusters?.[0]?.checkpointedPod, pod);
    assert.equal(d.status.clusters?.[0]?.applied, false);
    assert.equal(d.status.lastCheckpointTime, '2026-11-27T09:00:00Z');
    const propagated = d.status.conditions?.find((c) => c.type === 'Propagated');
    assert.deepEqual([propagated?.status, propagated?.reason], ['False', 'Unplaceable']);
  });

  it('keeps status.lastFailover, the record a failover restores from, whether it withdraws or waits', () => {
    const lastFailover = {
      time: 't',
      decidedAt: 't',
      fromClusters: ['member1'],
      toClusters: ['member2'],
      replicas: [],
      restored: 0,
      startedFresh: 0,
      message: 'm',
    };
    const previous = { ...completed, lastFailover };
    assert.deepEqual(
      unplaceable({ ...base, previous, reports: [memberDone] }).status.lastFailover,
      lastFailover,
    );
    const running = report('member1', { ...memberDone.status, phase: 'Checkpointing' });
    const waiting = unplaceable({ ...base, previous, reports: [running] });
    assert.equal(waiting.withdraw, false);
    assert.deepEqual(waiting.status.lastFailover, lastFailover);
  });

  it('keeps the record once the binding is gone too (a pass after the withdrawal, or after a crash)', () => {
    const first = unplaceable({ ...base, previous: completed, reports: [memberDone] }).status;
    const again = unplaceable({ ...base, previous: first, reports: [] });
    assert.deepEqual(again.status, first, 'nothing changes: no write');
    // crashed after withdrawing but before writing: status still has the placement, the binding is gone
    const crashed = unplaceable({ ...base, previous: completed, reports: [] });
    assert.deepEqual(crashed.status.clusters?.[0]?.builtImages, images);
    assert.deepEqual(crashed.status.clusters?.[0]?.checkpointedPod, pod);
  });

  it('with a run in flight: withdraws nothing and keeps placement, so the run (and its secret) can finish', () => {
    const pushing = report('member1', {
      phase: 'ImagePushing',
      run: { id: 'r2', startedAt: 't', generation: 1, node: 'm1-a', containers: ['app'] },
      builtImages: images,
      checkpointedPod: pod,
    });
    const d = unplaceable({ ...base, previous: completed, reports: [pushing] });
    assert.equal(d.withdraw, false);
    assert.deepEqual(d.status.placement, completed.placement);
    assert.equal(d.status.phase, 'ImagePushing');
    assert.match(d.status.message ?? '', /member1/);
    assert.match(d.status.message ?? '', /is not propagated by Karmada/);
    assert.deepEqual(d.status.clusters?.[0]?.builtImages, images);
    const propagated = d.status.conditions?.find((c) => c.type === 'Propagated');
    assert.deepEqual([propagated?.status, propagated?.reason], ['False', 'Unplaceable']);
  });

  it('counts a run in a cluster that is not Ready as in flight (its last report), and withdraws nothing', () => {
    const checkpointing = report('member1', {
      phase: 'Checkpointing',
      run: { id: 'r2', startedAt: 't', generation: 1, node: 'm1-a', containers: ['app'] },
    });
    const d = unplaceable({
      ...base,
      previous: completed,
      reports: [checkpointing],
      clusters: [{ name: 'member1', ready: false, reason: 'unreachable' }],
    });
    assert.equal(d.withdraw, false);
  });

  it('a member still Pending (no run yet) is not work in flight', () => {
    const d = unplaceable({ ...base, previous: completed, reports: [report('member1')] });
    assert.equal(d.withdraw, true);
    assert.deepEqual(d.status.clusters?.[0]?.builtImages, images, 'the last known images stay');
  });

  it('placed again after a withdrawal, a member copy that has not run yet keeps the last record', () => {
    const withdrawn = unplaceable({ ...base, previous: completed, reports: [memberDone] }).status;
    const again = aggregateStatus({
      placed: ['member1'],
      reports: [report('member1', { phase: undefined })],
      clusters: ready,
      previous: withdrawn,
      generation: 1,
      now,
    });
    assert.equal(again.clusters?.[0]?.phase, 'Pending');
    assert.deepEqual(again.clusters?.[0]?.builtImages, images);
    assert.deepEqual(again.clusters?.[0]?.checkpointedPod, pod);
    assert.equal(again.lastCheckpointTime, '2026-11-27T09:00:00Z');
    // once the copy has run, its own record is the one (retention may have deleted images since)
    const ran = aggregateStatus({
      placed: ['member1'],
      reports: [
        report('member1', {
          phase: 'Completed',
          run: { id: 'r3', startedAt: 't', generation: 1, node: 'm1-b', containers: ['app'] },
        }),
      ],
      clusters: ready,
      previous: again,
      generation: 1,
      now,
    });
    assert.equal(ran.clusters?.[0]?.builtImages, undefined);
    assert.equal(ran.clusters?.[0]?.node, 'm1-b');
  });

  it('an object never placed is Failed with the message and no clusters', () => {
    const d = unplaceable({ ...base, previous: {}, reports: [] });
    assert.equal(d.withdraw, true);
    assert.equal(d.status.phase, 'Failed');
    assert.deepEqual(d.status.clusters ?? [], []);
  });
});
