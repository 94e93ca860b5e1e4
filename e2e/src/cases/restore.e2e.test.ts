import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { CheckpointBackup, CheckpointRestore } from '@stateful-migration/api';
import { byDigest } from '@stateful-migration/restore';
import { restartHub } from '../fed/hub.js';
import { kubectl } from '../fed/kubectl.js';
import {
  exists as existsIn,
  getBackup,
  registryInfo,
  registrySecretYaml,
  runningPod,
} from './agent-support.js';
import { podState } from './restore-support.js';
import { eventually, reasonsWhen, unique } from './support.js';

const ns = unique('restore');
const secret = 'push-creds';
const hub = (args: string[], input?: string) => kubectl('karmada', args, input);

/** A Deployment on the hub, propagated to member1 and pinned to m1-a, with containers app and side. */
const deployment = (name: string) => `apiVersion: apps/v1
kind: Deployment
metadata: {name: ${name}, namespace: ${ns}}
spec:
  replicas: 1
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}, tier: web}}
    spec:
      nodeSelector: {kubernetes.io/hostname: m1-a}
      containers:
      - {name: app, image: "registry.local/app:1", ports: [{containerPort: 8080}], env: [{name: MODE, value: prod}]}
      - {name: side, image: "registry.local/side:1"}
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: ${name}, namespace: ${ns}}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment, name: ${name}}]
  placement: {clusterAffinity: {clusterNames: [member1]}}
`;

const backupYaml = (
  name: string,
  pod: string,
  workload: string,
  extra = '',
  kind = 'apps/v1, kind: Deployment',
) => `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: ${name}, namespace: ${ns}}
spec:
  schedule: immediately
  podRef: {name: ${pod}}
  resourceRef: {apiVersion: ${kind}, name: ${workload}}
${extra}`;

/** A bare Pod on the hub, propagated to member1. */
const barePod = (name: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${ns}, labels: {app: ${name}}}
spec:
  nodeSelector: {kubernetes.io/hostname: m1-b}
  containers: [{name: app, image: "registry.local/app:1"}]
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: ${name}, namespace: ${ns}}
spec:
  resourceSelectors: [{apiVersion: v1, kind: Pod, name: ${name}}]
  placement: {clusterAffinity: {clusterNames: [member1]}}
`;

const registry = () =>
  `  registry: {url: "${registryInfo().url}", repository: restore/${ns}, secretRef: {name: ${secret}}}\n`;

const restoreYaml = (name: string, backup: string, spec: string) => `apiVersion: migration.dcnlab.com/v1
kind: CheckpointRestore
metadata: {name: ${name}, namespace: ${ns}}
spec:
  backupRef: {name: ${backup}}
${spec}`;

const getRestore = async (name: string): Promise<CheckpointRestore> =>
  JSON.parse(await hub(['get', 'cpr', name, '-n', ns, '-o', 'json'])) as CheckpointRestore;

function waitRestore(name: string, phases: string[], ms = 120_000): Promise<CheckpointRestore> {
  return eventually(
    async () => {
      const r = await getRestore(name);
      return r.status?.phase && phases.includes(r.status.phase) ? r : undefined;
    },
    ms,
    `${name} to reach ${phases.join('|')}`,
  );
}

function waitBackup(name: string): Promise<CheckpointBackup> {
  return eventually(
    async () => {
      const b = await getBackup('karmada', ns, name);
      const m1 = b.status?.clusters?.find((c) => c.name === 'member1');
      return m1?.phase &&
        ['Completed', 'Failed'].includes(m1.phase) &&
        (m1.phase === 'Failed' || m1.checkpointedPod)
        ? b
        : undefined;
    },
    120_000,
    `${name} to finish in member1 and show on the hub`,
  );
}

/** The restore's Event reasons on the hub once those wanted are there (Events are written after the status). */
const events = (name: string, ...want: string[]) => reasonsWhen('karmada', ns, name, want);

type LivePod = {
  metadata: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    nodeName?: string;
    containers: { name: string; image: string; volumeMounts?: { mountPath: string }[]; env?: unknown[] }[];
  };
};
const livePod = async (cluster: string, name: string): Promise<LivePod> =>
  JSON.parse(await kubectl(cluster, ['get', 'pod', name, '-n', ns, '-o', 'json'])) as LivePod;

const exists = (cluster: string, args: string[]) => existsIn(cluster, ns, args);

describe('restore: a checkpoint taken in member1 is brought back in member2 through Karmada', () => {
  const pods: Record<string, string> = {};
  before(async () => {
    const user = registryInfo().users[0]!;
    await hub(['create', 'namespace', ns]);
    await hub(
      ['apply', '-f', '-'],
      `${registrySecretYaml(ns, secret, user.username, user.password)}---
${['web', 'mig', 'crash', 'loc', 'part'].map(deployment).join('---\n')}---
${barePod('solo')}`,
    );
    // One pod per backup: two checkpoints of one container in the same second would share an archive name.
    for (const d of ['web', 'mig', 'crash', 'loc', 'part', 'solo'])
      pods[d] = await runningPod('member1', ns, d);
    await hub(
      ['apply', '-f', '-'],
      [
        backupYaml('web', pods.web!, 'web', registry()),
        backupYaml('mig', pods.mig!, 'mig', registry()),
        backupYaml('crash', pods.crash!, 'crash', registry()),
        // Only on the node: no registry.
        backupYaml('web-local', pods.loc!, 'loc'),
        backupYaml('solo', 'solo', 'solo', registry(), 'v1, kind: Pod'),
        // Only one of the two containers.
        backupYaml('web-app-only', pods.part!, 'part', `${registry()}  containers: [{name: app}]\n`),
      ].join('---\n'),
    );
    for (const b of ['web', 'mig', 'crash', 'web-local', 'web-app-only', 'solo']) {
      const got = await waitBackup(b);
      const m1 = got.status!.clusters!.find((c) => c.name === 'member1')!;
      assert.equal(m1.phase, 'Completed', `${b}: ${m1.message}`);
    }
  });
  after(async () => {
    // The crash case leaves the hub running with fault injection if it fails half-way.
    await restartHub();
    await hub(['delete', 'cluster', 'ghost', '--ignore-not-found', '--wait=false']).catch(() => undefined);
    await hub(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it('Restore mode: the pod runs in member2 on m2-a from the checkpoint images by digest; the source keeps running', async () => {
    await hub(
      ['apply', '-f', '-'],
      restoreYaml('copy', 'web', '  targetCluster: member2\n  targetNode: m2-a\n  mode: Restore\n'),
    );
    const r = await waitRestore('copy', ['Restored', 'Failed']);
    assert.equal(r.status?.phase, 'Restored', r.status?.message);
    assert.equal(r.status?.sourceCluster, 'member1');
    const { uid, ...where } = r.status!.restoredPod!;
    assert.deepEqual(where, {
      cluster: 'member2',
      namespace: ns,
      name: `${pods.web}-restored`,
      node: 'm2-a',
    });
    assert.ok(r.status?.restoredTime && r.status.completionTime);
    const name = r.status!.restoredPod!.name;
    assert.equal(
      uid,
      (await hub(['get', 'pod', name, '-n', ns, '-o', 'jsonpath={.metadata.uid}'])).trim(),
      'the uid of the pod it created on Karmada is recorded',
    );

    // The pod, as member2 has it.
    assert.equal(await podState('member2', ns, name), 'Running/Ready');
    const pod = await livePod('member2', name);
    assert.equal(pod.spec.nodeName, 'm2-a');
    const b = await getBackup('karmada', ns, 'web');
    const built = b.status!.clusters!.find((c) => c.name === 'member1')!.builtImages!;
    const source = await livePod('member1', pods.web!);
    assert.deepEqual(
      pod.spec.containers.map((c) => c.name),
      source.spec.containers.map((c) => c.name),
      'same container names',
    );
    for (const c of pod.spec.containers) {
      const img = built.find((i) => i.containerName === c.name && i.pushed)!;
      assert.equal(c.image, `${img.imageName.replace(/:[^:/]+$/, '')}@${img.digest}`, `${c.name} by digest`);
      const want = source.spec.containers.find((x) => x.name === c.name)!;
      assert.deepEqual(
        c.volumeMounts?.map((m) => m.mountPath),
        want.volumeMounts?.map((m) => m.mountPath),
        `${c.name}: the same mount paths`,
      );
    }
    // Literal env values are never in status (issue 11): the record has the name, the restored pod neither the
    // variable nor its value, and an annotation says the process has it from its checkpoint.
    const recorded = b.status!.clusters!.find((c) => c.name === 'member1')!.checkpointedPod!;
    assert.deepEqual(recorded.containers.find((c) => c.name === 'app')!.env, [{ name: 'MODE' }]);
    for (const c of recorded.containers)
      for (const e of c.env ?? [])
        assert.ok(!('value' in e), `no literal env value in the hub status: ${c.name}`);
    assert.equal(pod.spec.containers[0]!.env, undefined);
    assert.equal(pod.metadata.annotations?.['migration.dcnlab.com/env-from-checkpoint'], 'app=MODE');
    assert.deepEqual(
      r.status?.images?.map((i) => i.image),
      pod.spec.containers.map((c) => c.image),
    );
    // No Service could select both: none of the source's labels; annotations name where it came from.
    assert.equal(pod.metadata.labels?.app, undefined);
    assert.equal(pod.metadata.labels?.tier, undefined);
    assert.equal(pod.metadata.annotations?.['migration.dcnlab.com/source-cluster'], 'member1');
    assert.equal(pod.metadata.annotations?.['migration.dcnlab.com/source-pod'], `${ns}/${pods.web}`);
    assert.equal(pod.metadata.annotations?.['migration.dcnlab.com/backup'], `${ns}/web`);
    // The source still runs; the pull secret went to member2 only; the images are pinned on the backup.
    assert.equal(await podState('member1', ns, pods.web!), 'Running/Ready');
    assert.ok(await exists('member2', ['secret', 'copy-registry-pull']));
    assert.ok(!(await exists('member1', ['secret', 'copy-registry-pull'])));
    const pinned = (await getBackup('karmada', ns, 'web')).metadata.annotations?.[
      'migration.dcnlab.com/restore-pinned-images'
    ];
    for (const i of r.status!.images!) assert.ok(pinned?.split(',').includes(i.image), `${i.image} pinned`);
    // What users see.
    assert.match(
      await hub(['get', 'cpr', 'copy', '-n', ns, '--no-headers']),
      new RegExp(`^copy\\s+Restored\\s+Restore\\s+web\\s+member1\\s+member2\\s+${name}\\s+`),
    );
    // The wait is the assertion: it fails unless both Events come.
    await events('copy', 'RestoreSubmitted', 'Restored');
  });

  it('a localhost-only backup is refused: Failed, saying a registry is needed, with an Event', async () => {
    await hub(['apply', '-f', '-'], restoreYaml('from-local', 'web-local', '  targetCluster: member2\n'));
    const r = await waitRestore('from-local', ['Failed', 'Restored', 'RestoreSubmitted']);
    assert.equal(r.status?.phase, 'Failed');
    assert.equal(r.status?.reason, 'RegistryRequired');
    assert.match(r.status!.message!, /registry is needed/);
    await events('from-local', 'RegistryRequired');
    assert.ok(!(await exists('karmada', ['pod', `${pods.web}-restored-local`])));
  });

  it("a backup missing a container's image is refused, naming the container", async () => {
    await hub(
      ['apply', '-f', '-'],
      restoreYaml('partial', 'web-app-only', '  targetCluster: member2\n  podName: partial\n'),
    );
    const r = await waitRestore('partial', ['Failed', 'Restored', 'RestoreSubmitted']);
    assert.equal(r.status?.phase, 'Failed');
    assert.equal(r.status?.reason, 'MissingImage');
    assert.match(r.status!.message!, /container side .* no pushed checkpoint image/);
    assert.ok(!(await exists('karmada', ['pod', 'partial'])));
  });

  it('a target cluster that is not Ready is refused with its state', async () => {
    await hub(
      ['apply', '-f', '-'],
      `apiVersion: cluster.karmada.io/v1alpha1
kind: Cluster
metadata: {name: ghost}
spec: {syncMode: Push, apiEndpoint: "https://127.0.0.1:1"}
`,
    );
    await hub(
      ['apply', '-f', '-'],
      restoreYaml('to-ghost', 'web', '  targetCluster: ghost\n  podName: ghost-copy\n'),
    );
    const r = await waitRestore('to-ghost', ['Failed', 'Restored', 'RestoreSubmitted']);
    assert.equal(r.status?.phase, 'Failed');
    assert.equal(r.status?.reason, 'TargetClusterNotReady');
    assert.match(r.status!.message!, /target cluster ghost is not Ready/);
    assert.ok(!(await exists('karmada', ['pod', 'ghost-copy'])));
  });

  it('a restored pod that fails ends Failed with the kubelet reason', async () => {
    const b = await getBackup('karmada', ns, 'web');
    const side = b
      .status!.clusters!.find((c) => c.name === 'member1')!
      .builtImages!.find((i) => i.containerName === 'side')!;
    const sideImage = byDigest(side)!;
    // container app given side's checkpoint: CRI-O refuses to restore a checkpoint of another container. Validation
    // lets it through: spec.images may name any image this backup pushed (never one it did not, ImageNotOfBackup).
    await hub(
      ['apply', '-f', '-'],
      restoreYaml(
        'wrong',
        'web',
        `  targetCluster: member2\n  podName: wrong-copy\n  images: [{containerName: app, image: "${sideImage}"}]\n`,
      ),
    );
    const r = await waitRestore('wrong', ['Failed', 'Restored']);
    assert.equal(r.status?.phase, 'Failed');
    assert.equal(r.status?.reason, 'CreateContainerError');
    assert.match(
      r.status!.message!,
      /container app: CreateContainerError: .*holds container "side", not "app"/,
    );
    await events('wrong', 'CreateContainerError');
  });

  it('Migrate mode: a fresh checkpoint (the pod stopped right after it), the source Deployment scaled to 0 after the copy runs, and its labels move to the copy', async () => {
    await hub(
      ['apply', '-f', '-'],
      restoreYaml('move', 'mig', '  targetCluster: member2\n  mode: Migrate\n'),
    );
    const r = await waitRestore('move', ['SourceStopped', 'Failed']);
    assert.equal(r.status?.phase, 'SourceStopped', r.status?.message);
    // Restored from the migration's own checkpoint, never from the images the backup took earlier.
    assert.equal(r.status?.checkpoint?.backup, 'move-migrate');
    assert.equal(r.status?.checkpoint?.pod, pods.mig);
    const earlier = (await getBackup('karmada', ns, 'mig')).status!.clusters![0]!.builtImages!;
    const own = (await getBackup('karmada', ns, 'move-migrate')).status!.clusters!.find(
      (c) => c.name === 'member1',
    )!;
    assert.equal(own.phase, 'CompletedPodDeleted');
    for (const i of r.status!.images!) {
      assert.ok(!earlier.some((e) => byDigest(e) === i.image), `${i.image} is not of the earlier backup`);
      assert.ok(
        own.builtImages!.some((e) => byDigest(e) === i.image),
        `${i.image} is of the migration's`,
      );
    }
    assert.equal(r.status?.sourceStop?.method, 'Scale');
    assert.equal(r.status?.sourceStop?.onHub, true);
    assert.equal(r.status?.sourceStop?.workload?.replicas, 1);
    assert.ok(r.status?.sourceStop?.stoppedTime && r.status.sourceStop.labelsHandedOverTime);
    assert.equal(
      (await hub(['get', 'deploy', 'mig', '-n', ns, '-o', 'jsonpath={.spec.replicas}'])).trim(),
      '0',
    );
    await eventually(
      async () => ((await exists('member1', ['pod', pods.mig!])) ? undefined : true),
      60_000,
      'the source pod gone from member1',
    );
    const name = r.status!.restoredPod!.name;
    assert.equal(await podState('member2', ns, name), 'Running/Ready');
    const pod = await eventually(
      async () => {
        const p = await livePod('member2', name);
        return p.metadata.labels?.app === 'mig' ? p : undefined;
      },
      60_000,
      'the labels handed over in member2',
    );
    assert.equal(pod.metadata.labels?.tier, 'web');
    assert.equal(pod.metadata.labels?.['pod-template-hash'], undefined, 'the ReplicaSet cannot adopt it');
    await events(
      'move',
      'Checkpointing',
      'CheckpointRequested',
      'SourceCheckpointed',
      'Restored',
      'SourceStopping',
      'SourceStopped',
    );
  });

  it('Migrate mode for a bare pod: the pod (a template on the hub) is deleted once the copy runs', async () => {
    await hub(
      ['apply', '-f', '-'],
      restoreYaml('solo-move', 'solo', '  targetCluster: member2\n  mode: Migrate\n'),
    );
    const r = await waitRestore('solo-move', ['SourceStopped', 'Failed']);
    assert.equal(r.status?.phase, 'SourceStopped', r.status?.message);
    assert.equal(r.status?.sourceStop?.method, 'DeletePod');
    assert.equal(r.status?.sourceStop?.onHub, true);
    assert.ok(!(await exists('karmada', ['pod', 'solo'])), 'the hub template is gone');
    await eventually(
      async () => ((await exists('member1', ['pod', 'solo'])) ? undefined : true),
      60_000,
      'the source pod gone from member1',
    );
    const name = r.status!.restoredPod!.name;
    assert.equal(await podState('member2', ns, name), 'Running/Ready');
    await eventually(
      async () => ((await livePod('member2', name)).metadata.labels?.app === 'solo' ? true : undefined),
      60_000,
      'the labels handed over in member2',
    );
  });

  it('a hub killed mid-migration resumes from status: one checkpoint, one restored pod, the source stopped once', async () => {
    // Die right after recording Checkpointing (the migration's backup named, not created yet), then right after
    // RestoreSubmitted (nothing created yet), then right after Restored (the workload not yet scaled).
    let crashing = await restartHub({
      STATEFUL_MIGRATION_CRASH_AFTER: 'Checkpointing',
    });
    await hub(
      ['apply', '-f', '-'],
      restoreYaml('survive', 'crash', '  targetCluster: member2\n  mode: Migrate\n'),
    );
    await eventually(() => crashing.exited(), 60_000, 'the hub to die after Checkpointing');
    assert.equal((await getRestore('survive')).status?.checkpoint?.backup, 'survive-migrate');

    crashing = await restartHub({
      STATEFUL_MIGRATION_CRASH_AFTER: 'RestoreSubmitted',
    });
    await eventually(() => crashing.exited(), 120_000, 'the hub to die after RestoreSubmitted');
    assert.equal((await getRestore('survive')).status?.phase, 'RestoreSubmitted');

    crashing = await restartHub({ STATEFUL_MIGRATION_CRASH_AFTER: 'Restored' });
    await eventually(() => crashing.exited(), 120_000, 'the hub to die after Restored');
    const mid = await getRestore('survive');
    assert.equal(mid.status?.phase, 'Restored');
    // The checkpointed pod stopped right after its checkpoint; its Deployment is not scaled yet.
    assert.ok(!(await exists('member1', ['pod', pods.crash!])), 'the checkpointed pod is gone');
    assert.equal(
      (await hub(['get', 'deploy', 'crash', '-n', ns, '-o', 'jsonpath={.spec.replicas}'])).trim(),
      '1',
    );

    await restartHub();
    const r = await waitRestore('survive', ['SourceStopped', 'Failed']);
    assert.equal(r.status?.phase, 'SourceStopped', r.status?.message);
    const copies = await kubectl('member2', [
      'get',
      'pods',
      '-n',
      ns,
      '-l',
      'migration.dcnlab.com/restore=survive',
      '-o',
      'jsonpath={.items[*].metadata.name}',
    ]);
    assert.deepEqual(copies.trim().split(' '), [`${pods.crash}-restored`], 'exactly one restored pod');
    assert.equal(
      (await hub(['get', 'deploy', 'crash', '-n', ns, '-o', 'jsonpath={.spec.replicas}'])).trim(),
      '0',
    );
    assert.equal(r.status?.sourceStop?.workload?.replicas, 1, 'the replicas before the stop, not 0');
    // One checkpoint: the migration's backup ran once, one image per container.
    const own = (await getBackup('karmada', ns, 'survive-migrate')).status!.clusters!.find(
      (c) => c.name === 'member1',
    )!;
    assert.deepEqual(own.builtImages!.map((i) => i.containerName).sort(), ['app', 'side']);
  });
});
