// suite: shares — own namespace and pods; the RBAC gap, which reaches every agent, is agent-rbac-gap's (alone)
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { kubectl } from '../fed/kubectl.js';
import { backupYaml, getBackup, runPod, waitPhase } from './agent-support.js';
import { eventually, unique } from './support.js';

const ns = unique('agentmore');

describe('the agent under status conflicts and cron', () => {
  before(async () => {
    await kubectl('member1', ['create', 'namespace', ns]);
  });
  after(async () => {
    await kubectl('member1', ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it('completes through a burst of 409s: the object changes under every status write', async () => {
    const pod = await runPod('member1', ns, 'conflicts', 'm1-b', ['app', 'side'], {
      'standin.stateful-migration.dev/checkpoint-latency-ms': '1500',
    });
    let stop = false;
    let bumps = 0;
    const churn = (async () => {
      while (!stop) {
        await kubectl('member1', [
          'annotate',
          'cpb',
          'conflicts',
          '-n',
          ns,
          `churn=${bumps++}`,
          '--overwrite',
        ]).catch(() => undefined);
      }
    })();
    await kubectl('member1', ['apply', '-f', '-'], backupYaml(ns, 'conflicts', pod));
    const b = await waitPhase('member1', ns, 'conflicts', ['Completed', 'Failed'], 90_000);
    stop = true;
    await churn;
    assert.equal(b.status?.phase, 'Completed', b.status?.message);
    assert.ok(bumps > 5, `the object changed ${bumps} times during the run`);
    assert.equal(b.status?.builtImages?.length, 2);
  });

  // The cron cases wait for real minute ticks, each on its own pod and object: they run side by side.
  describe('on cron ticks', { concurrency: true }, () => {
    it('a per-minute cron checkpoints on every tick, each with its own tag', async () => {
      const pod = await runPod('member1', ns, 'cron', 'm1-a', ['app']);
      await kubectl(
        'member1',
        ['apply', '-f', '-'],
        backupYaml(ns, 'cron', pod).replace('"immediately"', '"* * * * *"'),
      );
      const b = await eventually(
        async () => {
          const cur = await getBackup('member1', ns, 'cron');
          return (cur.status?.builtImages?.length ?? 0) >= 2 && cur.status?.phase === 'Completed'
            ? cur
            : undefined;
        },
        180_000,
        'two cron runs',
      );
      const tags = b.status!.builtImages!.map((i) => i.imageName.split(':').pop());
      assert.equal(new Set(tags).size, tags.length, `distinct tags: ${tags.join(', ')}`);
      assert.ok(
        b.status?.nextScheduledTime &&
          new Date(b.status.nextScheduledTime) > new Date(b.status.lastCheckpointTime!),
      );
    });

    it('seed 000, scheduled with stopPod: the first tick checkpoints and deletes the pod, and no tick follows', async () => {
      const pod = await runPod('member1', ns, 'cronstop', 'm1-b', ['app']);
      await kubectl(
        'member1',
        ['apply', '-f', '-'],
        backupYaml(ns, 'cronstop', pod, '  stopPod: true\n').replace('"immediately"', '"* * * * *"'),
      );
      const b = await waitPhase(
        'member1',
        ns,
        'cronstop',
        ['CompletedPodDeleted', 'CompletedWithError', 'Failed'],
        150_000,
      );
      assert.equal(b.status?.phase, 'CompletedPodDeleted', b.status?.message);
      await new Promise((r) => setTimeout(r, 65_000));
      const later = await getBackup('member1', ns, 'cronstop');
      assert.equal(later.status?.phase, 'CompletedPodDeleted');
      assert.equal(later.status?.builtImages?.length, 1, 'no further checkpoints after the pod was stopped');
    });

    it('deleting the object runs its finalizer: the schedule stops and the object goes', async () => {
      const pod = await runPod('member1', ns, 'deleted', 'm1-a', ['app']);
      await kubectl(
        'member1',
        ['apply', '-f', '-'],
        backupYaml(ns, 'deleted', pod).replace('"immediately"', '"* * * * *"'),
      );
      await eventually(
        async () =>
          (await getBackup('member1', ns, 'deleted')).metadata.finalizers?.length ? true : undefined,
        90_000,
        'the agent finalizer',
      );
      await kubectl('member1', ['delete', 'cpb', 'deleted', '-n', ns, '--timeout=30s']);
      assert.equal(
        (await kubectl('member1', ['get', 'cpb', 'deleted', '-n', ns, '--ignore-not-found'])).trim(),
        '',
      );
    });
  });
});
