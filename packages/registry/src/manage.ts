import { expectOk, type RegistryClient } from './client.js';
import { MEDIA, getManifest } from './push.js';

/** Every tag of a repository, following the registry's Link pagination; none for a repository it does not know. */
export async function listTags(client: RegistryClient, repository: string): Promise<string[]> {
  const tags: string[] = [];
  let path: string | URL | undefined = `/v2/${repository}/tags/list?n=1000`;
  while (path) {
    const res = await client.request('GET', path, { scope: `repository:${repository}:pull` });
    if (res.status === 404) return tags;
    expectOk(res, `listing the tags of ${repository}`, client.host);
    tags.push(...((JSON.parse(res.body) as { tags?: string[] | null }).tags ?? []));
    const link = /<([^>]+)>;\s*rel="next"/.exec(String(res.headers.link ?? ''));
    // Relative to the page that named it; on another host it is fetched without the credentials.
    path = link ? client.resolve(link[1]!, res, 'the next page of tags') : undefined;
  }
  return tags;
}

/** What retention needs of one tag: digest, annotations, total size and creation time (ms; NaN if unknown). */
export interface TaggedImage {
  tag: string;
  digest: string;
  annotations: Record<string, string>;
  size: number;
  created: number;
}

/**
 * Reads a tag's manifest; the creation time comes from its org.opencontainers.image.created annotation, else from the
 * image config (images pushed by other tools). Undefined when the tag went away meanwhile.
 */
export async function describeTag(
  client: RegistryClient,
  repository: string,
  tag: string,
): Promise<TaggedImage | undefined> {
  const m = await getManifest(client, repository, tag);
  if (!m) return undefined;
  const manifest = m.manifest as {
    annotations?: Record<string, string>;
    config?: { digest: string; size: number };
    layers?: { size: number }[];
  };
  const annotations = manifest.annotations ?? {};
  let created = Date.parse(annotations['org.opencontainers.image.created'] ?? '');
  if (Number.isNaN(created) && manifest.config) {
    const res = await client.request('GET', `/v2/${repository}/blobs/${manifest.config.digest}`, {
      scope: `repository:${repository}:pull`,
    });
    if (res.status === 200)
      created = Date.parse((JSON.parse(res.body) as { created?: string }).created ?? '');
  }
  const size = (manifest.config?.size ?? 0) + (manifest.layers ?? []).reduce((s, l) => s + l.size, 0);
  return { tag, digest: m.digest, annotations, size, created };
}

/**
 * The config's rootfs.diff_ids of an image (the uncompressed, unencrypted layers' digests: for a checkpoint image,
 * the archive's); empty when the config cannot be read.
 */
export async function imageDiffIds(
  client: RegistryClient,
  repository: string,
  manifest: { config?: { digest: string } },
): Promise<string[]> {
  if (!manifest.config) return [];
  const res = await client.request('GET', `/v2/${repository}/blobs/${manifest.config.digest}`, {
    scope: `repository:${repository}:pull`,
  });
  if (res.status !== 200) return [];
  return (JSON.parse(res.body) as { rootfs?: { diff_ids?: string[] } }).rootfs?.diff_ids ?? [];
}

/**
 * Deletes a manifest by digest (every tag pointing at it goes with it). True when deleted, false when it was already
 * gone; the registry must allow deletes (distribution: storage.delete.enabled).
 */
export async function deleteManifest(
  client: RegistryClient,
  repository: string,
  digest: string,
): Promise<boolean> {
  const res = await client.request('DELETE', `/v2/${repository}/manifests/${digest}`, {
    headers: { Accept: MEDIA.manifest },
    scope: `repository:${repository}:delete`,
  });
  if (res.status === 404) return false;
  expectOk(res, `deleting ${repository}@${digest}`, client.host);
  return true;
}
