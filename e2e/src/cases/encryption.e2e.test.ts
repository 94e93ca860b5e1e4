// suite: shares — own namespace, keys and repository; reads only its own pods' archives
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import {
  linkSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CheckpointBackup } from '@stateful-migration/api';
import { kubectl } from '../fed/kubectl.js';
import { fedDir } from '../fed/paths.js';
import {
  backupYaml,
  publicKeysYaml,
  checkpointDir,
  registryInfo,
  registrySecret,
  runPod,
  skopeo,
  skopeoCopy,
  waitPhase,
} from './agent-support.js';
import { eventually, unique } from './support.js';

// Issue 14: a CheckpointBackup with spec.encryption pushes its checkpoint image encrypted in ocicrypt's format, for
// the public keys of a ConfigMap in its namespace. Checked with skopeo, the containers/image tool CRI-O pulls with:
// only encrypted layers in the registry, and `skopeo copy --decryption-key` gives back the archive the kubelet
// wrote, byte for byte; without the key the layer stays ciphertext, with another key decryption fails.

const ns = unique('encrypt');
const NODE = 'm1-a';
/** Keys, auth file, captured archives and skopeo's layouts: under .fed, on the checkpoint directory's filesystem. */
let work = '';
const JWE = 'org.opencontainers.image.enc.keys.jwe';
const PUBOPTS = 'org.opencontainers.image.enc.pubopts';
const TAR = 'application/vnd.oci.image.layer.v1.tar';

interface Key {
  privateKey: KeyObject;
  publicPem: string;
  /** For skopeo --decryption-key. */
  privateFile: string;
  fingerprint: string;
}

function key(name: string, spec: { rsa: number } | { curve: string }): Key {
  const pair =
    'rsa' in spec
      ? generateKeyPairSync('rsa', { modulusLength: spec.rsa })
      : generateKeyPairSync('ec', { namedCurve: spec.curve });
  const privateFile = join(work, `${name}.pem`);
  writeFileSync(privateFile, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const der = pair.publicKey.export({ type: 'spki', format: 'der' });
  return {
    privateKey: pair.privateKey,
    publicPem: pair.publicKey.export({ type: 'spki', format: 'pem' }) as string,
    privateFile,
    fingerprint: `sha256:${createHash('sha256').update(der).digest('hex')}`,
  };
}

/** A ConfigMap of public keys in this case's namespace and, unless `reader` is false, the agents' reader of it. */
const keysYaml = (name: string, data: Record<string, string>, reader = true): string =>
  publicKeysYaml(ns, name, data, reader);

function encryptedBackupYaml(name: string, pod: string, keys: string): string {
  const info = registryInfo();
  return backupYaml(
    ns,
    name,
    pod,
    `  registry: {url: "${info.url}", repository: e2e/${ns}, secretRef: {name: alice-creds}}
  encryption: {publicKeysRef: {kind: ConfigMap, name: ${keys}}}
`,
  );
}

/**
 * Keeps a hard link to every archive the kubelet writes for `pod` in the node's checkpoint directory: the agent
 * deletes the archive once it is pushed, the link keeps its bytes for the comparison.
 */
function captureArchives(pod: string): { stop: () => void; files: () => string[] } {
  const dir = checkpointDir(NODE);
  const kept = join(work, `archives-${pod}`);
  mkdirSync(kept, { recursive: true });
  const seen = new Set<string>();
  const grab = () => {
    for (const f of readdirSync(dir)) {
      if (!f.startsWith(`checkpoint-${pod}_${ns}-`) || seen.has(f)) continue;
      try {
        linkSync(join(dir, f), join(kept, f));
        seen.add(f);
      } catch {
        // gone already, or not complete: the next event or poll sees it again
      }
    }
  };
  const watcher = watch(dir, grab);
  const poll = setInterval(grab, 20);
  return {
    stop: () => {
      watcher.close();
      clearInterval(poll);
    },
    files: () => [...seen].map((f) => join(kept, f)),
  };
}

/** The one layer of an OCI layout skopeo wrote. */
function layoutLayer(dir: string): { mediaType: string; bytes: Buffer } {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as {
    manifests: { digest: string }[];
  };
  const blob = (d: string) => join(dir, 'blobs/sha256', d.slice(7));
  const m = JSON.parse(readFileSync(blob(index.manifests[0]!.digest), 'utf8')) as {
    layers: { mediaType: string; digest: string }[];
  };
  assert.equal(m.layers.length, 1);
  return { mediaType: m.layers[0]!.mediaType, bytes: readFileSync(blob(m.layers[0]!.digest)) };
}

describe('encrypted checkpoint images (issue 14) on the local federation', () => {
  let ec: Key;
  let rsa: Key;
  let stranger: Key;

  before(async () => {
    work = mkdtempSync(join(fedDir, 'e2e-encrypt-'));
    ec = key('ec', { curve: 'P-256' });
    rsa = key('rsa', { rsa: 3072 });
    stranger = key('stranger', { curve: 'P-256' });
    await kubectl('member1', ['create', 'namespace', ns]);
    await registrySecret(ns, 'alice-creds', registryInfo().users[0]!);
    await kubectl(
      'member1',
      ['apply', '-f', '-'],
      keysYaml('keys', { 'a-ec.pem': ec.publicPem, 'b-rsa.pem': rsa.publicPem }),
    );
  });
  after(async () => {
    await kubectl('member1', ['delete', 'namespace', ns, '--wait=false']).catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  });

  it('the CRD in member1 has spec.encryption (else deploy/crds predates issue 14: re-apply it)', async () => {
    const type = await kubectl('member1', [
      'get',
      'crd',
      'checkpointbackups.migration.dcnlab.com',
      '-o',
      'jsonpath={.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.encryption.type}',
    ]);
    assert.equal(type, 'object', 'the CRD would prune spec.encryption and the agent would push in clear');
  });

  it('pushes only encrypted layers; skopeo --decryption-key with either key gives back the archive the kubelet wrote; no key leaves ciphertext; another key fails', async () => {
    const pod = await runPod('member1', ns, 'enc', NODE, ['app']);
    const capture = captureArchives(pod);
    let b: CheckpointBackup;
    try {
      await kubectl('member1', ['apply', '-f', '-'], encryptedBackupYaml('enc', pod, 'keys'));
      b = await waitPhase('member1', ns, 'enc', ['Completed', 'Failed'], 120_000);
    } finally {
      capture.stop();
    }
    assert.equal(b.status?.phase, 'Completed', b.status?.message);
    const img = b.status!.builtImages![0]!;
    assert.equal(img.pushed, true);
    assert.deepEqual(img.encryptedFor, [ec.fingerprint, rsa.fingerprint]);
    assert.match(b.status?.message ?? '', /checkpointed app/);

    // The manifest, as the registry serves it: every layer encrypted, with ocicrypt's annotations.
    const manifest = JSON.parse(skopeo(['inspect', '--raw', `docker://${img.imageName}`])) as {
      annotations: Record<string, string>;
      layers: { mediaType: string; annotations?: Record<string, string> }[];
    };
    assert.ok(manifest.layers.length > 0);
    for (const l of manifest.layers) {
      assert.equal(l.mediaType, `${TAR}+encrypted`);
      assert.ok(l.annotations?.[JWE] && l.annotations[PUBOPTS], 'the wrapped key and the public options');
    }
    assert.equal(manifest.annotations['io.kubernetes.cri-o.annotations.checkpoint.name'], 'app');
    assert.equal(
      manifest.annotations['migration.dcnlab.com/encrypted-for'],
      `${ec.fingerprint},${rsa.fingerprint}`,
    );
    const digest = (JSON.parse(skopeo(['inspect', `docker://${img.imageName}`])) as { Digest: string })
      .Digest;
    assert.equal(digest, img.digest);

    // The archive the kubelet wrote (kept by a hard link; the agent deleted it after the push).
    const archives = capture.files();
    assert.equal(archives.length, 1, `one archive of ${pod}: ${archives.join(', ')}`);
    const archive = readFileSync(archives[0]!);
    // Root-only while it was there: the hard link shares the archive's inode, so its mode is the archive's.
    assert.equal((statSync(archives[0]!).mode & 0o777).toString(8), '600', 'the archive was 0600');
    assert.equal((statSync(checkpointDir(NODE)).mode & 0o777).toString(8), '700', 'in a 0700 directory');
    assert.equal(
      img.archiveDigest,
      `sha256:${createHash('sha256').update(archive).digest('hex')}`,
      'status records the digest of the archive as the kubelet wrote it',
    );
    assert.ok(
      !readdirSync(checkpointDir(NODE)).some((f) => f.startsWith(`checkpoint-${pod}_`)),
      'deleted from the node once pushed',
    );

    for (const [name, k] of [
      ['ec', ec],
      ['rsa', rsa],
    ] as const) {
      const out = join(work, `decrypted-${name}`);
      const r = skopeoCopy(work, [
        '--dest-oci-accept-uncompressed-layers',
        '--decryption-key',
        k.privateFile,
        `docker://${img.imageName}`,
        `oci:${out}:latest`,
      ]);
      assert.equal(r.status, 0, r.stderr);
      const layer = layoutLayer(out);
      assert.equal(layer.mediaType, TAR);
      assert.ok(layer.bytes.equals(archive), `${name}: the decrypted layer is the archive, byte for byte`);
    }

    const plain = join(work, 'no-key');
    const copied = skopeoCopy(work, [
      '--dest-oci-accept-uncompressed-layers',
      `docker://${img.imageName}`,
      `oci:${plain}:latest`,
    ]);
    assert.equal(copied.status, 0, copied.stderr);
    const still = layoutLayer(plain);
    assert.equal(still.mediaType, `${TAR}+encrypted`, 'without a key the layer is copied as ciphertext');
    assert.ok(!still.bytes.equals(archive));
    assert.ok(!still.bytes.includes('io.kubernetes.pod.namespace'), 'no spec.dump in clear');

    const wrong = skopeoCopy(work, [
      '--dest-oci-accept-uncompressed-layers',
      '--decryption-key',
      stranger.privateFile,
      `docker://${img.imageName}`,
      `oci:${join(work, 'wrong-key')}:latest`,
    ]);
    assert.notEqual(wrong.status, 0, 'another key cannot decrypt it');
    assert.match(wrong.stderr, /decrypt|no suitable key/i);
  });

  const refusals: [string, string, string, RegExp][] = [
    [
      'nokeys',
      'absent',
      'EncryptionKeysNotFound',
      /ConfigMap .*\/absent does not exist in this cluster: create it, one PEM public key per data key; nothing was checkpointed/,
    ],
    [
      'norole',
      'unreadable',
      'EncryptionKeysUnreadable',
      /ConfigMap .*\/unreadable cannot be read by the agent \(403 Forbidden\): give its ServiceAccount get on that one ConfigMap/,
    ],
    [
      'private',
      'private',
      'EncryptionKeysInvalid',
      /data key "oops\.pem", is not a public key to encrypt for: it holds a private key/,
    ],
  ];
  for (const [name, keys, reason, message] of refusals)
    it(`${name}: Failed (${reason}) with a message and a Warning Event, and no checkpoint taken`, async () => {
      if (keys === 'absent') {
        // The agent may read it (a Role for that name) but it is not there: the apiserver answers 404, not 403.
        await kubectl('member1', ['apply', '-f', '-'], keysYaml(keys, { 'k.pem': ec.publicPem }));
        await kubectl('member1', ['delete', 'configmap', keys, '-n', ns]);
      }
      if (keys === 'unreadable')
        await kubectl('member1', ['apply', '-f', '-'], keysYaml(keys, { 'k.pem': ec.publicPem }, false));
      if (keys === 'private')
        await kubectl(
          'member1',
          ['apply', '-f', '-'],
          keysYaml(keys, {
            'oops.pem': ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
          }),
        );
      const pod = await runPod('member1', ns, name, NODE, ['app']);
      await kubectl('member1', ['apply', '-f', '-'], encryptedBackupYaml(name, pod, keys));
      const b = await waitPhase('member1', ns, name, ['Failed', 'Completed']);
      assert.equal(b.status?.phase, 'Failed');
      assert.match(b.status?.message ?? '', message);
      assert.ok(!(b.status?.message ?? '').includes('PRIVATE KEY'));
      await eventually(
        async () =>
          (
            await kubectl('member1', [
              'get',
              'events',
              '-n',
              ns,
              '--field-selector',
              `involvedObject.name=${name},type=Warning`,
              '-o',
              'jsonpath={.items[*].reason}',
            ])
          ).includes(reason) || undefined,
        30_000,
        `a Warning Event ${reason}`,
      );
      assert.ok(
        !readdirSync(checkpointDir(NODE)).some((f) => f.startsWith(`checkpoint-${pod}_`)),
        'the kubelet was never asked for a checkpoint',
      );
      assert.equal(b.status?.checkpointFiles?.length ?? 0, 0);
    });

  it('the API server refuses spec.encryption without spec.registry', async () => {
    const yaml = backupYaml(
      ns,
      'noregistry',
      'any-pod',
      '  encryption: {publicKeysRef: {kind: ConfigMap, name: keys}}\n',
    );
    await assert.rejects(
      kubectl('member1', ['apply', '-f', '-'], yaml),
      /spec\.encryption needs spec\.registry: only images pushed to a registry are encrypted/,
    );
  });
});
