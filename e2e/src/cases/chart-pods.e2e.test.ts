// suite: alone — makes the chart's pod the agent of m1-b, and upgrades the chart with helm
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureAgentImage, pushAgentImage } from '../fed/agent-image.js';
import { installChart } from '../fed/chart.js';
import { agentImageOf, agentPodOn, useChartPod, waitAgentPod } from '../fed/chart-pods.js';
import { runningContainersOfPod } from '../fed/runtimes.js';
import { fedDir, nodeStorage } from '../fed/paths.js';
import { kubectl } from '../fed/kubectl.js';
import { readState } from '../fed/procs.js';
import {
  applyBackup,
  backupYaml,
  getBackup,
  registryInfo,
  registrySecret,
  runPod,
  skopeo,
  waitPhase,
} from './agent-support.js';
import { eventually, unique } from './support.js';

// Issue 15: the agent of m1-b is the chart's DaemonSet pod, from the product image (deploy/Containerfile) the
// federation pushed to its registry, run by the node stand-in on the real runtime. On a federation brought up
// without chart pods (`fed up` without --chart-pods), the case switches m1-b over itself and back afterwards.
const node = 'm1-b';
const ns = unique('chartpod');

/** The running containers of a pod on the node, as its runc lists them. */
const runningContainersOf = (uid: string): string[] => runningContainersOfPod(node, uid).map((c) => c.id);

describe(`the chart's agent DaemonSet pod as the agent of ${node} (issue 15)`, () => {
  let undo: (() => Promise<void>) | undefined;
  before(async () => {
    undo = await useChartPod(node);
  });
  after(async () => {
    await kubectl('member1', ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
    await undo?.();
  });

  it('runs the product image from the federation registry, pinned by digest; the agent starts in it', async () => {
    const pod = await waitAgentPod(node, 'started');
    const image = agentImageOf()!;
    const ref = `${image.repository}:${image.tag}@${image.digest}`;
    assert.equal(pod.spec.containers[0]!.image, ref);
    const st = pod.status!.containerStatuses![0]!;
    assert.equal(st.imageID, `${image.repository}@${image.digest}`);
    // The registry holds that digest under the tag (skopeo, with the registry's credentials and CA).
    assert.ok(image.repository.startsWith(`${registryInfo().url}/`), image.repository);
    const inspected = JSON.parse(skopeo(['inspect', `docker://${image.repository}:${image.tag}`])) as {
      Digest: string;
      Labels: Record<string, string>;
    };
    assert.equal(inspected.Digest, image.digest);
    assert.equal(inspected.Labels['org.opencontainers.image.title'], 'stateful-migration');
    // Exactly one agent for the node: the federation's local process for it is gone.
    assert.equal(
      readState()!.procs.some((p) => p.name === `agent-${node}`),
      false,
    );
    // The agent process inside the container logs as the agent of this node (kubectl logs, through the kubelet).
    const log = await eventually(
      async () => {
        const l = await kubectl('member1', ['-n', 'stateful-migration', 'logs', pod.metadata.name]);
        return /"name":"checkpoint-agent".*"node":"m1-b"/.test(l) ? l : undefined;
      },
      60_000,
      "the agent's log lines in kubectl logs",
    );
    // It found the image's checkpoint-store (ADR 0015), so its local images are not written by the skopeo fallback.
    assert.match(
      log,
      /"checkpointStore":"\/usr\/local\/bin\/checkpoint-store".*"msg":"local checkpoint images are written by checkpoint-store"/,
    );
    assert.doesNotMatch(log, /checkpoint-store not found/);
    assert.equal((await agentPodOn(node))?.metadata.uid, pod.metadata.uid);
  });

  it('helm upgrade with a new image tag rolls the pod: the stand-in stops the old container and starts the new one', async () => {
    const old = await waitAgentPod(node, 'started');
    const image = agentImageOf()!;
    const tag = `${image.tag}-rolled`;
    // The same image under a new tag, as a release pipeline re-tags; the chart pins the digest either way.
    pushAgentImage(registryInfo(), ensureAgentImage().layout, tag);
    await installChart(['--set-string', `image.tag=${tag}`]);
    const next = await eventually(
      async () => {
        const p = await agentPodOn(node);
        return p && p.metadata.uid !== old.metadata.uid && p.status?.containerStatuses?.[0]?.state?.running
          ? p
          : undefined;
      },
      120_000,
      'a new agent pod running the new tag',
    );
    assert.equal(next.spec.containers[0]!.image, `${image.repository}:${tag}@${image.digest}`);
    // One agent on the node at any time: the old pod is gone, and so is its container from the node's runc.
    await assert.rejects(kubectl('member1', ['-n', 'stateful-migration', 'get', 'pod', old.metadata.name]));
    assert.deepEqual(runningContainersOf(old.metadata.uid), []);
    assert.equal(runningContainersOf(next.metadata.uid).length, 1);
    // Back to the federation's values (the tag `fed up` pushed).
    await installChart();
    await eventually(
      async () => {
        const p = await agentPodOn(node);
        return p?.spec.containers[0]!.image.includes(`:${image.tag}@`) &&
          p.status?.containerStatuses?.[0]?.state?.running
          ? true
          : undefined;
      },
      120_000,
      "the agent pod back on the federation's tag",
    );
  });

  it('becomes Ready: from its pod it reaches its kubelet, the member apiserver (in-cluster) and the registry', async () => {
    const pod = await waitAgentPod(node, 'ready');
    assert.equal(pod.status!.containerStatuses![0]!.ready, true);
  });

  it('carries out a CheckpointBackup of a counter pod on its node: the image pushed, its work in kubectl logs', async () => {
    const info = registryInfo();
    await kubectl('member1', ['create', 'namespace', ns]);
    await registrySecret(ns, 'alice-creds', info.users[0]!);
    const pod = await runPod('member1', ns, 'bypod', node, ['app']);
    await applyBackup(ns, 'bypod', pod, { url: info.url, repository: `e2e/${ns}`, secret: 'alice-creds' });
    const b = await waitPhase('member1', ns, 'bypod', ['Completed', 'Failed'], 120_000);
    assert.equal(b.status?.phase, 'Completed', b.status?.message);
    const img = b.status!.builtImages![0]!;
    assert.equal(img.pushed, true);
    assert.ok(img.imageName.startsWith(`${info.url}/e2e/${ns}/checkpoint-${pod}-app:`), img.imageName);
    const raw = JSON.parse(skopeo(['inspect', '--raw', `docker://${img.imageName}`])) as {
      annotations: Record<string, string>;
    };
    assert.equal(raw.annotations['org.criu.checkpoint.pod.name'], pod);
    assert.equal(
      (JSON.parse(skopeo(['inspect', `docker://${img.imageName}`])) as { Digest: string }).Digest,
      img.digest,
    );
    // The chart's pod did it (no local agent for the node exists to have done it, as the first case checked).
    const agentPod = (await agentPodOn(node))!;
    const log = await kubectl('member1', ['-n', 'stateful-migration', 'logs', agentPod.metadata.name]);
    // Each step of a run is logged with its object (controller.ts): checkpoint, build, push, finish.
    const steps = log
      .split('\n')
      .filter((l) => l.includes(`"backup":"${ns}/bypod"`) && l.includes('"msg":"step"'))
      .map((l) => (JSON.parse(l) as { action: string }).action);
    assert.ok(steps.length >= 2, `the agent pod's log has the run's steps: ${steps.join(', ')}`);
  });

  it("without a registry, writes the checkpoint image into the node's containers-storage with the image's checkpoint-store", async () => {
    const pod = await runPod('member1', ns, 'localimg', node, ['app']);
    await kubectl('member1', ['apply', '-f', '-'], backupYaml(ns, 'localimg', pod));
    const b = await waitPhase('member1', ns, 'localimg', ['Completed', 'Failed'], 120_000);
    assert.equal(b.status?.phase, 'Completed', b.status?.message);
    const img = b.status!.builtImages![0]!;
    assert.equal(img.pushed ?? false, false);
    // In the node's store (the pod's hostPath /var/lib/containers), under the digest the status names.
    const { root, runroot } = nodeStorage(node);
    const inspected = JSON.parse(
      execFileSync('skopeo', ['inspect', `containers-storage:[vfs@${root}+${runroot}]${img.imageName}`], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      }),
    ) as { Digest: string };
    assert.equal(inspected.Digest, img.digest);
  });

  it('helm upgrade with a new tag while a checkpoint is in progress: the new pod finishes the run, with one checkpoint and one image', async () => {
    const info = registryInfo();
    // Its checkpoints take 20 s at the kubelet: the old pod is stopped while its checkpoint request is in flight.
    const pod = await runPod('member1', ns, 'rolling', node, ['app'], {
      'standin.stateful-migration.dev/checkpoint-latency-ms': '20000',
    });
    const old = await waitAgentPod(node, 'ready');
    const image = agentImageOf()!;
    const tag = `${image.tag}-midrun`;
    pushAgentImage(info, ensureAgentImage().layout, tag);
    await applyBackup(ns, 'rolling', pod, { url: info.url, repository: `e2e/${ns}`, secret: 'alice-creds' });
    await eventually(
      async () =>
        (await getBackup('member1', ns, 'rolling')).status?.phase === 'Checkpointing' ? true : undefined,
      60_000,
      'the run checkpointing in the old pod',
    );
    try {
      await installChart(['--set-string', `image.tag=${tag}`]);
      const next = await eventually(
        async () => {
          const p = await agentPodOn(node);
          return p && p.metadata.uid !== old.metadata.uid && p.spec.containers[0]!.image.includes(`:${tag}@`)
            ? p
            : undefined;
        },
        120_000,
        'a new agent pod on the new tag',
      );
      const b = await waitPhase('member1', ns, 'rolling', ['Completed', 'Failed'], 240_000);
      assert.equal(b.status?.phase, 'Completed', b.status?.message);
      // Nothing lost and nothing done twice: one checkpoint at the kubelet, one image, one tag in the registry.
      const written = readFileSync(join(fedDir, `logs/node-${node}.log`), 'utf8')
        .split('\n')
        .filter((l) => l.includes('checkpoint written') && l.includes(`"${ns}/${pod}"`));
      assert.equal(written.length, 1, written.join('\n'));
      const images = b.status?.builtImages ?? [];
      assert.equal(images.length, 1, JSON.stringify(images));
      assert.equal(images[0]!.pushed, true);
      const repo = images[0]!.imageName.replace(/:[^:]+$/, '');
      const tags = (JSON.parse(skopeo(['list-tags', `docker://${repo}`])) as { Tags: string[] }).Tags;
      assert.deepEqual(tags, [images[0]!.imageName.split(':').pop()]);
      // The new pod finished it: its log (kubectl logs) has the run's later steps.
      const log = await kubectl('member1', ['-n', 'stateful-migration', 'logs', next.metadata.name]);
      assert.ok(
        log.split('\n').some((l) => l.includes(`"backup":"${ns}/rolling"`) && l.includes('"msg":"step"')),
        "the new agent pod's log has the run's steps",
      );
    } finally {
      // Back to the federation's tag, whatever happened above: a later case must find m1-b's agent as `fed up` left it.
      await installChart();
      await eventually(
        async () => {
          const p = await agentPodOn(node);
          return p?.spec.containers[0]!.image.includes(`:${image.tag}@`) &&
            p.status?.containerStatuses?.[0]?.state?.running
            ? true
            : undefined;
        },
        120_000,
        "the agent pod back on the federation's tag",
      );
    }
  });
});
