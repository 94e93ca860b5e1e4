import { statSync } from 'node:fs';
import {
  refusal,
  registryCredentials,
  type BuiltImage,
  type CheckpointBackup,
  type CheckpointFile,
  podName,
} from '@stateful-migration/api';
import { readArchiveInfo } from '@stateful-migration/archive';
import { describeError, isNotFound, statusCode, type RestClient } from '@stateful-migration/kube';
import { keysObjectData, recipientsFrom, type RecipientKey } from '@stateful-migration/ocicrypt';
import {
  RegistryClient,
  getManifest,
  imageDiffIds,
  MEDIA,
  normalHost,
  pushImage,
  type PushImageInput,
  type RegistryTimeouts,
} from '@stateful-migration/registry';
import type { ArchiveFiles } from './archives.js';
import { isOwnEncryptedPush, keysUnavailable, withRecipients } from './encryption.js';
import {
  buildLocalImage,
  checkpointAnnotations,
  imageName,
  splitImageName,
  type BuildahStorage,
} from './image.js';
import { CheckpointError } from './kubelet.js';
import type { RunRecorder } from './recorder.js';
import { buildingStatus, builtStatus, pushedStatus, pushingStatus, type PushResult } from './run-status.js';

export interface ImageStepsOptions {
  client: RestClient;
  archives: ArchiveFiles;
  record: RunRecorder;
  storage: BuildahStorage;
  /** CA bundle for registries with private CAs. */
  registryCa?: Buffer;
  /** By registry host (normalHost): the hosts of its token service, which may receive its credentials. */
  registryTokenHosts: Record<string, string[]>;
  registryTimeouts: Partial<RegistryTimeouts>;
  /** The registry hosts the platform's default secret is for. */
  defaultSecretRegistries: string[];
}

/**
 * The build and push steps. Without a registry an image is built into the node's containers-storage with buildah;
 * with one, the archive itself is the image's one layer: build only describes it (its digest), push streams it
 * once, encrypted on the way with spec.encryption (then its digest is known only once pushed). Each step records
 * its start and its end.
 */
export class ImageSteps {
  readonly #o: ImageStepsOptions;
  /**
   * Layer digests of archives this agent has uploaded, by path, size and mtime (an archive never changes once
   * written): a push retried after its blob was stored asks the registry for the blob (HEAD) instead of reading
   * and uploading the archive again.
   */
  readonly #layerDigests = new Map<string, string>();

  constructor(o: ImageStepsOptions) {
    this.#o = o;
  }

  async build(b: CheckpointBackup, files: CheckpointFile[]): Promise<void> {
    await this.#o.record.write(b, (s) => buildingStatus(s, files));
    const run = b.status!.run!;
    const images = await Promise.all(
      files.map(async (f): Promise<BuiltImage> => {
        const archive = this.#o.archives.forStep(f, 'build');
        const annotations = checkpointAnnotations(await readArchiveInfo(archive));
        const name = imageName(podName(b), f.containerName, run.id, b.spec.registry);
        // For a registry the push reads the archive once, hashing it as it uploads: the digest is known once pushed
        // (an encrypted image's would not be known before anyway: its layer key is random).
        const digest = b.spec.registry
          ? undefined
          : await buildLocalImage(this.#o.storage, archive, name, annotations, new Date(run.startedAt));
        return {
          containerName: f.containerName,
          imageName: name,
          ...(digest ? { digest } : {}),
          buildTime: new Date().toISOString(),
          pushed: false,
        };
      }),
    );
    await this.#o.record.step(b, 'ImageBuilt', (s) => builtStatus(s, images, run));
  }

  async push(b: CheckpointBackup, images: BuiltImage[]): Promise<void> {
    await this.#o.record.write(b, (s) => pushingStatus(s, images, !!b.spec.encryption));
    const client = await this.registryClient(b);
    // Read again at each push: the keys object may have changed since the checkpoint.
    const recipients = b.spec.encryption
      ? await this.recipients(b, 'the checkpoint was not pushed (its archive stays on the node, 0600)')
      : undefined;
    const run = b.status!.run!;
    const files = b.status?.checkpointFiles ?? [];
    const pushed = new Map<string, PushResult>();
    for (const img of images) {
      const file = files.find((f) => f.containerName === img.containerName);
      pushed.set(img.imageName, await this.#pushOne(client, img, file, run.startedAt, recipients));
    }
    await this.#o.record.step(b, 'ImagePushed', (s) => pushedStatus(s, images, pushed));
  }

  /**
   * One image: skipped when the registry has it already (in clear: the digest the build computed; encrypted: this
   * run's own push, recognised by isOwnEncryptedPush), otherwise the archive streamed once, encrypted on the way
   * for `recipients`. Its digest and recipients, for status.
   */
  async #pushOne(
    client: RegistryClient,
    img: BuiltImage,
    file: CheckpointFile | undefined,
    startedAt: string,
    recipients: RecipientKey[] | undefined,
  ): Promise<PushResult> {
    const { repository, tag } = splitImageName(img.imageName);
    await client.login(repository);
    const there = await getManifest(client, repository, tag);
    // In clear, a build that fixed the digest (before one-read pushes): what is there already is this image.
    if (!recipients && img.digest && there?.digest === img.digest)
      return { digest: img.digest, ...(img.archiveDigest ? { archiveDigest: img.archiveDigest } : {}) };
    if (!file)
      throw new CheckpointError(
        'ArchiveMissing',
        `the archive of ${img.containerName} is gone before its push`,
        true,
      );
    const archive = this.#o.archives.forStep(file, 'push');
    const annotations = checkpointAnnotations(await readArchiveInfo(archive));
    const input = { repository, tag, layerTar: archive, annotations, created: new Date(startedAt) };
    if (recipients) return this.#pushEncrypted(client, input, there, recipients);
    // The tag is this run's own: an image there with this archive's identity is this run's push, made before a
    // crash or a failed status write.
    if (!img.digest && there && isOwnPush(there.manifest, annotations))
      return { digest: there.digest, archiveDigest: there.manifest.layers[0]!.digest };
    const id = archiveId(archive);
    const known = this.#layerDigests.get(id);
    const result = await pushImage(client, {
      ...input,
      ...(known ? { knownLayerDigest: known } : {}),
      onLayerStored: (d) => this.#layerDigests.set(id, d),
    });
    this.#layerDigests.delete(id);
    // In clear, the image is a function of the archive: the digest the build recorded, or the archive changed.
    if (img.digest && result.digest !== img.digest)
      throw new CheckpointError(
        'DigestMismatch',
        `pushed ${img.imageName} as ${result.digest}, expected ${img.digest}`,
        true,
      );
    return { digest: result.digest, archiveDigest: result.layerDigest };
  }

  /** The encrypted push, or this run's own encrypted image already at the tag (pushed before a crash). */
  async #pushEncrypted(
    client: RegistryClient,
    input: PushImageInput,
    there: Awaited<ReturnType<typeof getManifest>>,
    recipients: RecipientKey[],
  ): Promise<PushResult> {
    const encryptedFor = recipients.map((r) => r.fingerprint);
    const annotations = withRecipients(input.annotations, encryptedFor);
    if (there && isOwnEncryptedPush(there.manifest, annotations, encryptedFor)) {
      // Pushed before a crash: the archive's digest is the config's diff_id (the plaintext's, as ocicrypt leaves it).
      const archiveDigest = (await imageDiffIds(client, input.repository, there.manifest))[0];
      return { digest: there.digest, encryptedFor, ...(archiveDigest ? { archiveDigest } : {}) };
    }
    const result = await pushImage(client, { ...input, annotations, encryptFor: recipients });
    return { digest: result.digest, encryptedFor, archiveDigest: result.encrypted!.plaintextDigest };
  }

  /**
   * The recipients of spec.encryption, from the keys object in the object's own namespace, read fresh each time
   * (before the checkpoint, so a memory dump that could not be pushed encrypted is not taken, and at the push);
   * a CheckpointError saying what is wrong (missing, unreadable, empty, not public keys) and `consequence`.
   * Retried: the fix is in that object, not in this one's spec.
   */
  async recipients(b: CheckpointBackup, consequence: string): Promise<RecipientKey[]> {
    const ref = b.spec.encryption!.publicKeysRef;
    const ns = b.metadata.namespace;
    const path = `/api/v1/namespaces/${ns}/${ref.kind === 'Secret' ? 'secrets' : 'configmaps'}/${ref.name}`;
    let obj: { data?: Record<string, string>; binaryData?: Record<string, string> };
    try {
      obj = await this.#o.client.get(path);
    } catch (err) {
      const r = keysUnavailable(ref, ns, statusCode(err), describeError(err));
      throw new CheckpointError(r.reason, `${r.message}; ${consequence}`, true);
    }
    const r = recipientsFrom(ref, ns, keysObjectData(ref.kind, obj));
    if (!r.ok) throw new CheckpointError(r.reason, `${r.message}; ${consequence}`, true);
    return r.recipients;
  }

  /**
   * Credentials are read from this object's own secret each time, never cached or shared across objects; the
   * platform's default secret only for the registries the platform names for it (plan() refuses the rest before a
   * run starts; retention and a spec changed under a run meet this check too).
   */
  async registryClient(b: CheckpointBackup): Promise<RegistryClient> {
    const cross = refusal(b, this.#o.defaultSecretRegistries);
    if (cross) throw new CheckpointError(cross.reason, cross.message, false);
    const creds = registryCredentials(b, this.#o.defaultSecretRegistries);
    if (creds.kind !== 'own' && creds.kind !== 'default')
      throw new CheckpointError('RegistryNotSet', 'spec.registry is not set', false);
    const ref = creds.secret;
    let secret: { data?: Record<string, string> };
    try {
      secret = await this.#o.client.get(`/api/v1/namespaces/${ref.namespace}/secrets/${ref.name}`);
    } catch (err) {
      throw new CheckpointError(
        'RegistrySecretUnavailable',
        `cannot read registry secret ${ref.namespace}/${ref.name} (${isNotFound(err) ? 'not found' : String((err as Error).message)})`,
        true,
      );
    }
    const dec = (k: string) => Buffer.from(secret.data?.[k] ?? '', 'base64').toString('utf8');
    if (!dec('username') || !dec('password')) {
      throw new CheckpointError(
        'RegistrySecretInvalid',
        `registry secret ${ref.namespace}/${ref.name} lacks username or password`,
        false,
      );
    }
    const host = b.spec.registry!.url;
    return new RegistryClient({
      host,
      credentials: { username: dec('username'), password: dec('password') },
      ...(this.#o.registryCa ? { ca: this.#o.registryCa } : {}),
      tokenHosts: this.#o.registryTokenHosts[normalHost(host)] ?? [],
      timeouts: this.#o.registryTimeouts,
    });
  }
}

/** An archive's identity for the layer digest memory: path, size and mtime. */
function archiveId(path: string): string {
  const st = statSync(path);
  return `${path}\0${st.size}\0${st.mtimeMs}`;
}

/**
 * Whether the manifest at a run's own tag is the clear image of this archive: one uncompressed tar layer and the
 * archive's identity in its annotations (checkpointed time, container, pod).
 */
export function isOwnPush(
  found: { annotations?: Record<string, string>; layers: { mediaType?: string }[] },
  annotations: Record<string, string>,
): boolean {
  const a = found.annotations ?? {};
  return (
    found.layers.length === 1 &&
    found.layers[0]!.mediaType === MEDIA.layerTar &&
    Object.entries(annotations).every(([k, v]) => a[k] === v)
  );
}
