// suite: shares — own namespace, workload and policies
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CheckpointRestore } from '@stateful-migration/api';
import { migrationPolicy } from '@stateful-migration/restore';
import { kubectl } from '../fed/kubectl.js';
import { exists } from './agent-support.js';
import { counterWorkloadYaml } from './restore-support.js';
import { eventually, unique } from './support.js';

/**
 * What workload migration relies on in Karmada (docs/adr/0007): the migration's PropagationPolicy, one priority
 * above the user's and allowed to preempt, moves the workload to the target without the user's policy being
 * touched; deleting the CheckpointRestore that owns it (garbage collection) hands the workload back to the user's
 * policy, which places it where it says. Karmada's PropagationPolicyPreemption gate is on in the federation.
 */
const ns = unique('wlp');
const hub = (args: string[], input?: string) => kubectl('karmada', args, input);

const where = async (): Promise<string[]> => {
  const out: string[] = [];
  for (const c of ['member1', 'member2']) if (await exists(c, ns, ['deployment', 'web'])) out.push(c);
  return out;
};
const waitWhere = (want: string[], what: string) =>
  eventually(
    async () => (JSON.stringify(await where()) === JSON.stringify(want) ? true : undefined),
    120_000,
    what,
  );

describe("moving a workload by a policy that preempts the user's", () => {
  let userPolicy = '';
  before(async () => {
    await hub(['create', 'namespace', ns]);
    await hub(
      ['apply', '-f', '-'],
      counterWorkloadYaml({
        ns,
        kind: 'Deployment',
        name: 'web',
        policy: { name: 'users', placement: ['member1'] },
      }),
    );
    await waitWhere(['member1'], 'web in member1 by the user policy');
    userPolicy = await hub(['get', 'pp', 'users', '-n', ns, '-o', 'jsonpath={.metadata.generation} {.spec}']);
  });
  after(async () => {
    await hub(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it('moves it to the target, leaves the user policy as it was, and gives it back when the restore goes', async () => {
    // The owner: a CheckpointRestore (its backup is missing, so the restore controller only records Failed).
    await hub(
      ['apply', '-f', '-'],
      `apiVersion: migration.dcnlab.com/v1
kind: CheckpointRestore
metadata: {name: move, namespace: ${ns}}
spec: {backupRef: {name: absent}, targetCluster: member2, mode: Migrate}
`,
    );
    const r = JSON.parse(await hub(['get', 'cpr', 'move', '-n', ns, '-o', 'json'])) as CheckpointRestore;
    const policy = migrationPolicy({
      restore: { name: 'move', uid: r.metadata.uid! },
      workload: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web', namespace: ns },
      target: 'member2',
      competing: [{ name: 'users' }],
    });
    await hub(['apply', '-f', '-'], JSON.stringify(policy));
    await waitWhere(['member2'], 'web only in member2, by the migration policy');
    assert.equal(
      await hub(['get', 'pp', 'users', '-n', ns, '-o', 'jsonpath={.metadata.generation} {.spec}']),
      userPolicy,
      "the user's policy untouched",
    );

    await hub(['delete', 'cpr', 'move', '-n', ns]);
    await eventually(
      async () => ((await exists('karmada', ns, ['pp', 'checkpointrestore-move'])) ? undefined : true),
      60_000,
      'the migration policy garbage-collected with its CheckpointRestore',
    );
    await waitWhere(['member1'], "web back in member1, by the user's policy");
  });
});
