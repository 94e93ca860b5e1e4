import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { agentImageOf, agentPodOn, useChartPod, waitAgentPod } from '../fed/chart-pods.js';
import { kubectl } from '../fed/kubectl.js';
import { readState } from '../fed/procs.js';
import { registryInfo, skopeo } from './agent-support.js';
import { eventually } from './support.js';

// Issue 15: the agent of m1-b is the chart's DaemonSet pod, from the product image (deploy/Containerfile) the
// federation pushed to its registry, run by the node stand-in on the real runtime. On a federation brought up
// without chart pods (`fed up` without --chart-pods), the case switches m1-b over itself and back afterwards.
const node = 'm1-b';

describe(`the chart's agent DaemonSet pod as the agent of ${node} (issue 15)`, () => {
  let undo: (() => Promise<void>) | undefined;
  before(async () => {
    undo = await useChartPod(node);
  });
  after(async () => {
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
    await eventually(
      async () =>
        /"name":"checkpoint-agent".*"node":"m1-b"/.test(
          await kubectl('member1', ['-n', 'stateful-migration', 'logs', pod.metadata.name]),
        ) || undefined,
      60_000,
      "the agent's log lines in kubectl logs",
    );
    assert.equal((await agentPodOn(node))?.metadata.uid, pod.metadata.uid);
  });
});
