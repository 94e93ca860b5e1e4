import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  mkdirSync,
  readFileSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseRecipientKey, type RecipientKey } from './keys.js';

/** Test support: OCI image layouts written and read by hand, key pairs as PEM files, skopeo. */

export const MEDIA_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MEDIA_TAR = 'application/vnd.oci.image.layer.v1.tar';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function putBlob(dir: string, b: Buffer): string {
  const d = sha256(b);
  mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
  writeFileSync(join(dir, 'blobs/sha256', d.slice(7)), b);
  return d;
}

/** Streams `source` through `through` into the layout's blobs; its digest and size. */
export async function streamBlob(
  dir: string,
  source: string,
  through: Transform,
): Promise<{ digest: string; size: number }> {
  mkdirSync(join(dir, 'blobs/sha256'), { recursive: true });
  const tmp = join(dir, 'blobs', 'incoming');
  const hash = createHash('sha256');
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  await pipeline(
    createReadStream(source, { highWaterMark: 1 << 20 }),
    through,
    count,
    createWriteStream(tmp),
  );
  const digest = `sha256:${hash.digest('hex')}`;
  renameSync(tmp, join(dir, 'blobs/sha256', digest.slice(7)));
  return { digest, size };
}

export interface LayerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/** A one-layer image under tag `latest` in an OCI layout at `dir` (the layer blob already in it). */
export function writeImage(
  dir: string,
  layer: LayerDescriptor,
  diffId: string,
  annotations: Record<string, string> = {},
): string {
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [diffId] } }),
  );
  const configDigest = putBlob(dir, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_MANIFEST,
      config: { mediaType: MEDIA_CONFIG, digest: configDigest, size: config.length },
      layers: [layer],
      annotations,
    }),
  );
  const digest = putBlob(dir, manifest);
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: MEDIA_MANIFEST,
          digest,
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': 'latest' },
        },
      ],
    }),
  );
  return digest;
}

/** An uncompressed layer, the tar file itself, as an image in a layout. */
export function writePlainImage(dir: string, tar: string): void {
  const layer = readFileSync(tar);
  const digest = putBlob(dir, layer);
  writeImage(dir, { mediaType: MEDIA_TAR, digest, size: layer.length }, digest);
}

/** The manifest of the layout's `latest` image, and the path of a blob. */
export function readImage(dir: string): {
  manifest: { layers: LayerDescriptor[]; config: { digest: string } };
  config: { rootfs: { diff_ids: string[] } };
  blob: (digest: string) => string;
} {
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as {
    manifests: { digest: string }[];
  };
  const blob = (d: string) => join(dir, 'blobs/sha256', d.slice(7));
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0]!.digest), 'utf8')) as {
    layers: LayerDescriptor[];
    config: { digest: string };
  };
  const config = JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8')) as {
    rootfs: { diff_ids: string[] };
  };
  return { manifest, config, blob };
}

/** A tar that looks like a checkpoint archive: random "memory pages" of `bytes`, and a spec.dump. */
export function makeTar(dir: string, name: string, bytes: number): string {
  const src = join(dir, `${name}-src`);
  mkdirSync(join(src, 'checkpoint'), { recursive: true });
  execFileSync('sh', [
    '-c',
    `head -c ${bytes} /dev/urandom > '${src}/checkpoint/pages-1.img' && echo '{"annotations":{}}' > '${src}/spec.dump'`,
  ]);
  const path = join(dir, `${name}.tar`);
  execFileSync('tar', ['-cf', path, '-C', src, 'checkpoint', 'spec.dump']);
  return path;
}

export interface TestKey {
  name: string;
  privateKey: KeyObject;
  recipient: RecipientKey;
  /** PEM files, for skopeo. */
  publicPem: string;
  privatePem: string;
}

/** A key pair written as PEM files in `dir`. */
export function makeKey(
  dir: string,
  name: string,
  spec: { rsa: number } | { curve: 'P-256' | 'P-384' | 'P-521' },
): TestKey {
  const pair =
    'rsa' in spec
      ? generateKeyPairSync('rsa', { modulusLength: spec.rsa })
      : generateKeyPairSync('ec', { namedCurve: spec.curve });
  const pub = pair.publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const publicPem = join(dir, `${name}.pub.pem`);
  const privatePem = join(dir, `${name}.pem`);
  writeFileSync(publicPem, pub);
  writeFileSync(privatePem, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, {
    mode: 0o600,
  });
  return { name, privateKey: pair.privateKey, recipient: parseRecipientKey(pub), publicPem, privatePem };
}

/** skopeo; throws with its stderr when it fails. */
export function skopeo(args: string[]): string {
  const r = spawnSync('skopeo', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`skopeo ${args[0]} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

/** skopeo's exit status and stderr, for the copies that must fail. */
export function skopeoStatus(args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync('skopeo', args, { encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}
