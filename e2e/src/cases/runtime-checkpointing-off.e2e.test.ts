// suite: alone — turns checkpointing off in a node's runtime: any other case's checkpoint on that node would fail
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { kubectl } from '../fed/kubectl.js';
import { fedDir } from '../fed/paths.js';
import { applyBackup, registryInfo, registrySecret, runPod, runningPod, waitPhase } from './agent-support.js';
import { checkpointerYaml, kubeletCall, saToken } from './kubelet-support.js';
import { eventually, unique } from './support.js';

/**
 * A node whose runtime has checkpointing off (CRI-O's drop-in `container_level_enabled = "none"`): its kubelet answers
 * a checkpoint with the runtime's 500, as CRI-O does, and a CheckpointBackup of a pod there fails with that answer.
 * The runtime's configuration is the whole node's, so these cases are apart from kubelet-standin and real-runtime,
 * whose other cases share the federation; each puts the configuration back.
 */
const ns = unique('ckptoff');
const dropInOf = (node: string) =>
  join(fedDir, 'nodes', node, 'etc', 'crio', 'crio.conf.d', '10-checkpoint-restore.conf');
/** The Node label the node's agent publishes from that drop-in (packages/agent, runtime-publisher.ts). */
const LABEL = 'migration.dcnlab.com/checkpoint-restore';
const nodeLabel = async (node: string) =>
  (
    JSON.parse(await kubectl('member1', ['get', 'node', node, '-o', 'json'])) as {
      metadata: { labels?: Record<string, string> };
    }
  ).metadata.labels?.[LABEL];

/**
 * Puts a node's drop-in back and waits until its agent publishes the label it had before: the agent reads the drop-in
 * every minute, and may have published "none" meanwhile; the next case must not find the node unable to restore.
 * Removing the label by hand starts a round at once (the agent puts a changed label back).
 */
async function restoreDropIn(node: string, saved: string, label: string | undefined): Promise<void> {
  writeFileSync(dropInOf(node), saved);
  if (label === undefined) return;
  if ((await nodeLabel(node)) === label) return;
  await kubectl('member1', ['label', 'node', node, `${LABEL}-`]);
  await eventually(
    async () => ((await nodeLabel(node)) === label ? true : undefined),
    90_000,
    `the ${LABEL} label of ${node} back to ${label}`,
  );
}

describe('the node stand-in kubelet of a runtime whose checkpointing is off', () => {
  const kns = `${ns}-kubelet`;
  let allowed = '';
  before(async () => {
    await kubectl('member1', ['create', 'namespace', kns]);
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      `${checkpointerYaml(kns)}---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: ${kns}, labels: {app: p}}
spec:
  nodeName: m1-a
  containers: [{name: app, image: registry.local/app:1}]
`,
    );
    allowed = await saToken(kns, 'checkpointer');
    await runningPod('member1', kns, 'p', 60_000);
  });
  after(async () => {
    await kubectl('member1', ['delete', 'namespace', kns, '--wait=false']).catch(() => undefined);
    await kubectl('member1', ['delete', 'clusterrole,clusterrolebinding', `${kns}-checkpoint`]).catch(
      () => undefined,
    );
  });

  it("answers 500 with the runtime's refusal, as CRI-O does", async () => {
    const dropIn = dropInOf('m1-a');
    const saved = readFileSync(dropIn, 'utf8');
    const label = await nodeLabel('m1-a');
    writeFileSync(dropIn, '[crio.checkpoint_restore]\ncontainer_level_enabled = "none"\n');
    try {
      assert.deepEqual(await kubeletCall('m1-a', `/checkpoint/${kns}/p/app`, allowed), {
        code: 500,
        body: `checkpointing of ${kns}/p/app failed (rpc error: code = Unknown desc = checkpoint/restore support not available)`,
      });
    } finally {
      await restoreDropIn('m1-a', saved, label);
    }
  });
});

describe('real runtime: a node whose runtime has checkpointing off', () => {
  const dropIn = dropInOf('m1-b');
  const ons = `${ns}-off`;
  let saved = '';
  let label: string | undefined;
  before(async () => {
    saved = readFileSync(dropIn, 'utf8');
    label = await nodeLabel('m1-b');
    await kubectl('member1', ['create', 'namespace', ons]);
  });
  after(async () => {
    await restoreDropIn('m1-b', saved, label);
    await kubectl('member1', ['delete', 'namespace', ons, '--wait=false']).catch(() => undefined);
  });

  it('container_level_enabled = "none": the backup fails with the kubelet\'s answer', async () => {
    writeFileSync(dropIn, '[crio.checkpoint_restore]\ncontainer_level_enabled = "none"\n');
    const info = registryInfo();
    await registrySecret(ons, 'creds', info.users[0]!);
    const pod = await runPod('member1', ons, 'nockpt', 'm1-b', ['app']);
    await applyBackup(ons, 'nockpt', pod, { url: info.url, repository: `e2e/${ons}`, secret: 'creds' });
    const b = await waitPhase('member1', ons, 'nockpt', ['Completed', 'Failed']);
    assert.equal(b.status?.phase, 'Failed');
    assert.match(
      b.status!.message!,
      /checkpointing of .*\/app failed \(rpc error: code = Unknown desc = checkpoint\/restore support not available\)/,
    );
  });
});
