import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cacheDir, fedDir, repoRoot } from './paths.js';
import { pushToRegistry, type RegistryInfo } from './registry.js';

/** The product image in the federation's registry: where the chart's pods pull it from. */
export interface AgentImage {
  repository: string;
  tag: string;
  digest: string;
}

/** The repository the federation pushes the agent image to, under its registry; the nodes hold pull credentials for it. */
export const AGENT_REPOSITORY = 'stateful-migration/agent';

const say = (s: string): void =>
  void process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] agent-image: ${s}\n`);

export const cliVersion = (): string =>
  (JSON.parse(readFileSync(join(repoRoot, 'packages/cli/package.json'), 'utf8')) as { version: string })
    .version;

/**
 * Whether a repository file goes into the image: deploy/Containerfile copies the whole context, but what reaches the
 * image is `pnpm deploy --filter stateful-migration` of the workspace's packages, built with the root's lockfile and
 * TypeScript settings, and checkpoint-store built from go/checkpoint-store (with the build arguments
 * e2e/scripts/agent-image.sh gives). e2e/'s other files, examples, charts and prose are in the context but never in
 * the image, so an edit there keeps the cached image (buildah's own layer cache would rebuild the build stage for
 * it, a minute each time).
 */
export function isImageInput(path: string): boolean {
  if (path.endsWith('.md')) return false;
  return (
    path === 'deploy/Containerfile' ||
    path === '.containerignore' ||
    path === 'e2e/scripts/agent-image.sh' ||
    path.startsWith('go/checkpoint-store/') ||
    /^(package\.json|pnpm-lock\.yaml|pnpm-workspace\.yaml|tsconfig[^/]*\.json)$/.test(path) ||
    (path.startsWith('packages/') &&
      !/(^|\/)(node_modules|dist)\//.test(path) &&
      !path.endsWith('.tsbuildinfo'))
  );
}

/** The input hash: the image's inputs' paths and contents, the base images it is built on, and the version. */
export function inputHash(files: { path: string; content: Buffer }[], base: string, version: string): string {
  const h = createHash('sha256').update(`base ${base}\0version ${version}\0`);
  for (const f of [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)))
    h.update(`${f.path}\0${f.content.length}\0`).update(f.content);
  return h.digest('hex');
}

/** The base deploy/Containerfile builds on, as e2e/scripts/agent-image.sh pins it: NODE_BASE, or the local one's ID. */
function baseImage(): string {
  if (process.env.NODE_BASE) return process.env.NODE_BASE;
  const name = execFileSync('bash', ['e2e/scripts/node-base.sh'], {
    cwd: repoRoot,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  return execFileSync('buildah', ['inspect', '--type', 'image', '--format', '{{.FromImageID}}', name], {
    encoding: 'utf8',
  }).trim();
}

/**
 * The Go checkpoint-store is built with, as e2e/scripts/agent-image.sh picks it: GO_BASE, or this machine's toolchain
 * (its version: another Go may build another binary from the same sources).
 */
function goToolchain(): string {
  if (process.env.GO_BASE) return process.env.GO_BASE;
  return execFileSync('go', ['version'], { encoding: 'utf8' }).trim();
}

function imageInputs(): { path: string; content: Buffer }[] {
  // Tracked and untracked-but-not-ignored files: what a `COPY . .` of the working tree would see.
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  return [...new Set(listed.split('\0'))]
    .filter(
      (p) => p && isImageInput(p) && existsSync(join(repoRoot, p)) && statSync(join(repoRoot, p)).isFile(),
    )
    .map((path) => ({ path, content: readFileSync(join(repoRoot, path)) }));
}

const imageCache = (): string => join(cacheDir, 'agent-image');
/** How many built images the cache keeps (each ~100 MB compressed): the current one and a few to switch back to. */
const KEEP = 3;

/**
 * The agent image for the working tree, as an OCI layout in the cache (~/.cache/stateful-migration/agent-image/<hash>),
 * built by e2e/scripts/agent-image.sh when no image of these inputs is there. The layout holds compressed layers, so a
 * push copies them as they are: a warm `fed up` neither builds nor compresses.
 */
export function ensureAgentImage(): { layout: string; hash: string; built: boolean } {
  const version = cliVersion();
  const hash = inputHash(imageInputs(), `${baseImage()}\0go ${goToolchain()}`, version);
  const dir = join(imageCache(), hash);
  if (existsSync(join(dir, 'index.json'))) return { layout: dir, hash, built: false };
  const name = `localhost/stateful-migration/agent:${version}-${hash.slice(0, 12)}`;
  const t0 = Date.now();
  say(`no cached image for inputs ${hash.slice(0, 12)}; building ${name} (a cold build takes minutes)`);
  const r = spawnSync('bash', ['e2e/scripts/agent-image.sh', name], {
    cwd: repoRoot,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (r.status !== 0) throw new Error(`e2e/scripts/agent-image.sh failed:\n${r.stderr.slice(-4000)}`);
  mkdirSync(imageCache(), { recursive: true });
  // Written beside the final name and renamed: a run killed mid-copy leaves no layout that looks complete.
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    execFileSync('skopeo', ['copy', '--quiet', `containers-storage:${name}`, `oci:${tmp}:agent`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    renameSync(tmp, dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    // The tag only; buildah's layer cache keeps the steps for the next build.
    spawnSync('buildah', ['rmi', name], { stdio: 'ignore' });
  }
  say(`built and cached in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  prune(hash);
  return { layout: dir, hash, built: true };
}

function prune(current: string): void {
  const dirs = readdirSync(imageCache())
    .filter((d) => d !== current)
    .map((d) => ({ d, t: statSync(join(imageCache(), d)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { d } of dirs.slice(KEEP - 1)) rmSync(join(imageCache(), d), { recursive: true, force: true });
}

/**
 * Pushes the cached layout to the federation's registry as stateful-migration/agent:<tag> (TLS with the
 * federation's CA, the registry's first user, through a 0600 auth file) and returns where it is, by digest.
 */
export function pushAgentImage(info: RegistryInfo, layout: string, tag: string): AgentImage {
  const dir = join(fedDir, 'agent-image');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const digestFile = join(dir, 'digest');
  pushToRegistry(info, dir, `oci:${layout}:agent`, [`${AGENT_REPOSITORY}:${tag}`], digestFile);
  const repository = `${info.url}/${AGENT_REPOSITORY}`;
  return { repository, tag, digest: readFileSync(digestFile, 'utf8').trim() };
}
