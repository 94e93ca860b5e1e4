import {
  refusal,
  registryCredentials,
  type BuiltImage,
  type CheckpointBackup,
  type CheckpointFile,
} from '@stateful-migration/api';
import { readArchiveInfo } from '@stateful-migration/archive';
import { isNotFound, type RestClient } from '@stateful-migration/kube';
import {
  RegistryClient,
  describeImage,
  getManifest,
  normalHost,
  pushImage,
  type RegistryTimeouts,
} from '@stateful-migration/registry';
import type { ArchiveFiles } from './archives.js';
import {
  buildLocalImage,
  checkpointAnnotations,
  imageName,
  splitImageName,
  type BuildahStorage,
} from './image.js';
import { CheckpointError } from './kubelet.js';
import type { RunRecorder } from './recorder.js';
import { buildingStatus, builtStatus, pushedStatus, pushingStatus } from './run-status.js';

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
 * once. Each step records its start and its end.
 */
export class ImageSteps {
  readonly #o: ImageStepsOptions;

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
        const name = imageName(b.spec.podRef.name, f.containerName, run.id, b.spec.registry);
        const digest = b.spec.registry
          ? (await describeImage(archive, annotations, new Date(run.startedAt))).digest
          : await buildLocalImage(this.#o.storage, archive, name, annotations);
        return {
          containerName: f.containerName,
          imageName: name,
          digest,
          buildTime: new Date().toISOString(),
          pushed: false,
        };
      }),
    );
    await this.#o.record.step(b, 'ImageBuilt', (s) => builtStatus(s, images, run));
  }

  async push(b: CheckpointBackup, images: BuiltImage[]): Promise<void> {
    await this.#o.record.write(b, (s) => pushingStatus(s, images));
    const client = await this.registryClient(b);
    const run = b.status!.run!;
    const files = b.status?.checkpointFiles ?? [];
    for (const img of images) {
      const { repository, tag } = splitImageName(img.imageName);
      await client.login(repository);
      const there = await getManifest(client, repository, tag);
      if (there?.digest === img.digest) continue;
      const file = files.find((f) => f.containerName === img.containerName);
      if (!file)
        throw new CheckpointError(
          'ArchiveMissing',
          `the archive of ${img.containerName} is gone before its push`,
          true,
        );
      const archive = this.#o.archives.forStep(file, 'push');
      const pushed = await pushImage(client, {
        repository,
        tag,
        layerTar: archive,
        annotations: checkpointAnnotations(await readArchiveInfo(archive)),
        created: new Date(run.startedAt),
      });
      if (pushed.digest !== img.digest)
        throw new CheckpointError(
          'DigestMismatch',
          `pushed ${img.imageName} as ${pushed.digest}, expected ${img.digest}`,
          true,
        );
    }
    await this.#o.record.step(b, 'ImagePushed', (s) => pushedStatus(s, images));
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
