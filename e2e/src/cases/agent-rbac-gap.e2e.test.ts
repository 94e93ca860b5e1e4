// suite: alone — takes nodes/checkpoint out of the agents' ClusterRole, so every checkpoint in the members fails
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { kubectl } from '../fed/kubectl.js';
import { agentHttpGet } from '../fed/agents.js';
import { backupYaml, runPod, waitPhase } from './agent-support.js';
import { eventually, unique } from './support.js';

const ns = unique('rbacgap');

describe('the agent under an RBAC gap', () => {
  before(async () => {
    await kubectl('member1', ['create', 'namespace', ns]);
  });
  after(async () => {
    await kubectl('member1', ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it('a kubelet 403 (RBAC without nodes/checkpoint) ends Failed naming the missing permission', async () => {
    // The agent's ClusterRole is the chart's, on the Karmada apiserver, carried to the members by Karmada (which puts
    // back any edit made in a member): the permission is taken away where the platform keeps it.
    type Role = { metadata: Record<string, unknown>; rules: { resources?: string[] }[] };
    const role = JSON.parse(
      await kubectl('karmada', ['get', 'clusterrole', 'checkpoint-backup-agent', '-o', 'json']),
    ) as Role;
    const canCheckpoint = async (want: boolean) =>
      eventually(
        async () => {
          const inMember = JSON.parse(
            await kubectl('member1', ['get', 'clusterrole', 'checkpoint-backup-agent', '-o', 'json']),
          ) as Role;
          return inMember.rules.some((r) => r.resources?.includes('nodes/checkpoint')) === want || undefined;
        },
        60_000,
        `member1's agent ClusterRole to ${want ? 'have' : 'lose'} nodes/checkpoint`,
      );
    const without = { ...role, rules: role.rules.filter((r) => !r.resources?.includes('nodes/checkpoint')) };
    await kubectl('karmada', ['replace', '-f', '-'], JSON.stringify(without));
    try {
      await canCheckpoint(false);
      const pod = await runPod('member1', ns, 'forbidden', 'm1-a', ['app']);
      await kubectl('member1', ['apply', '-f', '-'], backupYaml(ns, 'forbidden', pod));
      const b = await waitPhase('member1', ns, 'forbidden', ['Failed']);
      assert.match(
        b.status?.message ?? '',
        /kubelet denied the checkpoint of .* \(403: Forbidden \(user=system:serviceaccount:stateful-migration:checkpoint-backup-sa, verb=create, resource=nodes, subresource\(s\)=\[checkpoint\]\)\): grant the agent's service account "create" on "nodes\/checkpoint"/,
      );
    } finally {
      // Unconditional: without the resourceVersion read before the edit.
      const metadata = { ...role.metadata, resourceVersion: undefined };
      await kubectl('karmada', ['replace', '-f', '-'], JSON.stringify({ ...role, metadata }));
      await canCheckpoint(true);
    }
  });

  it("serves the agent's metrics: phase durations, failures by reason, queue depth", async () => {
    // The forbidden run above was m1-a's: its checkpoint step is counted (a failed step too), and its failure by reason.
    // The agent's own port: the local process's, or the chart's pod's inside its network namespace.
    const { body } = await agentHttpGet('m1-a', '/metrics');
    assert.match(body, /^checkpoint_phase_duration_seconds_count\{step="checkpoint"\} [1-9]/m);
    assert.match(body, /^checkpoint_failures_total\{reason="KubeletForbidden"\} [1-9]/m);
    assert.match(body, /^checkpoint_queue_depth\{queue="reconcile"\} \d+/m);
    assert.equal((await agentHttpGet('m1-a', '/readyz')).status, 200);
  });
});
