import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { kubectl } from '../fed/kubectl.js';
import { backupYaml, getBackup, runPod, waitPhase } from './agent-support.js';
import { eventually, unique } from './support.js';

const ns = unique('agentmore');

describe('the agent under RBAC gaps, status conflicts and cron', () => {
  before(async () => {
    await kubectl('member1', ['create', 'namespace', ns]);
  });
  after(async () => {
    await kubectl('member1', ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it('a kubelet 403 (RBAC without nodes/checkpoint) ends Failed naming the missing permission', async () => {
    const role = JSON.parse(
      await kubectl('member1', ['get', 'clusterrole', 'checkpoint-backup-agent', '-o', 'json']),
    ) as {
      rules: { resources?: string[] }[];
    };
    const without = { ...role, rules: role.rules.filter((r) => !r.resources?.includes('nodes/checkpoint')) };
    await kubectl('member1', ['replace', '-f', '-'], JSON.stringify(without));
    try {
      const pod = await runPod('member1', ns, 'forbidden', 'm1-a', ['app']);
      await kubectl('member1', ['apply', '-f', '-'], backupYaml(ns, 'forbidden', pod));
      const b = await waitPhase('member1', ns, 'forbidden', ['Failed']);
      assert.match(
        b.status?.message ?? '',
        /kubelet denied the checkpoint of .* \(403: Forbidden \(user=system:serviceaccount:stateful-migration:checkpoint-backup-sa, verb=create, resource=nodes, subresource\(s\)=\[checkpoint\]\)\): grant the agent's service account "create" on "nodes\/checkpoint"/,
      );
    } finally {
      await kubectl(
        'member1',
        ['apply', '-f', '-'],
        JSON.stringify({ ...role, metadata: { name: 'checkpoint-backup-agent' } }),
      );
    }
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
});
