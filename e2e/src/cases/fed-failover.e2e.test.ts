import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { kubectl } from '../fed/kubectl.js';
import { failoverPlacement, fedCli, healedAndReady, karmadaFailover, memberSeen } from '../fed/outage.js';
import { counterWorkloadYaml } from './restore-support.js';
import { eventually, unique } from './support.js';

/**
 * `pnpm fed fail` and `pnpm fed heal` as Karmada sees them, and Karmada's own cluster failover enabled as a user
 * enables it (the Failover gate, NoExecute eviction, a ClusterTaintPolicy): a StatefulSet preferring member1 moves to
 * member2 when member1 goes down, starting from scratch (Karmada carries no process state: the baseline stateful
 * failover improves on), and when member1 comes back exactly one copy runs.
 */
const ns = unique('failover');
const hub = (args: string[], input?: string) => kubectl('karmada', args, input);

/** The first count counter-0 printed in a member, read with kubectl logs. */
async function firstCount(member: string): Promise<number | undefined> {
  const out = await kubectl(member, ['logs', '-n', ns, 'counter-0', '-c', 'counter']).catch(() => '');
  const m = /^count (\d+)/m.exec(out);
  return m ? Number(m[1]) : undefined;
}

const runningIn = async (member: string): Promise<boolean> => {
  const out = await kubectl(member, [
    'get',
    'pod',
    'counter-0',
    '-n',
    ns,
    '-o',
    'jsonpath={.status.phase}',
  ]).catch(() => '');
  return out === 'Running';
};

describe('fed fail and heal: Karmada fails a workload over from a member that stops answering', () => {
  before(async () => {
    await hub(['create', 'namespace', ns]);
    await hub(
      ['apply', '-f', '-'],
      counterWorkloadYaml({
        ns,
        kind: 'StatefulSet',
        name: 'counter',
        policy: { placement: failoverPlacement },
      }),
    );
    await eventually(
      async () => ((await firstCount('member1')) !== undefined ? true : undefined),
      90_000,
      'counter-0 to count in member1',
    );
  });

  after(async () => {
    // Whatever happened, the next case needs member1 back and Ready.
    await healedAndReady('member1');
    await hub(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it('fail: member1 turns not Ready, is tainted NoExecute, and the StatefulSet starts over in member2', async () => {
    const t0 = Date.now();
    const r = fedCli('fail', 'member1');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /member1 is down \(\d+ processes stopped, [1-9]\d* containers frozen\)/);
    assert.match(fedCli('status').stdout, /failed by `fed fail`: member1/);
    // The member's apiserver accepts connections but never answers, as in a partition.
    const probe = fedCli('status');
    assert.equal(probe.status, 0, 'processes stopped by fail still count as running');
    // Karmada sees member1 not Ready and taints it NoExecute, binds the StatefulSet to member2 alone, and its
    // replica is Ready there.
    await karmadaFailover({
      ns,
      name: 'counter',
      replicas: 1,
      from: 'member1',
      to: 'member2',
      t0,
      timeoutMs: 180_000,
    });
    await eventually(
      async () => ((await runningIn('member2')) ? true : undefined),
      180_000,
      'counter-0 to run in member2',
    );
    const binding = JSON.parse(
      await hub(['get', 'resourcebinding', 'counter-statefulset', '-n', ns, '-o', 'json']),
    ) as { spec: { clusters?: { name: string }[] } };
    assert.deepEqual(
      binding.spec.clusters?.map((c) => c.name),
      ['member2'],
    );
    // Karmada alone brings the process back empty: the count starts over. Stateful failover is what changes this.
    assert.equal(await eventually(() => firstCount('member2'), 60_000, 'counter-0 to count in member2'), 1);
  });

  it('heal: member1 comes back Ready, its taint goes, and only member2 runs the StatefulSet', async () => {
    const r = fedCli('heal', 'member1');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /member1 is back/);
    await eventually(
      async () => {
        const c = await memberSeen('member1');
        return c.ready && !c.noExecute ? true : undefined;
      },
      120_000,
      'member1 Ready and untainted',
    );
    await eventually(
      async () => {
        const left = await kubectl('member1', ['get', 'statefulset,pods', '-n', ns, '-o', 'name']).catch(
          () => 'error',
        );
        return left.trim() === '' ? true : undefined;
      },
      120_000,
      'Karmada to remove the evicted StatefulSet and its pod from member1',
    );
    assert.ok(await runningIn('member2'), 'member2 still runs counter-0');
  });
});
