// suite: alone — stops the hub and runs a second one (a second local process, or the hub Deployment's second pod with its node cordoned); reads the hubs' global metrics
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  chartHubNode,
  HUB_NAMESPACE,
  hubLeaseHolder,
  installHubChart,
  waitHubPods,
  type HubPod,
} from '../fed/chart-hub.js';
import { memberOf } from '../fed/chart-pods.js';
import { hubArgs, hubPodHttpGet } from '../fed/hub.js';
import { kubectl } from '../fed/kubectl.js';
import { fedDir } from '../fed/paths.js';
import { freePort, readState, startProcess, stopProcesses, writeState } from '../fed/procs.js';
import { probe } from '../fed/probe.js';
import { eventually, unique } from './support.js';

const ns = unique('leader');

const sum = (text: string, name: string): number =>
  text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((s, l) => s + Number(l.split(' ').at(-1)), 0);

/**
 * One hub replica as the case sees it: the identity it holds the Lease by, a metric of its /metrics (summed over
 * labels), and what stops it, which answers what starts it again (the replica that then stands by).
 */
interface Replica {
  identity: string;
  metric(name: string): Promise<number>;
  stop(): Promise<() => Promise<Replica>>;
}

/** The federation's hub process (hub-0) and a second local process started beside it. */
async function localReplicas(second: string): Promise<[Replica, Replica]> {
  const replica = (identity: string, port: number, name: string): Replica => ({
    identity,
    metric: async (m) => sum(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), m),
    stop: async () => {
      const rec = readState()!.procs.find((p) => p.name === name)!;
      await stopProcesses([rec]);
      return async () => {
        const now = readState()!;
        now.procs = now.procs.filter((p) => p.name !== name);
        startProcess(now, name, rec.exe, rec.args!, { port });
        writeState(now);
        await eventually(() => probe(`http://127.0.0.1:${port}/readyz`), 30_000, `${identity} back`);
        return replica(identity, port, name);
      };
    },
  });
  const state = readState()!;
  const port = await freePort(second);
  startProcess(state, second, process.execPath, hubArgs(join(fedDir, 'hub', 'kubeconfig'), port, second), {
    port,
  });
  writeState(state);
  await eventually(() => probe(`http://127.0.0.1:${port}/readyz`), 30_000, 'the second hub ready');
  return [replica('hub-0', state.ports.hub!, 'hub'), replica(second, port, second)];
}

/**
 * On a --chart-hub federation: the hub Deployment's pod and a second one (hub.replicas=2 with helm upgrade), each
 * its pod's name as its identity (--identity=$(POD_NAME)), its metrics read in its network namespace. Stopping one
 * deletes its pod with the node cordoned, so the ReplicaSet's replacement stays Pending and the Lease can only go to
 * the other, as when the local process stops; starting again uncordons and answers the replacement once Ready.
 */
async function podReplicas(node: string): Promise<[Replica, Replica]> {
  const member = memberOf(node);
  const replica = (pod: HubPod): Replica => ({
    identity: pod.metadata.name,
    metric: async (m) => sum((await hubPodHttpGet(pod, '/metrics')).body, m),
    stop: async () => {
      const others = new Set((await waitHubPods(2)).map((p) => p.metadata.uid));
      await kubectl(member, ['cordon', node]);
      await kubectl(member, ['-n', HUB_NAMESPACE, 'delete', 'pod', pod.metadata.name, '--wait=true']);
      return async () => {
        await kubectl(member, ['uncordon', node]);
        const replacement = (await waitHubPods(2)).find((p) => !others.has(p.metadata.uid));
        assert.ok(replacement, `the replacement of ${pod.metadata.name} Ready`);
        return replica(replacement);
      };
    },
  });
  const [first] = await waitHubPods(1);
  await installHubChart(['--set', 'hub.replicas=2']);
  const standby = (await waitHubPods(2)).find((p) => p.metadata.uid !== first!.metadata.uid)!;
  return [replica(first!), replica(standby)];
}

async function unplaceable(name: string): Promise<void> {
  await kubectl(
    'karmada',
    ['apply', '-f', '-'],
    `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: ${name}, namespace: ${ns}}
spec: {schedule: immediately, podRef: {name: x}, resourceRef: {apiVersion: apps/v1, kind: Deployment, name: none}}
`,
  );
  await eventually(
    async () =>
      (await kubectl('karmada', ['get', 'cpb', name, '-n', ns, '-o', 'jsonpath={.status.phase}'])) ===
        'Failed' || undefined,
    60_000,
    `${name} Failed`,
  );
}

describe('hub leader election: two replicas, one writer', () => {
  const second = 'hub-standby';
  const hubNode = chartHubNode();
  after(async () => {
    if (hubNode) {
      // Back to the federation's one replica; the one left holds the Lease before the next case.
      await kubectl(memberOf(hubNode), ['uncordon', hubNode]).catch(() => undefined);
      await installHubChart();
      const [left] = await waitHubPods(1);
      await eventually(
        async () => (await hubLeaseHolder()) === left!.metadata.name || undefined,
        60_000,
        `the Lease held by ${left!.metadata.name}`,
      );
    } else {
      const s = readState()!;
      const extra = s.procs.filter((p) => p.name === second);
      await stopProcesses(extra);
      s.procs = s.procs.filter((p) => p.name !== second);
      writeState(s);
    }
    await kubectl('karmada', ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it('only the Lease holder writes; when it stops, the standby takes over', async () => {
    await kubectl('karmada', ['create', 'namespace', ns]);
    const [first, standby] = hubNode ? await podReplicas(hubNode) : await localReplicas(second);

    assert.equal(await hubLeaseHolder(), first.identity);
    assert.equal(await first.metric('hub_leader'), 1);
    assert.equal(await standby.metric('hub_leader'), 0);
    await unplaceable('one');
    assert.ok((await first.metric('hub_writes_total')) > 0);
    assert.equal(await standby.metric('hub_writes_total'), 0, 'the standby wrote nothing');
    assert.equal(await standby.metric('hub_reconciles_total'), 0, 'the standby reconciled nothing');

    // The leader stops (and frees the Lease); the standby takes over and serves new objects.
    const startAgain = await first.stop();
    let restarted: Replica;
    try {
      await eventually(
        async () => (await hubLeaseHolder()) === standby.identity || undefined,
        30_000,
        'the standby holding the Lease',
      );
      assert.equal(await standby.metric('hub_leader'), 1);
      await unplaceable('two');
      assert.ok((await standby.metric('hub_writes_total')) > 0);
    } finally {
      restarted = await startAgain();
    }
    // Restarted, the first stands by while the other leads.
    assert.equal(await restarted.metric('hub_leader'), 0);
  });
});
