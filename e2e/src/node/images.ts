import { existsSync, readFileSync } from 'node:fs';
import { isNotFound, type Logger, type RestClient } from '@stateful-migration/kube';
import { getManifest, RegistryClient, RegistryError } from '@stateful-migration/registry';
import type { RegistryInfo } from '../fed/registry.js';
import {
  runEverything,
  type Container,
  type ContainerRuntime,
  type ContainerVerdict,
  type Pod,
} from './pods.js';

/** The annotation by which CRI-O recognises a checkpoint image (on the manifest). */
export const CHECKPOINT_NAME_ANNOTATION = 'io.kubernetes.cri-o.annotations.checkpoint.name';

/** host, repository and tag-or-digest of an image reference that names a registry host. */
export function parseImageRef(
  image: string,
): { host: string; repository: string; reference: string } | undefined {
  const slash = image.indexOf('/');
  if (slash < 0) return undefined;
  const host = image.slice(0, slash);
  let rest = image.slice(slash + 1);
  let reference = 'latest';
  const at = rest.indexOf('@');
  if (at >= 0) {
    reference = rest.slice(at + 1);
    rest = rest.slice(0, at);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon >= 0) {
      reference = rest.slice(colon + 1);
      rest = rest.slice(0, colon);
    }
  }
  return { host, repository: rest, reference };
}

type PodWithSecrets = Pod & { spec?: { imagePullSecrets?: { name: string }[] } };

const pullFailed = (message: string): ContainerVerdict => ({ run: false, reason: 'ErrImagePull', message });

/**
 * The runtime's restore side, as a kubelet with CRI-O would do it: an image on the federation's registry is pulled
 * with the pod's imagePullSecrets (dockerconfigjson auths for that host), and must be a checkpoint image of the
 * same container (the manifest annotation CRI-O reads). A pull that fails gives ErrImagePull with the registry's
 * reason; a manifest that is not a checkpoint of this container gives CreateContainerError. Images elsewhere
 * (the placeholders ordinary test pods use) run as before. A container that ran keeps running: the image is not
 * pulled again.
 */
export function checkpointImageRuntime(
  client: RestClient,
  registryFile: string,
  log: Logger,
): ContainerRuntime {
  const started = new Set<string>();
  return async (pod: Pod, container: Container): Promise<ContainerVerdict> => {
    const key = `${pod.metadata?.uid}/${container.name}`;
    if (started.has(key)) return { run: true };
    if (!existsSync(registryFile)) return runEverything(pod, container);
    const registry = JSON.parse(readFileSync(registryFile, 'utf8')) as RegistryInfo;
    const ref = parseImageRef(container.image);
    if (!ref || ref.host !== registry.url) return runEverything(pod, container);
    const verdict = await pullAndCheck(client, registry, pod as PodWithSecrets, container, ref);
    if (verdict.run) started.add(key);
    else
      log.info(
        { pod: pod.metadata?.name, container: container.name, reason: verdict.reason },
        'container not started',
      );
    return verdict;
  };
}

async function pullAndCheck(
  client: RestClient,
  registry: RegistryInfo,
  pod: PodWithSecrets,
  container: Container,
  ref: { host: string; repository: string; reference: string },
): Promise<ContainerVerdict> {
  const creds = await pullCredentials(client, pod, ref.host);
  const reg = new RegistryClient({
    host: ref.host,
    ca: readFileSync(registry.caFile),
    ...(creds ? { credentials: creds } : {}),
  });
  let found: Awaited<ReturnType<typeof getManifest>>;
  try {
    found = await getManifest(reg, ref.repository, ref.reference);
  } catch (err) {
    const why =
      err instanceof RegistryError && err.statusCode === 401
        ? 'unauthorized: authentication required'
        : (err as Error).message;
    return pullFailed(`failed to pull image "${container.image}": ${why}`);
  }
  if (!found) return pullFailed(`failed to pull image "${container.image}": manifest unknown`);
  if (ref.reference.startsWith('sha256:') && found.digest !== ref.reference)
    return pullFailed(`failed to pull image "${container.image}": digest mismatch (${found.digest})`);
  const name = found.manifest.annotations?.[CHECKPOINT_NAME_ANNOTATION];
  if (name !== container.name)
    return {
      run: false,
      reason: 'CreateContainerError',
      message: name
        ? `checkpoint image ${container.image} holds container "${name}", not "${container.name}": restore needs the same container name`
        : `image ${container.image} is not a checkpoint image (no ${CHECKPOINT_NAME_ANNOTATION} annotation)`,
    };
  return { run: true };
}

/** Credentials for host from the pod's imagePullSecrets (kubernetes.io/dockerconfigjson), as a kubelet finds them. */
async function pullCredentials(
  client: RestClient,
  pod: PodWithSecrets,
  host: string,
): Promise<{ username: string; password: string } | undefined> {
  for (const s of pod.spec?.imagePullSecrets ?? []) {
    let secret: { data?: Record<string, string> };
    try {
      secret = await client.get(`/api/v1/namespaces/${pod.metadata?.namespace}/secrets/${s.name}`);
    } catch (err) {
      if (isNotFound(err)) continue; // a kubelet warns and pulls without it
      throw err;
    }
    const raw = secret.data?.['.dockerconfigjson'];
    if (!raw) continue;
    const auths = (
      JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as {
        auths?: Record<string, { username?: string; password?: string; auth?: string }>;
      }
    ).auths;
    const a = auths?.[host];
    if (!a) continue;
    const [username, password] = a.username
      ? [a.username, a.password ?? '']
      : (Buffer.from(a.auth ?? '', 'base64')
          .toString('utf8')
          .split(/:(.*)/s, 2) as [string, string]);
    return { username, password: password ?? '' };
  }
  return undefined;
}
