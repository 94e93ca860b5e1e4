// suite: shares — own namespace and repositories; reads only its own repositories' lines of the registry log
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { kubectl } from '../fed/kubectl.js';
import { fedDir } from '../fed/paths.js';
import {
  applyBackup,
  backupYaml,
  checkpointDir,
  nodeBuildah,
  registryInfo,
  registrySecret,
  runPod,
  runningPod,
  skopeo,
  waitPhase,
} from './agent-support.js';
import { eventsWhen, eventually, unique } from './support.js';

const ns = unique('agent');

describe('the member agent on the local federation', () => {
  before(async () => {
    await kubectl('member1', ['create', 'namespace', ns]);
  });
  after(async () => {
    await kubectl('member1', ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
  });

  it("seed 000, localhost immediate: every container's image is in the node's containers-storage, archives deleted", async () => {
    const pod = await runPod('member1', ns, 'local', 'm1-a');
    await kubectl('member1', ['apply', '-f', '-'], backupYaml(ns, 'local', pod));
    const b = await waitPhase('member1', ns, 'local', ['Completed', 'Failed']);
    assert.equal(b.status?.phase, 'Completed', b.status?.message);
    assert.equal(b.status?.observedGeneration, 1);
    assert.ok(b.status?.lastCheckpointTime);
    const images = b.status?.builtImages ?? [];
    assert.deepEqual(images.map((i) => i.containerName).sort(), ['app', 'side']);
    for (const img of images) {
      assert.match(
        img.imageName,
        new RegExp(`^localhost/checkpoint-${pod}-${img.containerName}:\\d{8}-\\d{6}-\\d{3}$`),
      );
      const inspect = JSON.parse(nodeBuildah('m1-a', ['inspect', '--type', 'image', img.imageName])) as {
        FromImageDigest: string;
        ImageAnnotations: Record<string, string>;
      };
      assert.equal(inspect.FromImageDigest, img.digest);
      assert.equal(
        inspect.ImageAnnotations['io.kubernetes.cri-o.annotations.checkpoint.name'],
        img.containerName,
      );
      assert.equal(inspect.ImageAnnotations['org.criu.checkpoint.pod.name'], pod);
    }
    assert.deepEqual(
      readdirSync(checkpointDir('m1-a')).filter((f) => f.includes(pod)),
      [],
      'archives are deleted after success',
    );
    // What a restore needs, recorded at checkpoint time; read the way a user would, with kubectl.
    const recorded = JSON.parse(
      await kubectl('member1', ['get', 'cpb', 'local', '-n', ns, '-o', 'jsonpath={.status.checkpointedPod}']),
    ) as {
      name: string;
      namespace: string;
      node: string;
      uid: string;
      labels: Record<string, string>;
      serviceAccountName: string;
      containers: unknown[];
      volumes: unknown[];
    };
    type Live = {
      metadata: { uid: string };
      spec: { containers: { name: string; image: string; volumeMounts?: unknown[] }[]; volumes?: unknown[] };
    };
    const live = JSON.parse(await kubectl('member1', ['get', 'pod', pod, '-n', ns, '-o', 'json'])) as Live;
    assert.equal(recorded.name, pod);
    assert.equal(recorded.namespace, ns);
    assert.equal(recorded.node, 'm1-a');
    assert.equal(recorded.uid, live.metadata.uid);
    assert.equal(recorded.labels.app, 'local');
    assert.equal(recorded.serviceAccountName, 'default');
    // The original images, and the mounts (here the service-account token the member injected): CRI-O needs them.
    assert.deepEqual(
      recorded.containers,
      live.spec.containers.map((c) => ({ name: c.name, image: c.image, volumeMounts: c.volumeMounts })),
    );
    assert.deepEqual(recorded.volumes, live.spec.volumes);
    const want = ['Checkpointing', 'Checkpointed', 'ImageBuilt', 'Completed'];
    await eventsWhen(
      'member1',
      ns,
      'local',
      (ev) => want.every((r) => ev.some((e) => e.reason === r)),
      `Events ${want.join(', ')}`,
    );
  });

  it('seed 000, localhost immediate with stopPod: the pod is deleted and the phase says so', async () => {
    const pod = await runPod('member1', ns, 'stop', 'm1-b');
    await kubectl('member1', ['apply', '-f', '-'], backupYaml(ns, 'stop', pod, '  stopPod: true\n'));
    const b = await waitPhase('member1', ns, 'stop', ['CompletedPodDeleted', 'CompletedWithError', 'Failed']);
    assert.equal(b.status?.phase, 'CompletedPodDeleted', b.status?.message);
    await eventually(
      async () =>
        (await kubectl('member1', ['get', 'pod', pod, '-n', ns, '--ignore-not-found'])).trim() === ''
          ? true
          : undefined,
      30_000,
      'the pod to be gone',
    );
  });

  it('pushes to the registry with the credentials of its own secret; skopeo sees the annotations and the recorded digest', async () => {
    const info = registryInfo();
    await registrySecret(ns, 'alice-creds', info.users[0]!);
    const pod = await runPod('member1', ns, 'pushed', 'm1-a', ['app']);
    await applyBackup(ns, 'pushed', pod, { url: info.url, repository: `e2e/${ns}`, secret: 'alice-creds' });
    const b = await waitPhase('member1', ns, 'pushed', ['Completed', 'Failed']);
    assert.equal(b.status?.phase, 'Completed', b.status?.message);
    const img = b.status!.builtImages![0]!;
    assert.equal(img.pushed, true);
    assert.ok(img.imageName.startsWith(`${info.url}/e2e/${ns}/checkpoint-${pod}-app:`));
    const raw = JSON.parse(skopeo(['inspect', '--raw', `docker://${img.imageName}`])) as {
      annotations: Record<string, string>;
    };
    assert.equal(raw.annotations['io.kubernetes.cri-o.annotations.checkpoint.name'], 'app');
    assert.equal(raw.annotations['org.criu.checkpoint.pod.namespace'], ns);
    const digest = (JSON.parse(skopeo(['inspect', `docker://${img.imageName}`])) as { Digest: string })
      .Digest;
    assert.equal(digest, img.digest);
  });

  it('never mixes credentials: two objects push as their own registry users', async () => {
    const info = registryInfo();
    await registrySecret(ns, 'bob-creds', info.users[1]!);
    const pod = await runPod('member1', ns, 'bobs', 'm1-b', ['app']);
    await applyBackup(ns, 'bobs', pod, { url: info.url, repository: `e2e/bob-${ns}`, secret: 'bob-creds' });
    const b = await waitPhase('member1', ns, 'bobs', ['Completed', 'Failed']);
    assert.equal(b.status?.phase, 'Completed', b.status?.message);
    // distribution names the user on its request lines; each push first asks for the tag (a 404), as that user.
    const log = readFileSync(join(fedDir, 'logs/registry.log'), 'utf8').split('\n');
    const usersOf = (repo: string) =>
      new Set(
        log
          .filter((l) => l.includes(`http.request.uri=/v2/${repo}/`))
          .map((l) => /auth\.user\.name=(\w+)/.exec(l)?.[1])
          .filter(Boolean),
      );
    assert.deepEqual([...usersOf(`e2e/bob-${ns}`)], ['bob']);
    assert.deepEqual([...usersOf(`e2e/${ns}`)], ['alice']);
  });

  it('a wrong registry password ends Failed with a message that does not contain it, and an Event', async () => {
    const info = registryInfo();
    await registrySecret(ns, 'wrong-creds', info.users[0]!, 'wrong-password-Zq9');
    const pod = await runPod('member1', ns, 'wrongpw', 'm1-a', ['app']);
    await applyBackup(ns, 'wrongpw', pod, { url: info.url, repository: 'e2e/x', secret: 'wrong-creds' });
    const b = await waitPhase('member1', ns, 'wrongpw', ['Failed']);
    assert.match(b.status?.message ?? '', /refused the credentials \(401\)/);
    assert.ok(!JSON.stringify(b.status).includes('Zq9'));
    const warnings = await eventsWhen(
      'member1',
      ns,
      'wrongpw',
      (ev) => ev.some((e) => e.type === 'Warning' && /401/.test(e.message)),
      'a Warning Event saying 401',
    );
    assert.ok(!JSON.stringify(warnings).includes('Zq9'));
  });

  it('the registry down ends Failed saying it is unreachable', async () => {
    const pod = await runPod('member1', ns, 'regdown', 'm1-a', ['app']);
    await applyBackup(ns, 'regdown', pod, { url: '127.0.0.1:9', repository: 'e2e/x', secret: 'alice-creds' });
    const b = await waitPhase('member1', ns, 'regdown', ['Failed']);
    assert.match(b.status?.message ?? '', /registry 127\.0\.0\.1:9 unreachable: ECONNREFUSED/);
  });

  it('bad input: an invalid cron, a missing pod, a missing container each end Failed with a message naming the problem', async () => {
    const pod = await runPod('member1', ns, 'badin', 'm1-a', ['app']);
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      backupYaml(ns, 'badcron', pod).replace('"immediately"', '"61 * * * *"'),
    );
    await kubectl('member1', ['apply', '-f', '-'], backupYaml(ns, 'nopod', 'no-such-pod'));
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      backupYaml(ns, 'nocontainer', pod, '  containers: [{name: db}]\n'),
    );
    assert.match(
      (await waitPhase('member1', ns, 'badcron', ['Failed'])).status?.message ?? '',
      /"61 \* \* \* \*" is not a valid cron expression \(minute/,
    );
    assert.match(
      (await waitPhase('member1', ns, 'nopod', ['Failed'])).status?.message ?? '',
      new RegExp(`pod ${ns}/no-such-pod does not exist`),
    );
    assert.match(
      (await waitPhase('member1', ns, 'nocontainer', ['Failed'])).status?.message ?? '',
      /has no container db \(it has: app\)/,
    );
  });

  it('a runtime failure (kubelet 500) ends Failed with the kubelet reason and is retried', async () => {
    // A real CRIU refusal: the container holds an established TCP connection (CRI-O does not pass
    // --tcp-established), so the dump fails and the kubelet answers 500 with the runtime's error.
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      `apiVersion: apps/v1
kind: Deployment
metadata: {name: rt500, namespace: ${ns}}
spec:
  replicas: 1
  selector: {matchLabels: {app: rt500}}
  template:
    metadata: {labels: {app: rt500}}
    spec:
      nodeSelector: {kubernetes.io/hostname: m1-a}
      terminationGracePeriodSeconds: 1
      containers:
      - name: app
        image: busybox
        command: [sh, -c, 'sleep 3600 | nc -l -p 5000 >/dev/null & sleep 1; sleep 3600 | nc 127.0.0.1 5000 >/dev/null']
`,
    );
    const pod = await runningPod('member1', ns, 'rt500');
    await new Promise((r) => setTimeout(r, 1500)); // the connection is made a second after the start
    await kubectl('member1', ['apply', '-f', '-'], backupYaml(ns, 'rt500', pod));
    const b = await waitPhase('member1', ns, 'rt500', ['Failed']);
    assert.match(
      b.status?.message ?? '',
      /kubelet failed to checkpoint .* \(500: checkpointing of .* failed \(rpc error: code = Unknown desc = failed to checkpoint container: .*CRIU: .*TCP/,
    );
    assert.equal(b.status?.run?.failures, 1);
  });

  it("a pod on another node: that node's agent acts, this one leaves it alone", async () => {
    const pod = await runPod('member1', ns, 'othernode', 'm1-b', ['app']);
    await kubectl('member1', ['apply', '-f', '-'], backupYaml(ns, 'othernode', pod));
    const b = await waitPhase('member1', ns, 'othernode', ['Completed', 'Failed']);
    assert.equal(b.status?.run?.node, 'm1-b');
    assert.ok(existsSync(checkpointDir('m1-a')));
    assert.throws(() =>
      nodeBuildah('m1-a', ['inspect', '--type', 'image', b.status!.builtImages![0]!.imageName]),
    );
    assert.ok(nodeBuildah('m1-b', ['inspect', '--type', 'image', b.status!.builtImages![0]!.imageName]));
  });
});
