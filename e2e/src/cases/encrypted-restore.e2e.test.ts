// suite: shares — own namespace, keys ConfigMap and repository; tampers only with its own image's blob
import assert from 'node:assert/strict';
import { createHash, createPublicKey } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, readSync, rmSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BuiltImage, CheckpointRestore } from '@stateful-migration/api';
import { fedKey } from '../fed/keys.js';
import { kubectl } from '../fed/kubectl.js';
import { fedDir } from '../fed/paths.js';
import {
  exists,
  getBackup,
  registryInfo,
  registrySecretYaml,
  runningPod,
  skopeo,
  skopeoCopy,
} from './agent-support.js';
import {
  counterCounts,
  markedCounterYaml,
  firstCounts,
  noCounterLeft,
  podState,
  pullSecretIn,
} from './restore-support.js';
import { eventually, unique } from './support.js';

/**
 * Issue 14, the restore side: a counter checkpointed with spec.encryption on the hub. The hub carries the keys
 * ConfigMap to member1 only; the image in the registry has only encrypted layers; a restore to a node holding the
 * e2e key (`fed up` puts it on m1-a and member2's nodes) decrypts and the counter goes on counting; a restore or
 * Migrate to m1-b (no key) is refused before anything is made or stopped; an image skopeo encrypted for the same key
 * restores on a node with it; a tampered blob in the registry fails the restore with a message and an Event; a
 * Migrate to member2 takes a fresh checkpoint encrypted for the same key and the counter goes on there, left only there.
 */
const ns = unique('encres');
const hub = (args: string[], input?: string) => kubectl('karmada', args, input);
const TAR = 'application/vnd.oci.image.layer.v1.tar';
const key = fedKey('e2e');
const fingerprint = () =>
  `sha256:${createHash('sha256')
    .update(createPublicKey(readFileSync(key.publicKey)).export({ type: 'spki', format: 'der' }))
    .digest('hex')}`;
let work = '';

const getRestore = async (name: string): Promise<CheckpointRestore> =>
  JSON.parse(await hub(['get', 'cpr', name, '-n', ns, '-o', 'json'])) as CheckpointRestore;
const waitRestore = (name: string, phases: string[]): Promise<CheckpointRestore> =>
  eventually(
    async () => {
      const r = await getRestore(name);
      return r.status?.phase && phases.includes(r.status.phase) ? r : undefined;
    },
    180_000,
    `${name} to reach ${phases.join('|')}`,
  );
const restoreYaml = (name: string, spec: string) => `apiVersion: migration.dcnlab.com/v1
kind: CheckpointRestore
metadata: {name: ${name}, namespace: ${ns}}
spec:
  backupRef: {name: counter}
${spec}`;
const lastCount = async (cluster: string, pod: string) =>
  (await counterCounts(cluster, ns, pod)).at(-1)?.n ?? 0;
/** The Warning Events of a CheckpointRestore on the hub, as `reason: message`. */
const warnings = async (name: string) =>
  (
    await hub([
      'get',
      'events',
      '-n',
      ns,
      '--field-selector',
      `involvedObject.name=${name},type=Warning`,
      '-o',
      'jsonpath={range .items[*]}{.reason}: {.message}{"\\n"}{end}',
    ])
  )
    .split('\n')
    .filter(Boolean);

describe('encrypted checkpoints restored (issue 14): keys on nodes, refusals, integrity', () => {
  let source = '';
  let atBackup = 0;
  let img: BuiltImage;

  before(async () => {
    work = mkdtempSync(join(fedDir, 'e2e-encres-'));
    const user = registryInfo().users[0]!;
    await hub(['create', 'namespace', ns]);
    await hub(
      ['apply', '-f', '-'],
      `${registrySecretYaml(ns, 'push', user.username, user.password)}---
apiVersion: v1
kind: ConfigMap
metadata: {name: keys, namespace: ${ns}}
data: ${JSON.stringify({ 'e2e.pem': readFileSync(key.publicKey, 'utf8') })}
---
${markedCounterYaml(ns)}`,
    );
    source = await runningPod('member1', ns, 'counter');
    await eventually(
      async () => ((await lastCount('member1', source)) >= 3 ? true : undefined),
      60_000,
      'the source to count to 3',
    );
    atBackup = await lastCount('member1', source);
    await hub(
      ['apply', '-f', '-'],
      `apiVersion: migration.dcnlab.com/v1
kind: CheckpointBackup
metadata: {name: counter, namespace: ${ns}}
spec:
  schedule: immediately
  podRef: {name: ${source}}
  resourceRef: {apiVersion: apps/v1, kind: Deployment, name: counter}
  registry: {url: "${registryInfo().url}", repository: encres/${ns}, secretRef: {name: push}}
  encryption: {publicKeysRef: {kind: ConfigMap, name: keys}}
`,
    );
    img = await eventually(
      async () => {
        const m1 = (await getBackup('karmada', ns, 'counter')).status?.clusters?.find(
          (c) => c.name === 'member1',
        );
        if (m1?.phase === 'Failed') throw new Error(`backup failed: ${m1.message}`);
        return m1?.phase === 'Completed' && m1.checkpointedPod ? m1.builtImages?.[0] : undefined;
      },
      180_000,
      'the encrypted backup to complete in member1 and show on the hub',
    );
  });
  after(async () => {
    await hub(['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
    await kubectl('member2', ['delete', 'pod', 'skopeo-enc', '-n', ns, '--wait=false']).catch(
      () => undefined,
    );
    rmSync(work, { recursive: true, force: true });
  });

  it('the hub carried the keys ConfigMap and its reader to member1 only; status records recipients and the archive digest; only encrypted layers', async () => {
    assert.ok(await exists('member1', ns, ['configmap', 'keys']), 'the keys object in member1');
    assert.ok(await exists('member1', ns, ['role', 'checkpoint-backup-public-keys-configmap-keys']));
    assert.ok(!(await exists('member2', ns, ['configmap', 'keys'])), 'not where the backup is not placed');
    assert.deepEqual(img.encryptedFor, [fingerprint()]);
    assert.match(img.archiveDigest ?? '', /^sha256:[0-9a-f]{64}$/);
    const ref = `${img.imageName.replace(/:[^:/]+$/, '')}@${img.digest}`;
    const manifest = JSON.parse(skopeo(['inspect', '--raw', `docker://${ref}`])) as {
      layers: { mediaType: string }[];
    };
    assert.ok(manifest.layers.length > 0);
    for (const l of manifest.layers) assert.equal(l.mediaType, `${TAR}+encrypted`);
    // The private key opens it: the layer is the archive whose digest the agent recorded.
    const out = join(work, 'decrypted');
    const r = skopeoCopy(
      work,
      [
        '--dest-oci-accept-uncompressed-layers',
        '--decryption-key',
        key.privateKey,
        `docker://${ref}`,
        `oci:${out}:latest`,
      ],
      { destCertDir: true },
    );
    assert.equal(r.status, 0, r.stderr);
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')) as {
      manifests: { digest: string }[];
    };
    const m = JSON.parse(
      readFileSync(join(out, 'blobs/sha256', index.manifests[0]!.digest.slice(7)), 'utf8'),
    ) as { layers: { mediaType: string; digest: string }[] };
    assert.deepEqual(
      m.layers.map((l) => [l.mediaType, l.digest]),
      [[TAR, img.archiveDigest]],
    );
    // Without a key the layer stays ciphertext.
    const noKey = skopeoCopy(
      work,
      ['--dest-oci-accept-uncompressed-layers', `docker://${ref}`, `oci:${join(work, 'nokey')}:x`],
      { destCertDir: true },
    );
    assert.equal(noKey.status, 0, noKey.stderr);
    assert.match(readFileSync(join(work, 'nokey', 'index.json'), 'utf8'), /manifests/);
  });

  it('Migrate to m1-b, which holds no key: refused before anything is made or stopped, with a message and an Event', async () => {
    await hub(
      ['apply', '-f', '-'],
      restoreYaml(
        'to-m1b',
        '  targetCluster: member1\n  targetNode: m1-b\n  mode: Migrate\n  podName: to-m1b\n',
      ),
    );
    const r = await waitRestore('to-m1b', ['Failed', 'Restored', 'SourceStopped']);
    assert.equal(r.status?.phase, 'Failed');
    assert.equal(r.status?.reason, 'TargetCannotDecrypt');
    assert.match(
      r.status!.message!,
      /^node m1-b holds no private key for the encrypted checkpoint image of container counter \(encrypted for sha256:[0-9a-f]{64}\) \(its keys: none\); place one of the recipients' private keys in the node runtime's decryption keys directory/,
    );
    await eventually(
      async () =>
        (await warnings('to-m1b')).some((w) => w.startsWith('TargetCannotDecrypt: node m1-b'))
          ? true
          : undefined,
      30_000,
      'a Warning Event TargetCannotDecrypt',
    );
    assert.ok(!(await exists('member1', ns, ['pod', 'to-m1b'])), 'no pod made');
    assert.equal(await podState('member1', ns, source), 'Running/Ready', 'the source untouched');
  });

  it('Restore into member2 (every node holds the key): the counter goes on from the checkpoint', async () => {
    await hub(
      ['apply', '-f', '-'],
      restoreYaml('copy', '  targetCluster: member2\n  podName: counter-copy\n'),
    );
    const r = await waitRestore('copy', ['Restored', 'Failed']);
    assert.equal(r.status?.phase, 'Restored', r.status?.message);
    const pod = JSON.parse(
      await kubectl('member2', ['get', 'pod', 'counter-copy', '-n', ns, '-o', 'json']),
    ) as {
      metadata: { annotations: Record<string, string> };
      spec: { nodeName: string };
    };
    assert.equal(
      pod.metadata.annotations['migration.dcnlab.com/checkpoint-archive-digests'],
      `counter=${img.archiveDigest}`,
    );
    assert.equal(pod.spec.nodeName, 'm2-a', 'the one node of member2 that restores and holds the key');
    const c = await firstCounts('member2', ns, 'counter-copy');
    assert.ok(c[0]!.n > atBackup, `restored counter starts at ${c[0]!.n}, the source had ${atBackup}`);
    assert.ok(c[1]!.n > c[0]!.n);
  });

  it('an image skopeo encrypted for the same key (skopeo copy --encryption-key jwe:) restores on a node holding it', async () => {
    const ref = `${img.imageName.replace(/:[^:/]+$/, '')}@${img.digest}`;
    const plain = join(work, 'plain');
    const d = skopeoCopy(
      work,
      [
        '--dest-oci-accept-uncompressed-layers',
        '--decryption-key',
        key.privateKey,
        `docker://${ref}`,
        `oci:${plain}:x`,
      ],
      { destCertDir: true },
    );
    assert.equal(d.status, 0, d.stderr);
    const target = `${registryInfo().url}/encres/${ns}/skopeo-enc:1`;
    const e = skopeoCopy(
      work,
      ['--encryption-key', `jwe:${key.publicKey}`, `oci:${plain}:x`, `docker://${target}`],
      { destCertDir: true },
    );
    assert.equal(e.status, 0, e.stderr);
    const manifest = JSON.parse(skopeo(['inspect', '--raw', `docker://${target}`])) as {
      layers: { mediaType: string }[];
    };
    assert.ok(
      manifest.layers.every((l) => l.mediaType.endsWith('+encrypted')),
      JSON.stringify(manifest.layers),
    );
    await pullSecretIn('member2', ns, 'pull', registryInfo().users[0]!);
    await kubectl(
      'member2',
      ['apply', '-f', '-'],
      `apiVersion: v1
kind: Pod
metadata:
  name: skopeo-enc
  namespace: ${ns}
  annotations: {migration.dcnlab.com/checkpoint-archive-digests: "counter=${img.archiveDigest}"}
spec:
  nodeSelector: {kubernetes.io/hostname: m2-a}
  imagePullSecrets: [{name: pull}]
  containers: [{name: counter, image: "${target}", env: [{name: MARK_FILE, value: /tmp/mark}]}]
`,
    );
    const c = await eventually(
      async () => {
        const state = await podState('member2', ns, 'skopeo-enc');
        if (/Err|BackOff|CreateContainerError/.test(state)) throw new Error(`skopeo-enc: ${state}`);
        const got = state === 'Running/Ready' ? await counterCounts('member2', ns, 'skopeo-enc') : [];
        return got.length >= 1 ? got : undefined;
      },
      120_000,
      'the counter restored from the skopeo-encrypted image to count',
    );
    assert.ok(c[0]!.n > atBackup, `starts at ${c[0]!.n}, the source had ${atBackup}`);

    // The node checks the archive it unpacks against the digest the pod carries: another one is not restored.
    const wrong = `sha256:${'0'.repeat(64)}`;
    await kubectl(
      'member2',
      ['apply', '-f', '-'],
      `apiVersion: v1
kind: Pod
metadata:
  name: wrong-archive
  namespace: ${ns}
  annotations: {migration.dcnlab.com/checkpoint-archive-digests: "counter=${wrong}"}
spec:
  nodeSelector: {kubernetes.io/hostname: m2-a}
  imagePullSecrets: [{name: pull}]
  containers: [{name: counter, image: "${target}"}]
`,
    );
    const message = await eventually(
      async () =>
        (
          await kubectl('member2', [
            'get',
            'pod',
            'wrong-archive',
            '-n',
            ns,
            '-o',
            'jsonpath={.status.containerStatuses[0].state.waiting.reason}: {.status.containerStatuses[0].state.waiting.message}',
          ]).catch(() => '')
        ).startsWith('CreateContainerError')
          ? kubectl('member2', [
              'get',
              'pod',
              'wrong-archive',
              '-n',
              ns,
              '-o',
              'jsonpath={.status.containerStatuses[0].state.waiting.message}',
            ])
          : undefined,
      60_000,
      'CreateContainerError for an archive other than the recorded one',
    );
    assert.match(
      message,
      new RegExp(
        `unpacks to archive ${img.archiveDigest}, not ${wrong} as recorded when it was checkpointed`,
      ),
    );
  });

  it('a tampered blob in the registry fails the restore with a message and an Event', async () => {
    const ref = `${img.imageName.replace(/:[^:/]+$/, '')}@${img.digest}`;
    const manifest = JSON.parse(skopeo(['inspect', '--raw', `docker://${ref}`])) as {
      layers: { digest: string; size: number }[];
    };
    const hex = manifest.layers[0]!.digest.slice(7);
    const blob = join(fedDir, 'registry/data/docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    const at = Math.floor(manifest.layers[0]!.size / 2);
    const fd = openSync(blob, 'r+');
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, at);
    const original = byte[0]!;
    writeSync(fd, Buffer.from([original ^ 0xff]), 0, 1, at);
    try {
      // m1-a holds the key and has never pulled this image: it reads the altered bytes.
      await hub(
        ['apply', '-f', '-'],
        restoreYaml('tampered', '  targetCluster: member1\n  targetNode: m1-a\n  podName: tampered\n'),
      );
      const r = await waitRestore('tampered', ['Failed', 'Restored']);
      assert.equal(r.status?.phase, 'Failed');
      assert.match(
        r.status!.message!,
        /ErrImagePull: .*Digest did not match, expected sha256:[0-9a-f]{64}, got/,
      );
      await eventually(
        async () =>
          (await warnings('tampered')).some((w) => /digest|HMAC|authentication/i.test(w)) ? true : undefined,
        30_000,
        'a Warning Event naming the integrity failure',
      );
    } finally {
      writeSync(fd, Buffer.from([original]), 0, 1, at);
      closeSync(fd);
    }
  });
  it('Migrate to member2 (its nodes hold the key): a fresh encrypted checkpoint, the source stopped, the counter goes on there and only there', async () => {
    const before = await lastCount('member1', source);
    await hub(
      ['apply', '-f', '-'],
      restoreYaml('move', '  targetCluster: member2\n  mode: Migrate\n  podName: counter-moved\n'),
    );
    const r = await waitRestore('move', ['SourceStopped', 'Failed']);
    assert.equal(r.status?.phase, 'SourceStopped', r.status?.message);
    // Its own checkpoint, encrypted for the backup's recipients like the backup's own images.
    const fresh = await getBackup('karmada', ns, r.status!.checkpoint!.backup);
    const m1 = fresh.status?.clusters?.find((c) => c.name === 'member1');
    assert.equal(m1?.phase, 'CompletedPodDeleted');
    const moved = m1!.builtImages![0]!;
    assert.deepEqual(moved.encryptedFor, [fingerprint()]);
    assert.notEqual(moved.digest, img.digest, 'not the earlier backup image');
    const manifest = JSON.parse(
      skopeo(['inspect', '--raw', `docker://${moved.imageName.replace(/:[^:/]+$/, '')}@${moved.digest}`]),
    ) as { layers: { mediaType: string }[] };
    for (const l of manifest.layers) assert.equal(l.mediaType, `${TAR}+encrypted`);
    // The restored pod checks the archive it unpacks against the one recorded for this checkpoint.
    assert.equal(
      await kubectl('member2', [
        'get',
        'pod',
        'counter-moved',
        '-n',
        ns,
        '-o',
        'jsonpath={.metadata.annotations.migration\\.dcnlab\\.com/checkpoint-archive-digests}',
      ]),
      `counter=${moved.archiveDigest}`,
    );
    const c = await firstCounts('member2', ns, 'counter-moved');
    assert.ok(c[0]!.n > before, `the migrated counter starts at ${c[0]!.n}; the source had ${before} before`);
    assert.ok(c[1]!.n > c[0]!.n);
    await eventually(
      async () => ((await exists('member1', ns, ['pod', source])) ? undefined : true),
      60_000,
      'the source pod gone from member1',
    );
    // The workload scaled to 0 on the hub (Karmada then takes it out of member1): one counter left.
    assert.equal(await hub(['get', 'deploy', 'counter', '-n', ns, '-o', 'jsonpath={.spec.replicas}']), '0');
    await noCounterLeft('member1', ns);
  });
});
