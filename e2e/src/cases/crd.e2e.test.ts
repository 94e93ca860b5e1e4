// suite: alone — re-applies the CheckpointBackup CRD that every case uses in member1
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chartHubNode } from '../fed/chart-hub.js';
import { memberOf } from '../fed/chart-pods.js';
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

  it('prints Phase, Clusters (the hub aggregate), Replicas (a workload-level object), Schedule, Last Checkpoint and Age; -o wide adds Node, the workload and the failover opt-in', async () => {
    const header = (await kubectl('member1', ['get', 'checkpointbackups', '-n', ns])).split('\n')[0] ?? '';
    assert.match(header, /^NAME\s+PHASE\s+CLUSTERS\s+REPLICAS\s+SCHEDULE\s+LAST CHECKPOINT\s+AGE$/);
    const wide =
      (await kubectl('member1', ['get', 'checkpointbackups', '-n', ns, '-o', 'wide'])).split('\n')[0] ?? '';
    assert.match(
      wide,
      /^NAME\s+PHASE\s+CLUSTERS\s+REPLICAS\s+SCHEDULE\s+LAST CHECKPOINT\s+AGE\s+NODE\s+KIND\s+WORKLOAD\s+FAILOVER MAX AGE\s+LAST FAILOVER$/,
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

  it('spec.keepState: defaults filled in, bounds and the three rules refused with their messages (issue 16)', async () => {
    const doc = (name: string, spec: string) => `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: ${name}, namespace: ${ns}}
spec:
  resourceRef: {apiVersion: apps/v1, kind: StatefulSet, name: db}
  registry: {url: reg.example.com, repository: ${ns}/cp, secretRef: {name: s}}
${spec}`;
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      doc('keep', `  schedule: "*/5 * * * *"\n  keepState: {eviction: {}, clusterFailover: {}}\n`),
    );
    const kept = JSON.parse(
      await kubectl('member1', ['get', 'cpb', 'keep', '-n', ns, '-o', 'jsonpath={.spec.keepState}']),
    ) as unknown;
    assert.deepEqual(kept, { eviction: { timeoutSeconds: 120 }, clusterFailover: { maxAgeSeconds: 900 } });
    const refused: [string, RegExp][] = [
      [
        `  schedule: immediately\n  keepState: {clusterFailover: {}}\n`,
        /spec\.keepState\.clusterFailover needs a cron spec\.schedule/,
      ],
      [`  schedule: " immediately "\n  keepState: {clusterFailover: {}}\n`, /needs a cron spec\.schedule/],
      [
        `  schedule: "*/5 * * * *"\n  podRef: {name: db-0}\n  keepState: {eviction: {}}\n`,
        /spec\.keepState is for a workload-level backup/,
      ],
      [
        `  schedule: "*/5 * * * *"\n  keepState: {}\n`,
        /spec\.keepState in body should have at least 1 properties/,
      ],
      [
        `  schedule: "*/5 * * * *"\n  keepState: {clusterFailover: {maxAgeSeconds: 59}}\n`,
        /maxAgeSeconds in body should be greater than or equal to 60/,
      ],
      [
        `  schedule: "*/5 * * * *"\n  keepState: {eviction: {timeoutSeconds: 3601}}\n`,
        /timeoutSeconds in body should be less than or equal to 3600/,
      ],
    ];
    for (const [spec, why] of refused)
      await assert.rejects(kubectl('member1', ['apply', '-f', '-'], doc('refused', spec)), why);
    const noRegistry = doc('refused', `  schedule: "*/5 * * * *"\n  keepState: {eviction: {}}\n`).replace(
      /^ {2}registry: .*\n/m,
      '',
    );
    await assert.rejects(
      kubectl('member1', ['apply', '-f', '-'], noRegistry),
      /spec\.keepState needs spec\.registry/,
    );
    // "immediately" is fine for the drain opt-in alone: each eviction takes its own fresh checkpoint.
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      doc('drain-only', `  schedule: immediately\n  keepState: {eviction: {timeoutSeconds: 30}}\n`),
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
    // A host cluster without the hub: on a --chart-hub federation one member runs the hub release's Deployment of the
    // same name, whose selector (its release's instance label) deploy/'s could not change, so the dry run goes to
    // the other member, a host cluster before its installation, as the Deployment is checked for.
    const hubNode = chartHubNode();
    const host = hubNode && memberOf(hubNode) === 'member1' ? 'member2' : 'member1';
    await kubectl(
      host,
      ['apply', '-f', '-'],
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: karmada-system}\n',
    );
    const cases: [string, string, RegExp][] = [
      [host, 'deploy/hub/deployment.yaml', /deployment\.apps\/stateful-migration-hub/],
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
