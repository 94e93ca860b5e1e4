// suite: alone — kills and restarts the agent of m1-a, with fault injection, at each phase
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PHASES } from '@stateful-migration/api';
import { kubectl } from '../fed/kubectl.js';
import { fedDir } from '../fed/paths.js';
import { restartAgent } from '../fed/agents.js';
import { applyBackup, registryInfo, registrySecret, runPod, skopeo, waitPhase } from './agent-support.js';
import { archivesOf, backupYaml, foreignArchive } from './agent-support.js';
import { eventually, unique } from './support.js';

const ns = unique('crash');
const hoursAgo = (h: number) => new Date(Date.now() - h * 3600_000);
const phases: string[] = PHASES.slice(0, PHASES.indexOf('ImagePushed') + 1);
/** Where to die: after recording each phase, and between the kubelet's answer and recording it. */
const crashPoints: [string, string][] = [
  ...phases.map((p): [string, string] => [p, p]),
  ['ArchiveWritten', 'Checkpointing'],
];

/** Checkpoints the stand-in runtime took of one pod's container, from its log. */
const checkpointsTaken = (pod: string): number =>
  readFileSync(join(fedDir, 'logs/node-m1-a.log'), 'utf8')
    .split('\n')
    .filter((l) => l.includes('checkpoint written') && l.includes(`"${ns}/${pod}"`)).length;

describe('the agent resumes from status after being killed at each phase boundary', () => {
  before(async () => {
    await kubectl('member1', ['create', 'namespace', ns]);
    await registrySecret(ns, 'creds', registryInfo().users[0]!);
  });
  after(async () => {
    await restartAgent('m1-a');
    await kubectl('member1', ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  for (const [phase, recorded] of crashPoints) {
    it(`killed right after ${phase}: completes with one checkpoint and one image`, async () => {
      const name = `at-${phase.toLowerCase()}`;
      const crashing = await restartAgent('m1-a', { STATEFUL_MIGRATION_CRASH_AFTER: phase });
      const pod = await runPod('member1', ns, name, 'm1-a', ['app']);
      const info = registryInfo();
      await applyBackup(ns, name, pod, { url: info.url, repository: `crash/${ns}`, secret: 'creds' });
      await eventually(() => crashing.exited(), 60_000, `the agent to die after ${phase}`);
      assert.equal(
        (await waitPhase('member1', ns, name, phases)).status?.phase,
        recorded,
        'the phase it died after is recorded',
      );

      await restartAgent('m1-a');
      const b = await waitPhase('member1', ns, name, ['Completed', 'Failed']);
      assert.equal(b.status?.phase, 'Completed', b.status?.message);
      assert.equal(checkpointsTaken(pod), 1, 'no second checkpoint');
      const images = b.status?.builtImages ?? [];
      assert.equal(images.length, 1, 'no second image');
      const repo = images[0]!.imageName.replace(/:[^:]+$/, '');
      const tags = (JSON.parse(skopeo(['list-tags', `docker://${repo}`])) as { Tags: string[] }).Tags;
      assert.deepEqual(tags, [images[0]!.imageName.split(':').pop()], 'one tag in the registry');
    });
  }

  it('killed right after a retention deletion: the sweep after the restart finishes the job', async () => {
    const ours = () => archivesOf('m1-a', ns, 'gone');
    const crashing = await restartAgent('m1-a', {
      STATEFUL_MIGRATION_CRASH_AFTER: 'RetentionDeleted',
    });
    // Four archives another tool left for one container (its pod is gone; orphans are kept, limits still apply).
    for (const h of [4, 3, 2, 1])
      await foreignArchive(
        'm1-a',
        `crash-${ns}-${h}.tar`,
        { ns, pod: 'gone', container: 'app' },
        hoursAgo(h),
      );
    const newest = (await ours())[0];
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      backupYaml(ns, 'retention', 'gone', '  retention: {maxCheckpointsPerContainer: 1}\n').replace(
        '"immediately"',
        '"0 0 1 1 *"',
      ),
    );
    await eventually(() => crashing.exited(), 60_000, 'the agent to die after a deletion');
    assert.ok((await ours()).length > 1, 'the sweep was cut short');
    await restartAgent('m1-a');
    await eventually(
      async () => ((await ours()).length === 1 ? true : undefined),
      60_000,
      'the restarted agent to finish',
    );
    assert.deepEqual(await ours(), [newest], 'the newest archive is the one kept');
  });
});
