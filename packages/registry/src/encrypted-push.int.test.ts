// suite: shares — a registry of its own on a free port, with its own storage
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  ANNOTATION_JWE,
  ANNOTATION_PUBOPTS,
  parseRecipientKey,
  type RecipientKey,
} from '@stateful-migration/ocicrypt';
import { RegistryClient } from './client.js';
import { getManifest, pushImage } from './push.js';

/**
 * The encrypted push against a real registry of its own (the federation's: distribution v3 as build-binaries.sh builds
 * it, plain http on loopback, a temporary storage directory), read back with Debian's skopeo: skopeo --decryption-key
 * gives back the archive byte for byte, and the registry's storage never holds the archive's bytes.
 */

const REGISTRY_VERSION = 'v3.1.2'; // as e2e/scripts/build-binaries.sh
const registryBin = join(
  process.env.STATEFUL_MIGRATION_CACHE ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'stateful-migration'),
  'bin',
  `registry-${REGISTRY_VERSION}`,
  'registry',
);

const tmp = mkdtempSync(join(tmpdir(), 'encrypted-push-'));
const storage = join(tmp, 'storage');
let registry: ChildProcess | undefined;
let host = '';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function startRegistry(): Promise<void> {
  const port = await freePort();
  host = `127.0.0.1:${port}`;
  mkdirSync(storage, { recursive: true });
  const config = join(tmp, 'config.yml');
  writeFileSync(
    config,
    `version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: ${storage}}
  delete: {enabled: true}
http: {addr: ${host}}
`,
  );
  if (!statSync(registryBin, { throwIfNoEntry: false }))
    throw new Error(
      `registry ${REGISTRY_VERSION} not found at ${registryBin}: run bash e2e/scripts/build-binaries.sh`,
    );
  registry = spawn(registryBin, ['serve', config], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    try {
      const res = await fetch(`http://${host}/v2/`);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the registry did not come up');
}

interface Key {
  name: string;
  privateKey: KeyObject;
  privatePem: string;
  recipient: RecipientKey;
}

function key(name: string, spec: { rsa: number } | { curve: string }): Key {
  const pair =
    'rsa' in spec
      ? generateKeyPairSync('rsa', { modulusLength: spec.rsa })
      : generateKeyPairSync('ec', { namedCurve: spec.curve });
  const privatePem = join(tmp, `${name}.pem`);
  writeFileSync(privatePem, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return {
    name,
    privateKey: pair.privateKey,
    privatePem,
    recipient: parseRecipientKey(pair.publicKey.export({ type: 'spki', format: 'pem' }) as string),
  };
}

function skopeo(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync('skopeo', args, { encoding: 'utf8' });
}

/** A checkpoint-like tar whose spec.dump holds a marker that must never reach the registry in clear. */
function makeArchive(marker: string, bytes: number): string {
  const src = join(tmp, `src-${marker}`);
  mkdirSync(join(src, 'checkpoint'), { recursive: true });
  writeFileSync(join(src, 'checkpoint', 'pages-1.img'), randomBytes(bytes));
  writeFileSync(join(src, 'spec.dump'), JSON.stringify({ annotations: { secret: marker } }));
  const tar = join(tmp, `${marker}.tar`);
  const r = spawnSync('tar', ['-cf', tar, '-C', src, 'checkpoint', 'spec.dump']);
  assert.equal(r.status, 0);
  return tar;
}

/** Whether any file the registry stored contains `needle`. */
function storedAnywhere(needle: string, dir = storage): boolean {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory() ? storedAnywhere(needle, p) : readFileSync(p).includes(needle)) return true;
  }
  return false;
}

/** The layout skopeo wrote: its one layer's descriptor and bytes. */
function layoutLayer(dir: string): {
  mediaType: string;
  annotations?: Record<string, string>;
  bytes: Buffer;
} {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as {
    manifests: { digest: string }[];
  };
  const blob = (d: string) => join(dir, 'blobs/sha256', d.slice(7));
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0]!.digest), 'utf8')) as {
    layers: { mediaType: string; digest: string; annotations?: Record<string, string> }[];
  };
  const layer = manifest.layers[0]!;
  return {
    mediaType: layer.mediaType,
    annotations: layer.annotations,
    bytes: readFileSync(blob(layer.digest)),
  };
}

const client = () => new RegistryClient({ host, insecureHttp: true });
let n = 0;

describe('pushImage with encryptFor against a registry of its own, read back by skopeo', () => {
  let keys: Record<string, Key>;
  before(async () => {
    await startRegistry();
    keys = {
      rsa2048: key('rsa2048', { rsa: 2048 }),
      rsa4096: key('rsa4096', { rsa: 4096 }),
      p256: key('p256', { curve: 'P-256' }),
      p384: key('p384', { curve: 'P-384' }),
      stranger: key('stranger', { curve: 'P-256' }),
    };
  });
  after(() => {
    registry?.kill('SIGTERM');
    rmSync(tmp, { recursive: true, force: true });
  });

  const sets: string[][] = [['rsa2048'], ['rsa4096'], ['p256'], ['p384'], ['rsa2048', 'p256']];
  for (const set of sets) {
    it(`for ${set.join(' + ')}: only encrypted layers in the registry; each key's skopeo --decryption-key gives back the archive; without it, ciphertext; another key fails`, async () => {
      const marker = `MEMORY-SECRET-${randomBytes(8).toString('hex')}`;
      const archive = makeArchive(marker, 2 * 1024 * 1024 + 5);
      const repository = `enc/${set.join('-')}`;
      const tag = `t${++n}`;
      const annotations = { 'io.kubernetes.cri-o.annotations.checkpoint.name': 'app' };
      const pushed = await pushImage(client(), {
        repository,
        tag,
        layerTar: archive,
        annotations,
        created: new Date('2026-12-01T00:00:00Z'),
        encryptFor: set.map((k) => keys[k]!.recipient),
      });
      const plainDigest = `sha256:${createHash('sha256').update(readFileSync(archive)).digest('hex')}`;
      assert.equal(pushed.encrypted?.plaintextDigest, plainDigest);
      assert.deepEqual(
        pushed.encrypted?.recipients,
        set.map((k) => keys[k]!.recipient.fingerprint),
      );
      assert.notEqual(pushed.layerDigest, plainDigest);
      assert.ok(!storedAnywhere(marker), 'the registry never stored the archive in clear');

      const ref = `docker://${host}/${repository}:${tag}`;
      const raw = skopeo(['inspect', '--raw', '--tls-verify=false', ref]);
      assert.equal(raw.status, 0, raw.stderr);
      const manifest = JSON.parse(raw.stdout) as {
        layers: { mediaType: string; digest: string; size: number; annotations: Record<string, string> }[];
        annotations: Record<string, string>;
      };
      assert.ok(manifest.layers.length > 0);
      for (const l of manifest.layers) {
        assert.equal(l.mediaType, 'application/vnd.oci.image.layer.v1.tar+encrypted');
        assert.deepEqual(Object.keys(l.annotations).sort(), [ANNOTATION_JWE, ANNOTATION_PUBOPTS]);
      }
      assert.equal(manifest.layers[0]!.size, statSync(archive).size);
      assert.equal(manifest.annotations['io.kubernetes.cri-o.annotations.checkpoint.name'], 'app');
      const inspected = skopeo(['inspect', '--tls-verify=false', ref]);
      assert.equal((JSON.parse(inspected.stdout) as { Digest: string }).Digest, pushed.digest);
      const config = skopeo(['inspect', '--config', '--tls-verify=false', ref]);
      assert.deepEqual((JSON.parse(config.stdout) as { rootfs: { diff_ids: string[] } }).rootfs.diff_ids, [
        plainDigest,
      ]);

      for (const k of set) {
        const out = join(tmp, `dec-${n}-${k}`);
        const r = skopeo([
          'copy',
          '-q',
          '--src-tls-verify=false',
          '--dest-oci-accept-uncompressed-layers',
          '--decryption-key',
          keys[k]!.privatePem,
          ref,
          `oci:${out}:latest`,
        ]);
        assert.equal(r.status, 0, r.stderr);
        const layer = layoutLayer(out);
        assert.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar');
        assert.ok(layer.bytes.equals(readFileSync(archive)), `${k}: identical to the archive`);
      }

      const noKey = join(tmp, `nokey-${n}`);
      const copied = skopeo([
        'copy',
        '-q',
        '--src-tls-verify=false',
        '--dest-oci-accept-uncompressed-layers',
        ref,
        `oci:${noKey}:latest`,
      ]);
      assert.equal(copied.status, 0, copied.stderr);
      const still = layoutLayer(noKey);
      assert.match(still.mediaType, /\+encrypted$/);
      assert.ok(!still.bytes.includes(marker));

      const wrong = skopeo([
        'copy',
        '-q',
        '--src-tls-verify=false',
        '--decryption-key',
        keys.stranger!.privatePem,
        ref,
        `oci:${join(tmp, `wrong-${n}`)}:latest`,
      ]);
      assert.notEqual(wrong.status, 0);
      assert.match(wrong.stderr, /decrypt|no suitable key/i);
    });
  }

  it('the same archive pushed without encryptFor is in the registry in clear (the check above can see it)', async () => {
    const marker = `MEMORY-PLAIN-${randomBytes(8).toString('hex')}`;
    const archive = makeArchive(marker, 1024);
    const pushed = await pushImage(client(), {
      repository: 'enc/plain',
      tag: 'plain',
      layerTar: archive,
      annotations: {},
      created: new Date(0),
    });
    assert.equal(pushed.encrypted, undefined);
    assert.ok(storedAnywhere(marker));
  });

  it('getManifest gives the layers with their media type and annotations', async () => {
    const archive = makeArchive(`m-${randomBytes(4).toString('hex')}`, 100);
    await pushImage(client(), {
      repository: 'enc/read',
      tag: 'r',
      layerTar: archive,
      annotations: { a: 'b' },
      created: new Date(0),
      encryptFor: [keys.p256!.recipient],
    });
    const m = await getManifest(client(), 'enc/read', 'r');
    assert.equal(m?.manifest.layers[0]?.mediaType, 'application/vnd.oci.image.layer.v1.tar+encrypted');
    assert.ok(m?.manifest.layers[0]?.annotations?.[ANNOTATION_JWE]);
    assert.equal(m?.manifest.annotations?.a, 'b');
  });
});
