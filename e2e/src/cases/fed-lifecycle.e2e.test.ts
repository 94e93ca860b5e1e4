// suite: alone — brings a second whole federation up and down (~3 GB, both cores busy for a minute)
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { eventually } from '@stateful-migration/kube/testing';
import { ensurePki } from '../fed/certs.js';
import { CHART_HUB_ENV } from '../fed/chart-hub.js';
import { CHART_PODS_ENV } from '../fed/chart-pods.js';
import { binary, repoRoot } from '../fed/paths.js';
import { probe } from '../fed/probe.js';
import { childPid, procStat, restarts, type FedState } from '../fed/procs.js';

const fedDir = mkdtempSync(join(tmpdir(), 'fed-life-'));
const fed = (cmd: string) => {
  const r = spawnSync(process.execPath, [join(repoRoot, 'e2e/dist/fed/cli.js'), cmd], {
    // The second federation runs no chart pods even when the suite's does (a run with FED_CHART_HUB and
    // FED_CHART_PODS): this case is about fed's own lifecycle, and its counts (one container at down) are of the
    // plain federation's processes and of the one pod it starts.
    env: { ...process.env, FED_DIR: fedDir, [CHART_PODS_ENV]: '', [CHART_HUB_ENV]: '' },
    encoding: 'utf8',
  });
  return { out: r.stdout + r.stderr, status: r.status };
};

it('fed up, up again, status, down and down again: idempotent, and down leaves no process behind', async () => {
  const first = fed('up');
  assert.equal(first.status, 0, first.out);
  assert.match(first.out, /^ {2}total +\d+\.\d s$/m, 'prints the total time to ready');
  const state = JSON.parse(readFileSync(join(fedDir, 'state.json'), 'utf8')) as FedState;
  assert.match(first.out, new RegExp(`^fed: ${state.procs.length} processes, total RSS \\d+ MiB$`, 'm'));
  const pids = state.procs.map((p) => p.pid);
  // Each node has its own loopback address (ADR 0011): on lo while up, the Node's InternalIP, gone after down.
  const onLo = () => execFileSync('ip', ['-o', '-4', 'addr', 'show', 'dev', 'lo'], { encoding: 'utf8' });
  const addresses = Object.values(state.extra?.nodeAddresses as Record<string, string>);
  assert.equal(addresses.length, 4);
  assert.equal(new Set(addresses).size, 4);
  for (const a of addresses) {
    assert.match(a, /^127\.\d+\.[1-4]\.1$/);
    assert.ok(onLo().includes(` ${a}/32 `), `${a} is on lo`);
  }

  const again = fed('up');
  assert.equal(again.status, 0);
  assert.match(again.out, /^fed: already up since /m);
  assert.equal(fed('status').status, 0);

  // A control-plane process that dies is started again, as a node's kubelet restarts a static pod: member1's
  // kube-scheduler (the process itself, not its supervisor) killed, then answering /healthz again as a new process.
  const scheduler = state.procs.find((p) => p.name === 'member1-kube-scheduler')!;
  const killed = childPid(scheduler)!;
  assert.ok(killed, 'the scheduler runs under its supervisor');
  assert.match(readFileSync(`/proc/${killed}/cmdline`, 'utf8'), /kube-scheduler/);
  process.kill(killed, 'SIGKILL');
  const healthz = `https://127.0.0.1:${state.ports['member1-kube-scheduler']}/healthz`;
  const pki = ensurePki(join(fedDir, 'pki'));
  const restarted = await eventually(
    async () => {
      const pid = childPid(scheduler);
      return pid !== undefined && pid !== killed && (await probe(healthz, pki)) ? pid : undefined;
    },
    60_000,
    'member1-kube-scheduler started again and healthy',
  );
  assert.match(readFileSync(`/proc/${restarted}/cmdline`, 'utf8'), /kube-scheduler/);
  assert.equal(restarts(scheduler), 1);
  assert.match(
    readFileSync(scheduler.log, 'utf8'),
    /fed-supervise: \S+kube-scheduler exited \(signal KILL\) after \d+s; starting it again in 1s \(restart 1\)/,
  );
  const status = fed('status');
  assert.equal(status.status, 0, status.out);
  assert.match(
    status.out,
    new RegExp(`^ {2}member1-kube-scheduler +pid ${restarted} +restarts 1 +running`, 'm'),
  );
  assert.match(status.out, new RegExp(`^ {2}member2-kube-scheduler +pid \\d+ +restarts 0 +running`, 'm'));

  // A pod running on a node: its container (runc under conmon, outside the recorded processes) must end too.
  const kubeconfig = join(fedDir, 'member1-config');
  execFileSync(binary('kubectl'), ['--kubeconfig', kubeconfig, 'apply', '-f', '-'], {
    input: `apiVersion: v1
kind: Pod
metadata: {name: life, namespace: default}
spec:
  nodeName: m1-a
  containers: [{name: c, image: busybox, command: [sleep, '3600']}]
`,
  });
  const conmons = () =>
    readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .filter((d) => {
        try {
          const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
          return cmd.startsWith('conmon') && cmd.includes(fedDir);
        } catch {
          return false;
        }
      });
  for (let i = 0; i < 100 && conmons().length === 0; i++) execFileSync('sleep', ['0.2']);
  assert.equal(conmons().length, 1, 'the pod runs under conmon');

  // Every process down has to stop: the recorded ones (supervisors included) and the processes they supervise.
  const children = state.procs.map(childPid).filter((pid) => pid !== undefined);
  assert.equal(
    children.length,
    state.procs.filter((p) => p.supervisor).length,
    'every supervised process runs',
  );
  assert.match(fed('down').out, new RegExp(`^fed: stopped ${pids.length} processes and 1 containers$`, 'm'));
  for (let i = 0; i < 50 && conmons().length > 0; i++) execFileSync('sleep', ['0.1']);
  assert.deepEqual(conmons(), [], 'no container survives down');
  // A zombie waiting for its new parent to reap it runs nothing; only live states count.
  const live = (pid: number) => (procStat(pid)?.state ?? 'Z') !== 'Z';
  assert.deepEqual(pids.filter(live), [], 'no recorded process survives down');
  assert.deepEqual(children.filter(live), [], 'no supervised process survives down');
  const groups = new Set(pids);
  const inGroups = readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => groups.has(procStat(pid)?.pgrp ?? 0) && live(pid));
  assert.deepEqual(inGroups, [], 'nothing is left in the process groups of the recorded processes');
  for (const a of addresses) assert.ok(!onLo().includes(` ${a}/32 `), `${a} was removed from lo`);
  assert.match(fed('down').out, /^fed: nothing to stop$/m);
  assert.equal(fed('status').status, 1);
});
