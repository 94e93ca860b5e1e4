// suite: shares — own namespaces, repositories, images and archives; the metric it reads only grows
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  PINNED_IMAGES_ANNOTATION,
  RESTORE_PINNED_IMAGES_ANNOTATION,
  type CheckpointBackup,
} from '@stateful-migration/api';
import { writeArchive } from '@stateful-migration/archive';
import { RegistryClient, pushImage } from '@stateful-migration/registry';
import { kubectl } from '../fed/kubectl.js';
import { repoRoot } from '../fed/paths.js';
import { agentHttpGet } from '../fed/agents.js';
import {
  archivesOf,
  backupYaml,
  checkpointDir,
  foreignArchive,
  getBackup,
  nodeBuildah,
  publicKeysYaml,
  registryInfo,
  registrySecret,
  runPod,
  skopeo,
  waitPhase,
} from './agent-support.js';
import { eventually, unique } from './support.js';

const MiB = 1 << 20;
const base = unique('ret');
const nss = {
  cron: `${base}-cron`,
  size: `${base}-size`,
  orphansOff: `${base}-orph`,
  orphansKept: `${base}-orphk`,
  pin: `${base}-pin`,
  a: `${base}-a`,
  ab: `${base}-a-b`,
  tool: `${base}-tool`,
  hub: `${base}-hub`,
  enc: `${base}-enc`,
};
const tmp = mkdtempSync(join(tmpdir(), 'retention-'));
const hourAgo = (h: number) => new Date(Date.now() - h * 3600_000);

/** A CheckpointBackup whose cron never fires in the test: it only carries a retention policy for its pod. */
const policyOnly = (ns: string, name: string, pod: string, retention: string) =>
  backupYaml(ns, name, pod, `  retention: ${retention}\n`).replace('"immediately"', '"0 0 1 1 *"');

const tagsOf = (repo: string): string[] => {
  try {
    return (
      JSON.parse(skopeo(['list-tags', `docker://${registryInfo().url}/${repo}`])) as { Tags: string[] }
    ).Tags.sort();
  } catch {
    return [];
  }
};

const condition = (b: CheckpointBackup) => b.status?.conditions?.find((c) => c.type === 'RetentionSatisfied');

/** Status has a run, retention says it is satisfied, and the registry holds exactly that run's tag. */
function onlyRunInRegistry(b: CheckpointBackup, held: string[]): boolean {
  const runs = (b.status?.builtImages ?? []).map((i) => i.imageName.split(':').pop()!);
  const satisfied = condition(b)?.status === 'True';
  return !!b.status?.lastCheckpointTime && satisfied && runs.length === 1 && held.join() === runs.join();
}

/** An image of pod/container pushed earlier (as an older run would have), with the identity annotations. */
async function seedRegistryImage(ns: string, repo: string, pod: string, tag: string, created: Date) {
  const dir = mkdtempSync(join(tmp, 'seed-'));
  const archive = join(dir, 'a.tar');
  await writeArchive(archive, {
    namespace: ns,
    podName: pod,
    containerName: 'app',
    rootfsImageName: 'registry.local/app:1',
    memoryBytes: 4096,
    now: created,
  });
  const info = registryInfo();
  await pushImage(
    new RegistryClient({ host: info.url, credentials: info.users[0]!, ca: readFileSync(info.caFile) }),
    {
      repository: repo,
      tag,
      layerTar: archive,
      annotations: {
        'org.criu.checkpoint.container.name': 'app',
        'org.criu.checkpoint.pod.name': pod,
        'org.criu.checkpoint.pod.namespace': ns,
      },
      created,
    },
  );
}

/**
 * A registry secret, a pod running `app` on node, and two older images of that container in the registry (tagged
 * 2 h and 1 h ago), as earlier runs would have left them.
 */
async function podWithOlderImages(ns: string, name: string, node: string, tags: [string, string]) {
  await registrySecret(ns, 'reg', registryInfo().users[0]!);
  const pod = await runPod('member1', ns, name, node, ['app']);
  const repo = `${ns}/checkpoint-${pod}-app`;
  await seedRegistryImage(ns, repo, pod, tags[0], hourAgo(2));
  await seedRegistryImage(ns, repo, pod, tags[1], hourAgo(1));
  return { pod, repo };
}

describe('retention on nodes, in containers-storage and in the registry', { concurrency: true }, () => {
  before(async () => {
    for (const ns of Object.values(nss))
      if (ns !== nss.hub) await kubectl('member1', ['create', 'namespace', ns]);
  });
  after(async () => {
    for (const ns of Object.values(nss))
      await kubectl('member1', ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
    await kubectl('karmada', ['delete', 'namespace', nss.hub, '--wait=false']).catch(() => undefined);
  });

  it('a per-minute schedule with maxCheckpointsPerContainer 2 keeps exactly the 2 newest images in the registry and no archives on the node', async () => {
    const ns = nss.cron;
    const { pod, repo } = await podWithOlderImages(ns, 'cron', 'm1-a', ['older-1', 'older-2']);
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      backupYaml(
        ns,
        'cron',
        pod,
        `  registry: {url: "${registryInfo().url}", repository: ${ns}, secretRef: {name: reg}}\n` +
          '  retention: {maxCheckpointsPerContainer: 2}\n',
      ).replace('"immediately"', '"* * * * *"'),
    );
    // First tick: the run's image and the newer seed stay.
    const first = await eventually(
      async () => {
        const b = await getBackup('member1', ns, 'cron');
        const runs = (b.status?.builtImages ?? []).map((i) => i.imageName.split(':').pop()!);
        const tags = tagsOf(repo);
        return runs.length === 1 &&
          b.status?.phase === 'Completed' &&
          tags.length === 2 &&
          !tags.includes('older-1')
          ? tags
          : undefined;
      },
      150_000,
      'the first tick, and the oldest seed deleted',
    );
    assert.ok(first.includes('older-2'), `kept: ${first.join(', ')}`);
    // Second tick: the two runs stay, both seeds are gone; status lists exactly what the registry holds.
    const b = await eventually(
      async () => {
        const cur = await getBackup('member1', ns, 'cron');
        const tags = tagsOf(repo);
        const runs = (cur.status?.builtImages ?? []).map((i) => i.imageName.split(':').pop()!).sort();
        return runs.length === 2 && tags.join() === runs.join() ? cur : undefined;
      },
      150_000,
      'the second tick: exactly the two newest runs in the registry',
    );
    assert.deepEqual(tagsOf(repo), b.status!.builtImages!.map((i) => i.imageName.split(':').pop()).sort());
    assert.equal(condition(b)?.status, 'True');
    assert.deepEqual(await archivesOf('m1-a', ns), [], 'no archives left on the node');
  });

  it('the same on encrypted images (issue 14): maxCheckpointsPerContainer 1 keeps only the newest run, still encrypted', async () => {
    const ns = nss.enc;
    await registrySecret(ns, 'reg', registryInfo().users[0]!);
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      publicKeysYaml(ns, 'keys', { 'k.pem': publicKey.export({ type: 'spki', format: 'pem' }) as string }),
    );
    const pod = await runPod('member1', ns, 'enc', 'm1-b', ['app']);
    const repo = `${ns}/checkpoint-${pod}-app`;
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      backupYaml(
        ns,
        'enc',
        pod,
        `  registry: {url: "${registryInfo().url}", repository: ${ns}, secretRef: {name: reg}}\n` +
          '  encryption: {publicKeysRef: {kind: ConfigMap, name: keys}}\n' +
          '  retention: {maxCheckpointsPerContainer: 1}\n',
      ).replace('"immediately"', '"* * * * *"'),
    );
    // Two ticks: the second run's image replaces the first in the registry (retention reads the manifest and the
    // config, which stay clear); status lists exactly what the registry holds.
    const seen = new Set<string>();
    const b = await eventually(
      async () => {
        const cur = await getBackup('member1', ns, 'enc');
        if (cur.status?.phase === 'Failed')
          throw new Error(`the encrypted backup failed: ${cur.status.message}`);
        const held = tagsOf(repo);
        return onlyRunInRegistry(cur, held) && seen.add(held[0]!).size >= 2 ? cur : undefined;
      },
      200_000,
      'two ticks, and only the newest encrypted image left in the registry',
    );
    const img = b.status!.builtImages![0]!;
    assert.equal(img.encryptedFor?.length, 1);
    const manifest = JSON.parse(skopeo(['inspect', '--raw', `docker://${img.imageName}`])) as {
      layers: { mediaType: string }[];
    };
    assert.ok(manifest.layers.length > 0);
    for (const l of manifest.layers)
      assert.equal(l.mediaType, 'application/vnd.oci.image.layer.v1.tar+encrypted');
  });

  it('maxTotalSizePerContainer bounds the checkpoint images in the node’s containers-storage', async () => {
    const ns = nss.size;
    // The counter holds 1 MiB of touched memory: its checkpoint is a little over 1 MiB.
    const pod = await runPod('member1', ns, 'size', 'm1-b', ['app'], {}, { HOLD_MIB: '1' });
    const repo = `localhost/checkpoint-${pod}-app`;
    for (const tag of ['older-1', 'older-2']) {
      const file = join(tmp, `${ns}-${tag}`);
      writeFileSync(file, execFileSync('head', ['-c', String(MiB), '/dev/urandom']));
      const c = nodeBuildah('m1-b', ['from', 'scratch']).trim();
      nodeBuildah('m1-b', ['add', c, file, '/']);
      nodeBuildah('m1-b', [
        'config',
        '--annotation=org.criu.checkpoint.container.name=app',
        `--annotation=org.criu.checkpoint.pod.name=${pod}`,
        `--annotation=org.criu.checkpoint.pod.namespace=${ns}`,
        c,
      ]);
      nodeBuildah('m1-b', ['commit', '--quiet', '--format', 'oci', c, `${repo}:${tag}`]);
      nodeBuildah('m1-b', ['rm', c]);
    }
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      backupYaml(ns, 'size', pod, '  retention: {maxTotalSizePerContainer: "2.5Mi"}\n'),
    );
    const b = await waitPhase('member1', ns, 'size', ['Completed', 'Failed'], 90_000);
    assert.equal(b.status?.phase, 'Completed', b.status?.message);
    const run = b.status!.builtImages![0]!.imageName;
    const local = () =>
      nodeBuildah('m1-b', ['images', '--format', '{{.Name}}:{{.Tag}}'])
        .split('\n')
        .filter((l) => l.startsWith(`${repo}:`))
        .sort();
    await eventually(
      () => (local().length === 2 ? true : undefined),
      60_000,
      'the oldest local image deleted',
    );
    assert.deepEqual(local(), [`${repo}:older-2`, run].sort());
  });

  it('orphan archives are removed only when retainOrphans is false', async () => {
    const pods: Record<string, string> = {};
    const files: Record<string, string[]> = {};
    for (const [ns, retention] of [
      [nss.orphansOff, '{retainOrphans: false}'],
      [nss.orphansKept, '{maxCheckpointsPerContainer: 5}'],
    ] as const) {
      const pod = await runPod('member1', ns, 'orph', 'm1-b', ['app']);
      pods[ns] = pod;
      files[ns] = [];
      for (const h of [3, 2])
        files[ns].push(
          await foreignArchive('m1-b', `${ns}-${h}.tar`, { ns, pod, container: 'app' }, hourAgo(h)),
        );
      await kubectl('member1', ['apply', '-f', '-'], policyOnly(ns, 'orph', pod, retention));
      // The m1-b agent answers for the object (its pod runs there): its first sweep sets the condition.
      await eventually(
        async () => (condition(await getBackup('member1', ns, 'orph')) ? true : undefined),
        60_000,
        'a sweep',
      );
    }
    for (const f of Object.values(files).flat()) assert.ok(existsSync(f), `${f} kept while its pod lives`);
    for (const ns of Object.keys(pods)) await kubectl('member1', ['delete', 'deployment', 'orph', '-n', ns]);
    await eventually(
      async () => {
        for (const ns of Object.keys(pods))
          if ((await kubectl('member1', ['get', 'pods', '-n', ns, '-o', 'name'])).trim()) return undefined;
        return true;
      },
      60_000,
      'both pods gone',
    );
    // One more orphan written now is deleted by a sweep that also judged the other namespace's orphans.
    const late = await foreignArchive(
      'm1-b',
      `${nss.orphansOff}-late.tar`,
      { ns: nss.orphansOff, pod: pods[nss.orphansOff]!, container: 'app' },
      new Date(),
    );
    await eventually(
      () => (![...files[nss.orphansOff]!, late].some((f) => existsSync(f)) ? true : undefined),
      60_000,
      'orphans with retainOrphans false deleted (periodic sweep)',
    );
    for (const f of files[nss.orphansKept]!)
      assert.ok(existsSync(f), `${f} kept: retainOrphans defaults to true`);
  });

  it('a pinned image survives; the unreachable limit is said once in status and an Event; unpinning lets it go', async () => {
    const ns = nss.pin;
    await registrySecret(ns, 'reg', registryInfo().users[0]!);
    const pod = await runPod('member1', ns, 'pin', 'm1-a', ['app']);
    const registry = `  registry: {url: "${registryInfo().url}", repository: ${ns}, secretRef: {name: reg}}\n`;
    const yaml = (extra: string) =>
      backupYaml(ns, 'pin', pod, `${registry}  retention: {maxCheckpointsPerContainer: 1}\n${extra}`);
    await kubectl('member1', ['apply', '-f', '-'], yaml(''));
    const first = await waitPhase('member1', ns, 'pin', ['Completed', 'Failed'], 90_000);
    assert.equal(first.status?.phase, 'Completed', first.status?.message);
    const runId = first.status!.run!.id;
    await kubectl('member1', ['annotate', 'cpb', 'pin', '-n', ns, `${PINNED_IMAGES_ANNOTATION}=${runId}`]);
    // A new generation: a second run, whose image is the newest; the pinned one stays beside it.
    await kubectl('member1', ['apply', '-f', '-'], yaml('  containers: [{name: app}]\n'));
    const repo = `${ns}/checkpoint-${pod}-app`;
    const blocked = await eventually(
      async () => {
        const b = await getBackup('member1', ns, 'pin');
        return b.status?.observedGeneration === 2 &&
          b.status.phase === 'Completed' &&
          condition(b)?.status === 'False'
          ? b
          : undefined;
      },
      90_000,
      'the second run and the PinnedBeyondLimit condition',
    );
    const second = blocked.status!.run!.id;
    assert.deepEqual(tagsOf(repo), [runId, second].sort());
    assert.equal(condition(blocked)?.reason, 'PinnedBeyondLimit');
    assert.match(
      condition(blocked)!.message,
      new RegExp(
        `maxCheckpointsPerContainer 1 for ${ns}/${pod}/app cannot be met .*\\(2 kept\\): pinned .*:${runId}`,
      ),
    );
    // Said once: a periodic sweep later, still one Warning.
    await new Promise((r) => setTimeout(r, 25_000));
    const warnings = async () =>
      (
        await kubectl('member1', [
          'get',
          'events',
          '-n',
          ns,
          '--field-selector',
          'reason=PinnedBeyondLimit',
          '-o',
          'name',
        ])
      )
        .split('\n')
        .filter(Boolean).length;
    assert.equal(await warnings(), 1);
    assert.deepEqual(tagsOf(repo), [runId, second].sort(), 'the pinned image survived');
    await kubectl('member1', ['annotate', 'cpb', 'pin', '-n', ns, `${PINNED_IMAGES_ANNOTATION}-`]);
    const freed = await eventually(
      async () => {
        const b = await getBackup('member1', ns, 'pin');
        return condition(b)?.status === 'True' && tagsOf(repo).join() === second ? b : undefined;
      },
      60_000,
      'unpinned: the old image deleted and the condition True',
    );
    assert.deepEqual(
      freed.status?.builtImages?.map((i) => i.imageName.split(':').pop()),
      [second],
    );
  });

  it('namespaces a and a-b stay separate, even where archive file names collide', async () => {
    // checkpoint-x_<a>-b-app-... is both (a, x, b-app) and (a-b, x, app): only spec.dump tells.
    const inA: string[] = [];
    const inAB: string[] = [];
    for (const h of [3, 2, 1]) {
      const stamp = hourAgo(h).toISOString();
      inA.push(
        await foreignArchive(
          'm1-a',
          `checkpoint-x_${nss.a}-b-app-${stamp}.tar`,
          { ns: nss.a, pod: 'x', container: 'b-app' },
          hourAgo(h),
        ),
      );
      inAB.push(
        await foreignArchive(
          'm1-a',
          `checkpoint-x_${nss.a}-b-app-${stamp}Z.tar`,
          { ns: nss.ab, pod: 'x', container: 'app' },
          hourAgo(h + 0.5),
        ),
      );
    }
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      policyOnly(nss.a, 'x', 'x', '{maxCheckpointsPerContainer: 1, maxCheckpointsPerNamespace: 1}'),
    );
    await eventually(
      () => (inA.filter((f) => existsSync(f)).length === 1 ? true : undefined),
      60_000,
      `namespace ${nss.a} down to one archive`,
    );
    assert.ok(existsSync(inA[2]!), 'the newest archive of a stays');
    assert.deepEqual(
      inAB.filter((f) => existsSync(f)),
      inAB,
      `every archive of ${nss.ab} stays`,
    );
    const metrics = (await agentHttpGet('m1-a', '/metrics')).body;
    assert.match(metrics, /^checkpoint_retention_deletions_total\{store="archives"\} [1-9]/m);
  });

  it('archives written by another tool are identified by spec.dump: any name, containerd flavour, .keep pins, non-archives untouched', async () => {
    const ns = nss.tool;
    const pod = await runPod('member1', ns, 'tool', 'm1-a', ['app']);
    const id = { ns, pod, container: 'app' };
    const kept = await foreignArchive('m1-a', `${ns}-kept.tar`, id, hourAgo(6));
    writeFileSync(`${kept}.keep`, 'pinned by hand\n');
    const old1 = await foreignArchive('m1-a', `${ns}-export 1.tar`, id, hourAgo(5));
    const old2 = await foreignArchive('m1-a', `${ns}.tar`, id, hourAgo(4));
    const recent = await foreignArchive('m1-a', `checkpoint-${pod}_${ns}-app-2020.tar`, id, hourAgo(2));
    // containerd's flavour (checkpointctl reads both): identity in io.kubernetes.cri.* annotations.
    const dir = mkdtempSync(join(tmp, 'ctrd-'));
    writeFileSync(
      join(dir, 'spec.dump'),
      JSON.stringify({
        annotations: {
          'io.kubernetes.cri.container-name': 'app',
          'io.kubernetes.cri.sandbox-name': pod,
          'io.kubernetes.cri.sandbox-namespace': ns,
        },
      }),
    );
    writeFileSync(join(dir, 'config.dump'), JSON.stringify({ rootfsImageName: 'registry.local/app:1' }));
    const containerd = join(checkpointDir('m1-a'), `${ns}-containerd.tar`);
    execFileSync('tar', ['-cf', containerd, '-C', dir, 'spec.dump', 'config.dump']);
    utimesSync(containerd, hourAgo(1), hourAgo(1));
    const notes = join(checkpointDir('m1-a'), `${ns}-notes.txt`);
    writeFileSync(notes, 'not an archive');
    const noSpec = join(checkpointDir('m1-a'), `${ns}-nospec.tar`);
    execFileSync('tar', ['-cf', noSpec, '-C', dir, 'config.dump']);
    utimesSync(noSpec, hourAgo(9), hourAgo(9));

    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      policyOnly(ns, 'tool', pod, '{maxCheckpointsPerContainer: 2}'),
    );
    await eventually(
      () => (!existsSync(old1) && !existsSync(old2) ? true : undefined),
      60_000,
      'the two oldest unpinned archives deleted',
    );
    for (const f of [kept, recent, containerd, notes, noSpec, `${kept}.keep`])
      assert.ok(existsSync(f), `${f} stays`);
    const b = await eventually(
      async () => {
        const cur = await getBackup('member1', ns, 'tool');
        return condition(cur)?.status === 'False' ? cur : undefined;
      },
      30_000,
      'the pin beyond the limit reported',
    );
    assert.match(condition(b)!.message, new RegExp(`pinned .*${ns}-kept\\.tar`));
  });

  it('a restore pin written on the hub object reaches the member through Karmada and keeps its image', async () => {
    const ns = nss.hub;
    const url = registryInfo().url;
    await kubectl('karmada', ['apply', '-f', join(repoRoot, 'karmada/crds/checkpointbackups.yaml')]);
    await kubectl('karmada', ['create', 'namespace', ns]);
    // Karmada propagates the namespace to the members.
    await eventually(
      async () =>
        (await kubectl('member1', ['get', 'namespace', ns, '-o', 'name'])).trim() ? true : undefined,
      60_000,
      'the namespace in member1',
    );
    const { pod, repo } = await podWithOlderImages(ns, 'hub', 'm1-b', ['restored', 'newer']);
    await kubectl(
      'karmada',
      ['apply', '-f', '-'],
      `${policyOnly(ns, 'hub', pod, '{maxCheckpointsPerContainer: 1}').replace(
        'metadata: {name: hub, namespace: ' + ns + '}',
        `metadata: {name: hub, namespace: ${ns}, annotations: {${RESTORE_PINNED_IMAGES_ANNOTATION}: "${url}/${repo}:restored"}}`,
      )}  containers: [{name: app}]
  registry: {url: "${url}", repository: ${ns}, secretRef: {name: reg}}
---
apiVersion: policy.karmada.io/v1alpha1
kind: PropagationPolicy
metadata: {name: hub, namespace: ${ns}}
spec:
  resourceSelectors: [{apiVersion: migration.dcnlab.com/v1, kind: CheckpointBackup, name: hub}]
  placement: {clusterAffinity: {clusterNames: [member1]}}
`,
    );
    const b = await eventually(
      async () => {
        const cur = await getBackup('member1', ns, 'hub').catch(() => undefined);
        return cur && condition(cur)?.status === 'False' ? cur : undefined;
      },
      90_000,
      'the propagated object, its restore pin honoured and reported',
    );
    assert.equal(b.metadata.annotations?.[RESTORE_PINNED_IMAGES_ANNOTATION], `${url}/${repo}:restored`);
    assert.match(condition(b)!.message, new RegExp(`pinned ${url}/${repo}:restored`));
    assert.deepEqual(tagsOf(repo), ['newer', 'restored']);
  });
});
