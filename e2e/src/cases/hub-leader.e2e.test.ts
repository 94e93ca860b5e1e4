// suite: alone — stops the hub and runs a second one; reads the hubs' global metrics
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { hubArgs } from '../fed/hub.js';
import { kubectl } from '../fed/kubectl.js';
import { fedDir } from '../fed/paths.js';
import { freePort, readState, startProcess, stopProcesses, writeState } from '../fed/procs.js';
import { probe } from '../fed/probe.js';
import { eventually, unique } from './support.js';

const ns = unique('leader');

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

const holder = async () =>
  (
    await kubectl('karmada', [
      'get',
      'lease',
      '-n',
      'karmada-system',
      'stateful-migration-hub',
      '-o',
      'jsonpath={.spec.holderIdentity}',
    ])
  ).trim();

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
  after(async () => {
    const s = readState()!;
    const extra = s.procs.filter((p) => p.name === second);
    await stopProcesses(extra);
    s.procs = s.procs.filter((p) => p.name !== second);
    writeState(s);
    await kubectl('karmada', ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it('only the Lease holder writes; when it stops, the standby takes over', async () => {
    await kubectl('karmada', ['create', 'namespace', ns]);
    const state = readState()!;
    const firstPort = state.ports.hub!;
    const port = await freePort(second);
    startProcess(state, second, process.execPath, hubArgs(join(fedDir, 'hub', 'kubeconfig'), port, second), {
      port,
    });
    writeState(state);
    await eventually(() => probe(`http://127.0.0.1:${port}/readyz`), 30_000, 'the second hub ready');

    assert.equal(await holder(), 'hub-0');
    assert.equal(await metric(firstPort, 'hub_leader'), 1);
    assert.equal(await metric(port, 'hub_leader'), 0);
    await unplaceable('one');
    assert.ok((await metric(firstPort, 'hub_writes_total')) > 0);
    assert.equal(await metric(port, 'hub_writes_total'), 0, 'the standby wrote nothing');
    assert.equal(await metric(port, 'hub_reconciles_total'), 0, 'the standby reconciled nothing');

    // The leader stops (and frees the Lease); the standby takes over and serves new objects.
    const s = readState()!;
    const first = s.procs.find((p) => p.name === 'hub')!;
    await stopProcesses([first]);
    try {
      await eventually(
        async () => (await holder()) === second || undefined,
        30_000,
        'the standby holding the Lease',
      );
      assert.equal(await metric(port, 'hub_leader'), 1);
      await unplaceable('two');
      assert.ok((await metric(port, 'hub_writes_total')) > 0);
    } finally {
      const now = readState()!;
      now.procs = now.procs.filter((p) => p.name !== 'hub');
      startProcess(now, 'hub', first.exe, first.args!, { port: firstPort });
      writeState(now);
      await eventually(() => probe(`http://127.0.0.1:${firstPort}/readyz`), 30_000, 'hub-0 back');
    }
    // Restarted, hub-0 stands by while the other leads.
    assert.equal(await metric(firstPort, 'hub_leader'), 0);
  });
});
