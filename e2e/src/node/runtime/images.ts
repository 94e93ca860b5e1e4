import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, open } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import { decryptionKeyFiles, isEncryptedMediaType } from '@stateful-migration/ocicrypt';
import { busyboxDigest, ensureBusyboxRootfs } from './busybox.js';
import type { ImageConfig } from './decisions.js';

const run = promisify(execFile);

/**
 * The node's registry settings, as /etc/containers/registries.conf and the kubelet's config.json give them on a
 * real node: mirrors (a registry name served by another location), the CA of TLS registries, and node-wide pull
 * credentials, each for a location prefix (host or host/namespace) only.
 */
export interface NodeRegistries {
  mirrors: Record<string, string>;
  certDir?: string;
  auths: { prefix: string; username: string; password: string }[];
}

export interface PullCredentials {
  /** host or host/namespace these are for, as in a .dockerconfigjson's auths. */
  prefix: string;
  username: string;
  password: string;
}

export interface LocalImage {
  /** The reference as the pod names it. */
  ref: string;
  /** repository@digest, shown as the container's imageID. */
  imageId: string;
  digest: string;
  /** The unpacked layers: a root filesystem, or a checkpoint archive's content for a checkpoint image. */
  rootfs: string;
  config: ImageConfig;
  annotations: Record<string, string>;
  /**
   * sha256 of each layer as unpacked (decrypted and uncompressed: the config's diff_ids); for a checkpoint image,
   * the archive's digest, which a restore checks against the one recorded at checkpoint time.
   */
  diffIds: string[];
}

export class ImagePullError extends Error {}

/** docker.io/library/NAME:TAG for short names, as CRI-O's short-name resolution gives for the examples' busybox. */
export function normalizeRef(image: string): {
  name: string;
  reference: string;
  repoPath: string;
  host: string;
} {
  const first = image.split('/')[0]!;
  const hasHost =
    image.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  let full = hasHost ? image : `docker.io/${image.includes('/') ? '' : 'library/'}${image}`;
  let reference = 'latest';
  const at = full.indexOf('@');
  if (at >= 0) {
    reference = full.slice(at + 1);
    full = full.slice(0, at);
    // name:tag@digest (as the chart writes a pinned image): the digest names the image and the tag is dropped, as
    // CRI-O does; skopeo refuses a reference carrying both.
    const colon = full.lastIndexOf(':');
    if (colon > full.lastIndexOf('/')) full = full.slice(0, colon);
  } else {
    const colon = full.lastIndexOf(':');
    if (colon > full.lastIndexOf('/')) {
      reference = full.slice(colon + 1);
      full = full.slice(0, colon);
    }
  }
  const slash = full.indexOf('/');
  return { name: full, reference, host: full.slice(0, slash), repoPath: full.slice(slash + 1) };
}

/** The location a name is pulled from: the mirror's, if the name's registry has one. */
export function pullLocation(name: string, mirrors: Record<string, string>): string {
  const slash = name.indexOf('/');
  const mirror = mirrors[name.slice(0, slash)];
  return mirror ? `${mirror}/${name.slice(slash + 1)}` : name;
}

/** The credentials for a location: the longest matching prefix, as the kubelet's keyring picks them. */
export function credentialsFor(location: string, creds: PullCredentials[]): PullCredentials | undefined {
  return creds
    .filter((c) => location === c.prefix || location.startsWith(`${c.prefix}/`))
    .sort((a, b) => b.prefix.length - a.prefix.length)[0];
}

const BUSYBOX_NAME = 'docker.io/library/busybox';

/** A credential's identity for the pulled-with record: a hash, so the node's disk holds no password. */
const credentialId = (c: PullCredentials): string =>
  createHash('sha256').update(`${c.prefix}\0${c.username}\0${c.password}`).digest('hex');

/**
 * A node's images: `busybox` is the local base made from busybox-static (preloaded, as an image the node already
 * has), anything else is pulled with skopeo through the node's mirrors and credentials and unpacked once per
 * manifest digest. A pull that fails is an ImagePullError carrying the registry's reason.
 */
export class ImageStore {
  readonly #tags = new Map<string, string>();
  /** Unpacks in progress, by target directory. */
  readonly #unpacking = new Map<string, Promise<void>>();

  constructor(
    private readonly dir: string,
    private readonly registries: () => NodeRegistries,
    /** CRI-O's decryption_keys_path on this node: every file under it is a private key tried on encrypted layers. */
    private readonly decryptionKeys?: string,
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  async pull(image: string, podCreds: PullCredentials[], policy = 'IfNotPresent'): Promise<LocalImage> {
    const ref = normalizeRef(image);
    if (ref.name === BUSYBOX_NAME) return this.#busybox(image);
    const byDigest = ref.reference.startsWith('sha256:');
    const regs = this.registries();
    const location = pullLocation(ref.name, regs.mirrors);
    const src = `${location}${byDigest ? '@' : ':'}${ref.reference}`;
    const nodeCreds = credentialsFor(location, regs.auths);
    const creds = credentialsFor(location, podCreds) ?? nodeCreds;
    const known = byDigest ? ref.reference : this.#tags.get(`${ref.name}:${ref.reference}`);
    if (known && policy !== 'Always') {
      const cached = this.#load(image, ref.name, known);
      // As the kubelet's ensure-secret-pulled-images (KEP-2535): an image pulled with a pull secret is used from
      // the node's storage only by pods presenting the same credentials; others pull, and are refused.
      if (cached && (!cached.pulledWith.length || (creds && cached.pulledWith.includes(credentialId(creds)))))
        return cached;
    }
    const tmp = await mkdtemp(join(this.dir, '.pull-'));
    try {
      const args = ['copy', '--quiet', '--retry-times=0'];
      if (creds) {
        // The credentials go through a 0600 file, never argv.
        const authfile = join(tmp, 'auth.json');
        const auth = Buffer.from(`${creds.username}:${creds.password}`).toString('base64');
        writeFileSync(authfile, JSON.stringify({ auths: { [location.split('/')[0]!]: { auth } } }), {
          mode: 0o600,
        });
        args.push(`--src-authfile=${authfile}`);
      } else args.push('--src-no-creds');
      if (regs.certDir) args.push(`--src-cert-dir=${regs.certDir}`);
      // As CRI-O: every key of the node's decryption keys directory is offered for encrypted layers (skopeo, like
      // ocicrypt in CRI-O, tries each); an image in clear ignores them.
      const keys = await this.#keyFiles();
      for (const k of keys) args.push(`--decryption-key=${k}`);
      args.push(`docker://${src}`, `dir:${join(tmp, 'image')}`);
      try {
        await run('skopeo', args, { timeout: 120_000 });
      } catch (err) {
        throw new ImagePullError(pullReason(err));
      }
      const { digest, manifest } = checkPulledManifest(
        readFileSync(join(tmp, 'image', 'manifest.json')),
        byDigest ? ref.reference : undefined,
        keys.length,
      );
      const target = join(this.dir, digest.slice(7));
      await this.#unpackOnce(tmp, manifest, target);
      if (creds && creds !== nodeCreds) this.#recordCredential(digest, credentialId(creds));
      if (!byDigest) this.#tags.set(`${ref.name}:${ref.reference}`, digest);
      return this.#load(image, ref.name, digest)!;
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }

  /**
   * One unpack per image at a time, and a stored image never replaced: two pods pulling the same image at once (a
   * Deployment's replicas restored side by side on one node) would otherwise both unpack, and the second rename would
   * delete the first one's tree while its container runs on it as the overlay's lower layer (CRIU then fails with
   * "Can't open file ... on restore"). CRI-O's containers/storage holds a lock for the same reason.
   */
  async #unpackOnce(tmp: string, manifest: PulledManifest, target: string): Promise<void> {
    for (let running = this.#unpacking.get(target); running; running = this.#unpacking.get(target))
      await running.catch(() => undefined);
    if (existsSync(join(target, 'image.json'))) return;
    const unpack = this.#unpack(tmp, manifest, target);
    this.#unpacking.set(target, unpack);
    try {
      await unpack;
    } finally {
      this.#unpacking.delete(target);
    }
  }

  /** Unpacks the pulled layers into a root filesystem (each layer's digest as unpacked kept) and stores it. */
  async #unpack(tmp: string, manifest: PulledManifest, target: string): Promise<void> {
    const rootfs = join(tmp, 'rootfs');
    mkdirSync(rootfs, { mode: 0o700 });
    const diffIds: string[] = [];
    for (const l of manifest.layers) {
      const file = join(tmp, 'image', l.digest.slice(7));
      diffIds.push(await uncompressedDigest(file));
      await run('tar', ['-xf', file, '-C', rootfs]);
    }
    const config = (
      JSON.parse(readFileSync(join(tmp, 'image', manifest.config.digest.slice(7)), 'utf8')) as {
        config?: ImageConfig;
      }
    ).config;
    writeFileSync(
      join(tmp, 'image.json'),
      JSON.stringify({
        config: config ?? {},
        annotations: manifest.annotations ?? {},
        diffIds,
        pulledWith: [],
      }),
    );
    rmSync(join(tmp, 'image'), { recursive: true, force: true });
    rmSync(join(tmp, 'auth.json'), { force: true });
    rmSync(target, { recursive: true, force: true });
    renameSync(tmp, target);
  }

  #load(image: string, name: string, digest: string): (LocalImage & { pulledWith: string[] }) | undefined {
    const dir = join(this.dir, digest.slice(7));
    if (!existsSync(join(dir, 'image.json'))) return undefined;
    const meta = JSON.parse(readFileSync(join(dir, 'image.json'), 'utf8')) as {
      config: ImageConfig;
      annotations: Record<string, string>;
      diffIds?: string[];
      pulledWith?: string[];
    };
    return {
      ref: image,
      imageId: `${name}@${digest}`,
      digest,
      rootfs: join(dir, 'rootfs'),
      config: meta.config,
      annotations: meta.annotations,
      diffIds: meta.diffIds ?? [],
      pulledWith: meta.pulledWith ?? [],
    };
  }

  /** Which pull secrets fetched an image (hashes, never the credentials), for the check above. */
  #recordCredential(digest: string, id: string): void {
    const file = join(this.dir, digest.slice(7), 'image.json');
    const meta = JSON.parse(readFileSync(file, 'utf8')) as { pulledWith?: string[] };
    if (meta.pulledWith?.includes(id)) return;
    meta.pulledWith = [...(meta.pulledWith ?? []), id];
    writeFileSync(file, JSON.stringify(meta));
  }

  #busybox(image: string): LocalImage {
    const digest = busyboxDigest();
    return {
      ref: image,
      imageId: `${BUSYBOX_NAME}@${digest}`,
      digest,
      rootfs: ensureBusyboxRootfs(join(this.dir, 'busybox', digest.slice(7))),
      config: { Cmd: ['sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
      annotations: {},
      diffIds: [],
    };
  }

  /** The node's decryption key files, as CRI-O walks its decryption_keys_path (none without the directory). */
  async #keyFiles(): Promise<string[]> {
    if (!this.decryptionKeys) return [];
    try {
      return await decryptionKeyFiles(this.decryptionKeys);
    } catch (err) {
      throw new ImagePullError(`reading the decryption keys directory: ${(err as Error).message}`);
    }
  }
}

/** sha256 of a layer file after gunzip when it is gzip (skopeo may compress what it encrypts), else of the file. */
async function uncompressedDigest(file: string): Promise<string> {
  const fh = await open(file);
  const magic = Buffer.alloc(2);
  await fh.read(magic, 0, 2, 0);
  await fh.close();
  const hash = createHash('sha256');
  const gzip = magic[0] === 0x1f && magic[1] === 0x8b;
  if (gzip) await pipeline(createReadStream(file), createGunzip(), hash);
  else await pipeline(createReadStream(file), hash);
  return `sha256:${hash.digest('hex')}`;
}

interface PulledManifest {
  config: { digest: string };
  layers: { digest: string; mediaType?: string }[];
  annotations?: Record<string, string>;
}

/**
 * The image a pull got, judged from the manifest skopeo wrote: its digest (the one asked for, when pulled by digest)
 * and its manifest; an ImagePullError when it is not what was asked for, or when a layer is still encrypted (no key
 * of the node opened it: skopeo copies an encrypted layer as it is when it has no key to offer, where CRI-O fails
 * the pull; so does this node, naming its keys directory). A decrypted image's manifest is rewritten (decrypted media
 * types and digests), so when keys were offered and nothing is left encrypted, the digest is the one asked for, which
 * skopeo checked against what the registry sent.
 */
export function checkPulledManifest(
  bytes: Buffer,
  askedDigest: string | undefined,
  keys: number,
): { digest: string; manifest: PulledManifest } {
  const manifest = JSON.parse(bytes.toString()) as PulledManifest;
  const locked = manifest.layers.find((l) => isEncryptedMediaType(l.mediaType ?? ''));
  if (locked)
    throw new ImagePullError(
      `layer ${locked.digest} is encrypted (${locked.mediaType}) and this node has no decryption key for it: ` +
        `${keys ? `none of the ${keys} key(s)` : 'no keys'} in its decryption keys directory (CRI-O's ` +
        'decryption_keys_path, /etc/crio/keys) opens it',
    );
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (!askedDigest || digest === askedDigest) return { digest, manifest };
  if (!keys) throw new ImagePullError(`manifest digest ${digest} does not match ${askedDigest}`);
  return { digest: askedDigest, manifest };
}

/** skopeo's reason, as a kubelet shows a pull failure: its last line, without the "time=... level=fatal" frame. */
function pullReason(err: unknown): string {
  const stderr = String((err as { stderr?: string }).stderr ?? (err as Error).message);
  const last = stderr.trim().split('\n').pop() ?? '';
  const msg = /msg="(.*)"$/.exec(last)?.[1] ?? last;
  return msg.replace(/\\"/g, '"');
}
