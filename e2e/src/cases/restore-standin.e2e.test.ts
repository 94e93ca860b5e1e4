// suite: shares — own namespace, pull secrets and repository
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { byDigest } from '@stateful-migration/restore';
import { kubectl } from '../fed/kubectl.js';
import { registryInfo } from './agent-support.js';
import { podState, pullSecretIn, pushedCheckpoint } from './restore-support.js';
import { eventually, unique } from './support.js';

const ns = unique('standin-restore');

/** A pod bound to m2-a (member2) running `image` as container `name`. */
const restoredPodYaml = (pod: string, name: string, image: string, secret?: string) => `apiVersion: v1
kind: Pod
metadata: {name: ${pod}, namespace: ${ns}}
spec:
  nodeName: m2-a
  ${secret ? `imagePullSecrets: [{name: ${secret}}]` : ''}
  containers: [{name: ${name}, image: "${image}"}]
`;

const settles = (pod: string, want: (s: string) => boolean) =>
  eventually(
    async () => {
      const s = await podState('member2', ns, pod);
      return want(s) ? s : undefined;
    },
    60_000,
    `${pod} to settle`,
  );

describe('the node stand-in restores checkpoint images as CRI-O would, checking the real registry', () => {
  let image = '';
  before(async () => {
    await kubectl('member1', ['create', 'namespace', ns]);
    await kubectl('member2', ['create', 'namespace', ns]);
    // The ServiceAccount admission refuses pods until the namespace's default ServiceAccount exists.
    await eventually(
      () =>
        kubectl('member2', ['get', 'serviceaccount', 'default', '-n', ns]).then(
          () => true,
          () => undefined,
        ),
      60_000,
      `the default ServiceAccount in ${ns}`,
    );
    const b = await pushedCheckpoint(ns, 'src');
    image = byDigest(b.status!.builtImages![0]!)!;
    const info = registryInfo();
    await pullSecretIn('member2', ns, 'good', info.users[0]!);
    await pullSecretIn('member2', ns, 'bad', { username: info.users[0]!.username, password: 'wrong' });
  });
  after(async () => {
    for (const c of ['member1', 'member2'])
      await kubectl(c, ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it('a checkpoint image of the same container, pulled with the pod’s pull secret: restored by CRIU, Running and Ready, counting on', async () => {
    await kubectl('member2', ['apply', '-f', '-'], restoredPodYaml('ok', 'app', image, 'good'));
    assert.equal(await settles('ok', (s) => s !== 'Pending/NotReady'), 'Running/Ready');
    // The counter does not start from 1: CRIU gave the process back its memory.
    const first = await eventually(
      async () => /^count (\d+)$/m.exec(await kubectl('member2', ['logs', '-n', ns, 'ok']))?.[1],
      20_000,
      'a count from the restored counter',
    );
    assert.ok(Number(first) > 1, `restored counter starts at ${first}`);
  });

  it('wrong credentials, no pull secret, or an unknown digest: ErrImagePull, as a kubelet says', async () => {
    const unknown = image.replace(/@sha256:.*/, `@sha256:${'0'.repeat(64)}`);
    await kubectl(
      'member2',
      ['apply', '-f', '-'],
      [
        restoredPodYaml('badcreds', 'app', image, 'bad'),
        restoredPodYaml('nocreds', 'app', image),
        restoredPodYaml('unknown', 'app', unknown, 'good'),
      ].join('---\n'),
    );
    // ErrImagePull, then ImagePullBackOff while the kubelet waits to pull again.
    for (const p of ['badcreds', 'nocreds', 'unknown'])
      assert.match(await settles(p, (s) => s !== 'Pending/NotReady'), /^(ErrImagePull|ImagePullBackOff)$/, p);
    const msg = await kubectl('member2', [
      'get',
      'pod',
      'badcreds',
      '-n',
      ns,
      '-o',
      'jsonpath={.status.containerStatuses[0].state.waiting.message}',
    ]);
    assert.match(msg, /unauthorized/);
    assert.ok(!msg.includes(registryInfo().users[0]!.password), 'no password in pod status');
  });

  it('a checkpoint of another container: CreateContainerError naming both', async () => {
    await kubectl('member2', ['apply', '-f', '-'], restoredPodYaml('othername', 'web', image, 'good'));
    assert.equal(await settles('othername', (s) => s !== 'Pending/NotReady'), 'CreateContainerError');
    const msg = await kubectl('member2', [
      'get',
      'pod',
      'othername',
      '-n',
      ns,
      '-o',
      'jsonpath={.status.containerStatuses[0].state.waiting.message}',
    ]);
    assert.match(msg, /holds container "app", not "web"/);
  });
});
