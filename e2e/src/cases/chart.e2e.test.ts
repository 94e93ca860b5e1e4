// suite: alone — upgrades and uninstalls the chart, restarting every agent and the hub
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { CHART, RELEASE, RELEASE_NAMESPACE, helm, installChart } from '../fed/chart.js';
import { agentImageOf, chartPodNodes, waitAgentPod } from '../fed/chart-pods.js';
import { chartHubNode, renewHubKubeconfig } from '../fed/chart-hub.js';
import { restartHub } from '../fed/hub.js';
import { members } from '../fed/control-plane.js';
import { kubectl } from '../fed/kubectl.js';
import { memberNodes } from '../fed/members.js';
import { fedDir, repoRoot } from '../fed/paths.js';
import { probe } from '../fed/probe.js';
import { readState, restartProcess } from '../fed/procs.js';
import { registryInfo, registrySecretYaml } from './agent-support.js';
import { eventually, unique } from './support.js';

// `pnpm fed up` installs the chart on the Karmada apiserver with helm (e2e/src/fed/chart.ts); Karmada carries the
// agent's objects to the members. The hub and the agents of most nodes run as local processes; with
// `fed up --chart-pods`, the agent of those nodes is the carried DaemonSet's pod (chart-pods.e2e.test.ts).
const version = (
  JSON.parse(readFileSync(join(repoRoot, 'packages/cli/package.json'), 'utf8')) as { version: string }
).version;
const json = async <T>(cluster: string, args: string[]): Promise<T> =>
  JSON.parse(await kubectl(cluster, [...args, '-o', 'json'])) as T;
interface DaemonSet {
  metadata: { labels: Record<string, string> };
  spec: { template: { spec: { containers: { image: string; args: string[] }[] } } };
}
const memberImage = async (member: string): Promise<string | undefined> =>
  (
    await json<DaemonSet>(member, [
      '-n',
      'stateful-migration',
      'get',
      'daemonset',
      'checkpoint-backup-controller',
    ]).catch(() => undefined)
  )?.spec.template.spec.containers[0]?.image;

describe('the chart, installed with helm on the Karmada apiserver of the local federation', () => {
  after(async () => {
    // Back to the federation's own values, whatever a failed case left.
    await installChart();
  });

  it('is a deployed release of the chart at the CLI version', async () => {
    const [release] = JSON.parse(await helm(['list', '-n', RELEASE_NAMESPACE, '-o', 'json'])) as {
      name: string;
      status: string;
      chart: string;
      app_version: string;
    }[];
    assert.equal(release?.name, RELEASE);
    assert.equal(release?.status, 'deployed');
    assert.equal(release?.chart, `stateful-migration-${version}`);
    assert.equal(release?.app_version, version);
  });

  it("Karmada carries the agent's CRD, admission policy, RBAC and DaemonSet to every member", async () => {
    for (const member of members) {
      await eventually(
        async () => ((await memberImage(member)) ? true : undefined),
        60_000,
        `the agent's DaemonSet in ${member}`,
      );
      const ds = await json<DaemonSet>(member, [
        '-n',
        'stateful-migration',
        'get',
        'daemonset',
        'checkpoint-backup-controller',
      ]);
      assert.equal(ds.metadata.labels['app.kubernetes.io/managed-by'], 'Helm');
      // The chart's default image, or the one `fed up --chart-pods` pushed to the federation's registry, pinned.
      const pushed = agentImageOf();
      assert.equal(
        ds.spec.template.spec.containers[0]!.image,
        pushed
          ? `${pushed.repository}:${pushed.tag}@${pushed.digest}`
          : `localhost/stateful-migration/agent:${version}`,
      );
      assert.ok(
        ds.spec.template.spec.containers[0]!.args.includes('--storage-driver=vfs'),
        'the release values',
      );
      for (const [kind, name] of [
        ['crd', 'checkpointbackups.migration.dcnlab.com'],
        ['validatingadmissionpolicy', 'checkpointbackups-own-namespace.migration.dcnlab.com'],
        ['clusterrole', 'checkpoint-backup-agent'],
        ['clusterrolebinding', 'stateful-migration-hub-pod-reader'],
        ['clusterrole', 'stateful-migration-hub-restore-source'],
      ])
        await eventually(
          async () => ((await kubectl(member, ['get', kind!, name!]).catch(() => '')) ? true : undefined),
          60_000,
          `${kind} ${name} in ${member}`,
        );
    }
    // The restore CRD stays on the Karmada control plane.
    await assert.rejects(kubectl('member1', ['get', 'crd', 'checkpointrestores.migration.dcnlab.com']));
  });

  it('helm upgrade with a new image tag reaches the DaemonSet in every member; the CRDs are kept', async () => {
    await installChart(['--set', 'image.tag=upgrade-check']);
    for (const member of members)
      await eventually(
        // A pinned image keeps its digest after the tag (tag@digest).
        async () => (/:upgrade-check(@|$)/.test((await memberImage(member)) ?? '') ? true : undefined),
        60_000,
        `the new tag in ${member}`,
      );
    const crd = await json<{ metadata: { annotations: Record<string, string> } }>('karmada', [
      'get',
      'crd',
      'checkpointbackups.migration.dcnlab.com',
    ]);
    assert.equal(crd.metadata.annotations['helm.sh/resource-policy'], 'keep');
    await installChart();
    for (const member of members)
      await eventually(
        async () =>
          (await memberImage(member))?.includes(`:${agentImageOf()?.tag ?? version}`) ? true : undefined,
        60_000,
        `the chart's tag back in ${member}`,
      );
  });

  it('helm lint --strict passes on the chart the federation installed', async () => {
    assert.match(await helm(['lint', '--strict', CHART]), /0 chart\(s\) failed/);
  });

  it('helm uninstall leaves no object of the chart in Karmada or the members but the CRDs; a new install works again', async () => {
    const kinds =
      'clusterrole,clusterrolebinding,role,rolebinding,serviceaccount,daemonset,deployment,namespace,' +
      'validatingadmissionpolicy,validatingadmissionpolicybinding';
    const karmadaKinds = `${kinds},clusterpropagationpolicy,propagationpolicy,resourceinterpretercustomization`;
    const left = async (cluster: string, k: string) =>
      (await kubectl(cluster, ['get', k, '-A', '-l', `app.kubernetes.io/instance=${RELEASE}`, '-o', 'name']))
        .split('\n')
        .filter(Boolean);
    // What the hub makes at run time in a member: a workload whose backup keeps state on eviction gets the standing
    // keep-state webhook configurations there, owned by the chart's policy in that member.
    const ns = unique('chart-keep');
    const user = registryInfo().users[0]!;
    await kubectl('karmada', ['create', 'namespace', ns]);
    await kubectl(
      'karmada',
      ['apply', '-f', '-'],
      `${registrySecretYaml(ns, 'push', user.username, user.password)}---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${ns}}
spec:
  replicas: 0
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: counter, image: registry.local/counter:1}]}
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: web, namespace: ${ns}}
spec:
  resourceSelectors: [{apiVersion: apps/v1, kind: Deployment, name: web}]
  placement: {clusterAffinity: {clusterNames: [member1]}}
---
apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: web, namespace: ${ns}}
spec:
  schedule: "0 0 1 1 *"
  resourceRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  registry: {url: "${registryInfo().url}", repository: chart/${ns}, secretRef: {name: push}}
  keepState: {eviction: {}}
`,
    );
    const hubMade = async () =>
      (
        await Promise.all(
          ['validatingwebhookconfiguration', 'mutatingwebhookconfiguration'].map((k) =>
            kubectl('member1', [
              'get',
              k,
              'stateful-migration.keep-state',
              '--ignore-not-found',
              '-o',
              'jsonpath={.kind} {.metadata.ownerReferences[*].uid} {.metadata.ownerReferences[*].name}',
            ]),
          ),
        )
      ).filter((x) => x.trim());
    await eventually(
      async () => ((await hubMade()).length === 2 ? true : undefined),
      120_000,
      "the hub's keep-state webhook configurations in member1",
    );
    const policyUid = () =>
      kubectl('member1', [
        'get',
        'validatingadmissionpolicy',
        'hub-webhook-configurations.migration.dcnlab.com',
        '-o',
        'jsonpath={.metadata.uid}',
      ]);
    const ownedByPolicy = async () => {
      const uid = (await policyUid()).trim();
      const made = await hubMade();
      return made.length === 2 &&
        made.every((m) => m.endsWith(` ${uid} hub-webhook-configurations.migration.dcnlab.com`))
        ? true
        : undefined;
    };
    assert.ok(await ownedByPolicy(), `owned by member1's policy, by uid: ${(await hubMade()).join('; ')}`);

    await helm(['uninstall', RELEASE, '-n', RELEASE_NAMESPACE, '--wait', '--timeout=2m']);
    await eventually(
      async () => ((await hubMade()).length === 0 ? true : undefined),
      120_000,
      "the hub's webhook configurations in member1 gone with the chart's policy, though the backup keeps state",
    );
    for (const [cluster, k] of [['karmada', karmadaKinds], ...members.map((m) => [m, kinds])] as const)
      await eventually(
        async () => ((await left(cluster, k)).length === 0 ? true : undefined),
        120_000,
        `nothing of the release left in ${cluster} (${(await left(cluster, k)).join(' ')})`,
      );
    // The CRDs stay (crds.keep), and with them the records restores need.
    await kubectl('karmada', [
      'get',
      'crd',
      'checkpointbackups.migration.dcnlab.com',
      'checkpointrestores.migration.dcnlab.com',
    ]);
    for (const m of members) await kubectl(m, ['get', 'crd', 'checkpointbackups.migration.dcnlab.com']);

    // Installed again; the tokens of the deleted ServiceAccounts died with them, so the federation's agents and hub
    // get new ones and restart (in a cluster, the new pods would get theirs from the kubelet).
    await installChart();
    const state = readState()!;
    for (const m of members) {
      await eventually(
        async () =>
          (await kubectl(m, [
            '-n',
            'stateful-migration',
            'get',
            'serviceaccount',
            'checkpoint-backup-sa',
          ]).catch(() => ''))
            ? true
            : undefined,
        120_000,
        `the agent's ServiceAccount back in ${m}`,
      );
      const token = await kubectl(m, [
        '-n',
        'stateful-migration',
        'create',
        'token',
        'checkpoint-backup-sa',
        '--duration=168h',
      ]);
      for (const node of memberNodes[m] ?? []) {
        // A node whose agent is the chart's pod gets a new pod, with a token of the new ServiceAccount.
        if (chartPodNodes().includes(node)) {
          await waitAgentPod(node);
          continue;
        }
        writeFileSync(join(fedDir, 'agents', node, 'token'), token.trim(), { mode: 0o600 });
        const p = await restartProcess(state, `agent-${node}`);
        await eventually(
          async () => ((await probe(`http://127.0.0.1:${p.port}/readyz`)) ? true : undefined),
          60_000,
          `agent-${node} ready`,
        );
      }
    }
    if (chartHubNode()) {
      // The hub's pod reads its token from its kubeconfig Secret, made again as an operator would; its next pod
      // starts with it.
      await renewHubKubeconfig();
      await restartHub();
    } else {
      const hubToken = await kubectl('karmada', [
        '-n',
        'karmada-system',
        'create',
        'token',
        'stateful-migration-hub',
        '--duration=168h',
      ]);
      writeFileSync(join(fedDir, 'hub', 'token'), hubToken.trim(), { mode: 0o600 });
      const hub = await restartProcess(state, 'hub');
      await eventually(
        async () => ((await probe(`http://127.0.0.1:${hub.port}/readyz`)) ? true : undefined),
        60_000,
        'hub ready',
      );
    }
    // Installed again, the hub makes them again under the new policy; deleting the backup removes them.
    await eventually(
      ownedByPolicy,
      120_000,
      "the hub's keep-state webhook configurations back in member1, owned by the new policy's uid",
    );
    await kubectl('karmada', ['delete', 'namespace', ns, '--wait=false']);
    await eventually(
      async () => ((await hubMade()).length === 0 ? true : undefined),
      120_000,
      'no keep-state configuration once no backup keeps state',
    );
  });
});
