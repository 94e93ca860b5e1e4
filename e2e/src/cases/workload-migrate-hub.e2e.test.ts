// suite: alone — kills and restarts the hub, with fault injection, at each step of a migration
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { restartHub } from '../fed/hub.js';
import { kubectl } from '../fed/kubectl.js';
import { healedAndReady } from '../fed/outage.js';
import { registryInfo, registrySecretYaml } from './agent-support.js';
import { workloadMigrationCase } from './restore-fixtures.js';
import { counterWorkloadYaml, propagationPolicyYaml } from './restore-support.js';
import { eventually, unique } from './support.js';

/**
 * A workload migration (docs/adr/0007 Decision 3) whose hub dies right after each of its steps resumes from its
 * status: one checkpoint per replica, one migration. Apart from workload-migrate, whose cases share the federation.
 */
const ns = unique('wmhub');
const { hub, backupYaml, restoreYaml, pods, running, finished } = workloadMigrationCase(ns);

describe('migrating a StatefulSet through Karmada while the hub is killed', () => {
  before(async () => {
    // The migration's target must be Ready when it is applied, or it is refused before the step the hub dies after;
    // the case before this one in the alone lane may have just healed it.
    await healedAndReady('member2');
    const user = registryInfo().users[0]!;
    await hub(['create', 'namespace', ns]);
    await hub(['apply', '-f', '-'], registrySecretYaml(ns, 'push', user.username, user.password));
  });
  after(async () => {
    // The case leaves the hub running with fault injection if it fails half-way.
    await restartHub();
    await hub(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it('the hub killed right after each step resumes from status: one checkpoint per replica, one migration', async () => {
    // A StatefulSet of its own, backed up by a workload-level object that never ran (a yearly schedule): a migration
    // takes its own checkpoint.
    await hub(
      ['apply', '-f', '-'],
      `${counterWorkloadYaml({ ns, kind: 'StatefulSet', name: 'kv', replicas: 2 })}---
${backupYaml('kv', 'StatefulSet').replace('schedule: immediately', 'schedule: "0 0 1 1 *"')}---
${propagationPolicyYaml(ns, 'kv', [{ kind: 'StatefulSet', name: 'kv' }], ['member1'])}`,
    );
    await running('member1', 'kv', 2);
    // Die right after recording Checkpointing (nothing made yet), RestoreSubmitted (every checkpoint recorded, the
    // policy not made), RestoreInProgress (the policy made, no gate removed); the webhook dies with the hub each time.
    let crashing = await restartHub({
      STATEFUL_MIGRATION_CRASH_AFTER: 'Checkpointing',
    });
    await hub(['apply', '-f', '-'], restoreYaml('move-kv', 'kv'));
    for (const next of ['RestoreSubmitted', 'RestoreInProgress', '']) {
      await eventually(() => crashing.exited(), 240_000, 'the hub to die after its step');
      crashing = await restartHub(next ? { STATEFUL_MIGRATION_CRASH_AFTER: next } : {});
    }
    const r = await finished('move-kv');
    assert.equal(r.status?.phase, 'SourceStopped', `${r.status?.reason}: ${r.status?.message}`);
    assert.deepEqual(
      r.status!.replicas!.map((x) => [x.name, x.pod, x.phase]),
      [
        ['kv-0', 'kv-0', 'Running'],
        ['kv-1', 'kv-1', 'Running'],
      ],
    );
    // One checkpoint of each replica: one child per source pod, each with one image.
    const children = JSON.parse(
      await kubectl('member1', [
        'get',
        'cpb',
        '-n',
        ns,
        '-l',
        'migration.dcnlab.com/workload-backup=move-kv-migrate',
        '-o',
        'json',
      ]),
    ) as { items: { spec: { podRef?: { name: string } }; status?: { builtImages?: unknown[] } }[] };
    assert.deepEqual(children.items.map((c) => c.spec.podRef?.name).sort(), ['kv-0', 'kv-1']);
    for (const c of children.items) assert.equal(c.status?.builtImages?.length, 1);
    assert.equal((await pods('member1', 'kv')).length, 0);
    assert.equal((await running('member2', 'kv', 2)).length, 2);
  });
});
