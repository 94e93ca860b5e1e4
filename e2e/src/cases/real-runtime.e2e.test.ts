// suite: shares — own namespaces, workload and repository (checkpointing off: runtime-checkpointing-off)
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CheckpointRestore } from '@stateful-migration/api';
import { kubectl } from '../fed/kubectl.js';
import { fedDir, kubeconfigPath } from '../fed/paths.js';
import { exists, getBackup, registryInfo, registrySecretYaml, runningPod } from './agent-support.js';
import { kubectlWithPlugin } from './plugin-support.js';
import {
  checkpointEnd,
  counterCounts,
  counterLines,
  followCounter,
  markedCounterYaml,
  noCounterLeft,
  notFromCheckpoint,
  podState,
} from './restore-support.js';
import { eventually, unique } from './support.js';

/**
 * The process itself moves: a counter whose count lives only in memory (e2e/images/counter.c) is checkpointed by
 * runc and CRIU in member1 and restored in member2, where it goes on counting from where it was.
 */
const ns = unique('real');
const hub = (args: string[], input?: string) => kubectl('karmada', args, input);

/** The counts a container printed, read with kubectl logs as a user would. */
const counts = (cluster: string, pod: string) => counterCounts(cluster, ns, pod);

const lastCount = async (cluster: string, pod: string): Promise<number> =>
  (await counts(cluster, pod)).at(-1)?.n ?? 0;

const getRestore = async (name: string): Promise<CheckpointRestore> =>
  JSON.parse(await hub(['get', 'cpr', name, '-n', ns, '-o', 'json'])) as CheckpointRestore;

const waitRestore = (name: string, phases: string[]): Promise<CheckpointRestore> =>
  eventually(
    async () => {
      const r = await getRestore(name);
      return r.status?.phase && phases.includes(r.status.phase) ? r : undefined;
    },
    120_000,
    `${name} to reach ${phases.join('|')}`,
  );

const restoreYaml = (name: string, spec: string) => `apiVersion: migration.dcnlab.com/v1
kind: CheckpointRestore
metadata: {name: ${name}, namespace: ${ns}}
spec:
  backupRef: {name: counter}
${spec}`;

describe('real runtime: a counter held in memory survives a move to another cluster', () => {
  let source = '';
  let atBackup = 0;

  before(async () => {
    const user = registryInfo().users[0]!;
    await hub(['create', 'namespace', ns]);
    await hub(
      ['apply', '-f', '-'],
      `${registrySecretYaml(ns, 'push', user.username, user.password)}---
${markedCounterYaml(ns)}`,
    );
    source = await runningPod('member1', ns, 'counter');
    await eventually(
      async () => ((await lastCount('member1', source)) >= 3 ? true : undefined),
      30_000,
      'the source to count to 3',
    );
    atBackup = await lastCount('member1', source);
    await hub(
      ['apply', '-f', '-'],
      `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: counter, namespace: ${ns}}
spec:
  schedule: immediately
  podRef: {name: ${source}}
  resourceRef: {apiVersion: apps/v1, kind: Deployment, name: counter}
  registry: {url: "${registryInfo().url}", repository: real/${ns}, secretRef: {name: push}}
`,
    );
    await eventually(
      async () => {
        const m1 = (await getBackup('karmada', ns, 'counter')).status?.clusters?.find(
          (c) => c.name === 'member1',
        );
        if (m1?.phase === 'Failed') throw new Error(`backup failed: ${m1.message}`);
        return m1?.phase === 'Completed' && m1.checkpointedPod ? true : undefined;
      },
      120_000,
      'the backup to complete in member1 and show on the hub',
    );
  });
  after(async () => {
    await hub(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it('Restore: the copy in member2 counts on from the checkpointed value, with the files written before it, while the source keeps counting', async () => {
    await hub(
      ['apply', '-f', '-'],
      restoreYaml('copy', '  targetCluster: member2\n  mode: Restore\n  podName: counter-copy\n'),
    );
    const r = await waitRestore('copy', ['Restored', 'Failed']);
    assert.equal(r.status?.phase, 'Restored', r.status?.message);
    const copy = r.status!.restoredPod!.name;
    assert.equal(await podState('member2', ns, copy), 'Running/Ready');
    const restored = await eventually(
      async () => {
        const c = await counts('member2', copy);
        return c.length >= 2 ? c : undefined;
      },
      30_000,
      'the copy to print two counts',
    );
    // Never from zero: its first count follows what the source had counted before the checkpoint, and exactly the
    // backup's checkpoint (the source runs on, so its log says what it printed around the run's start).
    assert.ok(
      restored[0]!.n > atBackup,
      `copy starts at ${restored[0]!.n}, source had ${atBackup} before the backup`,
    );
    const m1 = (await getBackup('karmada', ns, 'counter')).status?.clusters?.find(
      (c) => c.name === 'member1',
    );
    const wrong = notFromCheckpoint(restored[0]!.n, await counterLines('member1', ns, source), {
      start: m1?.lastCheckpointTime,
      end: checkpointEnd(m1?.builtImages),
    });
    assert.equal(wrong, undefined, `the copy runs the backup's checkpoint: ${wrong}`);
    assert.ok(restored[1]!.n > restored[0]!.n, 'and goes on counting');
    // The file the source wrote at its start is in the copy's filesystem: the restored process reads it.
    const sourceMark = (await counts('member1', source))[0]!.mark;
    assert.match(sourceMark, /^started \d+$/);
    assert.equal(restored.at(-1)!.mark, sourceMark);
    // Restore mode leaves the source running and counting.
    const before = await lastCount('member1', source);
    await eventually(
      async () => ((await lastCount('member1', source)) > before ? true : undefined),
      10_000,
      'the source to go on counting',
    );
    assert.equal(await podState('member1', ns, source), 'Running/Ready');
  });

  it('a migration to a node whose runtime only checkpoints (CRI-O checkpoint_only) is refused before anything is touched: `kubectl stateful-migration restore --migrate --wait` exits 1 with why', async () => {
    // The kubectl plugin, with KUBECONFIG naming the Karmada apiserver, as a user runs it.
    const ran = await kubectlWithPlugin(
      [
        'stateful-migration',
        'restore',
        'counter',
        '--to',
        'member2',
        '--node',
        'm2-b',
        '--migrate',
        '--wait',
        '--name',
        'to-m2b',
        '--pod-name',
        'to-m2b',
        '-n',
        ns,
      ],
      { KUBECONFIG: kubeconfigPath('karmada') },
    );
    assert.equal(ran.code, 1, ran.stdout + ran.stderr);
    assert.match(
      ran.stdout,
      /checkpointrestore.migration.dcnlab.com\/to-m2b created: Migrate of CheckpointBackup counter/,
    );
    assert.match(
      ran.stderr,
      /to-m2b failed \(TargetCannotRestore\): .*m2-b.*checkpoint_only.*checkpoint_restore/,
    );
    const r = await getRestore('to-m2b');
    assert.equal(r.status?.phase, 'Failed');
    assert.match(r.status!.message!, /m2-b.*checkpoint_only.*checkpoint_restore/);
    assert.equal(r.status?.checkpoint, undefined, 'no checkpoint asked for');
    assert.ok(!(await exists('karmada', ns, ['cpb', 'to-m2b-migrate'])), 'no checkpoint backup made');
    assert.ok(!(await exists('member2', ns, ['pod', 'to-m2b'])), 'no pod created');
    assert.equal(await podState('member1', ns, source), 'Running/Ready', 'the source untouched');
  });

  it('Migrate: a fresh checkpoint, the source stopped right after it; the counter goes on in member2 from the count it stopped at, and is left only there', async (t) => {
    // The source's log is gone with its pod: follow it from now until the migration stopped it.
    const follow = followCounter('member1', ns, source);
    const ran = await kubectlWithPlugin([
      'stateful-migration',
      'restore',
      'counter',
      '--to',
      'member2',
      '--migrate',
      '--wait',
      '--timeout',
      '5m',
      '--name',
      'move',
      '--pod-name',
      'counter-moved',
      '-n',
      ns,
      `--kubeconfig=${kubeconfigPath('karmada')}`,
    ]);
    assert.equal(ran.code, 0, ran.stdout + ran.stderr);
    // The progress a user sees: each phase, then what the migration guarantees.
    for (const phase of ['Checkpointing', 'RestoreSubmitted', 'Restored', 'SourceStopped'])
      assert.match(ran.stdout, new RegExp(`Z  ${phase}: `), `${phase} shown`);
    assert.match(
      ran.stdout,
      /migrated: .*counter-moved runs in member2 with the state its source had when it stopped/,
    );

    const r = await getRestore('move');
    assert.equal(r.status?.phase, 'SourceStopped', r.status?.message);
    assert.equal(r.status?.reason, 'Migrated');
    // Its own checkpoint, taken now by a backup it made (stopPod), not the images of the backup taken earlier.
    assert.equal(r.status?.checkpoint?.backup, 'move-migrate');
    assert.ok(r.status?.checkpoint?.checkpointTime && r.status.checkpoint.sourceStoppedTime);
    const fresh = await getBackup('karmada', ns, 'move-migrate');
    assert.equal(fresh.spec.stopPod, true);
    assert.equal(fresh.status?.clusters?.find((c) => c.name === 'member1')?.phase, 'CompletedPodDeleted');
    const old = (await getBackup('karmada', ns, 'counter')).status?.clusters?.[0]?.builtImages ?? [];
    for (const i of r.status!.images!)
      assert.ok(
        !old.some((o) => i.image.endsWith(o.digest ?? '-')),
        `${i.image} is not an image of the old backup`,
      );

    await eventually(
      async () => ((await exists('member1', ns, ['pod', source])) ? undefined : true),
      60_000,
      'the source pod gone from member1',
    );
    await Promise.race([follow.ended, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    follow.proc.kill();
    const moved = r.status!.restoredPod!.name;
    assert.equal(moved, 'counter-moved');
    assert.equal(
      await kubectl('member2', [
        'get',
        'pod',
        moved,
        '-n',
        ns,
        '-o',
        'jsonpath={.metadata.annotations.migration\\.dcnlab\\.com/restore}',
      ]),
      `${ns}/move`,
    );
    const c = await eventually(
      async () => {
        const got = await counts('member2', moved);
        return got.length >= 2 ? got : undefined;
      },
      30_000,
      'the moved counter to print two counts',
    );
    // No gap and no overlap in the state: the copy goes on from the count the source had at the migration's own
    // checkpoint (not the earlier backup's), whatever the source printed between that checkpoint and its stop.
    const sourceLines = follow.lines();
    const last = sourceLines.at(-1)?.n;
    assert.ok(last !== undefined && last > atBackup, `the source's log was followed (${last})`);
    const checkpointTime = r.status?.checkpoint?.checkpointTime;
    const checkpointEnded = checkpointEnd(
      fresh.status?.clusters?.find((x) => x.name === 'member1')?.builtImages,
    );
    const wrong = notFromCheckpoint(c[0]!.n, sourceLines, { start: checkpointTime, end: checkpointEnded });
    assert.equal(wrong, undefined, `the moved counter runs the migration's checkpoint: ${wrong}`);
    t.diagnostic(
      `source's last count ${last}, moved counter's first ${c[0]!.n}, checkpoint from ${checkpointTime} to ${checkpointEnded} (at the earlier backup: ${atBackup})`,
    );
    assert.ok(c[1]!.n > c[0]!.n, 'and goes on counting');
    await noCounterLeft('member1', ns);
  });
});

describe('real runtime: pod status comes from the process', () => {
  const pns = `${ns}-status`;
  const podYaml = (name: string, image: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${pns}}
spec:
  nodeName: m1-b
  containers: [{name: c, image: "${image}"}]
`;
  const field = (pod: string, path: string) =>
    kubectl('member1', ['get', 'pod', pod, '-n', pns, '-o', `jsonpath=${path}`]);
  before(() => kubectl('member1', ['create', 'namespace', pns]));
  after(() => kubectl('member1', ['delete', 'namespace', pns, '--wait=false']).catch(() => undefined));

  it('an image that exists nowhere: ErrImagePull, then ImagePullBackOff, with the registry’s reason', async () => {
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      [podYaml('nowhere', 'registry.local/no-such-image:1'), podYaml('elsewhere', 'other.invalid/x:1')].join(
        '---\n',
      ),
    );
    for (const p of ['nowhere', 'elsewhere']) {
      const reason = await eventually(
        async () => (await field(p, '{.status.containerStatuses[0].state.waiting.reason}')) || undefined,
        30_000,
        `${p} to wait`,
      );
      assert.match(reason, /^(ErrImagePull|ImagePullBackOff)$/);
      assert.equal(await field(p, '{.status.phase}'), 'Pending');
    }
    assert.match(
      await field('nowhere', '{.status.containerStatuses[0].state.waiting.message}'),
      /manifest unknown|not found/i,
    );
  });

  it('a container that exits 3 under restartPolicy Always: restarted, then CrashLoopBackOff with its exit code', async () => {
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      `apiVersion: v1
kind: Pod
metadata: {name: crash, namespace: ${pns}}
spec:
  nodeName: m1-b
  containers: [{name: c, image: busybox, command: [sh, -c, 'echo bye; exit 3']}]
`,
    );
    await eventually(
      async () =>
        (await field('crash', '{.status.containerStatuses[0].state.waiting.reason}')) === 'CrashLoopBackOff'
          ? true
          : undefined,
      60_000,
      'CrashLoopBackOff',
    );
    assert.equal(await field('crash', '{.status.containerStatuses[0].lastState.terminated.exitCode}'), '3');
    assert.equal(await field('crash', '{.status.phase}'), 'Running');
    assert.equal(await kubectl('member1', ['logs', '-n', pns, 'crash', '--previous']), 'bye\n');
  });

  it('restartPolicy Never: Succeeded for exit 0, Failed otherwise; deleting a running pod stops its process', async () => {
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      `apiVersion: v1
kind: Pod
metadata: {name: ok, namespace: ${pns}}
spec:
  nodeName: m1-b
  restartPolicy: Never
  containers: [{name: c, image: busybox, command: [sh, -c, 'exit 0']}]
---
apiVersion: v1
kind: Pod
metadata: {name: bad, namespace: ${pns}}
spec:
  nodeName: m1-b
  restartPolicy: Never
  containers: [{name: c, image: busybox, command: [sh, -c, 'exit 7']}]
---
apiVersion: v1
kind: Pod
metadata: {name: long, namespace: ${pns}}
spec:
  nodeName: m1-b
  containers: [{name: c, image: registry.local/counter:1}]
`,
    );
    for (const [p, phase] of [
      ['ok', 'Succeeded'],
      ['bad', 'Failed'],
      ['long', 'Running'],
    ] as const)
      await eventually(
        async () => ((await field(p, '{.status.phase}')) === phase ? true : undefined),
        60_000,
        `${p} ${phase}`,
      );
    assert.equal(await field('bad', '{.status.containerStatuses[0].state.terminated.exitCode}'), '7');
    const id = (await field('long', '{.status.containerStatuses[0].containerID}')).replace('cri-o://', '');
    const runc = join(fedDir, 'nodes', 'm1-b', 'runtime', 'runc');
    assert.ok(existsSync(join(runc, id)), 'runc knows the container');
    await kubectl('member1', ['delete', 'pod', 'long', '-n', pns, '--wait=true', '--timeout=60s']);
    assert.ok(!existsSync(join(runc, id)), 'the container is gone with its pod');
  });
});
