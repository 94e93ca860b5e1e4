import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { Transform, pipeline, type Readable } from 'node:stream';
import {
  LayerEncryptor,
  encryptedMediaType,
  type EncryptedLayer,
  type RecipientKey,
} from '@stateful-migration/ocicrypt';
import { RegistryError, expectOk, type RegistryClient } from './client.js';

export const MEDIA = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layerTar: 'application/vnd.oci.image.layer.v1.tar',
} as const;

export interface PushImageInput {
  repository: string;
  tag: string;
  /** An uncompressed tar whose entries become the image's one layer, at /. */
  layerTar: string;
  annotations: Record<string, string>;
  created: Date;
  /** Called with bytes sent so far, for progress output. */
  onProgress?: (sent: number, total: number) => void;
  /**
   * Encrypt the layer for these recipients, in ocicrypt's format (`tar+encrypted`, JWE-wrapped key), as it streams:
   * the registry never receives the archive in clear. The manifest's digest is then known only after the push
   * (the layer key and nonce are random).
   */
  encryptFor?: RecipientKey[];
  /**
   * The layer's digest when the caller already knows it (an earlier push of this very file): the registry is asked
   * for the blob first (HEAD), and a blob it has is not uploaded again. In clear only: an encrypted layer differs at
   * every push (random key and nonce).
   */
  knownLayerDigest?: string;
  /** Told of the layer's digest once the registry has stored the blob, before the config and manifest are written. */
  onLayerStored?: (layerDigest: string) => void;
}

export interface PushedImage {
  reference: string;
  digest: string;
  /** The digest of the layer blob as stored: the ciphertext's for an encrypted layer. */
  layerDigest: string;
  size: number;
  /** For an encrypted layer: the plaintext's digest (the config's diff_id) and the recipients' fingerprints. */
  encrypted?: { plaintextDigest: string; recipients: string[] };
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * The size of each read of the layer file. 4 MiB rather than 1 MiB: a quarter of the stream callbacks and
 * allocations per byte, 7 to 15% less of the agent's CPU per push (docs/benchmarks.md), for 6 MiB more of resident
 * memory that does not grow with the archive.
 */
const READ_CHUNK = 4 << 20;

/**
 * Pushes a one-layer OCI image whose layer is the tar file itself, read once: the file streams to the registry while
 * its digest is computed, so time stays near a plain copy and memory does not grow with the archive. The layer is an
 * uncompressed tar (checkpoint archives hold mostly memory pages, which compress poorly and slowly).
 */
export async function pushImage(client: RegistryClient, input: PushImageInput): Promise<PushedImage> {
  const { repository, tag } = input;
  await client.login(repository);
  const size = statSync(input.layerTar).size;
  const known =
    !input.encryptFor &&
    input.knownLayerDigest &&
    (await blobSize(client, repository, input.knownLayerDigest));
  const layer =
    known === size
      ? { layerDigest: input.knownLayerDigest!, sent: size, encryptor: undefined }
      : await uploadLayer(client, input, size);
  const { layerDigest, sent, encryptor } = layer;
  input.onLayerStored?.(layerDigest);

  const encrypted = encryptor?.result();
  const { config, configDigest, manifest, digest } = imageManifest(
    layerDigest,
    sent,
    input.annotations,
    input.created,
    encrypted,
  );
  // The config names the layer and the creation time: it can be in the registry already only when the layer was
  // (a retried push), so only then is it asked for first; otherwise the question would be a round trip for nothing.
  await putBlob(client, repository, config, configDigest, known === size);
  expectOk(
    await client.request('PUT', `/v2/${repository}/manifests/${tag}`, {
      body: manifest,
      headers: { 'Content-Type': MEDIA.manifest },
    }),
    'writing the image manifest',
    client.host,
  );
  return {
    reference: `${client.host}/${repository}:${tag}`,
    digest,
    layerDigest,
    size: sent + config.length + manifest.length,
    ...(encrypted
      ? { encrypted: { plaintextDigest: encrypted.plaintextDigest, recipients: encrypted.recipients } }
      : {}),
  };
}

/** The layer streamed once from the file (encrypted on the way for input.encryptFor) while its digest is computed. */
async function uploadLayer(
  client: RegistryClient,
  input: PushImageInput,
  size: number,
): Promise<{ layerDigest: string; sent: number; encryptor: LayerEncryptor | undefined }> {
  const { repository } = input;
  const hash = createHash('sha256');
  let sent = 0;
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      sent += chunk.length;
      input.onProgress?.(sent, size);
      cb(null, chunk);
    },
  });
  const start = expectOk(
    await client.request('POST', `/v2/${repository}/blobs/uploads/`),
    'starting a blob upload',
    client.host,
  );
  // Locations are resolved against the answer that named them and may be on another host (an upload service);
  // the client sends the credentials only to the registry's own origin.
  const location = client.location(start, 'the upload');
  // pipeline, not pipe: when a timeout destroys the body, everything under it (the encryptor, the file) goes too.
  const file = createReadStream(input.layerTar, { highWaterMark: READ_CHUNK });
  const encryptor = input.encryptFor ? new LayerEncryptor(input.encryptFor) : undefined;
  const source: Readable = encryptor ? pipeline(file, encryptor, () => undefined) : file;
  const patched = expectOk(
    await client.request('PATCH', location, {
      body: pipeline(source, hashing, () => undefined),
      headers: { 'Content-Type': 'application/octet-stream' },
    }),
    'uploading the checkpoint layer',
    client.host,
  );
  if (sent !== size)
    throw new RegistryError(
      0,
      'LAYER_CHANGED',
      `the checkpoint archive changed while it was pushed (${sent} bytes sent, ${size} expected)`,
    );
  const layerDigest = `sha256:${hash.digest('hex')}`;
  const done = new URL(patched.headers.location ? client.location(patched, 'the upload') : location);
  done.searchParams.set('digest', layerDigest);
  expectOk(
    await client.request('PUT', done, {
      body: Buffer.alloc(0),
      headers: { 'Content-Length': '0' },
    }),
    'committing the checkpoint layer',
    client.host,
  );

  return { layerDigest, sent, encryptor };
}

/** The size of a blob the registry has (HEAD), or undefined when it has none. */
async function blobSize(
  client: RegistryClient,
  repository: string,
  digest: string,
): Promise<number | undefined> {
  const res = await client.request('HEAD', `/v2/${repository}/blobs/${digest}`, {
    scope: `repository:${repository}:pull,push`,
  });
  if (res.status === 404) return undefined;
  expectOk(res, `asking for blob ${digest}`, client.host);
  const n = Number(res.headers['content-length']);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * The config and manifest of a one-layer image: a pure function of the layer, so build and push agree on the digest.
 * An encrypted layer (ocicrypt) is `tar+encrypted` with its descriptor annotations, and the config's diff_id stays
 * the plaintext's digest, as containers/image leaves it when it encrypts: a runtime checks it after decrypting.
 */
export function imageManifest(
  layerDigest: string,
  layerSize: number,
  annotations: Record<string, string>,
  created: Date,
  encrypted?: Pick<EncryptedLayer, 'annotations' | 'plaintextDigest'>,
): { config: Buffer; configDigest: string; manifest: Buffer; digest: string } {
  const config = Buffer.from(
    JSON.stringify({
      created: created.toISOString(),
      architecture: 'amd64',
      os: 'linux',
      config: { Labels: annotations },
      rootfs: { type: 'layers', diff_ids: [encrypted?.plaintextDigest ?? layerDigest] },
      history: [{ created: created.toISOString(), created_by: 'stateful-migration checkpoint' }],
    }),
  );
  const configDigest = sha256(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA.manifest,
      config: { mediaType: MEDIA.config, digest: configDigest, size: config.length },
      layers: [
        encrypted
          ? {
              mediaType: encryptedMediaType(MEDIA.layerTar),
              digest: layerDigest,
              size: layerSize,
              annotations: encrypted.annotations,
            }
          : { mediaType: MEDIA.layerTar, digest: layerDigest, size: layerSize },
      ],
      // The standard creation time lets retention order images with one manifest read per tag.
      annotations: { ...annotations, 'org.opencontainers.image.created': created.toISOString() },
    }),
  );
  return { config, configDigest, manifest, digest: sha256(manifest) };
}

/** Hashes the layer file (one streaming read) and returns the digest the pushed image will have. */
export async function describeImage(
  layerTar: string,
  annotations: Record<string, string>,
  created: Date,
): Promise<{ digest: string; layerDigest: string }> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(layerTar, { highWaterMark: READ_CHUNK }))
    hash.update(chunk as Buffer);
  const layerDigest = `sha256:${hash.digest('hex')}`;
  return {
    digest: imageManifest(layerDigest, statSync(layerTar).size, annotations, created).digest,
    layerDigest,
  };
}

/**
 * A small blob in one PUT (distribution ignores a body sent with the opening POST); with askFirst, not when the
 * registry has it already.
 */
async function putBlob(
  client: RegistryClient,
  repository: string,
  blob: Buffer,
  digest: string,
  askFirst: boolean,
): Promise<void> {
  if (askFirst && (await blobSize(client, repository, digest)) === blob.length) return;
  const start = expectOk(
    await client.request('POST', `/v2/${repository}/blobs/uploads/`),
    'starting a blob upload',
    client.host,
  );
  const url = new URL(client.location(start, 'the upload'));
  url.searchParams.set('digest', digest);
  expectOk(
    await client.request('PUT', url, {
      body: blob,
      headers: { 'Content-Type': 'application/octet-stream' },
    }),
    'uploading the image config',
    client.host,
  );
}

/** The manifest of a tag or digest, or undefined when the registry does not have it. */
export async function getManifest(
  client: RegistryClient,
  repository: string,
  reference: string,
): Promise<
  | {
      digest: string;
      manifest: {
        annotations?: Record<string, string>;
        config?: { digest: string };
        layers: { mediaType?: string; digest: string; size: number; annotations?: Record<string, string> }[];
      };
    }
  | undefined
> {
  const res = await client.request('GET', `/v2/${repository}/manifests/${reference}`, {
    headers: { Accept: MEDIA.manifest },
    scope: `repository:${repository}:pull`,
  });
  if (res.status === 404) return undefined;
  expectOk(res, `reading manifest ${repository}:${reference}`, client.host);
  return {
    digest: String(res.headers['docker-content-digest'] ?? sha256(Buffer.from(res.body))),
    manifest: JSON.parse(res.body),
  };
}
