// suite: shares — own namespace on Karmada
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { kubectl } from '../fed/kubectl.js';
import { kubeconfigPath } from '../fed/paths.js';
import { kubectlWithPlugin, pluginDir } from './plugin-support.js';
import { unique } from './support.js';

/**
 * The CLI as a kubectl plugin, run by the federation's own kubectl binary: found on PATH, given its arguments and
 * environment as they are, and reading kubeconfigs, contexts and namespaces as kubectl does. (The migration itself
 * through the plugin is in real-runtime.e2e.test.ts.)
 */
const ns = unique('plugin');

describe('kubectl stateful-migration: the CLI as a kubectl plugin', () => {
  before(() => kubectl('karmada', ['create', 'namespace', ns]));
  after(() => kubectl('karmada', ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined));

  it('kubectl finds it on PATH (kubectl plugin list) and its --help explains restore, Migrate and the exit codes', async () => {
    const list = await kubectlWithPlugin(['plugin', 'list']);
    assert.match(list.stdout, new RegExp(`${join(pluginDir, 'kubectl-stateful_migration')}`));
    const help = await kubectlWithPlugin(['stateful-migration', 'restore', '--help']);
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: kubectl stateful-migration restore \[options\] <backup>/);
    assert.match(help.stdout, /--to <cluster>/);
    assert.match(help.stdout, /Migrate \(--migrate\): a fresh checkpoint of the source is taken now/);
    assert.match(help.stdout, /Exit status \(with --wait\): 0 once Restored/);
  });

  it('KUBECONFIG of two files merged as kubectl does, --context picks the Karmada apiserver, -n the namespace; --wait ends with exit 1 and the reason', async () => {
    // member1's file first: its current-context wins, and member1 has no CheckpointRestore API.
    const env = { KUBECONFIG: [kubeconfigPath('member1'), kubeconfigPath('karmada')].join(delimiter) };
    const args = ['stateful-migration', 'restore', 'no-such-backup', '--to', 'member2', '--wait', '-n', ns];
    const wrong = await kubectlWithPlugin(args, env);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /restore: HTTP 404/);
    const ran = await kubectlWithPlugin([...args, '--context', 'karmada', '--name', 'r1'], env);
    assert.equal(ran.code, 1, ran.stdout + ran.stderr);
    assert.match(
      ran.stdout,
      /checkpointrestore.migration.dcnlab.com\/r1 created: Restore of CheckpointBackup no-such-backup/,
    );
    assert.match(ran.stdout, /Z {2}Failed: CheckpointBackup .*no-such-backup does not exist/);
    assert.match(ran.stderr, /CheckpointRestore .*\/r1 failed \(BackupNotFound\)/);
    assert.equal(
      await kubectl('karmada', ['get', 'cpr', 'r1', '-n', ns, '-o', 'jsonpath={.status.reason}']),
      'BackupNotFound',
    );
  });

  it('the apiserver validates what it creates: an invalid name is refused with its message, exit non-zero', async () => {
    const home = mkdtempSync(join(tmpdir(), 'plugin-home-'));
    // ~/.kube/config, when neither --kubeconfig nor KUBECONFIG says otherwise
    const kube = join(home, '.kube');
    mkdirSync(kube);
    copyFileSync(kubeconfigPath('karmada'), join(kube, 'config'));
    const ran = await kubectlWithPlugin(
      ['stateful-migration', 'restore', 'b', '--to', 'member2', '--name', 'Not_A_Name', '-n', ns],
      { HOME: home },
    );
    assert.notEqual(ran.code, 0);
    assert.match(ran.stderr, /restore: HTTP 422: .*Not_A_Name/);
  });
});
