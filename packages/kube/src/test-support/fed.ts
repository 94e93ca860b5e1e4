import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig } from '@kubernetes/client-node';
import { RestClient } from '../rest.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
export const fedDir = process.env.FED_DIR ?? join(repoRoot, '.fed');

/** An admin client of one cluster of the running local federation (pnpm fed up). */
export function fedClient(cluster: string): RestClient {
  const path = join(fedDir, `${cluster}-config`);
  if (!existsSync(path)) throw new Error(`${path} is missing: run \`pnpm fed up\` first`);
  return RestClient.fromFile(path);
}

/** The same admin identity, reached through another loopback port (a test proxy). */
export function clientVia(cluster: string, port: number): RestClient {
  const kc = new KubeConfig();
  kc.loadFromFile(join(fedDir, `${cluster}-config`));
  const raw = JSON.parse(kc.exportConfig()) as { clusters: { cluster: { server: string } }[] };
  for (const c of raw.clusters) c.cluster.server = `https://127.0.0.1:${port}`;
  const kc2 = new KubeConfig();
  kc2.loadFromString(JSON.stringify(raw));
  return new RestClient(kc2);
}

export const unique = (prefix: string): string =>
  `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;

export async function eventually<T>(
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
