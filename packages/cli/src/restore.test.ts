import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describe, it } from 'node:test';
import {
  RESTORE_PHASES,
  type CheckpointRestore,
  type CheckpointRestoreStatus,
  type RestorePhase,
} from '@stateful-migration/api';
import { tempDir } from '@stateful-migration/kube/testing';
import { kubeconfigFiles, kubectlConfig, mergeKubeconfigs } from './kubeconfig.js';
import { outcome, parseDuration, progressLine, restoreObject, type RestoreFlags } from './restore.js';

const flags = (over: Partial<RestoreFlags> = {}): RestoreFlags => ({
  to: 'member2',
  migrate: false,
  wait: false,
  timeout: '15m',
  ...over,
});

describe('restoreObject: the CheckpointRestore the command creates', () => {
  it('a copy by default, with a generated name', () =>
    assert.deepEqual(restoreObject('web', 'shop', flags()), {
      apiVersion: 'migration.dcnlab.com/v1',
      kind: 'CheckpointRestore',
      metadata: { generateName: 'web-restore-', namespace: 'shop' },
      spec: { backupRef: { name: 'web' }, targetCluster: 'member2', mode: 'Restore' },
    }));

  it('--migrate, --node, --name, --pod-name', () =>
    assert.deepEqual(
      restoreObject(
        'web',
        'shop',
        flags({ migrate: true, node: 'm2-a', name: 'move', podName: 'web-moved' }),
      ),
      {
        apiVersion: 'migration.dcnlab.com/v1',
        kind: 'CheckpointRestore',
        metadata: { name: 'move', namespace: 'shop' },
        spec: {
          backupRef: { name: 'web' },
          targetCluster: 'member2',
          targetNode: 'm2-a',
          mode: 'Migrate',
          podName: 'web-moved',
        },
      },
    ));

  it('a long backup name leaves room for the generated suffix', () =>
    assert.equal(
      (
        restoreObject('b'.repeat(80), 'shop', flags({ migrate: true })).metadata as unknown as {
          generateName: string;
        }
      ).generateName,
      `${'b'.repeat(40)}-migrate-`,
    ));
});

const at = (mode: 'Restore' | 'Migrate', status: CheckpointRestoreStatus | undefined): CheckpointRestore => ({
  apiVersion: 'migration.dcnlab.com/v1',
  kind: 'CheckpointRestore',
  metadata: { name: 'move', namespace: 'shop' },
  spec: { backupRef: { name: 'web' }, mode },
  ...(status ? { status } : {}),
});

describe('progressLine: one line per change of phase or message', () => {
  it('no status yet is Pending; the same again prints nothing; a new message prints', () => {
    const first = progressLine(undefined, at('Migrate', undefined));
    assert.equal(first, 'Pending');
    assert.equal(progressLine(first, at('Migrate', {})), undefined);
    const c = progressLine(
      first,
      at('Migrate', { phase: 'Checkpointing', message: 'checkpointing pod web-1' }),
    );
    assert.equal(c, 'Checkpointing: checkpointing pod web-1');
    assert.equal(
      progressLine(
        c,
        at('Migrate', { phase: 'Checkpointing', message: 'checkpointing pod web-1: ImagePushed' }),
      ),
      'Checkpointing: checkpointing pod web-1: ImagePushed',
    );
  });
});

describe('outcome: when --wait ends, and with which exit code', () => {
  const table: Record<'Restore' | 'Migrate', Partial<Record<RestorePhase, 0 | 1>>> = {
    Restore: { Restored: 0, SourceStopped: 0, RolledBack: 0, Failed: 1 },
    Migrate: { SourceStopped: 0, RolledBack: 0, Failed: 1 },
  };
  for (const mode of ['Restore', 'Migrate'] as const)
    for (const phase of RESTORE_PHASES)
      it(`${mode} at ${phase}: ${table[mode][phase] === undefined ? 'goes on waiting' : `exit ${table[mode][phase]}`}`, () => {
        const o = outcome(at(mode, { phase, reason: 'R', message: 'm' }));
        const want = table[mode][phase];
        assert.equal(o.done, want !== undefined);
        if (o.done) assert.equal(o.exitCode, want);
      });

  it('says what each mode guarantees about state, and a failure with its reason and message', () => {
    const pod = { cluster: 'member2', namespace: 'shop', name: 'web-moved' };
    const m = outcome(
      at('Migrate', {
        phase: 'SourceStopped',
        restoredPod: pod,
        checkpoint: {
          backup: 'move-migrate',
          cluster: 'member1',
          pod: 'web-1',
          targetCluster: 'member2',
          requestedTime: 't0',
          checkpointTime: '2026-12-01T10:00:00Z',
        },
      }),
    );
    assert.equal(
      m.done && m.summary,
      'CheckpointRestore shop/move migrated: shop/web-moved runs in member2 with the state its source had when it stopped (checkpoint 2026-12-01T10:00:00Z)',
    );
    const r = outcome(at('Restore', { phase: 'Restored', restoredPod: pod }));
    assert.match(
      r.done ? r.summary : '',
      /restored: .* with the state of the backup’s checkpoint; the source keeps running$/,
    );
    const f = outcome(
      at('Migrate', { phase: 'Failed', reason: 'TargetCannotRestore', message: 'node m2-b ...' }),
    );
    assert.equal(
      f.done && f.summary,
      'CheckpointRestore shop/move failed (TargetCannotRestore): node m2-b ...',
    );
  });
});

describe('parseDuration', () => {
  for (const [v, ms] of [
    ['0', 0],
    ['90', 90_000],
    ['90s', 90_000],
    ['10m', 600_000],
    ['1h30m', 5_400_000],
    ['1h', 3_600_000],
  ] as const)
    it(`${v} is ${ms} ms`, () => assert.equal(parseDuration(v), ms));
  for (const v of ['', 'soon', '10 m', '-1', '1d'])
    it(`"${v}" is not a duration`, () => assert.equal(parseDuration(v), undefined));
});

describe('kubeconfig as kubectl reads it', () => {
  const dir = tempDir('kubeconfig-');
  const file = (name: string, cluster: string, server: string, current: string, ns?: string) => {
    const path = join(dir, name);
    writeFileSync(
      path,
      `apiVersion: v1
kind: Config
clusters: [{name: ${cluster}, cluster: {server: "${server}"}}]
users: [{name: ${cluster}-user, user: {token: t}}]
contexts: [{name: ${cluster}, context: {cluster: ${cluster}, user: ${cluster}-user${ns ? `, namespace: ${ns}` : ''}}}]
current-context: "${current}"
`,
    );
    return path;
  };
  const a = file('a', 'member1', 'https://m1:6443', 'member1');
  const b = file('b', 'karmada', 'https://karmada:5443', 'karmada', 'shop');
  const dup = file('dup', 'member1', 'https://elsewhere:1', '');

  it('the files: --kubeconfig alone, else every file of $KUBECONFIG, else ~/.kube/config or none', () => {
    assert.deepEqual(kubeconfigFiles('/x', `${a}${delimiter}${b}`, dir), ['/x']);
    assert.deepEqual(kubeconfigFiles(undefined, `${a}${delimiter}${delimiter}${b}`, dir), [a, b]);
    assert.equal(kubeconfigFiles(undefined, undefined, dir), undefined);
  });

  it('$KUBECONFIG merged: the first current-context wins, the first of a name wins, missing files skipped', () => {
    const env = { KUBECONFIG: [join(dir, 'missing'), a, dup, b].join(delimiter) };
    const { kc, namespace } = kubectlConfig({}, env);
    assert.equal(kc.getCurrentContext(), 'member1');
    assert.equal(kc.getCurrentCluster()?.server, 'https://m1:6443');
    assert.equal(namespace, 'default');
    const other = kubectlConfig({ context: 'karmada' }, env);
    assert.equal(other.kc.getCurrentCluster()?.server, 'https://karmada:5443');
    assert.equal(other.namespace, 'shop', "the context's namespace");
    assert.equal(kubectlConfig({ context: 'karmada', namespace: 'x' }, env).namespace, 'x', '-n wins');
  });

  it('--kubeconfig wins over $KUBECONFIG; an unknown --context or a missing --kubeconfig is an error', () => {
    assert.equal(kubectlConfig({ kubeconfig: b }, { KUBECONFIG: a }).kc.getCurrentContext(), 'karmada');
    assert.throws(
      () => kubectlConfig({ context: 'nope' }, { KUBECONFIG: a }),
      /context was not found .*nope/,
    );
    assert.throws(() => kubectlConfig({ kubeconfig: join(dir, 'missing') }), /no such file/);
  });

  it('mergeKubeconfigs keeps the first of each name', () => {
    const m = mergeKubeconfigs([
      { clusters: [{ name: 'c', server: 's1' }], users: [], contexts: [], currentContext: '' },
      { clusters: [{ name: 'c', server: 's2' }], users: [], contexts: [], currentContext: 'x' },
    ] as unknown as Parameters<typeof mergeKubeconfigs>[0]);
    assert.deepEqual(m.clusters, [{ name: 'c', server: 's1' }]);
    assert.equal(m.currentContext, 'x');
  });
});
