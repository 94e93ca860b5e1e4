import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CheckpointBackup, CheckpointBackupStatus } from '@stateful-migration/api';
import {
  STALE_RUN_MS,
  answersForOrphans,
  anotherNodesLiveRun,
  comeBackAfterFailure,
  concernsNode,
  failedStatus,
  finishedRun,
  plan,
  retryDelayMs,
  staleNodeFinalizers,
  type PlanInput,
  type PodView,
} from './plan.js';

const now = new Date('2026-11-27T10:00:30Z');

function backup(
  spec: Partial<CheckpointBackup['spec']> = {},
  status?: CheckpointBackupStatus,
  generation = 1,
): CheckpointBackup {
  return {
    apiVersion: 'migration.dcnlab.com/v1',
    kind: 'CheckpointBackup',
    metadata: { name: 'b', namespace: 'ns', generation },
    spec: {
      schedule: 'immediately',
      podRef: { name: 'p' },
      resourceRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'd' },
      ...spec,
    },
    ...(status ? { status } : {}),
  };
}

const pod = (over: Partial<PodView> = {}): PodView => ({
  name: 'p',
  namespace: 'ns',
  nodeName: 'n1',
  containers: [
    { name: 'app', image: 'app:1' },
    { name: 'side', image: 'side:1' },
  ],
  deleting: false,
  ...over,
});

const input = (over: Partial<PlanInput>): PlanInput => ({
  backup: backup(),
  node: 'n1',
  pod: pod(),
  reportsOrphans: false,
  now,
  archiveExists: () => true,
  maxAttempts: 3,
  // The registry of these tests is the platform's: the default secret may go there.
  defaultSecretRegistries: ['r.example'],
  ...over,
});

const run = (over: Partial<NonNullable<CheckpointBackupStatus['run']>> = {}) => ({
  id: 'r1',
  startedAt: '2026-11-27T10:00:00Z',
  generation: 1,
  node: 'n1',
  containers: ['app', 'side'],
  ...over,
});

const file = (c: string) => ({
  containerName: c,
  filePath: `/ck/${c}.tar`,
  checkpointTime: '2026-11-27T10:00:01Z',
});
const image = (c: string, pushed: boolean, id = 'r1') => ({
  containerName: c,
  imageName: `localhost/checkpoint-p-${c}:${id}`,
  buildTime: '2026-11-27T10:00:02Z',
  pushed,
});
// The platform's registry, under the object's namespace: where the default secret may push.
const registry = { url: 'r.example', repository: 'ns/ck' };

describe('plan: which node acts', () => {
  it('ignores a pod on another node', () =>
    assert.deepEqual(plan(input({ pod: pod({ nodeName: 'n2' }) })), { kind: 'ignore' }));
  it('ignores a missing pod unless it answers for orphans', () => {
    assert.deepEqual(plan(input({ pod: undefined })), { kind: 'ignore' });
    const a = plan(input({ pod: undefined, reportsOrphans: true }));
    assert.equal(a.kind, 'fail');
    assert.match(
      (a as { message: string }).message,
      /^pod ns\/p does not exist in this cluster: check spec\.podRef$/,
    );
  });
  it('finishes its own run after the pod is gone when the archives allow', () => {
    const b = backup({}, { phase: 'Checkpointed', run: run(), checkpointFiles: [file('app'), file('side')] });
    assert.equal(plan(input({ backup: b, pod: undefined })).kind, 'build');
  });
  it('fails its own run when the pod is gone and an archive is missing', () => {
    const b = backup({}, { phase: 'Checkpointing', run: run(), checkpointFiles: [file('app')] });
    assert.equal(plan(input({ backup: b, pod: undefined })).kind, 'fail');
  });
});

describe('plan: bad input', () => {
  const cases: [Partial<CheckpointBackup['spec']>, string, RegExp][] = [
    [{ schedule: '61 * * * *' }, 'InvalidSchedule', /minute/],
    [{ schedule: 'now' }, 'InvalidSchedule', /expected "immediately" or 5 cron fields/],
    [{ schedule: '0 2 * * *', timeZone: 'Mars/Base' }, 'InvalidSchedule', /not an IANA time zone/],
    [
      { containers: [{ name: 'app' }, { name: 'db' }] },
      'ContainerNotFound',
      /has no container db \(it has: app, side\)/,
    ],
    [
      { encryption: { publicKeysRef: { kind: 'ConfigMap', name: 'keys' } } },
      'EncryptionNeedsRegistry',
      /spec\.encryption needs spec\.registry: only images pushed to a registry are encrypted/,
    ],
  ];
  for (const [spec, reason, message] of cases) {
    it(`${JSON.stringify(spec)} fails with ${reason}`, () => {
      const a = plan(input({ backup: backup(spec) }));
      assert.equal(a.kind, 'fail');
      assert.equal((a as { reason: string }).reason, reason);
      assert.match((a as { message: string }).message, message);
      assert.equal((a as { retry: boolean }).retry, false);
    });
  }
});

describe('plan: spec.encryption', () => {
  const encryption = { publicKeysRef: { kind: 'Secret' as const, name: 'keys' } };
  it('with a registry, a run starts as any other (the keys are read before the checkpoint)', () =>
    assert.deepEqual(plan(input({ backup: backup({ encryption, registry }) })), {
      kind: 'start',
      containers: ['app', 'side'],
    }));
  it('an encrypted image built without a digest is pushed, then the run finishes', () => {
    const building = {
      phase: 'ImageBuilt' as const,
      run: run({ containers: ['app'] }),
      checkpointFiles: [file('app')],
    };
    const built = { ...image('app', false), imageName: 'r.example/team/ck/checkpoint-p-app:r1' };
    assert.deepEqual(
      plan(input({ backup: backup({ encryption, registry }, { ...building, builtImages: [built] }) })),
      {
        kind: 'push',
        images: [built],
      },
    );
    const pushed = { ...built, pushed: true, digest: 'sha256:1', encryptedFor: ['sha256:k'] };
    assert.deepEqual(
      plan(input({ backup: backup({ encryption, registry }, { ...building, builtImages: [pushed] }) })),
      { kind: 'finish' },
    );
  });
  it('a run in progress whose registry was removed meets the refusal, not a push in clear to nowhere', () => {
    const b = backup({ encryption }, { phase: 'ImageBuilt', run: run(), checkpointFiles: [file('app')] });
    const a = plan(input({ backup: b }));
    assert.equal(a.kind, 'fail');
    assert.equal((a as { reason: string }).reason, 'EncryptionNeedsRegistry');
  });
});

describe('plan: "immediately" runs once per generation', () => {
  it('starts a new object with every container', () =>
    assert.deepEqual(plan(input({})), { kind: 'start', containers: ['app', 'side'] }));
  it('starts only the listed containers', () =>
    assert.deepEqual(plan(input({ backup: backup({ containers: [{ name: 'side' }] }) })), {
      kind: 'start',
      containers: ['side'],
    }));
  it('waits once completed at this generation', () =>
    assert.deepEqual(
      plan(input({ backup: backup({}, { phase: 'Completed', observedGeneration: 1, run: run() }) })),
      { kind: 'wait' },
    ));
  it('runs again after a spec edit', () =>
    assert.equal(
      plan(input({ backup: backup({}, { phase: 'Completed', observedGeneration: 1, run: run() }, 2) })).kind,
      'start',
    ));
  it('retries a failed run after its backoff, up to the limit', () => {
    const failed = (failures: number) =>
      backup(
        {},
        { phase: 'Failed', observedGeneration: 1, run: run({ failures, startedAt: '2026-11-27T10:00:25Z' }) },
      );
    assert.deepEqual(plan(input({ backup: failed(1) })), {
      kind: 'wait',
      next: new Date('2026-11-27T10:00:35Z'),
    });
    assert.equal(plan(input({ backup: failed(1), now: new Date('2026-11-27T10:00:36Z') })).kind, 'start');
    assert.deepEqual(plan(input({ backup: failed(3), now: new Date('2026-11-27T11:00:00Z') })), {
      kind: 'wait',
    });
  });
  it('never retries a failed stopPod run: whoever asked decides, and a retry after they gave up would stop the pod', () => {
    // A Migrate reads its replica's Failed as final ("nothing was restored", restore/fresh-checkpoint.ts); a retry
    // that then checkpointed and deleted the source pod would undo the rollback it did (seen in CI).
    const failed = backup(
      { stopPod: true },
      {
        phase: 'Failed',
        observedGeneration: 1,
        run: run({ failures: 1, startedAt: '2026-11-27T10:00:00Z' }),
      },
    );
    assert.deepEqual(plan(input({ backup: failed, now: new Date('2026-11-27T11:00:00Z') })), {
      kind: 'wait',
    });
  });
  it('does not run again after stopPod completed', () => {
    const b = backup({ stopPod: true }, { phase: 'CompletedPodDeleted', observedGeneration: 1, run: run() });
    assert.deepEqual(plan(input({ backup: b })), { kind: 'wait' });
  });
  it('does not call a deleted pod missing once its stopPod run completed', () => {
    const b = backup({ stopPod: true }, { phase: 'CompletedPodDeleted', observedGeneration: 1, run: run() });
    assert.deepEqual(plan(input({ backup: b, pod: undefined, reportsOrphans: true })), { kind: 'wait' });
  });
  it("leaves another node's run in progress alone, even once its pod is gone, until the run is stale", () => {
    const b = backup(
      { stopPod: true },
      { phase: 'ImageBuilt', observedGeneration: 1, run: run({ node: 'n2' }) },
    );
    assert.deepEqual(plan(input({ backup: b, pod: undefined, reportsOrphans: true })), { kind: 'ignore' });
    const later = new Date(Date.parse('2026-11-27T10:00:00Z') + STALE_RUN_MS + 1000);
    assert.equal(plan(input({ backup: b, pod: undefined, reportsOrphans: true, now: later })).kind, 'fail');
  });
  it('waits while the pod is being deleted', () =>
    assert.deepEqual(plan(input({ pod: pod({ deleting: true }) })), { kind: 'wait' }));
  it('a new object whose pod did not exist yet starts once the pod is on this node (Karmada may apply it first)', () => {
    // The orphan-reporting agent records PodNotFound: nothing was attempted, so no attempt is counted.
    const missing = plan(input({ node: 'n2', pod: undefined, reportsOrphans: true })) as {
      kind: 'fail';
      reason: string;
      message: string;
      retry: boolean;
    };
    assert.equal(missing.reason, 'PodNotFound');
    const failed = failedStatus({}, { ...missing, generation: 1 })!;
    assert.equal(failed.run, undefined);
    // The pod is created on n1 (its StatefulSet arrived after the object): n1's agent starts the run.
    assert.deepEqual(plan(input({ backup: backup({}, failed) })), {
      kind: 'start',
      containers: ['app', 'side'],
    });
    // The same after an edit: the recorded run is the earlier generation's, so nothing of this one was attempted.
    const edited = failedStatus(
      { phase: 'Completed', observedGeneration: 1, run: run() },
      { ...missing, generation: 2 },
    )!;
    assert.equal(plan(input({ backup: backup({}, edited, 2) })).kind, 'start');
    // The orphan reporter, still not seeing the pod, leaves the recorded failure as it is.
    assert.equal(failedStatus(failed, { ...missing, generation: 1 }), undefined);
  });
  it('a stopPod object Failed PodNotFound before any attempt stays Failed when a pod of that name appears', () => {
    // A Migrate's one-off checkpoint (restore/fresh-checkpoint.ts) takes PodNotFound as final ("nothing was
    // restored"): a pod of that name that runs later, a user's recreated one, must not be checkpointed and deleted.
    const missing = plan(
      input({ backup: backup({ stopPod: true }), node: 'n2', pod: undefined, reportsOrphans: true }),
    ) as { reason: string; message: string; retry: boolean };
    const failed = failedStatus({}, { ...missing, generation: 1 })!;
    assert.deepEqual(plan(input({ backup: backup({ stopPod: true }, failed) })), { kind: 'wait' });
  });
});

describe('plan: cron checkpoints on every tick', () => {
  const cron = (status?: CheckpointBackupStatus, generation = 1) =>
    backup({ schedule: '* * * * *' }, status, generation);
  it('a new schedule records its next tick and waits', () =>
    assert.deepEqual(plan(input({ backup: cron() })), {
      kind: 'wait',
      next: new Date('2026-11-27T10:01:00Z'),
    }));
  it('a due tick starts a run and names the tick after', () =>
    assert.deepEqual(
      plan(input({ backup: cron({ observedGeneration: 1, nextScheduledTime: '2026-11-27T10:00:00Z' }) })),
      {
        kind: 'start',
        containers: ['app', 'side'],
        tick: new Date('2026-11-27T10:00:00Z'),
        next: new Date('2026-11-27T10:01:00Z'),
      },
    ));
  it('after a Completed run the next tick runs again (the old operator fired once)', () =>
    assert.equal(
      plan(
        input({
          backup: cron({
            phase: 'Completed',
            observedGeneration: 1,
            nextScheduledTime: '2026-11-27T10:00:00Z',
            run: run(),
          }),
        }),
      ).kind,
      'start',
    ));
  it('a tick missed while the agent was down runs once at start-up', () => {
    const a = plan(
      input({
        backup: cron({
          phase: 'Completed',
          observedGeneration: 1,
          nextScheduledTime: '2026-11-27T09:00:00Z',
        }),
      }),
    );
    assert.deepEqual(a, {
      kind: 'start',
      containers: ['app', 'side'],
      tick: new Date('2026-11-27T09:00:00Z'),
      next: new Date('2026-11-27T10:01:00Z'),
    });
  });
  it('a future tick waits for it', () =>
    assert.deepEqual(
      plan(input({ backup: cron({ observedGeneration: 1, nextScheduledTime: '2026-11-27T10:05:00Z' }) })),
      {
        kind: 'wait',
        next: new Date('2026-11-27T10:05:00Z'),
      },
    ));
  it('honours spec.timeZone', () =>
    assert.deepEqual(plan(input({ backup: backup({ schedule: '0 12 * * *', timeZone: 'Asia/Tokyo' }) })), {
      kind: 'wait',
      next: new Date('2026-11-28T03:00:00Z'),
    }));
});

describe('plan: resuming from status after a crash', () => {
  const mid = (status: CheckpointBackupStatus) =>
    backup({}, { run: run(), observedGeneration: 1, ...status });
  it('checkpoints containers without an archive', () =>
    assert.deepEqual(
      plan(input({ backup: mid({ phase: 'Checkpointing', checkpointFiles: [file('app')] }) })),
      {
        kind: 'checkpoint',
        containers: ['side'],
      },
    ));
  it('does not checkpoint again when the recorded archive still exists', () =>
    assert.equal(
      plan(input({ backup: mid({ phase: 'Checkpointing', checkpointFiles: [file('app'), file('side')] }) }))
        .kind,
      'build',
    ));
  it('checkpoints again when the recorded archive is missing', () =>
    assert.deepEqual(
      plan(
        input({
          backup: mid({ phase: 'ImageBuilding', checkpointFiles: [file('app'), file('side')] }),
          archiveExists: (p) => !p.includes('side'),
        }),
      ),
      { kind: 'checkpoint', containers: ['side'] },
    ));
  it('does not rebuild an image already built, even when its archive is gone', () =>
    assert.deepEqual(
      plan(
        input({
          backup: mid({
            phase: 'ImageBuilding',
            checkpointFiles: [file('app'), file('side')],
            builtImages: [image('app', false)],
          }),
          archiveExists: (p) => !p.includes('app'),
        }),
      ),
      { kind: 'build', files: [file('side')] },
    ));
  it('ignores images of earlier runs', () =>
    assert.equal(
      plan(
        input({
          backup: mid({
            phase: 'ImageBuilding',
            checkpointFiles: [file('app'), file('side')],
            builtImages: [image('app', true, 'r0'), image('side', true, 'r0')],
          }),
        }),
      ).kind,
      'build',
    ));
  it('pushes built images not yet pushed, when a registry is set', () => {
    const b = backup(
      { registry },
      {
        run: run(),
        observedGeneration: 1,
        phase: 'ImagePushing',
        checkpointFiles: [file('app'), file('side')],
        builtImages: [image('app', true), image('side', false)],
      },
    );
    assert.deepEqual(plan(input({ backup: b })), { kind: 'push', images: [image('side', false)] });
  });
  it('finishes when every image is built (and pushed)', () => {
    assert.equal(
      plan(
        input({
          backup: mid({ phase: 'ImageBuilt', builtImages: [image('app', false), image('side', false)] }),
        }),
      ).kind,
      'finish',
    );
    const b = backup(
      { registry },
      {
        run: run(),
        observedGeneration: 1,
        phase: 'ImagePushed',
        builtImages: [image('app', true), image('side', true)],
      },
    );
    assert.equal(plan(input({ backup: b })).kind, 'finish');
  });
});

describe('plan: archive paths in status are judged before any is used', () => {
  const mid = (status: CheckpointBackupStatus, spec: Partial<CheckpointBackup['spec']> = {}) =>
    backup(spec, { run: run(), observedGeneration: 1, ...status });
  const outside = { containerName: 'side', filePath: '/etc/shadow', checkpointTime: '2026-11-27T10:00:01Z' };
  const refusedArchive = (p: string) =>
    p.startsWith('/ck/') ? undefined : 'is outside the checkpoint directory /ck';
  const refusal = {
    kind: 'fail',
    reason: 'ArchiveOutsideCheckpointDir',
    message:
      'status.checkpointFiles names archive "/etc/shadow" for container side, which is outside the checkpoint ' +
      'directory /ck: refused: not read, built, pushed or deleted; the next run takes a new checkpoint',
    retry: true,
  };
  for (const phase of [
    'Checkpointing',
    'Checkpointed',
    'ImageBuilding',
    'ImageBuilt',
    'ImagePushing',
  ] as const)
    it(`a refused path fails the run in ${phase}, before build, push or finish`, () =>
      assert.deepEqual(
        plan(
          input({
            backup: mid({ phase, checkpointFiles: [file('app'), outside] }, { registry }),
            refusedArchive,
          }),
        ),
        refusal,
      ));
  it('even when its image is built already (finish would delete it)', () =>
    assert.deepEqual(
      plan(
        input({
          backup: mid({
            phase: 'ImageBuilt',
            checkpointFiles: [file('app'), outside],
            builtImages: [image('app', false), image('side', false)],
          }),
          refusedArchive,
        }),
      ),
      refusal,
    ));
  it("a run of another node is that node's to judge", () =>
    assert.deepEqual(
      plan(
        input({
          backup: backup(
            {},
            {
              run: run({ node: 'n2' }),
              observedGeneration: 1,
              phase: 'Checkpointed',
              checkpointFiles: [outside],
            },
          ),
          refusedArchive,
        }),
      ),
      { kind: 'ignore' },
    ));
  it('files of containers not in the run are not judged (nor used)', () =>
    assert.equal(
      plan(
        input({
          backup: mid({
            phase: 'Checkpointed',
            checkpointFiles: [file('app'), file('side'), { ...outside, containerName: 'old' }],
          }),
          refusedArchive,
        }),
      ).kind,
      'build',
    ));
  it('confined paths go on as before; without the check every path passes', () => {
    const b = mid({ phase: 'Checkpointed', checkpointFiles: [file('app'), file('side')] });
    assert.equal(plan(input({ backup: b, refusedArchive })).kind, 'build');
    assert.equal(
      plan(input({ backup: mid({ phase: 'Checkpointed', checkpointFiles: [file('app'), outside] }) })).kind,
      'build',
    );
  });
  it('a finished run is not judged: a new run starts with no recorded archives', () =>
    assert.equal(
      plan(
        input({
          backup: backup(
            {},
            { run: run({ failures: 1 }), observedGeneration: 0, phase: 'Failed', checkpointFiles: [outside] },
          ),
          refusedArchive,
        }),
      ).kind,
      'start',
    ));
});

it('retryDelayMs doubles from 10 s and caps at 5 min', () => {
  assert.deepEqual([1, 2, 3, 10].map(retryDelayMs), [10_000, 20_000, 40_000, 300_000]);
});

describe('plan: a CheckpointBackup acts only in its own namespace (issue 11)', () => {
  const rule = 'a CheckpointBackup acts only in its own namespace';
  const refused: [string, Partial<CheckpointBackup['spec']>, string][] = [
    [
      'a podRef in another namespace (even one whose pod runs on this node)',
      { podRef: { name: 'p', namespace: 'victim' }, stopPod: true },
      `spec.podRef.namespace "victim" is not this object's namespace "ns": ${rule}`,
    ],
    [
      'a resourceRef in another namespace',
      { resourceRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'd', namespace: 'victim' } },
      `spec.resourceRef.namespace "victim" is not this object's namespace "ns": ${rule}`,
    ],
    [
      "a secretRef in another namespace (the platform's)",
      {
        registry: {
          ...registry,
          secretRef: { name: 'registry-credentials', namespace: 'stateful-migration' },
        },
      },
      `spec.registry.secretRef.namespace "stateful-migration" is not this object's namespace "ns": ${rule}`,
    ],
  ];
  for (const [name, spec, message] of refused) {
    it(`refuses ${name}: Failed, naming the rule, by the one agent that answers for the cluster`, () => {
      const pod = { ...input({}).pod!, namespace: 'victim' };
      assert.deepEqual(plan(input({ backup: backup(spec), pod, reportsOrphans: true })), {
        kind: 'fail',
        reason: 'CrossNamespaceReference',
        message,
        retry: false,
      });
    });
    it(`leaves ${name} to that agent on every other node, even the pod's own`, () =>
      assert.deepEqual(plan(input({ backup: backup(spec), reportsOrphans: false })), { kind: 'ignore' }));
  }
  it("stops a run in progress on its node once the spec names another namespace; another node's agent leaves it", () => {
    const b = backup(
      { podRef: { name: 'p', namespace: 'victim' } },
      { phase: 'Checkpointing', run: run(), observedGeneration: 1 },
    );
    assert.equal(plan(input({ backup: b, reportsOrphans: false })).kind, 'fail');
    assert.deepEqual(plan(input({ backup: b, node: 'n2', reportsOrphans: true })), { kind: 'ignore' });
  });
  it('writes the refusal once: a status that already says it for this generation is left alone', () => {
    const spec = { podRef: { name: 'p', namespace: 'victim' } };
    const first = plan(input({ backup: backup(spec), reportsOrphans: true })) as { message: string };
    const b = backup(spec, { phase: 'Failed', message: first.message, observedGeneration: 1 });
    assert.deepEqual(plan(input({ backup: b, reportsOrphans: true })), { kind: 'wait' });
  });
  it("keeps working for the seeds' manifests: podRef.namespace equal to the object's, or omitted", () => {
    for (const podRef of [{ name: 'p', namespace: 'ns' }, { name: 'p' }, { name: 'p', namespace: '' }])
      assert.equal(plan(input({ backup: backup({ podRef }) })).kind, 'start');
  });
});

describe("plan: the platform's default registry secret goes only to the platform's registries (issue 11)", () => {
  it('refuses a registry URL the tenant wrote, without secretRef: Failed, saying to name a secret of its own', () => {
    const b = backup({ registry: { url: 'capture.example:8443', repository: 'x' } });
    assert.deepEqual(plan(input({ backup: b, reportsOrphans: true })), {
      kind: 'fail',
      reason: 'DefaultSecretNotForRegistry',
      message:
        'spec.registry.url "capture.example:8443" is not a registry the platform\'s default secret ' +
        'stateful-migration/registry-credentials is for (it is for: r.example); name a secret in this namespace in ' +
        'spec.registry.secretRef',
      retry: false,
    });
    assert.deepEqual(plan(input({ backup: b, reportsOrphans: false })), { kind: 'ignore' });
  });
  it('refuses every registry without secretRef when the platform names none', () =>
    assert.equal(
      (
        plan(input({ backup: backup({ registry }), reportsOrphans: true, defaultSecretRegistries: [] })) as {
          reason?: string;
        }
      ).reason,
      'DefaultSecretNotForRegistry',
    ));
  it("runs a backup to the platform's registry without secretRef, and any registry with the object's own secret", () => {
    assert.equal(plan(input({ backup: backup({ registry }) })).kind, 'start');
    const elsewhere = { ...registry, repository: 'other-tenant/ck' };
    assert.equal(
      (plan(input({ backup: backup({ registry: elsewhere }), reportsOrphans: true })) as { reason?: string })
        .reason,
      'DefaultSecretNotForRepository',
      "never into another namespace's repository",
    );
    const own = { url: 'tenant.example', repository: 'x', secretRef: { name: 'mine' } };
    assert.equal(
      plan(input({ backup: backup({ registry: own }), defaultSecretRegistries: [] })).kind,
      'start',
    );
  });
});

describe('failedStatus: a failure is recorded once, then the status settles', () => {
  /** What the agent does on every pass: plan, and for a fail, the status write (if any). Returns the writes. */
  const passes = (start: CheckpointBackup, over: Partial<PlanInput>, n: number) => {
    let b = start;
    const writes: CheckpointBackupStatus[] = [];
    for (let i = 0; i < n; i++) {
      const a = plan(input({ ...over, backup: b }));
      if (a.kind !== 'fail') break;
      const next = failedStatus(b.status ?? {}, { ...a, generation: b.metadata.generation ?? 0 });
      if (!next) continue;
      writes.push(next);
      // every write wakes the informer: another pass follows at once
      b = { ...b, status: next };
    }
    return writes;
  };

  it('a cron backup that ran, whose pod is then deleted, writes Failed once and then nothing', () => {
    const ran = backup(
      { schedule: '*/5 * * * *' },
      {
        phase: 'Completed',
        observedGeneration: 1,
        run: run({ failures: 0 }),
        lastCheckpointTime: '2026-11-27T10:00:00Z',
        nextScheduledTime: '2026-11-27T10:05:00Z',
      },
    );
    const writes = passes(ran, { pod: undefined, reportsOrphans: true }, 10);
    assert.equal(writes.length, 1, `wrote ${writes.length} times`);
    assert.equal(writes[0]?.phase, 'Failed');
    assert.match(writes[0]?.message ?? '', /pod ns\/p does not exist/);
    assert.equal(writes[0]?.run?.failures, 0, 'no attempt was made: nothing to count');
    assert.equal(writes[0]?.nextScheduledTime, '2026-11-27T10:05:00Z');
  });

  it('an "immediately" backup that completed and lost its pod settles too', () => {
    const done = backup(
      { schedule: 'immediately' },
      { phase: 'Failed', message: 'x', observedGeneration: 1, run: run({ failures: 1 }) },
    );
    const writes = passes(done, { pod: undefined, reportsOrphans: true }, 10);
    assert.equal(writes.length, 1);
    assert.equal(writes[0]?.run?.failures, 1);
  });

  it('a failure that ends a run in progress counts one attempt, when a retry may succeed', () => {
    const s: CheckpointBackupStatus = {
      phase: 'Checkpointing',
      observedGeneration: 1,
      run: run({ failures: 1 }),
    };
    const f = { reason: 'CheckpointFailed', message: 'kubelet: 500', generation: 1 };
    assert.equal(failedStatus(s, { ...f, retry: true })?.run?.failures, 2);
    assert.equal(failedStatus(s, { ...f, retry: false })?.run?.failures, 1);
    // a run of an older generation is not this generation's attempt
    assert.equal(
      failedStatus({ ...s, run: run({ generation: 0, failures: 1 }) }, { ...f, retry: true })?.run?.failures,
      1,
    );
  });

  it('a retried run that fails again with the same message is recorded again (a new attempt)', () => {
    const retried: CheckpointBackupStatus = {
      phase: 'Checkpointing',
      message: 'checkpointing',
      observedGeneration: 1,
      run: run({ failures: 1 }),
    };
    const f = { reason: 'CheckpointFailed', message: 'kubelet: 500', retry: true, generation: 1 };
    const first = failedStatus(retried, f)!;
    assert.equal(first.run?.failures, 2);
    assert.equal(failedStatus(first, f), undefined, 'the same failure seen again is already recorded');
  });

  it('records a changed message, reason or spec generation', () => {
    const failed = failedStatus(
      { observedGeneration: 1 },
      { reason: 'A', message: 'a', retry: false, generation: 1 },
    )!;
    assert.equal(failed.conditions?.find((c) => c.type === 'Completed')?.reason, 'A');
    assert.equal(failedStatus(failed, { reason: 'A', message: 'a', retry: false, generation: 1 }), undefined);
    assert.equal(
      failedStatus(failed, { reason: 'A', message: 'b', retry: false, generation: 1 })?.message,
      'b',
    );
    assert.equal(
      failedStatus(failed, { reason: 'B', message: 'a', retry: false, generation: 1 })?.conditions?.find(
        (c) => c.type === 'Completed',
      )?.reason,
      'B',
    );
    assert.equal(
      failedStatus(failed, { reason: 'A', message: 'a', retry: false, generation: 2 })?.observedGeneration,
      2,
    );
  });
});

it('comeBackAfterFailure: the next tick for cron (none once it passed), a backoff for "immediately"', () => {
  const base = { retry: true, failures: 1, maxAttempts: 3, now, nextScheduledTime: undefined };
  assert.equal(
    comeBackAfterFailure({ ...base, cron: true, nextScheduledTime: '2026-11-27T10:05:00Z' }),
    270_000,
  );
  assert.equal(
    comeBackAfterFailure({ ...base, cron: true, nextScheduledTime: '2026-11-27T10:00:00Z' }),
    undefined,
  );
  assert.equal(comeBackAfterFailure({ ...base, cron: true }), undefined);
  assert.equal(comeBackAfterFailure({ ...base, cron: false }), 10_000);
  assert.equal(comeBackAfterFailure({ ...base, cron: false, failures: 2 }), 20_000);
  // No attempt yet (the pod was missing): the pod's own node starts one when it comes; nothing polls.
  assert.equal(comeBackAfterFailure({ ...base, cron: false, failures: 0 }), undefined);
  assert.equal(comeBackAfterFailure({ ...base, cron: false, failures: 3 }), undefined);
  assert.equal(comeBackAfterFailure({ ...base, cron: false, retry: false }), undefined);
});

describe("anotherNodesLiveRun: a failure this agent saw never ends another node's live run", () => {
  const live = { phase: 'Checkpointing' as const, observedGeneration: 1, run: run({ node: 'n1' }) };
  it("another node's run in progress: yes, until it is stale", () => {
    assert.equal(anotherNodesLiveRun(live, 'n2', now), true);
    const later = new Date(Date.parse('2026-11-27T10:00:00Z') + STALE_RUN_MS + 1000);
    assert.equal(anotherNodesLiveRun(live, 'n2', later), false);
  });
  it('its own run, a finished run, or none: no', () => {
    assert.equal(anotherNodesLiveRun(live, 'n1', now), false);
    assert.equal(anotherNodesLiveRun({ ...live, phase: 'Completed' }, 'n2', now), false);
    assert.equal(anotherNodesLiveRun({ phase: 'Failed', observedGeneration: 1 }, 'n2', now), false);
    assert.equal(anotherNodesLiveRun({}, 'n2', now), false);
  });
});

describe('finishedRun: how a run ends, from what became of its pod', () => {
  const c = { containers: ['app', 'side'], pod: 'ns/p' };
  const cases: [Parameters<typeof finishedRun>[0]['deletion'], string, RegExp][] = [
    [undefined, 'Completed', /^checkpointed app, side$/],
    [{ kind: 'deleted' }, 'CompletedPodDeleted', /pod ns\/p deleted$/],
    [
      { kind: 'gone' },
      'CompletedPodDeleted',
      /pod ns\/p deleted \(right after its checkpoint, or by someone else before\)$/,
    ],
    [{ kind: 'replaced' }, 'CompletedPodDeleted', /a replacement\) was left running/],
    [
      { kind: 'unknownUid' },
      'CompletedWithError',
      /not deleted: the checkpointed pod's uid was not recorded/,
    ],
    [
      { kind: 'failed', message: 'HTTP 403: forbidden' },
      'CompletedWithError',
      /deleting the pod failed: HTTP 403/,
    ],
  ];
  for (const [deletion, phase, message] of cases)
    it(`${deletion?.kind ?? 'no stopPod'}: ${phase}`, () => {
      const r = finishedRun({ ...c, ...(deletion ? { deletion } : {}) });
      assert.equal(r.phase, phase);
      assert.match(r.message, message);
    });
});

describe('staleNodeFinalizers: a deleted Node must not keep an object Terminating', () => {
  const p = 'agent.migration.dcnlab.com/';
  it('names the agent finalizers of nodes that no longer exist', () =>
    assert.deepEqual(staleNodeFinalizers([`${p}n1`, `${p}gone`, `${p}n2`], p, ['n1', 'n2', 'n3']), [
      `${p}gone`,
    ]));
  it("leaves other controllers' finalizers alone", () =>
    assert.deepEqual(
      staleNodeFinalizers(['hub.migration.dcnlab.com/cleanup', 'kubernetes', `${p}n1`], p, ['n1']),
      [],
    ));
  it('every agent finalizer when no node exists', () =>
    assert.deepEqual(staleNodeFinalizers([`${p}a`, `${p}b`], p, []), [`${p}a`, `${p}b`]));
  it('none when every node exists', () => assert.deepEqual(staleNodeFinalizers([`${p}a`], p, ['a']), []));
});

describe('answersForOrphans: one agent per cluster answers for pods on no node', () => {
  const nodes = [
    { name: 'b', ready: true },
    { name: 'a', ready: false },
    { name: 'c', ready: true },
  ];
  it('the first Ready node by name', () => {
    assert.equal(answersForOrphans(nodes, 'b'), true);
    assert.equal(answersForOrphans(nodes, 'a'), false, 'not Ready');
    assert.equal(answersForOrphans(nodes, 'c'), false);
  });
  it('none when no node is Ready', () =>
    assert.equal(answersForOrphans([{ name: 'a', ready: false }], 'a'), false));
});

describe("concernsNode: another node's work never reaches an agent's queue", () => {
  const i = {
    node: 'n1',
    finalizer: 'agent.migration.dcnlab.com/n1',
    podHere: false,
    reportsOrphans: false,
    now,
  };
  const running = (node: string, startedAt = now.toISOString()): CheckpointBackupStatus => ({
    phase: 'Checkpointing',
    run: { id: 'r', node, containers: ['app'], startedAt, generation: 1 },
  });
  it('its own: the pod is here, its run, its finalizer', () => {
    assert.equal(concernsNode(backup(), { ...i, podHere: true }), true);
    assert.equal(concernsNode(backup({}, running('n1')), i), true);
    const b = backup();
    b.metadata.finalizers = ['agent.migration.dcnlab.com/n1'];
    assert.equal(concernsNode(b, i), true);
  });
  it("not its own: another node's pod or run, nothing of it here", () => {
    assert.equal(concernsNode(backup(), i), false);
    assert.equal(concernsNode(backup({}, running('n2')), i), false);
    const b = backup();
    b.metadata.finalizers = ['agent.migration.dcnlab.com/n2'];
    b.metadata.deletionTimestamp = now.toISOString();
    assert.equal(concernsNode(b, i), false);
  });
  it('the agent that answers for pods on no node: all but a live run of another node', () => {
    const o = { ...i, reportsOrphans: true };
    assert.equal(concernsNode(backup(), o), true, 'whose pod may be nowhere');
    assert.equal(concernsNode(backup({}, running('n2')), o), false, "another node's live run");
    const stale = new Date(now.getTime() - STALE_RUN_MS - 1000).toISOString();
    assert.equal(concernsNode(backup({}, running('n2', stale)), o), true, 'a run silent too long');
    const deleting = backup({}, running('n2'));
    deleting.metadata.deletionTimestamp = now.toISOString();
    assert.equal(concernsNode(deleting, o), true, "a removed node's finalizer to release");
  });
});
