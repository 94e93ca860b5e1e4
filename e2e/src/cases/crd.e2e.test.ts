import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { kubectl } from '../fed/kubectl.js';
import { repoRoot } from '../fed/paths.js';
import { unique } from './support.js';

const examples = join(repoRoot, 'examples/checkpointbackup');
const ns = unique('crd');

describe('the CheckpointBackup CRD on a real apiserver', () => {
  before(async () => {
    await kubectl('member1', ['apply', '-f', join(repoRoot, 'deploy/crds/checkpointbackups.yaml')]);
    await kubectl('member1', [
      'wait',
      '--for=condition=Established',
      'crd/checkpointbackups.migration.dcnlab.com',
    ]);
    await kubectl('member1', ['create', 'namespace', ns]);
  });
  after(async () => {
    await kubectl('member1', ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it('accepts the manifests users already have (seed 000 and 002) unchanged', async () => {
    for (const f of readdirSync(examples)) {
      // The examples name namespace default; the same documents go into a scratch namespace here.
      const doc = readFileSync(join(examples, f), 'utf8').replace(/namespace: default/g, `namespace: ${ns}`);
      await kubectl('member1', ['apply', '-n', ns, '-f', '-'], doc);
    }
    const names = (await kubectl('member1', ['get', 'cpb', '-n', ns, '-o', 'name']))
      .trim()
      .split('\n')
      .sort();
    assert.deepEqual(names, [
      'checkpointbackup.migration.dcnlab.com/db-hourly',
      'checkpointbackup.migration.dcnlab.com/encrypted-checkpoint',
      'checkpointbackup.migration.dcnlab.com/localhost-checkpoint',
      'checkpointbackup.migration.dcnlab.com/localhost-checkpoint-stop',
      'checkpointbackup.migration.dcnlab.com/registry-checkpoint',
      'checkpointbackup.migration.dcnlab.com/scheduled-checkpoint-stop',
      'checkpointbackup.migration.dcnlab.com/simple-checkpoint',
    ]);
  });

  it('prints Phase, Clusters (the hub aggregate), Replicas (a workload-level object), Schedule, Last Checkpoint and Age; -o wide adds Node and the workload', async () => {
    const header = (await kubectl('member1', ['get', 'checkpointbackups', '-n', ns])).split('\n')[0] ?? '';
    assert.match(header, /^NAME\s+PHASE\s+CLUSTERS\s+REPLICAS\s+SCHEDULE\s+LAST CHECKPOINT\s+AGE$/);
    const wide =
      (await kubectl('member1', ['get', 'checkpointbackups', '-n', ns, '-o', 'wide'])).split('\n')[0] ?? '';
    assert.match(
      wide,
      /^NAME\s+PHASE\s+CLUSTERS\s+REPLICAS\s+SCHEDULE\s+LAST CHECKPOINT\s+AGE\s+NODE\s+KIND\s+WORKLOAD$/,
    );
  });

  it('refuses an object without podRef.name, naming the field', async () => {
    const bad = `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: bad, namespace: ${ns}}
spec: {schedule: immediately, podRef: {}, resourceRef: {name: x}}
`;
    await assert.rejects(kubectl('member1', ['apply', '-f', '-'], bad), /spec\.podRef\.name: Required value/);
  });

  it('keeps spec.retention as written (quantities and MiB integers) and refuses a size that is neither', async () => {
    const kept = JSON.parse(
      await kubectl('member1', ['get', 'cpb', 'db-hourly', '-n', ns, '-o', 'jsonpath={.spec.retention}']),
    ) as Record<string, unknown>;
    assert.equal(kept.maxTotalSizePerContainer, '20Gi');
    assert.equal(kept.maxCheckpointsPerContainer, 24);
    const bad = (field: string, v: string) => `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: badsize, namespace: ${ns}}
spec: {schedule: immediately, podRef: {name: x}, resourceRef: {name: x}, retention: {${field}: ${v}}}
`;
    await assert.rejects(
      kubectl('member1', ['apply', '-f', '-'], bad('maxTotalSizePerPod', '"lots"')),
      /spec\.retention\.maxTotalSizePerPod in body should match/,
    );
    await assert.rejects(
      kubectl('member1', ['apply', '-f', '-'], bad('maxCheckpointsPerContainer', '-1')),
      /spec\.retention\.maxCheckpointsPerContainer in body should be greater than or equal to 0/,
    );
  });

  it('keeps status apart from spec: a status phase outside the ten is refused', async () => {
    const patch = JSON.stringify({ status: { phase: 'Done' } });
    await assert.rejects(
      kubectl('member1', [
        'patch',
        'cpb',
        'simple-checkpoint',
        '-n',
        ns,
        '--subresource=status',
        '--type=merge',
        '-p',
        patch,
      ]),
      /Unsupported value: "Done"/,
    );
  });

  it("deploy/'s namespace, RBAC and DaemonSet are valid for a real apiserver (server-side dry run)", async () => {
    const files = ['namespace.yaml', 'rbac.yaml', 'daemonset.yaml', 'registry-credentials-secret.yaml'].map(
      (f) => join(repoRoot, 'deploy', f),
    );
    const out = await kubectl('member1', ['apply', '--dry-run=server', ...files.flatMap((f) => ['-f', f])]);
    assert.match(
      out,
      /daemonset\.apps\/checkpoint-backup-controller (created|configured|unchanged) \(server dry run\)/,
    );
  });

  it("deploy/hub's Deployment is valid for the host cluster, its RBAC and examples/hub for Karmada (server-side dry run)", async () => {
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: karmada-system}\n',
    );
    const cases: [string, string, RegExp][] = [
      ['member1', 'deploy/hub/deployment.yaml', /deployment\.apps\/stateful-migration-hub/],
      [
        'karmada',
        'deploy/hub/rbac.yaml',
        /clusterrole\.rbac\.authorization\.k8s\.io\/stateful-migration-hub/,
      ],
      ['karmada', 'examples/hub', /checkpointbackup\.migration\.dcnlab\.com\/db-now/],
    ];
    for (const [cluster, path, created] of cases) {
      const out = await kubectl(cluster, ['apply', '--dry-run=server', '-f', join(repoRoot, path)]);
      assert.match(out, new RegExp(`${created.source} (created|configured|unchanged) \\(server dry run\\)`));
    }
  });
});
